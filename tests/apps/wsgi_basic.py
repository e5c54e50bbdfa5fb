"""WSGI test application: one route per behaviour under test (see tests/e2e/test_wsgi.py)."""

import hashlib
import io
import json
import sys
import threading
import time
from urllib.parse import parse_qs

#: `id` -> how the response iterable ended ('closed'), set by `Tracked.close`.
CLOSED: dict[str, str] = {}
#: `read()` calls made on the last `CountingFile`.
FILE_READS: list[int] = [0]


def _json(start_response, data, status='200 OK'):
    body = json.dumps(data).encode()
    start_response(status, [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]


def _text(start_response, text, status='200 OK', headers=()):
    body = text.encode() if isinstance(text, str) else text
    start_response(status, [('Content-Type', 'text/plain'), *headers])
    return [body]


def _query(environ):
    return {k: v[0] for k, v in parse_qs(environ['QUERY_STRING']).items()}


def _thread_comm():
    try:
        with open(f'/proc/self/task/{threading.get_native_id()}/comm') as f:
            return f.read().strip()
    except OSError:
        return ''


class Tracked:
    """A response iterable that records when its `close()` is called."""

    def __init__(self, key, chunks, delay=0.0, fail_at=None):
        self.key = key
        self.chunks = chunks
        self.delay = delay
        self.fail_at = fail_at
        CLOSED.pop(key, None)

    def __iter__(self):
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError('iteration failed')
            if i and self.delay:
                time.sleep(self.delay)
            yield chunk

    def close(self):
        CLOSED[self.key] = 'closed'


class CountingFile:
    """A real file seen through a wrapper that counts `read()` calls."""

    def __init__(self, path):
        self.f = open(path, 'rb')  # noqa: SIM115 - closed by close()
        FILE_READS[0] = 0

    def read(self, n=-1):
        FILE_READS[0] += 1
        return self.f.read(n)

    def fileno(self):
        return self.f.fileno()

    def tell(self):
        return self.f.tell()

    def seek(self, pos):
        return self.f.seek(pos)

    def close(self):
        self.f.close()


def environ_view(environ, start_response):
    out = {}
    for key, value in environ.items():
        if isinstance(value, (str, bool, int)) or key == 'wsgi.version':
            out[key] = value
        else:
            out[key] = f'<{type(value).__name__}>'
    out['_types'] = {k: type(v).__name__ for k, v in environ.items() if k.isupper()}
    methods = ('read', 'readline', 'readlines', '__iter__')
    out['_input_methods'] = [m for m in methods if hasattr(environ['wsgi.input'], m)]
    out['_errors_methods'] = [m for m in ('write', 'writelines', 'flush') if hasattr(environ['wsgi.errors'], m)]
    return _json(start_response, out)


def app(environ, start_response):  # noqa: C901 - a route table
    path = environ['PATH_INFO']
    q = _query(environ)
    inp = environ['wsgi.input']

    if path in ('', '/', '/environ') or path.startswith('/environ/') or 'env' in q:
        return environ_view(environ, start_response)
    if path == '/hello':
        return _text(start_response, 'Hello, World!', headers=[('Content-Length', '13')])

    # --- request body --------------------------------------------------------------------
    if path == '/echo':
        return _text(start_response, inp.read(), headers=[('X-Content-Length', environ.get('CONTENT_LENGTH', '-'))])
    if path == '/read-sized':
        size = int(q.get('size', '1000'))
        pieces = []
        while True:
            piece = inp.read(size)
            if not piece:
                break
            pieces.append(len(piece))
        return _json(start_response, {'sizes': pieces})
    if path == '/readline':
        return _json(
            start_response,
            {
                'first': inp.readline().decode(),
                'limited': inp.readline(3).decode(),
                'rest': [line.decode() for line in inp.readlines()],
                'after': inp.read().decode(),
            },
        )
    if path == '/iter-lines':
        return _json(start_response, {'lines': [line.decode() for line in inp]})
    if path == '/digest':
        h = hashlib.sha256()
        size = 0
        while chunk := inp.read(65536):
            h.update(chunk)
            size += len(chunk)
        return _json(start_response, {'size': size, 'sha256': h.hexdigest()})
    if path == '/no-read':
        return _text(start_response, 'did not read')

    # --- response shapes -------------------------------------------------------------------
    if path == '/stream':
        n, delay = int(q.get('n', '3')), float(q.get('delay', '0'))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Tracked(q.get('id', 'stream'), [f'chunk{i};'.encode() for i in range(n)], delay)
    if path == '/endless':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Tracked(q['id'], iter(lambda: b'x' * 1024, None), 0.01)
    if path == '/write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'hello ')
        write(b'world')
        return Tracked('write', [b'!'])
    if path == '/list':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'a', b'', b'bc', b'def']
    if path == '/big-list':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [bytes([i]) * 65536 for i in range(8)]
    if path == '/big-one':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [b'1' * (1024 * 1024)]
    if path == '/empty-iter':
        start_response('204 No Content', [])
        return Tracked('empty', [])
    if path == '/truncate':
        start_response('200 OK', [('Content-Length', '5')])
        return Tracked('truncate', [b'0123', b'456789'])
    if path == '/lazy-start':

        def gen():
            start_response('200 OK', [('X-Lazy', 'yes')])
            yield b'late'

        return gen()
    if path == '/reason':
        return _text(start_response, 'custom', status='299 Custom Thing')
    if path == '/conn-close':
        return _text(start_response, 'bye', headers=[('Connection', 'close'), ('Content-Length', '3')])
    if path == '/headers':
        return _text(
            start_response,
            'headers',
            headers=[
                ('Set-Cookie', 'a=1'),
                ('Set-Cookie', 'b=2'),
                ('X-Latin', 'caf\u00e9'),
                ('Transfer-Encoding', 'chunked'),
                ('Keep-Alive', 'timeout=5'),
            ],
        )

    # --- files -----------------------------------------------------------------------------
    if path == '/file':
        f = CountingFile(q['path'])
        if 'offset' in q:
            f.seek(int(q['offset']))
        headers = [('Content-Type', 'application/octet-stream')]
        if 'length' in q:
            headers.append(('Content-Length', q['length']))
        start_response('200 OK', headers)
        return environ['wsgi.file_wrapper'](f, 4096)
    if path == '/file-bytesio':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](io.BytesIO(b'in memory ' * 1000), 1000)
    if path == '/file-reads':
        return _json(start_response, {'reads': FILE_READS[0]})

    # --- errors ----------------------------------------------------------------------------
    if path == '/raise':
        raise RuntimeError('boom before start_response')
    if path == '/raise-after-start':
        start_response('200 OK', [])
        raise RuntimeError('boom after start_response')
    if path == '/raise-in-iter':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Tracked('raise-in-iter', [b'first', b'second'], fail_at=1)
    if path == '/raise-first-chunk':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Tracked('raise-first-chunk', [b'never'], fail_at=0)
    if path == '/exc-info':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        try:
            raise ValueError('handled')
        except ValueError:
            start_response('503 Service Unavailable', [('Content-Type', 'text/plain')], sys.exc_info())
        return [b'replaced']
    if path == '/exc-info-late':

        def gen():
            start_response('200 OK', [('Content-Type', 'text/plain')])
            yield b'sent'
            try:
                raise ValueError('too late')
            except ValueError:
                start_response('500 Internal Server Error', [], sys.exc_info())
            yield b'never'

        return gen()
    if path == '/start-twice':
        start_response('200 OK', [])
        start_response('200 OK', [])
        return [b'x']
    if path == '/no-start':
        return [b'no start_response']
    if path == '/bad-header':
        start_response('200 OK', [('X-Bad', 'a\r\nInjected: yes')])
        return [b'x']
    if path == '/bad-header-type':
        start_response('200 OK', [(b'X-Bytes', b'v')])
        return [b'x']
    if path == '/bad-status':
        start_response('OK', [])
        return [b'x']
    if path == '/str-body':
        start_response('200 OK', [])
        return ['not bytes']
    if path == '/errors':
        environ['wsgi.errors'].write('written to wsgi.errors\n')
        environ['wsgi.errors'].writelines(['two ', 'parts\n'])
        environ['wsgi.errors'].write('unterminated')
        environ['wsgi.errors'].flush()
        return _text(start_response, 'logged')

    # --- threads ---------------------------------------------------------------------------
    if path == '/thread':
        return _json(start_response, {'name': threading.current_thread().name, 'comm': _thread_comm()})
    if path == '/sleep':
        time.sleep(float(q.get('t', '0.5')))
        return _json(start_response, {'comm': _thread_comm()})
    if path == '/closed':
        return _json(start_response, {'state': CLOSED.get(q['id'])})

    return _text(start_response, 'Not Found', status='404 Not Found')
