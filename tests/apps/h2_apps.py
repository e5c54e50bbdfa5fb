"""RSGI (`h2_apps:rsgi_app`) and ASGI (`h2_apps:asgi_app`) apps for the HTTP/2 and TLS tests.

Both serve the same routes, so one test runs against either interface:

- `/info`: JSON with the request's HTTP version, scheme and host as the interface shows them.
- `/sleep?secs=S`: answers after S seconds (concurrency of streams on one connection).
- `/digest`: reads the whole body, answers its length and SHA-256.
- `/duplex`: echoes each request chunk as a response chunk as soon as it arrives.
- `/produce?tag=T&total=N&chunk=C`: streams N bytes in C-byte chunks as fast as the server
  takes them, counting in `PROGRESS[T]` what was handed over so far.
- `/gated_digest?tag=T`: waits until `/open?tag=T` was requested, then reads the body.
- `/wait_disconnect?tag=T`: never answers; records in `EVENTS[T]` when the app sees the client go.
- `/stream_until_gone?tag=T`: streams small chunks until sending fails; records the error.
- `/raise_mid_stream`: sends one chunk, then raises.
- `/pause_stream?n=N&gap=S`: streams N chunks `chunk-i` with S seconds between them.
- `/state?tag=T`: JSON of `PROGRESS[T]` and `EVENTS[T]`, read by another request of the test.

State lives in module globals, so the tests run these apps with one worker.
"""

import asyncio
import hashlib
import json
import time
from urllib.parse import parse_qs

PROGRESS: dict[str, dict] = {}
EVENTS: dict[str, str] = {}
GATES: dict[str, asyncio.Event] = {}
#: Upper bound of every wait in these apps, so a failing test never leaves a task behind for long.
LIMIT = 30.0


def gate(tag):
    return GATES.setdefault(tag, asyncio.Event())


def digest(body):
    return json.dumps({'len': len(body), 'sha256': hashlib.sha256(body).hexdigest()})


def state(tag):
    return json.dumps({'progress': PROGRESS.get(tag), 'event': EVENTS.get(tag)})


# --- RSGI ---------------------------------------------------------------------------------------

TEXT = [('content-type', 'text/plain')]
JSON = [('content-type', 'application/json')]


async def rsgi_app(scope, protocol):
    q = {key: values[0] for key, values in parse_qs(scope.query_string).items()}
    tag = q.get('tag', '-')
    path = scope.path
    if path == '/info':
        info = {'http_version': scope.http_version, 'scheme': scope.scheme, 'host': scope.authority}
        protocol.response_str(200, JSON, json.dumps(info))
    elif path == '/sleep':
        await asyncio.sleep(float(q.get('secs', '0.5')))
        protocol.response_str(200, TEXT, 'slept')
    elif path == '/digest':
        protocol.response_str(200, JSON, digest(await protocol()))
    elif path == '/duplex':
        transport = protocol.response_stream(200, [('content-type', 'application/octet-stream')])
        async for chunk in protocol:
            await transport.send_bytes(chunk)
    elif path == '/produce':
        await rsgi_produce(protocol, tag, int(q['total']), int(q.get('chunk', '65536')))
    elif path == '/open':
        gate(tag).set()
        protocol.response_str(200, TEXT, 'open')
    elif path == '/gated_digest':
        await asyncio.wait_for(gate(tag).wait(), LIMIT)
        protocol.response_str(200, JSON, digest(await protocol()))
    elif path == '/wait_disconnect':
        EVENTS[tag] = 'waiting'
        try:
            await asyncio.wait_for(protocol.client_disconnect(), LIMIT)
        except asyncio.TimeoutError:
            EVENTS[tag] = 'timeout'
            return
        EVENTS[tag] = 'disconnect'
    elif path == '/stream_until_gone':
        transport = protocol.response_stream(200, TEXT)
        EVENTS[tag] = 'streaming'
        deadline = time.monotonic() + LIMIT
        try:
            while time.monotonic() < deadline:
                await transport.send_bytes(b'tick\n')
                await asyncio.sleep(0.01)
        except Exception as exc:
            EVENTS[tag] = f'error:{type(exc).__name__}'
            return
        EVENTS[tag] = 'timeout'
    elif path == '/pause_stream':
        transport = protocol.response_stream(200, TEXT)
        for i in range(int(q.get('n', '3'))):
            if i:
                await asyncio.sleep(float(q.get('gap', '1')))
            await transport.send_bytes(f'chunk-{i}\n'.encode())
    elif path == '/raise_mid_stream':
        transport = protocol.response_stream(200, TEXT)
        await transport.send_bytes(b'partial')
        await asyncio.sleep(0.05)
        raise RuntimeError('boom mid-stream')
    elif path == '/state':
        protocol.response_str(200, JSON, state(tag))
    else:
        protocol.response_str(200, TEXT, 'ok')


async def rsgi_produce(protocol, tag, total, size):
    progress = PROGRESS[tag] = {'sent': 0, 'done': False, 'error': None}
    transport = protocol.response_stream(200, [('content-type', 'application/octet-stream')])
    chunk = b'x' * size
    try:
        while progress['sent'] < total:
            await transport.send_bytes(chunk[: total - progress['sent']])
            progress['sent'] += min(size, total - progress['sent'])
    except Exception as exc:
        progress['error'] = type(exc).__name__
        return
    progress['done'] = True


# --- ASGI ---------------------------------------------------------------------------------------


async def start(send, status=200, content_type=b'text/plain'):
    await send({'type': 'http.response.start', 'status': status, 'headers': [(b'content-type', content_type)]})


async def respond(send, body, content_type=b'text/plain'):
    await start(send, 200, content_type)
    await send({'type': 'http.response.body', 'body': body.encode() if isinstance(body, str) else body})


async def read_body(receive):
    parts = []
    while True:
        message = await receive()
        if message['type'] != 'http.request':
            raise ConnectionError(message['type'])
        parts.append(message.get('body', b''))
        if not message.get('more_body', False):
            return b''.join(parts)


async def asgi_app(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            message = await receive()
            await send({'type': message['type'] + '.complete'})
            if message['type'] == 'lifespan.shutdown':
                return
    q = {key: values[0] for key, values in parse_qs(scope['query_string'].decode()).items()}
    tag = q.get('tag', '-')
    path = scope['path']
    if path == '/info':
        host = dict(scope['headers']).get(b'host', b'').decode() or None
        info = {'http_version': scope['http_version'], 'scheme': scope['scheme'], 'host': host}
        await respond(send, json.dumps(info), b'application/json')
    elif path == '/sleep':
        await asyncio.sleep(float(q.get('secs', '0.5')))
        await respond(send, 'slept')
    elif path == '/digest':
        await respond(send, digest(await read_body(receive)), b'application/json')
    elif path == '/duplex':
        await start(send, 200, b'application/octet-stream')
        while True:
            message = await receive()
            if message['type'] != 'http.request':
                return
            await send({'type': 'http.response.body', 'body': message.get('body', b''), 'more_body': True})
            if not message.get('more_body', False):
                break
        await send({'type': 'http.response.body', 'body': b''})
    elif path == '/produce':
        await asgi_produce(send, tag, int(q['total']), int(q.get('chunk', '65536')))
    elif path == '/open':
        gate(tag).set()
        await respond(send, 'open')
    elif path == '/gated_digest':
        await asyncio.wait_for(gate(tag).wait(), LIMIT)
        await respond(send, digest(await read_body(receive)), b'application/json')
    elif path == '/wait_disconnect':
        EVENTS[tag] = 'waiting'
        try:
            message = await asyncio.wait_for(receive(), LIMIT)
            while message['type'] == 'http.request':
                message = await asyncio.wait_for(receive(), LIMIT)
        except asyncio.TimeoutError:
            EVENTS[tag] = 'timeout'
            return
        EVENTS[tag] = 'disconnect' if message['type'] == 'http.disconnect' else message['type']
    elif path == '/stream_until_gone':
        await start(send)
        EVENTS[tag] = 'streaming'
        deadline = time.monotonic() + LIMIT
        try:
            while time.monotonic() < deadline:
                await send({'type': 'http.response.body', 'body': b'tick\n', 'more_body': True})
                await asyncio.sleep(0.01)
        except Exception as exc:
            EVENTS[tag] = f'error:{type(exc).__name__}'
            return
        EVENTS[tag] = 'timeout'
    elif path == '/pause_stream':
        await start(send)
        for i in range(int(q.get('n', '3'))):
            if i:
                await asyncio.sleep(float(q.get('gap', '1')))
            await send({'type': 'http.response.body', 'body': f'chunk-{i}\n'.encode(), 'more_body': True})
        await send({'type': 'http.response.body', 'body': b''})
    elif path == '/raise_mid_stream':
        await start(send)
        await send({'type': 'http.response.body', 'body': b'partial', 'more_body': True})
        await asyncio.sleep(0.05)
        raise RuntimeError('boom mid-stream')
    elif path == '/state':
        await respond(send, state(tag), b'application/json')
    else:
        await respond(send, 'ok')


async def asgi_produce(send, tag, total, size):
    progress = PROGRESS[tag] = {'sent': 0, 'done': False, 'error': None}
    await start(send, 200, b'application/octet-stream')
    chunk = b'x' * size
    try:
        while progress['sent'] < total:
            piece = chunk[: total - progress['sent']]
            await send({'type': 'http.response.body', 'body': piece, 'more_body': True})
            progress['sent'] += len(piece)
        await send({'type': 'http.response.body', 'body': b''})
    except Exception as exc:
        progress['error'] = type(exc).__name__
        return
    progress['done'] = True
