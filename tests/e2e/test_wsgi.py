"""WSGI (PEP 3333) against the real server: environ, wsgi.input, start_response, responses,
file_wrapper, errors, close(), and the blocking-thread pool."""

import hashlib
import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from e2e.wire import Conn, get

APP = 'wsgi_basic:app'


@pytest.fixture(scope='module')
def srv(module_server):
    return module_server(APP, '--interface', 'wsgi')


@pytest.fixture(scope='module')
def sample_file(tmp_path_factory):
    """300 KiB of varied bytes, and its path."""
    data = b''.join(hashlib.sha256(str(i).encode()).digest() for i in range(300 * 1024 // 32))
    path = tmp_path_factory.mktemp('files') / 'sample.bin'
    path.write_bytes(data)
    return path, data


def environ_of(srv, request_bytes):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(request_bytes)
        local_port = conn.sock.getsockname()[1]
    assert resp.status == 200, resp.body
    return json.loads(resp.body), local_port


def worker_pid(srv):
    (pid,) = srv.worker_pids().values()
    return pid


def pool_threads(pid):
    """Names of the worker's WSGI pool threads (from /proc)."""
    names = []
    for task in Path(f'/proc/{pid}/task').iterdir():
        try:
            comm = (task / 'comm').read_text().strip()
        except OSError:
            continue
        if comm.startswith('granian-wsgi'):
            names.append(comm)
    return names


# --- environ ---------------------------------------------------------------------------------


def test_environ_has_every_pep3333_key(srv):
    request = b'GET /environ/caf%C3%A9%20x?a=1&b=%20c HTTP/1.1\r\nHost: example.com:8080\r\n\r\n'
    env, local_port = environ_of(srv, request)
    assert env['REQUEST_METHOD'] == 'GET'
    assert env['SCRIPT_NAME'] == ''
    # Percent-decoded, then the UTF-8 bytes as latin-1 code points (PEP 3333 "bytes as str").
    assert env['PATH_INFO'] == '/environ/caf\u00c3\u00a9 x'
    assert env['PATH_INFO'].encode('latin-1').decode('utf-8') == '/environ/caf\u00e9 x'
    assert env['QUERY_STRING'] == 'a=1&b=%20c'
    assert env['REQUEST_URI'] == '/environ/caf%C3%A9%20x?a=1&b=%20c'
    assert env['SERVER_NAME'] == '127.0.0.1'
    assert env['SERVER_PORT'] == str(srv.port)
    assert env['SERVER_PROTOCOL'] == 'HTTP/1.1'
    assert env['REMOTE_ADDR'] == '127.0.0.1'
    assert env['REMOTE_PORT'] == str(local_port)
    assert env['HTTP_HOST'] == 'example.com:8080'
    assert 'CONTENT_TYPE' not in env and 'CONTENT_LENGTH' not in env
    assert env['wsgi.version'] == [1, 0]
    assert env['wsgi.url_scheme'] == 'http'
    assert env['wsgi.input_terminated'] is True
    assert env['wsgi.multithread'] is True
    assert env['wsgi.multiprocess'] is False
    assert env['wsgi.run_once'] is False
    assert env['wsgi.input'] == '<WSGIInput>'
    assert env['wsgi.errors'] == '<ErrorStream>'
    assert env['wsgi.file_wrapper'] == '<type>'
    assert env['_input_methods'] == ['read', 'readline', 'readlines', '__iter__']
    assert env['_errors_methods'] == ['write', 'writelines', 'flush']
    # Every CGI-style value is a native str.
    assert set(env['_types'].values()) == {'str'}


def test_environ_headers_are_joined_and_underscored_names_dropped(srv):
    request = (
        b'POST /environ HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n'
        b'X-Multi: one\r\nX-Multi: two\r\nCookie: a=1\r\nCookie: b=2\r\nX-Under_Score: sneaky\r\n'
        b'X-Latin: caf\xe9\r\n\r\nhi'
    )
    env, _ = environ_of(srv, request)
    assert env['CONTENT_TYPE'] == 'text/plain'
    assert env['CONTENT_LENGTH'] == '2'
    assert 'HTTP_CONTENT_TYPE' not in env and 'HTTP_CONTENT_LENGTH' not in env
    assert env['HTTP_X_MULTI'] == 'one,two'
    assert env['HTTP_COOKIE'] == 'a=1; b=2'
    assert 'HTTP_X_UNDER_SCORE' not in env
    assert env['HTTP_X_LATIN'] == 'caf\u00e9'


def test_environ_of_an_http10_request(srv):
    env, _ = environ_of(srv, b'GET /environ HTTP/1.0\r\n\r\n')
    assert env['SERVER_PROTOCOL'] == 'HTTP/1.0'
    assert 'HTTP_HOST' not in env


def test_environ_on_a_unix_socket(server, tmp_path):
    path = tmp_path / 'wsgi.sock'
    srv = server(APP, '--interface', 'wsgi', uds=path)
    env = srv.get('/environ').json()
    assert (env['SERVER_NAME'], env['SERVER_PORT']) == (str(path), '0')
    assert env['REMOTE_ADDR'] == ''
    assert 'REMOTE_PORT' not in env


def test_url_path_prefix_sets_script_name(server):
    srv = server(APP, '--interface', 'wsgi', '--url-path-prefix', '/api/')
    env = srv.get('/api/environ/x').json()
    assert (env['SCRIPT_NAME'], env['PATH_INFO']) == ('/api', '/environ/x')
    env = srv.get('/api?env=1').json()
    assert (env['SCRIPT_NAME'], env['PATH_INFO']) == ('/api', '')
    # Outside the mount point: whole path, no script name.
    env = srv.get('/apiary?env=1').json()
    assert (env['SCRIPT_NAME'], env['PATH_INFO']) == ('', '/apiary')


def test_multiprocess_and_multithread_follow_the_settings(server):
    srv = server(APP, '--interface', 'wsgi', '--workers', '2', '--blocking-threads', '1', workers=2)
    env = srv.get('/environ').json()
    assert env['wsgi.multiprocess'] is True
    assert env['wsgi.multithread'] is False


# --- wsgi.input ------------------------------------------------------------------------------


@pytest.mark.parametrize('size', [0, 10, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024], ids=lambda s: f'{s}B')
def test_read_returns_the_whole_body(srv, size):
    body = bytes(range(256)) * (size // 256) + b'x' * (size % 256)
    resp = srv.post('/echo', content=body)
    assert resp.status_code == 200
    assert resp.content == body
    assert resp.headers['x-content-length'] == str(size)


def test_read_of_a_chunked_body_stops_at_its_end(srv):
    body = [b'a' * 70000, b'b' * 5, b'c' * 100000]
    resp = srv.post('/echo', content=iter(body))
    assert resp.content == b''.join(body)
    assert resp.headers['x-content-length'] == '-'


@pytest.mark.parametrize('total', [1000, 200 * 1024], ids=['prefetched', 'streamed'])
def test_read_n_returns_n_bytes_until_the_end(srv, total):
    resp = srv.post('/read-sized?size=3000', content=b'z' * total)
    sizes = resp.json()['sizes']
    assert sum(sizes) == total
    assert all(s == 3000 for s in sizes[:-1]) and 0 < sizes[-1] <= 3000


@pytest.mark.parametrize('pad', [0, 100 * 1024], ids=['prefetched', 'streamed'])
def test_readline_readlines_and_iteration(srv, pad):
    tail = 'x' * pad
    body = f'first\nsecond\nthird\n{tail}last'.encode()
    got = srv.post('/readline', content=body).json()
    assert got == {'first': 'first\n', 'limited': 'sec', 'rest': ['ond\n', 'third\n', f'{tail}last'], 'after': ''}
    lines = srv.post('/iter-lines', content=body).json()['lines']
    assert lines == ['first\n', 'second\n', 'third\n', f'{tail}last']


def test_body_is_read_only_when_the_app_asks(srv):
    """`Expect: 100-continue` is answered when the app reads, never when it does not."""
    with Conn(srv.host, srv.port) as conn:
        conn.send(b'POST /no-read HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n')
        resp = conn.read_response()
        assert (resp.status, resp.body) == (200, b'did not read')
    with Conn(srv.host, srv.port) as conn:
        conn.send(b'POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n')
        assert conn.read_response().status == 100
        conn.send(b'hello')
        resp = conn.read_response()
        assert (resp.status, resp.body) == (200, b'hello')


def test_large_upload_is_streamed_not_buffered(server):
    """200 MiB read through wsgi.input in 64 KiB pieces grows the worker by far less than that."""
    srv = server(APP, '--interface', 'wsgi')
    pid = worker_pid(srv)
    assert srv.post('/digest', content=b'warm up').status_code == 200

    def status(key):
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024

    rss_before = status('VmRSS:')
    piece = bytes(range(256)) * 4096  # 1 MiB
    total = 200 * len(piece)
    digest = hashlib.sha256()
    for _ in range(200):
        digest.update(piece)
    with srv.client(timeout=60) as client:
        resp = client.post('/digest', content=(piece for _ in range(200)), headers={'Content-Length': str(total)})
    assert resp.json() == {'size': total, 'sha256': digest.hexdigest()}
    growth = status('VmHWM:') - rss_before
    assert growth < 32 * 1024 * 1024, f'worker grew by {growth / 2**20:.1f} MiB'


def test_client_aborting_an_upload_is_not_an_app_error(server):
    srv = server(APP, '--interface', 'wsgi')
    with Conn(srv.host, srv.port) as conn:
        conn.send(b'POST /digest HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n' + b'x' * 200000)
        time.sleep(0.2)
    time.sleep(0.3)
    assert srv.get('/hello').status_code == 200
    assert 'Application callable raised' not in srv.log()


# --- responses -------------------------------------------------------------------------------


def test_list_response_is_one_full_body(srv):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/list'))
    assert resp.status == 200
    assert resp.body == b'abcdef'
    assert resp.header('content-length') == '6' and not resp.chunked
    assert resp.header('server') == 'granian'


def test_big_list_is_sent_whole(srv):
    resp = srv.get('/big-list')
    assert resp.content == b''.join(bytes([i]) * 65536 for i in range(8))
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/big-one'))
    assert resp.header('content-length') == str(1024 * 1024) and not resp.chunked
    assert resp.body == b'1' * (1024 * 1024)


def test_iterable_without_content_length_is_chunked_and_streamed_as_yielded(srv):
    with Conn(srv.host, srv.port, timeout=10) as conn:
        started = time.monotonic()
        conn.send(get('/stream?n=3&delay=0.4&id=timing'))
        head = conn.read_head()
        first_at = time.monotonic() - started
        assert head.status == 200 and head.chunked
        size_line = conn._read_until(b'\r\n')
        assert conn._read_exact(int(size_line, 16) + 2) == b'chunk0;\r\n'
        first_chunk_at = time.monotonic() - started
    assert first_at < 0.3 and first_chunk_at < 0.3, (first_at, first_chunk_at)
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/stream?n=3&delay=0.05'))
    assert resp.chunks == [b'chunk0;', b'chunk1;', b'chunk2;']


def test_write_callable_sends_before_the_iterable(srv):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/write'))
    assert resp.body == b'hello world!'
    assert resp.chunked
    assert srv.get('/closed?id=write').json()['state'] == 'closed'


def test_content_length_truncates_a_longer_body(srv):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/truncate'))
        assert resp.body == b'01234'
        # The connection stays usable.
        assert conn.request(get('/hello')).body == b'Hello, World!'
    assert srv.get('/closed?id=truncate').json()['state'] == 'closed'


def test_empty_iterable_and_lazy_start_response(srv):
    resp = srv.get('/empty-iter')
    assert resp.status_code == 204 and resp.content == b''
    assert srv.get('/closed?id=empty').json()['state'] == 'closed'
    resp = srv.get('/lazy-start')
    assert resp.content == b'late' and resp.headers['x-lazy'] == 'yes'


def test_custom_reason_phrase_and_headers(srv):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/reason'))
        assert (resp.status, resp.reason) == (299, 'Custom Thing')
        resp = conn.request(get('/headers'))
    assert resp.header_all('set-cookie') == ['a=1', 'b=2']
    assert resp.header('x-latin').encode('latin-1') == b'caf\xe9'
    assert resp.header('keep-alive') is None
    assert not resp.chunked and resp.body == b'headers'


def test_connection_close_from_the_app_is_honoured(srv):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/conn-close'))
        assert resp.body == b'bye'
        assert conn.wait_closed(timeout=5)


def test_head_request_gets_no_body(srv):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/hello', method='HEAD'), head_request=True)
        assert resp.status == 200 and resp.header('content-length') == '13'
        assert conn.request(get('/hello')).body == b'Hello, World!'


# --- wsgi.file_wrapper -----------------------------------------------------------------------


def test_file_wrapper_is_sent_by_the_engine(srv, sample_file):
    path, data = sample_file
    resp = srv.get('/file', params={'path': str(path)})
    assert resp.status_code == 200
    assert resp.content == data
    assert resp.headers['content-length'] == str(len(data))
    # The file never went through Python's read().
    assert srv.get('/file-reads').json()['reads'] == 0


@pytest.mark.parametrize(
    ('offset', 'length', 'expect'),
    [(1000, None, slice(1000, None)), (0, 100, slice(0, 100)), (5000, 10, slice(5000, 5010))],
    ids=['from-offset', 'content-length', 'both'],
)
def test_file_wrapper_respects_position_and_content_length(srv, sample_file, offset, length, expect):
    path, data = sample_file
    params = {'path': str(path), 'offset': offset}
    if length is not None:
        params['length'] = length
    resp = srv.get('/file', params=params)
    assert resp.content == data[expect]


def test_file_wrapper_without_a_file_descriptor_is_iterated(srv):
    resp = srv.get('/file-bytesio')
    assert resp.content == b'in memory ' * 1000


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('path', 'message'),
    [
        ('/raise', 'RuntimeError: boom before start_response'),
        ('/raise-after-start', 'RuntimeError: boom after start_response'),
        ('/raise-first-chunk', 'RuntimeError: iteration failed'),
        ('/start-twice', 'start_response() was already called'),
        ('/no-start', 'produced a body before calling start_response()'),
        ('/bad-header', 'start_response(): invalid value for header x-bad'),
        ('/bad-header-type', 'start_response(): header names must be str, got bytes'),
        ('/bad-status', 'start_response(): invalid status "OK"'),
        ('/str-body', 'the WSGI response iterable must yield bytes, got str'),
    ],
)
def test_app_errors_give_500_and_a_logged_traceback(srv, path, message):
    resp = srv.get(path)
    assert resp.status_code == 500
    srv.wait_for_log(rf'^\[ERROR\] Application callable raised an exception\n(?:.*\n)*?.*{re.escape(message)}')
    assert srv.get('/hello').status_code == 200


def test_error_mid_stream_aborts_the_response_and_closes(srv):
    with Conn(srv.host, srv.port) as conn:
        conn.send(get('/raise-in-iter'))
        head = conn.read_head()
        assert head.status == 200 and head.chunked
        # What was yielded before the error still arrives, then the connection closes without
        # the last-chunk marker: the client can tell the body is incomplete.
        assert conn._read_until(b'\r\n') == b'5'
        assert conn._read_exact(7) == b'first\r\n'
        assert not conn._fill()
    srv.wait_for_log(r'RuntimeError: iteration failed')
    assert srv.get('/closed?id=raise-in-iter').json()['state'] == 'closed'


def test_exc_info_replaces_the_response_before_it_is_sent(srv):
    resp = srv.get('/exc-info')
    assert resp.status_code == 503 and resp.content == b'replaced'


def test_exc_info_after_the_head_was_sent_reraises(srv):
    with Conn(srv.host, srv.port) as conn:
        conn.send(get('/exc-info-late'))
        assert conn.read_head().status == 200
        assert conn._read_until(b'\r\n') == b'4'
        assert conn._read_exact(6) == b'sent\r\n'
        assert not conn._fill()
    srv.wait_for_log(r'ValueError: too late')


def test_wsgi_errors_goes_to_the_server_log(srv):
    assert srv.get('/errors').status_code == 200
    srv.wait_for_log(r'^\[ERROR\] written to wsgi\.errors$')
    srv.wait_for_log(r'^\[ERROR\] two parts$')
    srv.wait_for_log(r'^\[ERROR\] unterminated$')


def test_close_is_called_when_the_client_disconnects(srv):
    conn = Conn(srv.host, srv.port)
    conn.send(get('/endless?id=gone'))
    assert conn.read_head().status == 200
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
    conn.close()
    deadline = time.monotonic() + 10
    while srv.get('/closed?id=gone').json()['state'] != 'closed':
        assert time.monotonic() < deadline, 'close() was not called after the client left'
        time.sleep(0.05)


# --- threads ---------------------------------------------------------------------------------


def test_app_runs_on_pool_threads_never_on_runtime_threads(srv):
    for _ in range(5):
        got = srv.get('/thread').json()
        assert got['comm'].startswith('granian-wsgi-'), got
        assert got['name'] == got['comm']


def _concurrently(srv, paths):
    results = [None] * len(paths)

    def one(i, p):
        results[i] = srv.get(p).json()

    threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(paths)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, results


def test_blocking_threads_bound_concurrency(server):
    srv = server(APP, '--interface', 'wsgi', '--blocking-threads', '2')
    # 2 threads: two rounds of 1 s; 1 thread would take 4 s, 4 threads 1 s.
    elapsed, results = _concurrently(srv, ['/sleep?t=1'] * 4)
    assert 2.0 <= elapsed < 3.5, elapsed
    assert len({r['comm'] for r in results}) == 2


def test_idle_threads_retire(server):
    srv = server(APP, '--interface', 'wsgi', '--blocking-threads', '4', '--blocking-threads-idle-timeout', '5')
    pid = worker_pid(srv)
    elapsed, _ = _concurrently(srv, ['/sleep?t=1'] * 4)
    assert elapsed < 1.9, 'the 4 requests did not run concurrently'
    assert len(pool_threads(pid)) == 4
    deadline = time.monotonic() + 10
    while pool_threads(pid):
        assert time.monotonic() < deadline, f'threads still alive: {pool_threads(pid)}'
        time.sleep(0.2)
    assert srv.get('/hello').status_code == 200


def test_multi_thread_runtime_and_access_log(server):
    srv = server(APP, '--interface', 'wsgi', '--runtime-mode', 'mt', '--runtime-threads', '2', '--access-log')
    body = b'q' * (300 * 1024)
    got = srv.post('/digest', content=body).json()
    assert got == {'size': len(body), 'sha256': hashlib.sha256(body).hexdigest()}
    assert srv.get('/stream?n=3').text == 'chunk0;chunk1;chunk2;'
    srv.wait_for_log(r'"POST /digest HTTP/1\.1" 200 ')
    srv.wait_for_log(r'"GET /stream HTTP/1\.1" 200 ')


def test_graceful_stop_waits_for_running_requests(server):
    srv = server(APP, '--interface', 'wsgi')
    result = {}

    def slow():
        result['resp'] = srv.get('/sleep?t=1')

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    assert srv.stop() == 0
    t.join()
    assert result['resp'].status_code == 200
    srv.assert_no_orphans()
