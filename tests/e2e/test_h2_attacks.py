"""Known HTTP/2 attacks must not take the server down.

Each test sends one attack over a raw socket, then checks that a second client is served within
a few seconds by the same worker, and, where hyper/h2 defend by closing the connection, that the
attacking connection got a GOAWAY or was closed. What the h2 state machine can express (rapid
reset, SETTINGS and PING floods) is sent with it; what it refuses to produce (endless
CONTINUATION, hand-made HPACK) is built with its framing and HPACK layers (hyperframe, hpack).

Floods of frames that do nothing (empty DATA, WINDOW_UPDATE, PRIORITY, RST_STREAM of closed
streams, unknown types, empty CONTINUATION) are ended by the server's flood guard with GOAWAY
ENHANCE_YOUR_CALM; a flooder that reads none of the answers is closed by the write timeout.

Every loop is bounded: a few thousand frames, a few MiB at most (the never-reading flood sends
some 15 MiB, enough to fill both kernels' buffers twice over).
"""

import contextlib
import re
import socket
import struct
import threading
import time
from pathlib import Path

import h2.errors
import h2.settings
import hpack
import httpx
import hyperframe.frame as hf
import pytest

from e2e.asgi_support import proc_status_kib, worker_pid
from e2e.h2_support import PREFACE, H2Client, RawH2
from e2e.wire import narrow_socket

MiB = 1024 * 1024
APPS = {'rsgi': 'h2_apps:rsgi_app', 'asgi': 'h2_apps:asgi_app'}
ENHANCE_YOUR_CALM = h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
#: How long the second client may wait for its answer after an attack.
SERVE_WITHIN = 3.0


@pytest.fixture(scope='module', params=list(APPS))
def srv(request, module_server):
    return module_server(APPS[request.param], '--interface', request.param)


@pytest.fixture(scope='module')
def rsgi_srv(module_server):
    return module_server(APPS['rsgi'], '--interface', 'rsgi')


@pytest.fixture(scope='module')
def calm_srv(module_server):
    """A short write timeout: a client that reads nothing is closed within seconds (the debug
    log says why each connection ended)."""
    return module_server(APPS['rsgi'], '--interface', 'rsgi', '--write-timeout', '2', '--log-level', 'debug')


@pytest.fixture(scope='module')
def small_headers_srv(module_server):
    return module_server(APPS['rsgi'], '--interface', 'rsgi', '--http2-max-headers-size', '8192')


def assert_still_served(srv):
    """A fresh HTTP/2 client gets its answer quickly, from the one worker that ever ran."""
    started = time.monotonic()
    with httpx.Client(base_url=srv.url, http1=False, http2=True, timeout=SERVE_WITHIN) as client:
        resp = client.get('/sleep?secs=0')
    assert (resp.status_code, resp.http_version, resp.text) == (200, 'HTTP/2', 'slept')
    assert time.monotonic() - started < SERVE_WITHIN
    assert srv.alive()
    assert len(re.findall(r'Spawning worker-', srv.log())) == 1, srv.log()


def blast(client: H2Client, timeout: float = 5.0) -> bool:
    """Send what the h2 state machine queued in one go; False if the server stopped reading."""
    data = client.conn.data_to_send()
    client.sock.settimeout(timeout)
    try:
        client.sock.sendall(data)
    except OSError:
        return False
    return True


# --- rapid reset (CVE-2023-44487) ---------------------------------------------------------------


def test_rapid_reset(srv):
    pairs = 2000
    with H2Client(srv.host, srv.port) as client:
        client.wait_settings()
        for _ in range(pairs):
            sid = client.conn.get_next_available_stream_id()
            client.conn.send_headers(
                sid,
                [(':method', 'GET'), (':scheme', 'http'), (':authority', client.authority), (':path', '/sleep?secs=1')],
                end_stream=True,
            )
            client.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        blast(client)
        client.wait_closed(5)
        if client.goaway is not None:
            assert client.goaway.error_code == ENHANCE_YOUR_CALM, client.goaway
            # The server stopped early: far fewer streams than were sent ever reached the app.
            assert client.goaway.last_stream_id < 2 * pairs
    assert_still_served(srv)


def test_reset_after_each_response_starts_is_harmless(srv):
    """The slower variant: each stream is reset once the server answered its headers."""
    with H2Client(srv.host, srv.port) as client:
        for _ in range(300):
            sid = client.request('GET', '/produce?tag=reset-loop&total=1048576')
            client.wait_for(lambda s=sid: client.stream(s).headers is not None or client.closed, 5, 'headers')
            if client.closed:
                break
            client.reset(sid)
        # Either the server keeps serving this connection or it sent it away; both are fine.
        if not client.closed:
            assert client.get('/').status == 200
    assert_still_served(srv)


# --- CONTINUATION flood -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('frames', 'payload'),
    [(4000, 1000), (100_000, 0)],
    ids=['4MB-of-continuations', '100k-empty-continuations'],
)
def test_continuation_flood(rsgi_srv, frames, payload):
    with RawH2(rsgi_srv.host, rsgi_srv.port) as raw:
        block = raw.header_block('/')
        filler = raw.encoder.encode([('x-filler', 'f' * max(payload - 20, 1))]) if payload else b''
        head = hf.HeadersFrame(1, block, flags=['END_STREAM'])  # no END_HEADERS, ever
        flood = head.serialize() + b''.join(hf.ContinuationFrame(1, filler).serialize() for _ in range(frames))
        raw.send(flood, timeout=5)
        how = raw.wait_closed(5)
        if raw.goaway is not None:
            assert raw.goaway.error_code in (ENHANCE_YOUR_CALM, h2.errors.ErrorCodes.PROTOCOL_ERROR), how
        assert not any(isinstance(f, hf.HeadersFrame) for f in raw.frames)
    assert_still_served(rsgi_srv)


def test_continuation_beyond_max_headers_size(small_headers_srv):
    """A header block spread over CONTINUATION frames far past `--http2-max-headers-size`: h2
    closes the connection as soon as the buffered block outgrows the limit."""
    srv = small_headers_srv
    with RawH2(srv.host, srv.port) as raw:
        flood = hf.HeadersFrame(1, raw.header_block('/'), flags=['END_STREAM']).serialize()
        for i in range(200):  # 200 x ~1 KiB of headers against an 8 KiB limit
            flood += hf.ContinuationFrame(1, raw.encoder.encode([(f'x-h{i}', 'v' * 1000)])).serialize()
        flood += hf.ContinuationFrame(1, b'', flags=['END_HEADERS']).serialize()
        raw.send(flood, timeout=5)
        how = raw.wait_closed(5)
        if raw.goaway is not None:
            assert raw.goaway.error_code in (ENHANCE_YOUR_CALM, h2.errors.ErrorCodes.COMPRESSION_ERROR), how
        assert not any(isinstance(f, hf.HeadersFrame) for f in raw.frames)
    assert_still_served(srv)


def _status(frame: hf.HeadersFrame) -> int:
    return int(dict(hpack.Decoder().decode(frame.data))[':status'])


# --- oversized HPACK header blocks --------------------------------------------------------------


def test_oversized_header_block_in_one_frame_is_refused(small_headers_srv):
    """15 KB of literal headers in one HEADERS frame against an 8 KiB limit: refused with a 431,
    and the connection, whose HPACK state stays in step, serves on."""
    srv = small_headers_srv
    with H2Client(srv.host, srv.port) as client:
        big = client.get('/', headers=[(f'x-h{i}', 'v' * 1000) for i in range(15)])
        assert big.status == 431
        assert client.get('/').status == 200, 'the connection should survive a refused header block'
    assert_still_served(srv)


def test_hpack_bomb_is_refused_without_decoding_it_all(rsgi_srv):
    """A 4 KB header put in the dynamic table once, then referenced 10000 times (1 byte each):
    ~12 KB on the wire decode to 40 MB, far above the default 64 KiB header limit."""
    pid = worker_pid(rsgi_srv)
    rss_before = proc_status_kib(pid, 'VmRSS') * 1024
    with RawH2(rsgi_srv.host, rsgi_srv.port) as raw:
        block = raw.encoder.encode(
            [(':method', 'GET'), (':scheme', 'http'), (':authority', raw.authority), (':path', '/')]
            + [('x-bomb', 'b' * 4000)] * 10_000
        )
        assert len(block) < 16_384  # one HEADERS frame
        raw.send(hf.HeadersFrame(1, block, flags=['END_HEADERS', 'END_STREAM']).serialize())
        raw.read(5, until=lambda f: isinstance(f, (hf.GoAwayFrame, hf.HeadersFrame, hf.RstStreamFrame)))
        heads = [f for f in raw.frames if isinstance(f, hf.HeadersFrame)]
        if heads:
            assert _status(heads[0]) == 431
        else:
            assert raw.goaway is not None or raw.eof or any(isinstance(f, hf.RstStreamFrame) for f in raw.frames)
    rss_growth = proc_status_kib(pid, 'VmRSS') * 1024 - rss_before
    assert rss_growth < 32 * MiB, f'worker RSS grew by {rss_growth / MiB:.1f} MiB'
    assert_still_served(rsgi_srv)


def test_hpack_table_size_update_above_the_limit_closes_the_connection(rsgi_srv):
    with RawH2(rsgi_srv.host, rsgi_srv.port) as raw:
        # Dynamic table size update (001xxxxx) to 1 GiB, far above the 4096 the server allows.
        update = bytes([0x3F]) + _hpack_int(2**30 - 31)
        raw.send(hf.HeadersFrame(1, update + raw.header_block('/'), flags=['END_HEADERS', 'END_STREAM']).serialize())
        how = raw.wait_closed(5)
        # RFC 9113 wants COMPRESSION_ERROR; the h2 crate answers every HPACK error with PROTOCOL_ERROR.
        codes = (h2.errors.ErrorCodes.COMPRESSION_ERROR, h2.errors.ErrorCodes.PROTOCOL_ERROR)
        assert raw.goaway is None or raw.goaway.error_code in codes, how
    assert_still_served(rsgi_srv)


def _hpack_int(value: int) -> bytes:
    """The continuation bytes of an HPACK integer whose prefix is already full."""
    out = bytearray()
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


# --- SETTINGS and PING floods --------------------------------------------------------------------


@pytest.mark.parametrize('kind', ['settings', 'ping'])
def test_flood_that_reads_the_answers(rsgi_srv, kind):
    frames = 10_000
    with H2Client(rsgi_srv.host, rsgi_srv.port) as client:
        client.wait_settings()
        for i in range(frames):
            if kind == 'settings':
                client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65_535 + i % 2})
            else:
                client.conn.ping(i.to_bytes(8, 'big'))
        assert blast(client)
        # Every one is answered; the connection and the server carry on.
        acks = (lambda: client.settings_acks) if kind == 'settings' else (lambda: client.ping_acks)
        client.wait_for(lambda: acks() >= frames, 10, f'{frames} {kind} ACKs')
        assert client.get('/').status == 200
    assert_still_served(rsgi_srv)


@pytest.mark.parametrize('kind', ['settings', 'ping'])
def test_flood_that_never_reads_the_answers(rsgi_srv, kind):
    """100k frames from a client that reads nothing: the server must stop reading when its answers
    pile up, not queue them without bound."""
    pid = worker_pid(rsgi_srv)
    rss_before = proc_status_kib(pid, 'VmRSS') * 1024
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(5)
    sock.connect((rsgi_srv.host, rsgi_srv.port))
    with H2Client(rsgi_srv.host, rsgi_srv.port, sock=sock) as client:
        for i in range(100_000):
            if kind == 'settings':
                client.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100 + i % 2})
            else:
                client.conn.ping(i.to_bytes(8, 'big'))
        blast(client, timeout=3)  # may stop part way: the server is allowed to stop reading us
        assert_still_served(rsgi_srv)
    rss_growth = proc_status_kib(pid, 'VmRSS') * 1024 - rss_before
    assert rss_growth < 32 * MiB, f'worker RSS grew by {rss_growth / MiB:.1f} MiB'
    assert_still_served(rsgi_srv)


# --- flooders that read nothing -----------------------------------------------------------------


@contextlib.contextmanager
def served_throughout(srv):
    """Another client asks for a page every 50 ms while the block runs; every answer must come."""
    stop = threading.Event()
    failures: list[str] = []
    served = [0]

    def ask() -> None:
        with httpx.Client(base_url=srv.url, http1=False, http2=True, timeout=SERVE_WITHIN) as client:
            while not stop.is_set():
                try:
                    resp = client.get('/')
                    served[0] += 1
                    if resp.status_code != 200:
                        failures.append(f'status {resp.status_code}')
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                stop.wait(0.05)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    try:
        yield
        # One more answer after the block, so that the whole of it was covered.
        before = served[0]
        deadline = time.monotonic() + SERVE_WITHIN
        while served[0] == before and not failures and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(SERVE_WITHIN + 5)
    assert not failures, failures
    assert served[0] > 0


def read_until_closed(sock: socket.socket, timeout: float) -> list[hf.Frame]:
    """Read everything the server sends until it closes; returns its GOAWAY and RST_STREAM frames
    (an incomplete last frame is dropped). AssertionError if still open after `timeout`."""
    buf = bytearray()
    deadline = time.monotonic() + timeout
    sock.settimeout(0.5)
    while True:
        assert time.monotonic() < deadline, f'the connection is still open after {timeout}s'
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:
            continue
        except OSError:
            break  # reset: closed with our flood unread
        if not data:
            break
        buf += data
    frames, at = [], 0
    view = memoryview(buf)
    while len(buf) - at >= 9:
        frame, length = hf.Frame.parse_frame_header(view[at : at + 9])
        if len(buf) - at < 9 + length:
            break
        if frame.type in (hf.GoAwayFrame.type, hf.RstStreamFrame.type):
            frame.parse_body(view[at + 9 : at + 9 + length])
            frames.append(frame)
        at += 9 + length
    return frames


#: Two variants of each flood frame, alternated; the size of the server's answer to each.
FLOOD_FRAMES = {
    'ping': ([hf.PingFrame(0, opaque_data=struct.pack('!Q', i)).serialize() for i in range(2)], 17),
    'settings': (
        [
            hf.SettingsFrame(0, settings={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100 + i}).serialize()
            for i in range(2)
        ],
        9,
    ),
}


def kernel_send_buffer_max() -> int:
    """The most a socket's send buffer grows to (Linux `tcp_wmem`, 4 MiB by default)."""
    try:
        return int(Path('/proc/sys/net/ipv4/tcp_wmem').read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * MiB


@pytest.mark.parametrize('kind', ['settings', 'ping'])
def test_a_flooder_that_never_reads_is_closed(calm_srv, kind):
    """Frames whose answers are never read, twice as many answers as the kernels can buffer: h2
    stops reading once its answers cannot be written, and the write timeout (2 s here) closes
    the connection. Nothing of a GOAWAY fits in a socket that takes nothing, so the
    connection just ends; the worker's memory stays flat and other clients are served.

    The client reads nothing until the server logged the timeout (reading would unblock it)."""
    timeouts = len(re.findall('write timeout', calm_srv.log()))
    pid = worker_pid(calm_srv)
    rss_before = proc_status_kib(pid, 'VmRSS') * 1024
    variants, answer = FLOOD_FRAMES[kind]
    count = 2 * (kernel_send_buffer_max() + MiB) // answer
    flood = PREFACE + hf.SettingsFrame(0).serialize() + b''.join(variants) * (count // 2)
    with served_throughout(calm_srv), narrow_socket(calm_srv.host, calm_srv.port, 64 * 1024) as sock:
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            sock.sendall(flood)  # may stop part way: the server stops reading us
        calm_srv.wait_for_log('connection closed with error: .*write timeout', timeout=20, count=timeouts + 1)
        frames = read_until_closed(sock, 10)
    goaways = [f for f in frames if isinstance(f, hf.GoAwayFrame)]
    assert all(f.error_code == ENHANCE_YOUR_CALM for f in goaways), goaways
    rss_growth = proc_status_kib(pid, 'VmRSS') * 1024 - rss_before
    assert rss_growth < 32 * MiB, f'worker RSS grew by {rss_growth / MiB:.1f} MiB'
    assert_still_served(calm_srv)


# --- frames that do nothing ---------------------------------------------------------------------


def _get(raw: RawH2, stream_id: int) -> bytes:
    return hf.HeadersFrame(stream_id, raw.header_block('/'), flags=['END_HEADERS', 'END_STREAM']).serialize()


def _post(raw: RawH2, stream_id: int) -> bytes:
    block = raw.encoder.encode(
        [(':method', 'POST'), (':scheme', 'http'), (':authority', raw.authority), (':path', '/digest')]
    )
    return hf.HeadersFrame(stream_id, block, flags=['END_HEADERS']).serialize()


FLOODS = {
    # RST_STREAM of a stream that is long closed, over and over.
    'rst_stream': lambda raw: _get(raw, 1) + hf.RstStreamFrame(1, error_code=8).serialize() * 5_000,
    # An upload of nothing: empty DATA frames that never end the stream.
    'empty_data': lambda raw: _post(raw, 1) + hf.DataFrame(1, b'').serialize() * 5_000,
    # Padding only: no content either.
    'padded_data': lambda raw: (
        _post(raw, 1) + hf.DataFrame(1, b'', flags=['PADDED'], pad_length=200).serialize() * 5_000
    ),
    'window_update': lambda raw: hf.WindowUpdateFrame(0, window_increment=1).serialize() * 10_000,
    'priority': lambda raw: hf.PriorityFrame(3, depends_on=0, stream_weight=16).serialize() * 10_000,
    'unknown_type': lambda raw: hf.ExtensionFrame(0xFA, 0, 0, b'').serialize() * 10_000,
    'empty_headers': lambda raw: b''.join(hf.HeadersFrame(2 * i + 1, b'').serialize() for i in range(5_000)),
}


@pytest.mark.parametrize('kind', list(FLOODS))
def test_a_flood_of_frames_that_do_nothing_gets_enhance_your_calm(rsgi_srv, kind):
    with served_throughout(rsgi_srv), RawH2(rsgi_srv.host, rsgi_srv.port) as raw:
        raw.send(FLOODS[kind](raw), timeout=5)
        how = raw.wait_closed(5)
        assert raw.goaway is not None, how
        assert raw.goaway.error_code == ENHANCE_YOUR_CALM, how
        assert raw.goaway.additional_data.startswith(b'flood_of_'), how
        raw.read(5)
        assert raw.eof, 'the connection stayed open after its GOAWAY'
    assert_still_served(rsgi_srv)


def test_requests_that_stay_within_the_bounds_are_served(rsgi_srv):
    """What clients do: a few PRIORITY frames per stream, WINDOW_UPDATEs as data arrives, a reset
    per stream, an empty DATA frame ending an upload; many streams in a row on one connection."""
    with H2Client(rsgi_srv.host, rsgi_srv.port) as client:
        for _ in range(150):
            sid = client.request('POST', '/digest', body=b'x' * 100, end_stream=False)
            client.conn.prioritize(sid, weight=32)
            client.end(sid)
            assert client.response(sid).status == 200
        sid = client.request('GET', '/produce?tag=within&total=4194304')
        assert len(client.response(sid).data) == 4 * MiB
        for _ in range(30):
            sid = client.request('GET', '/pause_stream?n=2&gap=5')
            client.wait_for(lambda s=sid: client.stream(s).headers is not None, 5, 'headers')
            client.reset(sid)
        assert client.get('/').status == 200
        assert client.goaway is None
