"""One tiny app per interface for tests/e2e/test_response_headers.py: `/own` answers with the
app's own `server: app/1`, any other path a plain `ok` without a `server` header."""


async def asgi(scope, receive, send):
    if scope['type'] == 'lifespan':
        while (await receive())['type'] != 'lifespan.shutdown':
            await send({'type': 'lifespan.startup.complete'})
        await send({'type': 'lifespan.shutdown.complete'})
        return
    headers = [[b'content-type', b'text/plain']]
    if scope['path'] == '/own':
        headers.append([b'server', b'app/1'])
    await send({'type': 'http.response.start', 'status': 200, 'headers': headers})
    await send({'type': 'http.response.body', 'body': b'ok'})


async def rsgi(scope, protocol):
    headers = [('content-type', 'text/plain')]
    if scope.path == '/own':
        headers.append(('server', 'app/1'))
    protocol.response_str(200, headers, 'ok')


def wsgi(environ, start_response):
    headers = [('Content-Type', 'text/plain')]
    if environ['PATH_INFO'] == '/own':
        headers.append(('Server', 'app/1'))
    start_response('200 OK', headers)
    return [b'ok']
