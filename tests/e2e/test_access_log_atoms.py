"""Access-log atoms with the real server: per interface over HTTP/1.1 and HTTP/2, static files,
WebSockets, escaping of what the client sent, and JSON lines.

Apps: `tests/apps/access_log_apps.py` (known body sizes, an `x-app: "<path>"` response header).
HTTP/1.1 goes over raw sockets (`wire.Conn`), so that bytes httpx would refuse reach the server.
"""

from __future__ import annotations

import json
import re

import pytest
from websockets.sync.client import connect as ws_connect

from e2e.h2_support import H2Client
from e2e.wire import Conn, get

APPS = {'asgi': 'access_log_apps:asgi', 'rsgi': 'access_log_apps:rsgi', 'wsgi': 'access_log_apps:wsgi'}

#: The atoms a line shows, in order (`|` between them).
FIELDS = [
    'protocol',
    'method',
    'path',
    'query_string',
    'status',
    'body_bytes',
    'response_header{x-app}',
    'response_header{content-type}',
    'user_agent',
    'referer',
    'request_id',
    'header{x-a}',
    'dt_us',
    'dt_s',
    'time_clf',
    'request_line',
]
FORMAT = '|'.join(f'%({name})s' for name in FIELDS).replace('%(time_clf)s', '[%(time_clf)s]')
CLF = r'\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]'


def fields(srv, method: str, path: str, query: str = '') -> dict[str, str]:
    """The atoms of the one line logged for `method path?query` (waits for it)."""
    pattern = rf'^HTTP/[\d.]+\|{re.escape(method)}\|{re.escape(path)}\|{re.escape(query)}\|.*$'
    (match,) = srv.wait_for_log(pattern)
    values = match[0].split('|')
    assert len(values) == len(FIELDS), match[0]
    return dict(zip(FIELDS, values, strict=True))


def start(server, interface: str, *args: str):
    return server(APPS[interface], '--interface', interface, '--access-log', '--access-log-fmt', FORMAT, *args)


def h1(srv, method: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get(target, headers=headers, method=method), head_request=method == 'HEAD')
    return resp.status, resp.body


def h2(srv, method: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    with H2Client(srv.host, srv.port) as client:
        stream = client.response(client.request(method, target, list((headers or {}).items())))
    return stream.status, bytes(stream.data)


CLIENTS = {'h1': h1, 'h2': h2}


@pytest.fixture(scope='module', params=list(APPS))
def app_srv(request, module_server):
    return start(module_server, request.param)


@pytest.mark.parametrize('proto', list(CLIENTS))
def test_atoms_of_an_app_response(app_srv, proto):
    send = CLIENTS[proto]
    path = f'/plain-{proto}'
    headers = {
        'User-Agent': 'probe/1.0',
        'Referer': 'https://example.com/from',
        'X-Request-ID': f'req-{proto}',
        'X-A': 'one',
    }
    assert send(app_srv, 'GET', f'{path}?q=1&r=2', headers) == (200, b'hello')
    line = fields(app_srv, 'GET', path, 'q=1&r=2')
    version = 'HTTP/1.1' if proto == 'h1' else 'HTTP/2'
    assert line['protocol'] == version
    assert (line['status'], line['body_bytes']) == ('200', '5')
    assert line['response_header{x-app}'] == f'\\x22{path}\\x22', 'the quotes of the value are escaped'
    assert line['response_header{content-type}'] == 'text/plain'
    assert (line['user_agent'], line['referer'], line['request_id']) == (
        'probe/1.0',
        'https://example.com/from',
        f'req-{proto}',
    )
    assert line['header{x-a}'] == 'one'
    assert line['dt_us'].isdigit()
    assert float(line['dt_s']) * 1e6 == pytest.approx(int(line['dt_us']), abs=1), 'one duration, two units'
    assert re.fullmatch(CLF, line['time_clf'])
    assert line['request_line'] == f'GET {path}?q=1&r=2 {version}'


@pytest.mark.parametrize('proto', list(CLIENTS))
def test_missing_headers_are_dashes_and_head_sends_no_body(app_srv, proto):
    send = CLIENTS[proto]
    path = f'/head-{proto}'
    status, body = send(app_srv, 'HEAD', path)
    assert (status, body) == (200, b'')
    line = fields(app_srv, 'HEAD', path)
    assert (line['status'], line['body_bytes']) == ('200', '0')
    assert (line['referer'], line['request_id'], line['header{x-a}']) == ('-', '-', '-')
    assert line['request_line'] == f'HEAD {path} {line["protocol"]}'


@pytest.mark.parametrize('proto', list(CLIENTS))
def test_streamed_and_cut_bodies_count_what_was_sent(app_srv, proto):
    send = CLIENTS[proto]
    assert send(app_srv, 'GET', f'/stream?{proto}') == (200, b'abcdefg')
    assert fields(app_srv, 'GET', '/stream', proto)['body_bytes'] == '7'
    try:
        send(app_srv, 'GET', f'/cut?{proto}')
    except (AssertionError, OSError, EOFError):
        pass  # the client sees a cut response (a closed connection, a reset stream)
    line = fields(app_srv, 'GET', '/cut', proto)
    assert (line['status'], line['body_bytes']) == ('200', '8'), 'what went out before the cut'


def test_request_values_cannot_forge_a_line(server):
    srv = start(server, 'rsgi')
    raw = (
        # hyper takes `"`, `\` and UTF-8 in a path (not `"` in a query).
        b'GET /p"a\\th\xc3\xa9?q=1&y=%0A HTTP/1.1\r\nHost: localhost\r\n'
        b'User-Agent: \xc3\xa9t\xe9 "quoted" back\\slash\ttab\r\n'
        b'X-A: ] "GET /forged HTTP/1.1" 200\r\n\r\n'
    )
    with Conn(srv.host, srv.port) as conn:
        assert conn.request(raw).status == 200
    (match,) = srv.wait_for_log(r'^HTTP/1\.1\|GET\|/p\\x22a\\x5Cth\\xC3\\xA9\|.*$')
    line = dict(zip(FIELDS, match[0].split('|'), strict=True))
    assert line['query_string'] == 'q=1&y=%0A'
    # UTF-8 é as its two bytes; the lone Latin-1 é (not UTF-8) as U+FFFD's three.
    assert line['user_agent'] == '\\xC3\\xA9t\\xEF\\xBF\\xBD \\x22quoted\\x22 back\\x5Cslash\\x09tab'
    assert line['header{x-a}'] == '] \\x22GET /forged HTTP/1.1\\x22 200'
    assert line['request_line'] == 'GET /p\\x22a\\x5Cth\\xC3\\xA9?q=1&y=%0A HTTP/1.1'

    # A bare CR or LF in a header value never reaches the log: the request is refused.
    for value in (b'a\rb', b'a\nGET /forged HTTP/1.1'):
        with Conn(srv.host, srv.port) as conn:
            assert conn.request(b'GET /crlf HTTP/1.1\r\nHost: x\r\nX-A: ' + value + b'\r\n\r\n').status == 400
    assert srv.get('/after').status_code == 200
    fields(srv, 'GET', '/after')
    assert '/forged' not in srv.log().replace('\\x22GET /forged HTTP/1.1\\x22', '')
    assert '|GET|/crlf|' not in srv.log()


@pytest.mark.parametrize('proto', list(CLIENTS))
def test_json_lines(server, proto):
    srv = server(
        APPS['asgi'],
        '--interface',
        'asgi',
        '--access-log',
        '--access-log-json',
        '--access-log-fmt',
        '%(header{X-A})s %(response_header{x-app})s %(response_header{x-none})s',
    )
    headers = {'X-A': 'tab\there "q"', 'User-Agent': 'probe/2'}
    assert CLIENTS[proto](srv, 'GET', '/j"son?a=1', headers) == (200, b'hello')
    (match,) = srv.wait_for_log(r'^\{"addr":.*\}$')
    record = json.loads(match[0])
    assert record['path'] == '/j"son'
    assert (record['query_string'], record['status'], record['body_bytes']) == ('a=1', 200, 5)
    assert record['protocol'] == ('HTTP/1.1' if proto == 'h1' else 'HTTP/2')
    assert (record['user_agent'], record['referer'], record['request_id']) == ('probe/2', None, None)
    assert record['request_headers'] == {'x-a': 'tab\there "q"'}
    assert record['response_headers'] == {'x-app': '"/j"son"', 'x-none': None}
    assert isinstance(record['dt_us'], int) and isinstance(record['dt_ms'], float)
    assert record['request_line'].startswith('GET /j"son?a=1 HTTP/')


@pytest.fixture(scope='module')
def static_srv(module_server, tmp_path_factory):
    root = tmp_path_factory.mktemp('public')
    (root / 'hello.txt').write_bytes(b'hello, static world\n')
    args = ('--static-path-route', '/static', '--static-path-mount', str(root))
    return start(module_server, 'rsgi', *args)


@pytest.mark.parametrize('proto', list(CLIENTS))
def test_static_files(static_srv, proto):
    send = CLIENTS[proto]
    assert send(static_srv, 'GET', f'/static/hello.txt?{proto}-get') == (200, b'hello, static world\n')
    line = fields(static_srv, 'GET', '/static/hello.txt', f'{proto}-get')
    assert (line['status'], line['body_bytes']) == ('200', '20')
    assert line['response_header{content-type}'].startswith('text/plain')
    assert line['response_header{x-app}'] == '-', 'the app did not answer'

    assert send(static_srv, 'HEAD', f'/static/hello.txt?{proto}-head')[0] == 200
    assert fields(static_srv, 'HEAD', '/static/hello.txt', f'{proto}-head')['body_bytes'] == '0'

    status, body = send(static_srv, 'GET', f'/static/hello.txt?{proto}-range', {'Range': 'bytes=0-4'})
    assert (status, body) == (206, b'hello')
    line = fields(static_srv, 'GET', '/static/hello.txt', f'{proto}-range')
    assert (line['status'], line['body_bytes']) == ('206', '5')

    future = 'Fri, 01 Jan 2100 00:00:00 GMT'
    assert send(static_srv, 'GET', f'/static/hello.txt?{proto}-304', {'If-Modified-Since': future})[0] == 304
    line = fields(static_srv, 'GET', '/static/hello.txt', f'{proto}-304')
    assert (line['status'], line['body_bytes']) == ('304', '0')


@pytest.mark.parametrize(('interface', 'app'), [('rsgi', 'ws_rsgi:app'), ('asgi', 'ws_asgi:app')])
def test_websocket_line(server, interface, app):
    srv = server(app, '--interface', interface, '--access-log', '--access-log-fmt', FORMAT)
    url = f'ws://{srv.host}:{srv.port}/echo'
    with ws_connect(url, additional_headers={'X-Request-ID': 'ws-1'}) as ws:
        ws.send('ping')
        assert ws.recv(timeout=5) == 'ping'
    line = fields(srv, 'GET', '/echo')
    seen = (line['protocol'], line['status'], line['body_bytes'], line['request_id'])
    assert seen == ('HTTP/1.1', '101', '0', 'ws-1')
