//! `wsgi.file_wrapper` responses sent by the engine: when the application returns the
//! wrapper around a real file, the engine reads the file itself ([`FileBody`]) instead of
//! iterating through Python.

use std::fs::File;
use std::io::Seek;
use std::os::fd::{BorrowedFd, RawFd};

use pyo3::intern;
use pyo3::prelude::*;

use crate::http::body::ResponseBody;
use crate::http::file_body::FileBody;

/// A private handle on the file behind `fd`, where to start (`pos`, default: the descriptor's
/// offset) and how many bytes to send: to the end, at most `limit`. `None` for anything but a
/// regular file.
fn open_at(fd: RawFd, pos: Option<u64>, limit: Option<u64>) -> Option<(File, u64, u64)> {
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just returned by `fileno()` of a file object the caller holds, with the
    // GIL held since, so no Python code could close it; it is only borrowed for the `dup`.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    // The duplicate outlives the application's `close()`, which runs as soon as the body is
    // handed to the engine.
    let mut file = File::from(borrowed.try_clone_to_owned().ok()?);
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let pos = match pos {
        Some(p) => p,
        None => file.stream_position().ok()?,
    };
    let len = meta.len().saturating_sub(pos);
    Some((file, pos, limit.map_or(len, |l| l.min(len))))
}

/// The engine-side body for a `wsgi.file_wrapper` result, or `None` to iterate it instead
/// (a file-like object without a usable descriptor, a pipe, ...). `content_length` is what the
/// application declared: no more than that is sent.
pub(super) fn body_of(wrapper: &Bound<'_, PyAny>, content_length: Option<u64>) -> PyResult<Option<ResponseBody>> {
    let py = wrapper.py();
    let filelike = wrapper.getattr(intern!(py, "filelike"))?;
    let fd = match filelike
        .call_method0(intern!(py, "fileno"))
        .and_then(|f| f.extract::<RawFd>())
    {
        Ok(fd) => fd,
        Err(_) => return Ok(None),
    };
    // A buffered reader's own position, which may differ from the descriptor's.
    let pos = filelike
        .call_method0(intern!(py, "tell"))
        .ok()
        .and_then(|p| p.extract::<u64>().ok());
    let Some((file, start, len)) = open_at(fd, pos, content_length) else {
        return Ok(None);
    };
    Ok(Some(ResponseBody::File(FileBody::new(file, start, len))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;

    #[test]
    fn opens_regular_files_at_a_position_with_a_limit() {
        let path = std::env::temp_dir().join(format!("granian-wsgi-file-{}", std::process::id()));
        File::create(&path).unwrap().write_all(b"0123456789").unwrap();
        let f = File::open(&path).unwrap();
        let (dup, start, len) = open_at(f.as_raw_fd(), Some(3), None).unwrap();
        assert_eq!((start, len), (3, 7));
        let mut buf = [0u8; 7];
        dup.read_exact_at(&mut buf, start).unwrap();
        assert_eq!(&buf, b"3456789");
        assert_eq!(open_at(f.as_raw_fd(), Some(2), Some(4)).unwrap().2, 4);
        assert_eq!(open_at(f.as_raw_fd(), Some(20), None).unwrap().2, 0);
        // Without a position: the descriptor's own offset.
        assert_eq!(open_at(f.as_raw_fd(), None, None).unwrap().1, 0);
        std::fs::remove_file(&path).unwrap();
        // Still readable through a descriptor after the file was unlinked.
        assert_eq!(open_at(f.as_raw_fd(), Some(0), None).unwrap().2, 10);
        assert!(open_at(-1, None, None).is_none());
    }

    #[test]
    fn refuses_pipes() {
        let mut fds = [0; 2];
        // SAFETY: plain pipe(2) into a live array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert!(open_at(fds[0], None, None).is_none());
        // SAFETY: closing the two descriptors pipe(2) just gave us.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
