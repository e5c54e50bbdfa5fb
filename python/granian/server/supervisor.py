"""The main process: bind once, start the workers, watch them, replace them, stop them.

The supervisor never serves requests and stays light: it imports the standard library,
``granian.log``, ``granian.errors`` and its sibling modules only (no app, no asyncio, no Rust
engine; ``watchfiles`` with ``--reload``).

Everything it waits for is a file descriptor in one :mod:`selectors` selector, plus timers
(kill timeouts, the pause of a rolling replacement, lifetime and memory checks) that bound the
wait, so it sleeps until something happens (no polling loop):

- a pidfd per worker (``os.pidfd_open``, Linux >= 5.3) that becomes readable when it exits;
  elsewhere SIGCHLD wakes the loop and every worker is polled;
- the read end of each worker's status pipe, where the worker writes ``b'R'`` once it serves;
- a self-pipe fed by :func:`signal.set_wakeup_fd` (SIGINT, SIGTERM, SIGHUP);
- with ``--reload``, the pipe of the file watcher thread.

Workers live in numbered *slots* (``worker-1`` .. ``worker-N``). Replacing the worker of a slot
(SIGHUP, file change, lifetime, memory) is a *rollout*: start the new worker on the shared
socket, wait for its ready byte (and ``--respawn-interval``), then SIGTERM the old one, which
stops accepting and finishes its in-flight requests. Both accept on the same listening socket
meanwhile, so no connection is refused. Slots are replaced one at a time.

The worker command line, file descriptors and exit codes are described in
``docs/architecture.md``. The supervisor keeps the status pipe's read end open for the worker's
whole life, so a worker can also learn that the supervisor is gone (``POLLERR`` on its write
end) besides ``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from granian.errors import StartupError
from granian.log import configure_logging
from granian.server.pidfile import PidFile
from granian.server.process import READY, WorkerProcess, describe_exit, pidfd_supported, start_worker
from granian.server.proctitle import set_process_title
from granian.server.recycle import Recycler
from granian.server.signals import HANDLED_SIGNALS, SignalPipe
from granian.server.sockets import Listener, bind

if TYPE_CHECKING:
    from granian.config import Config
    from granian.server.reload import FileWatcher

__all__ = ['CRASH_LOOP_WINDOW', 'Supervisor', 'run']

logger = logging.getLogger('_granian')

Hook = Callable[[], object]

#: A respawned worker that dies again this soon (seconds) is not respawned a second time.
CRASH_LOOP_WINDOW = 5.5

#: Why a slot's worker is replaced, as logged.
REASONS = {
    'sighup': 'SIGHUP',
    'change': 'file change',
    'lifetime': 'lifetime reached',
    'rss': 'memory limit',
}


@dataclass(eq=False)
class Rollout:
    """The replacement of one slot's worker in progress.

    ``new`` has been spawned; once it is ready and ``stop_old_at`` has passed, ``old`` (if any)
    is told to stop and ``new`` owns the slot.
    """

    slot: int
    reason: str
    old: WorkerProcess | None
    new: WorkerProcess
    stop_old_at: float | None = None


class Supervisor:
    """Spawns ``config.workers`` workers on a bound listener and runs until they all exit.

    One instance serves once: :meth:`serve` returns the exit code for the main process.

    Args:
        on_reload: runs the ``on_reload`` hooks before a reload; False cancels the reload.
        watcher: the file watcher of ``--reload``, already started.
    """

    def __init__(
        self,
        config: Config,
        listener: Listener,
        signals: SignalPipe,
        on_reload: Callable[[], bool] = lambda: True,
        watcher: FileWatcher | None = None,
    ) -> None:
        self._config = config
        self._listener = listener
        self._signals = signals
        self._on_reload_hooks = on_reload
        self._watcher = watcher
        payload = config.to_dict()
        payload['reload_filter'] = None  # a class, for the supervisor's watcher only
        self._payload = json.dumps(payload).encode()
        self._use_pidfd = pidfd_supported()
        self._selector = selectors.DefaultSelector()
        #: Every worker not reaped yet, by PID.
        self._workers: dict[int, WorkerProcess] = {}
        #: The worker owning each slot (None: empty, e.g. it failed to start under --reload).
        self._slots: dict[int, WorkerProcess | None] = dict.fromkeys(range(1, config.workers + 1))
        #: Slots waiting to be replaced, with the reason, in order.
        self._queue: collections.OrderedDict[int, str] = collections.OrderedDict()
        self._rollout: Rollout | None = None
        #: A SIGHUP arrived: reload at the next timer pass (never in the middle of an exit).
        self._hup = False
        recycler = None
        if not config.reload:  # --reload turns lifetime and memory recycling off
            recycler = Recycler(
                config.workers_lifetime, config.workers_max_rss, config.rss_sample_interval, config.rss_samples
            )
        self._recycler = recycler if recycler is not None and recycler.active else None
        #: True once a stop was requested (signal or failure); no more spawns after that.
        self._stopping = False
        #: True when the exit code must be 1: a worker died, failed, or had to be killed.
        self._failed = False
        #: True once every slot's first worker served and `Listening at:` was logged.
        self._announced = False

    # --- main loop -----------------------------------------------------------------------

    def serve(self) -> int:
        """Spawn the workers and wait for them; return 0 after a clean stop, else 1."""
        self._selector.register(self._signals.rfd, selectors.EVENT_READ, self._on_signals)
        if self._watcher is not None:
            self._selector.register(self._watcher.rfd, selectors.EVENT_READ, self._on_changes)
        if not self._use_pidfd and hasattr(signal, 'SIGCHLD'):
            self._signals.add(signal.SIGCHLD)
        try:
            self._wait(timeout=0)  # a stop signal during startup hooks: spawn nothing
            for slot in self._slots:
                if self._stopping:
                    break
                worker = self._spawn(slot)
                if worker is None:
                    self._fail()
                    break
                self._slots[slot] = worker
            while not self._stopping or self._live():
                self._wait(self._time_left())
                self._run_timers()
        finally:
            self._kill_all()
            self._selector.close()
        return 1 if self._failed else 0

    def _wait(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds (None = no limit) and dispatch what is ready."""
        for key, _ in self._selector.select(timeout):
            key.data()

    def _live(self) -> list[WorkerProcess]:
        return [worker for worker in self._workers.values() if not worker.done]

    def _time_left(self) -> float | None:
        """Seconds until the next timer, None when there is none."""
        deadlines = [w.kill_at for w in self._live() if w.kill_at is not None]
        if self._rollout is not None and self._rollout.stop_old_at is not None:
            deadlines.append(self._rollout.stop_old_at)
        if self._recycler is not None and not self._stopping:
            deadline = self._recycler.next_deadline()
            if deadline is not None:
                deadlines.append(deadline)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _run_timers(self) -> None:
        if self._hup:
            self._hup = False
            self._reload('Received SIGHUP', 'sighup')
        now = time.monotonic()
        for worker in self._live():
            if worker.kill_at is not None and now >= worker.kill_at:
                worker.kill_at = None
                timeout = self._config.workers_kill_timeout
                logger.warning('%s did not stop within %ss: killing it', worker.label, timeout)
                self._kill(worker)
        rollout = self._rollout
        if rollout is not None and rollout.stop_old_at is not None and now >= rollout.stop_old_at:
            self._finish_rollout()
        if self._recycler is not None and not self._stopping:
            for due in self._recycler.due():
                worker = due.key
                assert isinstance(worker, WorkerProcess)
                if worker.done or worker.retiring or self._slots.get(worker.id) is not worker:
                    continue
                logger.info('Replacing %s: %s', worker.label, due.detail)
                self._enqueue(worker.id, due.reason)
        self._next_rollout()

    # --- spawning --------------------------------------------------------------------------

    def _spawn(self, slot: int, respawned: bool = False) -> WorkerProcess | None:
        """Start one worker for ``slot``; None (logged) when it could not be started."""
        try:
            worker = start_worker(slot, self._payload, self._listener.fileno(), respawned)
        except (OSError, subprocess.SubprocessError) as exc:
            logger.error('Cannot start worker-%d: %s', slot, exc)
            return None
        self._workers[worker.proc.pid] = worker
        logger.info('Spawning %s with PID: %d', worker.name, worker.proc.pid)
        on_status = functools.partial(self._on_status, worker)
        self._selector.register(worker.status_fd, selectors.EVENT_READ, on_status)
        if worker.config_fd >= 0:
            on_config = functools.partial(self._on_config, worker)
            self._selector.register(worker.config_fd, selectors.EVENT_WRITE, on_config)
        if self._use_pidfd:
            # Not reaped until we wait(), so the PID cannot have been reused yet.
            worker.pidfd = os.pidfd_open(worker.proc.pid)
            self._selector.register(worker.pidfd, selectors.EVENT_READ, functools.partial(self._on_exit, worker))
        return worker

    def _on_config(self, worker: WorkerProcess) -> None:
        """The config pipe has room again: write more of the payload."""
        try:
            sent = os.write(worker.config_fd, worker.pending)
        except BlockingIOError:
            return
        except BrokenPipeError:
            sent = len(worker.pending)  # the worker is gone; its exit is reported elsewhere
        worker.pending = worker.pending[sent:]
        if not worker.pending:
            worker.config_fd = self._release(worker.config_fd)

    def _release(self, fd: int) -> int:
        """Unregister and close ``fd`` if it is open; returns -1 to store in its place."""
        if fd >= 0:
            self._selector.unregister(fd)
            os.close(fd)
        return -1

    # --- replacing workers -------------------------------------------------------------------

    def _reload(self, trigger: str, reason: str) -> None:
        """Replace every slot's worker, one by one, after the ``on_reload`` hooks."""
        if self._stopping:
            return
        logger.info('%s: reloading the workers one by one', trigger)
        if not self._on_reload_hooks():
            logger.error('An on_reload hook failed: the workers are not reloaded')
            return
        for slot in self._slots:
            self._enqueue(slot, reason)
        self._next_rollout()

    def _enqueue(self, slot: int, reason: str) -> None:
        """Queue ``slot`` for replacement (once; a slot being replaced now can queue again)."""
        if slot not in self._queue:
            self._queue[slot] = reason

    def _next_rollout(self) -> None:
        """Start replacing the next queued slot, unless a replacement is running."""
        if self._rollout is not None or self._stopping or not self._queue:
            return
        slot, reason = self._queue.popitem(last=False)
        old = self._slots.get(slot)
        if old is not None and (old.done or old.retiring):
            old = None
        if old is not None and self._recycler is not None:
            self._recycler.forget(old)
        new = self._spawn(slot)
        if new is None:
            logger.error('Replacing worker-%d failed: it keeps running as it is', slot)
            self._abandon_rollouts(old)
            return
        self._rollout = Rollout(slot, reason, old, new)

    def _interval(self, reason: str) -> float:
        """Pause between a replacement being ready and the old worker being stopped."""
        # On a file change the developer wants the new code only, at once.
        return 0.0 if reason == 'change' else self._config.respawn_interval

    def _on_replacement_ready(self, rollout: Rollout) -> None:
        if rollout.old is None or rollout.old.done:
            self._finish_rollout()
        else:
            rollout.stop_old_at = time.monotonic() + self._interval(rollout.reason)

    def _finish_rollout(self) -> None:
        """The new worker serves: give it the slot and tell the old one to stop."""
        rollout, self._rollout = self._rollout, None
        assert rollout is not None
        self._slots[rollout.slot] = rollout.new
        self._track(rollout.new)
        old = rollout.old
        if old is not None and not old.done:
            logger.info('Replaced %s by PID %d (%s)', old.label, rollout.new.proc.pid, REASONS[rollout.reason])
            self._retire(old)
        self._next_rollout()

    def _abandon_rollouts(self, keep: WorkerProcess | None) -> None:
        """A replacement failed: ``keep`` goes on serving; pending reloads are dropped."""
        if keep is not None and not keep.done:
            self._track(keep)  # its lifetime counts again from now
        reloads = [slot for slot, reason in self._queue.items() if reason in ('sighup', 'change')]
        for slot in reloads:
            del self._queue[slot]
        if reloads:
            logger.warning('Reload abandoned: the other workers keep running as they are')

    def _track(self, worker: WorkerProcess) -> None:
        if self._recycler is not None and worker.ready and not worker.done:
            self._recycler.track(worker, worker.proc.pid)

    def _retire(self, worker: WorkerProcess) -> None:
        """Graceful stop of a worker whose slot has a new worker."""
        worker.retiring = True
        self._send(worker, signal.SIGTERM)
        timeout = self._config.workers_kill_timeout
        if timeout is not None:
            worker.kill_at = time.monotonic() + timeout

    # --- events ----------------------------------------------------------------------------

    def _on_status(self, worker: WorkerProcess) -> None:
        """Read the worker's status pipe; ``R`` means it serves, EOF means it closed the pipe."""
        try:
            data = os.read(worker.status_fd, 64)
        except BlockingIOError:
            return
        if READY in data and not worker.ready:
            worker.ready = True
            logger.info('Started %s (PID %d)', worker.name, worker.proc.pid)
            if self._rollout is not None and self._rollout.new is worker:
                self._on_replacement_ready(self._rollout)
            elif self._slots.get(worker.id) is worker:
                self._track(worker)
            self._announce_ready()
        if not data:
            worker.status_fd = self._release(worker.status_fd)

    def _announce_ready(self) -> None:
        """Log `Listening at:` once, when every slot has a worker that loaded the app and serves."""
        if self._announced or self._stopping:
            return
        if all(worker is not None and worker.ready and not worker.done for worker in self._slots.values()):
            self._announced = True
            count = len(self._slots)
            logger.info('Listening at: %s (ready, %d worker%s)', self._listener.url, count, 's' * (count != 1))

    def _on_signals(self) -> None:
        for signum in self._signals.read():
            if signum in (signal.SIGINT, signal.SIGTERM):
                if not self._stopping:
                    self._request_stop()
                elif signum == signal.SIGINT:
                    self._force_stop()
            elif signum == getattr(signal, 'SIGHUP', None):
                self._hup = True
            elif signum == getattr(signal, 'SIGCHLD', None):
                for worker in self._live():
                    if worker.proc.poll() is not None:
                        self._on_exit(worker)

    def _on_changes(self) -> None:
        assert self._watcher is not None
        changed = self._watcher.take()
        if not changed:
            return
        shown = ', '.join(self._watcher.shown(path) for path in changed[:5])
        more = f' and {len(changed) - 5} more' if len(changed) > 5 else ''
        self._reload(f'Changes detected in {shown}{more}', 'change')

    def _on_exit(self, worker: WorkerProcess) -> None:
        """A worker exited: reap it, release its descriptors, decide what happens next."""
        if worker.done:
            return
        returncode = worker.proc.wait()  # immediate: its pidfd is readable or poll() reaped it
        worker.done = True
        if not self._stopping:
            # Ctrl-C reaches the workers too: a stop signal that is already queued explains
            # this exit, so read it before calling the exit unexpected.
            self._on_signals()
        if worker.status_fd >= 0:
            self._on_status(worker)  # a last 'R' may still be in the pipe
        worker.status_fd = self._release(worker.status_fd)
        worker.config_fd = self._release(worker.config_fd)
        worker.pidfd = self._release(worker.pidfd)
        self._workers.pop(worker.proc.pid, None)
        if self._recycler is not None:
            self._recycler.forget(worker)

        if worker.retiring:
            if returncode == 0:
                logger.info('Stopped %s', worker.label)
            elif not worker.killed:
                logger.warning('%s exited after being replaced: %s', worker.label, describe_exit(returncode))
        elif self._stopping:
            if returncode == 0 or (not worker.ready and -returncode in (signal.SIGINT, signal.SIGTERM)):
                logger.info('Stopped %s', worker.name)  # (a worker still starting may simply die of the signal)
            else:
                self._failed = True
                if not worker.killed:
                    logger.warning('%s exited during shutdown: %s', worker.label, describe_exit(returncode))
        else:
            self._on_unexpected_exit(worker, returncode)

    def _on_unexpected_exit(self, worker: WorkerProcess, returncode: int) -> None:
        """Policy for a worker that exited on its own (not told to stop)."""
        if not worker.ready and returncode == 1:
            logger.error('%s failed to start (see the error above)', worker.label)
        else:
            logger.error('%s died unexpectedly: %s', worker.label, describe_exit(returncode))

        rollout = self._rollout
        if rollout is not None and worker is rollout.old:
            rollout.old = None  # its replacement is already on the way
            self._slots[worker.id] = None
            return
        if rollout is not None and worker is rollout.new:
            self._rollout = None
            old = rollout.old
            if old is not None and not old.done:
                wait = '; waiting for the next file change' if self._config.reload else ''
                logger.warning('%s keeps running the code it has%s', old.label, wait)
                self._abandon_rollouts(old)
                self._next_rollout()
                return
            self._abandon_rollouts(None)
        if self._slots.get(worker.id) is worker:
            self._slots[worker.id] = None
        elif self._slots.get(worker.id) is not None:
            return  # its slot is served by another worker already

        config = self._config
        if config.respawn_failed_workers:
            age = time.monotonic() - worker.started
            if worker.respawned and age < CRASH_LOOP_WINDOW:
                logger.error(
                    '%s died %.1fs after being respawned: not respawning it again (crash loop), stopping',
                    worker.label,
                    age,
                )
                self._fail()
                return
            logger.info('Respawning %s', worker.name)
            replacement = self._spawn(worker.id, respawned=True)
            if replacement is None:
                self._fail()
                return
            self._slots[worker.id] = replacement
        elif config.reload and (not worker.ready or config.reload_ignore_worker_failure):
            logger.warning('Waiting for a file change to start %s again', worker.name)
        else:
            if worker.ready or returncode != 1:
                # (A worker that failed to start was reported above already: one line is enough.)
                hint = ' and --respawn-failed-workers is off' if not config.reload else ''
                logger.error('Stopping: %s is gone%s', worker.name, hint)
            self._fail()
        self._next_rollout()

    # --- stopping --------------------------------------------------------------------------

    def _fail(self) -> None:
        self._failed = True
        self._request_stop()

    def _request_stop(self) -> None:
        """Graceful stop: SIGTERM to every live worker, arm the kill timeouts."""
        if self._stopping:
            return
        self._stopping = True
        self._queue.clear()
        self._rollout = None
        logger.info('Shutting down granian')
        timeout = self._config.workers_kill_timeout
        deadline = time.monotonic() + timeout if timeout is not None else None
        for worker in self._live():
            self._send(worker, signal.SIGTERM)
            if deadline is not None:
                worker.kill_at = deadline if worker.kill_at is None else min(worker.kill_at, deadline)

    def _force_stop(self) -> None:
        """Second interrupt while stopping: kill what is left now."""
        live = self._live()
        if live:
            logger.warning('Second interrupt: killing %d remaining worker(s)', len(live))
        for worker in live:
            self._kill(worker)

    def _kill(self, worker: WorkerProcess) -> None:
        worker.kill_at = None
        if not worker.killed:
            worker.killed = True
            if not worker.retiring:
                self._failed = True
            self._send(worker, signal.SIGKILL)

    def _send(self, worker: WorkerProcess, signum: int) -> None:
        """Signal a worker that has not been reaped; via its pidfd when there is one."""
        with contextlib.suppress(ProcessLookupError):
            if worker.pidfd >= 0:
                signal.pidfd_send_signal(worker.pidfd, signum)
            elif not worker.done:
                worker.proc.send_signal(signum)  # a no-op once poll() has reaped it

    def _kill_all(self) -> None:
        """Last resort on the way out (normally nothing is left): SIGKILL and reap everyone."""
        for worker in self._live():
            logger.error('Killing %s left behind', worker.label)
            self._failed = True
            with contextlib.suppress(ProcessLookupError):
                worker.proc.kill()
            worker.proc.wait()
            worker.done = True
        for worker in self._workers.values():
            worker.status_fd = self._release(worker.status_fd)
            worker.config_fd = self._release(worker.config_fd)
            worker.pidfd = self._release(worker.pidfd)


def _run_hooks(kind: str, hooks: Iterable[Hook]) -> bool:
    """Call each hook; log and return False on the first one that raises."""
    for hook in hooks:
        try:
            hook()
        except Exception:
            logger.exception('The %s hook %s raised an exception', kind, getattr(hook, '__qualname__', repr(hook)))
            return False
    return True


def run(config: Config, hooks: Mapping[str, Iterable[Hook]] | None = None) -> int:
    """Run the server from the main process until it stops; return the process exit code.

    Writes ``config.pid_file``, binds ``config``'s address once, runs ``hooks['startup']``,
    spawns ``config.workers`` workers, replaces them on SIGHUP / file changes (running
    ``hooks['reload']`` first), on lifetime and memory limits, and when they die (with
    ``respawn_failed_workers``); waits for SIGINT/SIGTERM (or a worker death), stops the
    workers, runs ``hooks['shutdown']``, removes a Unix socket file and the pid file.

    Returns:
        0 after a requested stop where every worker exited with 0; 1 when the pid file,
        binding, a hook or a worker failed, or a worker had to be killed.
    """
    hooks = hooks or {}
    configure_logging(config.log_enabled, config.log_level, config.log_dictconfig)
    if config.ssl_client_verify and not config.ssl_ca:
        logger.warning('--ssl-client-verify is ignored without --ssl-ca (no CA to verify client certificates with)')
    logger.info('Starting granian (main PID: %d)', os.getpid())
    # What will be served, how: the first thing to check when requests fail (wrong interface...).
    logger.info(
        "App '%s': --interface %s, --http %s, --loop %s, --workers %d",
        config.target,
        config.interface,
        config.http,
        config.loop,
        config.workers,
    )
    set_process_title(config.process_name)
    try:
        pidfile = PidFile.create(config.pid_file) if config.pid_file else None
    except StartupError as exc:
        logger.error('%s', exc)
        return 1
    signals = SignalPipe(HANDLED_SIGNALS)
    watcher = None
    try:
        try:
            listener = bind(config)
        except StartupError as exc:
            logger.error('%s', exc)
            return 1
        try:
            if not _run_hooks('startup', hooks.get('startup', ())):
                return 1
            if config.reload:
                from granian.server.reload import FileWatcher

                if config.workers_lifetime is not None or config.workers_max_rss is not None:
                    logger.warning('--reload is on: --workers-lifetime and --workers-max-rss are ignored')
                watcher = FileWatcher(config)
                watcher.start()
            reload_hooks = list(hooks.get('reload', ()))
            supervisor = Supervisor(config, listener, signals, lambda: _run_hooks('reload', reload_hooks), watcher)
            code = supervisor.serve()
            if not _run_hooks('shutdown', hooks.get('shutdown', ())):
                code = 1
            return code
        finally:
            listener.close()
    finally:
        if watcher is not None:
            watcher.close()
        signals.close()
        if pidfile is not None:
            pidfile.remove()
