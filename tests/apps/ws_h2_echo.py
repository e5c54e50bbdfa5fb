"""Echo apps for WebSockets over HTTP/2 (RFC 8441): ASGI `app`, RSGI `rsgi_app`.

Both echo every message; the ASGI one also reports its scope's `http_version` and `scheme` as
the first message it sends after accepting.
"""


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                await send({'type': 'lifespan.startup.complete'})
            else:
                await send({'type': 'lifespan.shutdown.complete'})
                return
    if scope['type'] == 'http':
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': b'plain http'})
        return
    assert (await receive())['type'] == 'websocket.connect'
    await send({'type': 'websocket.accept'})
    await send({'type': 'websocket.send', 'text': f'{scope["http_version"]} {scope["scheme"]}'})
    while True:
        message = await receive()
        if message['type'] == 'websocket.disconnect':
            return
        if message.get('text') is not None:
            await send({'type': 'websocket.send', 'text': message['text']})
        else:
            await send({'type': 'websocket.send', 'bytes': message['bytes']})


class RsgiEcho:
    async def __rsgi__(self, scope, protocol):
        if scope.proto != 'ws':
            protocol.response_str(200, [('content-type', 'text/plain')], 'plain http')
            return
        transport = await protocol.accept()
        await transport.send_str(f'{scope.http_version} {scope.scheme}')
        while True:
            message = await transport.receive()
            if message.kind == 0:
                return
            if message.kind == 1:
                await transport.send_bytes(message.data)
            else:
                await transport.send_str(message.data)


rsgi_app = RsgiEcho()
