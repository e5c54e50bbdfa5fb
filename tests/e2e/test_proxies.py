"""`granian.utils.proxies` end to end: wrapped ASGI and WSGI apps served by the real server,
with a real client sending `X-Forwarded-*` headers from a trusted and an untrusted setup.

The server applies proxy headers itself by default (`--proxy-headers`, trusting loopback, the
peer of these tests). The wrappers' own rules are therefore tested with `--no-proxy-headers`
(`OFF`); the last tests check how the two combine when the server's option is on."""

from __future__ import annotations

import json

import pytest
from websockets.sync.client import connect

FORWARDED = {'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https'}

#: The server leaves the headers to the wrappers.
OFF = '--no-proxy-headers'


@pytest.fixture(scope='module')
def asgi(module_server):
    return module_server('proxied_apps:asgi_default', '--interface', 'asgi', OFF)


@pytest.mark.parametrize('target', ['asgi_default', 'asgi_cidr', 'asgi_all'])
def test_asgi_trusted_peer_gets_the_forwarded_client_and_scheme(module_server, target):
    srv = module_server(f'proxied_apps:{target}', '--interface', 'asgi', OFF)
    resp = srv.get('/', headers=FORWARDED)
    assert resp.status_code == 200
    assert resp.json() == {'client': '203.0.113.7', 'scheme': 'https'}


def test_asgi_without_headers_keeps_the_peer(asgi):
    assert asgi.get('/').json() == {'client': '127.0.0.1', 'scheme': 'http'}


def test_asgi_chain_picks_the_nearest_untrusted_hop(asgi):
    headers = {'x-forwarded-for': '198.51.100.1, 203.0.113.7, 127.0.0.1', 'x-forwarded-proto': 'https, http'}
    assert asgi.get('/', headers=headers).json() == {'client': '203.0.113.7', 'scheme': 'https'}


def test_asgi_unknown_scheme_is_ignored(asgi):
    headers = {'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'gopher'}
    assert asgi.get('/', headers=headers).json() == {'client': '203.0.113.7', 'scheme': 'http'}


def test_asgi_untrusted_peer_is_left_alone(module_server):
    srv = module_server('proxied_apps:asgi_untrusted', '--interface', 'asgi', OFF)
    assert srv.get('/', headers=FORWARDED).json() == {'client': '127.0.0.1', 'scheme': 'http'}


def test_asgi_websocket_scheme_becomes_wss(asgi):
    with connect(f'ws://127.0.0.1:{asgi.port}/', additional_headers=FORWARDED, open_timeout=5, proxy=None) as ws:
        assert json.loads(ws.recv(timeout=5)) == {'client': '203.0.113.7', 'scheme': 'wss'}


def test_wsgi_trusted_peer_gets_the_forwarded_client_and_scheme(module_server):
    srv = module_server('proxied_apps:wsgi_default', '--interface', 'wsgi', OFF)
    assert srv.get('/', headers=FORWARDED).json() == {'client': '203.0.113.7', 'scheme': 'https'}
    assert srv.get('/').json() == {'client': '127.0.0.1', 'scheme': 'http'}


def test_wsgi_untrusted_peer_is_left_alone(module_server):
    srv = module_server('proxied_apps:wsgi_untrusted', '--interface', 'wsgi', OFF)
    assert srv.get('/', headers=FORWARDED).json() == {'client': '127.0.0.1', 'scheme': 'http'}


# --- with the server's own proxy headers on (the default) ----------------------------------------

#: A client-written entry on the left, the one the (loopback) proxy added on the right.
SPOOFED = {'x-forwarded-for': '198.51.100.66, 203.0.113.7', 'x-forwarded-proto': 'https'}


@pytest.mark.parametrize(('target', 'interface'), [('asgi_all', 'asgi'), ('wsgi_all', 'wsgi')])
def test_headers_the_server_applied_are_not_applied_again(module_server, target, interface):
    # Alone, a wrapper trusting '*' would take the leftmost entry, written by the client.
    srv = module_server(f'proxied_apps:{target}', '--interface', interface)
    assert srv.get('/', headers=SPOOFED).json() == {'client': '203.0.113.7', 'scheme': 'https'}
    off = module_server(f'proxied_apps:{target}', '--interface', interface, OFF)
    assert off.get('/', headers=SPOOFED).json() == {'client': '198.51.100.66', 'scheme': 'https'}


@pytest.mark.parametrize(('target', 'interface'), [('asgi_default', 'asgi'), ('wsgi_default', 'wsgi')])
def test_a_wrapper_still_serves_peers_the_server_does_not_trust(module_server, target, interface):
    srv = module_server(f'proxied_apps:{target}', '--interface', interface, '--forwarded-allow-ips', '10.9.8.7')
    assert srv.get('/', headers=FORWARDED).json() == {'client': '203.0.113.7', 'scheme': 'https'}
