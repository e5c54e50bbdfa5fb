//! Client-disconnect notification: fired from tokio when a request's connection goes away
//! before its response is complete. Interfaces observe it by polling [`Disconnect::is_fired`]
//! or by registering a callback ([`Disconnect::on_fire`]; Python awaitables are built on it
//! in `interfaces::py::disconnect`).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::body_failure::BodyFailure;
use crate::bridge::lock;

/// Run once when the client goes away; any thread.
pub(crate) type OnFire = Box<dyn FnOnce() + Send>;

pub(crate) struct Disconnect {
    fired: AtomicBool,
    /// The engine refused the request body ([`BodyFailure::code`], 0: not refused) and answered
    /// for the app, or cut its response: what the app sees as a disconnect is the client's
    /// doing, not the app's.
    refused: AtomicU8,
    /// The engine gave up on the client: its streamed response found no room for the write
    /// timeout ([`Disconnect::cut`]).
    cut: AtomicBool,
    /// Callbacks waiting for the event.
    watchers: Mutex<Vec<OnFire>>,
}

impl Disconnect {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            fired: AtomicBool::new(false),
            refused: AtomicU8::new(0),
            cut: AtomicBool::new(false),
            watchers: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Why the engine refused the request body, if it did.
    pub(crate) fn refused(&self) -> Option<BodyFailure> {
        BodyFailure::from_code(self.refused.load(Ordering::Acquire))
    }

    /// Records why the request body was refused (see `refused`), before the disconnect fires.
    pub(crate) fn mark_refused(&self, failure: BodyFailure) {
        self.refused.store(failure.code(), Ordering::Release);
    }

    /// Whether the engine gave up on the client (see [`Disconnect::cut`]).
    pub(crate) fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }

    /// Gives up on the client: the response could not be sent (its producer found no room for
    /// the write timeout). Marks the request cut, then fires: the app is told its client is
    /// gone, and over HTTP/2 the task serving the stream drops it (`http::stream_task`).
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.fire();
    }

    /// Marks the client as gone and runs the callbacks. Any thread; idempotent.
    pub(crate) fn fire(&self) {
        if self.fired.swap(true, Ordering::AcqRel) {
            return;
        }
        let watchers = std::mem::take(&mut *lock(&self.watchers));
        for cb in watchers {
            cb();
        }
    }

    /// Runs `cb` when the client goes away: at once (on this thread) if it already has.
    pub(crate) fn on_fire(&self, cb: OnFire) {
        {
            let mut watchers = lock(&self.watchers);
            // Checked under the lock: `fire` sets the flag before it takes the list, so a
            // callback is either in the list it takes or sees the flag set.
            if !self.is_fired() {
                watchers.push(cb);
                return;
            }
        }
        cb();
    }
}

/// Lives in the request's service future: if hyper drops the future before the response head
/// was produced, the connection is gone.
pub(crate) struct DisconnectGuard(pub(crate) Option<Arc<Disconnect>>);

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            d.fire();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counter() -> (Arc<AtomicUsize>, impl Fn() -> OnFire) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&n);
        (n, move || {
            let m = Arc::clone(&m);
            Box::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
            })
        })
    }

    #[test]
    fn callbacks_run_once_when_fired() {
        let d = Disconnect::new();
        let (n, cb) = counter();
        d.on_fire(cb());
        d.on_fire(cb());
        assert_eq!(n.load(Ordering::SeqCst), 0);
        d.fire();
        d.fire();
        assert_eq!(n.load(Ordering::SeqCst), 2);
        assert!(d.is_fired());
    }

    #[test]
    fn a_callback_after_the_fact_runs_at_once() {
        let d = Disconnect::new();
        d.fire();
        let (n, cb) = counter();
        d.on_fire(cb());
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn no_callback_is_lost_to_a_racing_fire() {
        for _ in 0..200 {
            let d = Disconnect::new();
            let (n, cb) = counter();
            let firing = {
                let d = Arc::clone(&d);
                std::thread::spawn(move || d.fire())
            };
            for _ in 0..10 {
                d.on_fire(cb());
            }
            firing.join().unwrap();
            assert_eq!(n.load(Ordering::SeqCst), 10);
        }
    }

    #[test]
    fn a_cut_fires_and_is_told_apart_from_a_plain_disconnect() {
        let d = Disconnect::new();
        let (n, cb) = counter();
        d.on_fire(cb());
        d.fire();
        assert!(!d.is_cut());
        let d = Disconnect::new();
        d.on_fire(cb());
        d.cut();
        assert!(d.is_fired() && d.is_cut());
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_guard_fires_when_dropped_armed() {
        let d = Disconnect::new();
        drop(DisconnectGuard(Some(Arc::clone(&d))));
        assert!(d.is_fired());
        let d = Disconnect::new();
        let mut guard = DisconnectGuard(Some(Arc::clone(&d)));
        guard.0.take();
        drop(guard);
        assert!(!d.is_fired());
    }
}
