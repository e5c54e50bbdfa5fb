//! File ranges sent by the kernel (`sendfile`) on plain HTTP/1 connections.
//!
//! hyper writes the bytes a body yields, so a file body would be copied twice: from the page
//! cache into a buffer, and from the buffer into the socket. On a plain (not TLS) HTTP/1
//! connection a file body yields *placeholders* instead: `Bytes` of the range's length that
//! point into one read-only region of zeros, each standing for a range of an open file queued
//! in the connection's [`Segments`]. hyper buffers and writes them like any bytes; the
//! connection's writer ([`Segments::poll_write`], called by `Io` when it sees a placeholder
//! among the slices hyper hands it) sends the file range with `sendfile` instead of the zeros.
//!
//! What keeps zeros off the wire:
//! - a placeholder is only made while a plain HTTP/1 connection is polled ([`Sending`] opens a
//!   thread-local slot around its poll): hyper polls that connection's response bodies there,
//!   and nothing else. HTTP/2 bodies are polled in their stream tasks, TLS connections never open
//!   the slot, and a body polled anywhere else reads bytes as before;
//! - the writer checks every placeholder slice against the segment at the front of the queue
//!   (its position in the region is the segment's bytes already sent, its length at most the
//!   rest): a mismatch is an error that closes the connection;
//! - a placeholder dropped unsent (a HEAD answer, a connection cut) leaves the queue with it.
//!
//! A range is only sent this way when the page cache holds all of it (`cachestat`, Linux 6.5),
//! so that `sendfile` never waits for a disk on a runtime thread; otherwise, and on kernels
//! without `cachestat`, the body reads the file as before ([`super::file_body`]).

use std::cell::Cell;
use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::net::Stream;

/// The longest placeholder (and the size of the zero region).
pub(crate) const MAX_SEGMENT: usize = 1024 * 1024;

/// Ranges shorter than this are read: for them the copies cost less than the extra calls
/// (`cachestat`, then the head and the file in two writes instead of one).
pub(crate) const MIN_SEGMENT: u64 = 32 * 1024;

/// The file ranges a connection's response bodies stand for, in the order hyper writes them.
#[derive(Default)]
pub(crate) struct Segments {
    queue: Mutex<VecDeque<Segment>>,
    next_id: AtomicU64,
}

struct Segment {
    id: u64,
    file: Arc<File>,
    offset: u64,
    len: usize,
    /// Bytes of the range the socket took so far.
    sent: usize,
}

/// What a placeholder's bytes are: it keeps its segment queued until it is dropped.
struct Placeholder {
    segments: Arc<Segments>,
    id: u64,
    len: usize,
}

impl AsRef<[u8]> for Placeholder {
    fn as_ref(&self) -> &[u8] {
        // A placeholder exists only once the region does.
        &zeros().expect("the zero region exists")[..self.len]
    }
}

impl Drop for Placeholder {
    fn drop(&mut self) {
        // Sent whole: the writer already took it off the queue. Otherwise it was dropped
        // unsent (or cut), and must not hold the queue's front.
        self.segments.lock().retain(|s| s.id != self.id);
    }
}

/// The read-only zero region placeholders point into (mapped by the first placeholder, never
/// touched, so it costs address space only); `None` inside if it could not be mapped.
static REGION: OnceLock<Option<&'static [u8]>> = OnceLock::new();

fn zeros() -> Option<&'static [u8]> {
    *REGION.get_or_init(|| {
        // SAFETY: a fresh private anonymous mapping, read-only, never unmapped: the slice is
        // valid (all zeros) for the life of the process.
        unsafe {
            let ptr = libc::mmap(
                std::ptr::null_mut(),
                MAX_SEGMENT,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            (ptr != libc::MAP_FAILED).then(|| std::slice::from_raw_parts(ptr.cast::<u8>(), MAX_SEGMENT))
        }
    })
}

/// Where `slice` starts in the zero region, if it is (part of) a placeholder.
fn region_offset(slice: &[u8]) -> Option<usize> {
    let region = (*REGION.get()?)?;
    let start = region.as_ptr() as usize;
    let at = slice.as_ptr() as usize;
    (at >= start && at < start + region.len()).then(|| at - start)
}

/// Whether hyper hands the writer any placeholder.
pub(crate) fn any_placeholder(bufs: &[io::IoSlice<'_>]) -> bool {
    bufs.iter().any(|b| !b.is_empty() && region_offset(b).is_some())
}

thread_local! {
    /// The segments of the plain HTTP/1 connection being polled on this thread, if one is.
    static POLLED: Cell<*const Segments> = const { Cell::new(std::ptr::null()) };
}

/// A placeholder for up to [`MAX_SEGMENT`] bytes of `file` from `offset` (`remaining` bytes
/// are left to send), queued on the connection being polled; `None` when the range must be
/// read instead (no plain HTTP/1 connection polled here, too short, not all in the page cache).
pub(crate) fn placeholder(file: &Arc<File>, offset: u64, remaining: u64) -> Option<Bytes> {
    if remaining < MIN_SEGMENT {
        return None;
    }
    let polled = POLLED.with(Cell::get);
    if polled.is_null() {
        return None;
    }
    zeros()?;
    let len = usize::try_from(remaining).map_or(MAX_SEGMENT, |r| r.min(MAX_SEGMENT));
    if !page_cached(file, offset, len as u64) {
        return None;
    }
    // SAFETY: `POLLED` is non-null only while `Sending::poll` runs on this thread, and
    // `Sending` holds a strong reference for that time.
    let segments = unsafe {
        Arc::increment_strong_count(polled);
        Arc::from_raw(polled)
    };
    let id = segments.next_id.fetch_add(1, Ordering::Relaxed);
    segments.lock().push_back(Segment {
        id,
        file: Arc::clone(file),
        offset,
        len,
        sent: 0,
    });
    Some(Bytes::from_owner(Placeholder { segments, id, len }))
}

impl Segments {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Segment>> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes what `bufs` starts with to `stream`, knowing it holds placeholders: the real bytes
    /// before the first one (with `MSG_MORE`, so that a head and its file go out in the same
    /// packets), or, if it leads, its file range with `sendfile`.
    pub(crate) fn poll_write(
        &self,
        stream: &Stream,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs = &bufs[bufs.iter().position(|b| !b.is_empty()).unwrap_or(0)..];
        let Some(first) = bufs.iter().position(|b| !b.is_empty() && region_offset(b).is_some()) else {
            return stream.poll_write_with(cx, |fd| send_more(fd, bufs, false));
        };
        if first > 0 {
            let more = matches!(stream, Stream::Tcp(_));
            return stream.poll_write_with(cx, |fd| send_more(fd, &bufs[..first], more));
        }
        let slice = &bufs[0];
        let mut queue = self.lock();
        let Some(front) = queue.front_mut() else {
            return Poll::Ready(Err(out_of_order()));
        };
        if region_offset(slice) != Some(front.sent) || slice.len() > front.len - front.sent {
            return Poll::Ready(Err(out_of_order()));
        }
        let offset = front.offset + front.sent as u64;
        let file = front.file.as_raw_fd();
        let n = std::task::ready!(stream.poll_write_with(cx, |fd| send_file(fd, file, offset, slice.len())))?;
        front.sent += n;
        if front.sent == front.len {
            queue.pop_front();
        }
        Poll::Ready(Ok(n))
    }
}

fn out_of_order() -> io::Error {
    io::Error::other("a file segment was written out of order")
}

/// One `sendmsg` of `bufs`; with `more`, the kernel holds the bytes for what follows.
fn send_more(fd: libc::c_int, bufs: &[io::IoSlice<'_>], more: bool) -> io::Result<usize> {
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    // SAFETY: `IoSlice` is ABI-compatible with `iovec`; the slices outlive the call.
    let n = unsafe { libc::sendmsg(fd, &msg, flags) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// One `sendfile` of up to `len` bytes of `file` from `offset` into socket `fd`. A file that
/// became shorter than its range is an error (the response's length was announced).
fn send_file(fd: libc::c_int, file: libc::c_int, offset: u64, len: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: plain descriptors and a local offset.
    let n = unsafe { libc::sendfile(fd, file, &mut off, len) };
    match usize::try_from(n) {
        Ok(0) if len > 0 => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file became shorter while it was sent",
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(io::Error::last_os_error()),
    }
}

/// Cleared the first time `cachestat` is missing (a kernel before 6.5): files are then read.
static CACHESTAT_WORKS: AtomicBool = AtomicBool::new(true);

/// Whether every page of `len` bytes of `file` from `offset` is in the page cache.
fn page_cached(file: &File, offset: u64, len: u64) -> bool {
    if !CACHESTAT_WORKS.load(Ordering::Relaxed) {
        return false;
    }
    match cached_pages(file, offset, len) {
        Ok((cached, pages)) => cached >= pages,
        Err(_) => {
            CACHESTAT_WORKS.store(false, Ordering::Relaxed);
            false
        }
    }
}

/// Pages of the range in the page cache, and pages the range spans.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cached_pages(file: &File, offset: u64, len: u64) -> io::Result<(u64, u64)> {
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    /// The same number on both architectures (the generic syscall table).
    const SYS_CACHESTAT: libc::c_long = 451;
    static PAGE: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    let page = *PAGE.get_or_init(|| u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096));
    let range = Range { off: offset, len };
    let mut stat = Stat::default();
    // SAFETY: `range` and `stat` are valid for the call, laid out as the kernel's structs.
    let r = unsafe { libc::syscall(SYS_CACHESTAT, file.as_raw_fd(), &range, &mut stat, 0u32) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let pages = (offset + len).div_ceil(page) - offset / page;
    Ok((stat.nr_cache, pages))
}

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
fn cached_pages(_file: &File, _offset: u64, _len: u64) -> io::Result<(u64, u64)> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// A plain HTTP/1 connection's future, with its segments open to the file bodies it polls.
pub(crate) struct Sending<C> {
    conn: C,
    segments: Arc<Segments>,
}

impl<C> Sending<C> {
    pub(crate) fn new(conn: C, segments: Arc<Segments>) -> Self {
        Self { conn, segments }
    }

    /// The connection, with this connection's segments open on this thread meanwhile.
    pub(crate) fn with<R>(self: Pin<&mut Self>, f: impl FnOnce(Pin<&mut C>) -> R) -> R {
        // SAFETY: `conn` is structurally pinned (never moved out, no `Unpin`-dependent impl).
        let this = unsafe { self.get_unchecked_mut() };
        let _open = Open::new(Arc::as_ptr(&this.segments));
        f(unsafe { Pin::new_unchecked(&mut this.conn) })
    }
}

impl<C: Future> Future for Sending<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        self.with(|conn| conn.poll(cx))
    }
}

/// The slot open for one poll; the previous value comes back when it drops (even on a panic).
struct Open(*const Segments);

impl Open {
    fn new(segments: *const Segments) -> Self {
        Self(POLLED.with(|p| p.replace(segments)))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        POLLED.with(|p| p.set(self.0));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::http::static_files::ScratchDir;

    fn file_with(dir: &ScratchDir, data: &[u8]) -> Arc<File> {
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = dir.0.join("f");
        std::fs::File::create(&path).unwrap().write_all(data).unwrap();
        Arc::new(File::open(path).unwrap())
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// `f` run as if a plain HTTP/1 connection with `segments` were being polled.
    fn polled<R>(segments: &Arc<Segments>, f: impl FnOnce() -> R) -> R {
        let _open = Open::new(Arc::as_ptr(segments));
        f()
    }

    #[test]
    fn no_placeholder_outside_a_plain_http1_connection_or_for_short_ranges() {
        let dir = ScratchDir::new("sendfile", "outside");
        let file = file_with(&dir, &pattern(200_000));
        assert!(placeholder(&file, 0, 200_000).is_none(), "no connection polled");
        let segments = Arc::new(Segments::default());
        assert!(polled(&segments, || placeholder(&file, 0, MIN_SEGMENT - 1)).is_none());
        assert!(POLLED.with(Cell::get).is_null(), "the slot closes after the poll");
    }

    #[test]
    fn a_placeholder_is_zeros_of_the_range_length_and_leaves_the_queue_when_dropped() {
        let dir = ScratchDir::new("sendfile", "drop");
        let file = file_with(&dir, &pattern(3 * MAX_SEGMENT / 2));
        let segments = Arc::new(Segments::default());
        let Some(first) = polled(&segments, || placeholder(&file, 0, 3 * MAX_SEGMENT as u64 / 2)) else {
            return; // no cachestat on this kernel: files are read, nothing to check here
        };
        assert_eq!(first.len(), MAX_SEGMENT);
        assert!(first.iter().all(|&b| b == 0));
        let second = polled(&segments, || {
            placeholder(&file, MAX_SEGMENT as u64, MAX_SEGMENT as u64 / 2)
        })
        .unwrap();
        assert_eq!(second.len(), MAX_SEGMENT / 2);
        assert_eq!(segments.lock().len(), 2);
        drop(first);
        assert_eq!(segments.lock().front().unwrap().offset, MAX_SEGMENT as u64);
        drop(second);
        assert!(segments.lock().is_empty());
    }

    #[test]
    fn the_writer_sends_the_file_in_place_of_the_zeros_and_refuses_a_stray_slice() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = ScratchDir::new("sendfile", "write");
            let data = pattern(100_000);
            let file = file_with(&dir, &data);
            let segments = Arc::new(Segments::default());
            let Some(mut ph) = polled(&segments, || placeholder(&file, 10, 90_000)) else {
                return;
            };
            let (ours, mut peer) = tokio::net::UnixStream::pair().unwrap();
            let ours = Stream::Unix(ours);
            let reader = tokio::spawn(async move {
                let mut got = Vec::new();
                peer.read_to_end(&mut got).await.unwrap();
                got
            });
            let head = b"head:";
            let mut head_left: &[u8] = head;
            while !head_left.is_empty() || !ph.is_empty() {
                let bufs = [io::IoSlice::new(head_left), io::IoSlice::new(&ph)];
                assert!(any_placeholder(&bufs));
                let n = std::future::poll_fn(|cx| segments.poll_write(&ours, cx, &bufs))
                    .await
                    .unwrap();
                let from_head = n.min(head_left.len());
                head_left = &head_left[from_head..];
                bytes::Buf::advance(&mut ph, n - from_head);
            }
            assert!(segments.lock().is_empty(), "sent whole: off the queue");
            // A slice into the region that is not the front segment's is an error, never zeros.
            let stray = polled(&segments, || placeholder(&file, 0, 50_000)).unwrap();
            let bufs = [io::IoSlice::new(&stray[1..])];
            let err = std::future::poll_fn(|cx| segments.poll_write(&ours, cx, &bufs))
                .await
                .unwrap_err();
            assert_eq!(err.to_string(), out_of_order().to_string());
            drop(ours);
            let got = reader.await.unwrap();
            let mut want = head.to_vec();
            want.extend_from_slice(&data[10..90_010]);
            assert_eq!(got, want);
        });
    }
}
