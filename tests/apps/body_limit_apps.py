"""Apps for tests/e2e/test_body_limits.py, one per interface, routed by path.

Every request first writes `EVENT called <tag>` to stdout (the server log), so a test can tell
that the app never ran for a request the server refused on its own.

- `/` answers `200 ok-<interface>`.
- `/read?tag=T` reads the whole body the plain way (RSGI `await protocol()`, ASGI a `receive()`
  loop, WSGI `wsgi.input.read()`) and answers `200 read <length>`.
- `/stream-then-read?tag=T` starts a streamed response (`started\\n`), then reads the whole
  body, then sends `read <length>` and ends.

When a read ends, `EVENT read-ended T <outcome>` is written: `ok`, `disconnect` (ASGI:
`receive()` returned `http.disconnect`) or the name of the exception the read raised. Nothing
is caught: what the server does when a body fails is the server's business.
"""

import sys
from urllib.parse import parse_qs

TEXT = 'text/plain; charset=utf-8'


def event(*parts):
    # One write per line: WSGI apps run in several threads and their lines must not interleave.
    sys.stdout.write(' '.join(('EVENT', *parts)) + '\n')
    sys.stdout.flush()


def tag_of(query_string):
    return parse_qs(query_string).get('tag', ['none'])[0]


# --- RSGI --------------------------------------------------------------------------------------


async def rsgi(scope, protocol):
    tag = tag_of(scope.query_string)
    event('called', tag)
    if scope.path not in ('/read', '/stream-then-read'):
        protocol.response_str(200, [('content-type', TEXT)], 'ok-rsgi')
        return
    transport = None
    if scope.path == '/stream-then-read':
        transport = protocol.response_stream(200, [('content-type', TEXT)])
        await transport.send_bytes(b'started\n')
    outcome = 'ok'
    try:
        body = await protocol()
    except Exception as exc:
        outcome = type(exc).__name__
        raise
    finally:
        event('read-ended', tag, outcome)
    if transport is None:
        protocol.response_str(200, [('content-type', TEXT)], f'read {len(body)}')
    else:
        await transport.send_str(f'read {len(body)}')


# --- ASGI --------------------------------------------------------------------------------------


async def asgi_read(receive):
    """The body length, or None when `receive()` returned `http.disconnect` first."""
    total = 0
    while True:
        message = await receive()
        if message['type'] == 'http.disconnect':
            return None
        total += len(message.get('body', b''))
        if not message.get('more_body', False):
            return total


async def asgi(scope, receive, send):
    if scope['type'] == 'lifespan':
        while (await receive())['type'] != 'lifespan.shutdown':
            await send({'type': 'lifespan.startup.complete'})
        await send({'type': 'lifespan.shutdown.complete'})
        return
    path, tag = scope['path'], tag_of(scope['query_string'].decode('latin-1'))
    event('called', tag)
    start = {'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', TEXT.encode())]}
    if path not in ('/read', '/stream-then-read'):
        await send(start)
        await send({'type': 'http.response.body', 'body': b'ok-asgi'})
        return
    if path == '/stream-then-read':
        await send(start)
        await send({'type': 'http.response.body', 'body': b'started\n', 'more_body': True})
    outcome = 'ok'
    try:
        total = await asgi_read(receive)
        if total is None:
            outcome = 'disconnect'
            return
    except Exception as exc:
        outcome = type(exc).__name__
        raise
    finally:
        event('read-ended', tag, outcome)
    if path == '/read':
        await send(start)
    await send({'type': 'http.response.body', 'body': f'read {total}'.encode()})


# --- WSGI --------------------------------------------------------------------------------------


def wsgi_read(environ, tag):
    outcome = 'ok'
    try:
        return environ['wsgi.input'].read()
    except Exception as exc:
        outcome = type(exc).__name__
        raise
    finally:
        event('read-ended', tag, outcome)


def wsgi(environ, start_response):
    path, tag = environ['PATH_INFO'], tag_of(environ.get('QUERY_STRING', ''))
    event('called', tag)
    if path == '/read':
        payload = f'read {len(wsgi_read(environ, tag))}'.encode()
    elif path == '/stream-then-read':
        start_response('200 OK', [('Content-Type', TEXT)])
        return streamed(environ, tag)
    else:
        payload = b'ok-wsgi'
    start_response('200 OK', [('Content-Type', TEXT), ('Content-Length', str(len(payload)))])
    return [payload]


def streamed(environ, tag):
    yield b'started\n'
    yield f'read {len(wsgi_read(environ, tag))}'.encode()
