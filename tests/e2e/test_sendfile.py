"""File bodies on plain HTTP/1 connections, which the engine sends with `sendfile`: what reaches
the client is the file's bytes, in order, response after response on one connection.

Every way a file becomes a body is covered (static files, ASGI `http.response.pathsend`, RSGI
`response_file`, WSGI `wsgi.file_wrapper`), over TCP and a Unix socket, with requests pipelined
in one write (so that one response's file follows another's head in the same writes), a HEAD
among them (a file body dropped unsent), and a small receive buffer (so that the kernel takes
each file range in many partial writes). HTTP/2 and TLS bodies are read and written as bytes;
tests/e2e/test_static_files.py covers them with the same hashes.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from pathlib import Path
from typing import NamedTuple

import pytest

from e2e.wire import Conn, get

MiB = 1024 * 1024


def pattern(size: int, seed: bytes) -> bytes:
    """`size` bytes in which any misplaced, repeated or zeroed 32-byte block shows."""
    blocks = (hashlib.sha256(seed + i.to_bytes(8, 'big')).digest() for i in range(size // 32 + 1))
    return b''.join(blocks)[:size]


class Files(NamedTuple):
    directory: Path
    content: dict[str, bytes]


@pytest.fixture(scope='module')
def files(tmp_path_factory) -> Files:
    """Files of several sizes around the engine's placeholder bounds (32 KiB to send by the
    kernel at all, 1 MiB per placeholder), in one directory."""
    directory = tmp_path_factory.mktemp('sendfile')
    content = {
        'big.bin': pattern(2 * MiB + MiB // 2 + 7, b'big'),  # three placeholders
        'edge.bin': pattern(32 * 1024, b'edge'),  # exactly the smallest range sent by the kernel
        'mid.bin': pattern(40_000, b'mid'),
        'small.txt': b'small file\n',
    }
    for name, data in content.items():
        (directory / name).write_bytes(data)
    return Files(directory, content)


SOURCES = {
    # source: (target, interface, path of a file -> request path)
    'static': ('rsgi_basic:app', 'rsgi', lambda path: f'/static/{path.name}'),
    'asgi-pathsend': ('asgi_basic:app', 'asgi', lambda path: '/pathsend?' + urllib.parse.urlencode({'path': path})),
    'rsgi-file': ('rsgi_basic:app', 'rsgi', lambda path: '/file?' + urllib.parse.urlencode({'path': path})),
    'wsgi-file-wrapper': ('wsgi_basic:app', 'wsgi', lambda path: '/file?' + urllib.parse.urlencode({'path': path})),
}


def start(server, files: Files, source: str, uds: Path | None = None):
    target, interface, _ = SOURCES[source]
    args = ['--interface', interface, '--static-path-mount', str(files.directory)]
    return server(target, *args, uds=uds) if uds else server(target, *args)


def connect(srv, uds: Path | None) -> Conn:
    if uds:
        return Conn.unix(str(uds), timeout=30)
    return Conn(srv.host, srv.port, timeout=30, rcvbuf=64 * 1024)


@pytest.mark.parametrize('transport', ['tcp', 'uds'])
@pytest.mark.parametrize('source', list(SOURCES))
def test_pipelined_file_responses_carry_their_files_in_order(server, files, tmp_path, source, transport):
    uds = tmp_path / 'granian.sock' if transport == 'uds' else None
    srv = start(server, files, source, uds)
    to_path = SOURCES[source][2]
    plan = [
        ('GET', 'big.bin'),
        ('HEAD', 'big.bin'),
        ('GET', 'small.txt'),
        ('GET', 'edge.bin'),
        ('HEAD', 'mid.bin'),
        ('GET', 'mid.bin'),
        ('GET', 'big.bin'),
    ]
    with connect(srv, uds) as conn:
        conn.send(b''.join(get(to_path(files.directory / name), method=method) for method, name in plan))
        for method, name in plan:
            resp = conn.read_response(head_request=method == 'HEAD')
            assert resp.status == 200, (method, name, resp.status)
            if resp.header('content-length') is not None:
                assert int(resp.header('content-length')) == len(files.content[name]), (method, name)
            if method == 'GET':
                assert len(resp.body) == len(files.content[name]), (method, name)
                assert resp.body == files.content[name], f'{name}: wrong bytes'
        # The connection is still in step: one more request on it.
        assert conn.request(get(to_path(files.directory / 'small.txt'))).body == files.content['small.txt']


def test_static_ranges_of_one_file_pipelined(server, files):
    """Ranges start and end inside placeholders and across their bounds."""
    srv = start(server, files, 'static')
    data = files.content['big.bin']
    spans = [(0, MiB - 1), (MiB - 10, MiB + 10), (100, 2 * MiB + 200), (len(data) - 40_000, len(data) - 1)]
    with Conn(srv.host, srv.port, timeout=30, rcvbuf=64 * 1024) as conn:
        conn.send(b''.join(get('/static/big.bin', headers={'Range': f'bytes={a}-{b}'}) for a, b in spans))
        for a, b in spans:
            resp = conn.read_response()
            assert (resp.status, resp.header('content-range')) == (206, f'bytes {a}-{b}/{len(data)}')
            assert resp.body == data[a : b + 1]


def test_a_file_cut_short_while_sent_closes_the_connection_without_padding(server, tmp_path):
    """The response announced the file's length; when the file shrinks under it, the client gets
    a prefix of the file and the connection closes (no zeros, no bytes from elsewhere), and the
    server serves the next connection."""
    directory = tmp_path / 'shrink'
    directory.mkdir()
    size = 32 * MiB
    data = pattern(size, b'shrink')
    path = directory / 'shrinking.bin'
    path.write_bytes(data)
    srv = server('rsgi_basic:app', '--interface', 'rsgi', '--static-path-mount', str(directory))
    with Conn(srv.host, srv.port, timeout=30, rcvbuf=64 * 1024) as conn:
        conn.send(get('/static/shrinking.bin'))
        head = conn.read_head()
        assert (head.status, head.header('content-length')) == (200, str(size))
        while len(conn.buf) < 100_000:
            assert conn._fill()
        # In place (same inode, as a log rotated by truncation): the open file shrinks.
        os.truncate(path, 8 * MiB)
        assert conn.wait_closed(30), 'the connection stays open after the file shrank'
        body = conn.buf
    assert 100_000 <= len(body) < size
    assert body == data[: len(body)], 'bytes that are not the file were sent'
    with Conn(srv.host, srv.port, timeout=30) as conn:
        resp = conn.request(get('/static/shrinking.bin'))
        assert (resp.status, resp.body) == (200, data[: 8 * MiB])
