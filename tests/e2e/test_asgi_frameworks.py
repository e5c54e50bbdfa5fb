"""Real ASGI frameworks on granian, end to end: Starlette, FastAPI and a small Django project.

The apps live in `tests/apps` (`starlette_app.py`, `fastapi_app.py`, `django_asgi_proj/`).
Background tasks are checked with a gate: the task waits for a file the test creates only after
it got the response, so a server that held the response back until the app returned would
make the test time out instead of pass.
"""

import hashlib

import pytest

from e2e.asgi_support import asgi, wait_for_marker, worker_pid
from e2e.wire import Conn, get

SAMPLE = b''.join(hashlib.sha256(str(i).encode()).digest() for i in range(8192))  # 256 KiB


@pytest.fixture(scope='module')
def dirs(tmp_path_factory):
    markers = tmp_path_factory.mktemp('markers')
    files = tmp_path_factory.mktemp('files')
    (files / 'sample.bin').write_bytes(SAMPLE)
    return markers, files


def framework_server(factory, target, dirs, *args):
    markers, files = dirs
    return asgi(factory, target, *args, env={'ASGI_MARKER_DIR': str(markers), 'ASGI_FILES_DIR': str(files)})


def upload_payload(size=300_000):
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


def check_background_gate(srv, dirs, tmp_path, path, marker):
    markers, _ = dirs
    gate = tmp_path / f'gate-{marker}'
    resp = srv.get(path, params={'gate': str(gate), 'marker': marker}, timeout=5)
    assert resp.status_code == 200
    # The response is here while the task still waits for the gate: it has not run yet.
    assert not (markers / marker).exists()
    gate.touch()
    assert wait_for_marker(markers, marker) == 'after-gate'
    return resp


def assert_quiet(srv):
    log = srv.log()
    assert 'ERROR' not in log and 'Traceback' not in log, log


# --- Starlette -------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def starlette(module_server, dirs):
    return framework_server(module_server, 'starlette_app:app', dirs)


def test_starlette_routes(starlette):
    assert starlette.get('/').text == 'starlette home'
    resp = starlette.get('/items/42', params=[('q', 'x y'), ('tag', 'a'), ('tag', 'b')], headers={'user-agent': 'ua/1'})
    assert resp.status_code == 200
    data = resp.json()
    assert data['item_id'] == 42
    assert data['q'] == 'x y'
    assert data['tags'] == ['a', 'b']
    assert data['user_agent'] == 'ua/1'
    assert data['url_for'] == f'{starlette.url}/items/7'
    assert starlette.get('/items/not-a-number').status_code == 404
    assert starlette.get('/nowhere').status_code == 404


def test_starlette_streaming_response(starlette):
    with Conn(starlette.host, starlette.port) as conn:
        resp = conn.request(get('/stream?count=50'))
    assert resp.status == 200
    assert resp.chunked
    assert resp.body == ''.join(f'line {i}\n' for i in range(50)).encode()


def test_starlette_file_response(starlette):
    resp = starlette.get('/files/sample.bin')
    assert resp.status_code == 200
    assert resp.content == SAMPLE
    assert int(resp.headers['content-length']) == len(SAMPLE)
    assert 'etag' in resp.headers


def test_starlette_file_response_range(starlette):
    resp = starlette.get('/files/sample.bin', headers={'range': 'bytes=1000-1999'})
    assert resp.status_code == 206
    assert resp.content == SAMPLE[1000:2000]
    assert resp.headers['content-range'] == f'bytes 1000-1999/{len(SAMPLE)}'


def test_starlette_form_with_file_upload(starlette):
    payload = upload_payload()
    resp = starlette.post(
        '/form',
        data={'name': 'caf\u00e9 form', 'number': ['1', '2', '3']},
        files={'upload': ('data.bin', payload, 'application/x-test')},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        'name': 'caf\u00e9 form',
        'numbers': ['1', '2', '3'],
        'filename': 'data.bin',
        'content_type': 'application/x-test',
        'size': len(payload),
        'sha256': hashlib.sha256(payload).hexdigest(),
    }


def test_starlette_request_stream(starlette):
    chunks = [upload_payload(50_000)] * 40  # 2 MB, sent chunked

    resp = starlette.post('/echo', content=iter(chunks))
    assert resp.json() == {'size': 2_000_000, 'sha256': hashlib.sha256(b''.join(chunks)).hexdigest()}


def test_starlette_background_task_runs_after_response(starlette, dirs, tmp_path):
    resp = check_background_gate(starlette, dirs, tmp_path, '/background', 'starlette-bg')
    assert resp.text == 'response sent'


def test_starlette_lifespan_state(starlette):
    data = starlette.get('/state').json()
    assert data == {'greeting': 'hello from starlette lifespan', 'started_pid': worker_pid(starlette)}


def test_starlette_exception_is_500_and_logged(starlette):
    resp = starlette.get('/fail')
    assert resp.status_code == 500
    starlette.wait_for_log(r'RuntimeError: starlette route exploded')
    assert starlette.get('/').status_code == 200


def test_starlette_lifespan_shutdown_and_prefix(server, dirs):
    markers, _ = dirs
    srv = framework_server(server, 'starlette_app:app', dirs, '--url-path-prefix', '/mount')
    data = srv.get('/mount/items/3').json()
    assert data['item_id'] == 3
    assert data['root_path'] == '/mount'
    assert data['url_for'] == f'{srv.url}/mount/items/7'
    assert srv.stop() == 0
    assert (markers / 'starlette-shutdown').read_text() == 'done'
    assert_quiet(srv)


# --- FastAPI ---------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def fastapi(module_server, dirs):
    return framework_server(module_server, 'fastapi_app:app', dirs)


def test_fastapi_json_body_and_response_model(fastapi):
    resp = fastapi.post('/items', json={'name': 'widget', 'price': 2.5, 'quantity': 4, 'tags': ['x']})
    assert resp.status_code == 201
    assert resp.headers['content-type'] == 'application/json'
    # The response model filters out `price`.
    assert resp.json() == {'name': 'widget', 'total': 10.0, 'tags': ['x']}


def test_fastapi_validation_error(fastapi):
    resp = fastapi.post('/items', json={'name': '', 'price': -1})
    assert resp.status_code == 422
    fields = {tuple(error['loc']) for error in resp.json()['detail']}
    assert fields == {('body', 'name'), ('body', 'price')}
    resp = fastapi.post('/items', content=b'{not json', headers={'content-type': 'application/json'})
    assert resp.status_code == 422


def test_fastapi_path_and_query(fastapi):
    assert fastapi.get('/items/5', params={'q': 'caf\u00e9'}).json() == {'item_id': 5, 'q': 'caf\u00e9'}
    assert fastapi.get('/items/five').status_code == 422


def test_fastapi_form_and_upload_file(fastapi):
    payload = upload_payload(1_000_000)
    resp = fastapi.post(
        '/upload',
        data={'title': 'report', 'count': '3'},
        files={'document': ('report.pdf', payload, 'application/pdf')},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        'title': 'report',
        'count': 3,
        'filename': 'report.pdf',
        'content_type': 'application/pdf',
        'size': len(payload),
        'sha256': hashlib.sha256(payload).hexdigest(),
    }
    # A missing form field is a validation error, not a server error.
    resp = fastapi.post('/upload', data={'title': 'x'}, files={'document': ('a.txt', b'a', 'text/plain')})
    assert resp.status_code == 422


def test_fastapi_streaming_response(fastapi):
    received = []
    with fastapi.client() as client, client.stream('GET', '/stream', params={'count': 20}) as resp:
        assert resp.status_code == 200
        assert resp.headers['content-type'].startswith('text/event-stream')
        assert 'content-length' not in resp.headers
        for chunk in resp.iter_bytes():
            received.append(chunk)
    assert b''.join(received) == b''.join(f'data: {i}\n\n'.encode() for i in range(20))


def test_fastapi_file_response(fastapi):
    resp = fastapi.get('/files/sample.bin')
    assert resp.status_code == 200
    assert resp.content == SAMPLE
    assert fastapi.get('/files/missing.bin').status_code == 500


def test_fastapi_background_tasks_run_after_response(fastapi, dirs, tmp_path):
    markers, _ = dirs
    resp = check_background_gate(fastapi, dirs, tmp_path, '/background', 'fastapi-bg')
    assert resp.json() == {'status': 'accepted'}
    assert wait_for_marker(markers, 'fastapi-bg-sync') == 'sync task ran'


def test_fastapi_lifespan_state(fastapi):
    assert fastapi.get('/state').json() == {'db': 'fake-connection-pool', 'started_pid': worker_pid(fastapi)}


def test_fastapi_openapi_schema(fastapi):
    schema = fastapi.get('/openapi.json').json()
    assert {'/items', '/upload', '/stream', '/state'} <= set(schema['paths'])


# --- Django ----------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def django(module_server, dirs):
    return framework_server(module_server, 'django_asgi_proj.asgi:application', dirs)


def test_django_json_view(django):
    resp = django.get('/json/21/', params=[('q', 'a'), ('q', 'caf\u00e9')], headers={'X-Test-Header': 'yes'})
    assert resp.status_code == 200
    assert resp.headers['content-type'] == 'application/json'
    assert resp.json() == {
        'number': 21,
        'double': 42,
        'method': 'GET',
        'path': '/json/21/',
        'path_info': '/json/21/',
        'script_name': '',
        'query': ['a', 'caf\u00e9'],
        'reverse': '/json/21/',
        'header': 'yes',
    }


def test_django_not_found_and_append_slash(django):
    assert django.get('/nowhere/').status_code == 404
    resp = django.get('/json/3')
    assert resp.status_code == 301
    assert resp.headers['location'] == '/json/3/'


def test_django_csrf_exempt_form_post(django):
    payload = upload_payload(200_000)
    resp = django.post(
        '/form/',
        data={'name': 'dj\u00e4ngo', 'color': ['red', 'blue']},
        files={'attachment': ('notes.txt', payload, 'text/plain')},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        'name': 'dj\u00e4ngo',
        'colors': ['red', 'blue'],
        'attachment': {'name': 'notes.txt', 'size': len(payload), 'sha256': hashlib.sha256(payload).hexdigest()},
    }
    resp = django.post('/form/', data={'name': 'plain'})
    assert resp.json() == {'name': 'plain', 'colors': []}


def test_django_csrf_still_protects_other_views(django):
    assert django.post('/protected/', data={'a': '1'}).status_code == 403


def test_django_streaming_response(django):
    with Conn(django.host, django.port) as conn:
        resp = conn.request(get('/stream/?count=30'))
    assert resp.status == 200
    assert resp.chunked
    assert resp.body == ''.join(f'django line {i}\n' for i in range(30)).encode()


def test_django_sync_view(django):
    assert django.get('/sync/', params={'word': 'bonjour'}).text == 'sync view says bonjour'


def test_django_without_lifespan_is_quiet(django):
    """Django rejects the lifespan scope: granian serves it without lifespan and logs no error."""
    assert django.get('/json/1/').status_code == 200
    assert_quiet(django)


def test_django_with_url_path_prefix(server, dirs):
    srv = framework_server(server, 'django_asgi_proj.asgi:application', dirs, '--url-path-prefix', '/site')
    data = srv.get('/site/json/4/').json()
    assert data['path'] == '/site/json/4/'
    assert data['path_info'] == '/json/4/'
    assert data['script_name'] == '/site'
    assert data['reverse'] == '/site/json/4/'
    assert srv.stop() == 0
    assert_quiet(srv)


def test_frameworks_survive_a_client_dropping_a_stream(starlette, fastapi, django):
    routes = [(starlette, '/stream'), (fastapi, '/stream'), (django, '/stream/')]
    for srv, path in routes:
        with Conn(srv.host, srv.port, timeout=5) as conn:
            conn.send(get(f'{path}?count=100000'))
            assert conn.read_head().status == 200
        resp = srv.get(path, params={'count': '2'})
        assert resp.status_code == 200
        assert resp.content.count(b'\n') >= 2
