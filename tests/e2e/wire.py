"""Raw-socket HTTP/1.1 client for wire-level tests: send exact bytes, parse exact responses."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    """One response as read off the wire."""

    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b''
    #: the body bytes exactly as received (chunk framing included).
    raw_body: bytes = b''
    chunks: list[bytes] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def chunked(self) -> bool:
        return 'chunked' in (self.header('transfer-encoding') or '').lower()


def narrow_socket(host: str, port: int, rcvbuf: int = 4096, timeout: float = 5.0) -> socket.socket:
    """A TCP socket to `host:port` whose receive buffer (hence its TCP window) is `rcvbuf` bytes,
    set before connecting: a client that stops reading blocks the server's writes quickly."""
    sock = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect((host, port))
    return sock


class Conn:
    """A client socket with a read buffer and a small HTTP/1.1 response parser.

    `rcvbuf`: connect with a receive buffer that small (see `narrow_socket`).
    """

    def __init__(self, host: str, port: int, timeout: float = 5.0, rcvbuf: int | None = None) -> None:
        if rcvbuf is None:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        else:
            self.sock = narrow_socket(host, port, rcvbuf, timeout)
        self.buf = b''

    @classmethod
    def unix(cls, path: str, timeout: float = 5.0) -> Conn:
        conn = cls.__new__(cls)
        conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.sock.settimeout(timeout)
        conn.sock.connect(path)
        conn.buf = b''
        return conn

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        """Read more bytes into the buffer; False on EOF."""
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self._fill():
                raise EOFError(f'connection closed while waiting for {marker!r}; got {self.buf[:200]!r}')
        head, self.buf = self.buf.split(marker, 1)
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f'connection closed with {len(self.buf)}/{n} body bytes read')
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _read_to_eof(self) -> bytes:
        while self._fill():
            pass
        data, self.buf = self.buf, b''
        return data

    def read_head(self) -> RawResponse:
        head = self._read_until(b'\r\n\r\n').decode('latin-1')
        status_line, *lines = head.split('\r\n')
        version, status, *reason = status_line.split(' ', 2)
        headers = []
        for line in lines:
            name, _, value = line.partition(':')
            headers.append((name.strip().lower(), value.strip()))
        return RawResponse(version, int(status), reason[0] if reason else '', headers)

    def read_response(self, head_request: bool = False) -> RawResponse:
        """Read one response; 1xx responses are returned on their own (read again for the final one)."""
        resp = self.read_head()
        if head_request or 100 <= resp.status < 200 or resp.status in (204, 304):
            return resp
        if resp.chunked:
            raw = b''
            while True:
                size_line = self._read_until(b'\r\n')
                raw += size_line + b'\r\n'
                size = int(size_line.split(b';')[0], 16)
                data = self._read_exact(size + 2)
                raw += data
                assert data.endswith(b'\r\n'), f'bad chunk terminator: {data[-2:]!r}'
                if size == 0:
                    break
                resp.chunks.append(data[:-2])
            resp.raw_body = raw
            resp.body = b''.join(resp.chunks)
        elif resp.header('content-length') is not None:
            resp.body = resp.raw_body = self._read_exact(int(resp.header('content-length')))
        else:
            resp.body = resp.raw_body = self._read_to_eof()
        return resp

    def request(self, data: bytes, head_request: bool = False) -> RawResponse:
        self.send(data)
        return self.read_response(head_request=head_request)

    def wait_closed(self, timeout: float) -> bool:
        """True if the server closes the connection within `timeout` (bytes before EOF are kept)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    if not self._fill():
                        return True
                except TimeoutError:
                    return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        return False

    def idle(self, timeout: float) -> bool:
        """True if nothing arrives (and the socket stays open) for `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        self.buf += data
        return False


def get(path: str = '/', host: str = 'localhost', headers: dict[str, str] | None = None, method: str = 'GET') -> bytes:
    """A request head with no body."""
    lines = [f'{method} {path} HTTP/1.1', f'Host: {host}']
    lines += [f'{name}: {value}' for name, value in (headers or {}).items()]
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')
