"""Proxy headers applied by the server (`--proxy-headers`, `--forwarded-allow-ips`), end to end:
what ASGI, RSGI and WSGI apps see of the client and scheme over HTTP/1.1 and HTTP/2, WebSocket
scopes, the access log, Unix sockets, TLS, env vars and bad values.

The tests connect from 127.0.0.1, which the default `--forwarded-allow-ips` trusts; "a peer the
server does not trust" is made by trusting another address instead. Apps: tests/apps/forwarded_apps.py.
"""

from __future__ import annotations

import json

import pytest
from websockets.sync.client import connect

from conftest import free_port, run_granian
from e2e import tls_support
from e2e.h2_support import H2Client
from e2e.tls_support import https_client, tls_args

tls_files = tls_support.tls_files

INTERFACES = ['asgi', 'rsgi', 'wsgi']
FORWARDED = {'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https'}
#: Server arguments per setup: the default (with the access log on), a trust list without the
#: tests' address, and the option off.
MODES = {
    'default': ('--access-log',),
    'other-peer': ('--forwarded-allow-ips', '10.9.8.7'),
    'off': ('--no-proxy-headers',),
}


@pytest.fixture(scope='module')
def servers(module_server):
    """`servers(interface, mode)`: one server per interface and mode for the whole module."""
    started = {}

    def get(interface, mode='default'):
        key = (interface, mode)
        if key not in started:
            started[key] = module_server(f'forwarded_apps:{interface}', '--interface', interface, *MODES[mode])
        return started[key]

    return get


def fetch(srv, http, headers, path='/'):
    """The app's JSON answer to a GET carrying `headers` (a dict or a list of pairs)."""
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    if http == '1':
        resp = srv.get(path, headers=pairs)
        assert resp.status_code == 200
        return resp.json()
    with H2Client(srv.host, srv.port) as client:
        stream = client.get(path, headers=pairs)
        assert stream.status == 200
        return json.loads(bytes(stream.data))


def assert_not_forwarded(got):
    assert got['client'] == '127.0.0.1'
    assert got['port'] not in (0, None)
    assert got['scheme'] == 'http'
    assert got['mark'] is None


@pytest.mark.parametrize('http', ['1', '2'])
@pytest.mark.parametrize('interface', INTERFACES)
def test_a_trusted_peer_gets_the_forwarded_client_and_scheme(servers, interface, http):
    got = fetch(servers(interface), http, FORWARDED)
    assert (got['client'], got['port'], got['scheme']) == ('203.0.113.7', 0, 'https')
    assert got['xff'] == '203.0.113.7', 'the app still sees the header'
    if interface != 'rsgi':
        assert got['mark']['peer'][0] == '127.0.0.1'
    assert_not_forwarded(fetch(servers(interface), http, {}))


@pytest.mark.parametrize('interface', INTERFACES)
def test_how_each_interface_reports_a_forwarded_client(servers, interface):
    got = fetch(servers(interface), '1', {'x-forwarded-for': '2001:db8::7'})
    expected = {'asgi': ['2001:db8::7', 0], 'rsgi': '[2001:db8::7]:0', 'wsgi': ['2001:db8::7', '0']}
    assert got['raw'] == expected[interface]
    assert got['scheme'] == 'http', 'no X-Forwarded-Proto: the connection scheme'


@pytest.mark.parametrize('http', ['1', '2'])
@pytest.mark.parametrize('interface', INTERFACES)
def test_the_chain_is_walked_from_the_right_over_every_header_line(servers, interface, http):
    headers = [
        ('x-forwarded-for', '198.51.100.1'),
        ('x-forwarded-for', '203.0.113.9, 127.0.0.1'),
        ('x-forwarded-proto', 'HTTPS, http'),
    ]
    got = fetch(servers(interface), http, headers)
    assert (got['client'], got['scheme']) == ('203.0.113.9', 'https')


@pytest.mark.parametrize('interface', INTERFACES)
def test_rfc7239_forwarded(servers, interface):
    got = fetch(servers(interface), '1', {'forwarded': 'for="[2001:db8::1]:4711";proto=https'})
    assert (got['client'], got['port'], got['scheme']) == ('2001:db8::1', 0, 'https')
    # An X-Forwarded-* header puts it aside.
    both = {'forwarded': 'for=198.51.100.1;proto=https', 'x-forwarded-for': '203.0.113.7'}
    got = fetch(servers(interface), '2', both)
    assert (got['client'], got['scheme']) == ('203.0.113.7', 'http')


@pytest.mark.parametrize('interface', INTERFACES)
def test_malformed_values_never_name_a_client(servers, interface):
    for headers in (
        {'x-forwarded-for': '203.0.113.7, proxy.local'},
        {'x-forwarded-for': '203.0.113.7, unknown'},
        {'forwarded': 'for=unknown'},
        {'x-forwarded-proto': 'gopher'},
    ):
        assert_not_forwarded(fetch(servers(interface), '1', headers))


@pytest.mark.parametrize('http', ['1', '2'])
@pytest.mark.parametrize('mode', ['other-peer', 'off'])
@pytest.mark.parametrize('interface', INTERFACES)
def test_headers_are_ignored_from_an_untrusted_peer_or_when_off(servers, interface, mode, http):
    srv = servers(interface, mode)
    for headers in (FORWARDED, {'forwarded': 'for=203.0.113.7;proto=https'}):
        got = fetch(srv, http, headers)
        assert_not_forwarded(got)
    assert fetch(srv, http, FORWARDED)['xff'] == '203.0.113.7', 'the app still sees the header'


@pytest.mark.parametrize('interface', INTERFACES)
def test_the_access_log_shows_the_forwarded_client(servers, interface):
    srv = servers(interface)
    fetch(srv, '1', {'x-forwarded-for': '198.51.100.23'}, path='/logged')
    fetch(srv, '2', {'x-forwarded-for': '198.51.100.24'}, path='/logged')
    srv.wait_for_log(r'198\.51\.100\.23 - "GET /logged HTTP/1\.1" 200')
    srv.wait_for_log(r'198\.51\.100\.24 - "GET /logged HTTP/2" 200')


@pytest.mark.parametrize(('interface', 'scheme'), [('asgi', 'wss'), ('rsgi', 'https')])
def test_websocket_scopes(servers, interface, scheme):
    srv = servers(interface)
    url = f'ws://127.0.0.1:{srv.port}/'
    with connect(url, additional_headers=FORWARDED, open_timeout=5, proxy=None) as ws:
        got = json.loads(ws.recv(timeout=5))
    assert (got['client'], got['port'], got['scheme']) == ('203.0.113.7', 0, scheme)
    with connect(url, additional_headers={'x-forwarded-proto': 'http'}, open_timeout=5, proxy=None) as ws:
        got = json.loads(ws.recv(timeout=5))
    assert got['client'] == '127.0.0.1'
    assert got['scheme'] == ('ws' if interface == 'asgi' else 'http')
    other = servers(interface, 'off')
    with connect(f'ws://127.0.0.1:{other.port}/', additional_headers=FORWARDED, open_timeout=5, proxy=None) as ws:
        got = json.loads(ws.recv(timeout=5))
    assert (got['client'], got['scheme']) == ('127.0.0.1', 'ws' if interface == 'asgi' else 'http')


def test_a_unix_socket_peer_is_always_trusted(server, tmp_path):
    sock = tmp_path / 'granian.sock'
    srv = server('forwarded_apps:asgi', '--interface', 'asgi', '--forwarded-allow-ips', '10.9.8.7', uds=sock)
    got = srv.get('/', headers=FORWARDED).json()
    assert (got['client'], got['port'], got['scheme']) == ('203.0.113.7', 0, 'https')
    assert got['mark'] == {'peer': None}
    assert srv.get('/').json()['client'] is None, 'a Unix peer has no address of its own'


def test_over_tls(server, tls_files):
    srv = server('forwarded_apps:wsgi', '--interface', 'wsgi', *tls_args(tls_files))
    with https_client(srv, tls_files) as client:
        got = client.get('/', headers={'x-forwarded-for': '203.0.113.7'}).json()
        assert (got['client'], got['scheme']) == ('203.0.113.7', 'https'), 'no X-Forwarded-Proto: the connection'
        got = client.get('/', headers={'x-forwarded-proto': 'http'}).json()
        assert (got['client'], got['scheme']) == ('127.0.0.1', 'http')
    with https_client(srv, tls_files, http2=True) as client:
        resp = client.get('/', headers=FORWARDED)
        assert resp.http_version == 'HTTP/2'
        assert resp.json()['client'] == '203.0.113.7'


@pytest.mark.parametrize(
    'env',
    [
        {'FORWARDED_ALLOW_IPS': '10.9.8.7'},
        {'GRANIAN_FORWARDED_ALLOW_IPS': '10.9.8.7', 'FORWARDED_ALLOW_IPS': '*'},
        {'GRANIAN_PROXY_HEADERS': 'false'},
    ],
)
def test_env_vars(server, env):
    srv = server('forwarded_apps:rsgi', '--interface', 'rsgi', env=env)
    assert_not_forwarded(fetch(srv, '1', FORWARDED))


@pytest.mark.parametrize(
    ('args', 'env', 'named'),
    [
        (['--forwarded-allow-ips', '10.0.0.1/8'], None, "'--forwarded-allow-ips'"),
        ([], {'FORWARDED_ALLOW_IPS': '127.0.0.1,proxy'}, "'FORWARDED_ALLOW_IPS'"),
    ],
)
def test_a_bad_list_exits_2_with_one_line(args, env, named):
    result = run_granian('--port', str(free_port()), *args, 'forwarded_apps:asgi', env=env, timeout=15)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f'Error: Invalid value for {named}: '), lines[0]
    assert 'Traceback' not in result.stdout + result.stderr


def test_what_a_client_writes_before_the_proxy_entry_is_not_believed(servers):
    # From 127.0.0.1, a trusted proxy here: the entry it appended (the rightmost) is believed,
    # whatever the client wrote before it, even a trusted address.
    got = fetch(servers('asgi'), '1', {'x-forwarded-for': '127.0.0.1, 10.0.0.1, 198.51.100.5'})
    assert got['client'] == '198.51.100.5'
