"""HTTP/1.1 engine behaviour on the wire: raw bytes in, raw bytes out."""

import concurrent.futures
import email.utils
import hashlib
import json
import time

import pytest

from e2e.wire import Conn, get


@pytest.fixture(scope='module')
def srv(module_server):
    """One default server shared by the tests that do not need special options."""
    return module_server('rsgi_basic:app')


def connect(srv, timeout=5.0):
    return Conn(srv.host, srv.port, timeout=timeout)


def post(path, body, headers=None):
    head = get(path, headers={'Content-Length': str(len(body)), **(headers or {})}, method='POST')
    return head + body


def assert_serves(srv):
    """A fresh connection is answered normally."""
    with connect(srv) as conn:
        resp = conn.request(get('/'))
    assert (resp.status, resp.body) == (200, b'ok')


def test_keep_alive_serves_two_requests_on_one_connection(srv):
    with connect(srv) as conn:
        first = conn.request(get('/'))
        second = conn.request(post('/echo', b'second request'))
        assert conn.idle(0.2), 'a keep-alive connection must stay open after the response'
    assert (first.status, first.body) == (200, b'ok')
    assert (second.status, second.body) == (200, b'second request')
    assert (first.header('connection') or '').lower() != 'close'


def test_no_keep_alive_closes_after_one_response(server):
    srv = server('rsgi_basic:app', '--no-http1-keep-alive')
    with connect(srv) as conn:
        resp = conn.request(get('/'))
        assert (resp.status, resp.body) == (200, b'ok')
        assert resp.header('connection').lower() == 'close'
        assert conn.wait_closed(5.0), 'the server must close the connection after the response'
        assert conn.buf == b'', 'nothing may follow the response'


def test_http10_closes_unless_keep_alive_is_asked(srv):
    with connect(srv) as conn:
        resp = conn.request(b'GET / HTTP/1.0\r\n\r\n')
        assert (resp.version, resp.status, resp.body) == ('HTTP/1.0', 200, b'ok')
        assert conn.wait_closed(5.0)
    with connect(srv) as conn:
        resp = conn.request(b'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
        assert resp.header('connection').lower() == 'keep-alive'
        again = conn.request(b'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    assert (again.status, again.body) == (200, b'ok')


def test_concurrent_requests_are_served_concurrently(srv):
    def slow(i):
        with connect(srv, timeout=10) as conn:
            return conn.request(get(f'/sleep?secs=0.5&tag=concurrent-{i}'))

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(slow, range(40)))
    elapsed = time.monotonic() - started
    assert [(r.status, r.body) for r in responses] == [(200, b'slept')] * 40
    assert elapsed < 12, f'40 requests sleeping 0.5s took {elapsed:.1f}s: not served concurrently'


def test_pipelined_requests_are_answered_in_order(srv):
    with connect(srv) as conn:
        conn.send(post('/echo', b'one') + get('/scope/two') + post('/echo', b'three'))
        responses = [conn.read_response() for _ in range(3)]
    assert [r.status for r in responses] == [200, 200, 200]
    assert responses[0].body == b'one'
    assert b'"/scope/two"' in responses[1].body
    assert responses[2].body == b'three'


def test_pipelined_responses_keep_request_order_when_the_first_is_slow(srv):
    with connect(srv) as conn:
        conn.send(get('/sleep?secs=0.3&tag=pipelined') + get('/scope/fast') + post('/echo', b'last'))
        responses = [conn.read_response() for _ in range(3)]
    assert [r.status for r in responses] == [200, 200, 200]
    assert responses[0].body == b'slept'
    assert b'"/scope/fast"' in responses[1].body
    assert responses[2].body == b'last'


def test_header_read_timeout_disconnects_a_slow_client(server):
    srv = server('rsgi_basic:app', '--http1-header-read-timeout', '1000')
    with connect(srv, timeout=10.0) as slow:
        slow.send(b'GET / HTTP/1.1\r\nHost: localhost\r\nX-Partial: ')
        started = time.monotonic()
        # Meanwhile other clients are served normally.
        assert_serves(srv)
        assert slow.wait_closed(6.0), 'a client that never finishes its headers must be disconnected'
        elapsed = time.monotonic() - started
    assert elapsed >= 0.5, f'closed after {elapsed:.2f}s: before the 1s header timeout'
    assert b'200' not in slow.buf
    assert_serves(srv)


def test_header_read_timeout_does_not_hit_a_prompt_client(server):
    srv = server('rsgi_basic:app', '--http1-header-read-timeout', '1000')
    with connect(srv) as conn:
        conn.send(b'GET / HTTP/1.1\r\n')
        time.sleep(0.3)
        resp = conn.request(b'Host: localhost\r\n\r\n')
    assert (resp.status, resp.body) == (200, b'ok')


def many_headers(count):
    return {f'X-Header-{i}': f'value-{i}' for i in range(count)}


@pytest.mark.parametrize(
    ('args', 'count'), [(['--http1-max-headers', '10'], 20), ([], 150)], ids=['limit-10', 'default-limit-100']
)
def test_too_many_headers_are_rejected(server, args, count):
    srv = server('rsgi_basic:app', *args)
    with connect(srv) as conn:
        resp = conn.request(get('/', headers=many_headers(count)))
    assert resp.status == 431
    assert_serves(srv)


def test_headers_within_the_limit_are_accepted(server):
    srv = server('rsgi_basic:app', '--http1-max-headers', '10')
    with connect(srv) as conn:
        resp = conn.request(get('/scope', headers=many_headers(8)))  # + Host = 9 headers
    assert resp.status == 200
    assert b'x-header-7' in resp.body


@pytest.mark.parametrize(
    'request_bytes',
    [
        get('/', headers={'X-Big': 'a' * 10000}),
        get('/' + 'p' * 10000),
        get('/', headers={f'X-Medium-{i}': 'v' * 150 for i in range(60)}),
    ],
    ids=['one-big-header', 'long-request-line', 'many-medium-headers'],
)
def test_request_head_larger_than_the_buffer_is_rejected(server, request_bytes):
    srv = server('rsgi_basic:app', '--http1-buffer-size', '8192')
    with connect(srv) as conn:
        conn.send(request_bytes)
        resp = conn.read_response()
    assert resp.status == 431
    assert_serves(srv)
    # A head that fits the same buffer is fine.
    with connect(srv) as conn:
        resp = conn.request(get('/', headers={'X-Big': 'a' * 4000}))
    assert resp.status == 200


@pytest.mark.parametrize(
    'request_bytes',
    [
        b'GARBAGE\r\n\r\n',
        b'GET / HTTP/1.1\r\nHost: localhost\r\nthis is not a header line\r\n\r\n',
        b'POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\nxyz',
        b'POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nxyz',
    ],
    ids=['garbage', 'bad-header-line', 'non-numeric-content-length', 'conflicting-content-length'],
)
def test_malformed_request_gets_400_and_the_server_keeps_serving(srv, request_bytes):
    with connect(srv) as conn:
        resp = conn.request(request_bytes)
        assert resp.status == 400
        assert conn.wait_closed(5.0), 'the connection must be closed after a malformed request'
    assert_serves(srv)


@pytest.mark.parametrize('route', ['/echo', '/echo_iter'])
def test_chunked_request_body_is_decoded(srv, route):
    chunks = [b'hello ', b'chunked', b' ' + b'w' * 5000, b'!']
    body = b''.join(b'%x\r\n%s\r\n' % (len(c), c) for c in chunks) + b'0\r\n\r\n'
    head = get(route, headers={'Transfer-Encoding': 'chunked'}, method='POST')
    with connect(srv) as conn:
        conn.send(head)
        # Trickle the start so that chunk sizes and data span several reads.
        for i in range(0, 63, 7):
            conn.send(body[i : i + 7])
            time.sleep(0.005)
        conn.send(body[63:])
        resp = conn.read_response()
        # The connection is still usable after a chunked body.
        again = conn.request(get('/'))
    assert resp.status == 200
    assert resp.body == b''.join(chunks)
    assert again.status == 200


def test_streamed_response_without_length_is_chunked(srv):
    with connect(srv) as conn:
        resp = conn.request(get('/stream'))
        follow_up = conn.request(get('/'))
    assert resp.status == 200
    assert resp.chunked
    assert resp.header('content-length') is None
    assert resp.body == b'bytes-0;str-1;bytes-2;str-3;bytes-4;str-5;'
    assert resp.raw_body.endswith(b'0\r\n\r\n')
    assert len(resp.chunks) >= 2
    assert follow_up.status == 200


def test_head_returns_the_headers_of_get_and_no_body(srv):
    with connect(srv) as conn:
        got = conn.request(get('/big?size=1234'))
        head = conn.request(get('/big?size=1234', method='HEAD'), head_request=True)
        # If any body bytes followed the HEAD response, this next response would not parse.
        after = conn.request(get('/'))
    assert got.status == 200 and len(got.body) == 1234
    assert head.status == 200
    assert head.header('content-length') == '1234'
    assert head.header('content-type') == got.header('content-type')
    assert (after.status, after.body) == (200, b'ok')


def test_head_on_a_streamed_response_sends_no_body_and_the_app_can_finish(srv):
    with connect(srv) as conn:
        head = conn.request(get('/stream?tag=head-request', method='HEAD'), head_request=True)
        assert head.status == 200
        assert head.header('content-length') is None
        # The app's chunks must not leak onto the connection.
        after = conn.request(get('/'))
        assert (after.status, after.body) == (200, b'ok')
    # The client never went away: sending the (discarded) chunks must not fail in the app.
    (outcome,) = srv.wait_for_log(r'^EVENT stream head-request (\S+)$')
    assert outcome[1] == 'done'


@pytest.mark.parametrize(
    ('route', 'size'), [('/echo', 22), ('/digest', 300_000), ('/digest_iter', 300_000)], ids=['small', 'large', 'iter']
)
def test_expect_100_continue_is_answered_before_the_body(srv, route, size):
    body = bytes(range(256)) * (size // 256) + b'x' * (size % 256)
    head = get(route, headers={'Content-Length': str(len(body)), 'Expect': '100-continue'}, method='POST')
    with connect(srv) as conn:
        conn.send(head)
        interim = conn.read_response()
        assert (interim.version, interim.status) == ('HTTP/1.1', 100)
        conn.send(body)
        final = conn.read_response()
    assert final.status == 200
    if route == '/echo':
        assert final.body == body
    else:
        got = json.loads(final.body)
        assert (got['len'], got['sha256']) == (len(body), hashlib.sha256(body).hexdigest())


@pytest.mark.parametrize('path', ['/', '/response/empty', '/stream', '/noresponse', '/nowhere'])
def test_responses_carry_date_and_server_headers(srv, path):
    with connect(srv) as conn:
        resp = conn.request(get(path))
    assert resp.header_all('server') == ['granian']
    dates = resp.header_all('date')
    assert len(dates) == 1
    parsed = email.utils.parsedate_to_datetime(dates[0])
    assert abs(parsed.timestamp() - time.time()) < 60


def test_app_server_header_replaces_the_default(srv):
    with connect(srv) as conn:
        resp = conn.request(get('/server_header'))
    assert resp.status == 200
    assert resp.header_all('server') == ['custom-app/1.0']
    assert resp.header('date') is not None
