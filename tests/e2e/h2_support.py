"""HTTP/2 clients for wire-level tests: `H2Client` (the h2 library's state machine over a socket,
plain or TLS) and `RawH2` (hand-made frames, for what a well-behaved client never sends).

Every wait is bounded: a helper that does not see what it waits for raises AssertionError
with what it saw instead.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hpack
import hyperframe.frame as hf

PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'


def connect(host: str, port: int, ssl_context: ssl.SSLContext | None = None, timeout: float = 5.0) -> socket.socket:
    """A TCP socket to `host:port`, wrapped in TLS (SNI/verification against `host`) when asked."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if ssl_context is not None:
        sock = ssl_context.wrap_socket(sock, server_hostname=host)
    return sock


@dataclass
class Stream:
    """What the client saw of one stream."""

    headers: list[tuple[bytes, bytes]] | None = None
    data: bytearray = field(default_factory=bytearray)
    ended: bool = False
    #: error code of a RST_STREAM from the server, None if none came.
    reset: int | None = None
    #: when each DATA frame arrived (monotonic), with its length.
    arrivals: list[tuple[float, int]] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        if self.headers is None:
            return None
        return int(dict(self.headers)[b':status'])

    def header(self, name: bytes) -> bytes | None:
        return dict(self.headers or ()).get(name)

    @property
    def finished(self) -> bool:
        return self.ended or self.reset is not None


class _FollowsGracefulGoaway(h2.connection.H2Connection):
    """h2's connection, except that a GOAWAY with NO_ERROR leaves it open: streams the server
    already accepted go on until they end, as RFC 9113 section 6.8 allows and browsers, curl and
    nghttp2 do. (h2 closes its state machine on any GOAWAY, python-hyper/h2#1181, and then
    fails on the next frame of such a stream.)"""

    def _receive_goaway_frame(self, frame: hf.GoAwayFrame) -> tuple[list[hf.Frame], list[h2.events.Event]]:
        frames, events = super()._receive_goaway_frame(frame)
        if frame.error_code == h2.errors.ErrorCodes.NO_ERROR:
            self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return frames, events


class H2Client:
    """A client connection driven by the h2 library.

    `auto_ack=False` keeps received DATA unacknowledged (no WINDOW_UPDATE ever goes out), which
    makes the client a reader that never reads as far as flow control is concerned. Call
    `ack(stream_id)` to give the window back. `follow_graceful_goaway=True` lets the streams
    open at a graceful GOAWAY finish (see `_FollowsGracefulGoaway`).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 5.0,
        auto_ack: bool = True,
        initial_window: int | None = None,
        connection_window: int | None = None,
        sock: socket.socket | None = None,
        follow_graceful_goaway: bool = False,
    ) -> None:
        self.sock = sock if sock is not None else connect(host, port, ssl_context, timeout)
        self.authority = f'{host}:{port}'
        self.scheme = 'https' if isinstance(self.sock, ssl.SSLSocket) else 'http'
        self.auto_ack = auto_ack
        connection = _FollowsGracefulGoaway if follow_graceful_goaway else h2.connection.H2Connection
        self.conn = connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        if initial_window is not None:
            self.conn.local_settings = h2.settings.Settings(
                client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window}
            )
        self.streams: dict[int, Stream] = {}
        #: the server's SETTINGS as received (setting code -> value), cumulative.
        self.server_settings: dict[int, int] = {}
        #: increments of WINDOW_UPDATE frames on stream 0, in order.
        self.connection_window_updates: list[int] = []
        #: monotonic arrival time of each PING the server sent (acknowledged by h2 automatically).
        self.pings: list[float] = []
        #: how many SETTINGS and PING frames of ours the server acknowledged.
        self.settings_acks = 0
        self.ping_acks = 0
        #: the ConnectionTerminated event (GOAWAY), if one came.
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.eof = False
        self.unacked = 0
        self.conn.initiate_connection()
        if connection_window is not None:
            # The connection window starts at the protocol's 65535 whatever SETTINGS say.
            self.conn.increment_flow_control_window(connection_window - 65535)
        self.flush()

    # --- plumbing ----------------------------------------------------------------------------

    def __enter__(self) -> H2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def closed(self) -> bool:
        """The server ended the connection (GOAWAY or EOF/reset; with `follow_graceful_goaway`,
        a GOAWAY with NO_ERROR does not count: the open streams go on)."""
        if self.eof:
            return True
        if self.goaway is None:
            return False
        graceful = self.goaway.error_code == h2.errors.ErrorCodes.NO_ERROR
        return not (graceful and isinstance(self.conn, _FollowsGracefulGoaway))

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.eof:
            try:
                self.sock.sendall(data)
            except OSError:
                self.eof = True

    def pump(self, timeout: float = 0.1) -> None:
        """Read what the server sent within `timeout` (at most one read) and handle it."""
        if self.eof:
            time.sleep(timeout)
            return
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except (TimeoutError, ssl.SSLWantReadError):
            return
        except OSError:
            self.eof = True
            return
        if not data:
            self.eof = True
            return
        for event in self.conn.receive_data(data):
            self._handle(event)
        self.flush()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            for code, change in event.changed_settings.items():
                self.server_settings[int(code)] = change.new_value
        elif isinstance(event, h2.events.WindowUpdated) and event.stream_id == 0:
            self.connection_window_updates.append(event.delta)
        elif isinstance(event, h2.events.PingReceived):
            self.pings.append(time.monotonic())
        elif isinstance(event, h2.events.PingAckReceived):
            self.ping_acks += 1
        elif isinstance(event, h2.events.SettingsAcknowledged):
            self.settings_acks += 1
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
        elif isinstance(event, h2.events.ResponseReceived):
            self.stream(event.stream_id).headers = list(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            stream = self.stream(event.stream_id)
            stream.data += event.data
            stream.arrivals.append((time.monotonic(), len(event.data)))
            if self.auto_ack:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            else:
                self.unacked += event.flow_controlled_length
        elif isinstance(event, h2.events.StreamEnded):
            self.stream(event.stream_id).ended = True
        elif isinstance(event, h2.events.StreamReset):
            self.stream(event.stream_id).reset = int(event.error_code)

    def stream(self, stream_id: int) -> Stream:
        return self.streams.setdefault(stream_id, Stream())

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = 'condition') -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f'{what} not reached within {timeout}s (goaway={self.goaway}, eof={self.eof})')
            if self.closed:
                # Nothing more will come; one last look at what is buffered is all there is.
                self.pump(0.01)
                if not predicate():
                    raise AssertionError(f'connection closed before {what} (goaway={self.goaway}, eof={self.eof})')
                return
            self.pump(0.05)

    def wait_settings(self, timeout: float = 5.0) -> dict[int, int]:
        self.wait_for(lambda: bool(self.server_settings), timeout, 'the server SETTINGS')
        return self.server_settings

    def wait_closed(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.closed:
            if time.monotonic() > deadline:
                raise AssertionError(f'connection still open after {timeout}s')
            self.pump(0.05)

    # --- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str = 'GET',
        path: str = '/',
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
        end_stream: bool = True,
    ) -> int:
        """Open a stream; sends `body` (flow control permitting) and ends the stream if asked."""
        stream_id = self.conn.get_next_available_stream_id()
        head = [
            (':method', method),
            (':scheme', self.scheme),
            (':authority', self.authority),
            (':path', path),
            *headers,
        ]
        self.stream(stream_id)
        self.conn.send_headers(stream_id, head, end_stream=end_stream and not body)
        self.flush()
        if body:
            self.send_body(stream_id, body, end_stream=end_stream)
        return stream_id

    def send_body(self, stream_id: int, data: bytes, end_stream: bool = False, timeout: float = 10.0) -> None:
        """Send `data` on a stream, waiting for window when flow control says so."""
        view = memoryview(data)
        while view:
            window = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.wait_for(
                    lambda: self.conn.local_flow_control_window(stream_id) > 0, timeout, 'send window to open'
                )
                continue
            self.conn.send_data(stream_id, view[:window].tobytes())
            view = view[window:]
            self.flush()
        if end_stream:
            self.conn.end_stream(stream_id)
            self.flush()

    def end(self, stream_id: int) -> None:
        self.conn.end_stream(stream_id)
        self.flush()

    def reset(self, stream_id: int, code: int = h2.errors.ErrorCodes.CANCEL) -> None:
        self.conn.reset_stream(stream_id, code)
        self.flush()

    def ack(self, stream_id: int) -> None:
        """Give back the window of everything received but not yet acknowledged."""
        if self.unacked:
            self.conn.acknowledge_received_data(self.unacked, stream_id)
            self.unacked = 0
            self.flush()

    def response(self, stream_id: int, timeout: float = 10.0) -> Stream:
        stream = self.stream(stream_id)
        self.wait_for(lambda: stream.finished, timeout, f'the end of stream {stream_id}')
        return stream

    def get(self, path: str = '/', timeout: float = 10.0, **kwargs) -> Stream:
        return self.response(self.request('GET', path, **kwargs), timeout)


class RawH2:
    """A socket that speaks HTTP/2 by hand-made frames (for attacks and protocol violations).

    Sends the preface and an empty SETTINGS on creation. `encoder` keeps HPACK state across
    header blocks, as a real client would.
    """

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None, timeout: float = 5.0) -> None:
        self.sock = connect(host, port, ssl_context, timeout)
        self.authority = f'{host}:{port}'
        self.encoder = hpack.Encoder()
        self.buf = b''
        self.frames: list[hf.Frame] = []
        self.eof = False
        self.send(PREFACE + hf.SettingsFrame(0).serialize())

    def __enter__(self) -> RawH2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes, timeout: float = 10.0) -> bool:
        """Send everything, or stop when the server closed or stopped reading for `timeout`.

        Returns True when all of `data` went out.
        """
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        except (TimeoutError, OSError):
            return False
        return True

    def header_block(self, path: str = '/', extra: Iterable[tuple[str, str]] = ()) -> bytes:
        return self.encoder.encode(
            [(':method', 'GET'), (':scheme', 'http'), (':authority', self.authority), (':path', path), *extra]
        )

    def read(self, duration: float, until: Callable[[hf.Frame], bool] | None = None) -> list[hf.Frame]:
        """Collect frames for up to `duration` seconds, stopping at EOF or at a frame `until` accepts."""
        deadline = time.monotonic() + duration
        start = len(self.frames)
        while not self.eof and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, min(0.1, deadline - time.monotonic())))
            try:
                data = self.sock.recv(1 << 20)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            except OSError:
                self.eof = True
                break
            if not data:
                self.eof = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                frame, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                frame.parse_body(memoryview(self.buf[9 : 9 + length]))
                self.buf = self.buf[9 + length :]
                self.frames.append(frame)
                if until is not None and until(frame):
                    return self.frames[start:]
        return self.frames[start:]

    @property
    def goaway(self) -> hf.GoAwayFrame | None:
        return next((f for f in self.frames if isinstance(f, hf.GoAwayFrame)), None)

    def wait_closed(self, timeout: float = 10.0) -> str:
        """Wait for GOAWAY or EOF; returns a description of which (AssertionError if neither)."""
        self.read(timeout, until=lambda f: isinstance(f, hf.GoAwayFrame))
        if self.goaway is not None:
            return f'GOAWAY({self.goaway.error_code}, {self.goaway.additional_data!r})'
        if self.eof:
            return 'EOF'
        raise AssertionError(f'connection still open after {timeout}s; frames: {self.frames[-5:]}')
