"""String enums for the choice-valued settings.

Every enum is a `str` subclass, so members compare equal to their plain values
(`Interfaces.RSGI == 'rsgi'`) and plain strings are accepted wherever a member is.
Lookups by value ignore case: `Interfaces('ASGI') is Interfaces.ASGI`.
"""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """A `str` enum whose `str()` is its value and whose value lookup ignores case."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _missing_(cls, value: object) -> StrEnum | None:
        if isinstance(value, str):
            folded = value.lower()
            for member in cls:
                if member.value == folded:
                    return member
        return None

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """All member values, in declaration order."""
        return tuple(member.value for member in cls)


class Interfaces(StrEnum):
    """Application protocol spoken to the app."""

    ASGI = 'asgi'
    #: ASGI without the lifespan protocol.
    ASGINL = 'asginl'
    RSGI = 'rsgi'
    WSGI = 'wsgi'


class HTTPModes(StrEnum):
    """HTTP versions served on the listening socket."""

    auto = 'auto'
    http1 = '1'
    http2 = '2'


class RuntimeModes(StrEnum):
    """Layout of the Rust I/O runtime inside a worker."""

    auto = 'auto'
    #: One multi-thread runtime.
    mt = 'mt'
    #: Independent single-thread runtimes.
    st = 'st'


class Loops(StrEnum):
    """Event loop implementation for async interfaces."""

    auto = 'auto'
    asyncio = 'asyncio'
    rloop = 'rloop'
    uvloop = 'uvloop'
    winloop = 'winloop'


class TaskImpl(StrEnum):
    """asyncio Task implementation."""

    asyncio = 'asyncio'
    rust = 'rust'


class SSLProtocols(StrEnum):
    """Minimum TLS protocol version."""

    tls12 = 'tls1.2'
    tls13 = 'tls1.3'


class ThreadModes(StrEnum):
    """1.x name of the runtime layout (`threading_mode`): `workers` = `st`, `runtime` = `mt`."""

    runtime = 'runtime'
    workers = 'workers'
