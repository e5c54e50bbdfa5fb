"""Connection timeouts, end to end: `--keep-alive-timeout` (idle connections are closed) and
`--write-timeout` (a client that accepts no bytes is dropped, and its app told; over HTTP/2 so
is a stream whose flow-control window stays shut, while the connection serves on).

The keep-alive server uses 1 s, the write-timeout servers 1 s; every wait for the server to act
is polled with a deadline several times longer. The only timing checked is that an idle
connection (or a stuck stream) is not closed long *before* its timeout (a correctness bound, not
a speed one).
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid

import h2.errors
import httpx
import hyperframe.frame as hf
import pytest

from e2e.h2_support import H2Client, RawH2
from e2e.test_websocket_h2 import WsOverH2
from e2e.tls_support import client_context, tls_args, tls_files  # noqa: F401  (fixture)
from e2e.wire import Conn, get, narrow_socket
from e2e.ws_support import OP_PING, OP_TEXT, WsConn, build_frame

GiB = 1 << 30
MiB = 1 << 20
#: Deadline of every wait for the server (a timeout of 1 s plus a generous margin for slow CI).
WITHIN = 15.0
#: How long a second request may take while a stuck one is being cut (it is served at once).
SERVE_WITHIN = 3.0


# --- keep-alive timeout -------------------------------------------------------------------------


@pytest.fixture(scope='module')
def idle_srv(module_server):
    return module_server('h2_apps:rsgi_app', '--interface', 'rsgi', '--keep-alive-timeout', '1')


@pytest.fixture(scope='module')
def ws_idle_srv(module_server):
    # No server pings: nothing moves on a quiet WebSocket.
    return module_server('ws_rsgi:app', '--interface', 'rsgi', '--keep-alive-timeout', '1', '--ws-ping-interval', '0')


@pytest.fixture(scope='module')
def ws_h2_idle_srv(module_server):
    return module_server(
        'ws_h2_echo:rsgi_app',
        '--interface',
        'rsgi',
        '--http',
        '2',
        '--keep-alive-timeout',
        '1',
        '--ws-ping-interval',
        '0',
    )


def closed_after(conn: Conn) -> float:
    """Seconds until the server closed `conn` (asserts it did within `WITHIN`)."""
    started = time.monotonic()
    assert conn.wait_closed(WITHIN), 'the idle connection was not closed'
    return time.monotonic() - started


def test_an_idle_http1_connection_is_closed(idle_srv):
    with Conn(idle_srv.host, idle_srv.port) as conn:
        assert conn.request(get('/')).status == 200
        assert conn.request(get('/')).status == 200, 'kept alive between requests'
        assert closed_after(conn) >= 0.8


def test_a_connection_that_never_sends_a_request_is_closed(idle_srv):
    with Conn(idle_srv.host, idle_srv.port) as conn:
        assert closed_after(conn) >= 0.8


def test_an_idle_http2_connection_gets_goaway(idle_srv):
    with RawH2(idle_srv.host, idle_srv.port) as raw:
        raw.send(hf.HeadersFrame(1, raw.header_block('/'), flags=['END_HEADERS', 'END_STREAM']).serialize())
        raw.read(WITHIN, until=lambda f: isinstance(f, hf.DataFrame) and 'END_STREAM' in f.flags)
        started = time.monotonic()
        raw.wait_closed(WITHIN)
        assert time.monotonic() - started >= 0.8
        assert raw.goaway is not None, 'closed without GOAWAY'
        assert raw.goaway.error_code == h2.errors.ErrorCodes.NO_ERROR
        # Then the connection ends (the server's PING that waits a round trip is not answered here).
        raw.read(WITHIN)
        assert raw.eof, 'the connection stayed open after its GOAWAY'


def test_a_request_in_progress_is_never_idle(idle_srv):
    # A response 2.5 timeouts late, over HTTP/1.1 and HTTP/2.
    with Conn(idle_srv.host, idle_srv.port) as conn:
        resp = conn.request(get('/sleep?secs=2.5'))
        assert (resp.status, resp.body) == (200, b'slept')
    with H2Client(idle_srv.host, idle_srv.port) as client:
        stream = client.get('/sleep?secs=2.5')
        assert (stream.status, bytes(stream.data)) == (200, b'slept')
        assert client.goaway is None


def test_a_streamed_response_with_long_pauses_is_never_idle(idle_srv):
    expected = b'chunk-0\nchunk-1\nchunk-2\n'
    with Conn(idle_srv.host, idle_srv.port) as conn:
        resp = conn.request(get('/pause_stream?n=3&gap=1.5'))
        assert (resp.status, resp.body) == (200, expected)
    with H2Client(idle_srv.host, idle_srv.port) as client:
        stream = client.get('/pause_stream?n=3&gap=1.5')
        assert (stream.status, bytes(stream.data)) == (200, expected)
        assert client.goaway is None


def test_a_slow_upload_is_never_idle(idle_srv):
    body = b'0123456789'
    with Conn(idle_srv.host, idle_srv.port) as conn:
        conn.send(b'POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n' + body[:5])
        time.sleep(2.5)
        conn.send(body[5:])
        resp = conn.read_response()
        assert resp.status == 200
        assert json.loads(resp.body)['len'] == 10


def test_a_quiet_websocket_is_never_idle(ws_idle_srv):
    with WsConn(ws_idle_srv.host, ws_idle_srv.port) as ws:
        ws.open('/echo')
        assert ws.idle(2.5), 'the upgraded connection was closed'
        ws.send_text('still here')
        assert ws.recv_message() == (OP_TEXT, b'still here')


def test_a_quiet_websocket_over_http2_holds_its_connection(ws_h2_idle_srv):
    with H2Client(ws_h2_idle_srv.host, ws_h2_idle_srv.port) as client:
        ws = WsOverH2(client)
        assert ws.recv()[0] == 0x1  # the app's greeting
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            client.pump(0.1)
        assert client.goaway is None and not client.eof
        ws.send(0x1, b'still here')
        assert ws.recv() == (0x1, b'still here')


def test_zero_turns_the_keep_alive_timeout_off(server):
    srv = server('h2_apps:rsgi_app', '--interface', 'rsgi', '--keep-alive-timeout', '0')
    with Conn(srv.host, srv.port) as conn:
        assert conn.request(get('/')).status == 200
        assert conn.idle(2.5), 'closed although the timeout is off'
        assert conn.request(get('/')).status == 200
    with H2Client(srv.host, srv.port) as client:
        assert client.get('/').status == 200
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            client.pump(0.1)
        assert client.goaway is None and not client.eof


# --- write timeout ------------------------------------------------------------------------------

WRITE_APPS = {
    'rsgi': ('h2_apps:rsgi_app', 'rsgi'),
    'asgi': ('h2_apps:asgi_app', 'asgi'),
    'wsgi': ('h2_wsgi:app', 'wsgi'),
}


@pytest.fixture(scope='module', params=list(WRITE_APPS))
def write_srv(request, module_server):
    target, interface = WRITE_APPS[request.param]
    return module_server(target, '--interface', interface, '--write-timeout', '1', '--access-log')


def app_state(srv, tag: str) -> dict:
    """What the app recorded for `tag` (read by another client: the server serves it meanwhile)."""
    with httpx.Client(base_url=srv.url, timeout=5.0) as client:
        return client.get('/state', params={'tag': tag}).json()


def wait_app_error(srv, tag: str) -> dict:
    """The app's record for `tag` once its response failed (the server told it its client left)."""
    deadline = time.monotonic() + WITHIN
    while True:
        state = app_state(srv, tag)
        progress = state['progress']
        if progress and progress['error']:
            return progress
        if time.monotonic() > deadline:
            raise AssertionError(f'the app was never told its client left: {state}')
        time.sleep(0.1)


def drain(sock: socket.socket) -> int:
    """Read until the server closed (EOF or reset); returns the bytes read."""
    total = 0
    deadline = time.monotonic() + WITHIN
    sock.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:
            continue
        except OSError:
            return total
        if not data:
            return total
        total += len(data)
    raise AssertionError(f'the connection stayed open ({total} bytes read)')


def test_an_http1_client_that_stops_reading_is_dropped(write_srv):
    tag = f'h1-{uuid.uuid4().hex}'
    with narrow_socket(write_srv.host, write_srv.port) as sock:
        sock.sendall(get(f'/produce?tag={tag}&total={GiB}'))
        # Never read: once the socket is full, the server's writes wait, then time out.
        progress = wait_app_error(write_srv, tag)
        assert not progress['done']
        assert drain(sock) < GiB
    # The response was cut: logged like any response whose client left.
    write_srv.wait_for_log(r'"GET /produce HTTP/1.1" 200')
    assert write_srv.alive()


def test_an_http2_client_that_stops_reading_is_dropped(write_srv):
    tag = f'h2-{uuid.uuid4().hex}'
    sock = narrow_socket(write_srv.host, write_srv.port)
    # Flow control never holds the server back: only the socket does.
    with H2Client(
        write_srv.host, write_srv.port, sock=sock, initial_window=2**31 - 1, connection_window=2**31 - 1
    ) as client:
        client.wait_settings()
        client.request('GET', f'/produce?tag={tag}&total={GiB}')
        progress = wait_app_error(write_srv, tag)
        assert not progress['done']
        assert drain(sock) < GiB
    write_srv.wait_for_log(r'"GET /produce HTTP/2" 200')


def test_an_http2_stream_whose_window_stays_shut_is_cut(write_srv):
    """A client that reads its socket (the connection is healthy: SETTINGS and PINGs are answered)
    but never gives a stream any flow-control window (INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE):
    hyper holds the body back, its queue fills up and the app's next send has to wait. It waits
    the write timeout at most: then the stream is reset, the app is told its client left, and
    the connection and the server serve on."""
    tag = f'h2-window-{uuid.uuid4().hex}'
    logged = r'"GET /produce HTTP/2" 200'
    before = len(re.findall(logged, write_srv.log()))
    with H2Client(write_srv.host, write_srv.port, auto_ack=False, initial_window=0) as client:
        client.wait_settings()
        started = time.monotonic()
        stuck = client.request('GET', f'/produce?tag={tag}&total={8 * MiB}')
        stream = client.response(stuck, WITHIN)
        assert time.monotonic() - started >= 0.8, 'cut before the write timeout'
        assert stream.reset == h2.errors.ErrorCodes.CANCEL, stream
        assert not stream.ended and not stream.data
        progress = wait_app_error(write_srv, tag)
        # As for any client that left: RSGI's and ASGI's send raised, WSGI closed the iterable.
        assert progress['error'] in ('RSGIProtocolClosed', 'ClientDisconnected', 'closed'), progress
        assert not progress['done']
        assert progress['sent'] < 8 * MiB
        # Another stream of the same connection, given some window, is served at once.
        other = client.request('GET', '/info')
        client.conn.increment_flow_control_window(1 << 16, stream_id=other)
        client.flush()
        answer = client.response(other, SERVE_WITHIN)
        assert (answer.status, answer.ended) == (200, True)
        assert json.loads(bytes(answer.data))
        assert client.goaway is None and not client.eof
    # A fresh connection too; the cut response is logged like one whose client left.
    started = time.monotonic()
    with httpx.Client(base_url=write_srv.url, http1=False, http2=True, timeout=SERVE_WITHIN) as fresh:
        assert fresh.get('/info').status_code == 200
    assert time.monotonic() - started < SERVE_WITHIN
    write_srv.wait_for_log(logged, count=before + 1)
    assert write_srv.alive()


def test_a_tls_client_that_stops_reading_is_dropped(server, tls_files):  # noqa: F811
    srv = server('h2_apps:rsgi_app', '--interface', 'rsgi', '--write-timeout', '1', *tls_args(tls_files))
    for alpn in ('http/1.1', 'h2'):
        tag = f'tls-{alpn}-{uuid.uuid4().hex}'
        ctx = client_context(tls_files, alpn=[alpn])
        sock = ctx.wrap_socket(narrow_socket(srv.host, srv.port), server_hostname=srv.host)
        if alpn == 'h2':
            client = H2Client(srv.host, srv.port, sock=sock, initial_window=2**31 - 1, connection_window=2**31 - 1)
            client.wait_settings()
            client.request('GET', f'/produce?tag={tag}&total={GiB}')
        else:
            sock.sendall(get(f'/produce?tag={tag}&total={GiB}'))
        with httpx.Client(base_url=f'https://{srv.host}:{srv.port}', verify=client_context(tls_files)) as other:
            deadline = time.monotonic() + WITHIN
            while not (progress := other.get('/state', params={'tag': tag}).json()['progress'] or {}).get('error'):
                assert time.monotonic() < deadline, f'{alpn}: the app was never told its client left'
                time.sleep(0.1)
        assert not progress['done']
        assert drain(sock) < GiB
        sock.close()


def test_a_slow_reader_that_keeps_reading_is_served_whole(server):
    """Progress, however slow, is not a stall: 4 MiB read in small sips over more than the timeout."""
    srv = server('h2_apps:rsgi_app', '--interface', 'rsgi', '--write-timeout', '1')
    total = 4 << 20
    with narrow_socket(srv.host, srv.port) as sock:
        sock.sendall(get(f'/produce?tag=slow&total={total}'))
        received = b''
        started = time.monotonic()
        sock.settimeout(5.0)
        while b'0\r\n\r\n' not in received[-16:]:
            data = sock.recv(64 * 1024)
            assert data, f'closed after {len(received)} bytes'
            received += data
            if time.monotonic() - started < 2.0:
                time.sleep(0.05)
        assert received.startswith(b'HTTP/1.1 200 OK')
    assert app_state(srv, 'slow')['progress'] == {'sent': total, 'done': True, 'error': None}


# --- WebSocket pings nobody reads -----------------------------------------------------------------


@pytest.fixture(scope='module')
def ws_write_srv(module_server):
    return module_server('ws_rsgi:app', '--interface', 'rsgi', '--write-timeout', '1')


def test_a_websocket_peer_flooding_pings_without_reading_is_dropped(ws_write_srv):
    srv = ws_write_srv
    key = uuid.uuid4().hex
    with WsConn(srv.host, srv.port, rcvbuf=4096) as ws:
        ws.open(f'/echo?key={key}')
        # 2000 pings of 124 bytes each, sent over and over: their pongs are never read.
        flood = b''.join(build_frame(OP_PING, i.to_bytes(4, 'big') * 31) for i in range(2000))
        sent = 0
        ws.sock.settimeout(3.0)
        deadline = time.monotonic() + WITHIN
        try:
            while time.monotonic() < deadline and sent < 256 << 20:
                ws.sock.sendall(flood)
                sent += len(flood)
        except (TimeoutError, OSError):
            pass  # the server stopped reading us, or dropped us already
        assert ws.wait_closed(WITHIN), 'the flooding peer is still connected'
    # The app saw its WebSocket close; another client is served meanwhile.
    deadline = time.monotonic() + WITHIN
    while (resp := srv.get('/last', params={'key': key})).status_code == 404:
        assert time.monotonic() < deadline, 'the app never saw the connection end'
        time.sleep(0.1)
    assert resp.json()['kind'] == 0


def test_a_websocket_over_http2_whose_window_stays_shut_is_dropped(module_server):
    """Over HTTP/2 the stream's flow control, not the socket, holds the pongs back: a client that
    reads the socket but never gives the stream more window is dropped by the session itself
    (the app sees its WebSocket end)."""
    srv = module_server('ws_rsgi:app', '--interface', 'rsgi', '--write-timeout', '1', '--ws-ping-interval', '0')
    key = uuid.uuid4().hex
    with H2Client(srv.host, srv.port, auto_ack=False) as client:
        ws = WsOverH2(client, f'/echo?key={key}')
        assert ws.stream.status == 200
        for _ in range(600):  # ~76 KB of pongs owed, beyond the 64 KiB window
            ws.send(OP_PING, bytes(125))
        deadline = time.monotonic() + WITHIN
        while (resp := srv.get('/last', params={'key': key})).status_code == 404:
            assert time.monotonic() < deadline, 'the app never saw its WebSocket end'
            client.pump(0.1)
        assert resp.json()['kind'] == 0
