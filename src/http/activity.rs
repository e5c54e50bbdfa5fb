//! The keep-alive timeout (`--keep-alive-timeout`): a connection idle for that long is closed.
//!
//! Idle means: no request in progress and no bytes moved either way. On HTTP/1.1 a request is
//! in progress from the moment hyper hands its head to the service until hyper drops its
//! response body (sent whole or abandoned), so a long streamed response or a slow upload never
//! counts as idle; an HTTP/1.1 connection that switched protocols leaves hyper, and this watch,
//! altogether. On HTTP/2 the flood guard's frame scanner knows which streams are open (until the
//! server's END_STREAM reached the socket, or a reset), an extended CONNECT tunnel (a WebSocket)
//! included. A write waiting on the peer counts as activity too (the write timeout decides about
//! that one).
//!
//! The cost on the hot path is a relaxed flag store per read or write that moved bytes, and
//! one counter increment and decrement per HTTP/1.1 request (an insert and a removal in a set
//! per HTTP/2 stream, in the scanner); the clock is only read by the worker's one sweeper
//! (`drain.rs`), which looks at each connection [`LOOKS`] times per timeout (see [`IdleClock`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// How often per timeout the sweeper looks: a connection is closed between `timeout` and
/// `timeout * (1 + 1 / LOOKS)` after it went idle.
pub(crate) const LOOKS: u32 = 4;

/// What a connection did, shared by its I/O (which marks bytes moving), its requests (which
/// hold it busy) and the worker's idle sweeper (which looks).
#[derive(Default)]
pub(crate) struct Activity {
    /// HTTP/1.1 requests in progress.
    busy: AtomicUsize,
    /// HTTP/2 streams are open.
    streams: AtomicBool,
    /// Bytes moved either way since the sweeper last looked.
    moved: AtomicBool,
    /// A write is waiting for the peer to accept bytes.
    stalled: AtomicBool,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Bytes were read or written.
    #[inline]
    pub(crate) fn moved(&self) {
        self.moved.store(true, Ordering::Relaxed);
    }

    /// A write started (`true`) or stopped (`false`) waiting for the peer.
    pub(crate) fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::Relaxed);
    }

    /// HTTP/2 streams are open (`true`) or not.
    pub(crate) fn set_streams_open(&self, open: bool) {
        self.streams.store(open, Ordering::Relaxed);
    }

    /// Holds the connection busy until the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// Whether a request is in progress (HTTP/1.1) or a stream open (HTTP/2).
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0 || self.streams.load(Ordering::Relaxed)
    }

    /// One look by the sweeper: was the connection active since the last one? Clears the
    /// bytes-moved mark.
    pub(crate) fn look(&self) -> bool {
        let moved = self.moved.swap(false, Ordering::Relaxed);
        moved || self.is_busy() || self.stalled.load(Ordering::Relaxed)
    }
}

/// A request in progress; the connection is not idle while one lives.
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Release);
    }
}

/// The idle rule, as plain data: the connection is idle once [`LOOKS`] looks in a row found it
/// inactive. Looks are `timeout / LOOKS` apart, so activity just after a look is noticed by the
/// next one, and the connection closes `timeout` to `timeout + timeout / LOOKS` after it.
#[derive(Default)]
pub(crate) struct IdleClock {
    quiet: u32,
}

impl IdleClock {
    pub(crate) fn period(timeout: Duration) -> Duration {
        timeout / LOOKS
    }

    /// Records one look (`active`: anything happened since the previous one); true once the
    /// connection has been idle for the whole timeout.
    pub(crate) fn look(&mut self, active: bool) -> bool {
        if active {
            self.quiet = 0;
        } else {
            self.quiet += 1;
        }
        self.quiet >= LOOKS
    }
}

/// A response body that holds its connection busy until hyper drops it.
pub(crate) struct Tracked<B> {
    inner: B,
    _busy: Option<Busy>,
}

impl<B> Tracked<B> {
    pub(crate) fn new(inner: B, busy: Option<Busy>) -> Self {
        Self { inner, _busy: busy }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};

    use super::*;

    #[test]
    fn idle_after_a_whole_timeout_of_quiet_looks() {
        let mut clock = IdleClock::default();
        for _ in 1..LOOKS {
            assert!(!clock.look(false));
        }
        assert!(clock.look(false));
    }

    #[test]
    fn any_activity_starts_the_count_again() {
        let mut clock = IdleClock::default();
        for _ in 1..LOOKS {
            assert!(!clock.look(false));
        }
        assert!(!clock.look(true));
        for _ in 1..LOOKS {
            assert!(!clock.look(false));
        }
        assert!(clock.look(false));
    }

    #[test]
    fn requests_streams_and_stalled_writes_are_activity() {
        let activity = Activity::new();
        assert!(!activity.look());
        activity.moved();
        assert!(activity.look(), "bytes moved");
        assert!(!activity.look(), "the mark is cleared by a look");
        let busy = activity.begin();
        assert!(
            activity.look() && activity.look(),
            "busy for as long as the request lives"
        );
        drop(busy);
        assert!(!activity.look());
        activity.set_streams_open(true);
        assert!(activity.look() && activity.look(), "busy while HTTP/2 streams are open");
        activity.set_streams_open(false);
        activity.set_stalled(true);
        assert!(activity.look(), "a write waiting on the peer");
        activity.set_stalled(false);
        assert!(!activity.look());
    }

    #[tokio::test]
    async fn a_tracked_body_holds_the_connection_until_dropped() {
        let activity = Activity::new();
        let mut body = Tracked::new(Full::new(Bytes::from_static(b"hi")), Some(activity.begin()));
        assert_eq!(body.size_hint().exact(), Some(2));
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "hi");
        assert!(activity.is_busy(), "until hyper drops the body");
        drop(body);
        assert!(!activity.is_busy());
    }
}
