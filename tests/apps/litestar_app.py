"""A small Litestar app for tests/e2e/test_litestar.py.

- `GET /hello` -> JSON with what the startup hook put into the app state.
- `POST /echo` -> the JSON body back, wrapped (`201`, Litestar's default for POST).
- `GET /items/{item_id:int}` -> JSON with the typed path parameter and a query parameter.
- `GET /boom` -> the handler raises: Litestar answers `500`.

The startup hook stores the worker's PID in the app state; the shutdown hook writes the
marker file `litestar-shutdown` into `$LITESTAR_MARKER_DIR` (when set).
"""

import os
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get, post
from litestar.datastructures import State

MARKERS = os.environ.get('LITESTAR_MARKER_DIR')


def on_startup(app: Litestar) -> None:
    app.state.started_pid = os.getpid()
    app.state.greeting = 'hello from litestar startup'


def on_shutdown(app: Litestar) -> None:
    if MARKERS:
        target = Path(MARKERS) / 'litestar-shutdown'
        tmp = target.with_suffix('.tmp')
        tmp.write_text(str(app.state.started_pid))
        tmp.rename(target)


@get('/hello')
async def hello(state: State, request: Request) -> dict[str, Any]:
    return {
        'greeting': state.greeting,
        'started_pid': state.started_pid,
        'pid': os.getpid(),
        'http_version': request.scope['http_version'],
    }


@post('/echo')
async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return {'received': data}


@get('/items/{item_id:int}')
async def item(item_id: int, q: str = 'none') -> dict[str, Any]:
    return {'item_id': item_id, 'q': q}


@get('/boom')
async def boom() -> None:
    raise RuntimeError('litestar handler failure')


app = Litestar(route_handlers=[hello, echo, item, boom], on_startup=[on_startup], on_shutdown=[on_shutdown])
