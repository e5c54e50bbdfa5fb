"""RSGI interface: scope, body reading, every response method, misbehaving apps, hooks."""

import hashlib
import json
import os
import time

import pytest

from e2e.wire import Conn, get


@pytest.fixture(scope='module')
def srv(module_server):
    return module_server('rsgi_basic:app')


@pytest.fixture(scope='module')
def sample_file(tmp_path_factory):
    """300 KiB of varied bytes (several 64 KiB file chunks), and its path."""
    data = b''.join(hashlib.sha256(str(i).encode()).digest() for i in range(300 * 1024 // 32))
    path = tmp_path_factory.mktemp('files') / 'sample.bin'
    path.write_bytes(data)
    return path, data


def scope_of(srv, request_bytes):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(request_bytes)
        local_port = conn.sock.getsockname()[1]
    assert resp.status == 200, resp.body
    return json.loads(resp.body), local_port


# --- scope -----------------------------------------------------------------------------------


def test_scope_attributes(srv):
    request = (
        b'GET /scope/caf%C3%A9%20x?a=1&b=%20c HTTP/1.1\r\n'
        b'Host: localhost\r\nX-Case: Val\r\nX-Multi: one\r\nX-Multi: two\r\n\r\n'
    )
    scope, local_port = scope_of(srv, request)
    assert scope['proto'] == 'http'
    assert scope['rsgi_version'] == '1.6'
    assert scope['http_version'] == '1.1'
    assert scope['method'] == 'GET'
    assert scope['path'] == '/scope/caf\u00e9 x'
    assert scope['query_string'] == 'a=1&b=%20c'
    assert scope['scheme'] == 'http'
    assert scope['server'] == f'127.0.0.1:{srv.port}'
    assert scope['client'] == f'127.0.0.1:{local_port}'
    assert scope['authority'] is None
    assert set(scope['types'].values()) == {'str'}


def test_scope_headers_mapping(srv):
    request = b'GET /scope HTTP/1.1\r\nHost: localhost\r\nX-Case: Val\r\nX-Multi: one\r\nX-Multi: two\r\n\r\n'
    h = scope_of(srv, request)[0]['headers']
    assert h['get_lower'] == h['get_upper'] == h['item'] == 'Val'
    assert h['get_default'] == 'dflt'
    assert h['get_none'] is None
    assert h['get_all'] == h['get_all_mixed'] == ['one', 'two']
    assert h['get_all_missing'] == []
    assert h['item_missing'] == 'KeyError'
    assert (h['contains'], h['contains_mixed'], h['contains_missing']) == (True, True, False)
    assert sorted(h['keys']) == ['host', 'x-case', 'x-multi']
    assert sorted(h['iter']) == sorted(h['keys'])
    assert h['len'] == 3
    assert sorted(h['values']) == sorted(['localhost', 'Val', 'one', 'two'])
    assert sorted(map(tuple, h['items'])) == sorted(
        [('host', 'localhost'), ('x-case', 'Val'), ('x-multi', 'one'), ('x-multi', 'two')]
    )


def test_scope_http_version_of_an_http10_request(srv):
    scope, _ = scope_of(srv, b'GET /scope HTTP/1.0\r\n\r\n')
    assert scope['http_version'] == '1'


# --- request body ----------------------------------------------------------------------------

LARGE = os.urandom(5 * 1024 * 1024)


def expected_digest(body):
    return {'len': len(body), 'sha256': hashlib.sha256(body).hexdigest()}


@pytest.mark.parametrize('body', [b'', b'small body', LARGE], ids=['empty', 'small', '5MiB'])
def test_await_protocol_returns_the_whole_body(srv, body):
    resp = srv.post('/digest', content=body)
    assert resp.status_code == 200
    assert resp.json() == expected_digest(body)


def chunked(body, size):
    def gen():
        for i in range(0, len(body), size):
            yield body[i : i + size]

    return gen()


@pytest.mark.parametrize(
    ('body', 'is_chunked'),
    [(b'hello world', False), (LARGE, False), (LARGE, True)],
    ids=['small', '5MiB', '5MiB-chunked'],
)
def test_async_iteration_yields_the_whole_body(srv, body, is_chunked):
    content = chunked(body, 100_000) if is_chunked else body
    resp = srv.post('/digest_iter', content=content)
    assert resp.status_code == 200
    got = resp.json()
    assert {'len': got['len'], 'sha256': got['sha256']} == expected_digest(body)
    assert got['chunks'] >= 1


@pytest.mark.parametrize('mode', ['call_call', 'call_iter', 'iter_call', 'iter_iter'])
def test_reading_the_body_twice_raises_protocol_error(srv, mode):
    resp = srv.post(f'/read_twice?mode={mode}', content=b'only once')
    assert resp.status_code == 200
    assert resp.json() == {'first': 'only once', 'error': 'RSGIProtocolError'}


# --- responses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('path', 'status', 'body'),
    [
        ('/response/empty', 204, b''),
        ('/response/empty?status=200', 200, b''),
        ('/response/str', 201, 'h\u00e9llo w\u00f6rld'.encode()),
        ('/response/bytes', 202, b'\x00\x01raw\xffbytes'),
    ],
)
def test_response_methods_send_status_body_and_repeated_headers(srv, path, status, body):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get(path))
    assert resp.status == status
    assert resp.body == body
    assert resp.header_all('x-a') == ['1', '3']
    assert resp.header_all('x-b') == ['2']
    assert resp.header_all('set-cookie') == ['c1=1', 'c2=2']
    if status != 204:
        assert resp.header('content-length') == str(len(body))


def test_response_file_sends_the_file(srv, sample_file):
    path, data = sample_file
    resp = srv.get('/file', params={'path': str(path)})
    assert resp.status_code == 200
    assert resp.headers['content-length'] == str(len(data))
    assert resp.content == data


@pytest.mark.parametrize(
    ('start', 'end', 'expect'),
    [
        (100, 5000, slice(100, 5000)),
        (0, 1, slice(0, 1)),
        (70_000, 10**9, slice(70_000, None)),
        (10**9, 10**9 + 5, slice(0, 0)),
    ],
    ids=['middle', 'first-byte', 'end-clamped', 'past-the-end'],
)
def test_response_file_range_sends_start_to_end(srv, sample_file, start, end, expect):
    path, data = sample_file
    resp = srv.get('/file_range', params={'path': str(path), 'start': start, 'end': end})
    assert resp.status_code == 206
    assert resp.content == data[expect]
    assert resp.headers['content-length'] == str(len(data[expect]))


def test_response_file_on_a_missing_path_is_404(srv, tmp_path):
    resp = srv.get('/file', params={'path': str(tmp_path / 'does-not-exist.bin')})
    assert resp.status_code == 404
    resp = srv.get('/file_range', params={'path': str(tmp_path / 'nope.bin'), 'start': 0, 'end': 10})
    assert resp.status_code == 404


@pytest.mark.parametrize(('start', 'end'), [(10, 10), (20, 10)])
def test_response_file_range_with_empty_range_raises_value_error(srv, sample_file, start, end):
    path, _ = sample_file
    resp = srv.get('/file_range_invalid', params={'path': str(path), 'start': start, 'end': end})
    assert (resp.status_code, resp.text) == (200, 'caught ValueError')


def test_response_stream_sends_chunks_in_order(srv):
    with srv.client() as client, client.stream('GET', '/stream') as resp:
        assert resp.status_code == 200
        assert resp.headers['content-type'] == 'text/plain; charset=utf-8'
        body = b''.join(resp.iter_bytes())
    assert body == b'bytes-0;str-1;bytes-2;str-3;bytes-4;str-5;'


def test_first_response_wins(srv):
    resp = srv.get('/first_wins')
    assert (resp.status_code, resp.content) == (200, b'first')


def test_response_stream_after_a_response_raises_protocol_error(srv):
    resp = srv.get('/stream_after')
    assert (resp.status_code, resp.content) == (200, b'done')
    srv.wait_for_log(r'^EVENT stream_after \w+$')
    assert 'EVENT stream_after RSGIProtocolError' in srv.log()


def test_client_disconnect_completes_when_the_client_goes_away(srv):
    conn = Conn(srv.host, srv.port)
    conn.send(get('/disconnect?tag=midway'))
    srv.wait_for_log(r'^EVENT disconnect midway waiting$')
    time.sleep(0.2)
    assert 'EVENT disconnect midway seen' not in srv.log(), 'completed while the client was still there'
    conn.close()
    srv.wait_for_log(r'^EVENT disconnect midway seen$', timeout=5)
    assert srv.get('/').status_code == 200


def test_client_disconnect_completes_when_the_client_left_before_the_call(srv):
    conn = Conn(srv.host, srv.port)
    conn.send(get('/disconnect?tag=early&delay=0.5'))
    srv.wait_for_log(r'^EVENT disconnect early waiting$')
    conn.close()  # the app only calls client_disconnect() 0.5s later
    srv.wait_for_log(r'^EVENT disconnect early seen$', timeout=5)


def test_stream_send_raises_protocol_closed_once_the_client_is_gone(srv):
    conn = Conn(srv.host, srv.port)
    conn.send(get('/stream_forever?tag=gone'))
    head = conn.read_head()
    assert head.status == 200
    conn.sock.recv(4096)  # some body arrived
    conn.close()
    (match,) = srv.wait_for_log(r'^EVENT stream_forever gone (\S+)$', timeout=10)
    assert match[1] == 'RSGIProtocolClosed'


# --- misbehaving apps ------------------------------------------------------------------------


def test_app_returning_without_a_response_gets_500(srv):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/noresponse'))
    assert resp.status == 500
    assert resp.body == b''
    assert resp.header('content-length') == '0'


def test_app_raising_gets_500_and_the_error_is_logged(srv):
    resp = srv.get('/raise')
    assert (resp.status_code, resp.content) == (500, b'')
    srv.wait_for_log(r'RuntimeError: boom from the test app')
    log = srv.log()
    assert 'Application callable raised an exception' in log
    assert 'Traceback (most recent call last)' in log
    assert 'rsgi_basic.py' in log
    assert srv.get('/').status_code == 200


# --- app shapes and hooks --------------------------------------------------------------------


def test_plain_async_function_app(srv):
    resp = srv.get('/')
    assert (resp.status_code, resp.text) == (200, 'ok')


def test_factory_builds_the_app(server):
    srv = server('rsgi_factory:create_app', '--factory')
    resp = srv.get('/')
    assert (resp.status_code, resp.text) == (200, 'made by the factory')


def hook_calls(directory, kind):
    return {int(p.name.split('-')[1]): p.read_text() for p in directory.iterdir() if p.name.startswith(kind + '-')}


def test_rsgi_hooks_run_once_per_worker_outside_the_loop(server, tmp_path):
    hooks_dir = tmp_path / 'hooks'
    hooks_dir.mkdir()
    srv = server('rsgi_hooks:app', '--workers', '2', env={'E2E_HOOKS_DIR': str(hooks_dir)}, workers=2)
    workers = set(srv.worker_pids().values())
    assert len(workers) == 2
    # __rsgi_init__ ran before the workers reported ready.
    assert hook_calls(hooks_dir, 'init') == dict.fromkeys(workers, 'running=False\n')
    assert hook_calls(hooks_dir, 'del') == {}

    resp = srv.get('/')
    assert resp.status_code == 200
    kind, pid = resp.text.split()
    assert kind == 'rsgi' and int(pid) in workers  # __rsgi__ is preferred over __call__

    assert srv.stop() == 0
    assert hook_calls(hooks_dir, 'del') == dict.fromkeys(workers, 'running=False\n')
    assert hook_calls(hooks_dir, 'init') == dict.fromkeys(workers, 'running=False\n')
