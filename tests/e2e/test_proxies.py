"""`granian.utils.proxies` end to end: wrapped ASGI and WSGI apps served by the real server,
with a real client sending `X-Forwarded-*` headers from a trusted and an untrusted setup."""

from __future__ import annotations

import json

import pytest
from websockets.sync.client import connect

FORWARDED = {'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https'}


@pytest.fixture(scope='module')
def asgi(module_server):
    return module_server('proxied_apps:asgi_default', '--interface', 'asgi')


@pytest.mark.parametrize('target', ['asgi_default', 'asgi_cidr', 'asgi_all'])
def test_asgi_trusted_peer_gets_the_forwarded_client_and_scheme(module_server, target):
    srv = module_server(f'proxied_apps:{target}', '--interface', 'asgi')
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
    srv = module_server('proxied_apps:asgi_untrusted', '--interface', 'asgi')
    assert srv.get('/', headers=FORWARDED).json() == {'client': '127.0.0.1', 'scheme': 'http'}


def test_asgi_websocket_scheme_becomes_wss(asgi):
    with connect(f'ws://127.0.0.1:{asgi.port}/', additional_headers=FORWARDED, open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5)) == {'client': '203.0.113.7', 'scheme': 'wss'}


def test_wsgi_trusted_peer_gets_the_forwarded_client_and_scheme(module_server):
    srv = module_server('proxied_apps:wsgi_default', '--interface', 'wsgi')
    assert srv.get('/', headers=FORWARDED).json() == {'client': '203.0.113.7', 'scheme': 'https'}
    assert srv.get('/').json() == {'client': '127.0.0.1', 'scheme': 'http'}


def test_wsgi_untrusted_peer_is_left_alone(module_server):
    srv = module_server('proxied_apps:wsgi_untrusted', '--interface', 'wsgi')
    assert srv.get('/', headers=FORWARDED).json() == {'client': '127.0.0.1', 'scheme': 'http'}
