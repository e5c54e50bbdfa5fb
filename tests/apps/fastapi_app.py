"""A small FastAPI app for the framework end-to-end tests.

`$ASGI_MARKER_DIR` receives marker files (background tasks); `$ASGI_FILES_DIR` holds the files
served by FileResponse.
"""

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import BackgroundTasks, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

MARKERS = Path(os.environ.get('ASGI_MARKER_DIR', '.'))


def _mark(name, text):
    """Write a marker atomically: a test polling for it never reads it half-written."""
    tmp = MARKERS / f'.{name}.tmp'
    tmp.write_text(text)
    tmp.replace(MARKERS / name)


FILES = Path(os.environ.get('ASGI_FILES_DIR', '.'))


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    yield {'db': 'fake-connection-pool', 'started_pid': os.getpid()}
    _mark('fastapi-shutdown', 'done')


app = FastAPI(lifespan=lifespan)


class ItemIn(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    quantity: int = 1
    tags: list[str] = []


class ItemOut(BaseModel):
    name: str
    total: float
    tags: list[str]


@app.get('/')
async def home():
    return {'framework': 'fastapi'}


@app.post('/items', response_model=ItemOut, status_code=201)
async def create_item(item: ItemIn):
    # `quantity` and `price` are not part of the response model: they must not leak out.
    return {'name': item.name, 'total': item.price * item.quantity, 'tags': item.tags, 'price': item.price}


@app.get('/items/{item_id}')
async def read_item(item_id: int, q: str | None = None):
    return {'item_id': item_id, 'q': q}


@app.post('/upload')
async def upload(
    title: Annotated[str, Form()],
    count: Annotated[int, Form()],
    document: Annotated[UploadFile, File()],
):
    content = await document.read()
    return {
        'title': title,
        'count': count,
        'filename': document.filename,
        'content_type': document.content_type,
        'size': len(content),
        'sha256': hashlib.sha256(content).hexdigest(),
    }


async def events(count: int):
    for i in range(count):
        yield f'data: {i}\n\n'.encode()
        await anyio.sleep(0)


@app.get('/stream')
async def stream(count: int = 5):
    return StreamingResponse(events(count), media_type='text/event-stream')


@app.get('/files/{name}')
async def file(name: str):
    return FileResponse(FILES / name, media_type='application/octet-stream')


async def wait_then_mark(gate: str, marker: str):
    """Runs after the response: waits (bounded) for the test to open the gate, then marks."""
    deadline = time.monotonic() + 10
    while not Path(gate).exists() and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    _mark(marker, 'after-gate' if Path(gate).exists() else 'gate-timeout')


def sync_mark(marker: str):
    _mark(marker, 'sync task ran')


@app.get('/background')
async def background(gate: str, marker: str, tasks: BackgroundTasks):
    tasks.add_task(wait_then_mark, gate, marker)
    tasks.add_task(sync_mark, marker + '-sync')
    return {'status': 'accepted'}


@app.get('/state')
async def state(request: Request):
    return {'db': request.state.db, 'started_pid': request.state.started_pid}
