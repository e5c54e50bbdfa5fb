"""The main process: bind once, start the workers, watch them, stop them.

The supervisor never serves requests and stays light: it imports the standard library,
``granian.log``, ``granian.errors`` and the sockets module only (no app, no asyncio, no Rust
engine).

Everything it waits for is a file descriptor in one :mod:`selectors` selector, so it sleeps
until something happens (no polling loop):

- a pidfd per worker (``os.pidfd_open``, Linux >= 5.3) that becomes readable when it exits;
  elsewhere SIGCHLD wakes the loop and every worker is polled;
- the read end of each worker's status pipe, where the worker writes ``b'R'`` once it serves;
- a self-pipe fed by :func:`signal.set_wakeup_fd` (SIGINT, SIGTERM, SIGHUP).

The worker command line, file descriptors and exit codes are those of
``docs/internal-contract.md``. The supervisor keeps the status pipe's read end open for the
worker's whole life, so a worker can also learn that the supervisor is gone (``POLLERR`` on
its write end) besides ``PR_SET_PDEATHSIG``.
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
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from granian.errors import StartupError
from granian.log import configure_logging
from granian.server.sockets import Listener, bind

if TYPE_CHECKING:
    from granian.config import Config

__all__ = ['WORKER_MODULE', 'Supervisor', 'run', 'worker_command']

logger = logging.getLogger('_granian')

Hook = Callable[[], object]

#: Module run by ``python -m`` in each worker process.
WORKER_MODULE = 'granian.server.worker'
#: The byte a worker writes on its status pipe once it serves.
READY = b'R'
#: Signals the supervisor handles while it runs.
HANDLED_SIGNALS = tuple(getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP') if hasattr(signal, name))


def worker_command(worker_id: int, config_fd: int, socket_fd: int, status_fd: int) -> list[str]:
    """The argv that starts worker ``worker_id`` (see ``docs/internal-contract.md``)."""
    options = {'--id': worker_id, '--config-fd': config_fd, '--socket-fd': socket_fd, '--status-fd': status_fd}
    return [sys.executable, '-m', WORKER_MODULE, *(part for pair in options.items() for part in map(str, pair))]


def describe_exit(returncode: int) -> str:
    """``exit code 3`` or ``killed by signal SIGKILL`` for a ``Popen.returncode``."""
    if returncode >= 0:
        return f'exit code {returncode}'
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = str(-returncode)
    return f'killed by signal {name}'


def _pidfd_supported() -> bool:
    """Whether ``os.pidfd_open`` exists and the kernel implements it."""
    if not hasattr(os, 'pidfd_open'):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


def _ignore_signal(signum: int, frame: object) -> None:
    """Python-level handler: the wakeup fd carries the signal, nothing else to do here."""


class SignalPipe:
    """Turns the handled signals into bytes on a non-blocking pipe the selector watches.

    Outside the main thread Python cannot install signal handlers; the pipe then stays silent
    and the embedder is responsible for stopping (workers still get reaped normally).
    """

    def __init__(self, signums: Iterable[int]) -> None:
        self.rfd, self._wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self._wfd, False)
        self._previous: dict[int, Any] = {}
        self._previous_wakeup = -1
        self.active = threading.current_thread() is threading.main_thread()
        if self.active:
            self._previous_wakeup = signal.set_wakeup_fd(self._wfd, warn_on_full_buffer=False)
            for signum in signums:
                self._previous[signum] = signal.signal(signum, _ignore_signal)

    def add(self, signum: int) -> None:
        """Start catching one more signal (used for SIGCHLD without pidfds)."""
        if self.active and signum not in self._previous:
            self._previous[signum] = signal.signal(signum, _ignore_signal)

    def read(self) -> list[int]:
        """Signal numbers received since the last call, oldest first."""
        received: list[int] = []
        while True:
            try:
                data = os.read(self.rfd, 512)
            except BlockingIOError:
                return received
            if not data:
                return received
            received.extend(data)

    def close(self) -> None:
        """Restore the previous handlers and wakeup fd, then close the pipe."""
        if self.active:
            for signum, previous in self._previous.items():
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            signal.set_wakeup_fd(self._previous_wakeup)
            self.active = False
        os.close(self.rfd)
        os.close(self._wfd)


@dataclass(eq=False)
class WorkerProcess:
    """One worker process and the descriptors the supervisor holds for it.

    Attributes:
        id: 1-based worker number (``worker-N`` in logs, ``--id`` on its command line).
        proc: the process.
        status_fd: read end of the status pipe, -1 once closed.
        pidfd: the process's pidfd, -1 when not used or closed.
        config_fd: write end of the config pipe while data is still pending, else -1.
        pending: config bytes not yet written to ``config_fd``.
        ready: the worker reported it serves.
        killed: we sent SIGKILL.
        done: its exit has been handled (reaped, descriptors closed, logged).
    """

    id: int
    proc: subprocess.Popen[bytes]
    status_fd: int = -1
    pidfd: int = -1
    config_fd: int = -1
    pending: bytes = b''
    ready: bool = False
    killed: bool = False
    done: bool = False

    @property
    def name(self) -> str:
        """``worker-N``."""
        return f'worker-{self.id}'


class Supervisor:
    """Spawns ``config.workers`` workers on a bound listener and runs until they all exit.

    One instance serves once: :meth:`serve` returns the exit code for the main process.
    """

    def __init__(self, config: Config, listener: Listener, signals: SignalPipe) -> None:
        self._config = config
        self._listener = listener
        self._signals = signals
        self._payload = json.dumps(config.to_dict()).encode()
        self._use_pidfd = _pidfd_supported()
        self._selector = selectors.DefaultSelector()
        self._workers: dict[int, WorkerProcess] = {}
        #: True once a stop was requested (signal or failure); no more spawns after that.
        self._stopping = False
        #: True when the exit code must be 1: a worker died, failed, or had to be killed.
        self._failed = False
        #: monotonic time at which workers still alive get SIGKILL, or None.
        self._kill_deadline: float | None = None

    # --- main loop -----------------------------------------------------------------------

    def serve(self) -> int:
        """Spawn the workers and wait for them; return 0 after a clean stop, else 1."""
        self._selector.register(self._signals.rfd, selectors.EVENT_READ, self._on_signals)
        if not self._use_pidfd and hasattr(signal, 'SIGCHLD'):
            self._signals.add(signal.SIGCHLD)
        try:
            self._wait(timeout=0)  # a stop signal during startup hooks: spawn nothing
            for worker_id in range(1, self._config.workers + 1):
                if self._stopping:
                    break
                self._spawn(worker_id)
            while self._live():
                self._wait(self._time_left())
                self._check_deadline()
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
        if self._kill_deadline is None:
            return None
        return max(0.0, self._kill_deadline - time.monotonic())

    # --- spawning --------------------------------------------------------------------------

    def _spawn(self, worker_id: int) -> None:
        """Start one worker; a failure to start it stops the server."""
        sock_fd = self._listener.fileno()
        config_r, config_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            os.set_blocking(config_w, False)
            os.set_blocking(status_r, False)
            # Write before the worker exists: the whole config usually fits in the pipe buffer.
            try:
                sent = os.write(config_w, self._payload)
            except BlockingIOError:
                sent = 0
            cmd = worker_command(worker_id, config_r, sock_fd, status_w)
            proc = subprocess.Popen(cmd, pass_fds=(config_r, sock_fd, status_w), close_fds=True)
        except BaseException as exc:
            for fd in (config_w, status_r):
                os.close(fd)
            if not isinstance(exc, (OSError, subprocess.SubprocessError)):
                raise
            logger.error('Cannot start worker-%d: %s', worker_id, exc)
            self._failed = True
            self._request_stop()
            return
        finally:
            os.close(config_r)
            os.close(status_w)

        worker = WorkerProcess(id=worker_id, proc=proc, status_fd=status_r, pending=self._payload[sent:])
        self._workers[worker_id] = worker
        logger.info('Spawning %s with PID: %d', worker.name, proc.pid)
        self._selector.register(status_r, selectors.EVENT_READ, functools.partial(self._on_status, worker))
        if worker.pending:
            worker.config_fd = config_w
            self._selector.register(config_w, selectors.EVENT_WRITE, functools.partial(self._on_config, worker))
        else:
            os.close(config_w)
        if self._use_pidfd:
            # Not reaped until we wait(), so the PID cannot have been reused yet.
            worker.pidfd = os.pidfd_open(proc.pid)
            self._selector.register(worker.pidfd, selectors.EVENT_READ, functools.partial(self._on_exit, worker))

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
        """Read the worker's status pipe; ``R`` means it serves, EOF means it closed the pipe."""
        try:
            data = os.read(worker.status_fd, 64)
        except BlockingIOError:
            return
        if READY in data and not worker.ready:
            worker.ready = True
            logger.info('Started %s', worker.name)
        if not data:
            worker.status_fd = self._release(worker.status_fd)

    def _on_signals(self) -> None:
        for signum in self._signals.read():
            if signum in (signal.SIGINT, signal.SIGTERM):
                if not self._stopping:
                    self._request_stop()
                elif signum == signal.SIGINT:
                    self._force_stop()
            elif signum == getattr(signal, 'SIGHUP', None):
                logger.info('Received SIGHUP: reloading workers is not supported yet, ignoring it')
            elif signum == getattr(signal, 'SIGCHLD', None):
                for worker in self._live():
                    if worker.proc.poll() is not None:
                        self._on_exit(worker)

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

        if not self._stopping:
            if not worker.ready and returncode == 1:
                logger.error('%s (PID %d) failed to start (see the error above)', worker.name, worker.proc.pid)
            else:
                logger.error(
                    '%s (PID %d) died unexpectedly: %s', worker.name, worker.proc.pid, describe_exit(returncode)
                )
            self._on_unexpected_exit(worker)
        elif returncode == 0 or (not worker.ready and -returncode in (signal.SIGINT, signal.SIGTERM)):
            logger.info('Stopped %s', worker.name)  # (a worker still starting may simply die of the signal)
        else:
            self._failed = True
            if not worker.killed:
                logger.warning(
                    '%s (PID %d) exited during shutdown: %s', worker.name, worker.proc.pid, describe_exit(returncode)
                )

    def _on_unexpected_exit(self, worker: WorkerProcess) -> None:
        """Policy for a worker that exited on its own.

        Seam for respawning (``respawn_failed_workers``): for now every unexpected exit,
        including an app that failed to load (exit code 1), stops the server with exit code 1.
        """
        self._failed = True
        self._request_stop()

    # --- stopping --------------------------------------------------------------------------

    def _request_stop(self) -> None:
        """Graceful stop: SIGTERM to every live worker, arm the kill timeout."""
        if self._stopping:
            return
        self._stopping = True
        logger.info('Shutting down granian')
        for worker in self._live():
            self._send(worker, signal.SIGTERM)
        timeout = self._config.workers_kill_timeout
        if timeout is not None:
            self._kill_deadline = time.monotonic() + timeout

    def _force_stop(self) -> None:
        """Second interrupt while stopping: kill what is left now."""
        live = self._live()
        if live:
            logger.warning('Second interrupt: killing %d remaining worker(s)', len(live))
        for worker in live:
            self._kill(worker)
        self._kill_deadline = None

    def _check_deadline(self) -> None:
        if self._kill_deadline is None or time.monotonic() < self._kill_deadline:
            return
        self._kill_deadline = None
        timeout = self._config.workers_kill_timeout
        for worker in self._live():
            logger.warning('%s (PID %d) did not stop within %ss: killing it', worker.name, worker.proc.pid, timeout)
            self._kill(worker)

    def _kill(self, worker: WorkerProcess) -> None:
        if not worker.killed:
            worker.killed = True
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
            logger.error('Killing %s (PID %d) left behind', worker.name, worker.proc.pid)
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

    Binds ``config``'s address once, runs ``hooks['startup']``, spawns ``config.workers``
    workers, waits for SIGINT/SIGTERM (or a worker death), stops the workers, runs
    ``hooks['shutdown']`` and removes a Unix socket file.

    Returns:
        0 after a requested stop where every worker exited with 0; 1 when binding, a hook or a
        worker failed, or a worker had to be killed.
    """
    hooks = hooks or {}
    configure_logging(config.log_enabled, config.log_level, config.log_dictconfig)
    if config.ssl_client_verify and not config.ssl_ca:
        logger.warning('--ssl-client-verify is ignored without --ssl-ca (no CA to verify client certificates with)')
    logger.info('Starting granian (main PID: %d)', os.getpid())
    signals = SignalPipe(HANDLED_SIGNALS)
    try:
        try:
            listener = bind(config)
        except StartupError as exc:
            logger.error('%s', exc)
            return 1
        try:
            logger.info('Listening at: %s', listener.url)
            if not _run_hooks('startup', hooks.get('startup', ())):
                return 1
            code = Supervisor(config, listener, signals).serve()
            if not _run_hooks('shutdown', hooks.get('shutdown', ())):
                code = 1
            return code
        finally:
            listener.close()
    finally:
        signals.close()
