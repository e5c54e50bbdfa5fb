"""An ASGI app without lifespan support: it raises on any scope type but `http`."""


async def app(scope, receive, send):
    if scope['type'] != 'http':
        raise NotImplementedError(f'unsupported scope type {scope["type"]!r}')
    body = b'no-lifespan ok; state key present' if 'state' in scope else b'no-lifespan ok'
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': body})
