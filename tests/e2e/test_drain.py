"""Graceful stop with a timeout (`--graceful-timeout`), end to end: the real `granian` process
gets SIGTERM (as from a process manager) while real clients (raw HTTP/1.1 sockets, the h2
library, raw WebSocket frames) have requests in flight.

What must hold, for ASGI, RSGI and WSGI over HTTP/1.1 and HTTP/2: a request in flight at the
stop is answered; one that outlives the graceful timeout is cut (connection closed), its app
is told (cancellation or disconnect) and its `finally` runs; the worker and the server then
exit 0, with no "Task was destroyed" or "never awaited" in the log. The apps
(`tests/apps/drain_apps.py`) record their events to a file the tests read.
"""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import struct
import time
from pathlib import Path

import pytest

from e2e.h2_support import H2Client
from e2e.test_websocket_h2 import WsOverH2
from e2e.wire import Conn, get
from e2e.ws_support import WsConn

TARGETS = {'asgi': 'drain_apps:asgi', 'rsgi': 'drain_apps:rsgi', 'wsgi': 'drain_apps:wsgi'}
#: What must never appear in the log of a stop.
BAD_SIGNS = ('Task was destroyed', 'never awaited', 'Traceback', 'Killing', 'left behind')


class Events:
    """The file the apps append `<tag> <event>` lines to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines()

    def wait(self, prefix: str, timeout: float = 10.0) -> str:
        """The first line starting with `prefix`, polled for up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines() if line.startswith(prefix)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f'no event {prefix!r} within {timeout}s: {self.lines()}')
            time.sleep(0.02)


@pytest.fixture
def events(tmp_path):
    return Events(tmp_path / 'events.log')


def start(server, events, interface, *args, **kwargs):
    return server(TARGETS[interface], '--interface', interface, *args, env={'DRAIN_EVENTS': str(events.path)}, **kwargs)


def stopped_cleanly(srv, timeout: float = 15.0) -> None:
    """The server exits 0 within `timeout`, leaves no process behind and logs nothing bad."""
    assert srv.wait(timeout) == 0, srv.log()
    srv.assert_no_orphans()
    log = srv.log()
    for sign in BAD_SIGNS:
        assert sign not in log, log


class H1:
    """One raw HTTP/1.1 connection."""

    def __init__(self, srv) -> None:
        self.conn = Conn(srv.host, srv.port, timeout=20)

    def send(self, path: str) -> None:
        self.conn.send(get(path))

    def response(self) -> tuple[int, bytes]:
        resp = self.conn.read_response()
        return resp.status, resp.body

    def cut(self, timeout: float) -> bytes:
        """Waits for the server to close the connection; returns what arrived before."""
        assert self.conn.wait_closed(timeout), 'the connection stayed open'
        return self.conn.buf

    def close(self) -> None:
        self.conn.close()


class H2:
    """One HTTP/2 connection (prior knowledge), one request on it."""

    def __init__(self, srv) -> None:
        self.client = H2Client(srv.host, srv.port, timeout=20, follow_graceful_goaway=True)
        self.stream_id = 0

    def send(self, path: str) -> None:
        self.stream_id = self.client.request('GET', path)

    def response(self) -> tuple[int, bytes]:
        stream = self.client.response(self.stream_id, timeout=20)
        assert stream.reset is None, f'stream reset ({stream.reset})'
        return stream.status, bytes(stream.data)

    def cut(self, timeout: float) -> bytes:
        """Waits for the stream to be cut (connection closed or stream reset), never ended."""
        stream = self.client.stream(self.stream_id)
        deadline = time.monotonic() + timeout
        while not (self.client.eof or stream.reset is not None):
            assert time.monotonic() < deadline, 'the stream was not cut'
            self.client.pump(0.05)
        assert not stream.ended, 'the stream ended as if complete'
        return bytes(stream.data)

    def close(self) -> None:
        self.client.close()


CLIENTS = {'h1': H1, 'h2': H2}


@pytest.mark.parametrize('version', ['h1', 'h2'])
@pytest.mark.parametrize('interface', ['asgi', 'rsgi', 'wsgi'])
def test_a_request_in_flight_at_the_stop_is_answered(server, events, interface, version):
    srv = start(server, events, interface)
    client = CLIENTS[version](srv)
    try:
        client.send('/sleep?secs=1&tag=a')
        events.wait('a start')
        srv.send_signal(signal.SIGTERM)
        assert client.response() == (200, b'slept')
    finally:
        client.close()
    stopped_cleanly(srv)
    assert events.lines()[:2] == ['a start', 'a end done']


@pytest.mark.parametrize('version', ['h1', 'h2'])
@pytest.mark.parametrize(('interface', 'path'), [('asgi', '/hang'), ('rsgi', '/hang'), ('asgi', '/listen')])
def test_a_request_outliving_the_graceful_timeout_is_cut_and_its_task_finishes(
    server, events, interface, path, version
):
    srv = start(server, events, interface, '--graceful-timeout', '1')
    client = CLIENTS[version](srv)
    try:
        client.send(f'{path}?tag=a')
        events.wait('a start')
        signalled = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        assert client.cut(10) == b'', 'nothing was answered'
        assert time.monotonic() - signalled > 0.9, 'cut before the graceful timeout'
    finally:
        client.close()
    stopped_cleanly(srv, timeout=8)  # soon after the cut: the cancelled task ends at once
    expected = 'a end disconnect' if path == '/listen' else 'a end cancelled'
    assert events.wait('a end') == expected


@pytest.mark.parametrize('version', ['h1', 'h2'])
@pytest.mark.parametrize('interface', ['asgi', 'rsgi', 'wsgi'])
def test_a_streamed_response_outliving_the_graceful_timeout_is_cut_and_logged(server, events, interface, version):
    srv = start(server, events, interface, '--graceful-timeout', '1', '--access-log')
    client = CLIENTS[version](srv)
    try:
        client.send('/stream?tag=s')
        events.wait('s start')
        srv.send_signal(signal.SIGTERM)
        body = client.cut(10)
    finally:
        client.close()
    assert b'first' in body
    stopped_cleanly(srv)
    # The app is told its client is gone: its task cancelled, its next send failing, or (WSGI)
    # its body closed.
    assert events.wait('s end') in ('s end cancelled', 's end disconnect', 's end error ClientDisconnected')
    protocol = 'HTTP/1.1' if version == 'h1' else 'HTTP/2'
    srv.wait_for_log(rf'"GET /stream {protocol}" 200 ')


@pytest.mark.parametrize('mode', ['st', 'mt'])
def test_a_cut_with_several_runtimes(server, events, mode):
    srv = start(server, events, 'asgi', '--graceful-timeout', '1', '--runtime-threads', '2', '--runtime-mode', mode)
    conns = [Conn(srv.host, srv.port, timeout=20) for _ in range(4)]
    try:
        for i, conn in enumerate(conns):
            conn.send(get(f'/hang?tag=r{i}'))
        for i in range(len(conns)):
            events.wait(f'r{i} start')
        srv.send_signal(signal.SIGTERM)
        for conn in conns:
            assert conn.wait_closed(10)
    finally:
        for conn in conns:
            conn.close()
    stopped_cleanly(srv, timeout=8)
    assert sorted(line for line in events.lines() if ' end ' in line) == [f'r{i} end cancelled' for i in range(4)]


def test_a_zero_graceful_timeout_cancels_at_once(server, events):
    srv = start(server, events, 'asgi', '--graceful-timeout', '0')
    with Conn(srv.host, srv.port, timeout=20) as conn:
        conn.send(get('/hang?tag=z'))
        events.wait('z start')
        srv.send_signal(signal.SIGTERM)
        assert conn.wait_closed(10)
    stopped_cleanly(srv)
    assert events.wait('z end') == 'z end cancelled'


def test_lifespan_shutdown_runs_after_the_cut_requests_have_finished(server, events):
    srv = start(server, events, 'asgi', '--graceful-timeout', '1')
    with Conn(srv.host, srv.port, timeout=20) as conn:
        conn.send(get('/hang?tag=a'))
        events.wait('a start')
        srv.send_signal(signal.SIGTERM)
        assert conn.wait_closed(10)
    stopped_cleanly(srv)
    assert events.lines() == ['a start', 'a end cancelled', 'lifespan shutdown']


def test_a_wsgi_thread_stuck_in_the_app_is_abandoned_and_the_worker_still_exits_0(server, events):
    srv = start(server, events, 'wsgi', '--graceful-timeout', '1')
    with Conn(srv.host, srv.port, timeout=20) as conn:
        conn.send(get('/stuck?tag=w'))
        events.wait('w start')
        srv.send_signal(signal.SIGTERM)
        assert conn.wait_closed(10), 'the request is cut at the graceful timeout'
    # The thread cannot be stopped: after the timeout and the cleanup delay the worker leaves.
    stopped_cleanly(srv, timeout=20)
    srv.wait_for_log(r'1 WSGI thread\(s\) still inside the application .*: abandoned')
    assert events.lines() == ['w start']


@pytest.mark.parametrize('interface', ['asgi', 'rsgi'])
def test_an_open_websocket_is_closed_with_going_away(server, events, interface):
    srv = start(server, events, interface)
    with WsConn(srv.host, srv.port, timeout=20) as ws:
        ws.open('/ws?tag=ws')
        ws.send_text('hello')
        assert ws.recv_message() == (0x1, b'hello')
        started = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        frame = ws.recv_close(10)
        assert (frame.close_code, frame.close_reason) == (1001, 'going away')
        ws.send_close(1001)
        assert ws.wait_eof(10)
    stopped_cleanly(srv)
    assert time.monotonic() - started < 10, 'the session did not hold the stop for the graceful timeout'
    assert events.wait('ws end') == ('ws end close 1001' if interface == 'asgi' else 'ws end close')


@pytest.mark.parametrize('interface', ['asgi', 'rsgi'])
def test_an_open_websocket_over_http2_is_closed_with_going_away(server, events, interface):
    srv = start(server, events, interface)
    with H2Client(srv.host, srv.port, timeout=20, follow_graceful_goaway=True) as client:
        ws = WsOverH2(client, '/ws?tag=ws')
        assert ws.stream.status == 200
        ws.send(0x1, b'hello')
        assert ws.recv() == (0x1, b'hello')
        srv.send_signal(signal.SIGTERM)
        opcode, payload = ws.recv()
        assert (opcode, payload) == (0x8, struct.pack('!H', 1001) + b'going away')
        ws.send(0x8, struct.pack('!H', 1001))
        client.wait_for(lambda: client.eof, 10, 'the connection to close')
    stopped_cleanly(srv)
    assert events.wait('ws end') == ('ws end close 1001' if interface == 'asgi' else 'ws end close')


def test_idle_connections_are_closed_long_before_the_graceful_timeout(server, events):
    srv = start(server, events, 'rsgi')  # graceful timeout: 30 s
    h1 = Conn(srv.host, srv.port, timeout=20)
    h2 = H2Client(srv.host, srv.port, timeout=20, follow_graceful_goaway=True)
    try:
        assert h1.request(get('/?tag=h1')).status == 200
        assert h2.get('/?tag=h2').status == 200
        started = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        assert h1.wait_closed(10), 'the idle HTTP/1.1 connection stayed open'
        h2.wait_for(lambda: h2.eof, 10, 'the idle HTTP/2 connection to close')
        assert h2.goaway is not None, 'HTTP/2 gets a GOAWAY first'
        stopped_cleanly(srv)
        assert time.monotonic() - started < 10
    finally:
        h1.close()
        h2.close()


def connection_refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_new_connections_are_refused_once_the_stop_began(server, events):
    srv = start(server, events, 'rsgi', '--workers', '2', workers=2)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(srv.get, '/sleep', params={'secs': 2, 'tag': 'a'}, timeout=20)
        events.wait('a start')
        srv.send_signal(signal.SIGTERM)
        srv.wait_for_log('Shutting down granian')
        deadline = time.monotonic() + 5
        while not connection_refused(srv.host, srv.port):
            assert time.monotonic() < deadline, 'new connections are still accepted during the stop'
            time.sleep(0.05)
        assert srv.alive(), 'refused while the in-flight request is still being served'
        resp = pending.result(timeout=20)
    assert (resp.status_code, resp.text) == (200, 'slept')
    stopped_cleanly(srv)


def test_django_posts_in_flight_at_the_stop_are_answered_without_task_warnings(server):
    srv = server('django_asgi_proj.asgi:application', '--interface', 'asgi')
    body = b'name=drain'
    request = (
        b'POST /form/ HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n'
        b'content-length: %d\r\n\r\n%s' % (len(body), body)
    )
    conns = [Conn(srv.host, srv.port, timeout=20) for _ in range(10)]
    try:
        # Accepted by the worker first: a connection still in the listen queue at the stop is
        # never accepted.
        for conn in conns:
            assert conn.request(get('/json/1/')).status == 200
        for conn in conns:
            conn.send(request)
        srv.send_signal(signal.SIGTERM)
        for conn in conns:
            resp = conn.read_response()
            assert resp.status == 200, resp
            assert b'"name": "drain"' in resp.body
    finally:
        for conn in conns:
            conn.close()
    stopped_cleanly(srv)


def test_a_kill_timeout_not_above_the_graceful_timeout_is_warned_about(server, events):
    srv = start(server, events, 'rsgi', '--workers-kill-timeout', '5', '--graceful-timeout', '10')
    srv.wait_for_log(r'--workers-kill-timeout \(5s\) is not larger than --graceful-timeout \(10s\)')
    assert srv.stop() == 0
