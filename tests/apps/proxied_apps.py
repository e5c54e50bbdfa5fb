"""Apps wrapped with `granian.utils.proxies` (see tests/e2e/test_proxies.py).

Each answers any request with JSON `{"client": <address>, "scheme": <scheme>}` as the app sees
them after the wrapper; the tests run them from 127.0.0.1:

- `asgi_default` / `wsgi_default`: default `trusted_hosts` (127.0.0.1): the test client is trusted;
- `asgi_cidr`: trusts `127.0.0.0/8` and `10.0.0.0/8` (a list of networks);
- `asgi_untrusted` / `wsgi_untrusted`: trust only 10.1.2.3: the headers must be ignored;
- `asgi_all` / `wsgi_all`: trust `'*'`.

ASGI WebSockets: accept, send the same JSON as text, close.
"""

from __future__ import annotations

import json

from granian.utils.proxies import wrap_asgi_with_proxy_headers, wrap_wsgi_with_proxy_headers


async def _asgi(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            message = await receive()
            kind = message['type'].replace('lifespan.', '')
            await send({'type': f'lifespan.{kind}.complete'})
            if kind == 'shutdown':
                return
    client = scope.get('client')
    body = json.dumps({'client': client[0] if client else None, 'scheme': scope['scheme']})
    if scope['type'] == 'websocket':
        await receive()  # websocket.connect
        await send({'type': 'websocket.accept'})
        await send({'type': 'websocket.send', 'text': body})
        await send({'type': 'websocket.close', 'code': 1000})
        return
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'application/json')]})
    await send({'type': 'http.response.body', 'body': body.encode()})


def _wsgi(environ, start_response):
    body = json.dumps({'client': environ.get('REMOTE_ADDR'), 'scheme': environ['wsgi.url_scheme']}).encode()
    start_response('200 OK', [('content-type', 'application/json'), ('content-length', str(len(body)))])
    return [body]


asgi_default = wrap_asgi_with_proxy_headers(_asgi)
asgi_cidr = wrap_asgi_with_proxy_headers(_asgi, trusted_hosts=['127.0.0.0/8', '10.0.0.0/8'])
asgi_untrusted = wrap_asgi_with_proxy_headers(_asgi, trusted_hosts='10.1.2.3')
asgi_all = wrap_asgi_with_proxy_headers(_asgi, trusted_hosts='*')
wsgi_default = wrap_wsgi_with_proxy_headers(_wsgi)
wsgi_untrusted = wrap_wsgi_with_proxy_headers(_wsgi, trusted_hosts=['10.1.2.3'])
wsgi_all = wrap_wsgi_with_proxy_headers(_wsgi, trusted_hosts='*')
