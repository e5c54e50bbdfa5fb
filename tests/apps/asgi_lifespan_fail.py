"""An ASGI app whose lifespan startup fails with a message: the server must not start serving."""

MESSAGE = 'cannot reach the flux capacitor (code 8812)'


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        message = await receive()
        assert message['type'] == 'lifespan.startup'
        await send({'type': 'lifespan.startup.failed', 'message': MESSAGE})
        return
    await send({'type': 'http.response.start', 'status': 200, 'headers': []})
    await send({'type': 'http.response.body', 'body': b'should never be served'})
