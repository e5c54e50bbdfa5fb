"""ASGI 3 app for tests/e2e/test_spec_*.py: the message shapes real apps and the ASGI spec use.

Routed by path; `?shape=` picks how a header list is built (see `shaped`), `?tag=` names what
the app records in `STATE` (read back with `/state?tag=T`). Run with one worker.

HTTP routes:

- `/hello`: the quickstart shape (headers as a list of lists, one body message).
- `/shape/body`, `/shape/stream`, `/shape/pathsend`: `HEADERS` in the given shape, then a body
  in one message, in several `more_body` messages, or this file by `http.response.pathsend`.
- `/dict-items`: headers as `dict.items()` (an iterable of pairs, as the spec allows).
- `/body?kind=bytes|bytearray|memoryview[&stream=1]`: the body as that type.
- `/status?kind=int|enum|enum418`: the status as `int` or `http.HTTPStatus`.
- `/minimal`, `/no-body-key`, `/extra-keys`, `/te-header`: optional keys left out, unknown keys
  added, an app-supplied `transfer-encoding` header.
- `/after-complete?extra=body|start`: a message sent after the response completed.
- `/disconnect-after`: what `receive()` returns once the response is done.
- `/bad?case=C[&catch=1]`: an invalid message (see `BAD`); with `catch=1` the app catches the
  exception out of `send` and answers properly.
- `/early-start`, `/early-receive`: the app answers before the request body is complete.
- `/scope-ext`: `scope['extensions']` as JSON.

`quickstart` is the public server's README quickstart shape, served alone.

WebSocket routes: `/ws/accept?shape=S`, `/ws/deny?shape=S`, `/ws/refuse`, `/ws/scope`,
`/ws/bad?case=C[&catch=1]` (see `WS_BAD`).
"""

import asyncio
import hashlib
import http
import json
import os
from urllib.parse import parse_qs

HERE = os.path.abspath(__file__)
STATE: dict[str, object] = {}
#: Upper bound of every wait in the app, so a broken test never leaves a task behind for long.
LIMIT = 10.0

HEADERS = [
    (b'content-type', b'text/plain'),
    (b'x-one', b'1'),
    (b'set-cookie', b'a=1; Path=/'),
    (b'set-cookie', b'b=2; Path=/'),
    (b'x-order', b'first'),
    (b'x-order', b'second'),
    (b'x-two', b'2'),
]
WS_HEADERS = [(b'x-ws', b'yes'), (b'set-cookie', b'ws=1'), (b'set-cookie', b'ws=2')]
DENY_HEADERS = [(b'content-type', b'text/plain'), (b'x-denied', b'1'), (b'x-denied', b'2')]

SHAPES = (
    'list_of_tuples',
    'list_of_lists',
    'tuple_of_lists',
    'tuple_of_tuples',
    'generator',
    'bytearray',
    'memoryview',
    'mixed',
)


def shaped(headers, shape):
    """`headers` ((bytes, bytes) pairs) rebuilt in one of the shapes an app may use."""
    if shape == 'list_of_tuples':
        return [(name, value) for name, value in headers]
    if shape == 'list_of_lists':
        return [[name, value] for name, value in headers]
    if shape == 'tuple_of_lists':
        return tuple([name, value] for name, value in headers)
    if shape == 'tuple_of_tuples':
        return tuple((name, value) for name, value in headers)
    if shape == 'generator':
        return ((name, value) for name, value in headers)
    if shape == 'bytearray':
        return [(bytearray(name), bytearray(value)) for name, value in headers]
    if shape == 'memoryview':
        return [[memoryview(name), memoryview(value)] for name, value in headers]
    if shape == 'mixed':
        kinds = (bytes, bytearray, memoryview)
        out = []
        for index, (name, value) in enumerate(headers):
            pair = (kinds[index % 3](name), kinds[(index + 1) % 3](value))
            out.append(list(pair) if index % 2 else pair)
        return out
    raise ValueError(f'unknown shape {shape!r}')


def query(scope):
    return {key: values[0] for key, values in parse_qs(scope['query_string'].decode('latin-1')).items()}


async def send_message(send, message):
    # One indirection, so a traceback shows `await send(message)` and never the message's
    # keys: whatever names them in the log comes from the server's error message.
    await send(message)


async def text(send, body, status=200):
    await send({'type': 'http.response.start', 'status': status, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': body})


async def read_body(receive):
    body = b''
    while True:
        message = await receive()
        if message['type'] != 'http.request':
            raise RuntimeError(f'unexpected {message!r} while reading the body')
        body += message.get('body', b'')
        if not message.get('more_body', False):
            return body


# --- invalid messages --------------------------------------------------------------------------

START = 'http.response.start'
BAD = {
    'header_name_str': {'type': START, 'status': 200, 'headers': [('content-type', b'text/plain')]},
    'header_value_str': {'type': START, 'status': 200, 'headers': [(b'content-type', 'text/plain')]},
    'header_not_pair': {'type': START, 'status': 200, 'headers': [(b'content-type',)]},
    'headers_not_iterable': {'type': START, 'status': 200, 'headers': 42},
    'status_str': {'type': START, 'status': '200', 'headers': []},
    'status_words': {'type': START, 'status': 'two hundred', 'headers': []},
    'status_none': {'type': START, 'status': None, 'headers': []},
    'status_missing': {'type': START, 'headers': []},
    'status_float': {'type': START, 'status': 200.0, 'headers': []},
    'header_value_crlf': {'type': START, 'status': 200, 'headers': [(b'x-a', b'1\r\nx-injected: 1')]},
    'type_missing': {'status': 200, 'headers': []},
    'type_unknown': {'type': 'http.response.begin', 'status': 200, 'headers': []},
    # sent after a valid start message
    'body_str': {'type': 'http.response.body', 'body': 'not bytes'},
}


async def bad_route(scope, receive, send, q):
    case = q['case']
    message = BAD[case]
    if case == 'body_str':
        await send({'type': START, 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    if q.get('catch') != '1':
        await send_message(send, message)
        return
    try:
        await send_message(send, message)
    except Exception as exc:
        caught = type(exc).__name__.encode()
    else:
        caught = b'nothing'
    if case == 'body_str':
        await send({'type': 'http.response.body', 'body': b'recovered ' + caught})
    else:
        await text(send, b'recovered ' + caught)


WS_BAD = {
    'accept_header_str': {'type': 'websocket.accept', 'headers': [('x-a', b'1')]},
    'accept_subprotocol_bytes': {'type': 'websocket.accept', 'subprotocol': b'chat'},
    'deny_status_str': {'type': 'websocket.http.response.start', 'status': '401', 'headers': []},
    # sent after a valid accept
    'send_text_bytes': {'type': 'websocket.send', 'text': b'not str'},
}


async def ws_bad_route(scope, receive, send, q):
    case = q['case']
    message = WS_BAD[case]
    if case == 'send_text_bytes':
        await send({'type': 'websocket.accept'})
    if q.get('catch') != '1':
        await send_message(send, message)
        return
    try:
        await send_message(send, message)
    except Exception as exc:
        caught = type(exc).__name__
    else:
        caught = 'nothing'
    if case == 'deny_status_str':
        await send(
            {'type': 'websocket.http.response.start', 'status': 401, 'headers': [(b'content-type', b'text/plain')]}
        )
        await send({'type': 'websocket.http.response.body', 'body': f'recovered {caught}'.encode()})
        return
    if case != 'send_text_bytes':
        await send({'type': 'websocket.accept'})
    await send({'type': 'websocket.send', 'text': f'recovered {caught}'})
    await send({'type': 'websocket.close', 'code': 1000})


# --- routes ------------------------------------------------------------------------------------


async def http_app(scope, receive, send):
    path = scope['path']
    q = query(scope)
    tag = q.get('tag', '-')
    if path == '/hello':
        await send(
            {
                'type': 'http.response.start',
                'status': 200,
                'headers': [[b'content-type', b'text/plain']],
            }
        )
        await send({'type': 'http.response.body', 'body': b'Hello, world!'})
    elif path == '/shape/body':
        await send({'type': 'http.response.start', 'status': 200, 'headers': shaped(HEADERS, q['shape'])})
        await send({'type': 'http.response.body', 'body': b'shaped body'})
    elif path == '/shape/stream':
        await send({'type': 'http.response.start', 'status': 200, 'headers': shaped(HEADERS, q['shape'])})
        for part in (b'one;', b'two;', b'three;'):
            await send({'type': 'http.response.body', 'body': part, 'more_body': True})
        await send({'type': 'http.response.body', 'body': b'', 'more_body': False})
    elif path == '/shape/pathsend':
        await send({'type': 'http.response.start', 'status': 200, 'headers': shaped(HEADERS, q['shape'])})
        await send({'type': 'http.response.pathsend', 'path': HERE})
    elif path == '/dict-items':
        headers = {b'content-type': b'text/plain', b'x-dict': b'1'}
        await send({'type': 'http.response.start', 'status': 200, 'headers': headers.items()})
        await send({'type': 'http.response.body', 'body': b'from dict items'})
    elif path == '/body':
        kind = {'bytes': bytes, 'bytearray': bytearray, 'memoryview': memoryview}[q['kind']]
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        if q.get('stream') == '1':
            await send({'type': 'http.response.body', 'body': kind(b'first;'), 'more_body': True})
            await send({'type': 'http.response.body', 'body': kind(b'second'), 'more_body': False})
        else:
            await send({'type': 'http.response.body', 'body': kind(b'typed body')})
    elif path == '/status':
        status = {'int': 201, 'enum': http.HTTPStatus.CREATED, 'enum418': http.HTTPStatus.IM_A_TEAPOT}[q['kind']]
        await send({'type': 'http.response.start', 'status': status, 'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': b'status ' + q['kind'].encode()})
    elif path == '/minimal':
        await send({'type': 'http.response.start', 'status': 200})
        await send({'type': 'http.response.body', 'body': b'minimal'})
    elif path == '/no-body-key':
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'x-empty', b'yes')]})
        await send({'type': 'http.response.body'})
    elif path == '/extra-keys':
        await send(
            {
                'type': 'http.response.start',
                'status': 200,
                'headers': [(b'content-type', b'text/plain')],
                'trailers': False,
                'x-future-key': {'anything': 1},
            }
        )
        await send({'type': 'http.response.body', 'body': b'extra keys ignored', 'x-future-key': 'ignored'})
    elif path == '/te-header':
        # The spec: an app may send Transfer-Encoding, the server must ignore it.
        await send(
            {
                'type': 'http.response.start',
                'status': 200,
                'headers': [(b'content-type', b'text/plain'), (b'transfer-encoding', b'chunked')],
            }
        )
        if q.get('stream') == '1':
            await send({'type': 'http.response.body', 'body': b'te ', 'more_body': True})
            await send({'type': 'http.response.body', 'body': b'streamed'})
        else:
            await send({'type': 'http.response.body', 'body': b'te single'})
    elif path == '/after-complete':
        await text(send, b'complete')
        outcome = 'ok'
        try:
            if q['extra'] == 'body':
                await send_message(send, {'type': 'http.response.body', 'body': b'EXTRA', 'more_body': False})
            else:
                await send_message(send, {'type': START, 'status': 500, 'headers': []})
        except Exception as exc:
            outcome = f'{type(exc).__name__}: {exc}'
        STATE[tag] = outcome
    elif path == '/disconnect-after':
        await read_body(receive)
        await text(send, b'done')
        try:
            message = await asyncio.wait_for(receive(), LIMIT)
        except asyncio.TimeoutError:
            message = {'type': 'timeout'}
        STATE[tag] = message.get('type')
    elif path == '/state':
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'application/json')]})
        await send({'type': 'http.response.body', 'body': json.dumps({'state': STATE.get(tag)}).encode()})
    elif path == '/bad':
        await bad_route(scope, receive, send, q)
    elif path == '/early-start':
        # Answer first, read the body afterwards.
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': b'started\n', 'more_body': True})
        body = await read_body(receive)
        digest = hashlib.sha256(body).hexdigest()
        await send({'type': 'http.response.body', 'body': f'len={len(body)} sha={digest}\n'.encode()})
    elif path == '/early-receive':
        # Read the first chunk, answer, then read the rest.
        first = await receive()
        body = first.get('body', b'')
        more = first.get('more_body', False)
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        await send(
            {'type': 'http.response.body', 'body': f'first={len(body)} more={more}\n'.encode(), 'more_body': True}
        )
        if more:
            body += await read_body(receive)
        digest = hashlib.sha256(body).hexdigest()
        await send({'type': 'http.response.body', 'body': f'len={len(body)} sha={digest}\n'.encode()})
    elif path == '/scope-ext':
        extensions = scope.get('extensions')
        data = json.dumps({'extensions': None if extensions is None else sorted(extensions)})
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'application/json')]})
        await send({'type': 'http.response.body', 'body': data.encode()})
    else:
        await text(send, b'not found', 404)


async def ws_app(scope, receive, send):
    path = scope['path']
    q = query(scope)
    message = await receive()
    assert message['type'] == 'websocket.connect', message
    if path == '/ws/accept':
        subprotocol = 'chat' if 'chat' in scope.get('subprotocols', ()) else None
        await send({'type': 'websocket.accept', 'subprotocol': subprotocol, 'headers': shaped(WS_HEADERS, q['shape'])})
        incoming = await asyncio.wait_for(receive(), LIMIT)
        if incoming['type'] == 'websocket.receive':
            if incoming.get('text') is not None:
                await send({'type': 'websocket.send', 'text': 'echo ' + incoming['text']})
            else:
                await send({'type': 'websocket.send', 'bytes': b'echo ' + incoming['bytes']})
            await send({'type': 'websocket.close', 'code': 4001, 'reason': 'bye now'})
    elif path == '/ws/deny':
        if 'websocket.http.response' not in (scope.get('extensions') or {}):
            await send({'type': 'websocket.close'})
            return
        await send(
            {'type': 'websocket.http.response.start', 'status': 401, 'headers': shaped(DENY_HEADERS, q['shape'])}
        )
        await send({'type': 'websocket.http.response.body', 'body': b'denied: ', 'more_body': True})
        await send({'type': 'websocket.http.response.body', 'body': b'no token'})
    elif path == '/ws/bad':
        await ws_bad_route(scope, receive, send, q)
    elif path == '/ws/refuse':
        await send({'type': 'websocket.close'})
    elif path == '/ws/scope':
        await send({'type': 'websocket.accept'})
        extensions = scope.get('extensions')
        data = {'extensions': None if extensions is None else sorted(extensions)}
        await send({'type': 'websocket.send', 'text': json.dumps(data)})
        await send({'type': 'websocket.close', 'code': 1000})
    else:
        await send({'type': 'websocket.close', 'code': 4004})


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message['type'] == 'lifespan.startup':
            await send({'type': 'lifespan.startup.complete'})
        elif message['type'] == 'lifespan.shutdown':
            await send({'type': 'lifespan.shutdown.complete'})
            return


async def app(scope, receive, send):
    if scope['type'] == 'http':
        await http_app(scope, receive, send)
    elif scope['type'] == 'websocket':
        await ws_app(scope, receive, send)
    elif scope['type'] == 'lifespan':
        await lifespan(scope, receive, send)


async def quickstart(scope, receive, send):
    """The shape of the public server's README quickstart: no lifespan support (the assert fails on
    the lifespan scope), headers as a list of lists."""
    assert scope['type'] == 'http'

    await send(
        {
            'type': 'http.response.start',
            'status': 200,
            'headers': [
                [b'content-type', b'text/plain'],
            ],
        }
    )
    await send(
        {
            'type': 'http.response.body',
            'body': b'Hello, world!',
        }
    )
