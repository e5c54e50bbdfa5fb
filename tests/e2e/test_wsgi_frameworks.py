"""Real WSGI frameworks on granian, end to end: Flask and a small Django project.

The apps live in `tests/apps` (`flask_app.py`, `django_wsgi_proj/`).
"""

import hashlib
import time

import pytest

from e2e.wire import Conn, get

SAMPLE = b''.join(hashlib.sha256(str(i).encode()).digest() for i in range(8192))  # 256 KiB


@pytest.fixture(scope='module')
def sample_path(tmp_path_factory):
    path = tmp_path_factory.mktemp('files') / 'sample.bin'
    path.write_bytes(SAMPLE)
    return path


@pytest.fixture(scope='module')
def flask_srv(module_server):
    return module_server('flask_app:app', '--interface', 'wsgi')


@pytest.fixture(scope='module')
def django_srv(module_server):
    return module_server('django_wsgi_proj.wsgi:application', '--interface', 'wsgi')


def upload_payload(size=300_000):
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


def check_upload(srv, path):
    payload = upload_payload()
    resp = srv.post(
        path,
        data={'name': 'granian', 'color': ['red', 'blue']},
        files={'attachment': ('data.bin', payload, 'application/octet-stream')},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        'name': 'granian',
        'colors': ['red', 'blue'],
        'attachment': {'name': 'data.bin', 'size': len(payload), 'sha256': hashlib.sha256(payload).hexdigest()},
    }


# --- Flask -----------------------------------------------------------------------------------


def test_flask_json_get_and_post(flask_srv):
    got = flask_srv.get('/json', params={'q': ['a', 'b']}).json()
    assert got == {
        'message': 'hello',
        'args': ['a', 'b'],
        'script_root': '',
        'path': '/json',
        'url': '/json',
        'remote_addr': '127.0.0.1',
    }
    resp = flask_srv.post('/json', json={'x': [1, 2, 3], 'caf\u00e9': True})
    assert resp.json() == {'received': {'x': [1, 2, 3], 'caf\u00e9': True}, 'length': len(resp.request.content)}


def test_flask_form_and_file_upload(flask_srv):
    check_upload(flask_srv, '/form')


def test_flask_streaming_response_is_chunked_and_incremental(flask_srv):
    with Conn(flask_srv.host, flask_srv.port, timeout=10) as conn:
        started = time.monotonic()
        conn.send(get('/stream?count=3&delay=1'))
        head = conn.read_head()
        assert head.status == 200 and head.chunked
        size = int(conn._read_until(b'\r\n'), 16)
        assert conn._read_exact(size + 2) == b'flask line 0 for /stream\n\r\n'
        assert time.monotonic() - started < 0.9, 'the first line waited for the rest'
    resp = flask_srv.get('/stream', params={'count': 50})
    assert resp.text == ''.join(f'flask line {i} for /stream\n' for i in range(50))


def test_flask_send_file_whole_range_and_conditional(flask_srv, sample_path):
    resp = flask_srv.get('/file', params={'path': str(sample_path)})
    assert resp.status_code == 200
    assert resp.content == SAMPLE
    assert resp.headers['content-length'] == str(len(SAMPLE))
    etag = resp.headers['etag']
    resp = flask_srv.get('/file', params={'path': str(sample_path)}, headers={'Range': 'bytes=1000-1999'})
    assert resp.status_code == 206
    assert resp.content == SAMPLE[1000:2000]
    resp = flask_srv.get('/file', params={'path': str(sample_path)}, headers={'If-None-Match': etag})
    assert resp.status_code == 304 and resp.content == b''


def test_flask_error_is_a_500_logged_through_wsgi_errors(flask_srv):
    resp = flask_srv.get('/error')
    assert resp.status_code == 500
    flask_srv.wait_for_log(r'^\[ERROR\] .*Exception on /error \[GET\]$')
    flask_srv.wait_for_log(r'RuntimeError: flask view failed')
    assert flask_srv.get('/json').status_code == 200


def test_flask_under_a_url_path_prefix(server):
    srv = server('flask_app:app', '--interface', 'wsgi', '--url-path-prefix', '/app')
    got = srv.get('/app/json').json()
    assert (got['script_root'], got['path'], got['url']) == ('/app', '/json', '/app/json')


# --- Django ----------------------------------------------------------------------------------


def test_django_json_view(django_srv):
    resp = django_srv.get('/json/21/', params={'q': ['x', 'y']}, headers={'X-Test-Header': 'present'})
    assert resp.status_code == 200
    assert resp.json() == {
        'number': 21,
        'method': 'GET',
        'path': '/json/21/',
        'path_info': '/json/21/',
        'script_name': '',
        'query': ['x', 'y'],
        'reverse': '/json/21/',
        'header': 'present',
        'host': f'127.0.0.1:{django_srv.port}',
    }


def test_django_form_and_file_upload(django_srv):
    check_upload(django_srv, '/form/')


def test_django_csrf_protection_refuses_a_tokenless_post(django_srv):
    assert django_srv.post('/protected/', data={'a': '1'}).status_code == 403


@pytest.mark.parametrize('size', [100, 1024 * 1024], ids=['small', '1MiB'])
def test_django_request_body(django_srv, size):
    body = upload_payload(size)
    got = django_srv.post('/body/', content=body, headers={'Content-Type': 'application/octet-stream'}).json()
    assert got == {'size': size, 'sha256': hashlib.sha256(body).hexdigest()}


def test_django_streaming_response(django_srv):
    with Conn(django_srv.host, django_srv.port) as conn:
        resp = conn.request(get('/stream/?count=4'))
    assert resp.status == 200 and resp.chunked
    assert resp.body == b''.join(f'django line {i}\n'.encode() for i in range(4))


def test_django_file_response(django_srv, sample_path):
    resp = django_srv.get('/file/', params={'path': str(sample_path)})
    assert resp.status_code == 200
    assert resp.content == SAMPLE
    assert resp.headers['content-length'] == str(len(SAMPLE))


def test_django_error_is_a_500_and_the_worker_keeps_serving(django_srv):
    assert django_srv.get('/error/').status_code == 500
    assert django_srv.get('/json/1/').status_code == 200


def test_django_under_a_url_path_prefix(server):
    srv = server('django_wsgi_proj.wsgi:application', '--interface', 'wsgi', '--url-path-prefix', '/dj')
    got = srv.get('/dj/json/5/').json()
    assert (got['script_name'], got['path'], got['path_info'], got['reverse']) == (
        '/dj',
        '/dj/json/5/',
        '/json/5/',
        '/dj/json/5/',
    )
