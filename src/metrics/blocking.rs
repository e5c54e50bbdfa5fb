//! The Python side's load, Granian's "blocking" series: the threads that run Python for the
//! engine (WSGI: the pool's threads; ASGI and RSGI: the event loop thread), the work queued for
//! them, how long they were busy or idle, and how long work waited for them. Atomics: the loop
//! thread and the pool threads update them, a snapshot reads them.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub(crate) struct BlockingStats {
    /// Threads running Python for the engine now.
    pub(crate) threads: AtomicI64,
    /// Jobs queued for them and not started yet.
    pub(crate) queue: AtomicI64,
    /// Microseconds spent running the engine's jobs.
    busy_us: AtomicU64,
    /// Microseconds spent waiting for a job (WSGI pool threads; see `docs/observability.md`
    /// for the event loop).
    idle_us: AtomicU64,
    /// Microseconds jobs waited between being queued and being started.
    wait_us: AtomicU64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl BlockingStats {
    pub(crate) fn add_busy(&self, d: Duration) {
        self.busy_us.fetch_add(micros(d), Ordering::Relaxed);
    }

    pub(crate) fn add_idle(&self, d: Duration) {
        self.idle_us.fetch_add(micros(d), Ordering::Relaxed);
    }

    pub(crate) fn add_wait(&self, d: Duration) {
        self.wait_us.fetch_add(micros(d), Ordering::Relaxed);
    }

    /// `(threads, queue, busy_us, idle_us, wait_us)`.
    pub(crate) fn read(&self) -> (i64, i64, u64, u64, u64) {
        (
            self.threads.load(Ordering::Relaxed),
            self.queue.load(Ordering::Relaxed),
            self.busy_us.load(Ordering::Relaxed),
            self.idle_us.load(Ordering::Relaxed),
            self.wait_us.load(Ordering::Relaxed),
        )
    }
}
