"""RSGI app of the worker-lifecycle tests (tests/e2e/test_lifecycle.py).

`/` answers `<VALUE> <pid>`, VALUE coming from the module `lifecycle_value`: tests copy both
files into a temp dir and rewrite `lifecycle_value.py` to see whether new code is served.
`/env` shows `$LIFECYCLE_ENV`, `/slow?secs=S` answers after S seconds, `/grow?mb=N` keeps N
more MiB of memory alive in this worker, `/hang` never answers.
"""

import asyncio
import os
from urllib.parse import parse_qs

import lifecycle_value

#: Memory kept alive by `/grow`.
BALLAST = []


def number(scope, name, default):
    return float(parse_qs(scope.query_string).get(name, [default])[0])


async def app(scope, protocol):
    path = scope.path
    if path == '/slow':
        await asyncio.sleep(number(scope, 'secs', '0.05'))
    elif path == '/grow':
        # Bytes written to every page, so that they count as resident memory.
        BALLAST.append(b'\x01' * int(number(scope, 'mb', '1') * 2**20))
    elif path == '/hang':
        print('EVENT hang start', flush=True)
        await asyncio.Event().wait()
    elif path == '/env':
        text = os.environ.get('LIFECYCLE_ENV', '-')
        protocol.response_str(200, [('content-type', 'text/plain')], text)
        return
    protocol.response_str(200, [('content-type', 'text/plain')], f'{lifecycle_value.VALUE} {os.getpid()}')
