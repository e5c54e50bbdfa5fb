"""The RSGI app most end-to-end tests run against: one route per behaviour under test.

Plain async function (no `__rsgi__`). Things the test cannot see in the response are
reported as `EVENT ...` lines on stdout, which ends up in the server log.
"""

import asyncio
import hashlib
import json
import os
from urllib.parse import parse_qs

TEXT = [('content-type', 'text/plain; charset=utf-8')]
JSON = [('content-type', 'application/json')]
OCTET = [('content-type', 'application/octet-stream')]
REPEATED = [('x-a', '1'), ('x-b', '2'), ('x-a', '3'), ('set-cookie', 'c1=1'), ('set-cookie', 'c2=2')]


def event(*parts):
    print('EVENT', *parts, flush=True)


def query(scope):
    return {key: values[0] for key, values in parse_qs(scope.query_string).items()}


def describe_headers(h):
    try:
        h['x-not-there']
        item_missing = 'no error'
    except KeyError:
        item_missing = 'KeyError'
    try:
        item = h['X-Case']
    except KeyError:
        item = None
    return {
        'get_lower': h.get('x-case'),
        'get_upper': h.get('X-CASE'),
        'get_default': h.get('x-not-there', 'dflt'),
        'get_none': h.get('x-not-there'),
        'get_all': h.get_all('x-multi'),
        'get_all_mixed': h.get_all('X-Multi'),
        'get_all_missing': h.get_all('x-not-there'),
        'item': item,
        'item_missing': item_missing,
        'contains': 'x-case' in h,
        'contains_mixed': 'X-CASE' in h,
        'contains_missing': 'x-not-there' in h,
        'keys': list(h.keys()),
        'values': list(h.values()),
        'items': [list(pair) for pair in h.items()],
        'len': len(h),
        'iter': list(h),
    }


def describe_scope(scope):
    names = ('proto', 'rsgi_version', 'http_version', 'method', 'path', 'query_string', 'scheme', 'server', 'client')
    info = {name: getattr(scope, name) for name in names}
    info['authority'] = scope.authority
    info['types'] = {name: type(getattr(scope, name)).__name__ for name in names}
    info['headers'] = describe_headers(scope.headers)
    return info


def digest(body, chunks=None):
    out = {'len': len(body), 'sha256': hashlib.sha256(body).hexdigest()}
    if chunks is not None:
        out['chunks'] = chunks
    return json.dumps(out)


async def read_twice(protocol, mode):
    """Consume the body one way, then try again; returns what happened."""
    first, second = mode.split('_')
    if first == 'call':
        body = await protocol()
    else:
        body = b''.join([chunk async for chunk in protocol])
    try:
        if second == 'call':
            await protocol()
        else:
            async for _ in protocol:
                pass
    except Exception as exc:
        return {'first': body.decode(), 'error': type(exc).__name__}
    return {'first': body.decode(), 'error': None}


async def app(scope, protocol):
    path = scope.path
    if path == '/':
        protocol.response_str(200, TEXT, 'ok')
    elif path.startswith('/scope'):
        protocol.response_str(200, JSON, json.dumps(describe_scope(scope)))
    elif path == '/echo':
        body = await protocol()
        protocol.response_bytes(200, [*OCTET, ('x-body-len', str(len(body)))], body)
    elif path == '/echo_iter':
        chunks = [chunk async for chunk in protocol]
        protocol.response_bytes(200, [*OCTET, ('x-chunks', str(len(chunks)))], b''.join(chunks))
    elif path == '/digest':
        protocol.response_str(200, JSON, digest(await protocol()))
    elif path == '/digest_iter':
        chunks = [chunk async for chunk in protocol]
        protocol.response_str(200, JSON, digest(b''.join(chunks), len(chunks)))
    elif path == '/read_twice':
        protocol.response_str(200, JSON, json.dumps(await read_twice(protocol, query(scope)['mode'])))
    elif path == '/response/empty':
        protocol.response_empty(int(query(scope).get('status', '204')), REPEATED)
    elif path == '/response/str':
        protocol.response_str(201, REPEATED, 'h\u00e9llo w\u00f6rld')
    elif path == '/response/bytes':
        protocol.response_bytes(202, REPEATED, b'\x00\x01raw\xffbytes')
    elif path == '/file':
        protocol.response_file(200, OCTET, query(scope)['path'])
    elif path == '/file_range':
        q = query(scope)
        protocol.response_file_range(206, OCTET, q['path'], int(q['start']), int(q['end']))
    elif path == '/file_range_invalid':
        q = query(scope)
        try:
            protocol.response_file_range(206, OCTET, q['path'], int(q['start']), int(q['end']))
        except Exception as exc:
            protocol.response_str(200, TEXT, f'caught {type(exc).__name__}')
            return
        event('file_range_invalid', 'no exception')
    elif path == '/stream':
        tag = query(scope).get('tag', '-')
        transport = protocol.response_stream(200, TEXT)
        try:
            for i in range(6):
                if i % 2:
                    await transport.send_str(f'str-{i};')
                else:
                    await transport.send_bytes(f'bytes-{i};'.encode())
                await asyncio.sleep(0.01)
        except Exception as exc:
            event('stream', tag, type(exc).__name__)
            raise
        event('stream', tag, 'done')
    elif path == '/first_wins':
        protocol.response_bytes(200, TEXT, b'first')
        protocol.response_bytes(418, TEXT, b'second')
        protocol.response_str(500, TEXT, 'third')
        protocol.response_empty(204, [])
    elif path == '/stream_after':
        protocol.response_bytes(200, TEXT, b'done')
        try:
            protocol.response_stream(200, TEXT)
        except Exception as exc:
            event('stream_after', type(exc).__name__)
        else:
            event('stream_after', 'no exception')
    elif path == '/disconnect':
        tag = query(scope).get('tag', '-')
        event('disconnect', tag, 'waiting')
        await asyncio.sleep(float(query(scope).get('delay', '0')))
        await protocol.client_disconnect()
        event('disconnect', tag, 'seen')
    elif path == '/stream_forever':
        tag = query(scope).get('tag', '-')
        transport = protocol.response_stream(200, OCTET)
        try:
            for _ in range(100_000):
                await transport.send_bytes(b'x' * 1024)
                await asyncio.sleep(0.002)
        except Exception as exc:
            event('stream_forever', tag, type(exc).__name__)
            return
        event('stream_forever', tag, 'not interrupted')
    elif path == '/noresponse':
        return
    elif path == '/raise':
        raise RuntimeError('boom from the test app')
    elif path == '/sleep':
        event('sleep', 'start', query(scope).get('tag', ''))
        await asyncio.sleep(float(query(scope).get('secs', '1')))
        protocol.response_str(200, TEXT, 'slept')
    elif path == '/hang':
        event('hang', 'start')
        while True:  # never finishes, even when cancelled
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass
    elif path == '/server_header':
        protocol.response_str(200, [('server', 'custom-app/1.0'), *TEXT], 'own server header')
    elif path == '/pid':
        protocol.response_str(200, TEXT, str(os.getpid()))
    elif path == '/big':
        protocol.response_bytes(200, OCTET, b'x' * int(query(scope).get('size', '1000')))
    else:
        protocol.response_str(404, TEXT, 'not found')
