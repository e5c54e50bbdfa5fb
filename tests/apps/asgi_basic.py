"""The raw ASGI 3 app most ASGI end-to-end tests run against: one route per behaviour.

Plain `async def app(scope, receive, send)`, no framework. Lifespan: startup fills the state
dict and writes `lifespan-startup`, shutdown writes `lifespan-shutdown`, both into
`$ASGI_MARKER_DIR` (when set), each holding the worker's PID. Things a test
cannot see in a response (what `receive` returned after the client left, ...) are written as
marker files into `$ASGI_MARKER_DIR` too, so the test can poll for them.
"""

import asyncio
import hashlib
import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs

MARKERS = os.environ.get('ASGI_MARKER_DIR')


def mark(name, text=''):
    """Write a marker file atomically (write then rename), so a poller never reads half of it."""
    if not MARKERS:
        return
    target = Path(MARKERS) / name
    tmp = target.with_suffix('.tmp')
    tmp.write_text(text)
    tmp.rename(target)


def query(scope):
    return {key: values[0] for key, values in parse_qs(scope['query_string'].decode('latin-1')).items()}


async def respond(send, status=200, body=b'', content_type=b'text/plain; charset=utf-8', headers=()):
    await send(
        {
            'type': 'http.response.start',
            'status': status,
            'headers': [(b'content-type', content_type), *headers],
        }
    )
    await send({'type': 'http.response.body', 'body': body})


async def respond_json(send, data, status=200):
    await respond(send, status, json.dumps(data).encode(), b'application/json')


def type_name(value):
    return type(value).__name__


def describe_addr(addr):
    if addr is None:
        return None
    return {'value': list(addr), 'types': [type_name(part) for part in addr], 'container': type_name(addr)}


async def scope_route(scope, receive, send):
    headers = scope['headers']
    data = {
        'keys': sorted(scope),
        'type': scope['type'],
        'asgi': scope['asgi'],
        'http_version': scope['http_version'],
        'method': scope['method'],
        'scheme': scope['scheme'],
        'path': scope['path'],
        'path_type': type_name(scope['path']),
        'raw_path': scope['raw_path'].decode('latin-1') if isinstance(scope['raw_path'], bytes) else None,
        'raw_path_type': type_name(scope['raw_path']),
        'query_string': scope['query_string'].decode('latin-1'),
        'query_string_type': type_name(scope['query_string']),
        'root_path': scope['root_path'],
        'headers': [[name.decode('latin-1'), value.decode('latin-1')] for name, value in headers],
        'header_types': sorted({f'{type_name(name)},{type_name(value)}' for name, value in headers}),
        'header_pair_len': sorted({len(pair) for pair in headers}),
        'client': describe_addr(scope['client']),
        'server': describe_addr(scope['server']),
        'has_state': 'state' in scope,
        'state': dict(scope['state']) if isinstance(scope.get('state'), dict) else None,
        'extensions': scope.get('extensions'),
    }
    await respond_json(send, data)


async def echo_route(scope, receive, send):
    """Reads the body event by event without keeping it: reports events, sizes and a digest."""
    digest = hashlib.sha256()
    events = 0
    total = 0
    largest = 0
    while True:
        message = await receive()
        if message['type'] != 'http.request':
            mark('echo-unexpected', message['type'])
            return
        events += 1
        chunk = message.get('body', b'')
        total += len(chunk)
        largest = max(largest, len(chunk))
        digest.update(chunk)
        if not message.get('more_body', False):
            break
    await respond_json(send, {'events': events, 'size': total, 'largest': largest, 'sha256': digest.hexdigest()})


async def body_route(scope, receive, send):
    """Echoes the whole body back (small bodies only)."""
    parts = []
    more = True
    while more:
        message = await receive()
        parts.append(message.get('body', b''))
        more = message.get('more_body', False)
    await respond(send, body=b''.join(parts), content_type=b'application/octet-stream')


async def stream_route(scope, receive, send):
    """`n` body chunks sent with more_body, then an empty final one."""
    n = int(query(scope).get('n', '5'))
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    for i in range(n):
        await send({'type': 'http.response.body', 'body': f'chunk-{i};'.encode(), 'more_body': True})
    await send({'type': 'http.response.body', 'body': b'', 'more_body': False})


async def gated_stream_route(scope, receive, send):
    """Sends `first`, then waits (bounded) until the gate file exists before sending `last`."""
    gate = Path(query(scope)['gate'])
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'first', 'more_body': True})
    deadline = time.monotonic() + 10
    while not gate.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await send({'type': 'http.response.body', 'body': b'last' if gate.exists() else b'gate-timeout'})


async def forever_send_route(scope, receive, send):
    """Streams forever without ever calling receive: only `send` can tell that the client left."""
    name = query(scope)['marker']
    chunk = b'x' * 16384
    sent = 0
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    started = time.monotonic()
    try:
        while time.monotonic() - started < 30:
            await send({'type': 'http.response.body', 'body': chunk, 'more_body': True})
            sent += 1
            await asyncio.sleep(0)
    except OSError as exc:
        mark(name, f'oserror:{type(exc).__name__}:{sent}')
        return
    mark(name, f'timeout:{sent}')


async def forever_receive_route(scope, receive, send):
    """Sends one chunk, then waits on receive (bounded): only `receive` can tell that the client left."""
    name = query(scope)['marker']
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'hello', 'more_body': True})
    seen = []
    try:
        async with asyncio.timeout(30):
            while True:
                message = await receive()
                seen.append(message['type'])
                if message['type'] == 'http.disconnect':
                    break
    except TimeoutError:
        mark(name, 'timeout:' + ','.join(seen))
        return
    mark(name, 'disconnect:' + ','.join(seen))


async def forever_both_route(scope, receive, send):
    """A typical streaming app: produces chunks while a side task listens for http.disconnect."""
    name = query(scope)['marker']
    disconnected = asyncio.Event()

    async def listen():
        while (await receive())['type'] != 'http.disconnect':
            pass
        disconnected.set()

    listener = asyncio.ensure_future(listen())
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    sent = 0
    reason = 'timeout'
    started = time.monotonic()
    try:
        while time.monotonic() - started < 30:
            if disconnected.is_set():
                reason = 'disconnect'
                break
            await send({'type': 'http.response.body', 'body': b'tick\n', 'more_body': True})
            sent += 1
            await asyncio.sleep(0.01)
    except OSError:
        reason = 'oserror'
    finally:
        listener.cancel()
    mark(name, f'{reason}:{sent}')


async def record_receives(scope, receive, send):
    """Calls receive (bounded) until http.disconnect, without ever starting a response (long poll)."""
    name = query(scope)['marker']
    seen = []
    try:
        async with asyncio.timeout(30):
            while not seen or seen[-1] != 'http.disconnect':
                message = await receive()
                seen.append(message['type'])
                if message['type'] == 'http.request' and message.get('more_body'):
                    seen[-1] += '+more'
    except TimeoutError:
        mark(name, 'timeout:' + ','.join(seen))
        return
    mark(name, ','.join(seen))


async def pathsend_route(scope, receive, send):
    path = query(scope)['path']
    await send(
        {
            'type': 'http.response.start',
            'status': 200,
            'headers': [(b'content-type', b'application/octet-stream'), (b'x-served-by', b'pathsend')],
        }
    )
    await send({'type': 'http.response.pathsend', 'path': path})


async def state_route(scope, receive, send):
    state = scope.get('state')
    if state is None:
        await respond_json(send, {'state': None})
        return
    # Each request gets a shallow copy: a key set here must not leak into the next request.
    leaked = state.get('set-by-request')
    state['set-by-request'] = 'yes'
    await respond_json(send, {'state': {k: v for k, v in state.items() if k != 'set-by-request'}, 'leaked': leaked})


async def headers_route(scope, receive, send):
    """Response headers: repeated names kept, in order."""
    await send(
        {
            'type': 'http.response.start',
            'status': 201,
            'headers': [
                (b'content-type', b'text/plain'),
                (b'x-rep', b'1'),
                (b'set-cookie', b'a=1'),
                (b'x-rep', b'2'),
                (b'set-cookie', b'b=2'),
            ],
        }
    )
    await send({'type': 'http.response.body', 'body': b'created'})


# --- misbehaving apps -------------------------------------------------------------------------


async def raise_before_start(scope, receive, send):
    raise RuntimeError('boom-before-start')


async def raise_after_start(scope, receive, send):
    await send(
        {
            'type': 'http.response.start',
            'status': 200,
            'headers': [(b'content-type', b'text/plain'), (b'content-length', b'100')],
        }
    )
    await send({'type': 'http.response.body', 'body': b'partial-', 'more_body': True})
    await asyncio.sleep(0.05)  # let the head and the first chunk reach the client
    raise RuntimeError('boom-after-start')


async def raise_right_after_start(scope, receive, send):
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'partial-', 'more_body': True})
    raise RuntimeError('boom-right-after-start')


async def raise_after_start_chunked(scope, receive, send):
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'partial-', 'more_body': True})
    await asyncio.sleep(0.05)
    raise RuntimeError('boom-after-start-chunked')


async def no_response(scope, receive, send):
    return None


async def start_only(scope, receive, send):
    await send({'type': 'http.response.start', 'status': 200, 'headers': []})


async def body_before_start(scope, receive, send):
    await send({'type': 'http.response.body', 'body': b'too early'})


async def start_twice(scope, receive, send):
    await send({'type': 'http.response.start', 'status': 200, 'headers': []})
    await send({'type': 'http.response.start', 'status': 201, 'headers': []})
    await send({'type': 'http.response.body', 'body': b'should not be sent'})


async def unknown_type(scope, receive, send):
    await send({'type': 'http.response.nonsense', 'status': 200})


async def missing_type(scope, receive, send):
    await send({'status': 200, 'headers': []})


async def bad_status(scope, receive, send):
    await send({'type': 'http.response.start', 'status': 'two hundred', 'headers': []})
    await send({'type': 'http.response.body', 'body': b'should not be sent'})


async def pathsend_before_start(scope, receive, send):
    await send({'type': 'http.response.pathsend', 'path': __file__})


async def unknown_type_after_start(scope, receive, send):
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'partial-', 'more_body': True})
    await send({'type': 'bogus.message'})


async def body_after_complete(scope, receive, send):
    await respond(send, body=b'complete')
    try:
        await send({'type': 'http.response.body', 'body': b'extra'})
    except Exception as exc:
        mark(query(scope)['marker'], f'raised:{type(exc).__name__}:{exc}')
        raise
    mark(query(scope)['marker'], 'accepted')


ROUTES = {
    '/scope': scope_route,
    '/echo': echo_route,
    '/body': body_route,
    '/stream': stream_route,
    '/gated-stream': gated_stream_route,
    '/forever/send': forever_send_route,
    '/forever/receive': forever_receive_route,
    '/forever/both': forever_both_route,
    '/long-poll': record_receives,
    '/pathsend': pathsend_route,
    '/state': state_route,
    '/headers': headers_route,
    '/error/before-start': raise_before_start,
    '/error/after-start': raise_after_start,
    '/error/after-start-chunked': raise_after_start_chunked,
    '/error/right-after-start': raise_right_after_start,
    '/error/no-response': no_response,
    '/error/start-only': start_only,
    '/error/body-before-start': body_before_start,
    '/error/start-twice': start_twice,
    '/error/unknown-type': unknown_type,
    '/error/unknown-type-after-start': unknown_type_after_start,
    '/error/missing-type': missing_type,
    '/error/bad-status': bad_status,
    '/error/pathsend-before-start': pathsend_before_start,
    '/error/body-after-complete': body_after_complete,
}


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message['type'] == 'lifespan.startup':
            mark('lifespan-startup', str(os.getpid()))
            scope['state']['started'] = 'yes'
            scope['state']['pid'] = os.getpid()
            scope['state']['lifespan_asgi'] = dict(scope['asgi'])
            await send({'type': 'lifespan.startup.complete'})
        elif message['type'] == 'lifespan.shutdown':
            mark('lifespan-shutdown', str(os.getpid()))
            await send({'type': 'lifespan.shutdown.complete'})
            return


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        await lifespan(scope, receive, send)
        return
    path = scope['path']
    root = scope.get('root_path', '')
    if root and path.startswith(root):
        path = path[len(root) :] or '/'
    if path.startswith('/scope'):
        path = '/scope'
    handler = ROUTES.get(path)
    if handler is None:
        await respond(send, 404, b'not found')
        return
    await handler(scope, receive, send)
