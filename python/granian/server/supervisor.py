"""The main process: bind once, start the workers, watch them, replace them, stop them.

The supervisor never serves requests and stays light: it imports the standard library,
``granian.log``, ``granian.errors`` and its sibling modules only (no app, no asyncio, no Rust
engine; ``watchfiles`` with ``--reload``).

Everything it waits for is a file descriptor in one :mod:`selectors` selector, plus timers
(kill timeouts, the pause of a rolling replacement, lifetime and memory checks) that bound the
wait, so it sleeps until something happens (no polling loop):

- a pidfd per worker (``os.pidfd_open``, Linux >= 5.3) that becomes readable when it exits;
  elsewhere SIGCHLD wakes the loop and every worker is polled;
- the read end of each worker's status pipe, where the worker writes ``b'R'`` once it serves
  (and ``b'M'`` once it served its ``--limit-max-requests``);
- a self-pipe fed by :func:`signal.set_wakeup_fd` (SIGINT, SIGTERM, SIGHUP);
- with ``--reload``, the pipe of the file watcher thread.

With ``--metrics``, a thread (:mod:`granian.server.metrics_http`) serves the metrics and health
endpoints and reads the workers' snapshots; this loop tells it about spawns, ready workers,
exits and the stop (:class:`granian.server.metrics_state.MetricsState`).

Workers live in numbered *slots* (``worker-1`` .. ``worker-N``). Replacing the worker of a slot
(SIGHUP, file change, lifetime, memory, max requests) is a *rollout*: start the new worker on the shared
socket, wait for its ready byte (and ``--respawn-interval``), then SIGTERM the old one, which
stops accepting and finishes its in-flight requests. Both accept on the same listening socket
meanwhile, so no connection is refused. Slots are replaced one at a time.

The decisions (rollouts, respawns, crash loop, stops, kill timeouts) are made by
:mod:`granian.server.policy`; this module waits for events and carries out its actions.

The worker command line, file descriptors and exit codes are described in
``docs/architecture.md``. The supervisor keeps the status pipe's read end open for the worker's
whole life, so a worker can also learn that the supervisor is gone (``POLLERR`` on its write
end) besides ``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

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
from typing import TYPE_CHECKING

from granian.errors import StartupError
from granian.log import configure_logging
from granian.server.pidfile import PidFile
from granian.server.policy import CRASH_LOOP_WINDOW, Action, Actions, Kill, Log, Policy, RunReloadHooks, Spawn
from granian.server.process import MAX_REQUESTS, READY, WorkerProcess, pidfd_supported, start_worker
from granian.server.proctitle import set_process_title
from granian.server.recycle import Recycler
from granian.server.signals import HANDLED_SIGNALS, SignalPipe
from granian.server.sockets import Listener, bind

if TYPE_CHECKING:
    from granian.config import Config
    from granian.server.metrics import Metrics
    from granian.server.reload import FileWatcher

__all__ = ['CRASH_LOOP_WINDOW', 'Supervisor', 'run']

logger = logging.getLogger('_granian')

Hook = Callable[[], object]


class Supervisor:
    """Spawns ``config.workers`` workers on a bound listener and runs until they all exit.

    One instance serves once: :meth:`serve` returns the exit code for the main process. What
    to do on each event is decided by :class:`granian.server.policy.Policy`; this class waits
    for the events and carries out the policy's actions (spawn, signal, log, run hooks).

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
        metrics: Metrics | None = None,
    ) -> None:
        self._listener = listener
        self._metrics = metrics
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
        recycler = None
        if not config.reload:  # --reload turns lifetime and memory recycling off
            recycler = Recycler(
                config.workers_lifetime, config.workers_max_rss, config.rss_sample_interval, config.rss_samples
            )
        self._policy = Policy(
            config.workers,
            listener.url,
            respawn_interval=config.respawn_interval,
            kill_timeout=config.workers_kill_timeout,
            respawn_failed_workers=config.respawn_failed_workers,
            reload=config.reload,
            reload_ignore_worker_failure=config.reload_ignore_worker_failure,
            recycler=recycler if recycler is not None and recycler.active else None,
        )
        #: A worker was left behind at the end and had to be killed.
        self._left_behind = False

    # --- main loop -----------------------------------------------------------------------

    def serve(self) -> int:
        """Spawn the workers and wait for them; return 0 after a clean stop, else 1."""
        self._selector.register(self._signals.rfd, selectors.EVENT_READ, self._on_signals)
        if self._watcher is not None:
            self._selector.register(self._watcher.rfd, selectors.EVENT_READ, self._on_changes)
        if not self._use_pidfd and hasattr(signal, 'SIGCHLD'):
            self._signals.add(signal.SIGCHLD)
        policy = self._policy
        try:
            self._wait(timeout=0)  # a stop signal during startup hooks: spawn nothing
            self._run(policy.start(time.monotonic()))
            while policy.running:
                if self._metrics is not None:
                    self._metrics.state.ready = policy.announced
                    self._metrics.state.stopping = policy.stopping
                if policy.stopping:
                    # No worker will be spawned again: once the workers' accept loops end too,
                    # new connections are refused instead of waiting for nobody in the backlog.
                    self._listener.close()
                deadline = policy.next_deadline()
                self._wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
                self._run(policy.timers(time.monotonic()))
        finally:
            if self._metrics is not None:
                self._metrics.state.stopping = True
            self._kill_all()
            self._selector.close()
        return 1 if policy.failed or self._left_behind else 0

    def _wait(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds (None = no limit) and dispatch what is ready."""
        for key, _ in self._selector.select(timeout):
            key.data()

    def _live(self) -> list[WorkerProcess]:
        return [worker for worker in self._workers.values() if not worker.done]

    def _run(self, actions: Actions) -> None:
        """Carry out the actions of one policy event, sending back the outcomes it asks for."""
        outcome: object = None
        while True:
            try:
                action = actions.send(outcome)
            except StopIteration:
                return
            outcome = self._do(action)

    def _do(self, action: Action) -> object:
        if isinstance(action, Log):
            logger.log(action.level, action.msg, *action.args)
        elif isinstance(action, Spawn):
            return self._spawn(action.slot, action.reason)
        elif isinstance(action, RunReloadHooks):
            return self._on_reload_hooks()
        else:
            self._send(action.pid, signal.SIGKILL if isinstance(action, Kill) else signal.SIGTERM)
        return None

    # --- spawning --------------------------------------------------------------------------

    def _spawn(self, slot: int, reason: str | None = None) -> int | None:
        """Start one worker for ``slot``; its PID, or None (logged) when it could not be started."""
        metrics_fd = None if self._metrics is None else self._metrics.worker_fd
        try:
            worker = start_worker(slot, self._payload, self._listener.fileno(), metrics_fd)
        except (OSError, subprocess.SubprocessError) as exc:
            logger.error('Cannot start worker-%d: %s', slot, exc)
            return None
        self._workers[worker.proc.pid] = worker
        if self._metrics is not None:
            self._metrics.state.spawned(slot, worker.proc.pid, reason)
        on_status = functools.partial(self._on_status, worker)
        self._selector.register(worker.status_fd, selectors.EVENT_READ, on_status)
        if worker.config_fd >= 0:
            on_config = functools.partial(self._on_config, worker)
            self._selector.register(worker.config_fd, selectors.EVENT_WRITE, on_config)
        if self._use_pidfd:
            # Not reaped until we wait(), so the PID cannot have been reused yet.
            worker.pidfd = os.pidfd_open(worker.proc.pid)
            self._selector.register(worker.pidfd, selectors.EVENT_READ, functools.partial(self._on_exit, worker))
        return worker.proc.pid

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

    # --- events ----------------------------------------------------------------------------

    def _on_status(self, worker: WorkerProcess) -> None:
        """Read the worker's status pipe; ``R`` means it serves, ``M`` that it served its
        ``--limit-max-requests``, EOF that it closed the pipe."""
        try:
            data = os.read(worker.status_fd, 64)
        except BlockingIOError:
            return
        if READY in data and not worker.ready:
            worker.ready = True
            if self._metrics is not None:
                self._metrics.state.worker_ready(worker.id, worker.proc.pid)
            self._run(self._policy.ready(worker.proc.pid, time.monotonic()))
        if MAX_REQUESTS in data:
            self._run(self._policy.max_requests(worker.proc.pid, time.monotonic()))
        if not data:
            worker.status_fd = self._release(worker.status_fd)

    def _on_signals(self) -> None:
        for signum in self._signals.read():
            if signum in (signal.SIGINT, signal.SIGTERM):
                self._run(self._policy.stop(time.monotonic(), interrupt=signum == signal.SIGINT))
            elif signum == getattr(signal, 'SIGHUP', None):
                self._policy.hup()
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
        self._run(self._policy.reload(f'Changes detected in {shown}{more}', 'change', time.monotonic()))

    def _on_exit(self, worker: WorkerProcess) -> None:
        """A worker exited: reap it, release its descriptors, let the policy decide what next."""
        if worker.done:
            return
        returncode = worker.proc.wait()  # immediate: its pidfd is readable or poll() reaped it
        worker.done = True
        pid = worker.proc.pid
        self._policy.reaped(pid)
        if not self._policy.stopping:
            # Ctrl-C reaches the workers too: a stop signal that is already queued explains
            # this exit, so read it before calling the exit unexpected.
            self._on_signals()
        if worker.status_fd >= 0:
            self._on_status(worker)  # a last 'R' may still be in the pipe
        worker.status_fd = self._release(worker.status_fd)
        worker.config_fd = self._release(worker.config_fd)
        worker.pidfd = self._release(worker.pidfd)
        self._workers.pop(pid, None)
        if self._metrics is not None:
            self._metrics.state.reaped(pid)
        self._run(self._policy.exited(pid, returncode, time.monotonic()))

    # --- signals ---------------------------------------------------------------------------

    def _send(self, pid: int, signum: int) -> None:
        """Signal a worker that has not been reaped; via its pidfd when there is one."""
        worker = self._workers.get(pid)
        if worker is None:
            return
        with contextlib.suppress(ProcessLookupError):
            if worker.pidfd >= 0:
                signal.pidfd_send_signal(worker.pidfd, signum)
            elif not worker.done:
                worker.proc.send_signal(signum)  # a no-op once poll() has reaped it

    def _kill_all(self) -> None:
        """Last resort on the way out (normally nothing is left): SIGKILL and reap everyone."""
        for worker in self._live():
            logger.error('Killing %s left behind', worker.label)
            self._left_behind = True
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
    kill_timeout = config.workers_kill_timeout
    if kill_timeout is not None and kill_timeout <= config.graceful_timeout:
        logger.warning(
            '--workers-kill-timeout (%ds) is not larger than --graceful-timeout (%ds): a stopping worker may be '
            'killed before it has cut and cleaned up its in-flight requests',
            kill_timeout,
            config.graceful_timeout,
        )
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
        metrics = None
        try:
            if config.metrics_enabled:
                from granian.server.metrics import Metrics

                metrics = Metrics.start(config)
        except StartupError as exc:
            listener.close()
            logger.error('%s', exc)
            return 1
        if metrics is not None:
            logger.info('Metrics and health endpoints at: %s/metrics', metrics.url)
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
            supervisor = Supervisor(
                config, listener, signals, lambda: _run_hooks('reload', reload_hooks), watcher, metrics
            )
            code = supervisor.serve()
            if not _run_hooks('shutdown', hooks.get('shutdown', ())):
                code = 1
            return code
        finally:
            listener.close()
            if metrics is not None:
                metrics.close()
    finally:
        if watcher is not None:
            watcher.close()
        signals.close()
        if pidfile is not None:
            pidfile.remove()
