"""Small apps for tests/e2e/test_compat_engine.py, one per interface, routed by path.

- `/` answers `200 ok-<interface>`.
- `/read?tag=T` reads the whole request body the plain way (RSGI `await protocol()`, ASGI a
  `receive()` loop, WSGI `wsgi.input.read()`) and answers `200 read <length>`; RSGI also has
  `/iterate?tag=T` (`async for chunk in protocol`). Nothing is caught: a body the server cannot
  decode is the server's to answer. When reading ends, one line goes to stdout (the server
  log): `EVENT read-ended T <outcome>`, where the outcome is `ok`, `disconnect` (ASGI:
  `receive()` returned `http.disconnect`) or the name of the exception the read raised.
- `/notfound` and `/bad` are the app's own `404` and `400`.
- `/raise?tag=T` raises `RuntimeError('deliberate failure T')` without responding.
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


def app_answer(path):
    """(status, body) of the routes that do not read the body, or None."""
    if path == '/notfound':
        return 404, b'no such thing'
    if path == '/bad':
        return 400, b'bad by the app'
    return None


# --- RSGI --------------------------------------------------------------------------------------


async def rsgi_read(scope, protocol):
    if scope.path == '/read':
        return len(await protocol())
    total = 0
    async for chunk in protocol:
        total += len(chunk)
    return total


async def rsgi_app(scope, protocol):
    tag = tag_of(scope.query_string)
    if scope.path in ('/read', '/iterate'):
        outcome = 'ok'
        try:
            total = await rsgi_read(scope, protocol)
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            event('read-ended', tag, outcome)
        protocol.response_str(200, [('content-type', TEXT)], f'read {total}')
        return
    if scope.path == '/raise':
        raise RuntimeError(f'deliberate failure {tag}')
    answer = app_answer(scope.path)
    if answer is not None:
        protocol.response_bytes(answer[0], [('content-type', TEXT)], answer[1])
        return
    protocol.response_str(200, [('content-type', TEXT)], 'ok-rsgi')


# --- ASGI --------------------------------------------------------------------------------------


async def respond(send, status, body):
    await send({'type': 'http.response.start', 'status': status, 'headers': [(b'content-type', TEXT.encode())]})
    await send({'type': 'http.response.body', 'body': body})


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


async def asgi_app(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                await send({'type': 'lifespan.startup.complete'})
            elif message['type'] == 'lifespan.shutdown':
                await send({'type': 'lifespan.shutdown.complete'})
                return
    path, tag = scope['path'], tag_of(scope['query_string'].decode('latin-1'))
    if path == '/read':
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
        await respond(send, 200, f'read {total}'.encode())
        return
    if path == '/raise':
        raise RuntimeError(f'deliberate failure {tag}')
    answer = app_answer(path)
    if answer is not None:
        await respond(send, *answer)
        return
    await respond(send, 200, b'ok-asgi')


# --- WSGI --------------------------------------------------------------------------------------


def wsgi_app(environ, start_response):
    path, tag = environ['PATH_INFO'], tag_of(environ.get('QUERY_STRING', ''))
    if path == '/read':
        outcome = 'ok'
        try:
            body = environ['wsgi.input'].read()
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            event('read-ended', tag, outcome)
        status, payload = 200, f'read {len(body)}'.encode()
    elif path == '/raise':
        raise RuntimeError(f'deliberate failure {tag}')
    else:
        status, payload = app_answer(path) or (200, b'ok-wsgi')
    reason = {200: 'OK', 400: 'Bad Request', 404: 'Not Found'}[status]
    start_response(f'{status} {reason}', [('Content-Type', TEXT), ('Content-Length', str(len(payload)))])
    return [payload]
