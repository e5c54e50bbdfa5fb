"""``--metrics`` in the supervisor: the listener, bound at start, the datagram socket the
workers send their snapshots on, and the thread that serves both
(:mod:`granian.server.metrics_http`). See ``docs/observability.md``.
"""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING

from granian.errors import StartupError
from granian.server.metrics_http import MetricsServer
from granian.server.metrics_state import MetricsState
from granian.server.sockets import bind_tcp

if TYPE_CHECKING:
    from granian.config import Config

__all__ = ['Metrics']

#: Kernel buffer for snapshots waiting to be read: a worker's send fails (and the snapshot is
#: dropped) when it is full.
RECEIVE_BUFFER = 1 << 20


class Metrics:
    """The metrics listener and snapshot socket of one server run."""

    def __init__(self, state: MetricsState, server: MetricsServer, worker_end: socket.socket, url: str) -> None:
        self.state = state
        self._server = server
        self._worker_end = worker_end
        self.url = url

    @property
    def worker_fd(self) -> int:
        """The sending end, passed to every worker (``--metrics-fd``)."""
        return self._worker_end.fileno()

    @classmethod
    def start(cls, config: Config) -> Metrics:
        """Binds ``--metrics-address:--metrics-port`` and starts serving.

        Raises:
            StartupError: the listener could not be bound (the message names the option).
        """
        try:
            listener = bind_tcp(config.metrics_address, config.metrics_port, backlog=64)
        except StartupError as exc:
            raise StartupError(f'--metrics: {exc}') from None
        receive, send = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            receive.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        state = MetricsState(config.interface)
        server = MetricsServer(state, listener.sock, receive)
        server.start()
        return cls(state, server, send, listener.url)

    def close(self) -> None:
        self._server.close()
        self._worker_end.close()
