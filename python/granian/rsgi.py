"""RSGI on granian: the names apps import, and how a worker starts an RSGI app.

See `docs/rsgi.md` for the interface itself.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._failure import FailureReporter
from ._granian import (
    RSGIBodyIter as BodyIter,
)
from ._granian import (
    RSGIHeaders as Headers,
)
from ._granian import (
    RSGIHTTPProtocol as HTTPProtocol,
)
from ._granian import (
    RSGIProtocolClosed as ProtocolClosed,
)
from ._granian import (
    RSGIProtocolError as ProtocolError,
)
from ._granian import (
    RSGIScope as Scope,
)
from ._granian import (
    RSGIStreamTransport as StreamTransport,
)
from ._granian import (
    RSGIWebsocketMessage as WebsocketMessage,
)
from ._granian import (
    RSGIWebsocketProtocol as WebsocketProtocol,
)
from ._granian import (
    RSGIWebsocketTransport as WebsocketTransport,
)
from .log import RUNTIME_LOGGER

if TYPE_CHECKING:
    from .config import Config
    from .server.interface import AsyncServed, Served

__all__ = [
    'BodyIter',
    'HTTPProtocol',
    'Headers',
    'ProtocolClosed',
    'ProtocolError',
    'Scope',
    'StreamTransport',
    'WebsocketMessage',
    'WebsocketMessageType',
    'WebsocketProtocol',
    'WebsocketTransport',
]

ENGINE_INTERFACE = 'rsgi'

logger = logging.getLogger(RUNTIME_LOGGER)


class WebsocketMessageType(enum.IntEnum):
    close = 0
    bytes = 1
    string = 2


def _spawner(loop: asyncio.AbstractEventLoop, handler: Callable[..., Any]) -> Callable[[Any, Any], None]:
    """The callable the engine uses to start one request: a real asyncio Task per request.

    A handler shaped for another interface gets a hint (`--interface asgi`, ...) in its
    failure lines.
    """
    from .server.drain import request_runner
    from .server.shape import mismatch_hint

    task = asyncio.Task
    report = FailureReporter(logger, mismatch_hint(handler, 'rsgi'))

    @request_runner
    async def run(scope: Any, proto: Any) -> None:
        try:
            await handler(scope, proto)
        except Exception as exc:
            report(exc, proto._refused, proto._disconnected)
            proto._finish(True)
        except BaseException:
            proto._finish(True)
            raise
        else:
            proto._finish()

    def spawn(scope: Any, proto: Any) -> None:
        task(run(scope, proto), loop=loop)

    return spawn


def setup(app: Any, loop: asyncio.AbstractEventLoop, config: Config) -> Served:
    """Resolve the RSGI handler and hooks; `__rsgi_init__` runs now, `__rsgi_del__` at teardown."""
    from .loading import resolve_rsgi_app
    from .server.interface import Served

    handler, init_hook, del_hook = resolve_rsgi_app(app)
    init_hook(loop)
    return Served(_spawner(loop, handler), lambda: del_hook(loop))


async def start(app: Any, loop: asyncio.AbstractEventLoop, config: Config) -> AsyncServed:
    """`setup` for a loop that already runs (the embedded server): the hooks run on it."""
    from .server.interface import AsyncServed

    served = setup(app, loop, config)

    async def teardown() -> None:
        served.teardown()

    return AsyncServed(served.handler, teardown)
