"""What each interface tells its app about the client, for tests/e2e/test_proxy_headers.py.

Every request (and every WebSocket, as one text message after accepting) is answered with JSON:

- `client`: the client host as the interface reports it (`scope['client'][0]`, the host part of
  RSGI's `scope.client`, `REMOTE_ADDR`), `port` its port as an int (None when not reported);
- `raw`: the value exactly as the interface gives it (ASGI tuple as a list, RSGI string, WSGI
  `[REMOTE_ADDR, REMOTE_PORT]`);
- `scheme`: ASGI `scope['scheme']`, RSGI `scope.scheme`, WSGI `wsgi.url_scheme`;
- `mark`: the `granian.proxy_headers` mark (ASGI extension, WSGI environ key), None when absent
  (RSGI has none);
- `xff`: the `X-Forwarded-For` header as the app receives it (None when absent).
"""

from __future__ import annotations

import json


def _rsgi_host_port(client: str) -> tuple[str, int | None]:
    host, _, port = client.rpartition(':')
    return host.strip('[]'), int(port) if port.isdigit() else None


async def asgi(scope, receive, send):
    if scope['type'] == 'lifespan':
        while (await receive())['type'] != 'lifespan.shutdown':
            await send({'type': 'lifespan.startup.complete'})
        await send({'type': 'lifespan.shutdown.complete'})
        return
    client = scope.get('client')
    headers = {bytes(k).decode('latin-1'): bytes(v).decode('latin-1') for k, v in scope['headers']}
    mark = scope.get('extensions', {}).get('granian.proxy_headers')
    body = json.dumps(
        {
            'client': client[0] if client else None,
            'port': client[1] if client else None,
            'raw': list(client) if client else None,
            'scheme': scope['scheme'],
            'mark': {'peer': list(mark['peer']) if mark['peer'] else None} if mark else None,
            'xff': headers.get('x-forwarded-for'),
        }
    )
    if scope['type'] == 'websocket':
        await receive()  # websocket.connect
        await send({'type': 'websocket.accept'})
        await send({'type': 'websocket.send', 'text': body})
        await send({'type': 'websocket.close', 'code': 1000})
        return
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'application/json')]})
    await send({'type': 'http.response.body', 'body': body.encode()})


async def rsgi(scope, protocol):
    host, port = _rsgi_host_port(scope.client)
    body = json.dumps(
        {
            'client': host,
            'port': port,
            'raw': scope.client,
            'scheme': scope.scheme,
            'mark': None,
            'xff': scope.headers.get('x-forwarded-for'),
        }
    )
    if scope.proto == 'ws':
        transport = await protocol.accept()
        await transport.send_str(body)
        protocol.close(1000)
        return
    protocol.response_str(200, [('content-type', 'application/json')], body)


def wsgi(environ, start_response):
    mark = environ.get('granian.proxy_headers')
    port = environ.get('REMOTE_PORT')
    body = json.dumps(
        {
            'client': environ.get('REMOTE_ADDR'),
            'port': int(port) if port is not None else None,
            'raw': [environ.get('REMOTE_ADDR'), port],
            'scheme': environ['wsgi.url_scheme'],
            'mark': {'peer': list(mark['peer']) if mark['peer'] else None} if mark else None,
            'xff': environ.get('HTTP_X_FORWARDED_FOR'),
        }
    ).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
