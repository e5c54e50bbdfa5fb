"""The app runs while the request body is still arriving (RSGI `async for chunk in protocol`,
ASGI `receive()` with `more_body`), end to end.

A client sends the head of a 1000-byte upload and only its first 10 bytes, then waits (bounded)
for the app to show it is running: either it started a streamed response before reading the
body (`/early-start`), or it read the first chunk and answers how long it was
(`/early-iter` for RSGI, `/early-receive` for ASGI). Only then does the client send the other
990 bytes, and the app's last line must account for all 1000.

Both body framings (`Content-Length: 1000`, chunked) and both HTTP versions. Apps:
`tests/apps/spec_rsgi.py`, `tests/apps/spec_asgi.py`.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from e2e.h2_support import H2Client
from e2e.wire import Conn

BODY = bytes(range(250)) * 4
FIRST = 10
#: How long the client waits for the app's first line while the rest of the body is held back.
WAIT = 5.0
FINAL = f'len={len(BODY)} sha={hashlib.sha256(BODY).hexdigest()}\n'

ROUTES = [
    ('asgi', '/early-start'),
    ('asgi', '/early-receive'),
    ('rsgi', '/early-start'),
    ('rsgi', '/early-iter'),
]


@pytest.fixture(scope='module')
def servers(module_server):
    return {
        'asgi': module_server('spec_asgi:app', '--interface', 'asgi'),
        'rsgi': module_server('spec_rsgi:app', '--interface', 'rsgi'),
    }


def check_first_line(path: str, line: str) -> None:
    if path == '/early-start':
        assert line == 'started\n'
    elif path == '/early-receive':
        match = re.fullmatch(r'first=(\d+) more=(True|False)\n', line)
        assert match, line
        assert 0 < int(match[1]) <= FIRST and match[2] == 'True', line
    else:
        match = re.fullmatch(r'first=(\d+)\n', line)
        assert match, line
        assert 0 < int(match[1]) <= FIRST, line


def not_called_in_time(path: str) -> AssertionError:
    return AssertionError(
        f'{path}: nothing came back within {WAIT}s while {len(BODY) - FIRST} of {len(BODY)} body bytes were '
        'held back: the app was not run (or its first chunk not sent) before the whole body arrived'
    )


def read_chunk(conn: Conn) -> bytes:
    """One chunk of a chunked body (b'' for the last one)."""
    size = int(conn._read_until(b'\r\n').split(b';')[0], 16)
    data = conn._read_exact(size + 2)
    assert data.endswith(b'\r\n'), data[-2:]
    return data[:-2]


@pytest.mark.parametrize('framing', ['content-length', 'chunked'])
@pytest.mark.parametrize(('interface', 'path'), ROUTES)
def test_app_runs_before_body_complete_http1(servers, interface, path, framing):
    srv = servers[interface]
    head = f'POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n'
    if framing == 'content-length':
        first = f'{head}Content-Length: {len(BODY)}\r\n\r\n'.encode() + BODY[:FIRST]
        rest = BODY[FIRST:]
    else:
        first = f'{head}Transfer-Encoding: chunked\r\n\r\n'.encode() + b'%x\r\n' % FIRST + BODY[:FIRST] + b'\r\n'
        rest = b'%x\r\n' % (len(BODY) - FIRST) + BODY[FIRST:] + b'\r\n0\r\n\r\n'
    with Conn(srv.host, srv.port, timeout=WAIT) as conn:
        conn.send(first)
        try:
            resp = conn.read_head()
            assert resp.status == 200, resp
            assert resp.chunked, resp.headers
            first_line = b''
            while not first_line.endswith(b'\n'):
                first_line += read_chunk(conn)
        except TimeoutError:
            raise not_called_in_time(path) from None
        check_first_line(path, first_line.decode())
        conn.send(rest)
        tail = b''
        while chunk := read_chunk(conn):
            tail += chunk
    assert tail.decode().endswith(FINAL), tail


@pytest.mark.parametrize('framing', ['content-length', 'no-length'])
@pytest.mark.parametrize(('interface', 'path'), ROUTES)
def test_app_runs_before_body_complete_http2(servers, interface, path, framing):
    srv = servers[interface]
    headers = [('content-type', 'application/octet-stream')]
    if framing == 'content-length':
        headers.append(('content-length', str(len(BODY))))
    with H2Client(srv.host, srv.port) as client:
        stream_id = client.request('POST', path, headers=headers, body=BODY[:FIRST], end_stream=False)
        stream = client.stream(stream_id)
        try:
            client.wait_for(lambda: b'\n' in stream.data or stream.finished, WAIT, 'the first response line')
        except AssertionError:
            raise not_called_in_time(path) from None
        assert stream.status == 200, (stream.status, bytes(stream.data), stream.reset)
        first_line = bytes(stream.data).split(b'\n', 1)[0] + b'\n'
        check_first_line(path, first_line.decode())
        client.send_body(stream_id, BODY[FIRST:], end_stream=True)
        client.response(stream_id)
    assert stream.reset is None, stream.reset
    assert bytes(stream.data).decode().endswith(FINAL), bytes(stream.data)
