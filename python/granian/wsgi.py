"""WSGI (PEP 3333) on granian: how a worker starts a WSGI application.

Requests never touch the event loop: the engine queues them on a pool of Python threads
(`--blocking-threads`, idle ones stop after `--blocking-threads-idle-timeout`) which build
`environ`, call the application and send its response. See `docs/wsgi.md`.

This module provides the constant part of `environ`: `wsgi.errors` (an `ErrorStream` into the
server's logging) and `wsgi.file_wrapper` (`FileWrapper`, whose files the engine sends itself).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._failure import FailureReporter
from ._granian import ClientDisconnected, WSGIPool
from ._granian import WSGIInput as Input
from ._granian import WSGIStartResponse as StartResponse
from .config import normalize_prefix
from .errors import StartupError
from .log import RUNTIME_LOGGER

if TYPE_CHECKING:
    import asyncio

    from .config import Config
    from .server.interface import Served

__all__ = [
    'ClientDisconnected',
    'ErrorStream',
    'FileWrapper',
    'Input',
    'StartResponse',
    'base_environ',
    'normalize_prefix',
]

ENGINE_INTERFACE = 'wsgi'

#: Application exceptions are logged here, as for the other interfaces.
logger = logging.getLogger(RUNTIME_LOGGER)
#: What applications write to `wsgi.errors` (a child of the runtime logger: same handlers).
ERRORS_LOGGER = f'{RUNTIME_LOGGER}.wsgi'


class ErrorStream:
    """`wsgi.errors`: a text stream whose lines become log records (level ERROR).

    Text is buffered per thread until a newline, so a multi-line message written in one call (a
    traceback from a logging handler, say) stays one record.
    """

    def __init__(self, logger_name: str = ERRORS_LOGGER) -> None:
        self._logger = logging.getLogger(logger_name)
        self._local = threading.local()

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f'wsgi.errors.write() takes str, not {type(s).__name__}')
        buf = getattr(self._local, 'buf', '') + s
        if buf.endswith('\n'):
            self._local.buf = ''
            self._emit(buf[:-1])
        else:
            self._local.buf = buf
        return len(s)

    def writelines(self, seq: Iterable[str]) -> None:
        for s in seq:
            self.write(s)

    def flush(self) -> None:
        buf = getattr(self._local, 'buf', '')
        if buf:
            self._local.buf = ''
            self._emit(buf)

    def _emit(self, text: str) -> None:
        self._logger.error(text)


class FileWrapper:
    """`wsgi.file_wrapper`: iterates `filelike` in `blksize` blocks.

    When an application returns one of these around a real file (one with a `fileno()`), the
    engine sends the file itself, from the file's current position (and no more than the
    Content-Length the application declared), without going through Python.
    """

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> FileWrapper:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self) -> None:
        close = getattr(self.filelike, 'close', None)
        if close is not None:
            close()


def base_environ(config: Config, prefix: str, errors: ErrorStream) -> dict[str, Any]:
    """The `environ` keys every request of this worker shares."""
    return {
        'wsgi.version': (1, 0),
        'wsgi.errors': errors,
        'wsgi.file_wrapper': FileWrapper,
        'wsgi.input_terminated': True,
        'wsgi.multithread': config.blocking_threads > 1,
        'wsgi.multiprocess': config.workers > 1,
        'wsgi.run_once': False,
        # PEP 3333 "bytes as latin-1" form of the (UTF-8) prefix.
        'SCRIPT_NAME': prefix.encode('utf-8').decode('latin-1'),
    }


def setup(app: Any, loop: asyncio.AbstractEventLoop, config: Config) -> Served:
    """Build the thread pool serving `app`; the worker stops it once the engine has stopped."""
    from .server.interface import Served
    from .server.shape import mismatch_hint

    if not callable(app):
        raise StartupError(f'the WSGI application must be callable, got {type(app).__name__}')
    prefix = config.url_path_prefix or ''  # normalised by the config: '/a/b'
    hint = mismatch_hint(app, config.interface)
    pool = WSGIPool(
        app,
        base_environ(config, prefix, ErrorStream()),
        FileWrapper,
        FailureReporter(logger, hint),
        config.blocking_threads,
        float(config.blocking_threads_idle_timeout),
        prefix,
    )
    return Served(pool, stop_threads=pool.shutdown)
