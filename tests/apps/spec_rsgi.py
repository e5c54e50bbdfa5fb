"""RSGI app for tests/e2e/test_spec_*.py: every response method with the header shapes apps use.

Routed by path; `?shape=tuples|lists` picks how the header list is built.

- `/hello`, `/hello-lists`: the quickstart `response_str`, headers as tuples / as lists;
  `/hello-kwargs`, `/hello-kwargs-lists`: the same with keyword arguments (as in the public
  server's README quickstart, also served alone as `spec_rsgi:quickstart`).
- `/kwargs/<kind>?shape=S`: like `/shape/<kind>`, every argument passed by keyword.
- `/bytes-like?kind=bytearray|memoryview`: `response_bytes` with another bytes-like body.
- `/status-enum`: `response_str` with an `http.HTTPStatus` status.
- `/shape/<kind>?shape=S`: `HEADERS` in shape S with `response_bytes`, `response_str`,
  `response_empty`, `response_file` (this file), `response_file_range` or `response_stream`.
- `/early-start`: `response_stream` and a first chunk before reading the body with `async for`.
- `/early-iter`: the first chunk of `async for`, then `response_stream` saying how long it was.
- WebSocket (any path): accept, echo one message, close.
"""

import hashlib
import http
import os

HERE = os.path.abspath(__file__)

HEADERS = [
    ('content-type', 'text/plain'),
    ('x-one', '1'),
    ('set-cookie', 'a=1; Path=/'),
    ('set-cookie', 'b=2; Path=/'),
    ('x-order', 'first'),
    ('x-order', 'second'),
    ('x-two', '2'),
]


def shaped(headers, shape):
    if shape == 'tuples':
        return [(name, value) for name, value in headers]
    if shape == 'lists':
        return [[name, value] for name, value in headers]
    raise ValueError(f'unknown shape {shape!r}')


def shape_of(scope):
    for part in scope.query_string.split('&'):
        key, _, value = part.partition('=')
        if key == 'shape':
            return value
    return 'tuples'


async def shape_route(kind, headers, protocol):
    if kind == 'bytes':
        protocol.response_bytes(200, headers, b'shaped bytes')
    elif kind == 'str':
        protocol.response_str(200, headers, 'shaped str')
    elif kind == 'empty':
        protocol.response_empty(200, headers)
    elif kind == 'file':
        protocol.response_file(200, headers, HERE)
    elif kind == 'file_range':
        protocol.response_file_range(200, headers, HERE, 0, 10)
    elif kind == 'stream':
        transport = protocol.response_stream(200, headers)
        for part in ('one;', 'two;', 'three;'):
            await transport.send_str(part)
    else:
        protocol.response_str(404, [('content-type', 'text/plain')], 'no such kind')


async def kwargs_route(kind, headers, protocol):
    if kind == 'bytes':
        protocol.response_bytes(status=200, headers=headers, body=b'shaped bytes')
    elif kind == 'str':
        protocol.response_str(status=200, headers=headers, body='shaped str')
    elif kind == 'empty':
        protocol.response_empty(status=200, headers=headers)
    elif kind == 'file':
        protocol.response_file(status=200, headers=headers, file=HERE)
    elif kind == 'stream':
        transport = protocol.response_stream(status=200, headers=headers)
        for part in ('one;', 'two;', 'three;'):
            await transport.send_str(part)
    else:
        protocol.response_str(404, [('content-type', 'text/plain')], 'no such kind')


async def body_of(protocol):
    body = b''
    async for chunk in protocol:
        body += chunk
    return body


async def ws(scope, protocol):
    transport = await protocol.accept()
    message = await transport.receive()
    if message.kind == 2:
        await transport.send_str('echo ' + message.data)
    elif message.kind == 1:
        await transport.send_bytes(b'echo ' + message.data)
    protocol.close()


async def app(scope, protocol):
    if scope.proto == 'ws':
        await ws(scope, protocol)
        return
    path = scope.path
    if path == '/hello':
        protocol.response_str(200, [('content-type', 'text/plain')], 'Hello, world!')
    elif path == '/hello-lists':
        protocol.response_str(200, [['content-type', 'text/plain']], 'Hello, world!')
    elif path == '/hello-kwargs':
        protocol.response_str(status=200, headers=[('content-type', 'text/plain')], body='Hello, world!')
    elif path == '/hello-kwargs-lists':
        protocol.response_str(status=200, headers=[['content-type', 'text/plain']], body='Hello, world!')
    elif path.startswith('/kwargs/'):
        await kwargs_route(path[len('/kwargs/') :], shaped(HEADERS, shape_of(scope)), protocol)
    elif path == '/bytes-like':
        kind = {'bytearray': bytearray, 'memoryview': memoryview}[scope.query_string.partition('=')[2]]
        protocol.response_bytes(200, [('content-type', 'text/plain')], kind(b'bytes-like body'))
    elif path == '/status-enum':
        protocol.response_str(http.HTTPStatus.CREATED, [('content-type', 'text/plain')], 'created')
    elif path.startswith('/shape/'):
        await shape_route(path[len('/shape/') :], shaped(HEADERS, shape_of(scope)), protocol)
    elif path == '/early-start':
        transport = protocol.response_stream(200, [('content-type', 'text/plain')])
        await transport.send_str('started\n')
        body = await body_of(protocol)
        await transport.send_str(f'len={len(body)} sha={hashlib.sha256(body).hexdigest()}\n')
    elif path == '/early-iter':
        transport = None
        body = b''
        async for chunk in protocol:
            if not chunk:
                continue
            body += chunk
            if transport is None:
                transport = protocol.response_stream(200, [('content-type', 'text/plain')])
                await transport.send_str(f'first={len(chunk)}\n')
        if transport is None:
            transport = protocol.response_stream(200, [('content-type', 'text/plain')])
        await transport.send_str(f'len={len(body)} sha={hashlib.sha256(body).hexdigest()}\n')
    else:
        protocol.response_str(404, [('content-type', 'text/plain')], 'not found')


async def quickstart(scope, proto):
    """The shape of the public server's README quickstart (keyword arguments, tuple headers)."""
    assert scope.proto == 'http'

    proto.response_str(
        status=200,
        headers=[
            ('content-type', 'text/plain'),
        ],
        body='Hello, world!',
    )
