//! The write timeout (`--write-timeout`): a peer that accepts no bytes for that long while the
//! server has bytes for it is dropped.
//!
//! [`WriteStall`] watches the outcome of each write (or flush) poll. A write that completes
//! costs a flag store: no clock is read and no timer touched. Only when a write returns
//! `Pending` (the socket, or TLS buffer, is full) is the timer armed, once per stall, and polled
//! with the writer's context, so the writer is woken when it fires; the next poll then fails
//! with `TimedOut`, which ends the connection like any broken socket (the app is told that its
//! client left). The timer is allocated at a connection's first stall and re-armed in place.
//!
//! hyper (both HTTP versions) and h2 poll their writer again whenever their task wakes with
//! bytes still to write, so the failing poll always happens.
//!
//! A socket is writable again only once its kernel buffer has room for a good share of what
//! it holds (Linux waits until half of it is free), so a peer that reads slowly can keep a
//! large buffer unwritable for a long time while it does take bytes. With a socket to look at
//! ([`WriteStall::with_socket`]), a timer that fires asks the kernel how many bytes it still
//! holds for the peer (`SIOCOUTQ`: unsent or unacknowledged): fewer than when the stall began
//! means the peer took some, and the stall starts over from there. Only a peer that took
//! nothing for the whole timeout is dropped.

use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{sleep_until, Instant, Sleep};

pub(crate) struct WriteStall {
    /// `None`: writes may wait forever (`--write-timeout 0`).
    limit: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    /// A write is pending and the timer runs for it.
    armed: bool,
    /// The socket under the writes, for [`kernel_queue`].
    socket: Option<RawFd>,
    /// What the kernel held for the peer when the stall (or its last extension) began.
    queued: Option<u64>,
}

/// Bytes the kernel holds for the peer of socket `fd` (sent and not acknowledged, or not sent
/// yet); `None` where it cannot tell.
#[cfg(target_os = "linux")]
pub(crate) fn kernel_queue(fd: RawFd) -> Option<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one int through the pointer, which outlives the call.
    let res = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    (res == 0).then(|| u64::try_from(n).unwrap_or(0))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn kernel_queue(_fd: RawFd) -> Option<u64> {
    None
}

/// The error a write gets once the peer accepted nothing for the whole timeout.
pub(crate) fn timed_out() -> io::Error {
    crate::metrics::timeout(crate::metrics::TimeoutKind::Write);
    io::Error::new(
        io::ErrorKind::TimedOut,
        "write timeout: the peer accepted no bytes (--write-timeout)",
    )
}

impl WriteStall {
    pub(crate) const fn new(limit: Option<Duration>) -> Self {
        Self {
            limit,
            timer: None,
            armed: false,
            socket: None,
            queued: None,
        }
    }

    /// Tells the peer taking bytes from socket `fd`'s kernel buffer from a peer taking none.
    pub(crate) const fn with_socket(mut self, fd: RawFd) -> Self {
        self.socket = Some(fd);
        self
    }

    /// Passes `polled` (a write or flush outcome) through. `Ready` is progress: the stall is
    /// over. `Pending` arms the timer, unless it already runs for this stall; once it has fired,
    /// `Pending` becomes a `TimedOut` error (and stays one until a write makes progress).
    #[inline]
    pub(crate) fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.armed = false;
                ready
            }
        }
    }

    /// Whether a write is waiting on the peer right now.
    pub(crate) fn is_stalled(&self) -> bool {
        self.armed
    }

    #[cold]
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        // A stall without a limit is still a stall (the keep-alive timeout asks).
        let was_armed = std::mem::replace(&mut self.armed, true);
        let Some(limit) = self.limit else {
            return Poll::Pending;
        };
        if !was_armed {
            self.arm(limit);
        }
        loop {
            match self.timer.as_mut().map(|t| t.as_mut().poll(cx)) {
                Some(Poll::Ready(())) if self.peer_took_bytes() => self.arm(limit),
                Some(Poll::Ready(())) => return Poll::Ready(Err(timed_out())),
                _ => return Poll::Pending,
            }
        }
    }

    /// (Re)starts the timer from now, noting what the kernel holds for the peer.
    fn arm(&mut self, limit: Duration) {
        self.queued = self.socket.and_then(kernel_queue);
        let deadline = Instant::now() + limit;
        match &mut self.timer {
            Some(timer) => timer.as_mut().reset(deadline),
            None => self.timer = Some(Box::pin(sleep_until(deadline))),
        }
    }

    /// Whether the kernel holds fewer bytes for the peer than when the timer was armed.
    fn peer_took_bytes(&self) -> bool {
        match (self.queued, self.socket.and_then(kernel_queue)) {
            (Some(before), Some(now)) => now < before,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(30);

    /// One watched poll of a write whose outcome is `polled`.
    async fn poll_once(stall: &mut WriteStall, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        let mut polled = Some(polled);
        poll_fn(|cx| Poll::Ready(stall.watch(cx, polled.take().unwrap()))).await
    }

    fn is_timeout(p: &Poll<io::Result<usize>>) -> bool {
        matches!(p, Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut)
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_pending_for_the_whole_limit_times_out() {
        let mut stall = WriteStall::new(Some(LIMIT));
        assert!(poll_once(&mut stall, Poll::Pending).await.is_pending());
        assert!(stall.is_stalled());
        tokio::time::advance(LIMIT - Duration::from_millis(1)).await;
        assert!(
            poll_once(&mut stall, Poll::Pending).await.is_pending(),
            "not before the limit"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(is_timeout(&poll_once(&mut stall, Poll::Pending).await));
    }

    #[tokio::test(start_paused = true)]
    async fn progress_ends_the_stall_and_the_next_one_starts_afresh() {
        let mut stall = WriteStall::new(Some(LIMIT));
        assert!(poll_once(&mut stall, Poll::Pending).await.is_pending());
        tokio::time::advance(LIMIT - Duration::from_secs(1)).await;
        assert!(matches!(
            poll_once(&mut stall, Poll::Ready(Ok(10))).await,
            Poll::Ready(Ok(10))
        ));
        assert!(!stall.is_stalled());
        // A new stall gets the whole limit again.
        assert!(poll_once(&mut stall, Poll::Pending).await.is_pending());
        tokio::time::advance(LIMIT - Duration::from_secs(1)).await;
        assert!(poll_once(&mut stall, Poll::Pending).await.is_pending());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(is_timeout(&poll_once(&mut stall, Poll::Pending).await));
    }

    #[tokio::test(start_paused = true)]
    async fn writes_that_complete_never_create_a_timer() {
        let mut stall = WriteStall::new(Some(LIMIT));
        for _ in 0..1000 {
            assert!(poll_once(&mut stall, Poll::Ready(Ok(1))).await.is_ready());
        }
        assert!(stall.timer.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn no_limit_waits_forever() {
        let mut stall = WriteStall::new(None);
        assert!(poll_once(&mut stall, Poll::Pending).await.is_pending());
        assert!(stall.is_stalled(), "still a stall, for the keep-alive timeout");
        tokio::time::advance(Duration::from_secs(86_400)).await;
        assert!(poll_once(&mut stall, Poll::Pending).await.is_pending());
        assert!(stall.timer.is_none());
    }

    /// A socket pair whose first end is full: the peer (second end) reads nothing yet.
    #[cfg(target_os = "linux")]
    fn full_socket() -> (std::os::unix::net::UnixStream, std::os::unix::net::UnixStream) {
        use std::io::Write;
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        while (&a).write(&[0; 4096]).is_ok() {}
        (a, b)
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(start_paused = true)]
    async fn a_peer_that_takes_bytes_from_the_kernel_buffer_is_not_stalled() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let (full, mut peer) = full_socket();
        assert!(kernel_queue(full.as_raw_fd()).unwrap() > 0);
        let mut stall = WriteStall::new(Some(LIMIT)).with_socket(full.as_raw_fd());
        assert!(poll_once(&mut stall, Poll::Pending).await.is_pending());
        // The socket stays unwritable, but the peer reads a little during each timeout.
        for _ in 0..3 {
            peer.read_exact(&mut [0; 4096]).unwrap();
            tokio::time::advance(LIMIT).await;
            assert!(poll_once(&mut stall, Poll::Pending).await.is_pending());
        }
        // A whole timeout without a byte taken.
        tokio::time::advance(LIMIT).await;
        assert!(is_timeout(&poll_once(&mut stall, Poll::Pending).await));
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_wakes_the_stalled_writer() {
        let mut stall = WriteStall::new(Some(LIMIT));
        // A writer that stays pending: awaiting it ends only through the timer's wake-up.
        let err = poll_fn(|cx| stall.watch::<usize>(cx, Poll::Pending)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
