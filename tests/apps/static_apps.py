"""Apps behind `--static-path-*` (tests/e2e/test_static_files.py): each answers `app:<path>`,
so a test sees whether the app or the static files answered."""


async def asgi_app(scope, receive, send):
    if scope['type'] == 'lifespan':
        while (await receive())['type'] != 'lifespan.shutdown':
            await send({'type': 'lifespan.startup.complete'})
        await send({'type': 'lifespan.shutdown.complete'})
        return
    body = f'app:{scope["path"]}'.encode()
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': body})


async def rsgi_app(scope, protocol):
    protocol.response_str(200, [('content-type', 'text/plain')], f'app:{scope.path}')


def wsgi_app(environ, start_response):
    path = environ['PATH_INFO'].encode('latin-1').decode('utf-8', 'replace')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [f'app:{path}'.encode()]
