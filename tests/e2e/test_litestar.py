"""Litestar on granian, end to end: a JSON route, a JSON echo, typed path parameters, a handler
that raises, and the startup/shutdown hooks, over HTTP/1.1 and cleartext HTTP/2 (prior
knowledge); and the first-contact warning when the app is served without `--interface asgi`.

The app is `tests/apps/litestar_app.py`.
"""

import re

import httpx
import pytest

from e2e.asgi_support import asgi, wait_for_marker, worker_pid

VERSIONS = {'1.1': False, '2': True}
WRONG_INTERFACE_WARNING = (
    "[WARNING] app 'litestar_app:app' looks like an ASGI application but --interface is rsgi: run with --interface asgi"
)


@pytest.fixture(scope='module')
def markers(tmp_path_factory):
    return tmp_path_factory.mktemp('litestar-markers')


@pytest.fixture(scope='module')
def srv(module_server, markers):
    return asgi(module_server, 'litestar_app:app', env={'LITESTAR_MARKER_DIR': str(markers)})


def client(srv, version):
    """HTTP/1.1, or HTTP/2 with prior knowledge (cleartext, `--http auto`)."""
    http2 = VERSIONS[version]
    return httpx.Client(base_url=srv.url, http1=not http2, http2=http2, timeout=10)


def assert_granian_response(resp, version):
    assert resp.http_version == f'HTTP/{version}'
    assert resp.headers.get_list('server') == ['granian']


@pytest.mark.parametrize('version', list(VERSIONS))
def test_json_route_sees_the_startup_state(srv, version):
    with client(srv, version) as c:
        resp = c.get('/hello')
    assert resp.status_code == 200
    assert_granian_response(resp, version)
    assert resp.headers['content-type'] == 'application/json'
    pid = worker_pid(srv)
    assert resp.json() == {
        'greeting': 'hello from litestar startup',
        'started_pid': pid,
        'pid': pid,
        'http_version': version,
    }


@pytest.mark.parametrize('version', list(VERSIONS))
def test_post_echoes_the_json_body(srv, version):
    small = {'name': 'caf\u00e9', 'numbers': [1, 2.5, -3], 'nested': {'ok': True, 'none': None}}
    # Larger than the 64 KiB read ahead: the body reaches the app in several pieces.
    large = {'rows': [{'i': i, 'text': f'row {i} ' * 8} for i in range(2000)]}
    with client(srv, version) as c:
        for payload in (small, large):
            resp = c.post('/echo', json=payload)
            assert resp.status_code == 201, resp.text
            assert_granian_response(resp, version)
            assert resp.json() == {'received': payload}
        # A body that is not JSON is the framework's 400, not a server error.
        bad = c.post('/echo', content=b'{not json', headers={'content-type': 'application/json'})
    assert bad.status_code == 400, bad.text
    assert 'Application callable raised' not in srv.log()


@pytest.mark.parametrize('version', list(VERSIONS))
def test_path_and_query_parameters(srv, version):
    with client(srv, version) as c:
        resp = c.get('/items/42', params={'q': 'x y'})
        missing = c.get('/nowhere')
    assert resp.status_code == 200
    assert resp.json() == {'item_id': 42, 'q': 'x y'}
    assert missing.status_code == 404
    assert missing.json() == {'status_code': 404, 'detail': 'Not Found'}
    assert_granian_response(missing, version)


@pytest.mark.parametrize('version', list(VERSIONS))
def test_handler_exception_is_litestars_500(srv, version):
    with client(srv, version) as c:
        resp = c.get('/boom')
        after = c.get('/hello')
    assert resp.status_code == 500
    assert_granian_response(resp, version)
    assert resp.json() == {'status_code': 500, 'detail': 'Internal Server Error'}
    assert after.status_code == 200
    # Litestar answered the failure itself: for the server it is an ordinary response.
    assert 'Application callable raised' not in srv.log()


def test_served_as_asgi_there_is_no_warning(srv):
    assert srv.get('/hello').status_code == 200
    log = srv.log()
    assert 'looks like' not in log and '[WARNING]' not in log, log


def test_shutdown_hook_runs_on_stop(server, tmp_path):
    srv = asgi(server, 'litestar_app:app', env={'LITESTAR_MARKER_DIR': str(tmp_path)})
    pid = worker_pid(srv)
    assert srv.get('/hello').json()['started_pid'] == pid
    assert srv.stop() == 0
    assert wait_for_marker(tmp_path, 'litestar-shutdown', timeout=5) == str(pid)
    srv.assert_no_orphans()


def test_default_interface_warns_that_it_looks_like_asgi(server):
    srv = server('litestar_app:app')
    assert [line for line in srv.log().splitlines() if 'looks like' in line] == [WRONG_INTERFACE_WARNING]
    assert srv.get('/hello').status_code == 500
    srv.wait_for_log(
        r'^\[ERROR\] Application callable raised an exception '
        r'\(the app looks like an ASGI application: run with --interface asgi\)$'
    )
    srv.wait_for_log(re.escape("TypeError: Litestar.__call__() missing 1 required positional argument: 'send'"))
