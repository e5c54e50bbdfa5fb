"""Binding the listening socket the supervisor shares with its workers.

The supervisor binds exactly once, before any worker exists, and passes the file descriptor to
every worker (see ``docs/internal-contract.md``). All workers then accept on the same kernel
queue, and a worker that is replaced never changes the address.

Choices made here:

- TCP sockets get ``SO_REUSEADDR`` so a restart does not fail on connections still in
  ``TIME_WAIT``. ``SO_REUSEPORT`` is not set: one socket is shared, nobody else should bind the
  same port. ``TCP_NODELAY`` is set per connection by the engine, not here.
- For an IPv6 address ``IPV6_V6ONLY`` keeps the OS default. On Linux that is
  ``net.ipv6.bindv6only`` (0 by default), so ``::`` usually accepts IPv4 clients as well.
- The socket stays blocking and non-inheritable in the supervisor: ``subprocess`` hands it to
  the workers through ``pass_fds``, and a child started by a user hook must not keep the port.
- Every failure (bad host, address in use, permission denied, stale or foreign Unix path) is a
  :class:`~granian.errors.StartupError` whose one-line message names the address.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from granian.errors import StartupError

if TYPE_CHECKING:
    from granian.config import Config

__all__ = ['Listener', 'bind', 'bind_tcp', 'bind_unix', 'format_host']

#: Extra words for the errors users hit most, appended to the OS message.
_HINTS = {
    errno.EADDRINUSE: 'is another server running on it?',
    errno.EADDRNOTAVAIL: 'the address does not belong to this host',
}


@dataclass(eq=False)
class Listener:
    """A bound, listening socket and how to show and clean it up.

    Attributes:
        sock: the listening socket; workers receive ``sock.fileno()``.
        url: the address as shown to users: ``http://127.0.0.1:8000``, ``http://[::1]:8000``,
            ``unix:/run/app.sock``. For TCP it holds the real port, also when 0 was asked.
        uds_path: the Unix socket path, or None for TCP.
        _uds_id: ``(st_dev, st_ino)`` of the socket file we created, so :meth:`close` never
            removes a file that someone else put at the same path meanwhile.
    """

    sock: socket.socket
    url: str
    uds_path: str | None = None
    _uds_id: tuple[int, int] | None = None

    @property
    def port(self) -> int | None:
        """The bound TCP port, or None for a Unix socket."""
        if self.uds_path is not None:
            return None
        return int(self.sock.getsockname()[1])

    def fileno(self) -> int:
        """The socket's file descriptor (to pass to workers)."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close the socket and remove the Unix socket file we created. Safe to call twice."""
        self.sock.close()
        path, ident = self.uds_path, self._uds_id
        self._uds_id = None
        if path is None or ident is None:
            return
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == ident:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def bind(config: Config) -> Listener:
    """Bind and listen as ``config`` asks: ``config.uds`` if set, else ``address``/``port``.

    Uses ``config.backlog`` for ``listen()``, ``config.uds_permissions`` for the socket file
    mode, and ``config.ssl_cert`` only to pick ``https`` in the displayed URL.

    Raises:
        StartupError: the socket could not be bound (message names the address).
    """
    if config.uds:
        return bind_unix(config.uds, backlog=config.backlog, permissions=config.uds_permissions)
    scheme = 'https' if config.ssl_cert else 'http'
    return bind_tcp(config.address, config.port, backlog=config.backlog, scheme=scheme)


def format_host(host: str) -> str:
    """Put an IPv6 literal in brackets so that ``host:port`` stays readable."""
    if ':' in host and not host.startswith('['):
        return f'[{host}]'
    return host


def _reason(exc: OSError) -> str:
    """One short lower-case reason for an ``OSError``, plus a hint for the common cases."""
    text = (exc.strerror or str(exc)).rstrip('.')
    if text[1:2].islower():
        text = text[:1].lower() + text[1:]
    hint = _HINTS.get(exc.errno or 0)
    return f'{text} ({hint})' if hint else text


def bind_tcp(host: str, port: int, *, backlog: int, scheme: str = 'http') -> Listener:
    """Bind a TCP socket on ``host``:``port`` and start listening.

    ``host`` may be an IPv4 or IPv6 literal (``::1`` or ``[::1]``), a host name, or empty for
    all interfaces. Names are resolved with ``AI_PASSIVE``; the first address that binds wins.
    ``port`` 0 lets the OS pick a free port; :attr:`Listener.url` shows the real one.

    Raises:
        StartupError: the host does not resolve, the port is out of range, or bind fails.
    """
    host = host.strip()
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1]
    shown = f'{format_host(host) or "*"}:{port}'
    if not 0 <= port <= 65535:
        raise StartupError(f'Cannot bind to {shown}: the port must be between 0 and 65535')
    try:
        infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) and exc.strerror else str(exc)
        raise StartupError(f'Cannot bind to {shown}: cannot resolve host {host!r} ({reason})') from None

    error: OSError | None = None
    for family, type_, proto, _, sockaddr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            error = error or exc
            continue
        bound = sock.getsockname()
        return Listener(sock=sock, url=f'{scheme}://{format_host(bound[0])}:{bound[1]}')

    reason = _reason(error) if error else 'no usable address'
    if error is not None and error.errno == errno.EACCES and 0 < port < 1024:
        reason += ' (ports below 1024 need privileges)'
    raise StartupError(f'Cannot bind to {shown}: {reason}')


def _remove_stale_socket(path: str) -> None:
    """Remove a leftover socket file at ``path``; refuse anything else.

    A socket file that still accepts connections belongs to a running server and is kept.

    Raises:
        StartupError: ``path`` is not a socket, or a server is listening on it.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StartupError(f'Cannot bind to unix:{path}: {_reason(exc)}') from None
    if not stat.S_ISSOCK(st.st_mode):
        raise StartupError(
            f'Cannot bind to unix:{path}: the path exists and is not a socket; remove it or pick another'
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        pass  # refused (or unreachable): nobody listens there any more
    else:
        raise StartupError(f'Cannot bind to unix:{path}: address already in use (another server listens on it)')
    finally:
        probe.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def bind_unix(path: str | os.PathLike[str], *, backlog: int, permissions: int | None = None) -> Listener:
    """Bind a Unix stream socket at ``path`` and start listening.

    A stale socket file is removed first; any other file at ``path`` is refused. When
    ``permissions`` is given (e.g. ``0o660``) the file gets that mode before ``listen()``,
    so no client can connect while the mode is still the umask default.

    Raises:
        StartupError: the path is unusable (exists and is not a socket, in use, too long,
            missing directory, permission denied).
    """
    path = os.fspath(path)
    if not hasattr(socket, 'AF_UNIX'):
        raise StartupError(f'Cannot bind to unix:{path}: Unix sockets are not supported on this platform')
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    created = False
    try:
        sock.bind(path)
        created = True
        if permissions is not None:
            os.chmod(path, permissions)
        sock.listen(backlog)
        st = os.lstat(path)
    except BaseException as exc:
        sock.close()
        if created:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if isinstance(exc, OSError):
            raise StartupError(f'Cannot bind to unix:{path}: {_reason(exc)}') from None
        if isinstance(exc, ValueError):  # e.g. an embedded NUL byte
            raise StartupError(f'Cannot bind to unix:{path!r}: {exc}') from None
        raise
    return Listener(sock=sock, url=f'unix:{path}', uds_path=path, _uds_id=(st.st_dev, st.st_ino))
