"""`--server-header/--no-server-header` and `--date-header/--no-date-header`: what every response
carries, for each interface, over HTTP/1.1 and HTTP/2, including the answers hyper writes itself
for a malformed request head."""

from __future__ import annotations

import pytest

from e2e.h2_support import H2Client
from e2e.wire import Conn

APPS = {'asgi': 'header_apps:asgi', 'rsgi': 'header_apps:rsgi', 'wsgi': 'header_apps:wsgi'}


def start(server, interface, *args, env=None):
    return server(APPS[interface], '--interface', interface, *args, env=env)


def h1(srv, path='/'):
    with Conn(srv.host, srv.port) as conn:
        return conn.request(f'GET {path} HTTP/1.1\r\nHost: x\r\n\r\n'.encode())


def h2(srv, path='/'):
    client = H2Client(srv.host, srv.port)
    try:
        stream = client.get(path)
        return {name.decode(): value.decode() for name, value in stream.headers}
    finally:
        client.close()


def malformed(srv):
    """hyper's own answer to a request head it cannot parse."""
    with Conn(srv.host, srv.port) as conn:
        conn.send(b'GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n')
        return conn.read_head()


@pytest.mark.parametrize('interface', list(APPS))
def test_by_default_responses_say_server_and_date(server, interface):
    srv = start(server, interface)
    resp = h1(srv)
    assert resp.status == 200
    assert resp.header('server') == 'granian'
    assert resp.header('date')
    # The app's own server header wins, and is the only one.
    assert h1(srv, '/own').header_all('server') == ['app/1']
    headers = h2(srv)
    assert headers['server'] == 'granian' and 'date' in headers
    assert malformed(srv).header('server') == 'granian'


@pytest.mark.parametrize('interface', list(APPS))
def test_no_server_header(server, interface):
    srv = start(server, interface, '--no-server-header')
    assert h1(srv).header('server') is None
    assert 'server' not in h2(srv)
    assert h1(srv, '/own').header('server') == 'app/1'
    bad = malformed(srv)
    assert bad.status == 400 and bad.header('server') is None
    assert h1(srv).header('date'), 'the date header stays'


@pytest.mark.parametrize('interface', list(APPS))
def test_no_date_header(server, interface):
    srv = start(server, interface, '--no-date-header')
    resp = h1(srv)
    assert resp.header('date') is None
    assert resp.header('server') == 'granian'
    assert 'date' not in h2(srv)


def test_env_vars(server):
    srv = start(server, 'asgi', env={'GRANIAN_SERVER_HEADER': 'false', 'GRANIAN_DATE_HEADER': 'false'})
    resp = h1(srv)
    assert resp.header('server') is None and resp.header('date') is None


# --- --header NAME:VALUE -------------------------------------------------------------------------


@pytest.mark.parametrize('interface', list(APPS))
def test_operator_headers_are_added_unless_the_app_set_them(server, interface):
    srv = start(
        server,
        interface,
        '--header',
        'X-Frame-Options: DENY',
        '--header',
        'Link:</a.css>; rel=preload',
        '--header',
        'link: </b.js>; rel=preload',
        '--header',
        'Content-Type: application/octet-stream',
    )
    resp = h1(srv)
    assert resp.header('x-frame-options') == 'DENY'
    assert resp.header_all('link') == ['</a.css>; rel=preload', '</b.js>; rel=preload']
    # The app's own content-type wins; the server header is still added.
    assert resp.header_all('content-type') == ['text/plain']
    assert resp.header('server') == 'granian'
    headers = h2(srv)
    assert headers['x-frame-options'] == 'DENY' and headers['content-type'] == 'text/plain'


def test_an_operator_server_header_replaces_the_built_in_one(server):
    srv = start(server, 'asgi', '--header', 'server: edge')
    assert h1(srv).header_all('server') == ['edge']
    assert h1(srv, '/own').header_all('server') == ['app/1']


def test_operator_headers_from_the_env_one_per_line(server):
    srv = start(server, 'rsgi', env={'GRANIAN_HEADER': 'X-A: 1\nX-B: two words\n'})
    resp = h1(srv)
    assert (resp.header('x-a'), resp.header('x-b')) == ('1', 'two words')


@pytest.mark.parametrize(
    ('value', 'detail'),
    [
        ('no-colon', 'is not a NAME:VALUE header'),
        ('bad name: x', 'is not a valid header name'),
        (': x', 'is not a valid header name'),
    ],
)
def test_a_bad_operator_header_exits_2_with_one_line(value, detail):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, '-m', 'granian', '--header', value, 'header_apps:asgi'],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith('Error')]
    assert len(lines) == 1 and "'--header'" in lines[0] and detail in lines[0], proc.stderr
