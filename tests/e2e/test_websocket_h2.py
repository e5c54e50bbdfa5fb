"""WebSockets over HTTP/2 (RFC 8441 extended CONNECT), driven with the h2 library.

The client reads the server's SETTINGS_ENABLE_CONNECT_PROTOCOL, opens a stream with
`:method CONNECT` and `:protocol websocket`, and then carries RFC 6455 frames in DATA frames.
"""

from __future__ import annotations

import os
import struct

import h2.settings
import pytest

from .h2_support import H2Client

ENABLE_CONNECT_PROTOCOL = int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
APPS = {'asgi': 'ws_h2_echo:app', 'rsgi': 'ws_h2_echo:rsgi_app'}
#: The first message each app sends: its scope's HTTP version and scheme (ASGI says `ws`,
#: RSGI keeps `http` for WebSocket scopes).
GREETING = {'asgi': (0x1, b'2 ws'), 'rsgi': (0x1, b'2 http')}


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final client frame."""
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack('!H', n)
    else:
        head += bytes([0x80 | 127]) + struct.pack('!Q', n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parse_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """Complete server frames (unmasked) at the start of `buf`, removed from it."""
    frames = []
    while len(buf) >= 2:
        opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
        at = 2
        if n == 126:
            if len(buf) < 4:
                break
            n, at = struct.unpack('!H', buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, at = struct.unpack('!Q', buf[2:10])[0], 10
        if len(buf) < at + n:
            break
        frames.append((opcode, bytes(buf[at : at + n])))
        del buf[: at + n]
    return frames


class WsOverH2:
    """One WebSocket on one HTTP/2 stream."""

    def __init__(self, client: H2Client, path: str = '/ws') -> None:
        self.client = client
        client.wait_for(lambda: ENABLE_CONNECT_PROTOCOL in client.server_settings, what='server SETTINGS')
        assert client.server_settings[ENABLE_CONNECT_PROTOCOL] == 1
        self.stream_id = client.conn.get_next_available_stream_id()
        client.conn.send_headers(
            self.stream_id,
            [
                (b':method', b'CONNECT'),
                (b':protocol', b'websocket'),
                (b':scheme', client.scheme.encode()),
                (b':path', path.encode()),
                (b':authority', client.authority.encode()),
                (b'sec-websocket-version', b'13'),
            ],
        )
        client.flush()
        self.stream = client.stream(self.stream_id)
        client.wait_for(lambda: self.stream.headers is not None, what='CONNECT response')
        self.buf = bytearray()
        self.seen = 0

    def send(self, opcode: int, payload: bytes) -> None:
        data = client_frame(opcode, payload)
        step = self.client.conn.max_outbound_frame_size
        for at in range(0, len(data), step):
            self.client.conn.send_data(self.stream_id, data[at : at + step])
        self.client.flush()

    def recv(self) -> tuple[int, bytes]:
        frames: list[tuple[int, bytes]] = []

        def got() -> bool:
            self.buf += self.stream.data[self.seen :]
            self.seen = len(self.stream.data)
            frames.extend(parse_frames(self.buf))
            return bool(frames)

        self.client.wait_for(got, what='a WebSocket frame')
        frame = frames.pop(0)
        assert not frames, 'one frame at a time'
        return frame


@pytest.fixture(scope='module', params=sorted(APPS))
def srv(request, module_server):
    srv = module_server(APPS[request.param], '--interface', request.param, '--http', '2')
    srv.greeting = GREETING[request.param]
    return srv


def test_extended_connect_echoes_text_and_bytes(srv):
    with H2Client(srv.host, srv.port) as client:
        ws = WsOverH2(client)
        assert ws.stream.status == 200
        assert ws.recv() == srv.greeting
        ws.send(0x1, 'héllo'.encode())
        assert ws.recv() == (0x1, 'héllo'.encode())
        ws.send(0x2, b'\x00\xff' * 40_000)
        assert ws.recv() == (0x2, b'\x00\xff' * 40_000)
        ws.send(0x8, struct.pack('!H', 1000))
        opcode, payload = ws.recv()
        assert opcode == 0x8 and payload[:2] == struct.pack('!H', 1000)


def test_many_websockets_share_one_connection(srv):
    with H2Client(srv.host, srv.port) as client:
        sockets = [WsOverH2(client, f'/ws/{i}') for i in range(8)]
        for ws in sockets:
            assert ws.recv() == srv.greeting
        for i, ws in enumerate(sockets):
            ws.send(0x1, f'message {i}'.encode())
        for i, ws in enumerate(sockets):
            assert ws.recv() == (0x1, f'message {i}'.encode())


def test_plain_requests_still_served_beside_websockets(srv):
    with H2Client(srv.host, srv.port) as client:
        ws = WsOverH2(client)
        assert ws.recv()[0] == 0x1
        stream = client.get('/')
        assert stream.status == 200 and bytes(stream.data) == b'plain http'


def test_no_ws_does_not_announce_extended_connect(server):
    srv = server(APPS['asgi'], '--interface', 'asgi', '--http', '2', '--no-ws')
    with H2Client(srv.host, srv.port) as client:
        client.wait_for(lambda: client.settings_acks > 0 or bool(client.server_settings), what='server SETTINGS')
        client.pump(0.2)
        assert client.server_settings.get(ENABLE_CONNECT_PROTOCOL, 0) == 0
