//! hyper answers a malformed HTTP/1 request head itself (400, 414 or 431) before any service
//! runs, and those answers carry only `connection`, `content-length` and `date`. Every other
//! response of ours says `server: granian`; so that a client (or a scanner, or a log) cannot tell
//! hyper's answers apart from ours, the HTTP/1 byte stream is wrapped in [`StampServer`], which
//! adds the header to exactly those heads as they are written. hyper has no hook for it.
//!
//! Cost on the hot path: one comparison of the first bytes of each write.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const SERVER_LINE: &[u8] = b"server: granian\r\n";

/// Whether `buf` starts a head hyper wrote for its own error answer: a 400, 414 or 431 status
/// line and no `server` field.
fn needs_stamp(buf: &[u8]) -> bool {
    if buf.len() < 12 || !buf.starts_with(b"HTTP/1.") || !matches!(&buf[9..12], b"400" | b"414" | b"431") {
        return false;
    }
    let head = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => &buf[..end + 2],
        None => buf,
    };
    !head.windows(9).any(|w| w.eq_ignore_ascii_case(b"\r\nserver:"))
}

/// `buf` with the server line after its status line.
fn stamped(buf: &[u8]) -> Bytes {
    let line_end = buf.windows(2).position(|w| w == b"\r\n").map_or(buf.len(), |i| i + 2);
    let mut out = Vec::with_capacity(buf.len() + SERVER_LINE.len());
    out.extend_from_slice(&buf[..line_end]);
    out.extend_from_slice(SERVER_LINE);
    out.extend_from_slice(&buf[line_end..]);
    Bytes::from(out)
}

/// An HTTP/1 byte stream whose error heads written by hyper get the `server` header.
pub(crate) struct StampServer<T> {
    inner: T,
    /// A stamped head not fully written yet; goes out before anything else.
    pending: Bytes,
    /// `--no-server-header` turns the stamping off (the stream passes through).
    enabled: bool,
}

impl<T> StampServer<T> {
    pub(crate) fn new(inner: T, enabled: bool) -> Self {
        Self {
            inner,
            pending: Bytes::new(),
            enabled,
        }
    }
}

impl<T: AsyncWrite + Unpin> StampServer<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `first` (the first slice of a write) as a stamped head when it needs it: the
    /// caller is told it was written whole, and it goes out before anything else.
    fn stash(&mut self, cx: &mut Context<'_>, first: &[u8]) -> Option<Poll<io::Result<usize>>> {
        if !self.enabled || !needs_stamp(first) {
            return None;
        }
        self.pending = stamped(first);
        match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Some(Poll::Ready(Err(e))),
            _ => Some(Poll::Ready(Ok(first.len()))),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StampServer<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StampServer<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(done) = this.stash(cx, buf) {
            return done;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(done) = this.stash(cx, first) {
                return done;
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const HYPER_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 06:17:13 GMT\r\n\r\n";

    #[test]
    fn only_hyper_error_heads_are_stamped() {
        assert!(needs_stamp(HYPER_400));
        assert!(needs_stamp(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"
        ));
        assert!(needs_stamp(b"HTTP/1.0 414 URI Too Long\r\n\r\n"));
        // Ours already say who we are (whatever the app put there), other statuses are never
        // hyper's, and HTTP/2 frames are binary.
        assert!(!needs_stamp(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nserver: granian\r\n\r\n"
        ));
        assert!(!needs_stamp(b"HTTP/1.1 400 Bad Request\r\nServer: app\r\n\r\n"));
        assert!(!needs_stamp(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(!needs_stamp(b"HTTP/1.1 404 Not Found\r\n\r\n"));
        assert!(!needs_stamp(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00"));
        assert!(!needs_stamp(b"HTTP/1.1 4"));
        // A body that happens to mention a server field does not count: only the head does.
        assert!(needs_stamp(b"HTTP/1.1 400 Bad Request\r\n\r\n\r\nserver: x"));
    }

    #[test]
    fn the_line_goes_after_the_status_line() {
        let out = stamped(HYPER_400);
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\nserver: granian\r\nconnection: close\r\n"));
        assert_eq!(out.len(), HYPER_400.len() + SERVER_LINE.len());
    }

    #[tokio::test]
    async fn a_disabled_stamp_passes_the_bytes_through() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut io = StampServer::new(a, false);
        io.write_all(HYPER_400).await.unwrap();
        io.shutdown().await.unwrap();
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, HYPER_400);
    }

    #[tokio::test]
    async fn stamped_head_is_written_whole_through_a_narrow_pipe() {
        // A 7-byte pipe forces partial writes of the stamped head.
        let (a, mut b) = tokio::io::duplex(7);
        let mut io = StampServer::new(a, true);
        let writer = tokio::spawn(async move {
            io.write_all(HYPER_400).await.unwrap();
            io.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
            io.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        let mut want = stamped(HYPER_400).to_vec();
        want.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(got, want);
    }
}
