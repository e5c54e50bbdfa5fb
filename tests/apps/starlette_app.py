"""A small Starlette app for the framework end-to-end tests.

`$ASGI_MARKER_DIR` receives marker files (background task runs); `$ASGI_FILES_DIR` holds the
files served by FileResponse.
"""

import contextlib
import hashlib
import os
import time
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

MARKERS = Path(os.environ.get('ASGI_MARKER_DIR', '.'))


def _mark(name, text):
    """Write a marker atomically: a test polling for it never reads it half-written."""
    tmp = MARKERS / f'.{name}.tmp'
    tmp.write_text(text)
    tmp.replace(MARKERS / name)


FILES = Path(os.environ.get('ASGI_FILES_DIR', '.'))


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {'greeting': 'hello from starlette lifespan', 'started_pid': os.getpid()}
    _mark('starlette-shutdown', 'done')


async def home(request: Request):
    return PlainTextResponse('starlette home')


async def item(request: Request):
    return JSONResponse(
        {
            'item_id': request.path_params['item_id'],
            'q': request.query_params.get('q'),
            'tags': request.query_params.getlist('tag'),
            'user_agent': request.headers.get('user-agent'),
            'url_for': str(request.url_for('item', item_id=7)),
            'root_path': request.scope.get('root_path'),
        }
    )


async def numbers(count):
    for i in range(count):
        yield f'line {i}\n'
        await anyio.sleep(0)


async def stream(request: Request):
    count = int(request.query_params.get('count', '10'))
    return StreamingResponse(numbers(count), media_type='text/plain')


async def file(request: Request):
    return FileResponse(FILES / request.path_params['name'], media_type='application/octet-stream')


async def form(request: Request):
    async with request.form() as data:
        upload = data['upload']
        content = await upload.read()
        return JSONResponse(
            {
                'name': data['name'],
                'numbers': data.getlist('number'),
                'filename': upload.filename,
                'content_type': upload.content_type,
                'size': len(content),
                'sha256': hashlib.sha256(content).hexdigest(),
            }
        )


async def wait_then_mark(gate: str, marker: str):
    """Runs after the response: waits (bounded) for the test to open the gate, then marks."""
    deadline = time.monotonic() + 10
    while not Path(gate).exists() and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    _mark(marker, 'after-gate' if Path(gate).exists() else 'gate-timeout')


async def background(request: Request):
    task = BackgroundTask(wait_then_mark, request.query_params['gate'], request.query_params['marker'])
    return PlainTextResponse('response sent', background=task)


async def state(request: Request):
    return JSONResponse({'greeting': request.state.greeting, 'started_pid': request.state.started_pid})


async def echo(request: Request):
    size = 0
    digest = hashlib.sha256()
    async for chunk in request.stream():
        size += len(chunk)
        digest.update(chunk)
    return JSONResponse({'size': size, 'sha256': digest.hexdigest()})


async def fail(request: Request):
    raise RuntimeError('starlette route exploded')


app = Starlette(
    routes=[
        Route('/', home),
        Route('/items/{item_id:int}', item, name='item'),
        Route('/stream', stream),
        Route('/files/{name}', file),
        Route('/form', form, methods=['POST']),
        Route('/background', background),
        Route('/state', state),
        Route('/echo', echo, methods=['POST']),
        Route('/fail', fail),
    ],
    lifespan=lifespan,
)
