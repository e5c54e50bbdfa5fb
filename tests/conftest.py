"""Shared fixtures: real `granian` servers started as subprocesses.

`server(target, *args, ...)` starts `python -m granian` (the interpreter running pytest, so the
`.venv` build) in its own session/process group, on a free loopback port, with
`--working-dir tests/apps`. It waits for readiness instead of sleeping and always reaps the
whole process group on teardown. See `GranianProcess` for what a test can do with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
APPS = REPO / 'tests' / 'apps'

#: Upper bound for a server to become ready (imports + worker spawn; generous for slow CI).
READY_TIMEOUT = 20.0
#: Upper bound for a graceful stop before the process group is killed.
STOP_TIMEOUT = 10.0


def free_port(host: str = '127.0.0.1') -> int:
    """A TCP port that was free a moment ago on `host` (bind to port 0, read it back, close)."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def group_pids(pgid: int) -> list[tuple[int, str]]:
    """`(pid, state)` of every process whose process group is `pgid` (Linux /proc scan)."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
        except OSError:
            continue
        # `pid (comm) state ppid pgrp ...`; comm may contain spaces and parentheses.
        fields = stat[stat.rindex(')') + 2 :].split()
        if int(fields[2]) == pgid:
            found.append((int(entry.name), fields[0]))
    return found


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a server: ours without any `GRANIAN_*` variable (nor
    `FORWARDED_ALLOW_IPS`, which granian reads too), plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith('GRANIAN_') and key != 'FORWARDED_ALLOW_IPS'
    }
    env['PYTHONUNBUFFERED'] = '1'
    env.update(extra or {})
    return env


def granian_cmd(*args: str) -> list[str]:
    """The command line of the real CLI, run by the interpreter running the tests."""
    return [sys.executable, '-m', 'granian', *args]


def run_granian(*args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run the CLI to completion (for invocations that must exit on their own), capturing text output."""
    return subprocess.run(
        granian_cmd(*args),
        env=base_env(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class ServerStartError(RuntimeError):
    """The server exited (or never became ready) while we waited for it."""


class GranianProcess:
    """One `granian` process group.

    Attributes:
        proc: the supervisor's `Popen` (leader of its own process group).
        host, port: where it listens (TCP), `uds` for a Unix socket.
        url: base URL (`http://127.0.0.1:PORT`, or `http://localhost` over the Unix socket).
    """

    def __init__(
        self,
        cmd: Sequence[str],
        env: dict[str, str],
        log_dir: Path,
        host: str = '127.0.0.1',
        port: int | None = None,
        uds: str | None = None,
    ) -> None:
        self.cmd = list(cmd)
        self.host = host
        self.port = port
        self.uds = uds
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / 'stdout.log'
        self.stderr_path = log_dir / 'stderr.log'
        # Files, not pipes: a chatty server can never block on a full pipe.
        with open(self.stdout_path, 'wb') as out, open(self.stderr_path, 'wb') as err:
            self.proc = subprocess.Popen(
                self.cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        self.pgid = self.proc.pid

    # --- addresses -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.uds:
            return 'http://localhost'
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'http://{host}:{self.port}'

    def client(self, **kwargs) -> httpx.Client:
        """An httpx client bound to this server (over the Unix socket when there is one)."""
        kwargs.setdefault('timeout', 10.0)
        if self.uds:
            kwargs.setdefault('transport', httpx.HTTPTransport(uds=self.uds))
        return httpx.Client(base_url=self.url, **kwargs)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        with self.client() as client:
            return client.request(method, path, **kwargs)

    def get(self, path: str = '/', **kwargs) -> httpx.Response:
        return self.request('GET', path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request('POST', path, **kwargs)

    # --- logs ------------------------------------------------------------------------------

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors='replace')

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors='replace')

    def log(self) -> str:
        """Everything the process group wrote so far (stdout, then stderr)."""
        return self.stdout + self.stderr

    def wait_for_log(self, pattern: str, timeout: float = 10.0, count: int = 1) -> list[re.Match[str]]:
        """Poll the log until `pattern` (a regex, multiline) matched `count` times; return the matches."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            matches = list(regex.finditer(self.log()))
            if len(matches) >= count:
                return matches
            if time.monotonic() > deadline:
                raise AssertionError(f'{pattern!r} not seen {count} time(s) within {timeout}s; log:\n{self.log()}')
            time.sleep(0.02)

    def worker_pids(self) -> dict[int, int]:
        """`{worker id: pid}` from the `Spawning worker-N with PID: P` lines."""
        return {int(m[1]): int(m[2]) for m in re.finditer(r'Spawning worker-(\d+) with PID: (\d+)', self.log())}

    # --- lifecycle -------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, ready: str | None, workers: int, ready_path: str, timeout: float = READY_TIMEOUT) -> None:
        """Block until the server serves.

        `ready`: `'log'` waits for `Started worker-N` for every worker; `'http'` retries a GET
        of `ready_path` until any response arrives (for setups that hide the log); None returns
        at once.
        """
        if ready is None:
            return
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerStartError(f'granian exited with {self.proc.returncode} before serving; log:\n{self.log()}')
            if ready == 'log':
                started = set(re.findall(r'Started worker-(\d+)', self.log()))
                if len(started) >= workers:
                    return
            elif ready == 'http':
                with contextlib.suppress(httpx.TransportError):
                    with self.client(timeout=1.0) as client:
                        client.get(ready_path)
                    return
            else:
                raise ValueError(f'unknown readiness mode {ready!r}')
            if time.monotonic() > deadline:
                raise ServerStartError(f'granian not ready within {timeout}s; log:\n{self.log()}')
            time.sleep(0.02)

    def send_signal(self, signum: int) -> None:
        """Signal the supervisor only (as `kill PID` would)."""
        self.proc.send_signal(signum)

    def signal_group(self, signum: int) -> None:
        """Signal every process of the group (as Ctrl-C in a terminal would)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signum)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the supervisor to exit and return its exit code."""
        return self.proc.wait(timeout=timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Graceful stop (signal to the supervisor); SIGKILL the group if it takes too long.

        Returns the supervisor's exit code, or None when it had to be killed.
        """
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signum)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole group and reap the supervisor."""
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=STOP_TIMEOUT)

    def remaining(self) -> list[tuple[int, str]]:
        """Processes of the group still present (`(pid, state)`)."""
        return group_pids(self.pgid)

    def assert_no_orphans(self, timeout: float = 5.0) -> None:
        """Once the supervisor is gone, no process of its group may remain (short grace period)."""
        assert self.proc.poll() is not None, 'the supervisor is still running'
        deadline = time.monotonic() + timeout
        while (left := self.remaining()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f'processes left behind in group {self.pgid}: {left}\nlog:\n{self.log()}'

    def cleanup(self) -> None:
        """Teardown: graceful stop, then SIGKILL whatever is left of the group."""
        self.stop()
        self.signal_group(signal.SIGKILL)


class ServerFactory:
    """Starts granian servers and remembers them for teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[GranianProcess] = []

    def __call__(
        self,
        target: str = 'rsgi_basic:app',
        *args: str,
        env: dict[str, str] | None = None,
        ready: str | None = 'log',
        workers: int = 1,
        ready_path: str = '/',
        host: str = '127.0.0.1',
        port: int | None = None,
        uds: str | os.PathLike[str] | None = None,
        pass_port: bool = True,
        working_dir: bool = True,
        cmd: Sequence[str] | None = None,
    ) -> GranianProcess:
        """Start `granian [options] --port P target`, wait until it is ready, return it.

        Args:
            target: the APP argument (apps live in `tests/apps`).
            args: extra CLI arguments (placed before the target).
            env: extra environment variables (any inherited `GRANIAN_*` is removed).
            ready: readiness mode, see `GranianProcess.wait_ready`.
            workers: how many `Started worker-N` lines mean ready (pass `--workers` in args).
            host: `--host` value (also where tests connect); `port`: fixed port, else a free one.
            uds: serve on this Unix socket (`--uds`); no `--host`/`--port` then.
            pass_port: False to leave `--host`/`--port` out (e.g. when given by env vars);
                `port` then says where to connect.
            cmd: a complete command line to run instead of the CLI (e.g. a script using the API).
        """
        attempts = 3 if (port is None and uds is None and cmd is None and pass_port) else 1
        for attempt in range(attempts):
            the_port = port if port is not None or uds is not None else free_port(host)
            if cmd is not None:
                argv = list(cmd)
            else:
                argv = list(args)
                if working_dir:
                    argv += ['--working-dir', str(APPS)]
                if uds is not None:
                    argv += ['--uds', os.fspath(uds)]
                elif pass_port:
                    argv += ['--host', host, '--port', str(the_port)]
                argv = granian_cmd(*argv, target)
            log_dir = self.root / f'server-{len(self.started)}'
            srv = GranianProcess(
                argv, base_env(env), log_dir, host=host, port=the_port, uds=os.fspath(uds) if uds else None
            )
            self.started.append(srv)
            try:
                srv.wait_ready(ready, workers, ready_path)
            except ServerStartError:
                srv.cleanup()
                if attempt + 1 < attempts and 'address already in use' in srv.log().lower():
                    continue  # the free port was taken in between: try another one
                raise
            return srv
        raise AssertionError('unreachable')

    def cleanup(self) -> None:
        for srv in self.started:
            srv.cleanup()


@contextlib.contextmanager
def _factory(root: Path) -> Iterator[ServerFactory]:
    factory = ServerFactory(root)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Factory of granian servers stopped (and their process groups reaped) after the test."""
    with _factory(tmp_path / 'servers') as factory:
        yield factory


@pytest.fixture(scope='module')
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Like `server`, but the servers live for the whole test module (for read-only checks)."""
    with _factory(tmp_path_factory.mktemp('servers')) as factory:
        yield factory
