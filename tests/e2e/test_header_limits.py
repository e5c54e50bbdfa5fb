"""Request head limits on the wire, with the default settings and with each option raised or
lowered:

- HTTP/1.1: a request target over 65534 bytes is `414` (when the head fits the read buffer),
  a head larger than `--http1-buffer-size` is `431` (whichever part is long), more header lines
  than `--http1-max-headers` is `431`, a malformed head is `400`; each closes the connection;
- HTTP/2: a header list over `--http2-max-headers-size` (64 KiB by default) is `431` on its
  stream, and the connection serves on.
"""

from __future__ import annotations

import pytest

from e2e.h2_support import H2Client
from e2e.wire import Conn, get


@pytest.fixture(scope='module')
def default_srv(module_server):
    return module_server('rsgi_basic:app')


def h1_answer(srv, request_bytes):
    """The answer to `request_bytes`; the server must close the connection after it."""
    with Conn(srv.host, srv.port) as conn:
        conn.send(request_bytes)
        resp = conn.read_response()
        assert resp.header('connection') == 'close', resp.headers
        assert resp.header('server') == 'granian', resp.headers
        assert conn.wait_closed(5.0)
    return resp


def assert_serves(srv):
    with Conn(srv.host, srv.port) as conn:
        assert conn.request(get('/')).status == 200
    with H2Client(srv.host, srv.port) as client:
        assert client.get('/').status == 200


def test_a_request_target_over_64_kib_is_414(default_srv):
    resp = h1_answer(default_srv, get('/' + 'p' * 70_000))
    assert (resp.status, resp.reason) == (414, 'URI Too Long')
    # Just under the limit, the app gets the request (and answers its own 404).
    with Conn(default_srv.host, default_srv.port) as conn:
        assert conn.request(get('/' + 'p' * 65_000)).status == 404
    assert_serves(default_srv)


def test_a_head_over_the_buffer_is_431_whatever_part_is_long(server):
    srv = server('rsgi_basic:app', '--http1-buffer-size', '8192')
    for request_bytes in (get('/' + 'p' * 10_000), get('/', headers={'X-Big': 'b' * 10_000})):
        resp = h1_answer(srv, request_bytes)
        assert (resp.status, resp.reason) == (431, 'Request Header Fields Too Large')
    assert_serves(srv)


def test_one_header_over_the_default_buffer_is_431(default_srv):
    resp = h1_answer(default_srv, get('/', headers={'X-Big': 'b' * 500_000}))
    assert resp.status == 431
    assert_serves(default_srv)


@pytest.mark.parametrize(('args', 'count'), [([], 101), (['--http1-max-headers', '10'], 11)])
def test_too_many_header_lines_is_431(server, args, count):
    srv = server('rsgi_basic:app', *args)
    # `count` lines with Host: one over the limit.
    resp = h1_answer(srv, get('/', headers={f'X-H-{i}': 'v' for i in range(count - 1)}))
    assert resp.status == 431
    with Conn(srv.host, srv.port) as conn:
        assert conn.request(get('/', headers={f'X-H-{i}': 'v' for i in range(count - 2)})).status == 200
    assert_serves(srv)


def test_a_malformed_head_is_400(default_srv):
    resp = h1_answer(default_srv, b'GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n')
    assert resp.status == 400
    assert_serves(default_srv)


def big_headers(total):
    """Header fields of about `total` bytes in all (RFC 9113 counts name + value + 32 each)."""
    return [(f'x-h{i}', 'v' * 2000) for i in range(total // 2040)]


def test_h2_header_list_over_64_kib_is_431_by_default(default_srv):
    with H2Client(default_srv.host, default_srv.port) as client:
        assert client.wait_settings()[0x6] == 65536  # SETTINGS_MAX_HEADER_LIST_SIZE
        assert client.get('/', headers=big_headers(80_000)).status == 431
        assert client.get('/', headers=big_headers(60_000)).status == 200
        assert client.get('/').status == 200, 'the connection serves on'
    assert_serves(default_srv)


def test_h2_header_list_limit_can_be_raised(server):
    srv = server('rsgi_basic:app', '--http2-max-headers-size', '131072')
    with H2Client(srv.host, srv.port) as client:
        assert client.wait_settings()[0x6] == 131072
        assert client.get('/', headers=big_headers(80_000)).status == 200
        assert client.get('/', headers=big_headers(140_000)).status == 431
