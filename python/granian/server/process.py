"""A worker process as the supervisor sees it: how it is started, its descriptors, its exit.

A worker is started as

```text
python -m granian.server.worker --id N --config-fd C --socket-fd S --status-fd W
```

with ``pass_fds=(C, S, W)`` (see ``docs/architecture.md``): ``C`` is the read end of a pipe
carrying the JSON config, ``S`` the shared listening socket, ``W`` the write end of the status
pipe where the worker writes ``b'R'`` once it serves, and ``b'M'`` once it has served its
``--limit-max-requests`` (it asks to be replaced). With ``--metrics``, ``--metrics-fd M`` is
the sending end of the datagram socket its metrics snapshots go to (shared by all workers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

__all__ = [
    'MAX_REQUESTS',
    'READY',
    'WORKER_MODULE',
    'WorkerProcess',
    'describe_exit',
    'pidfd_supported',
    'start_worker',
    'worker_command',
]

#: Module run by ``python -m`` in each worker process.
WORKER_MODULE = 'granian.server.worker'
#: The byte a worker writes on its status pipe once it serves.
READY = b'R'
#: The byte a worker writes on its status pipe once it served its `--limit-max-requests`.
MAX_REQUESTS = b'M'


def worker_command(
    worker_id: int, config_fd: int, socket_fd: int, status_fd: int, metrics_fd: int | None = None
) -> list[str]:
    """The argv that starts worker ``worker_id`` (see ``docs/architecture.md``)."""
    options = {'--id': worker_id, '--config-fd': config_fd, '--socket-fd': socket_fd, '--status-fd': status_fd}
    if metrics_fd is not None:
        options['--metrics-fd'] = metrics_fd
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


def pidfd_supported() -> bool:
    """Whether ``os.pidfd_open`` exists and the kernel implements it."""
    if not hasattr(os, 'pidfd_open'):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


@dataclass(eq=False)
class WorkerProcess:
    """One worker process and the descriptors the supervisor holds for it. What the supervisor
    decides about it (retiring, kill deadline, crash-loop guard) is tracked by
    `server/policy.py`'s `Worker`.

    Attributes:
        id: 1-based slot number (``worker-N`` in logs, ``--id`` on its command line); a
            replacement gets the number of the worker it replaces.
        proc: the process.
        status_fd: read end of the status pipe, -1 once closed.
        pidfd: the process's pidfd, -1 when not used or closed.
        config_fd: write end of the config pipe while data is still pending, else -1.
        pending: config bytes not yet written to ``config_fd``.
        ready: the worker reported it serves (its first ``R`` was passed on to the policy).
        done: its exit has been handled (reaped, descriptors closed, logged).
    """

    id: int
    proc: subprocess.Popen[bytes]
    status_fd: int = -1
    pidfd: int = -1
    config_fd: int = -1
    pending: bytes = b''
    ready: bool = False
    done: bool = False

    @property
    def label(self) -> str:
        """``worker-N (PID P)``."""
        return f'worker-{self.id} (PID {self.proc.pid})'


def start_worker(slot: int, payload: bytes, sock_fd: int, metrics_fd: int | None = None) -> WorkerProcess:
    """Start the worker of ``slot`` on the listening socket ``sock_fd``, sending it ``payload``
    (and its metrics snapshots to ``metrics_fd``, with ``--metrics``).

    The returned worker holds the status pipe's read end and, while part of the payload is
    still to be written, the config pipe's write end (both non-blocking).

    Raises:
        OSError, subprocess.SubprocessError: the process could not be started.
    """
    config_r, config_w = os.pipe()
    status_r, status_w = os.pipe()
    try:
        os.set_blocking(config_w, False)
        os.set_blocking(status_r, False)
        # Write before the worker exists: the whole config usually fits in the pipe buffer.
        try:
            sent = os.write(config_w, payload)
        except BlockingIOError:
            sent = 0
        cmd = worker_command(slot, config_r, sock_fd, status_w, metrics_fd)
        fds = (config_r, sock_fd, status_w) if metrics_fd is None else (config_r, sock_fd, status_w, metrics_fd)
        proc = subprocess.Popen(cmd, pass_fds=fds, close_fds=True)
    except BaseException:
        os.close(config_w)
        os.close(status_r)
        raise
    finally:
        os.close(config_r)
        os.close(status_w)
    worker = WorkerProcess(id=slot, proc=proc, status_fd=status_r, pending=payload[sent:])
    if worker.pending:
        worker.config_fd = config_w
    else:
        os.close(config_w)
    return worker
