"""Where and how the server listens: IPv6, all interfaces, Unix sockets, backlog, backpressure."""

import os
import socket
import stat
import tempfile

import httpx
import pytest

from e2e.wire import Conn, get


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(('::1', 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_available(), reason='no IPv6 loopback')
def test_ipv6_loopback(server):
    srv = server('rsgi_basic:app', host='::1')
    srv.wait_for_log(rf'Listening at: http://\[::1\]:{srv.port} ')
    resp = srv.get('/scope')
    assert resp.status_code == 200
    scope = resp.json()
    assert scope['server'] == f'[::1]:{srv.port}'
    assert scope['client'].startswith('[::1]:')


def test_all_interfaces_is_reachable_on_loopback(server):
    srv = server('rsgi_basic:app', host='0.0.0.0')
    resp = httpx.get(f'http://127.0.0.1:{srv.port}/scope', timeout=10)
    assert resp.status_code == 200
    assert resp.json()['client'].startswith('127.0.0.1:')


@pytest.fixture
def short_dir():
    """A directory with a short path (Unix socket paths are limited to ~108 bytes)."""
    with tempfile.TemporaryDirectory(prefix='granian-e2e-', dir='/tmp') as directory:
        yield directory


def test_unix_socket_serves_with_the_requested_mode_and_is_removed(server, short_dir):
    path = os.path.join(short_dir, 'granian.sock')
    srv = server('rsgi_basic:app', '--uds-permissions', '0600', uds=path)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    resp = srv.get('/')
    assert (resp.status_code, resp.text) == (200, 'ok')
    with Conn.unix(path) as conn:
        first = conn.request(get('/'))
        second = conn.request(get('/scope'))
    assert first.status == second.status == 200
    assert srv.stop() == 0
    assert not os.path.exists(path), 'the socket file must be removed at shutdown'
    srv.assert_no_orphans()


def test_unix_socket_scope_server_is_the_path(server, short_dir):
    path = os.path.join(short_dir, 'scope.sock')
    srv = server('rsgi_basic:app', uds=path)
    scope = srv.get('/scope').json()
    assert scope['server'] == path
    assert isinstance(scope['client'], str)


def test_backlog_option_is_accepted(server):
    srv = server('rsgi_basic:app', '--backlog', '128')
    assert srv.get('/').status_code == 200


def test_backpressure_holds_extra_connections_until_a_slot_frees(server):
    srv = server('rsgi_basic:app', '--backpressure', '2')
    first, second = Conn(srv.host, srv.port), Conn(srv.host, srv.port)
    third = None
    try:
        # Two idle keep-alive connections hold both slots.
        for conn in (first, second):
            assert conn.request(get('/')).status == 200
        third = Conn(srv.host, srv.port, timeout=10)  # the kernel accepts it into the backlog
        third.send(get('/'))
        assert third.idle(0.8), 'a third connection must wait while two are held'
        first.close()
        resp = third.read_response()
        assert (resp.status, resp.body) == (200, b'ok')
        # Nothing was dropped: the remaining held connection still works.
        assert second.request(get('/')).status == 200
    finally:
        for conn in (first, second, third):
            if conn is not None:
                conn.close()
