"""ASGI 3 over HTTP, end to end: scope, request/response streaming, http.disconnect, pathsend,
lifespan, `--url-path-prefix`, and what happens when an app breaks the protocol.

The apps are in `tests/apps/asgi_*.py`; `asgi_basic` writes marker files into
`$ASGI_MARKER_DIR` for what a response cannot show (what the app saw after the client left).
"""

import hashlib
import json
import re
import signal
import time

import httpx
import pytest

from e2e.asgi_support import asgi, proc_status_kib, wait_for_marker, worker_pid
from e2e.wire import Conn, get

MiB = 1024 * 1024


@pytest.fixture(scope='module')
def markers(tmp_path_factory):
    return tmp_path_factory.mktemp('asgi-markers')


@pytest.fixture(scope='module')
def srv(module_server, markers):
    return asgi(module_server, env={'ASGI_MARKER_DIR': str(markers)})


@pytest.fixture
def fresh_markers(tmp_path):
    path = tmp_path / 'markers'
    path.mkdir()
    return path


def scope_of(srv, request_bytes):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(request_bytes)
        local_port = conn.sock.getsockname()[1]
    assert resp.status == 200, resp.body
    return json.loads(resp.body), local_port


def assert_still_serving(srv, pid_before=None):
    """The worker answers a normal request afterwards, and it is the same worker process."""
    resp = srv.get('/stream?n=2')
    assert resp.status_code == 200
    assert resp.text == 'chunk-0;chunk-1;'
    if pid_before is not None:
        assert worker_pid(srv) == pid_before
        assert len(re.findall(r'Spawning worker-', srv.log())) == 1, srv.log()


# --- scope -----------------------------------------------------------------------------------


def test_scope_http_fields(srv):
    request = (
        b'GET /scope/caf%C3%A9%20x/a%2Fb?a=1&b=%20c&u=caf%C3%A9 HTTP/1.1\r\n'
        b'Host: localhost\r\nX-Case: MixedValue\r\nX-Multi: one\r\nX-Other: mid\r\nx-multi: two\r\n\r\n'
    )
    scope, _ = scope_of(srv, request)
    assert scope['type'] == 'http'
    assert scope['asgi']['version'] == '3.0'
    assert scope['asgi']['spec_version'] == '2.5'
    assert scope['http_version'] == '1.1'
    assert scope['method'] == 'GET'
    assert scope['scheme'] == 'http'
    # path: percent-decoded into a UTF-8 str; raw_path: the bytes as received, no query.
    assert scope['path'] == '/scope/caf\u00e9 x/a/b'
    assert scope['path_type'] == 'str'
    assert scope['raw_path'] == '/scope/caf%C3%A9%20x/a%2Fb'
    assert scope['raw_path_type'] == 'bytes'
    # query_string: bytes, not decoded.
    assert scope['query_string'] == 'a=1&b=%20c&u=caf%C3%A9'
    assert scope['query_string_type'] == 'bytes'
    assert scope['root_path'] == ''


def test_scope_headers_lowercased_and_repeated_in_order(srv):
    request = (
        b'GET /scope HTTP/1.1\r\n'
        b'Host: localhost\r\nX-Case: MixedValue\r\nX-Multi: one\r\nX-Other: mid\r\nx-multi: two\r\n'
        b'X-MULTI: three\r\n\r\n'
    )
    scope, _ = scope_of(srv, request)
    assert scope['header_types'] == ['bytes,bytes']
    assert scope['header_pair_len'] == [2]
    headers = [tuple(pair) for pair in scope['headers']]
    # Names lower-cased, values untouched; every header kept, repeated values in arrival order
    # (the ASGI spec leaves the order across different names free).
    assert sorted(headers) == sorted(
        [
            ('host', 'localhost'),
            ('x-case', 'MixedValue'),
            ('x-multi', 'one'),
            ('x-other', 'mid'),
            ('x-multi', 'two'),
            ('x-multi', 'three'),
        ]
    )
    assert [value for name, value in headers if name == 'x-multi'] == ['one', 'two', 'three']


def test_scope_client_and_server_are_str_int_tuples(srv):
    scope, local_port = scope_of(srv, get('/scope'))
    assert scope['client'] == {'value': ['127.0.0.1', local_port], 'types': ['str', 'int'], 'container': 'tuple'}
    assert scope['server'] == {'value': ['127.0.0.1', srv.port], 'types': ['str', 'int'], 'container': 'tuple'}


def test_scope_http10_and_other_methods(srv):
    scope, _ = scope_of(srv, b'GET /scope HTTP/1.0\r\n\r\n')
    assert scope['http_version'] == '1.0'
    for method in ('PUT', 'DELETE', 'PATCH', 'OPTIONS'):
        scope, _ = scope_of(srv, get('/scope', method=method))
        assert scope['method'] == method


def test_scope_state_and_extensions(srv):
    scope, _ = scope_of(srv, get('/scope'))
    assert scope['has_state'] is True
    assert scope['state']['started'] == 'yes'
    assert 'http.response.pathsend' in scope['extensions']
    assert set(scope['keys']) >= {
        'type',
        'asgi',
        'http_version',
        'method',
        'scheme',
        'path',
        'raw_path',
        'query_string',
        'root_path',
        'headers',
        'client',
        'server',
        'state',
        'extensions',
    }


def test_lifespan_state_is_a_shallow_copy_per_request(srv):
    first = srv.get('/state').json()
    second = srv.get('/state').json()
    assert first['state']['started'] == 'yes'
    assert first['state']['pid'] == worker_pid(srv)
    # The lifespan scope names the lifespan spec's version, not the HTTP one.
    assert first['state']['lifespan_asgi'] == {'version': '3.0', 'spec_version': '2.0'}
    # A key a request sets on its copy never shows up in the next request's state.
    assert first['leaked'] is None
    assert second['leaked'] is None


def test_url_path_prefix_sets_root_path_and_keeps_full_path(server):
    srv = asgi(server, 'asgi_basic:app', '--url-path-prefix', '/pfx')
    scope = srv.get('/pfx/scope/x%20y', params={'q': '1'}).json()
    assert scope['root_path'] == '/pfx'
    assert scope['path'] == '/pfx/scope/x y'
    assert scope['raw_path'] == '/pfx/scope/x%20y'
    assert scope['query_string'] == 'q=1'


def test_asginl_skips_lifespan(server, fresh_markers):
    srv = asgi(server, interface='asginl', env={'ASGI_MARKER_DIR': str(fresh_markers)})
    scope = srv.get('/scope').json()
    assert scope['has_state'] is False
    assert srv.get('/state').json() == {'state': None}
    assert srv.stop() == 0
    assert not (fresh_markers / 'lifespan-startup').exists()
    assert not (fresh_markers / 'lifespan-shutdown').exists()


# --- request body ----------------------------------------------------------------------------


def test_small_body_in_one_event(srv):
    result = srv.post('/echo', content=b'hello').json()
    assert result == {'events': 1, 'size': 5, 'largest': 5, 'sha256': hashlib.sha256(b'hello').hexdigest()}


def test_no_body_is_one_empty_event(srv):
    result = srv.get('/echo').json()
    assert result['events'] == 1
    assert result['size'] == 0


def test_body_with_content_length_round_trips(srv):
    data = bytes(range(256)) * 4096 * 3  # 3 MiB
    resp = srv.post('/body', content=data)
    assert resp.status_code == 200
    assert resp.content == data


def test_large_chunked_upload_is_streamed_in_events_with_bounded_memory(server):
    """64 MiB sent chunked from a generator: many http.request events, worker memory stays flat."""
    srv = asgi(server)
    pid = worker_pid(srv)
    srv.get('/echo')  # warm up the request path before measuring
    rss_before = proc_status_kib(pid, 'VmRSS')
    hwm_before = proc_status_kib(pid, 'VmHWM')

    size = 64 * MiB
    piece = hashlib.sha256(b'seed').digest() * 2048  # 64 KiB
    digest = hashlib.sha256()

    def body():
        for _ in range(size // len(piece)):
            digest.update(piece)
            yield piece

    with srv.client(timeout=60) as client:
        resp = client.post('/echo', content=body())
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result['size'] == size
    assert result['sha256'] == digest.hexdigest()
    assert result['events'] >= 16, result
    assert result['largest'] <= 8 * MiB, result

    rss_after = proc_status_kib(pid, 'VmRSS')
    hwm_after = proc_status_kib(pid, 'VmHWM')
    # The whole body in memory would be >= 64 MiB; allow a small fraction of it.
    assert rss_after - rss_before < 16 * 1024, (rss_before, rss_after)
    assert hwm_after - hwm_before < 16 * 1024, (hwm_before, hwm_after)


# --- response --------------------------------------------------------------------------------


def test_streamed_response_with_more_body(srv):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/stream?n=6'))
    assert resp.status == 200
    assert resp.chunked
    assert resp.body == b''.join(f'chunk-{i};'.encode() for i in range(6))


def test_streamed_chunk_reaches_client_before_app_finishes(srv, tmp_path):
    gate = tmp_path / 'gate'
    with Conn(srv.host, srv.port, timeout=5) as conn:
        conn.send(get(f'/gated-stream?gate={gate}'))
        head = conn.read_head()
        assert head.status == 200
        # The app is blocked until the gate exists: the first chunk must already be here.
        while b'first' not in conn.buf:
            assert conn._fill(), 'connection closed before the first chunk'
        gate.touch()
        while not conn.buf.endswith(b'0\r\n\r\n'):
            assert conn._fill(), 'connection closed before the end of the body'
    assert b'last' in conn.buf
    assert b'gate-timeout' not in conn.buf


def test_response_status_and_repeated_headers_in_order(srv):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/headers'))
    assert resp.status == 201
    assert resp.header_all('x-rep') == ['1', '2']
    assert resp.header_all('set-cookie') == ['a=1', 'b=2']
    assert resp.body == b'created'


def test_pathsend_serves_a_file(srv, tmp_path):
    data = b''.join(hashlib.sha256(str(i).encode()).digest() for i in range(10000))  # 320000 bytes
    path = tmp_path / 'payload.bin'
    path.write_bytes(data)
    resp = srv.get('/pathsend', params={'path': str(path)})
    assert resp.status_code == 200
    assert resp.headers['x-served-by'] == 'pathsend'
    assert resp.headers['content-type'] == 'application/octet-stream'
    assert resp.content == data


# --- http.disconnect -------------------------------------------------------------------------


@pytest.fixture(scope='module')
def dsrv(module_server, markers):
    """A server only for the disconnect tests: its log must stay free of errors."""
    return asgi(module_server, env={'ASGI_MARKER_DIR': str(markers)})


def assert_no_error_logged(srv, since):
    """A client leaving is not an application error: an app that stopped because of it is not
    reported as one. `since`: log length when the test began (checked after a later request, so
    the finished request was logged already)."""
    log = srv.log()[since:]
    assert 'ERROR' not in log and 'Traceback' not in log, log


def read_some_then_leave(srv, path, at_least=1):
    """Start a streamed response, read `at_least` bytes of it, then close the connection."""
    with Conn(srv.host, srv.port, timeout=5) as conn:
        conn.send(get(path))
        head = conn.read_head()
        assert head.status == 200
        while len(conn.buf) < at_least:
            assert conn._fill(), 'closed by the server'


@pytest.mark.parametrize(
    ('route', 'expected'),
    [
        # Only send(): it must raise an OSError (ClientDisconnected) once the client left.
        ('send', r'oserror:ClientDisconnected:\d+'),
        # Only receive(): it must return http.disconnect once the client left.
        ('receive', r'disconnect:http\.request,http\.disconnect'),
        # Both, as frameworks do: either signal stops the producer.
        ('both', r'(disconnect|oserror):\d+'),
    ],
    ids=['send', 'receive', 'both'],
)
def test_streaming_app_stops_after_client_disconnects(dsrv, markers, route, expected):
    srv = dsrv
    pid = worker_pid(srv)
    since = len(srv.log())
    name = f'forever-{route}'
    read_some_then_leave(srv, f'/forever/{route}?marker={name}', at_least=5)
    started = time.monotonic()
    text = wait_for_marker(markers, name, timeout=10)
    assert re.fullmatch(expected, text), text
    # "As soon as": well within the app's own 30 s bound.
    assert time.monotonic() - started < 3
    assert_still_serving(srv, pid)
    assert_no_error_logged(srv, since)


def test_long_poll_receive_returns_disconnect_when_client_leaves(dsrv, markers):
    """No response started, body fully read: the next receive() waits, then gets http.disconnect."""
    srv = dsrv
    pid = worker_pid(srv)
    since = len(srv.log())
    name = 'long-poll'
    with Conn(srv.host, srv.port, timeout=5) as conn:
        conn.send(get(f'/long-poll?marker={name}'))
        assert conn.idle(0.3), 'the server answered a request the app never answered'
        assert not (markers / name).exists()
    started = time.monotonic()
    assert wait_for_marker(markers, name) == 'http.request,http.disconnect'
    assert time.monotonic() - started < 3
    assert_still_serving(srv, pid)
    assert_no_error_logged(srv, since)


def test_abandoned_upload_gives_http_disconnect(dsrv, markers):
    """The client sends part of a chunked body and leaves: receive() returns http.disconnect."""
    srv = dsrv
    pid = worker_pid(srv)
    since = len(srv.log())
    name = 'abandoned-upload'
    head = f'POST /long-poll?marker={name} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n'
    with Conn(srv.host, srv.port, timeout=5) as conn:
        conn.send(head.encode() + b'5\r\nhello\r\n')
        assert conn.idle(0.3)
        conn.send(b'5\r\nworld\r\n')
        assert conn.idle(0.3)
    started = time.monotonic()
    text = wait_for_marker(markers, name)
    assert re.fullmatch(r'(http\.request\+more,)+http\.disconnect', text), text
    assert time.monotonic() - started < 3
    assert_still_serving(srv, pid)
    assert_no_error_logged(srv, since)


# --- lifespan --------------------------------------------------------------------------------


def test_lifespan_startup_failure_exits_nonzero_with_the_app_message(server):
    srv = asgi(server, 'asgi_lifespan_fail:app', ready=None)
    rc = srv.wait(timeout=20)
    assert rc != 0
    assert 'cannot reach the flux capacitor (code 8812)' in srv.log()
    assert 'Started worker-1' not in srv.log()
    srv.assert_no_orphans()


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_lifespan_shutdown_runs_on_stop_signal(server, fresh_markers, signum):
    srv = asgi(server, env={'ASGI_MARKER_DIR': str(fresh_markers)})
    pid = worker_pid(srv)
    assert (fresh_markers / 'lifespan-startup').read_text() == str(pid)
    assert srv.get('/state').json()['state']['started'] == 'yes'
    assert not (fresh_markers / 'lifespan-shutdown').exists()
    assert srv.stop(signum) == 0
    assert (fresh_markers / 'lifespan-shutdown').read_text() == str(pid)
    srv.assert_no_orphans()


def test_app_without_lifespan_support_is_served_quietly(server):
    srv = asgi(server, 'asgi_no_lifespan:app')
    resp = srv.get('/')
    assert resp.status_code == 200
    assert resp.text == 'no-lifespan ok'
    assert srv.stop() == 0
    log = srv.log()
    assert 'ERROR' not in log and 'Traceback' not in log and 'NotImplementedError' not in log, log


# --- misbehaving apps ------------------------------------------------------------------------


def test_exception_before_start_is_500_with_traceback(srv):
    pid = worker_pid(srv)
    resp = srv.get('/error/before-start')
    assert resp.status_code == 500
    srv.wait_for_log(r'Traceback[\s\S]*RuntimeError: boom-before-start')
    assert_still_serving(srv, pid)


@pytest.mark.parametrize('route', ['after-start', 'after-start-chunked'])
def test_exception_after_start_closes_the_connection(srv, route):
    """Headers are out: the body must be cut (no clean end), never passed off as complete."""
    pid = worker_pid(srv)
    with Conn(srv.host, srv.port, timeout=5) as conn:
        conn.send(get(f'/error/{route}'))
        head = conn.read_head()
        assert head.status == 200
        assert conn.wait_closed(5), 'the server kept the connection open'
        body = conn.buf
    assert b'partial-' in body
    if head.chunked:
        assert not body.endswith(b'0\r\n\r\n'), body
    else:
        assert int(head.header('content-length')) == 100
        assert len(body) < 100, body
    srv.wait_for_log(rf'RuntimeError: boom-{route}\n')
    assert_still_serving(srv, pid)


def test_exception_right_after_start_never_looks_complete(srv):
    """Raising before the head could be flushed: no response at all, or a cut one; never a clean one."""
    pid = worker_pid(srv)
    with Conn(srv.host, srv.port, timeout=5) as conn:
        conn.send(get('/error/right-after-start'))
        assert conn.wait_closed(5), 'the server kept the connection open'
        received = conn.buf
    if received:
        assert received.startswith(b'HTTP/1.1 200'), received
        assert not received.endswith(b'0\r\n\r\n'), received
    srv.wait_for_log(r'RuntimeError: boom-right-after-start\n')
    assert_still_serving(srv, pid)


@pytest.mark.parametrize('route', ['after-start', 'after-start-chunked', 'right-after-start'])
def test_exception_after_start_is_an_error_for_httpx(srv, route):
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        srv.get(f'/error/{route}')
    assert_still_serving(srv)


@pytest.mark.parametrize(
    ('route', 'log'),
    [
        ('no-response', r'returned without starting a response'),
        ('start-only', r'returned without sending the response body'),
    ],
)
def test_app_returning_without_a_response_is_500(srv, route, log):
    pid = worker_pid(srv)
    resp = srv.get(f'/error/{route}')
    assert resp.status_code == 500
    srv.wait_for_log(r'ERROR.*' + log)
    assert_still_serving(srv, pid)


@pytest.mark.parametrize(
    ('route', 'log'),
    [
        ('body-before-start', r"ASGIProtocolError: unexpected ASGI message 'http\.response\.body'"),
        ('start-twice', r"ASGIProtocolError: unexpected ASGI message 'http\.response\.start'"),
        ('unknown-type', r"ASGIProtocolError: unexpected ASGI message 'http\.response\.nonsense'"),
        ('pathsend-before-start', r"ASGIProtocolError: unexpected ASGI message 'http\.response\.pathsend'"),
        ('missing-type', r"ValueError: ASGI message without a 'type' key"),
        ('bad-status', r'in bad_status\n(?:  .*\n)*TypeError: '),
    ],
)
def test_out_of_order_or_unknown_message_is_500_and_logged(srv, route, log):
    pid = worker_pid(srv)
    resp = srv.get(f'/error/{route}')
    assert resp.status_code == 500
    assert b'should not be sent' not in resp.content
    srv.wait_for_log(log)
    assert_still_serving(srv, pid)


def test_unknown_message_after_start_closes_the_connection(srv):
    pid = worker_pid(srv)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        srv.get('/error/unknown-type-after-start')
    srv.wait_for_log(r"unexpected ASGI message 'bogus\.message'")
    assert_still_serving(srv, pid)


def test_body_after_the_response_is_complete_is_ignored(srv, markers):
    # ASGI HTTP spec: once `more_body` is False, "any further messages on the channel will be
    # ignored": the late send returns quietly and nothing more reaches the client.
    pid = worker_pid(srv)
    name = 'body-after-complete'
    resp = srv.get(f'/error/body-after-complete?marker={name}')
    assert resp.status_code == 200
    assert resp.content == b'complete'
    assert wait_for_marker(markers, name) == 'accepted'
    assert_still_serving(srv, pid)
