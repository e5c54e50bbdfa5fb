//! The hand-over between tokio threads and the Python event loop.
//!
//! tokio threads never touch Python: they push boxed jobs onto a queue and, when the queue was
//! not already armed, write an eventfd that the event loop watches (`loop.add_reader`). The
//! loop thread then runs [`Bridge::drain`], which executes every queued job with the GIL it
//! already holds. A burst of requests therefore costs one wake-up and no GIL hand-off.
//! See `docs/architecture.md` for the cost model.

mod awaitable;
mod eventfd;
mod outbox;
pub(crate) mod pool;
mod spawn;

pub(crate) use awaitable::{set_event_loop, Awaitable};
pub(crate) use outbox::Outbox;
pub(crate) use spawn::{block_on_runtime, send_or_wait, spawn_awaitable, until_room};

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use pyo3::prelude::*;

use eventfd::EventFd;

use crate::metrics::BlockingStats;

/// Python objects a job may need; owned by the loop thread, built once per worker.
pub(crate) struct PyCtx {
    pub(crate) event_loop: Py<PyAny>,
    /// What the interface calls per request (RSGI/ASGI: starts the app's asyncio Task).
    pub(crate) handler: Py<PyAny>,
    /// `on_log(level: int, message: str)` -> logs on the runtime logger.
    pub(crate) on_log: Py<PyAny>,
    /// Access-log callback, present only when the access log is on.
    pub(crate) on_access: Option<Py<PyAny>>,
    /// Called once, when the engine has stopped serving.
    pub(crate) on_stopped: Py<PyAny>,
    /// Called once, when the worker has served its `--limit-max-requests` (None when off).
    pub(crate) on_max_requests: Option<Py<PyAny>>,
}

/// A unit of Python work queued by a tokio thread.
pub(crate) type Job = Box<dyn FnOnce(Python<'_>, &PyCtx) + Send>;

/// Log levels with the numeric values of Python's `logging`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Level {
    Debug = 10,
    Warning = 30,
    Error = 40,
}

/// The jobs waiting for the loop thread.
struct Queue {
    jobs: Vec<Job>,
    /// When the oldest waiting job was queued, kept only while the bridge is watched
    /// (`--metrics`): one clock read per batch, not per job.
    since: Option<Instant>,
}

pub(crate) struct Bridge {
    queue: Mutex<Queue>,
    /// Set by the first push after a drain; while set, pushes skip the eventfd write.
    armed: AtomicBool,
    efd: EventFd,
    /// Lowest level that is forwarded to Python (records below it are never formatted).
    log_level: AtomicU8,
    /// Where the loop thread's load is reported (`--metrics`, ASGI and RSGI); unset: nothing
    /// is measured.
    stats: OnceLock<Arc<BlockingStats>>,
}

/// Most jobs run per drain call; the rest wait for the next loop iteration so a flood of
/// requests cannot starve the app's own callbacks.
const DRAIN_BATCH: usize = 512;

impl Bridge {
    pub(crate) fn new(log_level: u8) -> std::io::Result<Self> {
        Ok(Self {
            queue: Mutex::new(Queue {
                jobs: Vec::with_capacity(64),
                since: None,
            }),
            armed: AtomicBool::new(false),
            efd: EventFd::new()?,
            log_level: AtomicU8::new(log_level),
            stats: OnceLock::new(),
        })
    }

    /// Reports the loop thread's load into `stats` from now on: the jobs queued, the time they
    /// waited and the time the loop spent running them. Once: later calls are ignored.
    pub(crate) fn watch(&self, stats: Arc<BlockingStats>) {
        let _ = self.stats.set(stats);
    }

    pub(crate) fn fd(&self) -> i32 {
        self.efd.raw()
    }

    /// Queues a job for the loop thread. Callable from any thread, never takes the GIL.
    pub(crate) fn push(&self, job: Job) {
        match self.stats.get() {
            None => lock(&self.queue).jobs.push(job),
            Some(stats) => {
                let mut q = lock(&self.queue);
                if q.jobs.is_empty() {
                    q.since = Some(Instant::now());
                }
                q.jobs.push(job);
                stats.queue.store(q.jobs.len() as i64, Ordering::Relaxed);
            }
        }
        self.wake();
    }

    fn wake(&self) {
        if !self.armed.swap(true, Ordering::SeqCst) {
            self.efd.notify();
        }
    }

    pub(crate) fn enabled(&self, level: Level) -> bool {
        level as u8 >= self.log_level.load(Ordering::Relaxed)
    }

    /// Forwards a log record to the Python runtime logger, if its level is enabled.
    pub(crate) fn log(&self, level: Level, msg: impl FnOnce() -> String) {
        if !self.enabled(level) {
            return;
        }
        let msg = msg();
        self.push(Box::new(move |py, ctx| {
            if let Err(err) = ctx.on_log.call1(py, (level as u8, msg)) {
                err.print(py);
            }
        }));
    }

    /// How many jobs wait for the loop thread (tests count what a request queued).
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        lock(&self.queue).jobs.len()
    }

    /// Runs queued jobs on the loop thread. Never loses a wake-up: `armed` is cleared before
    /// the queue is taken, so a push racing with us either lands in this batch or re-arms.
    pub(crate) fn drain(&self, py: Python<'_>, ctx: &PyCtx) {
        self.efd.clear();
        self.armed.store(false, Ordering::SeqCst);
        let (mut jobs, since) = {
            let mut q = lock(&self.queue);
            let jobs = if q.jobs.len() > DRAIN_BATCH {
                let rest = q.jobs.split_off(DRAIN_BATCH);
                std::mem::replace(&mut q.jobs, rest)
            } else {
                std::mem::take(&mut q.jobs)
            };
            // Jobs left for the next batch keep waiting since the same moment.
            let since = if q.jobs.is_empty() { q.since.take() } else { q.since };
            (jobs, since)
        };
        let (more, left) = {
            let q = lock(&self.queue);
            (!q.jobs.is_empty(), q.jobs.len())
        };
        let stats = self.stats.get();
        let began = stats.map(|s| {
            s.queue.store(left as i64, Ordering::Relaxed);
            let now = Instant::now();
            if let Some(since) = since {
                s.add_wait(now.saturating_duration_since(since));
            }
            now
        });
        for job in jobs.drain(..) {
            job(py, ctx);
        }
        if let (Some(stats), Some(began)) = (stats, began) {
            stats.add_busy(began.elapsed());
        }
        if more {
            self.wake();
        }
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here is a plain push/take that
/// cannot leave the data half-updated.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_arms_once_until_drained() {
        let b = Bridge::new(0).unwrap();
        assert!(!b.armed.load(Ordering::SeqCst));
        b.push(Box::new(|_, _| {}));
        b.push(Box::new(|_, _| {}));
        assert!(b.armed.load(Ordering::SeqCst));
        assert_eq!(b.efd.read_count(), 1, "two pushes, one wake");
        assert_eq!(lock(&b.queue).jobs.len(), 2);
    }

    #[test]
    fn log_level_filters_before_formatting() {
        let b = Bridge::new(Level::Error as u8).unwrap();
        b.log(Level::Debug, || panic!("must not format a filtered record"));
        assert!(lock(&b.queue).jobs.is_empty());
        b.log(Level::Error, || "boom".to_string());
        assert_eq!(lock(&b.queue).jobs.len(), 1);
    }
}
