"""The supervisor's metrics listener (``--metrics``): one thread, one selector, no framework.

It serves ``GET /metrics`` (Prometheus text, or OpenMetrics when the ``Accept`` header asks for
it), ``/health/live`` and ``/health/ready``; any other path is a 404. Every answer closes its
connection. A request head may be 8 KiB at most and a connection lives 10 s at most; at most
64 are served at once (more are closed at once). The same selector reads the workers' snapshot
datagrams into the :class:`~granian.server.metrics_state.MetricsState`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
import time

from granian.server.exposition import OPENMETRICS, TEXT, negotiate, render
from granian.server.metrics_state import MetricsState

__all__ = ['MetricsServer']

logger = logging.getLogger('_granian')

MAX_HEAD = 8192
CONN_TIMEOUT = 10.0
MAX_CONNS = 64
#: The largest snapshot datagram read (the kernel's limit is usually lower).
MAX_DATAGRAM = 1 << 20

REASONS = {
    200: 'OK',
    400: 'Bad Request',
    404: 'Not Found',
    405: 'Method Not Allowed',
    431: 'Request Header Fields Too Large',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
}


def respond(state: MetricsState, method: str, target: str, accept: str | None) -> tuple[int, str, bytes]:
    """Status, content type and body for one request (pure: the routing rules)."""
    path = target.split('?', 1)[0]
    if path not in ('/metrics', '/health/live', '/health/ready'):
        return 404, 'text/plain; charset=utf-8', b'not found\n'
    if method not in ('GET', 'HEAD'):
        return 405, 'text/plain; charset=utf-8', b'method not allowed\n'
    if path == '/health/live':
        return 200, 'text/plain; charset=utf-8', b'ok\n'
    if path == '/health/ready':
        if state.ready and not state.stopping:
            return 200, 'text/plain; charset=utf-8', b'ready\n'
        return 503, 'text/plain; charset=utf-8', (b'stopping\n' if state.stopping else b'starting\n')
    openmetrics = negotiate(accept)
    return 200, OPENMETRICS if openmetrics else TEXT, render(state.families(), openmetrics)


def parse_head(head: bytes) -> tuple[str, str, str | None] | None:
    """Method, target and ``Accept`` value of a request head, or None when malformed."""
    try:
        lines = head.decode('latin-1').split('\r\n')
        method, target, version = lines[0].split(' ')
    except ValueError:
        return None
    if not version.startswith('HTTP/1.') or not target.startswith('/'):
        return None
    accept = None
    for line in lines[1:]:
        name, sep, value = line.partition(':')
        if sep and name.strip().lower() == 'accept':
            accept = value.strip() if accept is None else f'{accept}, {value.strip()}'
    return method, target, accept


class _Conn:
    def __init__(self, sock: socket.socket, now: float) -> None:
        self.sock = sock
        self.deadline = now + CONN_TIMEOUT
        self.inbox = b''
        self.outbox = b''


class MetricsServer:
    """Serves ``listener`` and reads snapshot datagrams from ``datagrams`` on a thread."""

    def __init__(self, state: MetricsState, listener: socket.socket, datagrams: socket.socket) -> None:
        self.state = state
        self._listener = listener
        self._datagrams = datagrams
        self._wake_r, self._wake_w = os.pipe()
        self._conns: dict[int, _Conn] = {}
        self._thread = threading.Thread(target=self._run, name='granian-metrics', daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stops the thread and closes every socket it served."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b'x')
        self._thread.join(5)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        self._listener.setblocking(False)
        self._datagrams.setblocking(False)
        sel.register(self._listener, selectors.EVENT_READ, 'accept')
        sel.register(self._datagrams, selectors.EVENT_READ, 'datagram')
        sel.register(self._wake_r, selectors.EVENT_READ, 'stop')
        try:
            while True:
                timeout = None
                if self._conns:
                    timeout = max(0.0, min(c.deadline for c in self._conns.values()) - time.monotonic())
                for key, events in sel.select(timeout):
                    if key.data == 'stop':
                        return
                    if key.data == 'accept':
                        self._accept(sel)
                    elif key.data == 'datagram':
                        self._read_datagrams()
                    else:
                        self._serve(sel, key.data, events)
                now = time.monotonic()
                for conn in [c for c in self._conns.values() if c.deadline <= now]:
                    self._drop(sel, conn)
        finally:
            for conn in list(self._conns.values()):
                self._drop(sel, conn)
            sel.close()
            self._listener.close()
            self._datagrams.close()

    def _accept(self, sel: selectors.BaseSelector) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        if len(self._conns) >= MAX_CONNS:
            sock.close()
            return
        sock.setblocking(False)
        conn = _Conn(sock, time.monotonic())
        self._conns[sock.fileno()] = conn
        sel.register(sock, selectors.EVENT_READ, conn)

    def _read_datagrams(self) -> None:
        while True:
            try:
                data = self._datagrams.recv(MAX_DATAGRAM)
            except OSError:
                return
            self.state.receive(data)

    def _drop(self, sel: selectors.BaseSelector, conn: _Conn) -> None:
        self._conns.pop(conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(conn.sock)
        conn.sock.close()

    def _serve(self, sel: selectors.BaseSelector, conn: _Conn, events: int) -> None:
        if conn.outbox:
            self._flush(sel, conn)
            return
        try:
            data = conn.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b''
        if not data:
            self._drop(sel, conn)
            return
        conn.inbox += data
        end = conn.inbox.find(b'\r\n\r\n')
        if end > MAX_HEAD or (end < 0 and len(conn.inbox) > MAX_HEAD):
            self._answer(sel, conn, 431, 'text/plain; charset=utf-8', b'request head too large\n', True)
            return
        if end < 0:
            return
        request = parse_head(conn.inbox[:end])
        if request is None:
            self._answer(sel, conn, 400, 'text/plain; charset=utf-8', b'bad request\n', True)
            return
        method, target, accept = request
        try:
            status, ctype, body = respond(self.state, method, target, accept)
        except Exception:  # a bug must not end the thread: the next scrape may work
            logger.exception('Cannot render the metrics page')
            status, ctype, body = 500, 'text/plain; charset=utf-8', b'internal error\n'
        self._answer(sel, conn, status, ctype, body, method != 'HEAD')

    def _answer(
        self, sel: selectors.BaseSelector, conn: _Conn, status: int, ctype: str, body: bytes, with_body: bool
    ) -> None:
        head = (
            f'HTTP/1.1 {status} {REASONS[status]}\r\n'
            f'content-type: {ctype}\r\n'
            f'content-length: {len(body)}\r\n'
            'connection: close\r\n\r\n'
        )
        conn.outbox = head.encode() + (body if with_body else b'')
        sel.modify(conn.sock, selectors.EVENT_WRITE, conn)
        self._flush(sel, conn)

    def _flush(self, sel: selectors.BaseSelector, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.outbox)
        except BlockingIOError:
            return
        except OSError:
            self._drop(sel, conn)
            return
        conn.outbox = conn.outbox[sent:]
        if not conn.outbox:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_WR)
            self._drop(sel, conn)
