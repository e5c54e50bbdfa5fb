"""ASGI WebSocket echo app for benchmarks/ws_echo.py.

websocket: accept, then send back every text or bytes message until the client disconnects.
http: 200 'ok' (readiness probes). lifespan: answered.
"""

OK_HEADERS = [(b'content-type', b'text/plain'), (b'content-length', b'2')]


async def app(scope, receive, send):
    kind = scope['type']
    if kind == 'websocket':
        msg = await receive()
        if msg['type'] != 'websocket.connect':
            return
        await send({'type': 'websocket.accept'})
        while True:
            msg = await receive()
            if msg['type'] == 'websocket.disconnect':
                return
            text = msg.get('text')
            if text is not None:
                await send({'type': 'websocket.send', 'text': text})
            else:
                await send({'type': 'websocket.send', 'bytes': msg.get('bytes') or b''})
    elif kind == 'http':
        more = True
        while more:
            more = (await receive()).get('more_body', False)
        await send({'type': 'http.response.start', 'status': 200, 'headers': OK_HEADERS})
        await send({'type': 'http.response.body', 'body': b'ok'})
    elif kind == 'lifespan':
        while True:
            msg = await receive()
            if msg['type'] == 'lifespan.startup':
                await send({'type': 'lifespan.startup.complete'})
            elif msg['type'] == 'lifespan.shutdown':
                await send({'type': 'lifespan.shutdown.complete'})
                return
