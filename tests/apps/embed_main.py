"""An asyncio program serving an app with the embedded server (tests/e2e/test_lifecycle.py).

Usage: `python embed_main.py INTERFACE`. Serves `asgi_basic`-like apps defined here on a free
port, makes requests with httpx.AsyncClient, reloads, stops, and does it all twice (two
`asyncio.run` calls: two event loops in one process). Prints `EVENT ...` lines the test reads
and exits 0 when every check held.
"""

import asyncio
import os
import sys

import httpx

from granian.server.embed import Server

INTERFACE = sys.argv[1]
EVENTS = []


async def asgi_app(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            message = await receive()
            EVENTS.append(message['type'])
            if message['type'] == 'lifespan.startup':
                await send({'type': 'lifespan.startup.complete'})
            else:
                await send({'type': 'lifespan.shutdown.complete'})
                return
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': f'asgi {os.getpid()}'.encode()})


class RsgiApp:
    def __rsgi_init__(self, loop):
        EVENTS.append(f'rsgi_init running={loop.is_running()}')

    def __rsgi_del__(self, loop):
        EVENTS.append('rsgi_del')

    async def __rsgi__(self, scope, protocol):
        body = await protocol()
        protocol.response_str(200, [('content-type', 'text/plain')], f'rsgi {os.getpid()} {len(body)}')


async def main():
    app = RsgiApp() if INTERFACE == 'rsgi' else asgi_app
    server = Server(app, interface=INTERFACE, address='127.0.0.1', port=0)
    serving = asyncio.create_task(server.serve())
    await server.wait_ready()
    policy = os.sched_getscheduler(0) if hasattr(os, 'sched_getscheduler') else 0
    print(f'EVENT serving {server.url} policy={policy}', flush=True)
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        first = await client.post('/', content=b'x' * 10)
        server.reload()
        await server.wait_ready()
        second = await client.get('/')
    print(f'EVENT responses {first.status_code} {first.text!r} {second.status_code} {second.text!r}', flush=True)
    server.stop()
    await asyncio.wait_for(serving, 10)
    print(f'EVENT stopped lifecycle={EVENTS}', flush=True)
    EVENTS.clear()


async def cancelled():
    """Cancelling the task running serve() stops the server gracefully, then propagates."""
    app = RsgiApp() if INTERFACE == 'rsgi' else asgi_app
    server = Server(app, interface=INTERFACE, address='127.0.0.1', port=0)
    serving = asyncio.create_task(server.serve())
    await server.wait_ready()
    serving.cancel()
    try:
        await serving
    except asyncio.CancelledError:
        print(f'EVENT cancelled lifecycle={EVENTS}', flush=True)


asyncio.run(main())
asyncio.run(main())
asyncio.run(cancelled())
