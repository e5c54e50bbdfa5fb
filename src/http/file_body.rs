//! A byte range of an open file, read chunk by chunk as a response body (static files, ASGI
//! `http.response.pathsend`, RSGI `response_file`).
//!
//! Each chunk is one positioned read of up to [`CHUNK`] bytes into a fresh buffer that becomes
//! the body frame (no copy beyond the kernel's). The read is first tried on the runtime thread
//! with `RWF_NOWAIT`, which the kernel completes only from the page cache and otherwise refuses
//! at once: a file served often is sent without any hand-over, and a runtime thread never waits
//! for a disk. A chunk that is not cached (or a kernel or filesystem without `RWF_NOWAIT`) is
//! read on tokio's blocking pool, one task per chunk, so a slow client holds no thread between
//! its chunks. No Python runs. On a plain HTTP/1 connection, a range of 32 KiB or more that the
//! page cache holds is not read at all: the body yields a placeholder for it and the
//! connection's writer sends it with `sendfile` ([`super::sendfile`]).
//!
//! The length is fixed when the body is made (it is the response's `content-length`): a file
//! that shrinks while it is sent ends the body with an error (the connection or stream is cut)
//! rather than leaving the client waiting for bytes that will not come.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use super::sendfile;

/// Bytes read at a time (one body frame each).
pub(crate) const CHUNK: usize = 256 * 1024;

pub(crate) struct FileBody {
    file: Arc<File>,
    pos: u64,
    remaining: u64,
    /// The chunk being read on the blocking pool.
    pending: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    /// `len` bytes of `file` from `start` (positioned reads: others may share the file).
    pub(crate) fn new(file: impl Into<Arc<File>>, start: u64, len: u64) -> Self {
        Self {
            file: file.into(),
            pos: start,
            remaining: len,
            pending: None,
        }
    }

    /// Bytes still to send.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The next chunk; `None` once `len` bytes were read.
    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let read = match self.pending.as_mut() {
            Some(task) => {
                let joined = ready!(Pin::new(task).poll(cx));
                self.pending = None;
                joined.unwrap_or_else(|e| Err(io::Error::other(e)))
            }
            None => match sendfile::placeholder(&self.file, self.pos, self.remaining) {
                Some(placeholder) => Ok(placeholder),
                None => match read_cached(&self.file, self.pos, want) {
                    Some(read) => read,
                    None => {
                        let (file, pos) = (Arc::clone(&self.file), self.pos);
                        let mut task = tokio::task::spawn_blocking(move || read_at(&file, pos, want, false));
                        let joined = match Pin::new(&mut task).poll(cx) {
                            Poll::Ready(joined) => joined,
                            Poll::Pending => {
                                self.pending = Some(task);
                                return Poll::Pending;
                            }
                        };
                        joined.unwrap_or_else(|e| Err(io::Error::other(e)))
                    }
                },
            },
        };
        Poll::Ready(Some(read.and_then(|chunk| self.advance(chunk))))
    }

    fn advance(&mut self, chunk: Bytes) -> io::Result<Bytes> {
        if chunk.is_empty() {
            self.remaining = 0;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file became shorter while it was sent",
            ));
        }
        let n = chunk.len() as u64;
        self.pos += n;
        self.remaining = self.remaining.saturating_sub(n);
        Ok(chunk)
    }
}

/// Cleared the first time the kernel says it cannot read without waiting at all (an old kernel,
/// or a filesystem without `RWF_NOWAIT`): every read then goes to the blocking pool.
static NOWAIT_WORKS: AtomicBool = AtomicBool::new(true);

/// The chunk at `pos` if the page cache holds (the start of) it: `None` when reading it would
/// wait for the disk.
fn read_cached(file: &File, pos: u64, want: usize) -> Option<io::Result<Bytes>> {
    if !cfg!(target_os = "linux") || !NOWAIT_WORKS.load(Ordering::Relaxed) {
        return None;
    }
    match read_at(file, pos, want, true) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS)) => {
            NOWAIT_WORKS.store(false, Ordering::Relaxed);
            None
        }
        read => Some(read),
    }
}

/// One positioned read of up to `want` bytes at `pos` into a new buffer; with `nowait`, only
/// from the page cache (`WouldBlock` otherwise). Interrupted reads are retried.
fn read_at(file: &File, pos: u64, want: usize, nowait: bool) -> io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(want);
    let offset = libc::off_t::try_from(pos).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let n = loop {
        // SAFETY: the kernel writes at most `want` bytes into the buffer's spare capacity
        // (`want` bytes, allocated above), which is only exposed up to what it wrote.
        let n = unsafe { pread(file.as_raw_fd(), buf.as_mut_ptr().cast(), want, offset, nowait) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    // SAFETY: `n <= want` bytes were just initialised by the read.
    unsafe { buf.set_len(n) };
    Ok(buf.freeze())
}

#[cfg(target_os = "linux")]
unsafe fn pread(fd: libc::c_int, ptr: *mut libc::c_void, len: usize, offset: libc::off_t, nowait: bool) -> isize {
    if nowait {
        let iov = libc::iovec {
            iov_base: ptr,
            iov_len: len,
        };
        libc::preadv2(fd, &iov, 1, offset, libc::RWF_NOWAIT)
    } else {
        libc::pread(fd, ptr, len, offset)
    }
}

#[cfg(not(target_os = "linux"))]
unsafe fn pread(fd: libc::c_int, ptr: *mut libc::c_void, len: usize, offset: libc::off_t, _nowait: bool) -> isize {
    libc::pread(fd, ptr, len, offset)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::http::static_files::ScratchDir;

    fn file_with(dir: &ScratchDir, name: &str, data: &[u8]) -> File {
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = dir.0.join(name);
        std::fs::File::create(&path).unwrap().write_all(data).unwrap();
        File::open(path).unwrap()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    async fn collect(mut body: FileBody) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| body.poll_chunk(cx)).await {
            let chunk = chunk?;
            assert!(chunk.len() <= CHUNK);
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    #[test]
    fn a_whole_file_larger_than_a_chunk_is_read_in_order() {
        let dir = ScratchDir::new("file-body", "whole");
        let data = pattern(CHUNK * 2 + 1234);
        let file = file_with(&dir, "f", &data);
        let body = FileBody::new(file, 0, data.len() as u64);
        assert_eq!(body.remaining(), data.len() as u64);
        assert_eq!(runtime().block_on(collect(body)).unwrap(), data);
    }

    #[test]
    fn a_range_is_read_from_its_start_to_its_length() {
        let dir = ScratchDir::new("file-body", "range");
        let data = pattern(CHUNK + 500);
        let file = file_with(&dir, "f", &data);
        let body = FileBody::new(file, 100, CHUNK as u64);
        assert_eq!(runtime().block_on(collect(body)).unwrap(), &data[100..100 + CHUNK]);
    }

    #[test]
    fn a_file_that_shrank_ends_the_body_with_an_error() {
        let dir = ScratchDir::new("file-body", "shrank");
        let file = file_with(&dir, "f", &pattern(10));
        let err = runtime().block_on(collect(FileBody::new(file, 0, 20))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn the_blocking_read_gives_the_same_bytes_as_the_cached_one() {
        let dir = ScratchDir::new("file-body", "both");
        let data = pattern(5000);
        let file = file_with(&dir, "f", &data);
        assert_eq!(read_at(&file, 7, 100, false).unwrap(), &data[7..107]);
        // Just written, so cached: the non-waiting read succeeds (or is not supported here).
        if let Some(read) = read_cached(&file, 7, 100) {
            assert_eq!(read.unwrap(), &data[7..107]);
        }
        // Past the end: nothing, which the body turns into an error.
        assert!(read_at(&file, 6000, 100, false).unwrap().is_empty());
    }
}
