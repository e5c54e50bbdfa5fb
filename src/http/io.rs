//! The byte stream hyper serves: a plain socket (with the bytes read while detecting the
//! protocol put back in front, and, on HTTP/1, the file ranges its bodies send with
//! `sendfile`), or a TLS session.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;

use super::sendfile::{self, Segments};
use crate::net::Stream;

pub(crate) enum Io {
    Plain {
        prefix: Bytes,
        stream: Stream,
        /// Set on HTTP/1 connections: the file ranges that placeholders in hyper's writes
        /// stand for ([`sendfile`]).
        files: Option<Arc<Segments>>,
    },
    Tls(Box<TlsStream<Stream>>),
}

impl Io {
    /// A plain socket, with `prefix` read from it already; `http1`: it serves HTTP/1 (whose
    /// file bodies may be sent with `sendfile`).
    pub(crate) fn plain(prefix: Bytes, stream: Stream, http1: bool) -> Self {
        Self::Plain {
            prefix,
            stream,
            files: http1.then(Arc::default),
        }
    }

    /// The file ranges its HTTP/1 bodies send with `sendfile` (plain HTTP/1 only).
    pub(crate) fn files(&self) -> Option<Arc<Segments>> {
        match self {
            Self::Plain { files, .. } => files.clone(),
            Self::Tls(_) => None,
        }
    }

    /// The socket under the stream.
    pub(crate) fn raw_fd(&self) -> RawFd {
        let stream = match self {
            Self::Plain { stream, .. } => stream,
            Self::Tls(s) => s.get_ref().0,
        };
        match stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain { prefix, stream, .. } => {
                if !prefix.is_empty() {
                    let n = prefix.len().min(buf.remaining());
                    buf.put_slice(&prefix[..n]);
                    prefix.advance(n);
                    if prefix.is_empty() {
                        // Free the detection buffer: an idle keep-alive connection must not
                        // hold it for its whole life.
                        *prefix = Bytes::new();
                    }
                    return Poll::Ready(Ok(()));
                }
                Pin::new(stream).poll_read(cx, buf)
            }
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain {
                stream,
                files: Some(files),
                ..
            } if sendfile::any_placeholder(&[io::IoSlice::new(buf)]) => {
                files.poll_write(stream, cx, &[io::IoSlice::new(buf)])
            }
            Self::Plain { stream, .. } => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain {
                stream,
                files: Some(files),
                ..
            } if sendfile::any_placeholder(bufs) => files.poll_write(stream, cx, bufs),
            Self::Plain { stream, .. } => Pin::new(stream).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain { stream, .. } => stream.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain { stream, .. } => Pin::new(stream).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain { stream, .. } => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
