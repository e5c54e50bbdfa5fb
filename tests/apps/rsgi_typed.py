"""An RSGI app written against the names `granian.rsgi` exports (as public Granian 2.8 apps are).

It imports the RSGI type names, uses them in annotations and checks the objects it is given
with `isinstance`; the response reports each check (see tests/e2e/test_api_surface_e2e.py).

- HTTP, any path: 200 with JSON `{check: bool}` when every check holds, else 500.
- WebSocket, any path: accept, send the JSON of the checks, then answer each text message
  with `echo:<text>` and each binary one with the same bytes, until the client closes.
"""

from __future__ import annotations

import json

from granian.rsgi import (
    Headers,
    HTTPProtocol,
    ProtocolClosed,
    ProtocolError,
    Scope,
    WebsocketMessage,
    WebsocketMessageType,
    WebsocketProtocol,
)

JSON = [('content-type', 'application/json')]


def scope_checks(scope: Scope) -> dict[str, bool]:
    headers: Headers = scope.headers
    return {
        'scope': isinstance(scope, Scope),
        'headers': isinstance(headers, Headers),
        'errors': issubclass(ProtocolClosed, Exception) and issubclass(ProtocolError, Exception),
    }


async def http(scope: Scope, protocol: HTTPProtocol) -> None:
    checks = scope_checks(scope)
    checks['protocol'] = isinstance(protocol, HTTPProtocol)
    body = await protocol()
    checks['body'] = isinstance(body, bytes)
    protocol.response_str(200 if all(checks.values()) else 500, JSON, json.dumps(checks))


async def websocket(scope: Scope, protocol: WebsocketProtocol) -> None:
    checks = scope_checks(scope)
    checks['protocol'] = isinstance(protocol, WebsocketProtocol)
    transport = await protocol.accept()
    await transport.send_str(json.dumps(checks))
    while True:
        message: WebsocketMessage = await transport.receive()
        if not isinstance(message, WebsocketMessage) or message.kind == WebsocketMessageType.close:
            break
        if message.kind == WebsocketMessageType.string:
            await transport.send_str(f'echo:{message.data}')
        elif message.kind == WebsocketMessageType.bytes:
            await transport.send_bytes(message.data)
    protocol.close()


async def app(scope: Scope, protocol: HTTPProtocol | WebsocketProtocol) -> None:
    if scope.proto == 'http':
        await http(scope, protocol)
    elif scope.proto == 'ws':
        await websocket(scope, protocol)
