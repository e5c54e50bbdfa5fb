//! The connection's byte stream as hyper sees it: [`Io`] (plain or TLS) with the write timeout
//! ([`WriteStall`]), the marks the keep-alive timeout reads ([`Activity`]) and, on HTTP/2, the
//! flood guard ([`FloodGuard`]) on the plaintext.
//!
//! HTTP/1 reads take 64 KiB at most (see [`H1_READ_CAP`]).
//!
//! On the hot path this adds a branch per call, a flag store per read or write that moved bytes
//! (when the keep-alive timeout is on) and, on HTTP/2, a walk over the frame headers of what
//! moved (payloads are skipped, not read). No timer is touched unless a write stalls.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::activity::Activity;
use super::flood::FloodGuard;
use super::io::Io;
use super::stall::WriteStall;

/// Most bytes one HTTP/1 read takes. hyper checks a request head against its buffer limit
/// (`--http1-buffer-size`) only between reads, and a read may fill all the spare room its buffer
/// happens to have: so a head is refused once it passes the limit by at most this much, whatever
/// the timing.
const H1_READ_CAP: usize = 64 * 1024;

/// Reads into `buf`, `cap` bytes at most.
fn read_at_most(io: Pin<&mut Io>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>, cap: usize) -> Poll<io::Result<()>> {
    if buf.remaining() <= cap {
        return io.poll_read(cx, buf);
    }
    let mut part = buf.take(cap);
    ready!(io.poll_read(cx, &mut part))?;
    let n = part.filled().len();
    // SAFETY: `part` is the start of `buf`'s unfilled bytes, and the read filled (so initialised)
    // its first `n`.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Poll::Ready(Ok(()))
}

pub(crate) struct Guarded {
    io: Io,
    stall: WriteStall,
    activity: Option<Arc<Activity>>,
    h2: Option<Box<FloodGuard>>,
    /// Whether HTTP/2 streams were open, as last told to `activity`.
    streams_open: bool,
}

impl Guarded {
    /// `write_timeout`: `None` = off. `activity`: where to mark bytes moving (`None` when the
    /// keep-alive timeout is off). `h2`: the stream carries HTTP/2 (guard it).
    pub(crate) fn new(io: Io, write_timeout: Option<Duration>, activity: Option<Arc<Activity>>, h2: bool) -> Self {
        let stall = WriteStall::new(write_timeout).with_socket(io.raw_fd());
        Self {
            io,
            stall,
            activity,
            h2: h2.then(|| Box::new(FloodGuard::new())),
            streams_open: false,
        }
    }

    /// Tells the keep-alive watch whether HTTP/2 streams are open, when that changed.
    fn note_streams(&mut self) {
        let open = self.h2.as_deref().is_some_and(FloodGuard::streams_open);
        if open != self.streams_open {
            self.streams_open = open;
            if let Some(activity) = &self.activity {
                activity.set_streams_open(open);
            }
        }
    }

    /// Counts `n` bytes just written from `bufs`.
    fn wrote<'a>(&mut self, bufs: impl Iterator<Item = &'a [u8]>, mut n: usize) {
        let mut moved = n > 0;
        if let Some(guard) = self.h2.as_deref_mut() {
            moved = false;
            for buf in bufs {
                if n == 0 {
                    break;
                }
                let part = &buf[..buf.len().min(n)];
                moved |= guard.on_write(part);
                n -= part.len();
            }
            self.note_streams();
        }
        if let (true, Some(activity)) = (moved, &self.activity) {
            activity.moved();
        }
    }

    /// Watches a write outcome for the timeout, telling the keep-alive watcher when a stall
    /// starts or ends.
    #[inline]
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        let was = self.stall.is_stalled();
        let polled = self.stall.watch(cx, polled);
        if was != self.stall.is_stalled() {
            if let Some(activity) = &self.activity {
                activity.set_stalled(!was);
            }
        }
        polled
    }

    /// While the flood guard closes the connection, every call drives the close.
    fn calming(&mut self, cx: &mut Context<'_>) -> Option<Poll<io::Error>> {
        let guard = self.h2.as_deref_mut().filter(|g| g.is_calming())?;
        Some(guard.poll_calm(Pin::new(&mut self.io), cx))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(closing) = this.calming(cx) {
            return closing.map(Err);
        }
        let before = buf.filled().len();
        if this.h2.is_none() {
            ready!(read_at_most(Pin::new(&mut this.io), cx, buf, H1_READ_CAP))?;
        } else {
            ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        }
        let mut moved = buf.filled().len() > before;
        if let Some(guard) = this.h2.as_deref_mut() {
            match guard.on_read(&buf.filled()[before..]) {
                Ok(active) => moved = active,
                Err(why) => {
                    // Nothing more reaches h2; the GOAWAY goes out instead.
                    buf.set_filled(before);
                    guard.calm_down(why);
                    return guard.poll_calm(Pin::new(&mut this.io), cx).map(Err);
                }
            }
        }
        if this.h2.is_some() {
            this.note_streams();
        }
        if let (true, Some(activity)) = (moved, &this.activity) {
            activity.moved();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(guard) = this.h2.as_deref_mut().filter(|g| g.is_calming()) {
            return guard.poll_write_calming(Pin::new(&mut this.io), cx, buf);
        }
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        let polled = this.watch(cx, polled);
        if let Poll::Ready(Ok(n)) = polled {
            this.wrote(std::iter::once(buf), n);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(guard) = this.h2.as_deref_mut().filter(|g| g.is_calming()) {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            return guard.poll_write_calming(Pin::new(&mut this.io), cx, first);
        }
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        let polled = this.watch(cx, polled);
        if let Poll::Ready(Ok(n)) = polled {
            this.wrote(bufs.iter().map(|b| &b[..]), n);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(closing) = this.calming(cx) {
            return closing.map(Err);
        }
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(closing) = this.calming(cx) {
            return closing.map(Err);
        }
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixStream;

    use super::super::flood::budget::{Flood, LIMITS};
    use super::super::flood::frames::{frame, ACK, PING, PRIORITY};
    use super::super::flood::goaway;
    use super::*;
    use crate::net::Stream;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn guarded(stream: UnixStream, write_timeout: Option<Duration>, h2: bool) -> (Guarded, Arc<Activity>) {
        let io = Io::Plain {
            prefix: bytes::Bytes::new(),
            stream: Stream::Unix(stream),
            files: None,
        };
        let activity = Activity::new();
        (
            Guarded::new(io, write_timeout, Some(Arc::clone(&activity)), h2),
            activity,
        )
    }

    #[tokio::test]
    async fn an_http1_read_takes_at_most_the_cap_and_http2_reads_are_not_capped() {
        for h2 in [false, true] {
            let (server, mut peer) = UnixStream::pair().unwrap();
            let (mut io, _) = guarded(server, None, h2);
            // Fits the socket's buffer whole (one read could take it all).
            peer.write_all(&[7u8; 2 * H1_READ_CAP]).await.unwrap();
            let mut buf = vec![0u8; 4 * H1_READ_CAP];
            let n = io.read(&mut buf).await.unwrap();
            let expected = if h2 { 2 * H1_READ_CAP } else { H1_READ_CAP };
            assert_eq!(n, expected, "h2: {h2}");
            assert!(buf[..n].iter().all(|b| *b == 7));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn writes_to_a_peer_that_reads_nothing_time_out() {
        let (server, _peer) = UnixStream::pair().unwrap();
        let (mut io, activity) = guarded(server, Some(Duration::from_secs(30)), false);
        let chunk = [0u8; 64 * 1024];
        let err = loop {
            if let Err(e) = io.write(&chunk).await {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        activity.look(); // clears the bytes-moved mark of the writes that went through
        assert!(activity.look(), "a stalled write keeps the connection from idling");
    }

    #[tokio::test]
    async fn an_h2_flood_gets_a_goaway_and_the_stream_fails() {
        let (server, mut peer) = UnixStream::pair().unwrap();
        let (mut io, _) = guarded(server, None, true);
        let mut flood = PREFACE.to_vec();
        let priority = frame(PRIORITY, 0, 3, &[0, 0, 0, 0, 16]);
        for _ in 0..=LIMITS.ignored_per_stream {
            flood.extend_from_slice(&priority);
        }
        peer.write_all(&flood).await.unwrap();
        // What h2 would do: read until the stream fails.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) => return Some(e),
                }
            }
        });
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, goaway(0, Flood::IgnoredFrames), "the GOAWAY, then FIN");
        drop(peer);
        let err = reader.await.unwrap().expect("the stream fails");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }

    #[tokio::test]
    async fn bytes_moving_are_activity_but_ping_acks_are_not() {
        let (server, mut peer) = UnixStream::pair().unwrap();
        let (mut io, activity) = guarded(server, None, true);
        let mut buf = [0u8; 4096];
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(4, 0, 0, &[]));
        peer.write_all(&hello).await.unwrap();
        io.read_exact(&mut buf[..hello.len()]).await.unwrap();
        assert!(activity.look());
        peer.write_all(&frame(PING, ACK, 0, &[0; 8])).await.unwrap();
        io.read_exact(&mut buf[..17]).await.unwrap();
        assert!(!activity.look(), "an answer to the server's own PING");
        io.write_all(&frame(PING, 0, 0, &[1; 8])).await.unwrap();
        assert!(!activity.look(), "the server's own PING");
        io.write_all(&frame(0, 0, 1, b"data")).await.unwrap();
        assert!(activity.look());
    }
}
