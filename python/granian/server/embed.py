"""The embedded server: serve an app from inside an asyncio program you already run.

```python
import asyncio
from granian.server.embed import Server

async def main():
    server = Server(app, interface='asgi', port=8000)
    task = asyncio.create_task(server.serve())
    await server.wait_ready()
    ...                      # the rest of the program; requests are served meanwhile
    server.stop()
    await task               # returns once in-flight requests are done

asyncio.run(main())
```

There is one worker and no process: the Rust engine's threads accept and speak HTTP, the app
runs as tasks on *your* running loop. Everything that needs processes or a supervisor (several
workers, respawning, recycling, reloading on file changes, pid file, process title) is refused
with a `ConfigurationError`, as is WSGI (it runs on a thread pool, not on a loop). The server
installs no signal handlers and does not configure logging: it logs on the `_granian` and
`granian.access` loggers, which your program configures.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Callable
from typing import Any

from granian.access_log import make_access_logger
from granian.config import FIELDS, Config, build_config
from granian.errors import ConfigurationError
from granian.log import RUNTIME_LOGGER
from granian.server import drain
from granian.server.interface import INTERFACE_MODULES
from granian.server.shape import mismatch_warning
from granian.server.sockets import bind

__all__ = ['Server']

logger = logging.getLogger(RUNTIME_LOGGER)

#: Interfaces the embedded server serves.
INTERFACES = ('asgi', 'asginl', 'rsgi')
#: Settings that need worker processes or a supervisor: only their default is accepted.
PROCESS_SETTINGS = (
    'workers',
    'reload',
    'respawn_failed_workers',
    'workers_lifetime',
    'workers_max_rss',
    'limit_max_requests',
    'limit_max_requests_jitter',
    'metrics_enabled',
    'pid_file',
    'process_name',
)
#: `listen()` backlog when none is given (one worker needs a short queue).
DEFAULT_BACKLOG = 128


def _target_name(app: Any) -> str:
    """A `module:attr` label for the app object (shown in logs; never imported)."""
    module = getattr(app, '__module__', None) or type(app).__module__
    name = getattr(app, '__qualname__', None) or type(app).__qualname__
    name = '.'.join(part for part in name.split('.') if part.isidentifier()) or 'app'
    return f'{module}:{name}'


def _log_from_engine(level: int, message: str) -> None:
    logger.log(level, message)


def embed_config(app: Any, **kwargs: Any) -> Config:
    """The validated Config of an embedded server (see `Server`)."""
    for name in PROCESS_SETTINGS:
        value = kwargs.get(name)
        if value is None or value == FIELDS[name].default or (name == 'workers' and value == 1):
            continue
        raise ConfigurationError(
            '{option} is not available in the embedded server (one worker, inside your program)', name
        )
    interface = kwargs.get('interface') or 'rsgi'
    if str(getattr(interface, 'value', interface)).lower() == 'wsgi':
        raise ConfigurationError(
            "{option} 'wsgi' is not available in the embedded server (use 'asgi', 'asginl' or 'rsgi')", 'interface'
        )
    if kwargs.get('backlog') is None:
        kwargs['backlog'] = DEFAULT_BACKLOG
    return build_config(_target_name(app), **kwargs)


class Server:
    """An HTTP server for `app` on the running asyncio loop (experimental).

    Args:
        app: the application object itself (not an import string): an ASGI callable, or an
            RSGI callable / object with `__rsgi__`.
        **kwargs: the settings of `Granian(...)` (`interface`, `address`, `port`, `uds`,
            `backpressure`, `http1_settings`, `log_access`, ...). The default `backlog` is 128.

    Raises:
        ConfigurationError: an invalid setting, WSGI, or a setting that needs processes.
    """

    def __init__(self, app: Any, **kwargs: Any) -> None:
        self.app = app
        self.config: Config = embed_config(app, **kwargs)
        #: Where the server listens (`http://127.0.0.1:8000`), once `serve()` has bound it.
        self.url: str | None = None
        #: The bound TCP port (the real one when port 0 was asked), once bound.
        self.port: int | None = None
        self._engine: Any = None
        #: `loop.time()` of the stop request the engine is honouring (the graceful timeout counts from it).
        self._stopped_at: float | None = None
        self._serving = False
        self._stop_requested = False
        self._reload_requested = False
        self._ready = asyncio.Event()

    async def serve(self) -> None:
        """Bind, start the app (ASGI lifespan startup, RSGI `__rsgi_init__`) and serve until `stop()`.

        Returns after a graceful stop: no new connections, in-flight requests finished (those
        still running after `graceful_timeout` are cut, their tasks cancelled and awaited),
        idle keep-alive connections closed, then lifespan shutdown / `__rsgi_del__`. Tasks your
        program started are left alone. Cancelling the task running it stops the server the
        same way before the cancellation propagates.

        Raises:
            StartupError: the address cannot be bound, or the app's startup failed.
            RuntimeError: this server is already serving.
        """
        if self._serving:
            raise RuntimeError('this embedded server is already serving')
        from granian import _granian

        self._serving = True
        loop = asyncio.get_running_loop()
        module = importlib.import_module(INTERFACE_MODULES[self.config.interface])
        # The loop is the host program's: leave its thread's scheduling policy alone.
        engine_settings = self.config.engine_settings(sched_batch=False)
        on_access = (
            make_access_logger(self.config.log_access_format, self.config.log_access_json)
            if self.config.log_access
            else None
        )
        try:
            listener = bind(self.config)
        except BaseException:
            self._serving = False
            raise
        try:
            self.url, self.port = listener.url, listener.port
            warning = mismatch_warning(self.app, self.config.interface, _app_name(self.app))
            if warning:
                logger.warning(warning)
            logger.info('Listening at: %s (embedded)', self.url)
            while not self._stop_requested:
                self._reload_requested = False
                served = await module.start(self.app, loop, self.config)
                try:
                    engine = _granian.Engine(listener.fileno(), engine_settings)
                    stopped = loop.create_future()

                    def on_stopped(stopped: asyncio.Future[None] = stopped) -> None:
                        if not stopped.done():
                            stopped.set_result(None)

                    engine.serve(module.ENGINE_INTERFACE, loop, served.handler, _log_from_engine, on_access, on_stopped)
                    self._engine = engine
                    self._stopped_at = None
                    try:
                        if self._stop_requested or self._reload_requested:
                            self._stop_engine()
                        self._ready.set()
                        await _until_stopped(self._stop_engine, stopped)
                    finally:
                        self._engine = None
                        self._ready.clear()
                        try:
                            started = self._stopped_at if self._stopped_at is not None else loop.time()
                            await drain.finish_requests(started + self.config.graceful_timeout)
                        finally:
                            engine.join()
                finally:
                    await served.teardown()
                if not self._reload_requested:
                    break
        finally:
            listener.close()
            self._serving = False
            self._stop_requested = False

    async def wait_ready(self) -> None:
        """Wait until `serve()` accepts requests (again, after a `reload()`)."""
        await self._ready.wait()

    def _stop_engine(self) -> None:
        if self._engine is None:
            return
        if self._stopped_at is None:
            self._stopped_at = asyncio.get_running_loop().time()
        self._engine.stop()

    def stop(self) -> None:
        """Make `serve()` return after a graceful stop. Call it on the loop's thread."""
        self._stop_requested = True
        self._reload_requested = False
        self._stop_engine()

    def reload(self) -> None:
        """Restart the app's lifecycle in place; call it on the loop's thread.

        In-flight requests finish, then ASGI lifespan shutdown and startup (RSGI `__rsgi_del__`
        and `__rsgi_init__`) run again and serving resumes on the same socket; connections that
        arrive meanwhile wait in the listen queue. The app object stays the same: no code is
        re-imported (there is no process to replace). A no-op when not serving.
        """
        if self._engine is not None and not self._stop_requested:
            self._reload_requested = True
            self._ready.clear()
            self._stop_engine()


async def _until_stopped(stop: Callable[[], None], stopped: asyncio.Future[None]) -> None:
    """Wait for the engine's graceful stop; a cancellation stops it first, then propagates."""
    try:
        await asyncio.shield(stopped)
    except asyncio.CancelledError:
        stop()
        while not stopped.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(stopped)
        raise


def _app_name(app: object) -> str:
    """How the startup warning names an app object: `module:qualname` when it has them."""
    module = getattr(app, '__module__', None) or type(app).__module__
    name = getattr(app, '__qualname__', None) or type(app).__qualname__
    return f'{module}:{name}'
