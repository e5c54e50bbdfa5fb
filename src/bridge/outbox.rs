//! The way back from Python to a tokio runtime, one wake-up per batch.
//!
//! Every time a thread outside the runtime wakes one of its tasks (a oneshot send, say), tokio
//! writes the runtime's eventfd, and the runtime thread is woken to run that one task. With
//! many requests in flight that was one `write` syscall and one wake-up per response. Instead,
//! the loop thread (and WSGI pool threads) queue their deliveries here; only the first one
//! after a drain notifies the runtime's courier task, which then makes every queued delivery
//! from inside the runtime, where waking a task is a plain push onto its run queue. hyper then
//! writes the responses of a connection with one `writev`, too.
//!
//! The arming protocol is the bridge's (`super::Bridge`): `armed` is cleared before the queue is
//! taken, so a delivery queued during a drain either lands in it or notifies again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::lock;

/// Work to run on the runtime thread: typically one `oneshot::Sender::send`.
pub(crate) type Delivery = Box<dyn FnOnce() + Send>;

/// One per runtime, created inside it by [`Outbox::start`].
pub(crate) struct Outbox {
    queue: Mutex<Vec<Delivery>>,
    armed: AtomicBool,
    notify: Notify,
}

impl Outbox {
    /// Creates the outbox of the current runtime and spawns its courier task, which lives as
    /// long as the runtime.
    pub(crate) fn start() -> Arc<Self> {
        let outbox = Arc::new(Self::new());
        let courier = Arc::clone(&outbox);
        tokio::spawn(async move {
            loop {
                courier.notify.notified().await;
                courier.drain();
            }
        });
        outbox
    }

    fn new() -> Self {
        Self {
            queue: Mutex::new(Vec::with_capacity(64)),
            armed: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Queues `delivery` for the runtime thread. Callable from any thread.
    pub(crate) fn deliver(&self, delivery: Delivery) {
        lock(&self.queue).push(delivery);
        if !self.armed.swap(true, Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    fn drain(&self) {
        self.armed.store(false, Ordering::SeqCst);
        let batch = std::mem::take(&mut *lock(&self.queue));
        for delivery in batch {
            delivery();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn one_notification_per_batch() {
        let outbox = Outbox::new();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let ran = Arc::clone(&ran);
            outbox.deliver(Box::new(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            }));
        }
        assert!(outbox.armed.load(Ordering::SeqCst));
        outbox.drain();
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        assert!(!outbox.armed.load(Ordering::SeqCst));
    }

    #[test]
    fn courier_delivers_from_another_thread() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let outbox = Outbox::start();
            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            let remote = Arc::clone(&outbox);
            std::thread::spawn(move || {
                remote.deliver(Box::new(move || {
                    let _ = tx.send(7);
                }))
            })
            .join()
            .unwrap();
            assert_eq!(rx.await.unwrap(), 7);
        });
    }
}
