"""`--max-body-size` and `--body-read-timeout` on the wire, for RSGI, ASGI and WSGI over HTTP/1.1
and HTTP/2:

- a `Content-Length` over the cap is answered `413 Content Too Large` before the app runs;
- a body without one (chunked, or HTTP/2 DATA) that grows past the cap is answered 413 if the
  app has not started its response, else the response is cut (connection closed on HTTP/1.1,
  stream reset on HTTP/2);
- a body that stops arriving for longer than the timeout is answered `408` (or cut, likewise);
- the app sees what it sees when a client leaves, and nothing is logged as an app error;
- `0` turns each off; another client is served at once all along.

The apps are `tests/apps/body_limit_apps.py`; they log `EVENT called <tag>` and
`EVENT read-ended <tag> <outcome>` lines.
"""

from __future__ import annotations

import re
import time

import h2.errors
import httpx
import pytest

from e2e.h2_support import H2Client
from e2e.wire import Conn, get

INTERFACES = ['rsgi', 'asgi', 'wsgi']
VERSIONS = ['h1', 'h2']
CAP = 1000


def start(factory, interface, *args, env=None):
    return factory(f'body_limit_apps:{interface}', '--interface', interface, *args, env=env)


@pytest.fixture(scope='module', params=INTERFACES)
def srv(request, module_server):
    """A server per interface with a 1000-byte cap and a 1 s body read timeout."""
    return start(module_server, request.param, '--max-body-size', str(CAP), '--body-read-timeout', '1')


@pytest.fixture(params=VERSIONS)
def version(request):
    return request.param


def interface_of(srv):
    return re.search(r'--interface (\w+)', ' '.join(srv.cmd))[1]


def post_head(path, headers):
    return get(path, headers=headers, method='POST')


def chunk(data):
    return b'%x\r\n%s\r\n' % (len(data), data)


def assert_serves(srv):
    """Another client, on a fresh connection, is answered at once (HTTP/1.1 and HTTP/2)."""
    interface = interface_of(srv)
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/'))
    assert (resp.status, resp.body) == (200, f'ok-{interface}'.encode())
    with H2Client(srv.host, srv.port) as client:
        stream = client.get('/')
    assert (stream.status, bytes(stream.data)) == (200, f'ok-{interface}'.encode())


def outcome(srv, tag):
    (match,) = srv.wait_for_log(rf'^EVENT read-ended {re.escape(tag)} (\S+)$')
    return match[1]


#: How a read ends, per interface, when the client leaves (the `read-ended` outcome).
CLIENT_GONE = {'asgi': 'disconnect', 'rsgi': 'RSGIProtocolClosed', 'wsgi': 'ClientDisconnected'}


def assert_saw_a_disconnect(srv, tag):
    """The app's read ended the way it ends when the client leaves."""
    assert outcome(srv, tag) == CLIENT_GONE[interface_of(srv)]


def assert_not_called(srv, tag):
    """The app never ran for `tag`: a request sent afterwards was seen, that one was not."""
    with Conn(srv.host, srv.port) as conn:
        assert conn.request(get(f'/?tag={tag}-next')).status == 200
    srv.wait_for_log(rf'^EVENT called {re.escape(tag)}-next$')
    assert not re.search(rf'^EVENT called {re.escape(tag)}$', srv.log(), re.MULTILINE), srv.log()


def assert_no_app_errors(srv):
    log = srv.log()
    assert 'Traceback' not in log and '[ERROR]' not in log, log


# --- a declared length over the cap -------------------------------------------------------------


def test_content_length_over_the_cap_is_413_before_the_app(srv, version):
    tag = f'declared-{version}'
    if version == 'h1':
        with Conn(srv.host, srv.port) as conn:
            conn.send(post_head(f'/read?tag={tag}', {'Content-Length': str(CAP + 1)}) + b'x' * (CAP + 1))
            resp = conn.read_response()
            assert (resp.status, resp.reason) == (413, 'Content Too Large'), resp
            assert resp.header('connection') == 'close', resp.headers
            assert resp.header('server') == 'granian', resp.headers
            assert conn.wait_closed(5.0), 'the body was not read: the connection cannot be reused'
    else:
        with H2Client(srv.host, srv.port) as client:
            sid = client.request('POST', f'/read?tag={tag}', [('content-length', str(CAP + 1))], b'x' * (CAP + 1))
            stream = client.response(sid)
            assert stream.status == 413
            assert client.get('/').status == 200, 'the connection serves on'
    assert_not_called(srv, tag)
    assert_serves(srv)
    assert_no_app_errors(srv)


def test_a_body_at_the_cap_is_read(srv, version):
    tag = f'at-cap-{version}'
    if version == 'h1':
        with Conn(srv.host, srv.port) as conn:
            resp = conn.request(post_head(f'/read?tag={tag}', {'Content-Length': str(CAP)}) + b'x' * CAP)
            body = resp.body
        status = resp.status
    else:
        with H2Client(srv.host, srv.port) as client:
            stream = client.response(client.request('POST', f'/read?tag={tag}', body=b'x' * CAP))
            status, body = stream.status, bytes(stream.data)
    assert (status, body) == (200, f'read {CAP}'.encode())
    assert outcome(srv, tag) == 'ok'


def test_a_real_client_uploading_far_over_the_cap_gets_the_413(srv):
    """httpx writes the whole 8 MB before it reads the answer, and still gets the 413. (Whether
    the rest of the upload is read for a moment before the close, so that a reset cannot destroy
    an answer still in flight, is checked in src/http/handler_tests.rs: on loopback the answer
    is delivered before any reset.)"""
    tag = 'httpx-big'
    resp = srv.post(f'/read?tag={tag}', content=b'x' * (8 << 20))
    assert resp.status_code == 413
    assert resp.headers['connection'] == 'close'
    assert_not_called(srv, tag)
    # A chunked upload (a generator body) crossing the cap, from the same client library.
    tag = 'httpx-chunked'
    resp = srv.post(f'/read?tag={tag}', content=iter([b'a' * 600, b'b' * 600]))
    assert resp.status_code == 413
    assert_saw_a_disconnect(srv, tag)
    assert_serves(srv)


# --- a streamed body growing past the cap --------------------------------------------------------


def test_a_streamed_body_crossing_the_cap_is_413(srv, version):
    tag = f'crossing-{version}'
    if version == 'h1':
        with Conn(srv.host, srv.port) as conn:
            head = post_head(f'/read?tag={tag}', {'Transfer-Encoding': 'chunked'})
            conn.send(head + chunk(b'a' * 600) + chunk(b'b' * 600) + b'0\r\n\r\n')
            resp = conn.read_response()
            assert (resp.status, resp.reason) == (413, 'Content Too Large'), resp
            assert resp.header('connection') == 'close', resp.headers
            assert conn.wait_closed(5.0)
    else:
        with H2Client(srv.host, srv.port) as client:
            # No content-length: the cap is counted as the DATA frames come.
            stream = client.response(client.request('POST', f'/read?tag={tag}', body=b'a' * 1200))
            assert stream.status == 413
            assert client.get('/').status == 200
    assert_saw_a_disconnect(srv, tag)
    assert_serves(srv)
    assert_no_app_errors(srv)


def test_crossing_the_cap_after_the_response_started_cuts_it(srv, version):
    tag = f'cut-{version}'
    path = f'/stream-then-read?tag={tag}'
    if version == 'h1':
        with Conn(srv.host, srv.port) as conn:
            conn.send(post_head(path, {'Transfer-Encoding': 'chunked'}) + chunk(b'a' * 600))
            resp = conn.read_head()
            assert resp.status == 200
            while b'started' not in conn.buf:
                assert conn._fill(), 'closed before the first chunk'
            conn.send(chunk(b'b' * 600))
            assert conn.wait_closed(5.0), 'the response must be cut'
            assert not conn.buf.endswith(b'0\r\n\r\n'), conn.buf
            assert b'read ' not in conn.buf
    else:
        with H2Client(srv.host, srv.port) as client:
            sid = client.request('POST', path, body=b'a' * 600, end_stream=False)
            stream = client.stream(sid)
            client.wait_for(lambda: b'started' in stream.data, what='the first chunk')
            assert stream.status == 200
            client.send_body(sid, b'b' * 600)
            client.wait_for(lambda: stream.finished, what='the end of the stream')
            assert stream.reset == h2.errors.ErrorCodes.INTERNAL_ERROR, stream
            assert not stream.ended
            assert client.get('/').status == 200, 'only the stream is closed'
    assert_saw_a_disconnect(srv, tag)
    assert_serves(srv)
    assert_no_app_errors(srv)


# --- a stalled body -------------------------------------------------------------------------------


def test_a_stalled_body_is_408(srv, version):
    tag = f'stalled-{version}'
    if version == 'h1':
        with Conn(srv.host, srv.port, timeout=10) as conn:
            conn.send(post_head(f'/read?tag={tag}', {'Transfer-Encoding': 'chunked'}) + chunk(b'a' * 10))
            assert_serves(srv)  # while this one waits
            resp = conn.read_response()
            assert (resp.status, resp.reason) == (408, 'Request Timeout'), resp
            assert resp.header('connection') == 'close', resp.headers
            assert conn.wait_closed(5.0)
    else:
        with H2Client(srv.host, srv.port) as client:
            sid = client.request('POST', f'/read?tag={tag}', body=b'a' * 10, end_stream=False)
            assert_serves(srv)
            stream = client.response(sid)
            assert stream.status == 408
            assert client.get('/').status == 200
    assert_saw_a_disconnect(srv, tag)
    assert_serves(srv)
    assert_no_app_errors(srv)


def test_a_body_stalled_after_the_response_started_cuts_it(srv, version):
    tag = f'stalled-cut-{version}'
    path = f'/stream-then-read?tag={tag}'
    if version == 'h1':
        with Conn(srv.host, srv.port, timeout=10) as conn:
            conn.send(post_head(path, {'Transfer-Encoding': 'chunked'}) + chunk(b'a' * 10))
            assert conn.read_head().status == 200
            assert conn.wait_closed(5.0), 'the response must be cut'
            assert not conn.buf.endswith(b'0\r\n\r\n'), conn.buf
    else:
        with H2Client(srv.host, srv.port) as client:
            sid = client.request('POST', path, body=b'a' * 10, end_stream=False)
            stream = client.response(sid)
            assert stream.status == 200
            assert stream.reset == h2.errors.ErrorCodes.INTERNAL_ERROR, stream
            assert client.get('/').status == 200
    assert_saw_a_disconnect(srv, tag)
    assert_serves(srv)
    assert_no_app_errors(srv)


# --- off, defaults, environment --------------------------------------------------------------------


@pytest.mark.parametrize('interface', INTERFACES)
def test_zero_turns_each_limit_off(module_server, interface):
    srv = start(module_server, interface, '--max-body-size', '0', '--body-read-timeout', '0')
    size = 3 << 20
    resp = srv.post('/read?tag=big-h1', content=b'x' * size)
    assert (resp.status_code, resp.text) == (200, f'read {size}')
    with H2Client(srv.host, srv.port) as client:
        stream = client.response(client.request('POST', '/read?tag=big-h2', body=b'x' * size))
    assert (stream.status, bytes(stream.data)) == (200, f'read {size}'.encode())
    # A pause longer than the 1 s the other servers allow.
    with Conn(srv.host, srv.port, timeout=10) as conn:
        conn.send(post_head('/read?tag=paused', {'Transfer-Encoding': 'chunked'}) + chunk(b'a' * 10))
        time.sleep(1.5)
        resp = conn.request(chunk(b'b' * 10) + b'0\r\n\r\n')
    assert (resp.status, resp.body) == (200, b'read 20')


def test_the_default_cap_is_one_gib(module_server):
    srv = start(module_server, 'rsgi')
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(post_head('/read?tag=gib', {'Content-Length': str((1 << 30) + 1)}))
        assert resp.status == 413
    with Conn(srv.host, srv.port) as conn:
        # Exactly 1 GiB is accepted: the app starts reading, so the client is asked to send it.
        head = post_head('/read?tag=gib-ok', {'Content-Length': str(1 << 30), 'Expect': '100-continue'})
        assert conn.request(head).status == 100


def test_env_vars(server):
    srv = start(server, 'asgi', env={'GRANIAN_MAX_BODY_SIZE': str(CAP), 'GRANIAN_BODY_READ_TIMEOUT': '1'})
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        assert client.post('/read?tag=env-cap', content=b'x' * (CAP + 1)).status_code == 413
    with Conn(srv.host, srv.port, timeout=10) as conn:
        conn.send(post_head('/read?tag=env-stall', {'Transfer-Encoding': 'chunked'}) + chunk(b'a'))
        assert conn.read_response().status == 408
