"""A minimal RSGI application: the one `make serve` runs.

    .venv/bin/granian --interface rsgi examples.app:app

Routes:
    GET  /        plain-text greeting
    GET  /info    JSON with what the server told the app about the request
    POST /echo    the request body, sent back unchanged
    anything else 404
"""

import json

TEXT = [('content-type', 'text/plain; charset=utf-8')]
JSON = [('content-type', 'application/json')]
OCTET = [('content-type', 'application/octet-stream')]


async def app(scope, protocol):
    """RSGI entry point: called once per HTTP request with a scope and a protocol object."""
    if scope.proto != 'http':
        # This example speaks plain HTTP only; refuse anything else (e.g. a WebSocket upgrade).
        protocol.close(403)
        return

    if scope.path == '/':
        protocol.response_str(200, TEXT, 'Hello, World!\n')
    elif scope.path == '/info':
        info = {
            'method': scope.method,
            'path': scope.path,
            'query_string': scope.query_string,
            'http_version': scope.http_version,
            'scheme': scope.scheme,
            'client': scope.client,
            'server': scope.server,
            'user_agent': scope.headers.get('user-agent'),
        }
        protocol.response_str(200, JSON, json.dumps(info, indent=2) + '\n')
    elif scope.path == '/echo' and scope.method == 'POST':
        body = await protocol()
        protocol.response_bytes(200, OCTET, body)
    else:
        protocol.response_str(404, TEXT, 'Not Found\n')
