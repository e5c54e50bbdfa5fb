"""A slow app for benchmarks/overload.py: every request waits 50 ms (`asyncio.sleep`), then 200 'ok'.

`asgi` and `rsgi` are the same app for the two interfaces. The wait is not CPU work: many
requests wait at once, which is what a request-concurrency limit is about.
"""

import asyncio

DELAY = 0.05
BODY = b'ok'
ASGI_HEADERS = [(b'content-type', b'text/plain'), (b'content-length', b'2')]
RSGI_HEADERS = [('content-type', 'text/plain')]


async def asgi(scope, receive, send):
    if scope['type'] == 'lifespan':
        while (await receive())['type'] != 'lifespan.shutdown':
            await send({'type': 'lifespan.startup.complete'})
        await send({'type': 'lifespan.shutdown.complete'})
        return
    await asyncio.sleep(DELAY)
    await send({'type': 'http.response.start', 'status': 200, 'headers': ASGI_HEADERS})
    await send({'type': 'http.response.body', 'body': BODY})


async def rsgi(scope, protocol):
    await asyncio.sleep(DELAY)
    protocol.response_bytes(200, RSGI_HEADERS, BODY)
