//! A pool of Python threads fed from tokio: the blocking half of the bridge (WSGI applications
//! run on it; nothing in it knows WSGI).
//!
//! Requests arrive from tokio threads through [`Pool::submit`], which never takes the GIL: it
//! queues the job under a plain mutex and, when no thread is already on its way to the queue,
//! wakes a sleeping thread or starts a new one (up to `max_threads`). Pool threads attach to
//! the interpreter once, for their whole life, and keep their thread state; they release the
//! GIL only to sleep (and whenever application code does).
//!
//! Jobs are popped with the GIL held. A thread that finishes a job therefore takes the next one
//! without a GIL hand-over while the queue is not empty, and a thread woken to help simply waits
//! for the GIL: it gets it as soon as the running one blocks (I/O, `time.sleep`, a body read)
//! or at CPython's switch interval, so blocking applications still run concurrently while quick
//! ones cost one wake-up per burst of requests, not one per request.
//!
//! Counters (all under `state`):
//! - `searching`: threads woken or started for the queue that have not popped yet. While one
//!   exists, a new job needs nobody else: that thread will take it or find it taken.
//! - `sleeping`: threads waiting on `wake`; `tokens` are wake-ups granted to them (a token is
//!   what a sleeper consumes, so a notification is never lost and never doubled).
//!
//! A thread that pops a job while more are queued and nobody is searching wakes one more: if its
//! job blocks, the queue keeps moving. Idle threads retire after `idle_timeout`.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use super::lock;
use crate::metrics::BlockingStats;

/// What the pool runs: per-thread state built under the GIL, and the job itself.
pub(crate) trait Worker: Send + Sync + 'static {
    type Job: Send + 'static;
    /// Per-thread copies of the Python objects a job needs (dropped with the GIL held).
    type Local;

    /// Called once per thread after it attached; `None` means the pool is shutting down.
    fn init(&self, py: Python<'_>) -> Option<Self::Local>;

    /// Runs one job with the GIL held.
    fn run(&self, py: Python<'_>, local: &Self::Local, job: Self::Job);
}

struct State<J> {
    /// Jobs, with the time they were queued when the pool is watched (`--metrics`).
    queue: VecDeque<(J, Option<Instant>)>,
    threads: usize,
    searching: usize,
    sleeping: usize,
    tokens: usize,
    stopping: bool,
    next_id: usize,
    /// OS threads started and not yet at their very end (detached from the interpreter);
    /// `Pool::shutdown` waits for this to reach zero.
    live: usize,
}

/// What `submit` (or a popping thread) must do once the lock is released.
#[derive(Debug, PartialEq, Eq)]
enum Help {
    None,
    Notify,
    Spawn(usize),
}

impl<J> State<J> {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            threads: 0,
            searching: 0,
            sleeping: 0,
            tokens: 0,
            stopping: false,
            next_id: 0,
            live: 0,
        }
    }

    /// Decides who takes care of a queued job, and books it.
    fn help(&mut self, max_threads: usize) -> Help {
        if self.searching > 0 || self.stopping {
            Help::None
        } else if self.sleeping > 0 {
            self.sleeping -= 1;
            self.tokens += 1;
            self.searching += 1;
            Help::Notify
        } else if self.threads < max_threads {
            self.threads += 1;
            self.searching += 1;
            self.next_id += 1;
            Help::Spawn(self.next_id - 1)
        } else {
            Help::None
        }
    }
}

enum Woken {
    Work,
    Exit,
}

pub(crate) struct Pool<W: Worker> {
    worker: W,
    state: Mutex<State<W::Job>>,
    wake: Condvar,
    /// Notified (under `state`) each time a thread ends.
    ended: Condvar,
    max_threads: usize,
    idle_timeout: Duration,
    name: &'static str,
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// Where the pool reports its load (`--metrics`); unset: nothing is measured.
    stats: OnceLock<Arc<BlockingStats>>,
}

impl<W: Worker> Pool<W> {
    pub(crate) fn new(worker: W, max_threads: usize, idle_timeout: Duration, name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            worker,
            state: Mutex::new(State::new()),
            wake: Condvar::new(),
            ended: Condvar::new(),
            max_threads: max_threads.max(1),
            idle_timeout,
            name,
            handles: Mutex::new(Vec::new()),
            stats: OnceLock::new(),
        })
    }

    /// Reports the pool's load into `stats` from now on (threads, queue, busy, idle and wait
    /// times). Once: later calls are ignored.
    pub(crate) fn watch(&self, stats: Arc<BlockingStats>) {
        stats.threads.store(self.threads() as i64, Ordering::Relaxed);
        let _ = self.stats.set(stats);
    }

    pub(crate) fn worker(&self) -> &W {
        &self.worker
    }

    /// Queues a job; any thread, never takes the GIL. Returns the job back when the pool is
    /// stopped, and an error when a needed thread could not be started.
    pub(crate) fn submit(self: &Arc<Self>, job: W::Job) -> Result<(), SubmitError<W::Job>> {
        let help = {
            let mut st = lock(&self.state);
            if st.stopping {
                return Err(SubmitError::Stopped(job));
            }
            let stats = self.stats.get();
            st.queue.push_back((job, stats.map(|_| Instant::now())));
            let help = st.help(self.max_threads);
            self.report(&st);
            help
        };
        self.act(help).map_err(SubmitError::Spawn)
    }

    fn act(self: &Arc<Self>, help: Help) -> std::io::Result<()> {
        match help {
            Help::None => Ok(()),
            Help::Notify => {
                self.wake.notify_one();
                Ok(())
            }
            Help::Spawn(id) => self.spawn(id),
        }
    }

    fn spawn(self: &Arc<Self>, id: usize) -> std::io::Result<()> {
        lock(&self.state).live += 1;
        let this = Arc::clone(self);
        let res = std::thread::Builder::new()
            .name(format!("{}-{id}", self.name))
            // What CPython gives its own threads on Linux: apps may recurse deeply.
            .stack_size(8 << 20)
            .spawn(move || this.thread_main());
        match res {
            Ok(handle) => {
                let mut handles = lock(&self.handles);
                handles.retain(|h| !h.is_finished());
                handles.push(handle);
                Ok(())
            }
            Err(e) => {
                let mut st = lock(&self.state);
                st.threads -= 1;
                st.searching -= 1;
                st.live -= 1;
                Err(e)
            }
        }
    }

    fn thread_main(self: Arc<Self>) {
        crate::server::sched::batch_current_thread();
        let mut searching = true;
        Python::attach(|py| {
            let Some(local) = self.worker.init(py) else {
                let mut st = lock(&self.state);
                st.searching -= 1;
                st.threads -= 1;
                return;
            };
            // When watched: the clock as read last (at the end of a job or a sleep), reused as
            // the start of what comes next, so that a job costs two clock reads, not five.
            let mut now: Option<Instant> = None;
            loop {
                let (job, help) = self.pop(&mut searching);
                if let Some((job, queued)) = job {
                    // A failed spawn here is retried by the next submit; nothing to report.
                    let _ = self.act(help);
                    let began = self.stats.get().map(|stats| {
                        let began = now.take().unwrap_or_else(Instant::now);
                        if let Some(queued) = queued {
                            stats.add_wait(began.saturating_duration_since(queued));
                        }
                        began
                    });
                    self.worker.run(py, &local, job);
                    if let (Some(stats), Some(began)) = (self.stats.get(), began) {
                        let ended = Instant::now();
                        stats.add_busy(ended.saturating_duration_since(began));
                        now = Some(ended);
                    }
                    continue;
                }
                let slept = self.stats.get().map(|_| now.take().unwrap_or_else(Instant::now));
                let woken = py.detach(|| self.sleep());
                if let (Some(stats), Some(slept)) = (self.stats.get(), slept) {
                    let woke = Instant::now();
                    stats.add_idle(woke.saturating_duration_since(slept));
                    now = Some(woke);
                }
                match woken {
                    Woken::Work => searching = true,
                    Woken::Exit => break,
                }
            }
            drop(local);
        });
        lock(&self.state).live -= 1;
        self.ended.notify_all();
    }

    /// Pops the next job and when it was queued (when watched; GIL held); with none, books
    /// this thread as sleeping.
    #[allow(clippy::type_complexity)]
    fn pop(&self, searching: &mut bool) -> (Option<(W::Job, Option<Instant>)>, Help) {
        let mut st = lock(&self.state);
        if std::mem::take(searching) {
            st.searching -= 1;
        }
        match st.queue.pop_front() {
            Some((job, queued)) => {
                self.report(&st);
                let help = if st.queue.is_empty() {
                    Help::None
                } else {
                    st.help(self.max_threads)
                };
                (Some((job, queued)), help)
            }
            None => {
                st.sleeping += 1;
                (None, Help::None)
            }
        }
    }

    /// Publishes the queue length and thread count (under `state`), when watched.
    fn report(&self, st: &State<W::Job>) {
        if let Some(stats) = self.stats.get() {
            stats.queue.store(st.queue.len() as i64, Ordering::Relaxed);
            stats.threads.store(st.threads as i64, Ordering::Relaxed);
        }
    }

    /// Waits (GIL released) for a wake-up token, shutdown or the idle timeout.
    fn sleep(&self) -> Woken {
        let deadline = Instant::now() + self.idle_timeout;
        let mut st = lock(&self.state);
        loop {
            if st.stopping {
                st.sleeping -= 1;
                st.threads -= 1;
                return Woken::Exit;
            }
            if st.tokens > 0 {
                st.tokens -= 1;
                return Woken::Work;
            }
            let now = Instant::now();
            if now >= deadline {
                st.sleeping -= 1;
                st.threads -= 1;
                self.report(&st);
                return Woken::Exit;
            }
            st = self
                .wake
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Stops every thread after its current job and waits for them (call without the GIL),
    /// for at most `timeout` (`None`: as long as it takes). Jobs still queued are dropped.
    /// Returns them, and how many threads were still running a job at the timeout: those are
    /// left to finish on their own (no thread can be stopped from outside).
    pub(crate) fn shutdown(&self, timeout: Option<Duration>) -> (Vec<W::Job>, usize) {
        let deadline = timeout.map(|t| Instant::now() + t);
        let (dropped, left) = {
            let mut st = lock(&self.state);
            st.stopping = true;
            let dropped = std::mem::take(&mut st.queue);
            self.wake.notify_all();
            while st.live > 0 {
                st = match deadline {
                    None => self.ended.wait(st).unwrap_or_else(|e| e.into_inner()),
                    Some(deadline) => {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        self.ended
                            .wait_timeout(st, deadline - now)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|e| e.into_inner().0)
                    }
                };
            }
            (dropped, st.live)
        };
        let mut handles = std::mem::take(&mut *lock(&self.handles));
        if left > 0 {
            // Only the threads that ended are joined; the others are detached.
            handles.retain(|h| h.is_finished());
        }
        for h in handles {
            let _ = h.join();
        }
        (dropped.into_iter().map(|(job, _)| job).collect(), left)
    }

    /// Threads alive now.
    pub(crate) fn threads(&self) -> usize {
        lock(&self.state).threads
    }
}

pub(crate) enum SubmitError<J> {
    Stopped(J),
    Spawn(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn help_prefers_searching_then_sleeping_then_new_threads() {
        let mut st: State<()> = State::new();
        assert_eq!(st.help(2), Help::Spawn(0));
        assert_eq!(st.help(2), Help::None, "a searching thread is enough");
        st.searching = 0;
        st.sleeping = 1;
        assert_eq!(st.help(2), Help::Notify);
        assert_eq!((st.sleeping, st.tokens, st.searching), (0, 1, 1));
        st.searching = 0;
        assert_eq!(st.help(2), Help::Spawn(1));
        st.searching = 0;
        assert_eq!(st.help(2), Help::None, "at the thread limit");
    }

    /// Jobs are closures; `init` fails once the test says so.
    struct Closures {
        inits: AtomicUsize,
    }

    impl Worker for Closures {
        type Job = Box<dyn FnOnce() + Send>;
        type Local = ();

        fn init(&self, _py: Python<'_>) -> Option<()> {
            self.inits.fetch_add(1, Ordering::SeqCst);
            Some(())
        }

        fn run(&self, py: Python<'_>, _local: &(), job: Self::Job) {
            py.detach(job);
        }
    }

    fn pool(max: usize, idle: Duration) -> Arc<Pool<Closures>> {
        Python::initialize();
        Pool::new(
            Closures {
                inits: AtomicUsize::new(0),
            },
            max,
            idle,
            "test-pool",
        )
    }

    fn submit(p: &Arc<Pool<Closures>>, f: impl FnOnce() + Send + 'static) {
        assert!(p.submit(Box::new(f)).is_ok());
    }

    #[test]
    fn quick_jobs_reuse_one_thread() {
        let p = pool(8, Duration::from_secs(30));
        let (tx, rx) = mpsc::channel();
        for _ in 0..200 {
            let tx = tx.clone();
            submit(&p, move || {
                tx.send(std::thread::current().name().map(String::from)).unwrap()
            });
            assert_eq!(rx.recv().unwrap().as_deref(), Some("test-pool-0"));
            // The thread is back asleep before the next submit, so that one wakes it up.
            while lock(&p.state).sleeping == 0 {
                std::thread::yield_now();
            }
        }
        assert_eq!(p.threads(), 1);
        p.shutdown(None);
        assert_eq!(p.threads(), 0);
    }

    #[test]
    fn blocked_jobs_do_not_hold_up_the_queue() {
        let p = pool(4, Duration::from_secs(30));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let (done_tx, done_rx) = mpsc::channel();
        // Three jobs block until released; a fourth must still run meanwhile.
        for _ in 0..3 {
            let r = Arc::clone(&release_rx);
            let d = done_tx.clone();
            submit(&p, move || {
                lock(&r).recv().unwrap();
                d.send("blocked").unwrap();
            });
        }
        let d = done_tx.clone();
        submit(&p, move || d.send("free").unwrap());
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(5)).unwrap(), "free");
        assert_eq!(p.threads(), 4);
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        for _ in 0..3 {
            assert_eq!(done_rx.recv_timeout(Duration::from_secs(5)).unwrap(), "blocked");
        }
        p.shutdown(None);
    }

    #[test]
    fn never_more_threads_than_the_limit() {
        let p = pool(2, Duration::from_secs(30));
        let (tx, rx) = mpsc::channel();
        for i in 0..20 {
            let tx = tx.clone();
            submit(&p, move || {
                std::thread::sleep(Duration::from_millis(2));
                tx.send(i).unwrap();
            });
            assert!(p.threads() <= 2);
        }
        let mut got: Vec<i32> = (0..20)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        p.shutdown(None);
    }

    #[test]
    fn idle_threads_retire_and_come_back() {
        let p = pool(2, Duration::from_millis(50));
        let (tx, rx) = mpsc::channel();
        let t = tx.clone();
        submit(&p, move || t.send(()).unwrap());
        rx.recv().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.threads() > 0 {
            assert!(Instant::now() < deadline, "idle thread did not retire");
            std::thread::sleep(Duration::from_millis(10));
        }
        submit(&p, move || tx.send(()).unwrap());
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(p.worker().inits.load(Ordering::SeqCst), 2);
        p.shutdown(None);
    }

    #[test]
    fn shutdown_waits_for_running_jobs_up_to_its_timeout_then_leaves_them() {
        let p = pool(2, Duration::from_secs(30));
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        let quick = started_tx.clone();
        submit(&p, move || {
            started_tx.send(()).unwrap();
            let _ = release.recv();
        });
        submit(&p, move || quick.send(()).unwrap());
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        let (_, left) = p.shutdown(Some(Duration::from_millis(50)));
        assert_eq!(left, 1, "the stuck job's thread is left running");
        release_tx.send(()).unwrap();
        let (_, left) = p.shutdown(Some(Duration::from_secs(5)));
        assert_eq!(left, 0, "released, it ends");
    }

    #[test]
    fn shutdown_refuses_new_jobs() {
        let p = pool(1, Duration::from_secs(30));
        p.shutdown(None);
        assert!(matches!(p.submit(Box::new(|| {})), Err(SubmitError::Stopped(_))));
    }
}
