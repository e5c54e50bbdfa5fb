//! A worker's graceful stop, and the registry of what it waits for: one [`Token`] per
//! connection and per WebSocket session, each with its [`Signal`].
//!
//! The stop goes through three moments:
//!
//! 1. **stop** ([`Drain::stop`]): the accept loops end; every tracked task's signal gets
//!    [`STOP`]: connections close once the request they serve is answered (`conn.rs`);
//!    WebSocket sessions say "going away".
//! 2. **settle** ([`Drain::settle`], awaited by every runtime once its accept loop ended): the
//!    worker waits until every tracked task has ended, for at most the graceful timeout, counted
//!    from the stop.
//! 3. **cut**: at the timeout, every task still running under [`Token::unless_cut`] gets
//!    [`CUT`] and is dropped where it stands: its connection closes, the request futures it
//!    owned are dropped (their apps are told the client is gone; a response being sent is cut),
//!    and the settle ends. A zero timeout cuts at once.
//!
//! The same registry carries the keep-alive timeout: one sweeper per worker
//! ([`Drain::sweep_idle`]) looks at every watched connection's [`Activity`] and raises [`IDLE`]
//! on the ones quiet for the whole timeout. So a connection holds no timer and no channel of its
//! own: between two requests it reads one atomic flag word (see `signal.rs`); the registry's
//! lock is taken when a task starts and ends, and by the sweeper.
//!
//! Nothing here knows hyper or Python: the rules are tested on plain futures below.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
use std::time::Duration;

use slab::Slab;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::activity::{Activity, IdleClock};
use super::signal::{Signal, CUT, IDLE, STOP};

/// How a settle ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Every tracked task ended within the graceful timeout.
    Drained,
    /// The graceful timeout passed: the tasks left were cut.
    Cut,
}

pub(crate) struct Drain {
    /// Flips once: stop accepting (the accept loops watch it).
    stop: watch::Sender<bool>,
    /// When `stop` flipped (the graceful timeout counts from there).
    stopped_at: OnceLock<Instant>,
    timeout: Duration,
    registry: Mutex<Registry>,
    /// Tracked tasks alive now; `idle` is notified when it drops to zero.
    tasks: AtomicUsize,
    idle: Notify,
}

/// The tracked tasks, and the flags raised to all of them (a task tracked later starts with
/// them raised).
#[derive(Default)]
struct Registry {
    entries: Slab<Entry>,
    raised: u8,
}

struct Entry {
    signal: Arc<Signal>,
    /// The connection's activity and idle count, when the keep-alive timeout watches it.
    idle: Option<(Arc<Activity>, IdleClock)>,
}

impl Drain {
    /// `timeout`: the graceful timeout (`--graceful-timeout`).
    pub(crate) fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            stop: watch::channel(false).0,
            stopped_at: OnceLock::new(),
            timeout,
            registry: Mutex::new(Registry::default()),
            tasks: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        crate::bridge::lock(&self.registry)
    }

    /// Raises `flag` on every tracked task, now and to come; false if it already was.
    fn raise_all(&self, flag: u8) -> bool {
        let mut registry = self.registry();
        if registry.raised & flag != 0 {
            return false;
        }
        registry.raised |= flag;
        for (_, entry) in &registry.entries {
            entry.signal.raise(flag);
        }
        true
    }

    /// Begins the stop. Idempotent: the graceful timeout counts from the first call.
    pub(crate) fn stop(&self) {
        self.stopped_at.get_or_init(Instant::now);
        self.stop.send_replace(true);
        self.raise_all(STOP);
    }

    /// The stop switch, for the accept loops: true once stopping.
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Resolves once the stop has begun (at once if it has).
    pub(crate) async fn stopped(&self) {
        let _ = self.stop.subscribe().wait_for(|stop| *stop).await;
    }

    #[cfg(test)]
    fn is_cut(&self) -> bool {
        self.registry().raised & CUT != 0
    }

    /// Counts a task the stop waits for, until the token is dropped. Take it before the task
    /// is spawned, while something already tracked is still alive (the connection a WebSocket
    /// session comes from), so that the count never touches zero in between.
    pub(crate) fn track(self: &Arc<Self>) -> Token {
        let signal = Arc::new(Signal::default());
        let key = {
            let mut registry = self.registry();
            if registry.raised != 0 {
                signal.raise(registry.raised);
            }
            registry.entries.insert(Entry {
                signal: Arc::clone(&signal),
                idle: None,
            })
        };
        self.tasks.fetch_add(1, Ordering::AcqRel);
        Token {
            drain: Arc::clone(self),
            key,
            signal,
        }
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
        if self.raise_all(CUT) {
            on_cut(left);
        }
        // Every task under `unless_cut` ends at once now.
        self.idle().await;
        Settled::Cut
    }

    /// The keep-alive timeout for every watched connection (see [`Token::watch_idle`]): looks
    /// at each `timeout / LOOKS` (the rule is [`IdleClock`]'s) and raises [`IDLE`] on those
    /// quiet for the whole timeout. Runs until the stop (draining closes idle connections
    /// itself); spawn it once per worker.
    pub(crate) async fn sweep_idle(self: Arc<Self>, timeout: Duration) {
        let period = IdleClock::period(timeout);
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stopped = self.stopped();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                biased;
                () = &mut stopped => return,
                _ = ticks.tick() => {}
            }
            let mut registry = self.registry();
            for (_, entry) in &mut registry.entries {
                if let Some((activity, clock)) = &mut entry.idle {
                    if clock.look(activity.look()) {
                        entry.signal.raise(IDLE);
                        entry.idle = None;
                    }
                }
            }
        }
    }
}

/// One tracked task (see [`Drain::track`]); dropping it says the task has ended.
pub(crate) struct Token {
    drain: Arc<Drain>,
    key: usize,
    signal: Arc<Signal>,
}

impl Token {
    /// What the task is told: [`STOP`], [`IDLE`], [`CUT`].
    pub(crate) fn signal(&self) -> &Arc<Signal> {
        &self.signal
    }

    /// Puts the task's connection under the keep-alive timeout (see [`Drain::sweep_idle`]):
    /// [`IDLE`] is raised once `activity` has been quiet for the whole timeout, counted from
    /// now.
    pub(crate) fn watch_idle(&self, activity: Arc<Activity>) {
        // Counted from now: the first look sees the connection as active.
        activity.moved();
        if let Some(entry) = self.drain.registry().entries.get_mut(self.key) {
            entry.idle = Some((activity, IdleClock::default()));
        }
    }

    /// Runs `fut` until it completes (`Some`) or the drain cuts it (`None`: `fut` is dropped
    /// where it stands). The token itself goes when its holder drops it.
    pub(crate) async fn unless_cut<F: Future>(&self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        std::future::poll_fn(|cx| {
            if self.signal.poll(cx, CUT).is_ready() {
                return Poll::Ready(None);
            }
            fut.as_mut().poll(cx).map(Some)
        })
        .await
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.drain.registry().entries.remove(self.key);
        if self.drain.tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drain.idle.notify_waiters();
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
        drop(token);
        assert_eq!(settle.await.unwrap(), Settled::Cut);
    }

    #[tokio::test]
    async fn the_stop_is_raised_on_every_task_now_and_to_come() {
        let drain = Drain::new(TIMEOUT);
        let before = drain.track();
        assert!(!before.signal().is(STOP));
        drain.stop();
        assert!(before.signal().is(STOP));
        let after = drain.track();
        assert!(after.signal().is(STOP) && !after.signal().is(CUT));
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweeper_raises_idle_between_one_timeout_and_one_look_more_after_the_last_activity() {
        const KEEP_ALIVE: Duration = Duration::from_secs(4);
        let drain = Drain::new(TIMEOUT);
        tokio::spawn(Arc::clone(&drain).sweep_idle(KEEP_ALIVE));
        let assert_within_one_look = |idle: Duration| {
            assert!(
                idle >= KEEP_ALIVE && idle <= KEEP_ALIVE + IdleClock::period(KEEP_ALIVE),
                "{idle:?}"
            );
        };
        let idle_at = |token: Token| async move {
            std::future::poll_fn(|cx| token.signal().poll(cx, IDLE)).await;
            Instant::now()
        };

        // Quiet from the start: closed one timeout to one look more after it was watched.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let quiet = drain.track();
        quiet.watch_idle(Activity::new());
        let watched = Instant::now();
        let idle = idle_at(quiet).await - watched;
        assert_within_one_look(idle);

        // Activity after a few looks starts the count again.
        let token = drain.track();
        let activity = Activity::new();
        token.watch_idle(Arc::clone(&activity));
        let fired = tokio::spawn(idle_at(token));
        tokio::time::sleep(IdleClock::period(KEEP_ALIVE) * 3 + Duration::from_millis(1)).await;
        activity.moved();
        let last_active = Instant::now();
        let idle = fired.await.unwrap() - last_active;
        assert_within_one_look(idle);

        // A connection with a request in progress is never idle; an unwatched task neither.
        let busy = drain.track();
        let activity = Activity::new();
        busy.watch_idle(Arc::clone(&activity));
        let _request = activity.begin();
        let unwatched = drain.track();
        tokio::time::sleep(KEEP_ALIVE * 10).await;
        assert!(!busy.signal().is(IDLE) && !unwatched.signal().is(IDLE));
        assert_eq!(drain.tasks(), 2, "ended tasks left the registry");
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweeper_ends_with_the_stop() {
        let drain = Drain::new(TIMEOUT);
        let sweeper = tokio::spawn(Arc::clone(&drain).sweep_idle(Duration::from_secs(4)));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!sweeper.is_finished());
        drain.stop();
        sweeper.await.unwrap();
    }
}
