//! A worker's graceful stop: one object shared by the accept loops, the connections and what
//! serves a connection after an upgrade (WebSocket sessions).
//!
//! The stop goes through three moments:
//!
//! 1. **stop** ([`Drain::stop`]): the accept loops end; connections are told to close once
//!    the request they serve is answered (`conn.rs`); WebSocket sessions say "going away".
//! 2. **settle** ([`Drain::settle`], awaited by every runtime once its accept loop ended): the
//!    worker waits until every tracked task (one [`Token`] each: connections, WebSocket
//!    sessions) has ended, for at most the graceful timeout, counted from the stop.
//! 3. **cut**: at the timeout, every task still running under [`Token::unless_cut`] is
//!    dropped where it stands: its connection closes, the request futures it owned are dropped
//!    (their apps are told the client is gone; a response being sent is cut), and the
//!    settle ends. A zero timeout cuts at once.
//!
//! Nothing here knows hyper or Python: the rules are tested on plain futures below.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// How a settle ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Every tracked task ended within the graceful timeout.
    Drained,
    /// The graceful timeout passed: the tasks left were cut.
    Cut,
}

pub(crate) struct Drain {
    /// Flips once: stop accepting, close connections after their current request.
    stop: watch::Sender<bool>,
    /// Flips once, at the graceful timeout: drop whatever is still running.
    cut: watch::Sender<bool>,
    /// When `stop` flipped (the graceful timeout counts from there).
    stopped_at: OnceLock<Instant>,
    timeout: Duration,
    /// Tracked tasks alive now; `idle` is notified when it drops to zero.
    tasks: AtomicUsize,
    idle: Notify,
}

impl Drain {
    /// `timeout`: the graceful timeout (`--graceful-timeout`).
    pub(crate) fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            stop: watch::channel(false).0,
            cut: watch::channel(false).0,
            stopped_at: OnceLock::new(),
            timeout,
            tasks: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    /// Begins the stop. Idempotent: the graceful timeout counts from the first call.
    pub(crate) fn stop(&self) {
        self.stopped_at.get_or_init(Instant::now);
        self.stop.send_replace(true);
    }

    /// The stop switch, for the code that watches it (accept loops, connections): true once
    /// stopping.
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Resolves once the stop has begun (at once if it has).
    pub(crate) async fn stopped(&self) {
        let _ = self.stop.subscribe().wait_for(|stop| *stop).await;
    }

    #[cfg(test)]
    fn is_cut(&self) -> bool {
        *self.cut.borrow()
    }

    /// Counts a task the stop waits for, until the token is dropped. Take it before the task
    /// is spawned, while something already tracked is still alive (the connection a WebSocket
    /// session comes from), so that the count never touches zero in between.
    pub(crate) fn track(self: &Arc<Self>) -> Token {
        self.tasks.fetch_add(1, Ordering::AcqRel);
        Token(Arc::clone(self))
    }

    /// Tracked tasks alive now.
    pub(crate) fn tasks(&self) -> usize {
        self.tasks.load(Ordering::Acquire)
    }

    /// Resolves when no tracked task is left.
    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a drop to zero in between still wakes us.
            notified.as_mut().enable();
            if self.tasks() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Waits for every tracked task to end, cutting them at the graceful timeout. Call once
    /// the stop has begun (it waits for it otherwise). Every runtime settles; `on_cut(n)` runs
    /// on the one that cuts, with the number of tasks it cut.
    pub(crate) async fn settle(&self, on_cut: impl FnOnce(usize)) -> Settled {
        self.stopped().await;
        let since = *self.stopped_at.get_or_init(Instant::now);
        tokio::select! {
            biased;
            () = self.idle() => return Settled::Drained,
            () = tokio::time::sleep_until(since + self.timeout) => {}
        }
        let left = self.tasks();
        if !self.cut.send_replace(true) {
            on_cut(left);
        }
        // Every task under `unless_cut` ends at once now.
        self.idle().await;
        Settled::Cut
    }
}

/// One tracked task (see [`Drain::track`]); dropping it says the task has ended.
pub(crate) struct Token(Arc<Drain>);

impl Token {
    /// Runs `fut` until it completes (`Some`) or the drain cuts it (`None`: `fut` is dropped
    /// where it stands), then lets the token go.
    pub(crate) async fn unless_cut<F: Future>(self, fut: F) -> Option<F::Output> {
        let mut cut = self.0.cut.subscribe();
        tokio::select! {
            biased;
            _ = cut.wait_for(|cut| *cut) => None,
            out = fut => Some(out),
        }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        if self.0.tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    const TIMEOUT: Duration = Duration::from_secs(30);

    /// A tracked task that ends when told (`end`), recording whether it ran to its end.
    fn task(
        drain: &Arc<Drain>,
    ) -> (
        tokio::task::JoinHandle<Option<()>>,
        watch::Sender<bool>,
        Arc<AtomicBool>,
    ) {
        let (end, mut ended) = watch::channel(false);
        let finished = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&finished);
        let token = drain.track();
        let handle = tokio::spawn(async move {
            token
                .unless_cut(async move {
                    let _ = ended.wait_for(|e| *e).await;
                    flag.store(true, Ordering::SeqCst);
                })
                .await
        });
        (handle, end, finished)
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_to_wait_for_settles_at_once() {
        let drain = Drain::new(TIMEOUT);
        drain.stop();
        let started = Instant::now();
        assert_eq!(drain.settle(|_| panic!("nothing to cut")).await, Settled::Drained);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(!drain.is_cut());
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_that_end_in_time_are_waited_for_and_never_cut() {
        let drain = Drain::new(TIMEOUT);
        let (handle, end, finished) = task(&drain);
        drain.stop();
        let settle = tokio::spawn({
            let drain = Arc::clone(&drain);
            async move { drain.settle(|_| {}).await }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!settle.is_finished(), "a task is still running");
        end.send_replace(true);
        assert_eq!(settle.await.unwrap(), Settled::Drained);
        assert_eq!(handle.await.unwrap(), Some(()));
        assert!(finished.load(Ordering::SeqCst));
        assert!(!drain.is_cut());
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_outliving_the_timeout_is_cut_at_the_timeout() {
        let drain = Drain::new(TIMEOUT);
        let (handle, _end, finished) = task(&drain);
        let started = Instant::now();
        drain.stop();
        // Every runtime settles; the cut is reported once, with the number of tasks cut.
        let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
        let settles: Vec<_> = (0..2)
            .map(|_| {
                let (drain, reports) = (Arc::clone(&drain), Arc::clone(&reports));
                tokio::spawn(async move { drain.settle(|n| reports.lock().unwrap().push(n)).await })
            })
            .collect();
        for settle in settles {
            assert_eq!(settle.await.unwrap(), Settled::Cut);
        }
        assert_eq!(started.elapsed(), TIMEOUT);
        assert_eq!(*reports.lock().unwrap(), vec![1]);
        assert_eq!(handle.await.unwrap(), None, "the task was dropped where it stood");
        assert!(!finished.load(Ordering::SeqCst));
        assert!(drain.is_cut());
        assert_eq!(drain.tasks(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_counts_from_the_first_stop() {
        let drain = Drain::new(TIMEOUT);
        let (_handle, _end, _) = task(&drain);
        let started = Instant::now();
        drain.stop();
        tokio::time::sleep(Duration::from_secs(20)).await;
        drain.stop();
        assert_eq!(drain.settle(|_| {}).await, Settled::Cut);
        assert_eq!(started.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_timeout_cuts_at_once() {
        let drain = Drain::new(Duration::ZERO);
        let (handle, _end, _) = task(&drain);
        let started = Instant::now();
        drain.stop();
        assert_eq!(drain.settle(|_| {}).await, Settled::Cut);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(handle.await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn settle_waits_for_the_stop_and_stopped_resolves_late_subscribers() {
        let drain = Drain::new(TIMEOUT);
        let settle = tokio::spawn({
            let drain = Arc::clone(&drain);
            async move { drain.settle(|_| {}).await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!settle.is_finished(), "no stop yet");
        drain.stop();
        assert_eq!(settle.await.unwrap(), Settled::Drained);
        drain.stopped().await;
        assert!(*drain.stopping().borrow());
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_tracked_from_a_live_one_keeps_the_settle_waiting() {
        // A WebSocket session is tracked while its connection still is; the connection then ends.
        let drain = Drain::new(TIMEOUT);
        let connection = drain.track();
        drain.stop();
        let settle = tokio::spawn({
            let drain = Arc::clone(&drain);
            async move { drain.settle(|_| {}).await }
        });
        let (session, end, _) = task(&drain);
        drop(connection);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!settle.is_finished(), "the session is still open");
        end.send_replace(true);
        assert_eq!(settle.await.unwrap(), Settled::Drained);
        assert_eq!(session.await.unwrap(), Some(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_run_after_the_cut_is_cut_at_once() {
        let drain = Drain::new(Duration::ZERO);
        let token = drain.track();
        drain.stop();
        let settle = tokio::spawn({
            let drain = Arc::clone(&drain);
            async move { drain.settle(|_| {}).await }
        });
        tokio::task::yield_now().await;
        assert!(drain.is_cut());
        assert!(!settle.is_finished(), "the token is still held");
        assert_eq!(token.unless_cut(std::future::pending::<()>()).await, None);
        assert_eq!(settle.await.unwrap(), Settled::Cut);
    }
}
