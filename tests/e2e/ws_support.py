"""Raw WebSocket (RFC 6455) helpers for wire-level tests: hand-made frames over a plain socket.

- `build_frame` makes one frame exactly as asked (masked like a client must, or not, with any
  FIN/RSV bits and opcode), so a test can also send frames a real client never would;
- `parse_frame` reads one frame back off a byte buffer (`None` while it is incomplete);
- `WsConn` is a `wire.Conn` that performs the HTTP/1.1 upgrade by hand and then sends and reads
  frames, keeping whatever bytes arrived right after the handshake response.

Nothing here negotiates an extension: the raw handshake offers none, so every RSV bit a test
sets is one the server must reject.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import struct
import time
from dataclasses import dataclass

from e2e.wire import Conn, RawResponse

#: RFC 6455 section 1.3: appended to the client key before hashing.
WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)


def make_key() -> str:
    """A fresh `Sec-WebSocket-Key`: 16 random bytes, base64."""
    return base64.b64encode(os.urandom(16)).decode('ascii')


def accept_for(key: str) -> str:
    """The `Sec-WebSocket-Accept` a server must answer to `key`."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode('ascii')).digest()).decode('ascii')


def apply_mask(payload: bytes, mask_key: bytes) -> bytes:
    """XOR `payload` with the 4-byte `mask_key` (masking and unmasking are the same operation)."""
    if not payload:
        return b''
    repeated = (mask_key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, 'big') ^ int.from_bytes(repeated, 'big')).to_bytes(len(payload), 'big')


@dataclass
class Frame:
    """One frame as read off the wire (payload already unmasked)."""

    fin: bool
    rsv: int  # the three RSV bits, RSV1 = 4, RSV2 = 2, RSV3 = 1
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close_code(self) -> int | None:
        return parse_close(self.payload)[0] if self.opcode == OP_CLOSE else None

    @property
    def close_reason(self) -> str | None:
        return parse_close(self.payload)[1] if self.opcode == OP_CLOSE else None


def build_frame(
    opcode: int,
    payload: bytes = b'',
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    mask_key: bytes | None = None,
) -> bytes:
    """Serialize one frame. Client frames must be masked (the default); `mask=False` makes a bad one."""
    assert 0 <= opcode <= 0xF and 0 <= rsv <= 7
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack('!BB', first, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack('!BBH', first, mask_bit | 126, length)
    else:
        head = struct.pack('!BBQ', first, mask_bit | 127, length)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    assert len(key) == 4
    return head + key + apply_mask(payload, key)


def close_payload(code: int | None = 1000, reason: str = '') -> bytes:
    """The body of a close frame: 2-byte code then UTF-8 reason (empty when `code` is None)."""
    if code is None:
        return b''
    return struct.pack('!H', code) + reason.encode('utf-8')


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """`(code, reason)` of a close frame body; `(None, '')` for an empty one."""
    if len(payload) < 2:
        return None, ''
    return struct.unpack('!H', payload[:2])[0], payload[2:].decode('utf-8', 'replace')


def parse_frame(buf: bytes) -> tuple[Frame, bytes] | None:
    """Parse one frame from the start of `buf`: `(frame, rest)`, or None if more bytes are needed."""
    if len(buf) < 2:
        return None
    first, second = buf[0], buf[1]
    masked = bool(second & 0x80)
    length = second & 0x7F
    pos = 2
    if length == 126:
        if len(buf) < pos + 2:
            return None
        (length,) = struct.unpack('!H', buf[pos : pos + 2])
        pos += 2
    elif length == 127:
        if len(buf) < pos + 8:
            return None
        (length,) = struct.unpack('!Q', buf[pos : pos + 8])
        pos += 8
    mask_key = b''
    if masked:
        if len(buf) < pos + 4:
            return None
        mask_key = buf[pos : pos + 4]
        pos += 4
    if len(buf) < pos + length:
        return None
    payload = bytes(buf[pos : pos + length])
    if masked:
        payload = apply_mask(payload, mask_key)
    frame = Frame(fin=bool(first & 0x80), rsv=(first >> 4) & 0x7, opcode=first & 0x0F, masked=masked, payload=payload)
    return frame, bytes(buf[pos + length :])


def upgrade_request(
    path: str = '/',
    key: str | None = None,
    headers: dict[str, str] | None = None,
    host: str = 'localhost',
    omit: tuple[str, ...] = (),
) -> bytes:
    """An HTTP/1.1 upgrade request head; `omit` drops default headers by (case-insensitive) name."""
    fields = {
        'Host': host,
        'Upgrade': 'websocket',
        'Connection': 'Upgrade',
        'Sec-WebSocket-Key': key or make_key(),
        'Sec-WebSocket-Version': '13',
    }
    dropped = {name.lower() for name in omit}
    fields = {name: value for name, value in fields.items() if name.lower() not in dropped}
    fields.update(headers or {})
    lines = [f'GET {path} HTTP/1.1', *(f'{name}: {value}' for name, value in fields.items())]
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')


class WsConn(Conn):
    """A raw client connection: manual upgrade, then frames in both directions."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, rcvbuf: int | None = None) -> None:
        super().__init__(host, port, timeout=timeout, rcvbuf=rcvbuf)
        self.key = make_key()
        self.handshake_response: RawResponse | None = None

    def handshake(self, path: str = '/echo', headers: dict[str, str] | None = None) -> RawResponse:
        """Send the upgrade request and read the response head only (frames that follow stay buffered).

        Returns the head whatever its status; callers check for 101.
        """
        self.send(upgrade_request(path, self.key, headers))
        resp = self.read_head()
        self.handshake_response = resp
        return resp

    def open(self, path: str = '/echo', headers: dict[str, str] | None = None) -> RawResponse:
        """`handshake`, asserting a correct 101 answer."""
        resp = self.handshake(path, headers)
        assert resp.status == 101, f'upgrade refused: {resp.status} {resp.headers}'
        assert (resp.header('sec-websocket-accept') or '') == accept_for(self.key), resp.headers
        return resp

    # --- sending ---------------------------------------------------------------------------

    def send_frame(self, opcode: int, payload: bytes = b'', **kwargs) -> None:
        self.send(build_frame(opcode, payload, **kwargs))

    def send_text(self, text: str) -> None:
        self.send_frame(OP_TEXT, text.encode('utf-8'))

    def send_binary(self, data: bytes) -> None:
        self.send_frame(OP_BINARY, data)

    def send_close(self, code: int | None = 1000, reason: str = '') -> None:
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    # --- reading ---------------------------------------------------------------------------

    def recv_frame(self, timeout: float = 5.0) -> Frame:
        """The next frame. Raises EOFError if the connection ends first, TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = parse_frame(self.buf)
            if parsed is not None:
                frame, self.buf = parsed
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f'no complete frame within {timeout}s (buffered {self.buf[:40]!r})')
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError as exc:
                raise EOFError('connection reset while waiting for a frame') from exc
            if not data:
                raise EOFError(f'connection closed while waiting for a frame (buffered {self.buf[:40]!r})')
            self.buf += data

    def recv_non_ping(self, timeout: float = 5.0) -> Frame:
        """The next frame that is not a server ping (pings are answered with a pong)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if frame.opcode != OP_PING:
                return frame
            with contextlib.suppress(OSError):
                self.send_frame(OP_PONG, frame.payload)

    def recv_message(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """A whole data message `(opcode, payload)`, reassembled from fragments.

        Pings are answered; a close frame comes back as `(OP_CLOSE, payload)`; a pong is skipped.
        """
        deadline = time.monotonic() + timeout
        opcode = None
        parts: list[bytes] = []
        while True:
            frame = self.recv_non_ping(max(0.01, deadline - time.monotonic()))
            if frame.opcode == OP_PONG:
                continue
            if frame.opcode == OP_CLOSE:
                return OP_CLOSE, frame.payload
            if opcode is None:
                assert frame.opcode in (OP_TEXT, OP_BINARY), f'message starts with opcode {frame.opcode:#x}'
                opcode = frame.opcode
            else:
                assert frame.opcode == OP_CONT, f'opcode {frame.opcode:#x} inside a fragmented message'
            parts.append(frame.payload)
            if frame.fin:
                return opcode, b''.join(parts)

    def recv_close(self, timeout: float = 5.0) -> Frame:
        """Skip data frames, pongs (and answer pings) until a close frame arrives; return it."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv_non_ping(max(0.01, deadline - time.monotonic()))
            if frame.opcode == OP_CLOSE:
                return frame

    def wait_eof(self, timeout: float = 5.0) -> bool:
        """True once the server ended the TCP connection (EOF or reset) within `timeout`.

        Whatever arrives meanwhile is kept in the buffer (see `frames_in_buffer`).
        """
        return self.wait_closed(timeout)

    def frames_in_buffer(self) -> list[Frame]:
        """Parse every complete frame currently buffered (consumes them)."""
        frames = []
        while (parsed := parse_frame(self.buf)) is not None:
            frame, self.buf = parsed
            frames.append(frame)
        return frames
