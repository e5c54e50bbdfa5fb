"""What the supervisor decides: rollouts, respawns, the crash-loop guard, stops and kill timeouts.

`Policy` holds no processes, descriptors or signals and never reads a clock: every event
carries the time `now` (monotonic seconds). The supervisor's loop (`server/supervisor.py`)
turns what its selector reports into these events and carries out the actions they produce.

Each event method is a generator of actions. Two actions have an outcome that the loop sends
back into the generator before asking for the next action: `Spawn` (the new worker's PID, or
None when it could not be started) and `RunReloadHooks` (False when a hook failed). So one
event is handled from start to end in order, as if the policy had started the process itself,
and the tests drive it with a fake spawner (see `tests/unit/test_policy.py`).
"""

from __future__ import annotations

import collections
import logging
import signal
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from granian.server.process import describe_exit
from granian.server.recycle import Recycler

__all__ = ['CRASH_LOOP_WINDOW', 'Action', 'Actions', 'Kill', 'Log', 'Policy', 'RunReloadHooks', 'Spawn', 'Terminate']

#: A respawned worker that dies again this soon (seconds) is not respawned a second time.
CRASH_LOOP_WINDOW = 5.5

#: Why a slot's worker is replaced, as logged.
REASONS = {
    'sighup': 'SIGHUP',
    'change': 'file change',
    'lifetime': 'lifetime reached',
    'rss': 'memory limit',
    'requests': 'max requests reached',
}

INFO, WARNING, ERROR = logging.INFO, logging.WARNING, logging.ERROR


@dataclass(frozen=True)
class Spawn:
    """Start a worker for `slot`; the outcome is its PID, or None (the loop logs why)."""

    slot: int
    respawned: bool = False
    #: Why: None (first start), 'err' (a dead worker respawned) or the rollout's reason
    #: ('lifetime', 'rss', 'sighup', 'change', 'requests'); for the metrics only.
    reason: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Terminate:
    """Send SIGTERM to worker `pid` (graceful stop)."""

    pid: int


@dataclass(frozen=True)
class Kill:
    """Send SIGKILL to worker `pid`."""

    pid: int


@dataclass(frozen=True)
class Log:
    """Log `msg % args` at `level` on the `_granian` logger."""

    level: int
    msg: str
    args: tuple[Any, ...] = ()

    @property
    def text(self) -> str:
        return self.msg % self.args


@dataclass(frozen=True)
class RunReloadHooks:
    """Run the `on_reload` hooks; the outcome is False when one failed (the reload is cancelled)."""


Action = Spawn | Terminate | Kill | Log | RunReloadHooks
#: What an event returns: the actions, in order; `Spawn` and `RunReloadHooks` get an answer.
Actions = Generator[Action, Any, None]


@dataclass(eq=False)
class Worker:
    """A worker as the policy sees it.

    Attributes:
        slot: 1-based slot number (``worker-N``); a replacement takes its predecessor's.
        pid: the process id.
        started: when it was spawned (monotonic seconds).
        respawned: it replaces a worker that died (the crash-loop guard looks at this).
        ready: it reported that it serves.
        retiring: told to stop because another worker took its slot (not a server stop).
        kill_at: when it gets SIGKILL if still alive, or None.
        killed: SIGKILL was sent.
        done: its exit has been handled.
        served_max: it served its `--limit-max-requests` before it owned its slot (the new
            worker of a rollout): it is replaced once it does.
    """

    slot: int
    pid: int
    started: float
    respawned: bool = False
    ready: bool = False
    retiring: bool = False
    kill_at: float | None = None
    killed: bool = False
    done: bool = False
    served_max: bool = False

    @property
    def name(self) -> str:
        return f'worker-{self.slot}'

    @property
    def label(self) -> str:
        return f'worker-{self.slot} (PID {self.pid})'


@dataclass(eq=False)
class Rollout:
    """A slot's replacement: once `new` is ready and `stop_old_at` passed, `old` stops, `new` owns the slot."""

    slot: int
    reason: str
    old: Worker | None
    new: Worker
    stop_old_at: float | None = None


class Policy:
    """The supervisor's decisions for `workers` slots served at `url`.

    Args:
        respawn_interval: pause between a replacement being ready and the old worker's SIGTERM.
        kill_timeout: seconds a worker told to stop has before SIGKILL (None: no limit).
        respawn_failed_workers: respawn a worker that died on its own.
        reload: `--reload` is on (a dead worker waits for the next file change).
        reload_ignore_worker_failure: under `--reload`, wait even for a worker that served.
        recycler: the lifetime / memory schedule, None when off.
    """

    def __init__(
        self,
        workers: int,
        url: str,
        *,
        respawn_interval: float = 3.5,
        kill_timeout: float | None = None,
        respawn_failed_workers: bool = False,
        reload: bool = False,
        reload_ignore_worker_failure: bool = False,
        recycler: Recycler | None = None,
    ) -> None:
        self.url = url
        self.respawn_interval = respawn_interval
        self.kill_timeout = kill_timeout
        self.respawn_failed_workers = respawn_failed_workers
        self.reload_mode = reload
        self.reload_ignore_worker_failure = reload_ignore_worker_failure
        self.recycler = recycler
        #: Every worker whose exit has not been handled yet, by PID.
        self.workers: dict[int, Worker] = {}
        #: The worker owning each slot (None: empty, e.g. it failed to start under --reload).
        self.slots: dict[int, Worker | None] = dict.fromkeys(range(1, workers + 1))
        #: Slots waiting to be replaced, with the reason, in order.
        self.queue: collections.OrderedDict[int, str] = collections.OrderedDict()
        self.rollout: Rollout | None = None
        #: A SIGHUP arrived: reload at the next timer pass (never in the middle of an exit).
        self.hup_pending = False
        #: True once a stop was requested (signal or failure); no more spawns after that.
        self.stopping = False
        #: True when the exit code must be 1: a worker died, failed, or had to be killed.
        self.failed = False
        #: True once every slot's first worker served and `Listening at:` was logged.
        self.announced = False

    # --- queries ---------------------------------------------------------------------------

    def live(self) -> list[Worker]:
        return [worker for worker in self.workers.values() if not worker.done]

    @property
    def running(self) -> bool:
        """Whether the loop must go on: not stopping, or some worker has not exited yet."""
        return not self.stopping or bool(self.live())

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def next_deadline(self) -> float | None:
        """The time of the next timer pass (`timers`), None when nothing is scheduled."""
        deadlines = [w.kill_at for w in self.live() if w.kill_at is not None]
        if self.rollout is not None and self.rollout.stop_old_at is not None:
            deadlines.append(self.rollout.stop_old_at)
        if self.recycler is not None and not self.stopping and (deadline := self.recycler.next_deadline()) is not None:
            deadlines.append(deadline)
        return min(deadlines, default=None)

    # --- events ----------------------------------------------------------------------------

    def start(self, now: float) -> Actions:
        """Spawn the first worker of every slot (nothing when a stop came first)."""
        for slot in self.slots:
            if self.stopping:
                break
            worker = yield from self._spawn(slot, now)
            if worker is None:
                yield from self._fail(now)
                break
            self.slots[slot] = worker

    def hup(self) -> None:
        """SIGHUP: reload at the next timer pass."""
        self.hup_pending = True

    def stop(self, now: float, interrupt: bool = False) -> Actions:
        """SIGTERM / SIGINT (`interrupt`): stop gracefully; a second SIGINT kills what is left."""
        if not self.stopping:
            yield from self._request_stop(now)
        elif interrupt:
            live = self.live()
            if live:
                yield Log(WARNING, 'Second interrupt: killing %d remaining worker(s)', (len(live),))
            for worker in live:
                yield from self._kill(worker)

    def reload(self, trigger: str, reason: str, now: float) -> Actions:
        """Replace every slot's worker, one by one, after the `on_reload` hooks."""
        if self.stopping:
            return
        yield Log(INFO, '%s: reloading the workers one by one', (trigger,))
        if not (yield RunReloadHooks()):
            yield Log(ERROR, 'An on_reload hook failed: the workers are not reloaded')
            return
        for slot in self.slots:
            self._enqueue(slot, reason)
        yield from self._next_rollout(now)

    def ready(self, pid: int, now: float) -> Actions:
        """Worker `pid` wrote its ready byte."""
        worker = self.workers.get(pid)
        if worker is None or worker.ready:
            return
        worker.ready = True
        yield Log(INFO, 'Started %s (PID %d)', (worker.name, pid))
        rollout = self.rollout
        if rollout is not None and rollout.new is worker:
            if rollout.old is None or rollout.old.done:
                yield from self._finish_rollout(now)
            else:
                # On a file change the developer wants the new code only, at once.
                rollout.stop_old_at = now + (0.0 if rollout.reason == 'change' else self.respawn_interval)
        elif self.slots.get(worker.slot) is worker:
            self._track(worker)
        if not self.announced and not self.stopping:
            if all(w is not None and w.ready and not w.done for w in self.slots.values()):
                self.announced = True
                count = len(self.slots)
                yield Log(INFO, 'Listening at: %s (ready, %d worker%s)', (self.url, count, 's' * (count != 1)))

    def max_requests(self, pid: int, now: float) -> Actions:
        """Worker `pid` served its `--limit-max-requests`: replace it (new worker first)."""
        worker = self.workers.get(pid)
        if worker is None or worker.done or worker.retiring or self.stopping:
            return
        rollout = self.rollout
        if rollout is not None and rollout.old is worker:
            return  # already on its way out
        if self.slots.get(worker.slot) is not worker:
            worker.served_max = True  # the new worker of a rollout: replaced once it owns the slot
            return
        yield from self._replace_served_max(worker, now)

    def reaped(self, pid: int) -> None:
        """Worker `pid` is gone; `exited` follows once pending signals and status are read."""
        worker = self.workers.get(pid)
        if worker is not None:
            worker.done = True

    def exited(self, pid: int, returncode: int, now: float) -> Actions:
        """Worker `pid` exited with `returncode` (`Popen.returncode`): decide what happens next."""
        worker = self.workers.pop(pid, None)
        if worker is None:
            return
        worker.done = True
        if self.recycler is not None:
            self.recycler.forget(worker)
        if worker.retiring:
            if returncode == 0:
                yield Log(INFO, 'Stopped %s', (worker.label,))
            elif not worker.killed:
                yield Log(WARNING, '%s exited after being replaced: %s', (worker.label, describe_exit(returncode)))
        elif self.stopping:
            # (A worker still starting may simply die of the signal.)
            if returncode == 0 or (not worker.ready and -returncode in (signal.SIGINT, signal.SIGTERM)):
                yield Log(INFO, 'Stopped %s', (worker.name,))
            else:
                self.failed = True
                if not worker.killed:
                    yield Log(WARNING, '%s exited during shutdown: %s', (worker.label, describe_exit(returncode)))
        else:
            yield from self._unexpected_exit(worker, returncode, now)

    def timers(self, now: float) -> Actions:
        """The timer pass: pending SIGHUP, kill deadlines, rollout pauses, lifetime and memory."""
        if self.hup_pending:
            self.hup_pending = False
            yield from self.reload('Received SIGHUP', 'sighup', now)
        for worker in self.live():
            if worker.kill_at is not None and now >= worker.kill_at:
                worker.kill_at = None
                yield Log(WARNING, '%s did not stop within %ss: killing it', (worker.label, self.kill_timeout))
                yield from self._kill(worker)
        rollout = self.rollout
        if rollout is not None and rollout.stop_old_at is not None and now >= rollout.stop_old_at:
            yield from self._finish_rollout(now)
        if self.recycler is not None and not self.stopping:
            for due in self.recycler.due():
                worker = due.key
                assert isinstance(worker, Worker)
                if worker.done or worker.retiring or self.slots.get(worker.slot) is not worker:
                    continue
                yield Log(INFO, 'Replacing %s: %s', (worker.label, due.detail))
                self._enqueue(worker.slot, due.reason)
        yield from self._next_rollout(now)

    # --- rules -----------------------------------------------------------------------------

    def _spawn(
        self, slot: int, now: float, respawned: bool = False, reason: str | None = None
    ) -> Generator[Action, Any, Worker | None]:
        pid = yield Spawn(slot, respawned, 'err' if respawned else reason)
        if pid is None:
            return None
        worker = Worker(slot, pid, now, respawned)
        self.workers[pid] = worker
        yield Log(INFO, 'Spawning %s with PID: %d', (worker.name, pid))
        return worker

    def _enqueue(self, slot: int, reason: str) -> None:
        """Queue `slot` for replacement (once; a slot being replaced now can queue again)."""
        if slot not in self.queue:
            self.queue[slot] = reason

    def _next_rollout(self, now: float) -> Actions:
        """Start replacing the next queued slot, unless a replacement is running."""
        if self.rollout is not None or self.stopping or not self.queue:
            return
        slot, reason = self.queue.popitem(last=False)
        old = self.slots.get(slot)
        if old is not None and (old.done or old.retiring):
            old = None
        if old is not None and self.recycler is not None:
            self.recycler.forget(old)
        new = yield from self._spawn(slot, now, reason=reason)
        if new is None:
            yield Log(ERROR, 'Replacing worker-%d failed: it keeps running as it is', (slot,))
            yield from self._abandon_rollouts(old)
            return
        self.rollout = Rollout(slot, reason, old, new)

    def _finish_rollout(self, now: float) -> Actions:
        """The new worker serves: give it the slot and tell the old one to stop."""
        rollout, self.rollout = self.rollout, None
        assert rollout is not None
        self.slots[rollout.slot] = rollout.new
        self._track(rollout.new)
        old = rollout.old
        if old is not None and not old.done:
            yield Log(INFO, 'Replaced %s by PID %d (%s)', (old.label, rollout.new.pid, REASONS[rollout.reason]))
            old.retiring = True
            yield Terminate(old.pid)
            if self.kill_timeout is not None:
                old.kill_at = now + self.kill_timeout
        if rollout.new.served_max:
            yield from self._replace_served_max(rollout.new, now)
        yield from self._next_rollout(now)

    def _replace_served_max(self, worker: Worker, now: float) -> Actions:
        """Queue the replacement of `worker`, which owns its slot and served its max requests."""
        worker.served_max = False
        yield Log(INFO, 'Replacing %s: max requests reached', (worker.label,))
        self._enqueue(worker.slot, 'requests')
        yield from self._next_rollout(now)

    def _abandon_rollouts(self, keep: Worker | None) -> Actions:
        """A replacement failed: `keep` goes on serving; pending reloads are dropped."""
        if keep is not None and not keep.done:
            self._track(keep)  # its lifetime counts again from now
        reloads = [slot for slot, reason in self.queue.items() if reason in ('sighup', 'change')]
        for slot in reloads:
            del self.queue[slot]
        if reloads:
            yield Log(WARNING, 'Reload abandoned: the other workers keep running as they are')

    def _track(self, worker: Worker) -> None:
        if self.recycler is not None and worker.ready and not worker.done:
            self.recycler.track(worker, worker.pid)

    def _unexpected_exit(self, worker: Worker, returncode: int, now: float) -> Actions:
        """A worker exited on its own (not told to stop)."""
        if not worker.ready and returncode == 1:
            yield Log(ERROR, '%s failed to start (see the error above)', (worker.label,))
        else:
            yield Log(ERROR, '%s died unexpectedly: %s', (worker.label, describe_exit(returncode)))

        rollout = self.rollout
        if rollout is not None and worker is rollout.old:
            rollout.old = None  # its replacement is already on the way
            self.slots[worker.slot] = None
            return
        if rollout is not None and worker is rollout.new:
            self.rollout = None
            old = rollout.old
            if old is not None and not old.done:
                wait = '; waiting for the next file change' if self.reload_mode else ''
                yield Log(WARNING, '%s keeps running the code it has%s', (old.label, wait))
                yield from self._abandon_rollouts(old)
                yield from self._next_rollout(now)
                return
            yield from self._abandon_rollouts(None)
        if self.slots.get(worker.slot) is worker:
            self.slots[worker.slot] = None
        elif self.slots.get(worker.slot) is not None:
            return  # its slot is served by another worker already

        if self.respawn_failed_workers:
            age = now - worker.started
            if worker.respawned and age < CRASH_LOOP_WINDOW:
                yield Log(
                    ERROR,
                    '%s died %.1fs after being respawned: not respawning it again (crash loop), stopping',
                    (worker.label, age),
                )
                yield from self._fail(now)
                return
            yield Log(INFO, 'Respawning %s', (worker.name,))
            replacement = yield from self._spawn(worker.slot, now, respawned=True)
            if replacement is None:
                yield from self._fail(now)
                return
            self.slots[worker.slot] = replacement
        elif self.reload_mode and (not worker.ready or self.reload_ignore_worker_failure):
            yield Log(WARNING, 'Waiting for a file change to start %s again', (worker.name,))
        else:
            if worker.ready or returncode != 1:
                # (A worker that failed to start was reported above already: one line is enough.)
                hint = ' and --respawn-failed-workers is off' if not self.reload_mode else ''
                yield Log(ERROR, 'Stopping: %s is gone%s', (worker.name, hint))
            yield from self._fail(now)
        yield from self._next_rollout(now)

    def _fail(self, now: float) -> Actions:
        self.failed = True
        yield from self._request_stop(now)

    def _request_stop(self, now: float) -> Actions:
        """Graceful stop: SIGTERM to every live worker, arm the kill timeouts."""
        if self.stopping:
            return
        self.stopping = True
        self.queue.clear()
        self.rollout = None
        yield Log(INFO, 'Shutting down granian')
        deadline = now + self.kill_timeout if self.kill_timeout is not None else None
        for worker in self.live():
            yield Terminate(worker.pid)
            if deadline is not None:
                worker.kill_at = deadline if worker.kill_at is None else min(worker.kill_at, deadline)

    def _kill(self, worker: Worker) -> Actions:
        worker.kill_at = None
        if not worker.killed:
            worker.killed = True
            if not worker.retiring:
                self.failed = True
            yield Kill(worker.pid)
