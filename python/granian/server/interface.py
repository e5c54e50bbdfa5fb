"""The seam between the worker and each application interface.

Each interface module (`granian.rsgi`, `granian.asgi`, `granian.wsgi`) defines
`ENGINE_INTERFACE` (the engine's name for it) and `setup(app, loop, config) -> Served`, which a
worker calls before its loop runs. The interfaces the embedded server can serve (`rsgi`,
`asgi`) also define `async start(app, loop, config) -> AsyncServed`, for a loop that runs already.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Served:
    """What an interface set up in a worker.

    `handler` is passed to `Engine.serve` (what the engine calls per request); `teardown` runs
    on the loop thread after the engine stopped and the request tasks are done (RSGI
    `__rsgi_del__`, ASGI lifespan shutdown). `stop_threads(timeout)`, for an interface that
    runs requests on threads (WSGI), stops them, waiting up to `timeout` seconds, and returns
    how many are still inside the application.
    """

    handler: Any
    teardown: Callable[[], None] = lambda: None
    stop_threads: Callable[[float], int] | None = None


async def _nothing() -> None:
    return None


@dataclasses.dataclass(frozen=True)
class AsyncServed:
    """`Served` for a running loop: `teardown` is a coroutine function awaited on that loop."""

    handler: Any
    teardown: Callable[[], Awaitable[None]] = _nothing


# `--interface` value -> module implementing it.
INTERFACE_MODULES: dict[str, str] = {
    'rsgi': 'granian.rsgi',
    'asgi': 'granian.asgi',
    'asginl': 'granian.asgi',
    'wsgi': 'granian.wsgi',
}
