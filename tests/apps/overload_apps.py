"""Apps for the overload tests (tests/e2e/test_overload.py): `asgi`, `rsgi` and `wsgi`, same routes.

A *gate* holds requests for as long as the test wants, without timing: the directory named by
the `OVERLOAD_GATE` environment variable.

- `/hold?name=N`: creates `N.entered` in the gate directory (the test knows the request is in
  the app), waits until the file `open` exists there, then answers 200 `released N`.
- `/stream?name=N`: answers 200 at once with a streamed body: the chunk `first` is sent, then
  `N.entered` is created; the body ends (chunk `last`) once `open` exists.
- `/pid`: 200 with the worker's process id.
- `/ws` (ASGI, RSGI): a WebSocket that echoes text until the client closes.
- anything else: 200 `ok`.
"""

import asyncio
import os
import time
from pathlib import Path
from urllib.parse import parse_qs

TEXT = [('content-type', 'text/plain; charset=utf-8')]
POLL = 0.01


def gate() -> Path:
    return Path(os.environ['OVERLOAD_GATE'])


def name_of(query_string: str) -> str:
    return parse_qs(query_string).get('name', ['-'])[0]


def entered(name: str) -> None:
    (gate() / f'{name}.entered').touch()


async def wait_open() -> None:
    while not (gate() / 'open').exists():
        await asyncio.sleep(POLL)


def wait_open_blocking() -> None:
    while not (gate() / 'open').exists():
        time.sleep(POLL)


# --- ASGI ------------------------------------------------------------------------------------------


async def asgi(scope, receive, send):
    if scope['type'] == 'lifespan':
        while (message := await receive())['type'] != 'lifespan.shutdown':
            await send({'type': 'lifespan.startup.complete'})
        await send({'type': 'lifespan.shutdown.complete'})
        return
    if scope['type'] == 'websocket':
        await receive()  # websocket.connect
        await send({'type': 'websocket.accept'})
        while (message := await receive())['type'] == 'websocket.receive':
            await send({'type': 'websocket.send', 'text': message.get('text') or ''})
        return
    path, name = scope['path'], name_of(scope['query_string'].decode())
    head = {'type': 'http.response.start', 'status': 200, 'headers': [(k.encode(), v.encode()) for k, v in TEXT]}
    if path == '/stream':
        await send(head)
        await send({'type': 'http.response.body', 'body': b'first\n', 'more_body': True})
        entered(name)
        await wait_open()
        await send({'type': 'http.response.body', 'body': b'last\n'})
        return
    if path == '/hold':
        entered(name)
        await wait_open()
        body = f'released {name}'
    elif path == '/pid':
        body = str(os.getpid())
    else:
        body = 'ok'
    await send(head)
    await send({'type': 'http.response.body', 'body': body.encode()})


# --- RSGI ------------------------------------------------------------------------------------------


async def rsgi(scope, protocol):
    if scope.proto == 'ws':
        transport = await protocol.accept()
        while (message := await transport.receive()).kind == 2:
            await transport.send_str(message.data)
        return
    path, name = scope.path, name_of(scope.query_string)
    if path == '/stream':
        stream = protocol.response_stream(200, TEXT)
        await stream.send_bytes(b'first\n')
        entered(name)
        await wait_open()
        await stream.send_bytes(b'last\n')
        return
    if path == '/hold':
        entered(name)
        await wait_open()
        body = f'released {name}'
    elif path == '/pid':
        body = str(os.getpid())
    else:
        body = 'ok'
    protocol.response_str(200, TEXT, body)


# --- WSGI ------------------------------------------------------------------------------------------


def _stream(name):
    yield b'first\n'
    entered(name)
    wait_open_blocking()
    yield b'last\n'


def wsgi(environ, start_response):
    path, name = environ['PATH_INFO'], name_of(environ.get('QUERY_STRING', ''))
    if path == '/stream':
        start_response('200 OK', TEXT)
        return _stream(name)
    if path == '/hold':
        entered(name)
        wait_open_blocking()
        body = f'released {name}'
    elif path == '/pid':
        body = str(os.getpid())
    else:
        body = 'ok'
    start_response('200 OK', TEXT)
    return [body.encode()]
