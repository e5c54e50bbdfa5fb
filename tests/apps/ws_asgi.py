"""ASGI 3 WebSocket test app (see tests/e2e/test_websocket.py): one route per behaviour.

WebSocket routes (scope type 'websocket'):

- `/echo[?key=K]`: accept, echo every text/bytes message as it came; when the client leaves,
  the `websocket.disconnect` message is stored under `K` (read it with HTTP `GET /last?key=K`).
- `/scope`: take the first message, accept, send one text message: JSON of the scope plus that
  first message; then behave like `/echo`.
- `/accept-extras`: accept with subprotocol 'chat' (when offered) and header `x-extra: 1`, then echo.
- `/close-after-accept`: accept, then close with code 4001, reason 'bye'.
- `/close-before-accept`: close without accepting (the server answers 403).
- `/deny`: the denial extension: HTTP 401, `x-denied: yes`, body `nope`.
- `/raise-after-accept?token=T` / `/raise-before-accept?token=T`: raise `RuntimeError('ws-boom-...-T')`.
- anything else: close before accept.

HTTP routes (scope type 'http'; also what a WebSocket path answers when upgrades are off):

- `/last?key=K`: 200 with the JSON stored for `K`, 404 while there is none.
- anything else: 200 `http GET <path>` (text).

The records live in this worker's memory: run the server with one worker.
"""

import asyncio
import json
from urllib.parse import parse_qs

#: key -> what a WebSocket route recorded (the disconnect message of `/echo?key=K`).
RECORDS: dict[str, object] = {}


def query(scope):
    return {key: values[0] for key, values in parse_qs(scope['query_string'].decode('latin-1')).items()}


def describe_scope(scope, first):
    return {
        'keys': sorted(scope),
        'type': scope['type'],
        'asgi': scope['asgi'],
        'http_version': scope.get('http_version'),
        'scheme': scope['scheme'],
        'path': scope['path'],
        'raw_path': scope['raw_path'].decode('latin-1') if isinstance(scope.get('raw_path'), bytes) else None,
        'query_string': scope['query_string'].decode('latin-1'),
        'query_string_type': type(scope['query_string']).__name__,
        'root_path': scope.get('root_path'),
        'headers': [[name.decode('latin-1'), value.decode('latin-1')] for name, value in scope['headers']],
        'header_types': sorted({f'{type(name).__name__},{type(value).__name__}' for name, value in scope['headers']}),
        'subprotocols': list(scope.get('subprotocols', ())),
        'subprotocols_types': sorted({type(item).__name__ for item in scope.get('subprotocols', ())}),
        'client': list(scope['client']) if scope.get('client') else None,
        'server': list(scope['server']) if scope.get('server') else None,
        'extensions': sorted(scope.get('extensions') or {}),
        'first_message': first,
    }


async def echo_loop(scope, receive, send, key=None):
    """Echo until the client leaves; store the disconnect message under `key`."""
    while True:
        message = await receive()
        if message['type'] == 'websocket.receive':
            if message.get('text') is not None:
                await send({'type': 'websocket.send', 'text': message['text']})
            else:
                await send({'type': 'websocket.send', 'bytes': message.get('bytes') or b''})
        elif message['type'] == 'websocket.disconnect':
            if key:
                RECORDS[key] = {name: value for name, value in message.items() if isinstance(value, (str, int))}
            return
        else:
            if key:
                RECORDS[key] = {'unexpected': message['type']}
            return


async def websocket(scope, receive, send):
    path = scope['path']
    params = query(scope)
    first = await receive()
    if first['type'] != 'websocket.connect':
        return
    if path == '/deny':
        await send(
            {
                'type': 'websocket.http.response.start',
                'status': 401,
                'headers': [(b'content-type', b'text/plain'), (b'x-denied', b'yes')],
            }
        )
        await send({'type': 'websocket.http.response.body', 'body': b'nope'})
    elif path == '/echo':
        await send({'type': 'websocket.accept'})
        await echo_loop(scope, receive, send, params.get('key'))
    elif path == '/scope':
        await send({'type': 'websocket.accept'})
        await send({'type': 'websocket.send', 'text': json.dumps(describe_scope(scope, first))})
        await echo_loop(scope, receive, send, params.get('key'))
    elif path == '/accept-extras':
        chosen = 'chat' if 'chat' in scope.get('subprotocols', ()) else None
        await send({'type': 'websocket.accept', 'subprotocol': chosen, 'headers': [(b'x-extra', b'1')]})
        await echo_loop(scope, receive, send, params.get('key'))
    elif path == '/slow-echo':
        # Busy for `pause` seconds before it starts receiving: the client's messages (and its
        # pongs) wait behind the ones queued for the app.
        await send({'type': 'websocket.accept'})
        await asyncio.sleep(float(params.get('pause', '1.5')))
        await echo_loop(scope, receive, send, params.get('key'))
    elif path == '/close-after-accept':
        await send({'type': 'websocket.accept'})
        await send({'type': 'websocket.close', 'code': 4001, 'reason': 'bye'})
    elif path == '/raise-after-accept':
        await send({'type': 'websocket.accept'})
        raise RuntimeError(f'ws-boom-after-accept-{params.get("token", "")}')
    elif path == '/raise-before-accept':
        raise RuntimeError(f'ws-boom-before-accept-{params.get("token", "")}')
    else:
        await send({'type': 'websocket.close'})


async def http(scope, receive, send):
    path = scope['path']
    if path == '/last':
        key = query(scope).get('key', '')
        if key in RECORDS:
            status, body, ctype = 200, json.dumps(RECORDS[key]).encode(), b'application/json'
        else:
            status, body, ctype = 404, b'nothing recorded', b'text/plain'
    else:
        status, body, ctype = 200, f'http {scope["method"]} {path}'.encode(), b'text/plain'
    # Drain the request body (none expected) before answering.
    more = True
    while more:
        message = await receive()
        if message['type'] != 'http.request':
            return
        more = message.get('more_body', False)
    await send(
        {
            'type': 'http.response.start',
            'status': status,
            'headers': [(b'content-type', ctype), (b'content-length', str(len(body)).encode())],
        }
    )
    await send({'type': 'http.response.body', 'body': body})


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message['type'] == 'lifespan.startup':
            await send({'type': 'lifespan.startup.complete'})
        elif message['type'] == 'lifespan.shutdown':
            await send({'type': 'lifespan.shutdown.complete'})
            return


async def app(scope, receive, send):
    if scope['type'] == 'websocket':
        await websocket(scope, receive, send)
    elif scope['type'] == 'http':
        await http(scope, receive, send)
    elif scope['type'] == 'lifespan':
        await lifespan(scope, receive, send)
