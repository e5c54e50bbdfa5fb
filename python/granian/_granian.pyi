"""Type stubs for `granian._granian`, the compiled engine (Rust sources under `src/`).

Keep in step with the `#[pymethods]` blocks: `tests/unit/test_stub.py` compares this file with
what the built module exports (names, methods versus getters, parameter names and defaults).
"""

import asyncio
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from contextvars import Context
from types import TracebackType
from typing import Any, Generic, TypeAlias, TypeVar, final, overload

_T_co = TypeVar('_T_co', covariant=True)
_D = TypeVar('_D')

# What the RSGI `response_*` methods take as `headers`: `(name, value)` pairs of `str`, as tuples
# or 2-item lists (docs/rsgi.md).
_RSGIHeaderPairs: TypeAlias = Iterable[tuple[str, str] | list[str]]
# A binary body or WebSocket message.
_BytesLike: TypeAlias = bytes | bytearray | memoryview
_OptExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
# An ASGI event or message dict.
_ASGIMessage: TypeAlias = dict[str, Any]

__all__ = [
    '__version__',
    'BUILD_GIL',
    'Engine',
    'check_engine_settings',
    'Awaitable',
    'ASGIHTTPProtocol',
    'ASGIWebsocketProtocol',
    'RSGIScope',
    'RSGIHeaders',
    'RSGIHTTPProtocol',
    'RSGIStreamTransport',
    'RSGIWebsocketProtocol',
    'RSGIWebsocketTransport',
    'RSGIWebsocketMessage',
    'RSGIBodyIter',
    'WSGIPool',
    'WSGIInput',
    'WSGIStartResponse',
    'InterfaceError',
    'ASGIProtocolError',
    'WSGIProtocolError',
    'RSGIProtocolError',
    'RSGIProtocolClosed',
    'ClientDisconnected',
]

#: The version of the compiled core (equal to `granian.__version__`).
__version__: str
#: `True` when built for a GIL-enabled CPython, `False` on a free-threaded build.
BUILD_GIL: bool

# --- exceptions ----------------------------------------------------------------------------------

class InterfaceError(RuntimeError):
    """An application broke the rules of its interface (ASGI, RSGI, WSGI)."""

class ASGIProtocolError(InterfaceError):
    """ASGI misuse: a message out of order or of an unknown type, a second accept, ..."""

class WSGIProtocolError(InterfaceError):
    """WSGI misuse: a body before start_response(), start_response() twice without exc_info, ..."""

class RSGIProtocolError(InterfaceError):
    """RSGI API misuse: body read twice, a second response stream, ..."""

class RSGIProtocolClosed(RuntimeError):  # noqa: N818 (the runtime name)
    """The client connection is gone."""

class ClientDisconnected(OSError):  # noqa: N818 (the runtime name)
    """The client went away before the response was sent (ASGI `send`, WSGI `write`)."""

# --- engine --------------------------------------------------------------------------------------

@final
class Engine:
    """One worker's network engine, serving on the listening socket `fd`.

    `settings` is `Config.engine_settings()`: every key required, none other allowed; a
    ValueError names the key that is missing, left over or of the wrong type.
    """

    def __new__(cls, fd: int, settings: dict[str, Any]) -> Engine: ...
    def serve(
        self,
        interface: str,
        event_loop: asyncio.AbstractEventLoop,
        handler: Any,
        on_log: Callable[[int, str], object],
        on_access: Callable[..., object] | None,
        on_stopped: Callable[[], object],
        on_max_requests: Callable[[], object] | None = None,
    ) -> None:
        """Start serving `interface` (`'rsgi'`, `'asgi'` or `'wsgi'`, whose handler is a `WSGIPool`).

        `on_max_requests()` is called once the worker served the `max_requests` of its settings
        (required when that is not 0)."""
    def _drain(self) -> None: ...
    def stop(self) -> None:
        """Begin a graceful stop (idempotent): stop accepting, let connections finish, cut
        them at the graceful timeout; `on_stopped` is called once no connection is left."""
    def join(self) -> None:
        """Let the runtime threads end (they serve what apps await until then), wait for them
        and run the last jobs they queued."""
    def metrics(self) -> dict[str, Any] | None:
        """What the worker recorded since it started serving (`metrics` on in the settings),
        as plain JSON-ready values; None when metrics are off or serving has not started."""

def check_engine_settings(settings: dict[str, Any]) -> None:
    """Read `settings` as `Engine(fd, settings)` does, without starting anything (ValueError if not accepted)."""

@final
class Awaitable(Generic[_T_co]):
    """What the engine's async methods return: `await` it for a `_T_co` (an asyncio-future-like
    object, accepted by asyncio Tasks)."""

    _asyncio_future_blocking: bool
    def __await__(self) -> Generator[Any, None, _T_co]: ...
    def __iter__(self) -> Generator[Any, None, _T_co]: ...
    def __next__(self) -> Awaitable[_T_co]: ...
    def send(self, _value: object) -> Awaitable[_T_co]: ...
    def get_loop(self) -> asyncio.AbstractEventLoop: ...
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def result(self) -> _T_co: ...
    def exception(self) -> BaseException | None: ...
    def add_done_callback(
        self, callback: Callable[[Awaitable[_T_co]], object], *, context: Context | None = None
    ) -> None: ...
    def remove_done_callback(self, callback: Callable[[Awaitable[_T_co]], object]) -> int: ...
    def cancel(self, msg: Any | None = None) -> bool: ...

# --- ASGI ----------------------------------------------------------------------------------------

@final
class ASGIHTTPProtocol:
    """Holds the ASGI `receive` and `send` callables of one HTTP request (docs/asgi.md)."""

    def receive(self) -> Awaitable[_ASGIMessage]: ...
    def send(self, message: _ASGIMessage) -> Awaitable[None]: ...
    @property
    def _disconnected(self) -> bool: ...
    @property
    def _refused(self) -> str | None: ...
    def _finish(self, failed: bool = False) -> str | None: ...

@final
class ASGIWebsocketProtocol:
    """Holds the ASGI `receive` and `send` callables of one WebSocket (docs/websockets.md)."""

    def receive(self) -> Awaitable[_ASGIMessage]: ...
    def send(self, message: _ASGIMessage) -> Awaitable[None]: ...
    @property
    def _disconnected(self) -> bool: ...
    @property
    def _refused(self) -> str | None: ...
    def _finish(self, failed: bool = False) -> str | None: ...

# --- RSGI ----------------------------------------------------------------------------------------

@final
class RSGIHeaders:
    """Read-only, case-insensitive request headers."""

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: _D) -> str | _D: ...
    def get_all(self, key: str) -> list[str]: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[str]: ...
    def items(self) -> list[tuple[str, str]]: ...
    def __getitem__(self, key: str, /) -> str: ...
    def __contains__(self, key: str, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...

@final
class RSGIScope:
    """The RSGI scope (docs/rsgi.md); attributes are computed when read."""

    @property
    def proto(self) -> str: ...
    @property
    def rsgi_version(self) -> str: ...
    @property
    def http_version(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query_string(self) -> str: ...
    @property
    def server(self) -> str: ...
    @property
    def client(self) -> str: ...
    @property
    def headers(self) -> RSGIHeaders: ...
    @property
    def authority(self) -> str | None: ...

@final
class RSGIBodyIter:
    """`async for chunk in protocol`: the request body as it arrives."""

    def __aiter__(self) -> RSGIBodyIter: ...
    def __anext__(self) -> Awaitable[bytes]: ...

@final
class RSGIStreamTransport:
    """The transport returned by `RSGIHTTPProtocol.response_stream`."""

    def send_bytes(self, data: _BytesLike) -> Awaitable[None]: ...
    def send_str(self, data: str) -> Awaitable[None]: ...

@final
class RSGIHTTPProtocol:
    """The RSGI HTTP protocol object: request body, response methods, disconnect."""

    def __call__(self) -> Awaitable[bytes]:
        """`await protocol()`: the whole request body."""
    def __aiter__(self) -> RSGIBodyIter: ...
    def response_empty(self, status: int = 200, headers: _RSGIHeaderPairs | None = None) -> None: ...
    def response_str(
        self, status: int = 200, headers: _RSGIHeaderPairs | None = None, body: str | None = None
    ) -> None: ...
    def response_bytes(
        self, status: int = 200, headers: _RSGIHeaderPairs | None = None, body: _BytesLike | None = None
    ) -> None: ...
    def response_file(self, status: int, headers: _RSGIHeaderPairs | None, file: str | os.PathLike[str]) -> None: ...
    def response_file_range(
        self,
        status: int,
        headers: _RSGIHeaderPairs | None,
        file: str | os.PathLike[str],
        start: int,
        end: int,
    ) -> None: ...
    def response_stream(self, status: int = 200, headers: _RSGIHeaderPairs | None = None) -> RSGIStreamTransport: ...
    def client_disconnect(self) -> Awaitable[None]: ...
    @property
    def _disconnected(self) -> bool: ...
    @property
    def _refused(self) -> str | None: ...
    def _finish(self, failed: bool = False) -> None: ...

@final
class RSGIWebsocketMessage:
    """One incoming WebSocket message: `kind` 0 = closed, 1 = bytes, 2 = str."""

    @property
    def kind(self) -> int: ...
    @property
    def data(self) -> bytes | str | None: ...

@final
class RSGIWebsocketTransport:
    """What `await RSGIWebsocketProtocol.accept()` returns."""

    def receive(self) -> Awaitable[RSGIWebsocketMessage]: ...
    def send_bytes(self, data: _BytesLike) -> Awaitable[None]: ...
    def send_str(self, data: str) -> Awaitable[None]: ...

@final
class RSGIWebsocketProtocol:
    """The RSGI WebSocket protocol object (docs/websockets.md)."""

    def accept(self) -> Awaitable[RSGIWebsocketTransport]: ...
    def close(self, status: int | None = None) -> None: ...
    @property
    def _disconnected(self) -> bool: ...
    @property
    def _refused(self) -> str | None: ...
    def _finish(self, failed: bool = False) -> None: ...

# --- WSGI ----------------------------------------------------------------------------------------

@final
class WSGIPool:
    """A worker's WSGI application and the thread pool that runs it."""

    def __new__(
        cls,
        app: Callable[..., Any],
        environ: dict[str, Any],
        file_wrapper: type,
        report: Callable[[BaseException, bool, bool], None],
        threads: int,
        idle_timeout: float,
        url_path_prefix: str | None = None,
    ) -> WSGIPool: ...
    @property
    def threads(self) -> int:
        """Threads alive now."""
    def shutdown(self, timeout: float | None = None) -> int:
        """Stop the threads after their request, waiting up to `timeout` seconds (None: no
        limit); returns how many are still inside the application."""

@final
class WSGIInput:
    """`environ['wsgi.input']`: the request body."""

    def read(self, size: int | None = None) -> bytes: ...
    def readline(self, size: int | None = None) -> bytes: ...
    def readlines(self, hint: int | None = None) -> list[bytes]: ...
    def readable(self) -> bool: ...
    def __iter__(self) -> WSGIInput: ...
    def __next__(self) -> bytes: ...

@final
class WSGIStartResponse:
    """The `start_response` callable handed to a WSGI application."""

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: _OptExcInfo | None = None
    ) -> Callable[[bytes], None]: ...
    def write(self, data: bytes) -> None: ...
