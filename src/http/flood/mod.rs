//! The HTTP/2 flood guard: a frame-header scanner on both byte streams of an HTTP/2
//! connection (the plaintext, under TLS too) that counts the frames h2 does not bound itself
//! ([`budget`]), and follows which streams are open ([`streams`], for the keep-alive timeout). A peer past a bound gets `GOAWAY` with `ENHANCE_YOUR_CALM` and the connection
//! is closed; h2 is fed nothing more from it.
//!
//! The GOAWAY is written by the guard, at a frame boundary of the write side: when h2 is in the
//! middle of a frame, its next writes are let through up to the end of that frame, never
//! further. Then the guard flushes, sends FIN, and reads (and drops) what the peer still
//! sends for a moment, so that closing does not reset the connection before the peer has read
//! the GOAWAY; every I/O call then fails, which ends hyper's connection (the apps see their
//! client leave). A peer that reads nothing (the socket accepts no byte of the GOAWAY) is
//! closed at once. The whole close takes at most [`CALM_CLOSE`].

pub(crate) mod budget;
pub(crate) mod frames;
pub(crate) mod streams;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Sleep};

use self::budget::{Budget, Flood, LIMITS};
use self::frames::{FrameHead, Scanner, ACK, GOAWAY};
use self::streams::OpenStreams;

/// How long closing a flooding connection may take: writing the GOAWAY, and letting the peer
/// read it before the socket is closed.
pub(crate) const CALM_CLOSE: Duration = Duration::from_secs(1);

/// `ENHANCE_YOUR_CALM` (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Reads the lingering close does per poll before it yields.
const LINGER_READS: usize = 64;

/// The GOAWAY frame telling the peer it flooded.
pub(crate) fn goaway(last_stream: u32, why: Flood) -> Vec<u8> {
    let debug = why.as_str().as_bytes();
    let head = FrameHead {
        len: 8 + debug.len() as u32,
        kind: GOAWAY,
        flags: 0,
        stream: 0,
        pad: 0,
    };
    let mut out = head.encode().to_vec();
    out.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
    out.extend_from_slice(debug);
    out
}

fn flood_error(why: Flood) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        format!("HTTP/2 flood ({}): closed with ENHANCE_YOUR_CALM", why.as_str()),
    )
}

/// Closing a connection that flooded.
struct Calm {
    why: Flood,
    goaway: Vec<u8>,
    sent: usize,
    shut: bool,
    done: bool,
    deadline: Pin<Box<Sleep>>,
}

impl Calm {
    fn finish(&mut self) -> Poll<io::Error> {
        self.done = true;
        Poll::Ready(flood_error(self.why))
    }
}

/// The guard of one HTTP/2 connection.
pub(crate) struct FloodGuard {
    read: Scanner,
    write: Scanner,
    budget: Budget,
    streams: OpenStreams,
    calm: Option<Calm>,
}

impl FloodGuard {
    pub(crate) fn new() -> Self {
        Self {
            read: Scanner::client(),
            write: Scanner::server(),
            budget: Budget::default(),
            streams: OpenStreams::default(),
            calm: None,
        }
    }

    pub(crate) fn is_calming(&self) -> bool {
        self.calm.is_some()
    }

    /// Whether a stream is open (see [`streams`]).
    pub(crate) fn streams_open(&self) -> bool {
        !self.streams.is_empty()
    }

    /// Counts what was just read. `Err`: the peer flooded; the bytes must not reach h2. `Ok`
    /// says whether they were more than acknowledgements of the server's own PINGs (activity,
    /// for the keep-alive timeout).
    pub(crate) fn on_read(&mut self, bytes: &[u8]) -> Result<bool, Flood> {
        let mut verdict = Ok(());
        let (budget, streams) = (&mut self.budget, &mut self.streams);
        let active = self.read.feed(bytes, Some(ACK), |f| {
            if verdict.is_ok() {
                verdict = budget.received(&f, &LIMITS);
                streams.received(&f);
            }
        });
        verdict.map(|()| active)
    }

    /// Counts what was just written; says whether it was more than PING frames.
    pub(crate) fn on_write(&mut self, bytes: &[u8]) -> bool {
        let (budget, streams) = (&mut self.budget, &mut self.streams);
        self.write.feed(bytes, Some(0), |f| {
            budget.sent(&f);
            streams.sent(&f);
        })
    }

    /// Starts closing the connection for `why`.
    pub(crate) fn calm_down(&mut self, why: Flood) {
        self.calm = Some(Calm {
            why,
            goaway: goaway(self.budget.last_stream(), why),
            sent: 0,
            shut: false,
            done: false,
            deadline: Box::pin(sleep(CALM_CLOSE)),
        });
    }

    /// A write by h2 while closing: let through up to the end of the frame it is in the middle
    /// of, if any; afterwards the GOAWAY goes out and nothing more from h2 does.
    pub(crate) fn poll_write_calming<I: AsyncRead + AsyncWrite>(
        &mut self,
        mut io: Pin<&mut I>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.write.at_boundary() && !buf.is_empty() {
            let n = self.write.bytes_to_boundary(buf).unwrap_or(buf.len());
            match io.as_mut().poll_write(cx, &buf[..n]) {
                Poll::Ready(Ok(written)) if written > 0 => {
                    self.write.feed(&buf[..written], None, |_| {});
                    return Poll::Ready(Ok(written));
                }
                // The peer does not even take the rest of that frame: close now.
                Poll::Ready(Ok(_)) | Poll::Pending => {
                    if let Some(calm) = &mut self.calm {
                        return calm.finish().map(Err);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            }
        }
        self.poll_calm(io, cx).map(Err)
    }

    /// Drives the close; `Ready` with the error every I/O call returns from then on.
    pub(crate) fn poll_calm<I: AsyncRead + AsyncWrite>(
        &mut self,
        mut io: Pin<&mut I>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Error> {
        let Self { calm, write, .. } = self;
        let Some(calm) = calm else {
            return Poll::Ready(io::Error::other("no flood"));
        };
        if calm.done || calm.deadline.as_mut().poll(cx).is_ready() {
            return calm.finish();
        }
        while calm.sent < calm.goaway.len() {
            if !write.at_boundary() {
                // h2 finishes its frame first, through `poll_write_calming`.
                return Poll::Pending;
            }
            match io.as_mut().poll_write(cx, &calm.goaway[calm.sent..]) {
                Poll::Ready(Ok(n)) if n > 0 => calm.sent += n,
                // Nothing of it fits: the peer reads nothing, there is no telling it.
                Poll::Pending if calm.sent == 0 => return calm.finish(),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => return calm.finish(),
            }
        }
        if !calm.shut {
            match io.as_mut().poll_flush(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return calm.finish(),
                Poll::Ready(Ok(())) => {}
            }
            match io.as_mut().poll_shutdown(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => calm.shut = true,
            }
        }
        // Let the peer read the GOAWAY: drop what it still sends until it closes.
        let mut scratch = [0u8; 2048];
        for _ in 0..LINGER_READS {
            let mut rb = ReadBuf::new(&mut scratch);
            match io.as_mut().poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if !rb.filled().is_empty() => {}
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => return calm.finish(),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::frames::{frame, PRIORITY, SETTINGS};
    use super::*;

    #[test]
    fn the_goaway_names_the_last_stream_and_the_reason() {
        let bytes = goaway(7, Flood::WindowUpdates);
        let mut scanner = Scanner::server();
        let mut heads = Vec::new();
        scanner.feed(&bytes, None, |h| heads.push(h));
        assert_eq!(heads.len(), 1);
        assert_eq!((heads[0].kind, heads[0].stream), (GOAWAY, 0));
        assert_eq!(&bytes[9..13], &7u32.to_be_bytes());
        assert_eq!(&bytes[13..17], &[0, 0, 0, 0xb]);
        assert_eq!(&bytes[17..], b"flood_of_window_updates");
        assert!(scanner.at_boundary());
    }

    #[test]
    fn reading_counts_frames_and_reports_a_flood() {
        let mut guard = FloodGuard::new();
        let mut wire = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        wire.extend(frame(SETTINGS, 0, 0, &[]));
        assert_eq!(guard.on_read(&wire), Ok(true));
        assert_eq!(
            guard.on_read(&frame(6, ACK, 0, &[0; 8])),
            Ok(false),
            "a PING ACK is no activity"
        );
        let priority = frame(PRIORITY, 0, 3, &[0, 0, 0, 1, 16]);
        for _ in 0..LIMITS.ignored_per_stream {
            guard.on_read(&priority).unwrap();
        }
        assert_eq!(guard.on_read(&priority), Err(Flood::IgnoredFrames));
    }

    /// Closing mid-frame: h2's frame is finished first, the GOAWAY follows at the boundary, and
    /// after FIN every call fails.
    #[tokio::test]
    async fn the_goaway_goes_out_at_a_frame_boundary() {
        let (mut peer, server) = tokio::io::duplex(64 * 1024);
        tokio::pin!(server);
        let mut guard = FloodGuard::new();
        let data = frame(0, 0, 1, &[b'd'; 100]);
        // h2 wrote the first 30 bytes of a DATA frame when the flood is found.
        server.write_all(&data[..30]).await.unwrap();
        guard.on_write(&data[..30]);
        guard.calm_down(Flood::Resets);
        assert!(guard.is_calming());
        // Its next write (the rest of the frame and another frame) is cut at the boundary.
        let mut rest = data[30..].to_vec();
        rest.extend(frame(0, 0, 1, b"more"));
        let n = std::future::poll_fn(|cx| guard.poll_write_calming(server.as_mut(), cx, &rest))
            .await
            .unwrap();
        assert_eq!(n, data.len() - 30);
        // Then the GOAWAY, FIN, and the lingering read sees the peer close.
        let closing = tokio::spawn(async move {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            drop(peer);
            got
        });
        let err = std::future::poll_fn(|cx| guard.poll_calm(server.as_mut(), cx)).await;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        let got = closing.await.unwrap();
        let mut expected = data.clone();
        expected.extend(goaway(0, Flood::Resets));
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn a_peer_that_reads_nothing_is_closed_at_once() {
        let (_peer, server) = tokio::io::duplex(16);
        tokio::pin!(server);
        server.write_all(&[0; 16]).await.unwrap(); // the pipe is full
        let mut guard = FloodGuard::new();
        guard.calm_down(Flood::EmptyFrames);
        let err = std::future::poll_fn(|cx| guard.poll_calm(server.as_mut(), cx)).await;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_closes_is_closed_after_the_linger() {
        let (_peer, server) = tokio::io::duplex(1024);
        tokio::pin!(server);
        let mut guard = FloodGuard::new();
        guard.calm_down(Flood::EmptyFrames);
        let started = tokio::time::Instant::now();
        let err = std::future::poll_fn(|cx| guard.poll_calm(server.as_mut(), cx)).await;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        assert_eq!(started.elapsed(), CALM_CLOSE);
    }
}
