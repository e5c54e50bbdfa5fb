//! What a connection (or a WebSocket session) is told from outside while it runs: the worker
//! stops, the keep-alive timeout found it idle, the graceful timeout cuts it. One small object
//! per tracked task (see `drain.rs`), raised by whoever notices and read by the task itself.
//!
//! The task reads it every time it is polled, so reading must cost next to nothing: one atomic
//! load, and a waker registration that keeps the stored waker when it is the same task's (no
//! lock, no timer: the clocks live in one sweeper per worker, not in each connection).

use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// The worker stops: finish the request in progress, then close.
pub(crate) const STOP: u8 = 1;
/// The keep-alive timeout found the connection idle.
pub(crate) const IDLE: u8 = 1 << 1;
/// The graceful timeout passed: drop everything where it stands.
pub(crate) const CUT: u8 = 1 << 2;

/// Flags raised once each, and the task to wake when one is.
#[derive(Default)]
pub(crate) struct Signal {
    raised: AtomicU8,
    waker: AtomicWaker,
}

impl Signal {
    /// Raises `flag` and wakes the task reading it.
    pub(crate) fn raise(&self, flag: u8) {
        self.raised.fetch_or(flag, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Whether `flag` was raised.
    #[inline]
    pub(crate) fn is(&self, flag: u8) -> bool {
        self.raised.load(Ordering::Acquire) & flag != 0
    }

    /// Ready with the raised flags among `mask` once any is; else the task is woken when one is
    /// raised.
    #[inline]
    pub(crate) fn poll(&self, cx: &mut Context<'_>, mask: u8) -> Poll<u8> {
        let raised = self.raised.load(Ordering::Acquire) & mask;
        if raised != 0 {
            return Poll::Ready(raised);
        }
        self.waker.register(cx.waker());
        // Raised between the load and the registration: its wake may have found no waker.
        match self.raised.load(Ordering::Acquire) & mask {
            0 => Poll::Pending,
            raised => Poll::Ready(raised),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn flags_are_independent_and_stay_raised() {
        let signal = Signal::default();
        assert!(!signal.is(STOP) && !signal.is(IDLE) && !signal.is(CUT));
        signal.raise(IDLE);
        assert!(signal.is(IDLE) && !signal.is(STOP));
        signal.raise(CUT);
        assert!(signal.is(IDLE) && signal.is(CUT));
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_a_flag_it_waits_for() {
        let signal = Arc::new(Signal::default());
        let waiter = tokio::spawn({
            let signal = Arc::clone(&signal);
            async move { std::future::poll_fn(|cx| signal.poll(cx, STOP | IDLE)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        signal.raise(IDLE);
        assert_eq!(waiter.await.unwrap(), IDLE);
    }

    #[test]
    fn a_flag_outside_the_mask_is_not_ready() {
        let signal = Signal::default();
        signal.raise(CUT);
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        assert_eq!(signal.poll(&mut cx, STOP), Poll::Pending);
        assert_eq!(signal.poll(&mut cx, STOP | CUT), Poll::Ready(CUT));
    }
}
