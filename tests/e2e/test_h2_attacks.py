"""Known HTTP/2 attacks must not take the server down.

Each test sends one attack over a raw socket, then checks that a second client is served within
a few seconds by the same worker, and, where hyper/h2 defend by closing the connection, that the
attacking connection got a GOAWAY or was closed. What the h2 state machine can express (rapid
reset, SETTINGS and PING floods) is sent with it; what it refuses to produce (endless
CONTINUATION, hand-made HPACK) is built with its framing and HPACK layers (hyperframe, hpack).

Every loop is bounded: a few thousand frames, a few MiB at most.
"""

import re
import socket
import time

import h2.errors
import h2.settings
import hpack
import httpx
import hyperframe.frame as hf
import pytest

from e2e.asgi_support import proc_status_kib, worker_pid
from e2e.h2_support import H2Client, RawH2

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
