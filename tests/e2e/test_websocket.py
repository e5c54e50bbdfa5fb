"""WebSockets end to end: ASGI (`websocket` scope, accept/close/denial, errors), RSGI (`proto ==
'ws'`), `--no-ws` / `GRANIAN_WEBSOCKETS`, WSGI, the `--ws-*` limits, RFC 6455 framing rules seen
on the wire, permessage-deflate, and many concurrent sessions.

Apps: `tests/apps/ws_asgi.py` and `tests/apps/ws_rsgi.py` (their docstrings list the routes).
What an app saw after the client left is stored in the worker and read back over HTTP
(`GET /last?key=K`), polled with a deadline. Clients: `websockets` (sync API, asyncio API for
the concurrency test) and the hand-made frames of `e2e/ws_support.py` for what a well-behaved
client never sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import time
import uuid

import pytest
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame as LibFrame
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.streams import StreamReader
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect

from e2e import tls_support
from e2e.tls_support import client_context, tls_args
from e2e.wire import Conn
from e2e.ws_support import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WsConn,
    accept_for,
    apply_mask,
    build_frame,
    close_payload,
    parse_close,
    parse_frame,
    upgrade_request,
)

tls_files = tls_support.tls_files

ASGI_APP = 'ws_asgi:app'
RSGI_APP = 'ws_rsgi:app'
#: `--ws-max-message-size` of the limits server.
MAX_SIZE = 1000
#: Bound for one client-side wait (handshake, one message, a close).
WAIT = 5.0


# --- servers ---------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def asgi_srv(module_server):
    return module_server(ASGI_APP, '--interface', 'asgi')


@pytest.fixture(scope='module')
def rsgi_srv(module_server):
    return module_server(RSGI_APP, '--interface', 'rsgi')


@pytest.fixture(scope='module')
def limits_srv(module_server):
    """ASGI echo with a small message limit and fast server pings."""
    return module_server(
        ASGI_APP,
        '--interface',
        'asgi',
        '--ws-max-message-size',
        str(MAX_SIZE),
        '--ws-ping-interval',
        '0.2',
        '--ws-ping-timeout',
        '0.5',
    )


# --- client helpers --------------------------------------------------------------------------


def ws_url(srv, path: str, scheme: str = 'ws') -> str:
    return f'{scheme}://{srv.host}:{srv.port}{path}'


def connect(srv, path: str, scheme: str = 'ws', **kwargs) -> ClientConnection:
    """A `websockets` sync client on `path`; never through a proxy, every wait bounded."""
    kwargs.setdefault('open_timeout', WAIT)
    kwargs.setdefault('close_timeout', WAIT)
    kwargs.setdefault('proxy', None)
    return sync_connect(ws_url(srv, path, scheme), **kwargs)


def rejected(srv, path: str, **kwargs) -> Response:
    """The HTTP response of a handshake the server must refuse (anything but 101)."""
    with pytest.raises(InvalidStatus) as info:
        with connect(srv, path, **kwargs):
            pass
    return info.value.response


def closed_by_server(ws: ClientConnection, timeout: float = WAIT) -> ConnectionClosed:
    """Read until the server ends the session; return the `ConnectionClosed` the client saw."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    return info.value


def new_key() -> str:
    return uuid.uuid4().hex


def wait_record(srv, key: str, timeout: float = 10.0) -> dict:
    """Poll `GET /last?key=K` until the app stored something for `key`."""
    deadline = time.monotonic() + timeout
    while True:
        resp = srv.get(f'/last?key={key}')
        if resp.status_code == 200:
            return resp.json()
        assert resp.status_code == 404, (resp.status_code, resp.text)
        if time.monotonic() > deadline:
            raise AssertionError(f'nothing recorded for {key!r} within {timeout}s; log:\n{srv.log()}')
        time.sleep(0.02)


def assert_echoes(srv, path: str = '/echo', **kwargs) -> None:
    """A new session on `path` echoes text and bytes (the server still serves)."""
    with connect(srv, path, **kwargs) as ws:
        ws.send('still here')
        assert ws.recv(timeout=WAIT) == 'still here'
        ws.send(b'\x00bytes')
        assert ws.recv(timeout=WAIT) == b'\x00bytes'


def raw_open(srv, path: str = '/echo') -> WsConn:
    conn = WsConn(srv.host, srv.port, timeout=WAIT)
    conn.open(path)
    return conn


# --- the raw-frame helper, checked against itself and against `websockets` --------------------


def lib_parse(data: bytes, mask: bool) -> LibFrame:
    """Parse one frame with the `websockets` library's own reader."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = LibFrame.parse(reader.read_exact, mask=mask)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError('websockets wanted more bytes than the frame has')


@pytest.mark.parametrize('size', [0, 1, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize('mask', [True, False], ids=['masked', 'unmasked'])
def test_helper_frame_roundtrip(size, mask):
    payload = bytes(i % 251 for i in range(size))
    data = build_frame(OP_BINARY, payload, mask=mask, fin=False, rsv=5)
    frame, rest = parse_frame(data + b'tail')
    assert rest == b'tail'
    assert (frame.fin, frame.rsv, frame.opcode, frame.masked, frame.payload) == (False, 5, OP_BINARY, mask, payload)
    # Every strict prefix is incomplete.
    for cut in {0, 1, 2, 3, 5, 9, len(data) - 1}:
        if 0 <= cut < len(data):
            assert parse_frame(data[:cut]) is None


@pytest.mark.parametrize('size', [0, 5, 126, 70000])
def test_helper_frames_agree_with_websockets(size):
    payload = os.urandom(size)
    # Ours (masked, as a client sends) read by websockets as a server would.
    parsed = lib_parse(build_frame(OP_BINARY, payload), mask=True)
    assert (parsed.opcode, parsed.fin, parsed.data) == (Opcode.BINARY, True, payload)
    # websockets' (unmasked, as a server sends) read by ours.
    text = ('é' * size).encode()
    frame, rest = parse_frame(LibFrame(Opcode.TEXT, text, fin=False).serialize(mask=False))
    assert rest == b''
    assert (frame.opcode, frame.fin, frame.masked, frame.rsv, frame.payload) == (OP_TEXT, False, False, 0, text)


def test_helper_close_ping_and_key():
    # RFC 6455 section 1.3 example.
    assert accept_for('dGhlIHNhbXBsZSBub25jZQ==') == 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    assert parse_close(close_payload(4321, 'bye é')) == (4321, 'bye é')
    assert parse_close(close_payload(None)) == (None, '')
    frame, _ = parse_frame(build_frame(OP_CLOSE, close_payload(1000, 'x'), mask_key=b'\x01\x02\x03\x04'))
    assert (frame.close_code, frame.close_reason) == (1000, 'x')
    parsed = lib_parse(build_frame(OP_PING, b'ping!'), mask=True)
    assert (parsed.opcode, parsed.data) == (Opcode.PING, b'ping!')
    assert apply_mask(apply_mask(b'hello world', b'abcd'), b'abcd') == b'hello world'
    request = upgrade_request('/p?q=1', key='k', omit=('sec-websocket-version',))
    assert request.startswith(b'GET /p?q=1 HTTP/1.1\r\n') and request.endswith(b'\r\n\r\n')
    assert b'Sec-WebSocket-Key: k\r\n' in request and b'Sec-WebSocket-Version' not in request


# --- ASGI: scope and handshake ---------------------------------------------------------------


def test_asgi_scope(asgi_srv):
    with connect(
        asgi_srv, '/scope?x=1&y=%20z', subprotocols=['chat', 'other'], additional_headers={'X-Custom': 'Val'}
    ) as ws:
        scope = json.loads(ws.recv(timeout=WAIT))
        local_port = ws.local_address[1]
    assert scope['type'] == 'websocket'
    assert scope['scheme'] == 'ws'
    assert scope['path'] == '/scope'
    assert scope['query_string'] == 'x=1&y=%20z'
    assert scope['query_string_type'] == 'bytes'
    assert scope['asgi']['version'] == '3.0'
    # 2.5: websocket.disconnect carries the close reason (the spec version we implement).
    assert scope['asgi']['spec_version'] == '2.5', scope['asgi']
    assert scope['header_types'] == ['bytes,bytes']
    assert ['x-custom', 'Val'] in scope['headers']
    names = {name for name, _ in scope['headers']}
    assert {'sec-websocket-key', 'sec-websocket-version', 'upgrade'} <= names
    assert scope['subprotocols'] == ['chat', 'other']
    assert scope['subprotocols_types'] == ['str']
    assert 'websocket.http.response' in scope['extensions']
    assert scope['client'][0] == '127.0.0.1' and int(scope['client'][1]) == local_port
    assert scope['server'][0] == '127.0.0.1' and int(scope['server'][1]) == asgi_srv.port
    assert {'type', 'asgi', 'scheme', 'path', 'query_string', 'headers', 'subprotocols'} <= set(scope['keys'])


def test_asgi_first_message_is_connect(asgi_srv):
    with connect(asgi_srv, '/scope') as ws:
        scope = json.loads(ws.recv(timeout=WAIT))
    assert scope['first_message'] == {'type': 'websocket.connect'}


def test_asgi_no_subprotocols_offered_is_empty_list(asgi_srv):
    with connect(asgi_srv, '/scope') as ws:
        scope = json.loads(ws.recv(timeout=WAIT))
        assert ws.subprotocol is None
    assert scope['subprotocols'] == []


def test_asgi_accept_subprotocol_and_headers(asgi_srv):
    with connect(asgi_srv, '/accept-extras', subprotocols=['superchat', 'chat']) as ws:
        assert ws.response.status_code == 101
        assert ws.subprotocol == 'chat'
        assert ws.response.headers['Sec-WebSocket-Protocol'] == 'chat'
        assert ws.response.headers['x-extra'] == '1'
        ws.send('after extras')
        assert ws.recv(timeout=WAIT) == 'after extras'


def test_raw_handshake_response(asgi_srv):
    with raw_open(asgi_srv) as conn:
        resp = conn.handshake_response
        assert resp.version == 'HTTP/1.1'
        assert (resp.header('upgrade') or '').lower() == 'websocket'
        assert 'upgrade' in (resp.header('connection') or '').lower()
        # Nothing offered, nothing negotiated.
        assert resp.header('sec-websocket-extensions') is None
        assert resp.header('sec-websocket-protocol') is None
        conn.send_text('raw hello')
        frame = conn.recv_non_ping()
        # Server frames are never masked (RFC 6455 section 5.1).
        assert (frame.opcode, frame.fin, frame.masked, frame.rsv) == (OP_TEXT, True, False, 0)
        assert frame.payload == b'raw hello'


# --- ASGI: messages and close ----------------------------------------------------------------


def test_asgi_echo_text_and_bytes(asgi_srv):
    messages = ['hello', '', 'caf\u00e9 \U0001f600', b'\x00\x01\xff', b'', bytes(range(256)), 'x' * 70000]
    with connect(asgi_srv, '/echo') as ws:
        for message in messages:
            ws.send(message)
            got = ws.recv(timeout=WAIT)
            assert type(got) is type(message)
            assert got == message


def test_asgi_echo_keeps_order(asgi_srv):
    with connect(asgi_srv, '/echo') as ws:
        for i in range(50):
            ws.send(f'm{i}')
        assert [ws.recv(timeout=WAIT) for _ in range(50)] == [f'm{i}' for i in range(50)]


def test_client_ping_is_answered(asgi_srv):
    with connect(asgi_srv, '/echo', ping_interval=None) as ws:
        pong = ws.ping(b'are you there')
        assert pong.wait(WAIT), 'no pong for the client ping'
        ws.send('after ping')
        assert ws.recv(timeout=WAIT) == 'after ping'


def test_asgi_close_after_accept(asgi_srv):
    with connect(asgi_srv, '/close-after-accept') as ws:
        closed = closed_by_server(ws)
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (4001, 'bye')


def test_asgi_disconnect_code_reaches_app(asgi_srv):
    key = new_key()
    with connect(asgi_srv, f'/echo?key={key}') as ws:
        ws.send('one')
        assert ws.recv(timeout=WAIT) == 'one'
        ws.close(code=4321, reason='client bye')
    record = wait_record(asgi_srv, key)
    assert record['type'] == 'websocket.disconnect'
    assert record['code'] == 4321
    # ASGI HTTP/WebSocket spec 2.5: the disconnect event carries the client's close reason.
    assert record['reason'] == 'client bye'


def test_asgi_close_before_accept_is_403(asgi_srv):
    resp = rejected(asgi_srv, '/close-before-accept')
    assert resp.status_code == 403
    assert resp.body == b''
    assert_echoes(asgi_srv)


def test_asgi_unknown_route_is_refused(asgi_srv):
    assert rejected(asgi_srv, '/no-such-route').status_code == 403


def test_asgi_denial_response(asgi_srv):
    resp = rejected(asgi_srv, '/deny')
    assert resp.status_code == 401
    assert resp.body == b'nope'
    assert resp.headers['x-denied'] == 'yes'
    assert resp.headers['content-type'] == 'text/plain'


def test_asgi_raise_after_accept_is_1011(asgi_srv):
    token = new_key()
    with connect(asgi_srv, f'/raise-after-accept?token={token}') as ws:
        closed = closed_by_server(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1011, closed
    asgi_srv.wait_for_log(rf'Traceback[\s\S]*RuntimeError: ws-boom-after-accept-{token}')
    assert_echoes(asgi_srv)


def test_asgi_raise_before_accept_is_500(asgi_srv):
    token = new_key()
    assert rejected(asgi_srv, f'/raise-before-accept?token={token}').status_code == 500
    asgi_srv.wait_for_log(rf'Traceback[\s\S]*RuntimeError: ws-boom-before-accept-{token}')
    assert_echoes(asgi_srv)


def test_asgi_http_still_served_next_to_websockets(asgi_srv):
    resp = asgi_srv.get('/plain')
    assert resp.status_code == 200
    assert resp.text == 'http GET /plain'


def test_wss_scheme_over_tls(server, tls_files):
    # The asyncio client, not the sync one: against every TLS server tried (uvicorn with
    # OpenSSL, Granian 2.8.7, ours) about one sync `wss://` handshake in a few hundred times
    # out waiting for the 101, while the asyncio client passes thousands in a row. (The sync
    # client reads its TLS socket on one thread while writing the request from another.)
    srv = server(ASGI_APP, '--interface', 'asgi', *tls_args(tls_files))

    async def session() -> dict:
        async with aconnect(
            ws_url(srv, '/scope', 'wss'),
            ssl=client_context(tls_files),
            open_timeout=WAIT,
            close_timeout=WAIT,
            proxy=None,
        ) as ws:
            scope = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            await ws.send('secure echo')
            assert await asyncio.wait_for(ws.recv(), WAIT) == 'secure echo'
        return scope

    scope = asyncio.run(session())
    assert scope['scheme'] == 'wss'
    assert scope['type'] == 'websocket'


# --- RSGI ------------------------------------------------------------------------------------


def test_rsgi_scope(rsgi_srv):
    with connect(rsgi_srv, '/scope?a=1&b=%20c', additional_headers={'X-Custom': 'Val'}) as ws:
        scope = json.loads(ws.recv(timeout=WAIT))
        local_port = ws.local_address[1]
    assert scope['proto'] == 'ws'
    assert scope['rsgi_version'] == '1.6'
    assert scope['http_version'] == '1.1'
    assert scope['method'] == 'GET'
    assert scope['scheme'] == 'http'
    assert scope['path'] == '/scope'
    assert scope['query_string'] == 'a=1&b=%20c'
    assert scope['server'] == f'127.0.0.1:{rsgi_srv.port}'
    assert scope['client'] == f'127.0.0.1:{local_port}'
    assert set(scope['types'].values()) == {'str'}
    assert ['x-custom', 'Val'] in scope['headers']


def test_rsgi_echo_text_and_bytes(rsgi_srv):
    messages = ['hello', '', 'caf\u00e9 \U0001f600', b'\x00\x01\xff', b'', bytes(range(256)), b'y' * 70000]
    with connect(rsgi_srv, '/echo') as ws:
        for message in messages:
            ws.send(message)
            got = ws.recv(timeout=WAIT)
            assert type(got) is type(message)
            assert got == message


@pytest.mark.parametrize(('query', 'status'), [('', 403), ('?status=403', 403), ('?status=401', 401)])
def test_rsgi_close_before_accept_sets_http_status(rsgi_srv, query, status):
    assert rejected(rsgi_srv, f'/close-before{query}').status_code == status
    assert_echoes(rsgi_srv)


def test_rsgi_return_without_accept_is_403(rsgi_srv):
    assert rejected(rsgi_srv, '/no-accept').status_code == 403
    assert_echoes(rsgi_srv)


def test_rsgi_close_after_accept_sends_close_frame(rsgi_srv):
    with connect(rsgi_srv, '/close-after') as ws:
        assert ws.recv(timeout=WAIT) == 'closing'
        closed = closed_by_server(ws)
    assert closed.rcvd is not None, closed


def test_rsgi_return_after_accept_closes(rsgi_srv):
    with connect(rsgi_srv, '/accept-return') as ws:
        assert ws.recv(timeout=WAIT) == 'hi'
        closed = closed_by_server(ws)
    assert closed.rcvd is not None, closed


def test_rsgi_client_close_is_kind_0(rsgi_srv):
    key = new_key()
    with connect(rsgi_srv, f'/echo?key={key}') as ws:
        ws.send('x')
        assert ws.recv(timeout=WAIT) == 'x'
        ws.close(code=4321)
    assert wait_record(rsgi_srv, key)['kind'] == 0


def test_rsgi_receive_after_close_raises_protocol_closed(rsgi_srv):
    key = new_key()
    with connect(rsgi_srv, f'/echo?key={key}') as ws:
        ws.close()
    assert 'ProtocolClosed' in wait_record(rsgi_srv, key)['second_receive']


def test_rsgi_malformed_upgrade_is_400(rsgi_srv):
    with Conn(rsgi_srv.host, rsgi_srv.port, timeout=WAIT) as conn:
        resp = conn.request(upgrade_request('/echo', omit=('Sec-WebSocket-Key',)))
    assert resp.status == 400, (resp.status, resp.body)
    assert_echoes(rsgi_srv)


# --- modes: --no-ws, GRANIAN_WEBSOCKETS, WSGI ---------------------------------------------------


@pytest.mark.parametrize(
    ('interface', 'args', 'env'),
    [
        ('asgi', ['--no-ws'], None),
        ('asgi', [], {'GRANIAN_WEBSOCKETS': 'false'}),
        ('rsgi', ['--no-ws'], None),
    ],
    ids=['asgi-flag', 'asgi-env', 'rsgi-flag'],
)
def test_websockets_disabled_serves_plain_http(server, interface, args, env):
    target = ASGI_APP if interface == 'asgi' else RSGI_APP
    srv = server(target, '--interface', interface, *args, env=env)
    resp = rejected(srv, '/echo')
    assert resp.status_code == 200
    assert resp.body == b'http GET /echo'
    with Conn(srv.host, srv.port, timeout=WAIT) as conn:
        raw = conn.request(upgrade_request('/echo'))
    assert raw.status == 200
    assert raw.body == b'http GET /echo'
    assert raw.header('sec-websocket-accept') is None


def test_wsgi_never_upgrades(server):
    srv = server('wsgi_basic:app', '--interface', 'wsgi')
    resp = rejected(srv, '/hello')
    assert resp.status_code == 200
    assert resp.body == b'Hello, World!'
    with Conn(srv.host, srv.port, timeout=WAIT) as conn:
        raw = conn.request(upgrade_request('/hello'))
    assert raw.status == 200
    assert raw.body == b'Hello, World!'


# --- limits: --ws-max-message-size, --ws-ping-interval, --ws-ping-timeout -----------------------


@pytest.mark.parametrize('kind', ['text', 'bytes'])
def test_message_of_max_size_passes(limits_srv, kind):
    message = 'a' * MAX_SIZE if kind == 'text' else b'b' * MAX_SIZE
    with connect(limits_srv, '/echo', compression=None, max_size=None) as ws:
        ws.send(message)
        assert ws.recv(timeout=WAIT) == message


@pytest.mark.parametrize('kind', ['text', 'bytes'])
def test_message_over_max_size_is_1009(limits_srv, kind):
    message = 'a' * (MAX_SIZE + 1) if kind == 'text' else b'b' * (MAX_SIZE + 1)
    with connect(limits_srv, '/echo', compression=None, max_size=None) as ws:
        ws.send('small')
        assert ws.recv(timeout=WAIT) == 'small'
        ws.send(message)
        closed = closed_by_server(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1009, closed


def test_fragmented_message_over_max_size_is_1009(limits_srv):
    """Each fragment is small; the message they make is not."""
    part = MAX_SIZE // 2 - 100
    with raw_open(limits_srv) as conn:
        conn.send_frame(OP_TEXT, b'a' * part, fin=False)
        conn.send_frame(OP_CONT, b'a' * part, fin=False)
        conn.send_frame(OP_CONT, b'a' * part, fin=True)
        frame = conn.recv_close()
    assert frame.close_code == 1009, frame


def test_unanswered_pings_drop_the_connection(limits_srv):
    with raw_open(limits_srv) as conn:
        opcodes = []
        dropped = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                frame = conn.recv_frame(timeout=max(0.01, deadline - time.monotonic()))
            except EOFError:
                dropped = True
                break
            except TimeoutError:
                break
            opcodes.append(frame.opcode)  # never answered
    assert OP_PING in opcodes, opcodes
    assert dropped, f'still connected after 10s; frames seen: {opcodes}'


def frames_within(conn, seconds: float) -> list[int]:
    """Opcodes of the frames that arrive within `seconds` (none answered); EOF fails."""
    opcodes = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            opcodes.append(conn.recv_frame(timeout=left).opcode)
        except TimeoutError:
            break
    return opcodes


def test_ping_interval_0_sends_no_pings(server):
    srv = server(ASGI_APP, '--interface', 'asgi', '--ws-ping-interval', '0', '--ws-ping-timeout', '0.2')
    with raw_open(srv) as conn:
        # 0 means "none", not a zero-length interval (which would ping without pause) nor a
        # ping timeout that drops the silent client.
        assert frames_within(conn, 1.0) == []
        conn.send_text('still here')
        assert conn.recv_message() == (OP_TEXT, b'still here')


def test_ping_timeout_0_never_drops_a_silent_peer(server):
    srv = server(ASGI_APP, '--interface', 'asgi', '--ws-ping-interval', '0.2', '--ws-ping-timeout', '0')
    with raw_open(srv) as conn:
        # Pings are sent but never answered: with no timeout the connection stays.
        assert OP_PING in frames_within(conn, 1.5)
        conn.send_text('still here')
        assert conn.recv_message() == (OP_TEXT, b'still here')


def test_answered_pings_keep_the_connection(limits_srv):
    """The client answers server pings (automatically) and sends none itself."""
    with connect(limits_srv, '/echo', ping_interval=None) as ws:
        ws.send('before')
        assert ws.recv(timeout=WAIT) == 'before'
        # Idle for several ping intervals (and longer than the ping timeout): nothing may arrive.
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.5)
        ws.send('after')
        assert ws.recv(timeout=WAIT) == 'after'


def test_busy_app_is_not_mistaken_for_a_dead_peer(limits_srv):
    """An app that does not receive for longer than the ping timeout, while its client keeps
    sending (and answering pings), keeps the connection: the unread pongs were our delay."""
    with connect(limits_srv, '/slow-echo?pause=1.5', ping_interval=None) as ws:
        messages = [f'm{i}' for i in range(40)]
        for message in messages:
            ws.send(message)
        assert [ws.recv(timeout=WAIT) for _ in messages] == messages


# --- RFC 6455 on the wire (raw frames to the ASGI echo) ----------------------------------------


def test_fragmented_text_is_one_message(asgi_srv):
    text = 'h\u00e9llo, fragmented w\u00f6rld'.encode()
    cut1 = text.index(b'\xc3') + 1  # split inside the two bytes of the first character
    cut2 = len(text) - 4
    with raw_open(asgi_srv) as conn:
        conn.send_frame(OP_TEXT, text[:cut1], fin=False)
        conn.send_frame(OP_CONT, text[cut1:cut2], fin=False)
        conn.send_frame(OP_CONT, text[cut2:], fin=True)
        assert conn.recv_message() == (OP_TEXT, text)


def test_fragmented_binary_is_one_message(asgi_srv):
    data = os.urandom(3000)
    with raw_open(asgi_srv) as conn:
        conn.send_frame(OP_BINARY, data[:1000], fin=False)
        conn.send_frame(OP_CONT, data[1000:2000], fin=False)
        conn.send_frame(OP_CONT, data[2000:], fin=True)
        assert conn.recv_message() == (OP_BINARY, data)


def test_ping_between_fragments(asgi_srv):
    with raw_open(asgi_srv) as conn:
        conn.send_frame(OP_TEXT, b'first half, ', fin=False)
        conn.send_frame(OP_PING, b'ping-payload')
        conn.send_frame(OP_CONT, b'second half', fin=True)
        pong = None
        message = None
        parts: list[bytes] = []
        deadline = time.monotonic() + WAIT
        while pong is None or message is None:
            frame = conn.recv_frame(timeout=max(0.01, deadline - time.monotonic()))
            if frame.opcode == OP_PONG:
                pong = frame
            elif frame.opcode == OP_PING:
                conn.send_frame(OP_PONG, frame.payload)
            else:
                assert frame.opcode in (OP_TEXT, OP_CONT), frame
                parts.append(frame.payload)
                if frame.fin:
                    message = b''.join(parts)
    assert pong.payload == b'ping-payload'
    assert pong.fin and not pong.masked
    assert message == b'first half, second half'


@pytest.mark.parametrize(
    'payload',
    [b'\xff', b'abc\xc3', b'\xed\xa0\x80', b'ok \xc0\xaf'],
    ids=['invalid-byte', 'truncated', 'surrogate', 'overlong'],
)
def test_invalid_utf8_text_is_1007(asgi_srv, payload):
    with raw_open(asgi_srv) as conn:
        conn.send_frame(OP_TEXT, payload)
        frame = conn.recv_close()
        assert frame.close_code == 1007, frame


def test_invalid_utf8_across_fragments_is_1007(asgi_srv):
    with raw_open(asgi_srv) as conn:
        conn.send_frame(OP_TEXT, b'abc\xc3', fin=False)
        conn.send_frame(OP_CONT, b'(', fin=True)  # 0x28 cannot continue a two-byte sequence
        frame = conn.recv_close()
        assert frame.close_code == 1007, frame


VIOLATIONS = {
    'unmasked-frame': [build_frame(OP_TEXT, b'hi', mask=False)],
    'continuation-without-start': [build_frame(OP_CONT, b'hi')],
    'rsv1-without-extension': [build_frame(OP_TEXT, b'hi', rsv=4)],
    'rsv3-set': [build_frame(OP_BINARY, b'hi', rsv=1)],
    'fragmented-ping': [build_frame(OP_PING, b'x', fin=False)],
    'ping-over-125-bytes': [build_frame(OP_PING, b'x' * 126)],
    'new-message-inside-fragmented-one': [build_frame(OP_TEXT, b'a', fin=False), build_frame(OP_TEXT, b'b')],
    'close-with-1-byte-body': [build_frame(OP_CLOSE, b'\x03')],
}


def fail_connection(srv, frames: list[bytes]) -> int:
    """Sends `frames`, returns the close code the server fails the connection with; checks that
    it then ends the TCP connection and keeps serving others."""
    with raw_open(srv) as conn:
        conn.send(b''.join(frames))
        frame = conn.recv_close()
        with contextlib.suppress(OSError):
            conn.send_close(1002)
        assert conn.wait_eof(WAIT), 'the server kept the TCP connection open after failing it'
    assert_echoes(srv)
    return frame.close_code


@pytest.mark.parametrize('opcode', [0x3, 0xB], ids=['reserved-data-opcode', 'reserved-control-opcode'])
def test_reserved_opcode_fails_the_connection(asgi_srv, opcode):
    # The framing layer (yawc) answers an unknown opcode with 1003 ("unsupported data");
    # RFC 6455 only requires failing the connection.
    assert fail_connection(asgi_srv, [build_frame(opcode, b'')]) in (1002, 1003)


@pytest.mark.parametrize('frames', list(VIOLATIONS.values()), ids=list(VIOLATIONS))
def test_protocol_violation_is_1002(asgi_srv, frames):
    with raw_open(asgi_srv) as conn:
        conn.send(b''.join(frames))
        frame = conn.recv_close()
        assert frame.close_code == 1002, frame
        with contextlib.suppress(OSError):
            conn.send_close(1002)
        assert conn.wait_eof(WAIT), 'the server kept the TCP connection open after failing it'
    assert_echoes(asgi_srv)


def test_client_initiated_close_handshake(asgi_srv):
    key = new_key()
    with raw_open(asgi_srv, f'/echo?key={key}') as conn:
        conn.send_text('before close')
        assert conn.recv_message() == (OP_TEXT, b'before close')
        conn.send_close(1000, 'done')
        frame = conn.recv_close()
        assert frame.close_code == 1000, frame
        assert not frame.masked
        assert conn.wait_eof(WAIT), 'TCP not closed after the closing handshake'
        assert conn.buf == b'', f'bytes after the close frame: {conn.buf[:60]!r}'
    record = wait_record(asgi_srv, key)
    assert (record['type'], record['code']) == ('websocket.disconnect', 1000)


def test_server_initiated_close_handshake(asgi_srv):
    with raw_open(asgi_srv, '/close-after-accept') as conn:
        frame = conn.recv_close()
        assert (frame.close_code, frame.close_reason) == (4001, 'bye')
        assert not frame.masked and frame.fin
        with contextlib.suppress(OSError):
            conn.send_close(4001)
        assert conn.wait_eof(WAIT), 'TCP not closed after the closing handshake'


def test_close_frame_raw_body_layout(asgi_srv):
    """The close frame carries the 2-byte code in network order, then the UTF-8 reason."""
    with raw_open(asgi_srv, '/close-after-accept') as conn:
        frame = conn.recv_close()
    assert frame.payload == struct.pack('!H', 4001) + b'bye'


# --- permessage-deflate ----------------------------------------------------------------------


def extensions_header(ws: ClientConnection) -> str:
    return ', '.join(ws.response.headers.get_all('Sec-WebSocket-Extensions'))


def test_permessage_deflate_negotiated_and_echoes(asgi_srv):
    with connect(asgi_srv, '/echo') as ws:  # websockets offers permessage-deflate by default
        assert 'permessage-deflate' in extensions_header(ws)
        big = 'a' * 100_000
        for _ in range(3):  # several messages: the compression context carries over
            ws.send(big)
            assert ws.recv(timeout=WAIT) == big
        data = b'0123456789abcdef' * 8192
        ws.send(data)
        assert ws.recv(timeout=WAIT) == data
        ws.send('small after big')
        assert ws.recv(timeout=WAIT) == 'small after big'


def test_no_compression_offered_no_extension(asgi_srv):
    with connect(asgi_srv, '/echo', compression=None) as ws:
        assert extensions_header(ws) == ''
        big = 'a' * 100_000
        ws.send(big)
        assert ws.recv(timeout=WAIT) == big


# --- many sessions at once -------------------------------------------------------------------


def test_500_concurrent_sessions(asgi_srv):
    url = ws_url(asgi_srv, '/echo')

    async def session(i: int) -> int:
        async with aconnect(
            url, open_timeout=30, close_timeout=10, ping_interval=None, compression=None, proxy=None
        ) as ws:
            for j in range(5):
                message = f'session {i} message {j}'
                await ws.send(message)
                assert await ws.recv() == message
        return i

    async def run_all() -> list:
        return await asyncio.wait_for(asyncio.gather(*(session(i) for i in range(500)), return_exceptions=True), 60)

    results = asyncio.run(run_all())
    failures = [repr(r) for r in results if not isinstance(r, int)]
    assert not failures, f'{len(failures)} of 500 sessions failed, e.g. {failures[:5]}'
    assert sorted(results) == list(range(500))
    assert_echoes(asgi_srv)
