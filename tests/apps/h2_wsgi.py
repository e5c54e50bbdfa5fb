"""WSGI app for the HTTP/2 and TLS tests (tests/e2e/test_wsgi_h2.py); the routes mirror
`h2_apps.py`:

- `/info`: JSON with SERVER_PROTOCOL, wsgi.url_scheme and HTTP_HOST.
- `/sleep?secs=S`: answers after S seconds.
- `/digest`: reads `wsgi.input` in 64 KiB pieces, answers length and SHA-256.
- `/produce?tag=T&total=N&chunk=C`: yields N bytes in C-byte chunks; `PROGRESS[T]` counts the
  chunks the server took, and notes whether the server closed the iterable early.
- `/stream_until_gone?tag=T`: yields small chunks until the server closes the iterable
  (`EVENTS[T]` = 'closed') or 30 s passed ('timeout').
- `/state?tag=T`: JSON of `PROGRESS[T]` and `EVENTS[T]`.

State lives in module globals: the tests run this app with one worker.
"""

import hashlib
import json
import time
from urllib.parse import parse_qs

PROGRESS: dict[str, dict] = {}
EVENTS: dict[str, str] = {}
LIMIT = 30.0


def respond(start_response, body, content_type='text/plain'):
    data = body.encode() if isinstance(body, str) else body
    start_response('200 OK', [('Content-Type', content_type), ('Content-Length', str(len(data)))])
    return [data]


def produce(progress, total, size):
    chunk = b'x' * size
    try:
        while progress['sent'] < total:
            piece = chunk[: total - progress['sent']]
            yield piece
            progress['sent'] += len(piece)
        progress['done'] = True
    except GeneratorExit:
        progress['error'] = 'closed'
        raise


def stream_until_gone(tag):
    EVENTS[tag] = 'streaming'
    deadline = time.monotonic() + LIMIT
    try:
        while time.monotonic() < deadline:
            yield b'tick\n'
            time.sleep(0.01)
        EVENTS[tag] = 'timeout'
    except GeneratorExit:
        EVENTS[tag] = 'closed'
        raise


def app(environ, start_response):
    q = {key: values[0] for key, values in parse_qs(environ.get('QUERY_STRING', '')).items()}
    tag = q.get('tag', '-')
    path = environ['PATH_INFO']
    if path == '/info':
        info = {
            'server_protocol': environ['SERVER_PROTOCOL'],
            'url_scheme': environ['wsgi.url_scheme'],
            'host': environ.get('HTTP_HOST'),
        }
        return respond(start_response, json.dumps(info), 'application/json')
    if path == '/sleep':
        time.sleep(float(q.get('secs', '0.5')))
        return respond(start_response, 'slept')
    if path == '/digest':
        # Up to CONTENT_LENGTH when there is one (PEP 3333), else to the end of the stream.
        digest, size = hashlib.sha256(), 0
        length = int(environ.get('CONTENT_LENGTH') or -1)
        while length < 0 or size < length:
            piece = environ['wsgi.input'].read(65536 if length < 0 else min(65536, length - size))
            if not piece:
                break
            digest.update(piece)
            size += len(piece)
        return respond(start_response, json.dumps({'len': size, 'sha256': digest.hexdigest()}), 'application/json')
    if path == '/produce':
        progress = PROGRESS[tag] = {'sent': 0, 'done': False, 'error': None}
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return produce(progress, int(q['total']), int(q.get('chunk', '65536')))
    if path == '/stream_until_gone':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return stream_until_gone(tag)
    if path == '/state':
        return respond(
            start_response, json.dumps({'progress': PROGRESS.get(tag), 'event': EVENTS.get(tag)}), 'application/json'
        )
    return respond(start_response, 'ok')
