//! Per-worker metrics (`--metrics`): recorded by the engine where it already knows the facts,
//! read by the worker's Python side at the scrape interval ([`Metrics::counts`] and
//! [`Metrics::blocking`]) and sent to the supervisor, which serves them (see
//! `docs/observability.md`).
//!
//! Recording costs no Python and takes no lock shared between tokio threads: each runtime
//! thread records into its own shard ([`local`]); the Python side's load is a few atomics
//! ([`blocking`]).

pub(crate) mod blocking;
pub(crate) mod counts;
pub(crate) mod histogram;
pub(crate) mod labels;
mod local;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{Method, Version};

pub(crate) use blocking::BlockingStats;
pub(crate) use counts::{Counts, Finished};
pub(crate) use labels::TimeoutKind;
pub(crate) use local::{enter, record};

use crate::bridge::lock;

pub(crate) struct Metrics {
    shards: Mutex<Vec<Arc<Mutex<Counts>>>>,
    /// Shards of threads that ended, for the next thread that joins.
    free: Mutex<Vec<Arc<Mutex<Counts>>>>,
    pub(crate) blocking: Arc<BlockingStats>,
    /// The event loop is the one Python thread (ASGI, RSGI): its idle time is what its busy
    /// time leaves of the time since `started`.
    loop_thread: bool,
    started: Instant,
}

impl Metrics {
    pub(crate) fn new(loop_thread: bool) -> Self {
        let blocking = Arc::new(BlockingStats::default());
        if loop_thread {
            blocking.threads.store(1, std::sync::atomic::Ordering::Relaxed);
        }
        Self {
            shards: Mutex::new(Vec::new()),
            free: Mutex::new(Vec::new()),
            blocking,
            loop_thread,
            started: Instant::now(),
        }
    }

    /// Every shard summed.
    pub(crate) fn counts(&self) -> Counts {
        let shards: Vec<_> = lock(&self.shards).iter().map(Arc::clone).collect();
        let mut total = Counts::default();
        for shard in shards {
            total.merge(&lock(&shard));
        }
        total
    }

    /// `(threads, queue, busy_us, idle_us, wait_us)` of the Python side.
    pub(crate) fn blocking(&self) -> (i64, i64, u64, u64, u64) {
        let (threads, queue, busy, idle, wait) = self.blocking.read();
        if self.loop_thread {
            let alive = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            return (threads, queue, busy, alive.saturating_sub(busy), wait);
        }
        (threads, queue, busy, idle, wait)
    }
}

/// A request being served: started by the handler, finished when its response body ends (or
/// dropped without a response: an HTTP/2 stream refused or cut). Counted in
/// `requests_active` while it lives.
pub(crate) struct Request {
    started: Instant,
    method: u8,
    version: u8,
    request_size: Option<u64>,
    /// Set by [`Request::finish`], which leaves `requests_active` as it found it: one shard
    /// lock per end, not two.
    finished: bool,
}

impl Request {
    /// Counts a request the handler received; `None` when this thread does not record.
    pub(crate) fn start(
        method: &Method,
        version: Version,
        request_size: Option<u64>,
        started: Instant,
    ) -> Option<Self> {
        let recorded = record(|c| {
            c.requests_handled += 1;
            c.requests_active += 1;
        });
        if !recorded {
            return None;
        }
        Some(Self {
            started,
            method: labels::method_index(method),
            version: labels::version_index(version),
            request_size,
            finished: false,
        })
    }

    /// Records the request's end: its response `status` and the body bytes sent.
    pub(crate) fn finish(mut self, status: u16, response_size: u64) {
        self.finished = true;
        let f = Finished {
            method: self.method,
            status,
            version: self.version,
            seconds: self.started.elapsed().as_secs_f64(),
            request_size: self.request_size,
            response_size,
        };
        record(|c| {
            c.requests_active -= 1;
            c.finish(f);
        });
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if !self.finished {
            record(|c| c.requests_active -= 1);
        }
    }
}

/// Counts a timeout that fired.
pub(crate) fn timeout(kind: TimeoutKind) {
    record(|c| c.timeouts[kind as usize] += 1);
}
