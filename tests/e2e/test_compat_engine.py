"""Engine behaviours a Granian user relies on, checked on the wire against the real server:

- the answers the HTTP/1.1 parser gives by itself (malformed request line or header, a head
  larger than `--http1-buffer-size`, too many headers) carry `server: granian` like any other
  answer, over cleartext and TLS, while an app's own 404/400 still has exactly one `server`;
- a malformed chunked body is answered `400` by the server while the app reads it (RSGI
  `await protocol()` and `async for`, ASGI `receive()`, WSGI `wsgi.input.read()`), is not
  logged as an application error, and the server keeps serving;
- TLS on a Unix domain socket (CLI and `Granian(...)`): HTTPS is served there, plain text never;
- an HTTP/1.1 request to a cleartext `--http 2` listener gets a `505` naming the reason, for
  ASGI and WSGI (RSGI: tests/e2e/test_http2.py).

The apps are `tests/apps/compat_engine_apps.py`; they report how a body read ended as
`EVENT read-ended <tag> <outcome>` lines in the server log.
"""

import collections
import concurrent.futures
import re
import socket
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import APPS
from e2e import tls_support
from e2e.h2_support import H2Client
from e2e.tls_support import client_context, tls_args
from e2e.wire import Conn, get

tls_files = tls_support.tls_files

INTERFACES = ['rsgi', 'asgi', 'wsgi']
BUFFER = 8192  # the smallest --http1-buffer-size
HTTP2_ONLY_BODY = b'This server speaks HTTP/2 only (--http 2).\r\n'


def target(interface):
    return f'compat_engine_apps:{interface}_app'


def start(factory, interface, *args, **kwargs):
    return factory(target(interface), '--interface', interface, *args, **kwargs)


@pytest.fixture(scope='module', params=INTERFACES)
def srv(request, module_server):
    """A cleartext server per interface, with the smallest HTTP/1.1 buffer."""
    return start(module_server, request.param, '--http1-buffer-size', str(BUFFER))


@pytest.fixture(scope='module')
def tls_srv(module_server, tls_files):
    return start(module_server, 'rsgi', '--http1-buffer-size', str(BUFFER), *tls_args(tls_files))


def interface_of(srv):
    return re.search(r'--interface (\w+)', ' '.join(srv.cmd))[1]


def tls_conn(srv, files, timeout=5.0):
    """A `Conn` over TLS to a TCP server (the session CA trusted, host name checked)."""
    conn = Conn.__new__(Conn)
    raw = socket.create_connection((srv.host, srv.port), timeout=timeout)
    conn.sock = client_context(files).wrap_socket(raw, server_hostname=srv.host)
    conn.buf = b''
    return conn


def assert_serves(connect, interface):
    with connect() as conn:
        resp = conn.request(get('/'))
    assert (resp.status, resp.body) == (200, f'ok-{interface}'.encode())
    assert resp.header_all('server') == ['granian']


# --- the parser's own answers carry `server: granian` -------------------------------------------

#: request bytes -> the statuses hyper may answer with.
PARSER_ERRORS = {
    'garbage-request-line': (b'GARBAGE\r\n\r\n', {400}),
    'invalid-header-line': (b'GET / HTTP/1.1\r\nHost: localhost\r\nthis line has no colon\r\n\r\n', {400}),
    'request-line-longer-than-the-buffer': (get('/' + 'u' * (BUFFER + 2000)), {414, 431}),
    'too-many-headers': (get('/', headers={f'X-Many-{i}': 'v' for i in range(150)}), {431}),
    'header-larger-than-the-buffer': (get('/', headers={'X-Big': 'b' * (BUFFER + 2000)}), {431}),
}


def assert_parser_error_answer(conn, request_bytes, statuses):
    conn.send(request_bytes)
    resp = conn.read_response()
    assert resp.status in statuses, resp
    assert resp.header_all('server') == ['granian'], resp.headers
    assert len(resp.header_all('date')) == 1, resp.headers
    assert resp.header('connection').lower() == 'close', resp.headers
    assert conn.wait_closed(5.0), 'the server must close the connection after its error answer'


@pytest.mark.parametrize('case', list(PARSER_ERRORS))
def test_parser_error_answers_carry_the_server_header(srv, case):
    request_bytes, statuses = PARSER_ERRORS[case]
    with Conn(srv.host, srv.port) as conn:
        assert_parser_error_answer(conn, request_bytes, statuses)
    assert_serves(lambda: Conn(srv.host, srv.port), interface_of(srv))


@pytest.mark.parametrize('case', list(PARSER_ERRORS))
def test_parser_error_answers_carry_the_server_header_over_tls(tls_srv, tls_files, case):
    request_bytes, statuses = PARSER_ERRORS[case]
    with tls_conn(tls_srv, tls_files) as conn:
        assert_parser_error_answer(conn, request_bytes, statuses)
    assert_serves(lambda: tls_conn(tls_srv, tls_files), 'rsgi')


@pytest.mark.parametrize(('path', 'status'), [('/notfound', 404), ('/bad', 400)])
def test_app_error_answers_have_exactly_one_server_header(srv, tls_srv, tls_files, path, status):
    for connect in (lambda: Conn(srv.host, srv.port), lambda: tls_conn(tls_srv, tls_files)):
        with connect() as conn:
            resp = conn.request(get(path))
            assert resp.status == status
            assert resp.header_all('server') == ['granian'], resp.headers
            # The app's answer is an ordinary response: the connection stays usable.
            assert conn.request(get('/')).status == 200
    with H2Client(srv.host, srv.port) as client:  # HTTP/2 prior knowledge (--http auto)
        stream = client.get(path)
    assert stream.status == status
    assert [value for name, value in stream.headers if name == b'server'] == [b'granian'], stream.headers


# --- a malformed chunked body ---------------------------------------------------------------------


def chunked_head(path, expect_continue=False):
    headers = {'Transfer-Encoding': 'chunked'}
    if expect_continue:
        headers['Expect'] = '100-continue'
    return get(path, headers=headers, method='POST')


#: body bytes sent after a chunked head; each one is malformed.
MALFORMED_BODIES = {
    'invalid-size-line': b'zz\r\nhello\r\n0\r\n\r\n',
    'invalid-size-after-a-good-chunk': b'5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n',
    'chunk-data-without-crlf': b'5\r\nhelloXY0\r\n\r\n',
}


def read_routes(interface):
    return ['/read', '/iterate'] if interface == 'rsgi' else ['/read']


def read_outcome(srv, tag):
    (match,) = srv.wait_for_log(rf'^EVENT read-ended {re.escape(tag)} (\S+)$')
    return match[1]


def assert_no_application_error_since(srv, offset, tag):
    """Nothing in the log after `offset` is an application error but one deliberate failure.

    The deliberate failure (a request after the others) is the proof that the app's failures are
    logged at all by now; counting only the log written since `offset` keeps one test's finding
    out of the next test's result on a shared server.
    """
    with Conn(srv.host, srv.port) as conn:
        assert conn.request(get(f'/raise?tag={tag}')).status == 500
    srv.wait_for_log(rf'^RuntimeError: deliberate failure {re.escape(tag)}$')
    log = srv.log()[offset:]
    assert log.count('Application callable raised') == 1, log
    assert log.count('Traceback') == 1, log
    assert len(re.findall(r'^\[ERROR\]', log, re.MULTILINE)) == 1, log


@pytest.mark.parametrize('when', ['with-the-head', 'after-100-continue'])
@pytest.mark.parametrize('body', list(MALFORMED_BODIES))
def test_malformed_chunked_body_is_answered_400_by_the_server(srv, body, when):
    interface, offset = interface_of(srv), len(srv.log())
    for route in read_routes(interface):
        tag = f'{route[1:]}-{body}-{when}'
        with Conn(srv.host, srv.port) as conn:
            head = chunked_head(f'{route}?tag={tag}', expect_continue=when == 'after-100-continue')
            if when == 'with-the-head':
                conn.send(head + MALFORMED_BODIES[body])
            else:
                # The app is reading when the bad bytes arrive: `100 Continue` says so.
                interim = conn.request(head)
                assert interim.status == 100, interim
                conn.send(MALFORMED_BODIES[body])
            resp = conn.read_response()
            assert resp.status == 400, (resp, resp.body)
            assert resp.header_all('server') == ['granian'], resp.headers
            assert resp.header('connection').lower() == 'close', resp.headers
            assert conn.wait_closed(5.0), 'a connection whose body framing is broken cannot be reused'
        outcome = read_outcome(srv, tag)
        if interface == 'asgi':
            assert outcome == 'disconnect'
        else:
            assert outcome != 'ok', 'the app must not see a broken body as a complete one'
        assert_serves(lambda: Conn(srv.host, srv.port), interface)
        # A well-formed chunked body right after is read whole.
        with Conn(srv.host, srv.port) as conn:
            resp = conn.request(chunked_head(f'{route}?tag={tag}-good') + b'5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n')
        assert (resp.status, resp.body) == (200, b'read 8')
        assert read_outcome(srv, f'{tag}-good') == 'ok'
    assert_no_application_error_since(srv, offset, f'after-{body}-{when}')


@pytest.mark.parametrize('interface', INTERFACES)
def test_malformed_chunked_bodies_from_many_clients_at_once_are_all_400(server, interface):
    """The same as above with 24 clients at a time: which of "the app finished" and "the body
    is broken" the server notices first must not change the answer (400, never 500) or make
    it an application error."""
    srv = start(server, interface)
    routes, bodies = read_routes(interface), list(MALFORMED_BODIES.values())
    total = 960

    def one(n):
        with Conn(srv.host, srv.port, timeout=10) as conn:
            conn.send(chunked_head(f'{routes[n % len(routes)]}?tag=many-{n}') + bodies[n % len(bodies)])
            return conn.read_response().status

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        statuses = collections.Counter(pool.map(one, range(total)))
    srv.wait_for_log(r'^EVENT read-ended many-\d+ ', count=total, timeout=20)
    assert statuses == {400: total}, statuses
    assert_serves(lambda: Conn(srv.host, srv.port), interface)
    assert_no_application_error_since(srv, 0, 'after-many')


# --- TLS on a Unix domain socket ------------------------------------------------------------------


@pytest.fixture(scope='module')
def short_dir():
    """A directory with a short path (Unix socket paths are limited to ~108 bytes)."""
    with tempfile.TemporaryDirectory(prefix='granian-compat-', dir='/tmp') as directory:
        yield Path(directory)


def unix_tls(path, files, alpn=None, timeout=5.0):
    """A TLS socket over the Unix socket `path`: the CA is checked, there is no host name to check."""
    ctx = client_context(files, alpn=alpn)
    ctx.check_hostname = False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(path))
    return ctx.wrap_socket(sock)


def unix_tls_conn(path, files):
    conn = Conn.__new__(Conn)
    conn.sock = unix_tls(path, files)
    conn.buf = b''
    return conn


def plaintext_on_unix(path, timeout=5.0):
    """Send a plain HTTP/1.1 request on the Unix socket; the bytes received until the server closed."""
    with Conn.unix(str(path), timeout=timeout) as conn:
        conn.send(get('/', headers={'Connection': 'close'}))
        assert conn.wait_closed(timeout), 'the server must close a connection that is not TLS'
        return conn.buf


def assert_https_only_on_unix(path, files, interface):
    with unix_tls_conn(path, files) as conn:
        assert conn.sock.version() == 'TLSv1.3'
        resp = conn.request(get('/'))
        again = conn.request(get('/notfound'))
    assert (resp.status, resp.body) == (200, f'ok-{interface}'.encode())
    assert resp.header_all('server') == ['granian']
    assert again.status == 404
    received = plaintext_on_unix(path)
    assert not received.startswith(b'HTTP/'), received
    assert b'ok-' not in received, received
    # At most a TLS alert record (content type 21) comes back before the close.
    assert received == b'' or received[0] == 0x15, received


@pytest.mark.parametrize('interface', INTERFACES)
def test_tls_on_a_unix_socket_serves_https_only(module_server, tls_files, short_dir, interface):
    path = short_dir / f'{interface}.sock'
    srv = start(module_server, interface, *tls_args(tls_files), uds=path)
    assert_https_only_on_unix(path, tls_files, interface)
    # HTTP/2 by ALPN on the same socket.
    with H2Client('localhost', 0, sock=unix_tls(path, tls_files, alpn=['h2'])) as client:
        assert client.sock.selected_alpn_protocol() == 'h2'
        stream = client.get('/')
    assert (stream.status, bytes(stream.data)) == (200, f'ok-{interface}'.encode())
    # Still HTTPS after the plain-text attempt.
    assert_https_only_on_unix(path, tls_files, interface)
    assert srv.alive()


def test_tls_on_a_unix_socket_with_the_python_api(server, tls_files, short_dir, tmp_path):
    script = tmp_path / 'serve_uds_tls.py'
    script.write_text(
        'import sys\n'
        'from pathlib import Path\n'
        'from granian import Granian\n'
        '\n'
        "if __name__ == '__main__':\n"
        '    uds, cert, key, apps = sys.argv[1:5]\n'
        "    Granian('compat_engine_apps:rsgi_app', uds=uds, ssl_cert=cert, ssl_key=key,\n"
        '            working_dir=Path(apps)).serve()\n'
    )
    path = short_dir / 'api.sock'
    srv = server(
        cmd=[sys.executable, str(script), str(path), str(tls_files.cert), str(tls_files.key_pkcs8), str(APPS)],
        uds=path,
    )
    assert_https_only_on_unix(path, tls_files, 'rsgi')
    assert srv.stop() == 0
    srv.assert_no_orphans()


# --- HTTP/1.1 on a cleartext `--http 2` listener --------------------------------------------------


@pytest.mark.parametrize('interface', ['asgi', 'wsgi'])
def test_http2_only_listener_answers_http11_with_505_then_serves_h2(module_server, interface):
    srv = start(module_server, interface, '--http', '2')
    with H2Client(srv.host, srv.port) as client:
        assert client.get('/').status == 200
    with Conn(srv.host, srv.port) as conn:
        conn.send(get('/'))
        resp = conn.read_response()
        assert (resp.version, resp.status) == ('HTTP/1.1', 505), resp
        assert resp.header_all('server') == ['granian'], resp.headers
        assert resp.header('connection').lower() == 'close', resp.headers
        assert resp.body == HTTP2_ONLY_BODY
        assert resp.body.count(b'\n') == 1 and resp.body.endswith(b'\r\n')
        assert conn.wait_closed(5.0), 'the server must close the connection after the 505'
        assert conn.buf == b'', 'nothing may follow the 505'
    # The next client, speaking HTTP/2 with prior knowledge, is served as usual.
    with H2Client(srv.host, srv.port) as client:
        first, second = client.get('/'), client.get('/notfound')
    assert (first.status, bytes(first.data)) == (200, f'ok-{interface}'.encode())
    assert second.status == 404
    assert [value for name, value in first.headers if name == b'server'] == [b'granian']
