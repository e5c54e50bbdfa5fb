"""ASGI 3 on granian: lifespan handling and how a worker starts an ASGI app.

HTTP requests are served by the Rust engine (`src/interfaces/asgi/`): it builds the scope and
implements `receive`/`send`. This module runs the lifespan protocol around serving (for
`--interface asgi`; `asginl` skips it) and starts one asyncio Task per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._failure import FailureReporter
from ._granian import ClientDisconnected
from .errors import StartupError
from .log import RUNTIME_LOGGER

if TYPE_CHECKING:
    from .config import Config
    from .server.interface import AsyncServed, Served

__all__ = ['ClientDisconnected', 'LifespanProtocol']

ENGINE_INTERFACE = 'asgi'
# The lifespan scope's versions: ASGI 3, lifespan spec 2.0 (HTTP and WebSocket scopes, built by
# the engine, say which HTTP / WebSocket spec they implement: 2.5).
ASGI_VERSION = {'version': '3.0', 'spec_version': '2.0'}

logger = logging.getLogger(RUNTIME_LOGGER)


class LifespanProtocol:
    """Drives the ASGI lifespan protocol of one app on the worker's loop.

    An app that raises before answering `lifespan.startup` does not support lifespan: it is
    served without it, quietly (a debug line). `lifespan.startup.failed` stops the worker with
    the app's message.
    """

    def __init__(self, app: Callable[..., Any], loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.state: dict[str, Any] = {}
        self.supported = True
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._startup_done = loop.create_future()
        self._shutdown_done = loop.create_future()
        self._task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        return await self._inbox.get()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get('type')
        if kind in ('lifespan.startup.complete', 'lifespan.startup.failed'):
            if not self._startup_done.done():
                self._startup_done.set_result(message)
        elif kind in ('lifespan.shutdown.complete', 'lifespan.shutdown.failed'):
            if not self._shutdown_done.done():
                self._shutdown_done.set_result(message)
        else:
            raise RuntimeError(f"unexpected ASGI lifespan message '{kind}'")

    async def _main(self) -> None:
        scope = {'type': 'lifespan', 'asgi': dict(ASGI_VERSION), 'state': self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            if not self._startup_done.done():
                # Raised before answering startup: the app does not do lifespan.
                self.supported = False
                logger.debug(f'ASGI lifespan not supported by the application ({exc!r})')
                self._startup_done.set_result(None)
                return
            if not self._shutdown_done.done():
                logger.exception('ASGI lifespan protocol failed')
                self._shutdown_done.set_result(None)
            if not isinstance(exc, Exception):
                raise
        finally:
            for fut in (self._startup_done, self._shutdown_done):
                if not fut.done():
                    fut.set_result(None)

    async def startup(self) -> None:
        """Run `lifespan.startup`; raises StartupError when the app reports a failure."""
        self._task = self.loop.create_task(self._main())
        await self._inbox.put({'type': 'lifespan.startup'})
        message = await self._startup_done
        if message is None:
            return
        if message.get('type') == 'lifespan.startup.failed':
            reason = message.get('message') or 'no message given'
            raise StartupError(f'ASGI lifespan startup failed: {reason}')

    async def shutdown(self) -> None:
        """Run `lifespan.shutdown` and wait for the app to finish it."""
        if not self.supported or self._task is None or self._task.done():
            return
        await self._inbox.put({'type': 'lifespan.shutdown'})
        message = await self._shutdown_done
        if message and message.get('type') == 'lifespan.shutdown.failed':
            logger.error(f'ASGI lifespan shutdown failed: {message.get("message") or "no message given"}')
        await asyncio.wait({self._task}, timeout=5)


def _spawner(
    loop: asyncio.AbstractEventLoop, app: Callable[..., Any], state: dict[str, Any] | None, hint: str | None = None
) -> Callable[[dict[str, Any], Any], None]:
    """The callable the engine uses to start one request: a real asyncio Task per request.

    `hint` (the app looks like another interface's) is appended to every failure logged.
    """
    from .server.drain import request_runner

    task = asyncio.Task
    report = FailureReporter(logger, hint)

    @request_runner
    async def run(scope: dict[str, Any], proto: Any) -> None:
        if state is not None:
            scope['state'] = state.copy()
        try:
            await app(scope, proto.receive, proto.send)
        except Exception as exc:
            report(exc, proto._refused, proto._disconnected)
            proto._finish(True)
        except BaseException:
            proto._finish(True)
            raise
        else:
            problem = proto._finish()
            if problem:
                report.unfinished(problem)

    def spawn(scope: dict[str, Any], proto: Any) -> None:
        task(run(scope, proto), loop=loop)

    return spawn


async def start(app: Any, loop: asyncio.AbstractEventLoop, config: Config) -> AsyncServed:
    """Run lifespan startup (for `asgi`) on the running loop; lifespan shutdown is the teardown.

    Used as is by the embedded server; `setup` runs it for a worker, whose loop is not running yet.
    """
    from .server.interface import AsyncServed
    from .server.shape import mismatch_hint

    if not callable(app):
        raise StartupError(f'the ASGI application must be callable, got {type(app).__name__}')
    hint = mismatch_hint(app, config.interface)
    if config.interface != 'asgi':
        return AsyncServed(_spawner(loop, app, None, hint))
    lifespan = LifespanProtocol(app, loop)
    await lifespan.startup()
    state = lifespan.state if lifespan.supported else None
    return AsyncServed(_spawner(loop, app, state, hint), lifespan.shutdown)


def setup(app: Any, loop: asyncio.AbstractEventLoop, config: Config) -> Served:
    """Run lifespan startup (for `asgi`), then serve; lifespan shutdown runs at teardown."""
    from .server.interface import Served

    started = loop.run_until_complete(start(app, loop, config))
    return Served(started.handler, lambda: loop.run_until_complete(started.teardown()))
