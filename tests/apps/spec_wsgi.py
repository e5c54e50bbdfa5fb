"""WSGI (PEP 3333) app for tests/e2e/test_spec_*.py, routed by path.

- `/hello`: the PEP 3333 hello world (a status string, a list of header tuples, a list body).
- `/shape/iterable|generator|write?shape=tuples|lists`: `HEADERS` as a list of tuples or of
  lists, the body as a list, as a generator, or through the `write()` callable.
- `/environ?key=K`: `environ[K]` as JSON.
- `/exc-before`: `start_response` again with `exc_info` before anything was sent.
- `/exc-after?tag=T`: the same after the first chunk went out (must re-raise).
- `/twice?tag=T`: `start_response` twice without `exc_info` (must raise).
- `/closing?tag=T&mode=ok|raise|raise_first|endless`: an iterable whose `close()` records
  itself in `STATE[T]`.
- `/state?tag=T`: `STATE[T]` as JSON.

Run with one worker (state lives in the module).
"""

import json
import sys
import threading
import time
from urllib.parse import parse_qs

STATE: dict[str, object] = {}
LOCK = threading.Lock()
#: Upper bound of the endless body, so a broken test never leaves a thread busy for long.
LIMIT = 10.0

HEADERS = [
    ('Content-Type', 'text/plain'),
    ('X-One', '1'),
    ('Set-Cookie', 'a=1; Path=/'),
    ('Set-Cookie', 'b=2; Path=/'),
    ('X-Order', 'first'),
    ('X-Order', 'second'),
    ('X-Two', '2'),
]


def record(tag, key, value):
    with LOCK:
        STATE.setdefault(tag, {})[key] = value


def shaped(headers, shape):
    if shape == 'tuples':
        return [(name, value) for name, value in headers]
    if shape == 'lists':
        return [[name, value] for name, value in headers]
    raise ValueError(f'unknown shape {shape!r}')


def hello(environ, start_response):
    status = '200 OK'
    response_headers = [('Content-type', 'text/plain')]
    start_response(status, response_headers)
    return [b'Hello, world!\n']


class Closing:
    """A response iterable with `close()`, which PEP 3333 says the server must always call."""

    def __init__(self, tag, mode):
        self.tag = tag
        self.mode = mode

    def __iter__(self):
        if self.mode == 'raise_first':
            raise RuntimeError('failed before the first chunk')
        yield b'chunk-1;'
        if self.mode == 'raise':
            raise RuntimeError('failed after the first chunk')
        if self.mode == 'endless':
            deadline = time.monotonic() + LIMIT
            while time.monotonic() < deadline:
                yield b'x' * 65536
                time.sleep(0.01)
            return
        yield b'chunk-2'

    def close(self):
        record(self.tag, 'closed', True)


def exc_after(tag, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])

    def body():
        yield b'part-1;'
        try:
            raise ValueError('late failure')
        except ValueError as original:
            try:
                start_response('500 Internal Server Error', [('Content-Type', 'text/plain')], sys.exc_info())
            except BaseException as again:
                record(tag, 'raised', type(again).__name__)
                record(tag, 'same', again is original)
            else:
                record(tag, 'raised', None)
        yield b'part-2'

    return body()


def app(environ, start_response):
    path = environ['PATH_INFO']
    q = {key: values[0] for key, values in parse_qs(environ.get('QUERY_STRING', '')).items()}
    tag = q.get('tag', '-')
    if path == '/hello':
        return hello(environ, start_response)
    if path.startswith('/shape/'):
        kind = path[len('/shape/') :]
        headers = shaped(HEADERS, q.get('shape', 'tuples'))
        if kind == 'iterable':
            start_response('200 OK', headers)
            return [b'iterable ', b'body']
        if kind == 'generator':
            start_response('200 OK', headers)
            return (part for part in (b'generated ', b'body'))
        if kind == 'write':
            write = start_response('200 OK', headers)
            write(b'written ')
            write(b'then ')
            return [b'returned']
    if path == '/environ':
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps({'value': environ.get(q['key'])}).encode()]
    if path == '/exc-before':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-First', '1')])
        try:
            raise ValueError('early failure')
        except ValueError:
            start_response(
                '500 Internal Server Error', [('Content-Type', 'text/plain'), ('X-Second', '1')], sys.exc_info()
            )
        return [b'replaced']
    if path == '/exc-after':
        return exc_after(tag, start_response)
    if path == '/twice':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        try:
            start_response('201 Created', [('Content-Type', 'text/plain')])
        except Exception as exc:
            record(tag, 'raised', type(exc).__name__)
        else:
            record(tag, 'raised', None)
        return [b'first status kept']
    if path == '/closing':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Closing(tag, q['mode'])
    if path == '/state':
        start_response('200 OK', [('Content-Type', 'application/json')])
        with LOCK:
            data = json.dumps({'state': STATE.get(tag)})
        return [data.encode()]
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'not found']
