"""The message and argument shapes real apps use, end to end, for ASGI, RSGI and WSGI.

Written from the specs (ASGI "HTTP & WebSocket ASGI Message Format" and its extensions, the RSGI
spec in /work/shared/spec/RSGI.md, PEP 3333) and from the quickstart apps of the public server's
README: headers as a list of lists, as tuples, as a generator, with bytearray / memoryview
items; bodies and statuses of every allowed type; optional keys left out; duplicate and ordered
response headers; what happens to messages after the response completed; WebSocket accept,
denial and close messages.

One server per interface for the whole module (`tests/apps/spec_{asgi,rsgi,wsgi}.py`); HTTP
checks run over HTTP/1.1 (raw socket, so header order and duplicates are seen as sent) and over
cleartext HTTP/2 (prior knowledge) where the route is plain HTTP.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import h2.exceptions
import pytest

from e2e.h2_support import H2Client
from e2e.wire import Conn, get
from e2e.ws_support import OP_CLOSE, OP_TEXT, WsConn, upgrade_request

APPS = Path(__file__).resolve().parent.parent / 'apps'
PROTOS = ['h1', 'h2']

#: The headers every `/shape/...` route sends, in this order, as the client must see them.
EXPECTED_HEADERS = [
    ('content-type', 'text/plain'),
    ('x-one', '1'),
    ('set-cookie', 'a=1; Path=/'),
    ('set-cookie', 'b=2; Path=/'),
    ('x-order', 'first'),
    ('x-order', 'second'),
    ('x-two', '2'),
]
ASGI_SHAPES = [
    'list_of_tuples',
    'list_of_lists',
    'tuple_of_lists',
    'tuple_of_tuples',
    'generator',
    'bytearray',
    'memoryview',
    'mixed',
]
RSGI_SHAPES = ['tuples', 'lists']
WSGI_SHAPES = ['tuples', 'lists']


@pytest.fixture(scope='module')
def asgi_srv(module_server):
    return module_server('spec_asgi:app', '--interface', 'asgi')


@pytest.fixture(scope='module')
def rsgi_srv(module_server):
    return module_server('spec_rsgi:app', '--interface', 'rsgi')


@pytest.fixture(scope='module')
def wsgi_srv(module_server):
    return module_server('spec_wsgi:app', '--interface', 'wsgi')


@pytest.fixture(scope='module')
def asgi_quickstart(module_server):
    # `--interface asgi` runs lifespan: the quickstart app fails its assert on that scope and
    # must be served without lifespan.
    return module_server('spec_asgi:quickstart', '--interface', 'asgi')


@pytest.fixture(scope='module')
def rsgi_quickstart(module_server):
    return module_server('spec_rsgi:quickstart', '--interface', 'rsgi')


@dataclass
class Reply:
    status: int
    #: (lower-case name, value) in the order received.
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def fetch(srv, path: str, proto: str = 'h1', method: str = 'GET') -> Reply:
    """One request on a fresh connection, over HTTP/1.1 (raw socket) or cleartext HTTP/2."""
    if proto == 'h1':
        with Conn(srv.host, srv.port) as conn:
            resp = conn.request(get(path, method=method), head_request=method == 'HEAD')
        return Reply(resp.status, resp.headers, resp.body)
    with H2Client(srv.host, srv.port) as client:
        stream = client.response(client.request(method, path))
    assert stream.reset is None, f'stream reset with code {stream.reset}'
    headers = [
        (name.decode('latin-1').lower(), value.decode('latin-1'))
        for name, value in stream.headers or ()
        if not name.startswith(b':')
    ]
    return Reply(stream.status, headers, bytes(stream.data))


def app_headers(headers, expected=EXPECTED_HEADERS) -> list[tuple[str, str]]:
    """The response headers whose names the app set, in the order received."""
    names = {name for name, _ in expected}
    return [(name, value) for name, value in headers if name in names]


def assert_shaped_headers(reply: Reply) -> None:
    assert reply.status == 200, (reply.status, reply.body[:300])
    # Names and values as given, duplicates kept (two set-cookie lines, never joined), order kept.
    assert app_headers(reply.headers) == EXPECTED_HEADERS, reply.headers


def app_state(srv, tag, timeout=5.0, predicate=lambda state: state is not None):
    """What the app recorded under `tag` (`/state?tag=T`), polled until `predicate` holds."""
    deadline = time.monotonic() + timeout
    while True:
        reply = fetch(srv, f'/state?tag={tag}')
        assert reply.status == 200, reply
        state = json.loads(reply.body)['state']
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f'app state {tag!r} still {state!r} after {timeout}s')
        time.sleep(0.05)


# --- the quickstart apps --------------------------------------------------------------------------


@pytest.mark.parametrize('proto', PROTOS)
def test_asgi_quickstart_headers_as_list_of_lists(asgi_srv, proto):
    reply = fetch(asgi_srv, '/hello', proto)
    assert reply.status == 200, reply
    assert reply.header('content-type') == 'text/plain'
    assert reply.body == b'Hello, world!'


@pytest.mark.parametrize('proto', PROTOS)
def test_asgi_quickstart_app_alone(asgi_quickstart, proto):
    reply = fetch(asgi_quickstart, '/', proto)
    assert reply.status == 200, reply
    assert reply.header('content-type') == 'text/plain'
    assert reply.body == b'Hello, world!'


@pytest.mark.parametrize('proto', PROTOS)
def test_rsgi_quickstart_app_alone(rsgi_quickstart, proto):
    reply = fetch(rsgi_quickstart, '/', proto)
    assert reply.status == 200, reply
    assert reply.header('content-type') == 'text/plain'
    assert reply.body == b'Hello, world!'


@pytest.mark.parametrize('path', ['/hello', '/hello-lists', '/hello-kwargs', '/hello-kwargs-lists'])
@pytest.mark.parametrize('proto', PROTOS)
def test_rsgi_quickstart_response_str(rsgi_srv, proto, path):
    reply = fetch(rsgi_srv, path, proto)
    assert reply.status == 200, reply
    assert reply.header('content-type') == 'text/plain'
    assert reply.body == b'Hello, world!'


@pytest.mark.parametrize('proto', PROTOS)
def test_wsgi_pep3333_hello_world(wsgi_srv, proto):
    reply = fetch(wsgi_srv, '/hello', proto)
    assert reply.status == 200, reply
    assert reply.header('content-type') == 'text/plain'
    assert reply.body == b'Hello, world!\n'


# --- every response path with every allowed header shape ----------------------------------------


@pytest.mark.parametrize('shape', ASGI_SHAPES)
@pytest.mark.parametrize('route', ['body', 'stream', 'pathsend'])
@pytest.mark.parametrize('proto', PROTOS)
def test_asgi_response_header_shapes(asgi_srv, proto, route, shape):
    reply = fetch(asgi_srv, f'/shape/{route}?shape={shape}', proto)
    assert_shaped_headers(reply)
    expected = {
        'body': b'shaped body',
        'stream': b'one;two;three;',
        'pathsend': (APPS / 'spec_asgi.py').read_bytes(),
    }[route]
    assert reply.body == expected


@pytest.mark.parametrize('shape', ASGI_SHAPES)
def test_asgi_websocket_accept_header_shapes_subprotocol_and_close(asgi_srv, shape):
    with WsConn(asgi_srv.host, asgi_srv.port) as ws:
        head = ws.open(f'/ws/accept?shape={shape}', headers={'Sec-WebSocket-Protocol': 'chat, superchat'})
        assert head.header('sec-websocket-protocol') == 'chat', head.headers
        assert head.header('x-ws') == 'yes', head.headers
        assert head.header_all('set-cookie') == ['ws=1', 'ws=2'], head.headers
        ws.send_text('hi')
        assert ws.recv_message() == (OP_TEXT, b'echo hi')
        close = ws.recv_close()
        assert (close.close_code, close.close_reason) == (4001, 'bye now')
        ws.send_close(4001)


@pytest.mark.parametrize('shape', ASGI_SHAPES)
def test_asgi_websocket_denial_response_header_shapes(asgi_srv, shape):
    """`websocket.http.response.start` / `.body` (the denial-response extension) answer the
    upgrade request with any HTTP response, headers in any allowed shape, body in two parts."""
    with Conn(asgi_srv.host, asgi_srv.port) as conn:
        resp = conn.request(upgrade_request(f'/ws/deny?shape={shape}'))
    assert resp.status == 401, (resp.status, resp.headers, resp.body)
    expected = [('content-type', 'text/plain'), ('x-denied', '1'), ('x-denied', '2')]
    assert app_headers(resp.headers, expected) == expected, resp.headers
    assert resp.body == b'denied: no token'
    assert resp.header('sec-websocket-accept') is None


@pytest.mark.parametrize('shape', RSGI_SHAPES)
@pytest.mark.parametrize('kind', ['bytes', 'str', 'empty', 'file', 'file_range', 'stream'])
@pytest.mark.parametrize('proto', PROTOS)
def test_rsgi_response_header_shapes(rsgi_srv, proto, kind, shape):
    reply = fetch(rsgi_srv, f'/shape/{kind}?shape={shape}', proto)
    assert_shaped_headers(reply)
    source = (APPS / 'spec_rsgi.py').read_bytes()
    expected = {
        'bytes': b'shaped bytes',
        'str': b'shaped str',
        'empty': b'',
        'file': source,
        'file_range': source[:10],
        'stream': b'one;two;three;',
    }[kind]
    assert reply.body == expected


@pytest.mark.parametrize('shape', RSGI_SHAPES)
@pytest.mark.parametrize('kind', ['bytes', 'str', 'empty', 'file', 'stream'])
def test_rsgi_response_methods_by_keyword(rsgi_srv, kind, shape):
    # Parameter names of the spec: status, headers, body / file.
    reply = fetch(rsgi_srv, f'/kwargs/{kind}?shape={shape}')
    assert_shaped_headers(reply)
    expected = {
        'bytes': b'shaped bytes',
        'str': b'shaped str',
        'empty': b'',
        'file': (APPS / 'spec_rsgi.py').read_bytes(),
        'stream': b'one;two;three;',
    }[kind]
    assert reply.body == expected


@pytest.mark.parametrize('kind', ['bytearray', 'memoryview'])
def test_rsgi_response_bytes_with_other_bytes_like(rsgi_srv, kind):
    # The spec: response_bytes takes `body` as "any bytes-like".
    reply = fetch(rsgi_srv, f'/bytes-like?kind={kind}')
    assert (reply.status, reply.body) == (200, b'bytes-like body')


def test_rsgi_status_httpstatus(rsgi_srv):
    reply = fetch(rsgi_srv, '/status-enum')
    assert (reply.status, reply.body) == (201, b'created')


def test_rsgi_websocket_accept_echo_close(rsgi_srv):
    # RSGI's accept() and close() take no headers: this only checks the WebSocket path works on
    # the same server as the header-shape routes.
    with WsConn(rsgi_srv.host, rsgi_srv.port) as ws:
        ws.open('/ws')
        ws.send_text('hi')
        assert ws.recv_message() == (OP_TEXT, b'echo hi')
        close = ws.recv_close()
        assert close.opcode == OP_CLOSE
        assert close.close_code == 1000


@pytest.mark.parametrize('shape', WSGI_SHAPES)
@pytest.mark.parametrize('kind', ['iterable', 'generator', 'write'])
@pytest.mark.parametrize('proto', PROTOS)
def test_wsgi_response_header_shapes(wsgi_srv, proto, kind, shape):
    reply = fetch(wsgi_srv, f'/shape/{kind}?shape={shape}', proto)
    assert_shaped_headers(reply)
    expected = {'iterable': b'iterable body', 'generator': b'generated body', 'write': b'written then returned'}[kind]
    assert reply.body == expected


@pytest.mark.parametrize('proto', PROTOS)
def test_asgi_headers_as_dict_items(asgi_srv, proto):
    # The spec types headers as Iterable[[byte string, byte string]]: any iterable of pairs.
    reply = fetch(asgi_srv, '/dict-items', proto)
    assert reply.status == 200, reply
    assert app_headers(reply.headers, [('content-type', ''), ('x-dict', '')]) == [
        ('content-type', 'text/plain'),
        ('x-dict', '1'),
    ]
    assert reply.body == b'from dict items'


@pytest.mark.parametrize(
    ('srv_name', 'path'),
    [
        ('asgi_srv', '/shape/body?shape=list_of_lists'),
        ('asgi_srv', '/shape/stream?shape=list_of_lists'),
        ('asgi_srv', '/shape/pathsend?shape=list_of_lists'),
        ('rsgi_srv', '/shape/str?shape=lists'),
        ('rsgi_srv', '/shape/file?shape=lists'),
        ('rsgi_srv', '/shape/stream?shape=lists'),
        ('wsgi_srv', '/shape/write?shape=lists'),
    ],
)
@pytest.mark.parametrize('proto', PROTOS)
def test_head_response_keeps_headers_and_has_no_body(request, srv_name, path, proto):
    srv = request.getfixturevalue(srv_name)
    if proto == 'h2':
        try:
            reply = fetch(srv, path, 'h2', method='HEAD')
        except h2.exceptions.InvalidBodyLengthError as exc:
            # The h2 library expects no DATA at all on the response to a HEAD request.
            raise AssertionError(f'the HEAD response over HTTP/2 carried body bytes ({exc})') from None
        assert_shaped_headers(reply)
        assert reply.body == b''
        return
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get(path, method='HEAD'), head_request=True)
        assert_shaped_headers(Reply(resp.status, resp.headers, b''))
        # Had any body bytes followed the head, this next response would not parse.
        again = conn.request(get(path))
        assert again.status == 200, again
        assert conn.idle(0.1)


# --- ASGI: bodies, statuses, optional and extra keys ----------------------------------------------


@pytest.mark.parametrize('kind', ['bytes', 'bytearray', 'memoryview'])
@pytest.mark.parametrize('stream', ['0', '1'])
@pytest.mark.parametrize('proto', PROTOS)
def test_asgi_body_types(asgi_srv, proto, kind, stream):
    reply = fetch(asgi_srv, f'/body?kind={kind}&stream={stream}', proto)
    assert reply.status == 200, reply
    assert reply.body == (b'first;second' if stream == '1' else b'typed body')


@pytest.mark.parametrize(('kind', 'status'), [('int', 201), ('enum', 201), ('enum418', 418)])
@pytest.mark.parametrize('proto', PROTOS)
def test_asgi_status_int_and_httpstatus(asgi_srv, proto, kind, status):
    reply = fetch(asgi_srv, f'/status?kind={kind}', proto)
    assert reply.status == status, reply
    assert reply.body == f'status {kind}'.encode()


@pytest.mark.parametrize('proto', PROTOS)
def test_asgi_start_without_headers_and_body_without_more_body(asgi_srv, proto):
    reply = fetch(asgi_srv, '/minimal', proto)
    assert reply.status == 200, reply
    assert reply.body == b'minimal'


@pytest.mark.parametrize('proto', PROTOS)
def test_asgi_body_message_without_body_key(asgi_srv, proto):
    reply = fetch(asgi_srv, '/no-body-key', proto)
    assert reply.status == 200, reply
    assert reply.header('x-empty') == 'yes'
    assert reply.body == b''


@pytest.mark.parametrize('proto', PROTOS)
def test_asgi_extra_keys_in_messages_are_accepted(asgi_srv, proto):
    # ASGI: "presence of additional keys in the event dict should not raise an exception".
    reply = fetch(asgi_srv, '/extra-keys', proto)
    assert reply.status == 200, reply
    assert reply.body == b'extra keys ignored'


@pytest.mark.parametrize('stream', ['0', '1'])
def test_asgi_app_transfer_encoding_header_is_ignored(asgi_srv, stream):
    """ASGI: an app "may send a Transfer-Encoding header ..., but the server must ignore it":
    the framing stays the server's, so the body parses and the connection stays usable."""
    with Conn(asgi_srv.host, asgi_srv.port) as conn:
        resp = conn.request(get(f'/te-header?stream={stream}'))
        assert resp.status == 200, resp
        assert resp.body == (b'te streamed' if stream == '1' else b'te single')
        assert len(resp.header_all('transfer-encoding')) <= 1, resp.headers
        assert not (resp.header('transfer-encoding') and resp.header('content-length')), resp.headers
        again = conn.request(get('/minimal'))
        assert (again.status, again.body) == (200, b'minimal')


def test_asgi_extensions_advertised(asgi_srv):
    reply = fetch(asgi_srv, '/scope-ext')
    assert 'http.response.pathsend' in json.loads(reply.body)['extensions']
    with WsConn(asgi_srv.host, asgi_srv.port) as ws:
        ws.open('/ws/scope')
        opcode, payload = ws.recv_message()
    assert opcode == OP_TEXT
    assert 'websocket.http.response' in json.loads(payload)['extensions']


def test_asgi_websocket_close_before_accept_is_403(asgi_srv):
    with Conn(asgi_srv.host, asgi_srv.port) as conn:
        resp = conn.request(upgrade_request('/ws/refuse'))
    assert resp.status == 403, (resp.status, resp.headers)


# --- ASGI: after the response ---------------------------------------------------------------------


@pytest.mark.parametrize('extra', ['body', 'start'])
def test_asgi_messages_after_response_complete_are_ignored(asgi_srv, extra):
    """ASGI, Response Body: with `more_body` False "response will be taken as complete and
    closed, and any further messages on the channel will be ignored"."""
    tag = f'after-{extra}'
    with Conn(asgi_srv.host, asgi_srv.port) as conn:
        resp = conn.request(get(f'/after-complete?extra={extra}&tag={tag}'))
        assert resp.status == 200, resp
        assert resp.body == b'complete'
        # Nothing of the extra message reached the wire: the next response parses cleanly.
        again = conn.request(get('/minimal'))
        assert (again.status, again.body) == (200, b'minimal')
    assert app_state(asgi_srv, tag) == 'ok', 'send() of a message after the response completed raised'


def test_asgi_receive_after_response_is_http_disconnect(asgi_srv):
    """ASGI, Disconnect: "Sent to the application if receive is called after a response has
    been sent" (the client keeps its keep-alive connection open meanwhile)."""
    tag = 'disconnect-after'
    with Conn(asgi_srv.host, asgi_srv.port) as conn:
        resp = conn.request(
            f'POST /disconnect-after?tag={tag} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'.encode()
        )
        assert (resp.status, resp.body) == (200, b'done')
        assert app_state(asgi_srv, tag) == 'http.disconnect'
