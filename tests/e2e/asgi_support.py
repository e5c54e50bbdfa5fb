"""Helpers shared by the ASGI end-to-end tests: marker files, worker memory, server start-up."""

from __future__ import annotations

import time
from pathlib import Path


def wait_for_marker(directory: Path, name: str, timeout: float = 10.0) -> str:
    """Poll until the app wrote marker `name` into `directory`; return its text."""
    path = directory / name
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            present = sorted(p.name for p in directory.iterdir())
            raise AssertionError(f'marker {name!r} not written within {timeout}s (present: {present})')
        time.sleep(0.02)
    return path.read_text()


def proc_status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (e.g. VmRSS, VmHWM), in KiB."""
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith(f'{field}:'):
            return int(line.split()[1])
    raise KeyError(f'{field} not in /proc/{pid}/status')


def worker_pid(srv, worker: int = 1) -> int:
    """The PID of worker `worker` of a running server, from its `Spawning worker-N` log line."""
    pids = srv.worker_pids()
    assert worker in pids, f'no PID logged for worker-{worker}; log:\n{srv.log()}'
    return pids[worker]


def asgi(srv_factory, target: str = 'asgi_basic:app', *args: str, interface: str = 'asgi', **kwargs):
    """Start an ASGI server on `target` with `--interface` (asgi by default)."""
    return srv_factory(target, '--interface', interface, *args, **kwargs)
