"""Apps for the graceful-stop tests (tests/e2e/test_drain.py): `asgi`, `rsgi` and `wsgi`.

Every route records what happened to it, one line per event appended to the file named by
the `DRAIN_EVENTS` env var (`<tag> <event>`), so the test can tell when a request reached
the app and how it ended, in order:

- `<tag> start`: the app has the request;
- `<tag> end <how>`: its `finally` ran; `how` is `done` (answered), `cancelled` (the task was
  cancelled), `disconnect` (the app was told the client is gone), `error <name>` (a send or
  read failed with that exception).

Routes, with `?tag=T` (and `secs=S` where it says so):

- `/sleep?secs=S`: answers `slept` after S seconds;
- `/hang`: never answers (ASGI, RSGI: sleeps; WSGI: see `/stuck`);
- `/listen` (ASGI): waits on `receive()` until `http.disconnect`;
- `/stream`: sends `first` at once, then `tick` every 0.1 s, forever;
- `/stuck` (WSGI): `time.sleep(3600)` in the app: a thread that cannot be stopped;
- WebSocket `/ws` (ASGI, RSGI): accepts, echoes text, records how it was closed
  (`end close <code>`).

The ASGI app also records `lifespan shutdown` (no tag) when its lifespan shutdown runs.
"""

import asyncio
import os
import time
from urllib.parse import parse_qs

TEXT = [('content-type', 'text/plain; charset=utf-8')]


def record(*parts):
    with open(os.environ['DRAIN_EVENTS'], 'a') as f:
        f.write(' '.join(str(p) for p in parts) + '\n')


def params(query):
    if isinstance(query, bytes):
        query = query.decode()
    values = {key: vals[0] for key, vals in parse_qs(query).items()}
    return values.get('tag', 'req'), float(values.get('secs', '0'))


def outcome(exc):
    return f'error {type(exc).__name__}'


# --- ASGI ------------------------------------------------------------------------------------


async def asgi_http(scope, receive, send, path, tag, secs):
    async def answer(body):
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': body})

    if path == '/sleep':
        await asyncio.sleep(secs)
        await answer(b'slept')
        return 'done'
    if path == '/hang':
        await asyncio.sleep(3600)
        return 'done'
    if path == '/listen':
        while (await receive())['type'] != 'http.disconnect':
            pass
        return 'disconnect'
    if path == '/stream':
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': b'first\n', 'more_body': True})
        while True:
            await asyncio.sleep(0.1)
            await send({'type': 'http.response.body', 'body': b'tick\n', 'more_body': True})
    await answer(b'ok')
    return 'done'


async def asgi_ws(receive, send, tag):
    assert (await receive())['type'] == 'websocket.connect'
    await send({'type': 'websocket.accept'})
    while True:
        message = await receive()
        if message['type'] == 'websocket.disconnect':
            return f'close {message.get("code")}'
        await send({'type': 'websocket.send', 'text': message.get('text') or ''})


async def asgi(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                await send({'type': 'lifespan.startup.complete'})
            elif message['type'] == 'lifespan.shutdown':
                record('lifespan', 'shutdown')
                await send({'type': 'lifespan.shutdown.complete'})
                return
    tag, secs = params(scope['query_string'])
    record(tag, 'start')
    how = 'unknown'
    try:
        if scope['type'] == 'websocket':
            how = await asgi_ws(receive, send, tag)
        else:
            how = await asgi_http(scope, receive, send, scope['path'], tag, secs)
    except asyncio.CancelledError:
        how = 'cancelled'
        raise
    except Exception as exc:
        how = outcome(exc)
        raise
    finally:
        record(tag, 'end', how)


# --- RSGI ------------------------------------------------------------------------------------


async def rsgi_http(scope, proto, tag, secs):
    if scope.path == '/sleep':
        await asyncio.sleep(secs)
        proto.response_str(200, TEXT, 'slept')
        return 'done'
    if scope.path == '/hang':
        await asyncio.sleep(3600)
        return 'done'
    if scope.path == '/stream':
        transport = proto.response_stream(200, TEXT)
        await transport.send_str('first\n')
        while True:
            await asyncio.sleep(0.1)
            await transport.send_str('tick\n')
    proto.response_str(200, TEXT, 'ok')
    return 'done'


async def rsgi_ws(proto):
    transport = await proto.accept()
    while True:
        message = await transport.receive()
        if message.kind == 0:
            return 'close'
        await transport.send_str(message.data if message.kind == 2 else '')


async def rsgi(scope, proto):
    tag, secs = params(scope.query_string)
    record(tag, 'start')
    how = 'unknown'
    try:
        if scope.proto == 'ws':
            how = await rsgi_ws(proto)
        else:
            how = await rsgi_http(scope, proto, tag, secs)
    except asyncio.CancelledError:
        how = 'cancelled'
        raise
    except Exception as exc:
        how = outcome(exc)
        raise
    finally:
        record(tag, 'end', how)


# --- WSGI ------------------------------------------------------------------------------------


class Ticks:
    """The `/stream` body: `first`, then a `tick` every 0.1 s until the server stops asking."""

    def __init__(self, tag):
        self.tag = tag
        self.sent = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.sent:
            time.sleep(0.1)
        self.sent += 1
        return b'first\n' if self.sent == 1 else b'tick\n'

    def close(self):
        # PEP 3333: the server calls close() whether the body was sent whole or not.
        record(self.tag, 'end', 'disconnect')


def wsgi(environ, start_response):
    tag, secs = params(environ.get('QUERY_STRING', ''))
    path = environ['PATH_INFO']
    record(tag, 'start')
    if path == '/stream':
        start_response('200 OK', TEXT)
        return Ticks(tag)
    try:
        if path == '/sleep':
            time.sleep(secs)
        elif path == '/stuck':
            time.sleep(3600)
        start_response('200 OK', TEXT)
        return [b'slept' if path == '/sleep' else b'ok']
    finally:
        record(tag, 'end', 'done')
