"""Overload answers (`--limit-concurrency`) and worker recycling by request count
(`--limit-max-requests`), against the real server with real clients, for ASGI, RSGI and WSGI.

Requests are held in the app by a gate (`tests/apps/overload_apps.py`): each held request
creates a file when the app has it, and all are released when the test creates `open`. So the
tests know exactly which requests are in flight, without timing.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h2.errors
import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from e2e.h2_support import H2Client
from e2e.wire import Conn, get

INTERFACES = ['asgi', 'rsgi', 'wsgi']
WARNING = r'Concurrency limit reached \(--limit-concurrency {limit}\): refused (\d+) requests? since the last warning'


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    path = tmp_path / 'gate'
    path.mkdir()
    return path


def wait_entered(gate: Path, *names: str, timeout: float = 10.0) -> None:
    """Wait until the app holds every request in `names`."""
    deadline = time.monotonic() + timeout
    while not all((gate / f'{name}.entered').exists() for name in names):
        assert time.monotonic() < deadline, f'requests {names} did not reach the app; gate: {list(gate.iterdir())}'
        time.sleep(0.01)


def start(interface: str, server, gate: Path, *args: str):
    return server(f'overload_apps:{interface}', '--interface', interface, *args, env={'OVERLOAD_GATE': str(gate)})


class Held:
    """Requests sent from threads, each on its own connection, answered once the gate opens."""

    def __init__(self, srv, gate: Path) -> None:
        self.srv, self.gate = srv, gate
        self.pool = ThreadPoolExecutor(8)
        self.futures = {}

    def send(self, path: str, name: str) -> None:
        self.futures[name] = self.pool.submit(self.srv.get, f'{path}?name={name}')
        wait_entered(self.gate, name)

    def release(self) -> dict[str, httpx.Response]:
        (self.gate / 'open').touch()
        try:
            return {name: future.result(timeout=10) for name, future in self.futures.items()}
        finally:
            self.pool.shutdown()


def refused_h1(srv, path: str = '/') -> None:
    """One HTTP/1.1 request that must get the overload answer; the server then closes."""
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get(path))
        assert resp.status == 503, resp
        assert resp.header('retry-after') == '1'
        assert resp.header('connection') == 'close'
        assert b'concurrency limit' in resp.body
        assert conn.wait_closed(5.0), 'the connection stayed open after connection: close'


def warnings(srv, limit: int) -> list[int]:
    """The counts of the refusal warnings logged so far."""
    return [int(m[1]) for m in re.finditer(WARNING.format(limit=limit), srv.log())]


# --- --limit-concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize('interface', INTERFACES)
def test_beyond_the_limit_a_request_gets_503_and_the_admitted_ones_complete(interface, server, gate):
    srv = start(interface, server, gate, '--limit-concurrency', '2')
    held = Held(srv, gate)
    held.send('/hold', 'a')
    held.send('/hold', 'b')
    refused_h1(srv)
    answers = held.release()
    assert {name: (r.status_code, r.text) for name, r in answers.items()} == {
        'a': (200, 'released a'),
        'b': (200, 'released b'),
    }
    # Their permits are back: the next requests are served.
    with srv.client() as client:
        for _ in range(3):
            assert client.get('/').status_code == 200
    srv.wait_for_log(WARNING.format(limit=2))
    assert warnings(srv, 2) == [1]


def test_a_refused_request_is_access_logged_with_its_503(server, gate):
    srv = start('asgi', server, gate, '--limit-concurrency', '1', '--access-log')
    held = Held(srv, gate)
    held.send('/hold', 'a')
    refused_h1(srv, '/refused?x=1')
    srv.wait_for_log(r'"GET /refused HTTP/1\.1" 503 ')
    assert held.release()['a'].status_code == 200
    srv.wait_for_log(r'"GET /hold HTTP/1\.1" 200 ')


@pytest.mark.parametrize('interface', INTERFACES)
def test_a_streamed_body_holds_its_permit_until_it_ends(interface, server, gate):
    srv = start(interface, server, gate, '--limit-concurrency', '1')
    with srv.client() as client, client.stream('GET', '/stream?name=s') as resp:
        assert resp.status_code == 200
        chunks = resp.iter_bytes()
        assert next(chunks).startswith(b'first')
        wait_entered(gate, 's')
        refused_h1(srv)  # the head is out, the body is not over: still in flight
        (gate / 'open').touch()
        assert b''.join(chunks).endswith(b'last\n')
    assert srv.get('/').status_code == 200


@pytest.mark.parametrize('interface', INTERFACES)
def test_over_http2_a_refused_stream_is_reset_with_refused_stream(interface, server, gate):
    srv = start(interface, server, gate, '--limit-concurrency', '2')
    with H2Client(srv.host, srv.port) as client:
        held = [client.request('GET', f'/hold?name={name}') for name in ('a', 'b')]
        wait_entered(gate, 'a', 'b')
        refused = client.response(client.request('GET', '/'))
        assert refused.reset == h2.errors.ErrorCodes.REFUSED_STREAM
        assert refused.headers is None, 'a refused stream gets no response'
        (gate / 'open').touch()
        for stream_id, name in zip(held, ('a', 'b'), strict=True):
            done = client.response(stream_id)
            assert (done.status, bytes(done.data)) == (200, f'released {name}'.encode())
        # The same connection goes on serving.
        assert client.get('/').status == 200
        assert client.goaway is None
    srv.wait_for_log(WARNING.format(limit=2))


@pytest.mark.parametrize('interface', ['asgi', 'rsgi'])
def test_a_websocket_counts_until_its_session_ends(interface, server, gate):
    srv = start(interface, server, gate, '--limit-concurrency', '2')
    url = f'ws://{srv.host}:{srv.port}/ws'
    held = Held(srv, gate)
    with ws_connect(url) as ws:
        ws.send('hi')
        assert ws.recv(timeout=5) == 'hi'
        held.send('/hold', 'a')
        refused_h1(srv)
        # A WebSocket handshake is a request too: refused with the same 503.
        with pytest.raises(InvalidStatus) as info:
            ws_connect(url, open_timeout=5).close()
        assert info.value.response.status_code == 503
        # The session is still served while it holds its place.
        ws.send('still here')
        assert ws.recv(timeout=5) == 'still here'
    # The session is over: its place frees once the server has closed it (polled, bounded).
    deadline = time.monotonic() + 10
    while True:
        with Conn(srv.host, srv.port) as conn:
            if conn.request(get('/')).status == 200:
                break
        assert time.monotonic() < deadline, 'the ended WebSocket session kept its place'
        time.sleep(0.05)
    assert held.release()['a'].status_code == 200


def test_the_warning_is_logged_at_most_once_a_second_with_the_count(server, gate):
    srv = start('rsgi', server, gate, '--limit-concurrency', '1')
    held = Held(srv, gate)
    held.send('/hold', 'a')
    began = time.monotonic()
    for _ in range(30):
        refused_h1(srv)
    elapsed = time.monotonic() - began
    srv.wait_for_log(WARNING.format(limit=1))
    first = warnings(srv, 1)
    assert first[0] == 1, 'the first refusal is reported at once'
    assert len(first) <= 1 + int(elapsed), f'{len(first)} warnings in {elapsed:.2f}s'
    # Once a second has passed, the next refusal writes a line counting all the quiet ones.
    time.sleep(1.1)
    refused_h1(srv)
    srv.wait_for_log(WARNING.format(limit=1), count=len(first) + 1)
    assert sum(warnings(srv, 1)) == 31
    assert held.release()['a'].status_code == 200


def test_the_option_reads_its_env_var(server, gate):
    srv = server(
        'overload_apps:rsgi',
        '--interface',
        'rsgi',
        env={'OVERLOAD_GATE': str(gate), 'GRANIAN_LIMIT_CONCURRENCY': '1'},
    )
    held = Held(srv, gate)
    held.send('/hold', 'a')
    refused_h1(srv)
    assert held.release()['a'].status_code == 200


# --- --limit-max-requests ------------------------------------------------------------------------


def load(srv, stop: threading.Event, pids: list[str], errors: list[BaseException]) -> None:
    """Keep-alive requests to `/pid` until `stop`; every answer's PID goes to `pids`."""
    try:
        with srv.client() as client:
            while not stop.is_set():
                resp = client.get('/pid')
                assert resp.status_code == 200, resp
                pids.append(resp.text)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


@pytest.mark.parametrize('interface', INTERFACES)
def test_max_requests_replaces_the_worker_without_failing_a_request(interface, server, gate):
    srv = start(
        interface,
        server,
        gate,
        *('--workers', '1', '--limit-max-requests', '20', '--limit-max-requests-jitter', '5'),
        *('--respawn-interval', '0.2'),
    )
    first_pid = str(srv.worker_pids()[1])
    # Sequentially, on one keep-alive connection.
    with srv.client() as client:
        sequential = [client.get('/pid') for _ in range(100)]
    assert all(r.status_code == 200 for r in sequential)
    # Then concurrently, four keep-alive clients, until a replacement answers (bounded).
    stop, pids, errors = threading.Event(), [], []
    threads = [threading.Thread(target=load, args=(srv, stop, pids, errors)) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    try:
        while len(pids) < 100 or len({*pids, *(r.text for r in sequential)}) < 2:
            assert not errors, errors
            assert time.monotonic() < deadline, f'no replacement answered; log:\n{srv.log()}'
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert not errors, errors
    seen = {*pids, *(r.text for r in sequential)}
    assert first_pid in seen and len(seen) >= 2
    # The new worker may answer before the old one is told to stop (--respawn-interval).
    srv.wait_for_log(rf'Replaced worker-1 \(PID {first_pid}\) by PID \d+ \(max requests reached\)')
    log = srv.log()
    served = [int(n) for n in re.findall(r'worker-1 served (\d+) requests \(--limit-max-requests\)', log)]
    assert served and all(20 <= n <= 25 for n in served), served
    assert f'Replacing worker-1 (PID {first_pid}): max requests reached' in log
    assert srv.stop() == 0
