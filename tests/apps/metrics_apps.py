"""Apps for the metrics tests (tests/e2e/test_metrics.py): `asgi` and `wsgi`.

A *gate* directory (the `METRICS_GATE` environment variable) holds things for as long as the
test wants, without timing:

- ASGI lifespan startup waits until `started` exists in the gate when `METRICS_HOLD_STARTUP` is
  set (the health endpoint's "not ready yet").
- `/hold`: creates `held` in the gate, waits until `open` exists, then answers 200.
- `/fail`: 500. `/stream`: a body in three chunks. `/echo` (POST): the request body.
- `/ws` (ASGI): a WebSocket that echoes text until the client closes.
- anything else: 200 `ok`.
"""

import asyncio
import os
import time
from pathlib import Path

TEXT = [(b'content-type', b'text/plain')]


def gate() -> Path:
    return Path(os.environ.get('METRICS_GATE', '/nonexistent'))


async def wait_for(name: str) -> None:
    while not (gate() / name).exists():
        await asyncio.sleep(0.01)


async def asgi(scope, receive, send):
    if scope['type'] == 'lifespan':
        while (message := await receive())['type'] != 'lifespan.shutdown':
            if os.environ.get('METRICS_HOLD_STARTUP'):
                await wait_for('started')
            await send({'type': 'lifespan.startup.complete'})
        await send({'type': 'lifespan.shutdown.complete'})
        return
    if scope['type'] == 'websocket':
        await receive()
        await send({'type': 'websocket.accept'})
        while (message := await receive())['type'] == 'websocket.receive':
            await send({'type': 'websocket.send', 'text': message.get('text') or ''})
        return
    path = scope['path']
    body = b''
    more = True
    while more:
        message = await receive()
        body += message.get('body', b'')
        more = message.get('more_body', False)
    if path == '/hold':
        (gate() / 'held').touch()
        await wait_for('open')
    if path == '/stream':
        await send({'type': 'http.response.start', 'status': 200, 'headers': TEXT})
        for chunk in (b'one', b'two', b'three'):
            await send({'type': 'http.response.body', 'body': chunk, 'more_body': True})
        await send({'type': 'http.response.body', 'body': b''})
        return
    status = 500 if path == '/fail' else 200
    answer = body if path == '/echo' else b'ok'
    await send({'type': 'http.response.start', 'status': status, 'headers': TEXT})
    await send({'type': 'http.response.body', 'body': answer})


def wsgi(environ, start_response):
    if environ['PATH_INFO'] == '/hold':
        (gate() / 'held').touch()
        while not (gate() / 'open').exists():
            time.sleep(0.01)
    start_response('200 OK', [('content-type', 'text/plain')])
    return [b'ok']
