//! `--limit-max-requests`: the worker counts the requests it serves and, when the count reaches
//! its limit, says so once (the worker then asks its supervisor for a replacement and goes on
//! serving until it is told to stop). The count is one atomic add per request; the signal
//! is a callback run exactly once, by the request that reaches the limit, so nothing polls.

use std::sync::atomic::{AtomicU64, Ordering};

/// The requests served so far and what to do when they reach the limit.
pub(crate) struct MaxRequests {
    limit: u64,
    served: AtomicU64,
    on_reached: Box<dyn Fn() + Send + Sync>,
}

impl MaxRequests {
    /// `on_reached` runs once, on the thread serving the `limit`-th request (`limit` >= 1).
    pub(crate) fn new(limit: u64, on_reached: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            limit,
            served: AtomicU64::new(0),
            on_reached: Box::new(on_reached),
        }
    }

    /// Counts one request. Exactly one caller sees the count become `limit`, whatever the
    /// threads, so the callback runs once.
    pub(crate) fn count(&self) {
        if self.served.fetch_add(1, Ordering::Relaxed) + 1 == self.limit {
            (self.on_reached)();
        }
    }

    #[cfg(test)]
    fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use super::*;

    fn counted(limit: u64) -> (MaxRequests, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let max = MaxRequests::new(limit, move || {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        (max, calls)
    }

    #[test]
    fn the_signal_comes_with_the_limit_th_request_and_only_then() {
        let (max, calls) = counted(3);
        max.count();
        max.count();
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        max.count();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // The worker goes on serving until it is replaced: no second signal.
        for _ in 0..10 {
            max.count();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(max.served(), 13);
    }

    #[test]
    fn a_limit_of_one_signals_on_the_first_request() {
        let (max, calls) = counted(1);
        max.count();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn threads_racing_past_the_limit_signal_once() {
        let (max, calls) = counted(1000);
        let max = Arc::new(max);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let max = Arc::clone(&max);
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        max.count();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(max.served(), 2000);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
