"""HTTP/2 and TLS for WSGI: the WSGI variants of tests/e2e/test_http2.py, test_h2_attacks.py and
test_tls.py, against tests/apps/h2_wsgi.py.

SERVER_PROTOCOL says which HTTP version a request came over and `wsgi.url_scheme` whether it
came over TLS. A WSGI app cannot see a disconnect directly: when a stream is reset the server
stops iterating the response and calls its `close()` (PEP 3333), which the app records.

Skipped while `granian.wsgi` is not part of the build.
"""

import contextlib
import hashlib
import importlib.util
import json
import time

import h2.errors
import httpx
import pytest

from e2e import tls_support
from e2e.h2_support import H2Client
from e2e.tls_support import client_context, https_client, tls_args

pytestmark = pytest.mark.skipif(importlib.util.find_spec('granian.wsgi') is None, reason='no WSGI interface yet')

tls_files = tls_support.tls_files

MiB = 1024 * 1024
APP = 'h2_wsgi:app'


@pytest.fixture(scope='module')
def srv(module_server):
    return module_server(APP, '--interface', 'wsgi')


@pytest.fixture(scope='module')
def tls_srv(module_server, tls_files):
    return module_server(APP, '--interface', 'wsgi', *tls_args(tls_files))


def json_of(stream):
    assert stream.status == 200, (stream.status, bytes(stream.data[:200]), stream.reset)
    return json.loads(bytes(stream.data))


def app_state(srv, tag):
    with H2Client(srv.host, srv.port) as client:
        return json_of(client.get(f'/state?tag={tag}'))


def wait_app_state(srv, tag, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        state = app_state(srv, tag)
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f'app state {tag!r} still {state} after {timeout}s')
        time.sleep(0.05)


def test_server_protocol_over_cleartext(srv):
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        resp = client.get('/info')
    assert resp.json() == {'server_protocol': 'HTTP/1.1', 'url_scheme': 'http', 'host': f'127.0.0.1:{srv.port}'}
    with httpx.Client(base_url=srv.url, http1=False, http2=True, timeout=10) as client:
        resp = client.get('/info')
    assert resp.http_version == 'HTTP/2'
    # HTTP/2 has no Host header; HTTP_HOST comes from `:authority`.
    assert resp.json() == {'server_protocol': 'HTTP/2', 'url_scheme': 'http', 'host': f'127.0.0.1:{srv.port}'}


def test_server_protocol_and_scheme_over_tls(tls_srv, tls_files):
    for http2, protocol in ((False, 'HTTP/1.1'), (True, 'HTTP/2')):
        with https_client(tls_srv, tls_files, http2=http2) as client:
            info = client.get('/info').json()
        assert info['server_protocol'] == protocol
        assert info['url_scheme'] == 'https'


def test_many_concurrent_streams_on_one_connection(srv):
    with H2Client(srv.host, srv.port) as client:
        started = time.monotonic()
        ids = [client.request('GET', '/sleep?secs=0.5') for _ in range(50)]
        responses = [client.response(sid, timeout=20) for sid in ids]
        elapsed = time.monotonic() - started
    assert {(r.status, bytes(r.data)) for r in responses} == {(200, b'slept')}
    assert elapsed < 12, elapsed


def test_large_bodies_both_ways(srv):
    body = hashlib.sha256(b'wsgi').digest() * (4 * MiB // 32)
    with H2Client(srv.host, srv.port) as client:
        up = client.response(client.request('POST', '/digest', body=body), timeout=20)
        assert json_of(up) == {'len': len(body), 'sha256': hashlib.sha256(body).hexdigest()}
        down = client.get(f'/produce?tag=large&total={6 * MiB}&chunk=100000', timeout=20)
        assert down.ended and bytes(down.data) == b'x' * (6 * MiB)


def test_large_bodies_over_tls_h2(tls_srv, tls_files):
    body = b'y' * (3 * MiB)
    with H2Client(tls_srv.host, tls_srv.port, ssl_context=client_context(tls_files, alpn=['h2'])) as client:
        up = client.response(client.request('POST', '/digest', body=body), timeout=20)
        assert json_of(up)['sha256'] == hashlib.sha256(body).hexdigest()


def test_a_reader_that_never_acks_holds_the_app_back(srv):
    with H2Client(srv.host, srv.port, auto_ack=False) as client:
        sid = client.request('GET', f'/produce?tag=noack&total={64 * MiB}')
        stream = client.stream(sid)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            client.pump(0.05)
        assert len(stream.data) == 65_535
        state = app_state(srv, 'noack')['progress']
        assert not state['done'] and state['sent'] < 4 * MiB, state
        client.auto_ack = True
        client.ack(sid)
        client.response(sid, timeout=30)
        assert stream.ended and len(stream.data) == 64 * MiB
    assert app_state(srv, 'noack')['progress']['done']


def test_client_reset_closes_the_response_iterable(srv):
    with H2Client(srv.host, srv.port) as client:
        sid = client.request('GET', '/stream_until_gone?tag=reset')
        client.wait_for(lambda: len(client.stream(sid).data) >= 50, 5, 'some streamed data')
        client.reset(sid)
        wait_app_state(srv, 'reset', lambda s: s['event'] == 'closed', timeout=5)
        assert client.get('/').status == 200


def test_rapid_reset_does_not_take_the_server_down(srv):
    with H2Client(srv.host, srv.port) as client:
        client.wait_settings()
        for _ in range(2000):
            sid = client.conn.get_next_available_stream_id()
            head = [(':method', 'GET'), (':scheme', 'http'), (':authority', client.authority), (':path', '/sleep')]
            client.conn.send_headers(sid, head, end_stream=True)
            client.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        with contextlib.suppress(OSError):  # the server may close before it read everything
            client.sock.sendall(client.conn.data_to_send())
        client.wait_closed(5)
    with httpx.Client(base_url=srv.url, http1=False, http2=True, timeout=3) as client:
        assert client.get('/').text == 'ok'
