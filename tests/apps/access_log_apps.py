"""One app per interface for tests/e2e/test_access_log_atoms.py, with known body sizes.

- `/stream`: a streamed body of two chunks, `abc` and `defg` (7 bytes);
- `/cut`: a streamed body that sends `partial-` (8 bytes), then fails: the response is cut;
- anything else: `hello` (5 bytes).

Every response carries `x-app: "<path>"` (quotes included) and `content-type: text/plain`.
"""

import asyncio


def _headers(path):
    return [('content-type', 'text/plain'), ('x-app', f'"{path}"')]


async def asgi(scope, receive, send):
    if scope['type'] == 'lifespan':
        while (await receive())['type'] != 'lifespan.shutdown':
            await send({'type': 'lifespan.startup.complete'})
        await send({'type': 'lifespan.shutdown.complete'})
        return
    path = scope['path']
    headers = [(k.encode(), v.encode()) for k, v in _headers(path)]
    await send({'type': 'http.response.start', 'status': 200, 'headers': headers})
    if path == '/stream':
        await send({'type': 'http.response.body', 'body': b'abc', 'more_body': True})
        await send({'type': 'http.response.body', 'body': b'defg'})
    elif path == '/cut':
        await send({'type': 'http.response.body', 'body': b'partial-', 'more_body': True})
        await asyncio.sleep(0.05)  # let the head and the first chunk reach the client
        raise RuntimeError('cut on purpose')
    else:
        await send({'type': 'http.response.body', 'body': b'hello'})


async def rsgi(scope, protocol):
    path = scope.path
    if path == '/stream':
        transport = protocol.response_stream(200, _headers(path))
        await transport.send_bytes(b'abc')
        await transport.send_bytes(b'defg')
    elif path == '/cut':
        transport = protocol.response_stream(200, _headers(path))
        await transport.send_bytes(b'partial-')
        await asyncio.sleep(0.05)
        raise RuntimeError('cut on purpose')
    else:
        protocol.response_bytes(200, _headers(path), b'hello')


def wsgi(environ, start_response):
    path = environ['PATH_INFO']
    start_response('200 OK', _headers(path))
    if path == '/stream':
        return iter([b'abc', b'defg'])
    if path == '/cut':
        return _cut()
    return [b'hello']


def _cut():
    yield b'partial-'
    raise RuntimeError('cut on purpose')
