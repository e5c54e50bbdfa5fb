//! Where a runtime thread records: its own shard of [`Counts`], behind a mutex that only a
//! snapshot ever contends for. A thread joins a worker's [`Metrics`] once, when it starts
//! ([`enter`]); recording on a thread that never joined (tests, threads outside the runtimes)
//! does nothing. A thread that ends leaves its shard (and what it holds) to the next thread
//! that joins, so threads that come and go (tokio's blocking threads) add no shards.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use super::counts::Counts;
use super::Metrics;
use crate::bridge::lock;

struct Local {
    metrics: Arc<Metrics>,
    shard: Arc<Mutex<Counts>>,
}

impl Drop for Local {
    fn drop(&mut self) {
        lock(&self.metrics.free).push(Arc::clone(&self.shard));
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Makes the current thread record into `metrics` (a shard of its own, registered there).
pub(crate) fn enter(metrics: &Arc<Metrics>) {
    let reused = lock(&metrics.free).pop();
    let shard = reused.unwrap_or_else(|| {
        let shard = Arc::new(Mutex::new(Counts::default()));
        lock(&metrics.shards).push(Arc::clone(&shard));
        shard
    });
    let local = Local {
        metrics: Arc::clone(metrics),
        shard,
    };
    LOCAL.with(|l| *l.borrow_mut() = Some(local));
}

/// Applies `f` to this thread's shard; nothing when the thread does not record. Whether it
/// records.
pub(crate) fn record(f: impl FnOnce(&mut Counts)) -> bool {
    LOCAL
        .try_with(|l| match l.borrow().as_ref() {
            Some(local) => {
                f(&mut lock(&local.shard));
                true
            }
            None => false,
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_record_into_their_own_shards_and_a_snapshot_sums_them() {
        let metrics = Arc::new(Metrics::new(false));
        assert!(!record(|c| c.requests_handled += 1), "not entered: ignored");
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let m = Arc::clone(&metrics);
                std::thread::spawn(move || {
                    enter(&m);
                    for _ in 0..100 {
                        assert!(record(|c| c.requests_handled += 1));
                    }
                    record(|c| c.connections_active += 1);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = metrics.counts();
        assert_eq!(snap.requests_handled, 300, "shards outlive their threads");
        assert_eq!(snap.connections_active, 3);
        // A thread's locals are dropped as it exits, which `join` does not wait for; a thread
        // that started after another ended may already have taken over its shard.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let shards = lock(&metrics.shards).len();
        assert!((1..=3).contains(&shards));
        while lock(&metrics.free).len() < shards {
            assert!(
                std::time::Instant::now() < deadline,
                "the ended threads left their shards"
            );
            std::thread::yield_now();
        }
        let m = Arc::clone(&metrics);
        std::thread::spawn(move || {
            enter(&m);
            record(|c| c.requests_handled += 1);
        })
        .join()
        .unwrap();
        assert_eq!(lock(&metrics.shards).len(), shards, "a later thread reuses a shard");
        assert_eq!(metrics.counts().requests_handled, 301);
    }
}
