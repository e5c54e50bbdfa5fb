"""RSGI WebSocket test app (see tests/e2e/test_websocket.py): one route per behaviour.

WebSocket routes (`scope.proto == 'ws'`):

- `/echo[?key=K]`: accept, echo text as text and bytes as bytes; when the client closes
  (message kind 0) it calls `receive()` once more and stores, under `K`, the close message's
  kind and what that second call did (read it with HTTP `GET /last?key=K`).
- `/scope`: accept, send one text message: JSON of the scope; then behave like `/echo`.
- `/close-before[?status=N]`: `protocol.close(N)` (or `protocol.close()`) without accepting.
- `/no-accept`: return without accepting or closing.
- `/close-after`: accept, send text 'closing', then `protocol.close()`.
- `/accept-return`: accept, send text 'hi', then return without calling close.
- anything else: `protocol.close(404)`.

HTTP routes (`scope.proto == 'http'`):

- `/last?key=K`: 200 with the JSON stored for `K`, 404 while there is none.
- anything else: 200 `http <method> <path>`.

The records live in this worker's memory: run the server with one worker.
"""

import json
from urllib.parse import parse_qs

TEXT = [('content-type', 'text/plain; charset=utf-8')]

#: key -> what a WebSocket route recorded.
RECORDS: dict[str, object] = {}


def query(scope):
    return {key: values[0] for key, values in parse_qs(scope.query_string).items()}


def describe_scope(scope):
    names = ('proto', 'rsgi_version', 'http_version', 'method', 'path', 'query_string', 'scheme', 'server', 'client')
    info = {name: getattr(scope, name) for name in names}
    info['types'] = {name: type(getattr(scope, name)).__name__ for name in names}
    info['headers'] = [[name, value] for name, value in scope.headers.items()]
    return info


async def echo_loop(transport, key=None):
    while True:
        message = await transport.receive()
        if message.kind == 1:
            await transport.send_bytes(message.data)
        elif message.kind == 2:
            await transport.send_str(message.data)
        else:
            record = {'kind': message.kind}
            try:
                again = await transport.receive()
                record['second_receive'] = f'message kind {again.kind}'
            except Exception as exc:
                record['second_receive'] = type(exc).__name__
            if key:
                RECORDS[key] = record
            return


async def websocket(scope, protocol):
    path = scope.path
    params = query(scope)
    if path == '/echo':
        transport = await protocol.accept()
        await echo_loop(transport, params.get('key'))
    elif path == '/scope':
        transport = await protocol.accept()
        await transport.send_str(json.dumps(describe_scope(scope)))
        await echo_loop(transport, params.get('key'))
    elif path == '/close-before':
        if 'status' in params:
            protocol.close(int(params['status']))
        else:
            protocol.close()
    elif path == '/no-accept':
        return
    elif path == '/close-after':
        transport = await protocol.accept()
        await transport.send_str('closing')
        protocol.close()
    elif path == '/accept-return':
        transport = await protocol.accept()
        await transport.send_str('hi')
    else:
        protocol.close(404)


async def app(scope, protocol):
    if scope.proto == 'ws':
        await websocket(scope, protocol)
        return
    if scope.path == '/last':
        key = query(scope).get('key', '')
        if key in RECORDS:
            protocol.response_str(200, [('content-type', 'application/json')], json.dumps(RECORDS[key]))
        else:
            protocol.response_str(404, TEXT, 'nothing recorded')
        return
    protocol.response_str(200, TEXT, f'http {scope.method} {scope.path}')
