"""Binding the shared listening socket: TCP (IPv4, IPv6, names), Unix sockets, and the errors."""

import os
import socket
import stat
from types import SimpleNamespace

import pytest

from granian.errors import StartupError
from granian.server.sockets import Listener, bind, bind_tcp, bind_unix, format_host


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(('::1', 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason='no IPv6 loopback')


@pytest.fixture
def listeners():
    """Collects listeners made by a test and closes them afterwards."""
    made: list[Listener] = []
    yield made
    for listener in made:
        listener.close()


def _roundtrip(listener: Listener, family: int, address) -> None:
    """Connect to the listener and accept that connection: proves bind + listen happened."""
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(address)
        conn, _ = listener.sock.accept()
        conn.close()


def test_tcp_ipv4_port_zero(listeners):
    listener = bind_tcp('127.0.0.1', 0, backlog=128)
    listeners.append(listener)
    port = listener.port
    assert port and port > 0
    assert listener.url == f'http://127.0.0.1:{port}'
    assert listener.uds_path is None
    sock = listener.sock
    assert sock.family == socket.AF_INET
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    assert sock.getblocking()
    assert not sock.get_inheritable()
    _roundtrip(listener, socket.AF_INET, ('127.0.0.1', port))


@needs_ipv6
@pytest.mark.parametrize('host', ['::1', '[::1]'])
def test_tcp_ipv6_loopback(listeners, host):
    listener = bind_tcp(host, 0, backlog=128)
    listeners.append(listener)
    assert listener.sock.family == socket.AF_INET6
    assert listener.url == f'http://[::1]:{listener.port}'
    _roundtrip(listener, socket.AF_INET6, ('::1', listener.port))


def test_tcp_hostname(listeners):
    listener = bind_tcp('localhost', 0, backlog=128)
    listeners.append(listener)
    host = listener.sock.getsockname()[0]
    assert host in ('127.0.0.1', '::1')
    assert listener.url == f'http://{format_host(host)}:{listener.port}'


def test_tcp_https_scheme(listeners):
    listener = bind_tcp('127.0.0.1', 0, backlog=128, scheme='https')
    listeners.append(listener)
    assert listener.url.startswith('https://127.0.0.1:')


def test_tcp_port_in_use(listeners):
    first = bind_tcp('127.0.0.1', 0, backlog=128)
    listeners.append(first)
    with pytest.raises(StartupError) as info:
        bind_tcp('127.0.0.1', first.port, backlog=128)
    message = str(info.value)
    assert f'127.0.0.1:{first.port}' in message
    assert 'already in use' in message
    assert '\n' not in message


@needs_ipv6
def test_tcp_ipv6_port_in_use_shows_brackets(listeners):
    first = bind_tcp('::1', 0, backlog=128)
    listeners.append(first)
    with pytest.raises(StartupError, match=rf'\[::1\]:{first.port}'):
        bind_tcp('::1', first.port, backlog=128)


def test_tcp_unresolvable_host():
    with pytest.raises(StartupError, match=r"no-such-host\.invalid:8000: cannot resolve host 'no-such-host\.invalid'"):
        bind_tcp('no-such-host.invalid', 8000, backlog=128)


def test_tcp_address_not_on_this_host():
    # 192.0.2.0/24 is TEST-NET-1: never assigned to a local interface.
    with pytest.raises(StartupError, match=r'192\.0\.2\.1:0: '):
        bind_tcp('192.0.2.1', 0, backlog=128)


@pytest.mark.parametrize('port', [-1, 65536])
def test_tcp_port_out_of_range(port):
    with pytest.raises(StartupError, match='between 0 and 65535'):
        bind_tcp('127.0.0.1', port, backlog=128)


@pytest.mark.skipif(not hasattr(socket, 'AF_UNIX'), reason='no Unix sockets')
class TestUnix:
    def test_bind_with_permissions(self, tmp_path, listeners):
        path = tmp_path / 'app.sock'
        listener = bind_unix(path, backlog=128, permissions=0o660)
        listeners.append(listener)
        assert listener.url == f'unix:{path}'
        assert listener.uds_path == str(path)
        assert listener.port is None
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o660
        assert not listener.sock.get_inheritable()
        _roundtrip(listener, socket.AF_UNIX, str(path))

    def test_close_removes_the_file(self, tmp_path):
        path = tmp_path / 'app.sock'
        listener = bind_unix(str(path), backlog=128)
        listener.close()
        assert not path.exists()
        listener.close()  # idempotent

    def test_close_keeps_a_file_that_replaced_ours(self, tmp_path):
        path = tmp_path / 'app.sock'
        listener = bind_unix(path, backlog=128)
        path.unlink()
        path.write_text('someone else')
        listener.close()
        assert path.read_text() == 'someone else'

    def test_stale_socket_is_replaced(self, tmp_path, listeners):
        path = tmp_path / 'app.sock'
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(path))
        stale.close()  # the file stays, nobody listens
        listener = bind_unix(path, backlog=128)
        listeners.append(listener)
        _roundtrip(listener, socket.AF_UNIX, str(path))

    def test_live_socket_is_refused(self, tmp_path, listeners):
        path = tmp_path / 'app.sock'
        listeners.append(bind_unix(path, backlog=128))
        with pytest.raises(StartupError, match='already in use') as info:
            bind_unix(path, backlog=128)
        assert f'unix:{path}' in str(info.value)
        assert path.exists()

    def test_non_socket_path_is_refused(self, tmp_path):
        path = tmp_path / 'important.txt'
        path.write_text('keep me')
        with pytest.raises(StartupError, match='not a socket') as info:
            bind_unix(path, backlog=128)
        assert f'unix:{path}' in str(info.value)
        assert path.read_text() == 'keep me'

    def test_missing_directory(self, tmp_path):
        path = tmp_path / 'missing' / 'app.sock'
        with pytest.raises(StartupError, match=f'unix:{path}: no such file or directory'):
            bind_unix(path, backlog=128)

    def test_path_too_long(self, tmp_path):
        path = tmp_path / ('x' * 200)
        with pytest.raises(StartupError, match='too long'):
            bind_unix(path, backlog=128)


def _options(**overrides) -> SimpleNamespace:
    """The options :func:`bind` reads, as plain attributes."""
    options = {
        'address': '127.0.0.1',
        'port': 0,
        'uds': None,
        'uds_permissions': None,
        'backlog': 128,
        'ssl_cert': None,
    }
    options.update(overrides)
    return SimpleNamespace(**options)


def test_bind_dispatches_on_options(tmp_path, listeners):
    tcp = bind(_options())
    listeners.append(tcp)
    assert tcp.url.startswith('http://127.0.0.1:')

    unix = bind(_options(uds=str(tmp_path / 'a.sock'), uds_permissions=0o600))
    listeners.append(unix)
    assert unix.url == f'unix:{tmp_path / "a.sock"}'
    assert stat.S_IMODE(os.stat(tmp_path / 'a.sock').st_mode) == 0o600
