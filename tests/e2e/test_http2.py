"""HTTP/2 end to end, for RSGI and ASGI: which version a connection gets (`--http`, ALPN, the
prior-knowledge preface), every `--http2-*` setting where the wire shows it, streams,
bodies in both directions, flow control, and stream resets as the app sees them.

The apps are `tests/apps/h2_apps.py` (one worker: the apps keep progress in module globals, read
back through `/state`). `H2Client` (tests/e2e/h2_support.py) drives the h2 library over a socket.
"""

import concurrent.futures
import contextlib
import hashlib
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import h2.errors
import httpx
import hyperframe.frame as hf
import pytest

from e2e import tls_support
from e2e.asgi_support import proc_status_kib, worker_pid
from e2e.h2_support import H2Client, RawH2, connect
from e2e.tls_support import client_context, https_url, tls_args

tls_files = tls_support.tls_files

MiB = 1024 * 1024
APPS = {'rsgi': 'h2_apps:rsgi_app', 'asgi': 'h2_apps:asgi_app'}
INTERFACES = list(APPS)
#: Non-default values of the settings the server announces (see `tuned`).
TUNED = {
    'max_concurrent_streams': 37,
    'initial_stream_window_size': 100_000,
    'initial_connection_window_size': 3_000_000,
    'max_frame_size': 32_768,
    'max_headers_size': 8_192,
}
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6
#: RFC 8441: announced because WebSockets are on (the default) for RSGI and ASGI.
SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8


def start(factory, interface, *args, **kwargs):
    return factory(APPS[interface], '--interface', interface, *args, **kwargs)


def open_h2(srv, **kwargs) -> H2Client:
    return H2Client(srv.host, srv.port, **kwargs)


def json_of(stream):
    assert stream.status == 200, (stream.status, bytes(stream.data[:200]), stream.reset)
    return json.loads(bytes(stream.data))


def app_state(srv, tag):
    """What the app recorded under `tag` (`/state`), asked on a connection of its own."""
    with open_h2(srv) as client:
        return json_of(client.get(f'/state?tag={tag}'))


def wait_app_state(srv, tag, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        state = app_state(srv, tag)
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f'app state {tag!r} still {state} after {timeout}s')
        time.sleep(0.05)


@pytest.fixture(scope='module', params=INTERFACES)
def srv(request, module_server):
    """A default server (`--http auto`, cleartext) per interface."""
    return start(module_server, request.param)


@pytest.fixture(scope='module')
def plain(module_server):
    """A default RSGI server, for tests that need one interface only."""
    return start(module_server, 'rsgi')


@pytest.fixture(scope='module')
def tuned(module_server):
    args = [f'--http2-{name.replace("_", "-")}={value}' for name, value in TUNED.items()]
    return start(module_server, 'rsgi', *args)


# --- which HTTP version a connection gets ------------------------------------------------------


def test_auto_serves_http11_and_h2_prior_knowledge_on_one_port(srv):
    interface = srv.cmd[srv.cmd.index('--interface') + 1]
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        resp = client.get('/info')
    assert resp.http_version == 'HTTP/1.1'
    # Over HTTP/1.1 the host is a header: ASGI shows it, RSGI's `authority` is only for
    # absolute-form targets.
    host = None if interface == 'rsgi' else f'127.0.0.1:{srv.port}'
    assert resp.json() == {'http_version': '1.1', 'scheme': 'http', 'host': host}
    with httpx.Client(base_url=srv.url, http1=False, http2=True, timeout=10) as client:
        resp = client.get('/info')
    assert resp.http_version == 'HTTP/2'
    # The host comes from `:authority`: RSGI's `authority`, a `host` header for ASGI.
    assert resp.json() == {'http_version': '2', 'scheme': 'http', 'host': f'127.0.0.1:{srv.port}'}


def test_http1_only_does_not_answer_the_h2_preface(server):
    srv = start(server, 'rsgi', '--http', '1')
    assert srv.get('/info').json()['http_version'] == '1.1'
    with RawH2(srv.host, srv.port) as raw:
        raw.wait_closed(5)
        assert not raw.frames, f'an HTTP/1-only server answered the HTTP/2 preface with {raw.frames}'
    with httpx.Client(base_url=srv.url, http1=False, http2=True, timeout=5) as client:
        with pytest.raises(httpx.TransportError):
            client.get('/info')
    assert srv.get('/').text == 'ok'


def test_http2_only_serves_prior_knowledge_and_refuses_http11(server):
    srv = start(server, 'rsgi', '--http', '2')
    with open_h2(srv) as client:
        assert json_of(client.get('/info'))['http_version'] == '2'
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(b'GET /info HTTP/1.1\r\nHost: localhost\r\n\r\n')
        received = b''
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    # An HTTP/1.1 client is told why, in its own protocol, instead of seeing a silent close.
    head, _, body = received.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 505 '), received
    assert b'\r\nserver: granian' in head
    assert b'\r\nconnection: close' in head
    assert body == b'This server speaks HTTP/2 only (--http 2).\r\n'
    with open_h2(srv) as client:
        assert client.get('/').status == 200


@pytest.fixture(scope='module')
def tls_mode_servers(module_server, tls_files):
    started = {}

    def get(mode):
        if mode not in started:
            started[mode] = start(module_server, 'rsgi', '--http', mode, *tls_args(tls_files))
        return started[mode]

    return get


def h1_over(sock, path='/info'):
    sock.sendall(f'GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'.encode())
    data = b''
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    return head.split(b'\r\n')[0].decode(), body


@pytest.mark.parametrize(
    ('mode', 'offered', 'selected'),
    [
        ('auto', ['h2', 'http/1.1'], 'h2'),
        ('auto', ['http/1.1'], 'http/1.1'),
        ('auto', None, None),
        ('1', ['h2', 'http/1.1'], 'http/1.1'),
        ('1', ['h2'], 'refused'),
        ('2', ['h2', 'http/1.1'], 'h2'),
        ('2', ['http/1.1'], 'refused'),
        ('2', None, None),
    ],
    ids=lambda v: 'no-alpn' if v is None else ','.join(v) if isinstance(v, list) else v,
)
def test_tls_alpn_follows_the_http_mode(tls_mode_servers, tls_files, mode, offered, selected):
    srv = tls_mode_servers(mode)
    ctx = client_context(tls_files, alpn=offered)
    if selected == 'refused':
        with pytest.raises(ssl.SSLError, match='(?i)no.application.protocol'):
            connect(srv.host, srv.port, ctx).close()
        return
    sock = connect(srv.host, srv.port, ctx)
    assert sock.selected_alpn_protocol() == selected
    # Without ALPN the connection speaks what the mode allows: HTTP/1.1 unless `--http 2`.
    if selected == 'h2' or (selected is None and mode == '2'):
        with H2Client(srv.host, srv.port, sock=sock) as client:
            info = json_of(client.get('/info'))
        assert info == {'http_version': '2', 'scheme': 'https', 'host': f'{srv.host}:{srv.port}'}
    else:
        with sock:
            status, body = h1_over(sock)
        assert status == 'HTTP/1.1 200 OK'
        assert json.loads(body)['http_version'] == '1.1'
        assert json.loads(body)['scheme'] == 'https'


@pytest.mark.skipif(shutil.which('curl') is None, reason='curl is not installed')
@pytest.mark.parametrize(
    ('tls', 'curl_args', 'expected'),
    [
        (False, ['--http2-prior-knowledge'], '2'),
        # An `Upgrade: h2c` request is served as the HTTP/1.1 request it is (no 101, no h2c).
        (False, ['--http2'], '1.1'),
        (True, ['--http2'], '2'),
        (True, ['--http1.1'], '1.1'),
    ],
    ids=['h2c-prior-knowledge', 'h2c-upgrade-ignored', 'tls-alpn-h2', 'tls-http1.1'],
)
def test_curl_sees_the_negotiated_version(plain, tls_mode_servers, tls_files, tls, curl_args, expected):
    # curl (nghttp2) is a second, independent HTTP/2 implementation, and the only client here
    # that tries the h2c upgrade.
    srv = tls_mode_servers('auto') if tls else plain
    url = (https_url(srv) if tls else srv.url) + '/info'
    result = subprocess.run(
        ['curl', '-sS', '--max-time', '10', '--cacert', str(tls_files.ca), *curl_args, '-w', '\n%{http_version}', url],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    body, _, version = result.stdout.rpartition('\n')
    assert version == expected
    assert json.loads(body)['http_version'] == expected


# --- settings ----------------------------------------------------------------------------------


def test_default_settings_are_announced(srv):
    with open_h2(srv) as client:
        settings = client.wait_settings()
        client.wait_for(lambda: client.connection_window_updates, 5, 'a connection WINDOW_UPDATE')
        assert settings == {
            SETTINGS_MAX_CONCURRENT_STREAMS: 200,
            SETTINGS_INITIAL_WINDOW_SIZE: 1_048_576,
            SETTINGS_MAX_FRAME_SIZE: 16_384,
            SETTINGS_MAX_HEADER_LIST_SIZE: 65_536,  # 16 MiB in public Granian (docs/options.md)
            SETTINGS_ENABLE_CONNECT_PROTOCOL: 1,
        }
        # The connection window starts at 65535 by the protocol; the server raises it to 1 MiB.
        assert client.connection_window_updates[0] == 1_048_576 - 65_535
        # No keep-alive PINGs unless asked for.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            client.pump(0.05)
        assert client.pings == []


def test_tuned_settings_are_announced(tuned):
    with open_h2(tuned) as client:
        settings = client.wait_settings()
        client.wait_for(lambda: client.connection_window_updates, 5, 'a connection WINDOW_UPDATE')
    assert settings[SETTINGS_MAX_CONCURRENT_STREAMS] == TUNED['max_concurrent_streams']
    assert settings[SETTINGS_INITIAL_WINDOW_SIZE] == TUNED['initial_stream_window_size']
    assert settings[SETTINGS_MAX_FRAME_SIZE] == TUNED['max_frame_size']
    assert settings[SETTINGS_MAX_HEADER_LIST_SIZE] == TUNED['max_headers_size']
    assert client.connection_window_updates[0] == TUNED['initial_connection_window_size'] - 65_535


def test_streams_beyond_max_concurrent_streams_are_refused(tuned):
    limit = TUNED['max_concurrent_streams']
    with RawH2(tuned.host, tuned.port) as raw:
        frames = b''.join(
            hf.HeadersFrame(
                2 * i + 1, raw.header_block('/sleep?secs=1'), flags=['END_HEADERS', 'END_STREAM']
            ).serialize()
            for i in range(limit + 3)
        )
        raw.send(frames)
        raw.read(8, until=lambda f: sum(isinstance(x, hf.HeadersFrame) for x in raw.frames) >= limit)
        raw.read(0.3)
        answered = {f.stream_id for f in raw.frames if isinstance(f, hf.HeadersFrame)}
        refused = {f.stream_id: f.error_code for f in raw.frames if isinstance(f, hf.RstStreamFrame)}
        assert len(answered) == limit, (answered, refused)
        assert set(refused.values()) == {h2.errors.ErrorCodes.REFUSED_STREAM}
        assert len(refused) == 3
        # Once those finished, a new stream on the same connection is served.
        sid = 2 * (limit + 3) + 1
        raw.send(hf.HeadersFrame(sid, raw.header_block('/'), flags=['END_HEADERS', 'END_STREAM']).serialize())
        raw.read(5, until=lambda f: isinstance(f, hf.HeadersFrame) and f.stream_id == sid)
        assert any(isinstance(f, hf.HeadersFrame) and f.stream_id == sid for f in raw.frames)
        assert raw.goaway is None


def send_one_big_data_frame(target, body):
    """POST `body` to /digest as ONE DATA frame; returns the connection's frames."""
    with RawH2(target.host, target.port) as raw:
        raw.read(1, until=lambda f: isinstance(f, hf.SettingsFrame))
        raw.send(hf.SettingsFrame(0, flags=['ACK']).serialize())
        head = hf.HeadersFrame(1, raw.header_block('/digest'), flags=['END_HEADERS'])
        raw.send(head.serialize() + hf.DataFrame(1, body, flags=['END_STREAM']).serialize())
        raw.read(5, until=lambda f: isinstance(f, (hf.GoAwayFrame, hf.RstStreamFrame)) or 'END_STREAM' in f.flags)
        return raw.frames


BIG_FRAME = bytes(range(256)) * 117  # 29952 bytes: above 16384, below the tuned 32768


def test_max_frame_size_lets_clients_send_bigger_frames(tuned):
    frames = send_one_big_data_frame(tuned, BIG_FRAME)
    data = b''.join(f.data for f in frames if isinstance(f, hf.DataFrame))
    assert json.loads(data) == {'len': len(BIG_FRAME), 'sha256': hashlib.sha256(BIG_FRAME).hexdigest()}


def test_default_max_frame_size_refuses_bigger_frames(srv):
    frames = send_one_big_data_frame(srv, BIG_FRAME)
    goaway = next((f for f in frames if isinstance(f, hf.GoAwayFrame)), None)
    assert goaway is not None and goaway.error_code == h2.errors.ErrorCodes.FRAME_SIZE_ERROR, frames


def test_max_headers_size_answers_431_above_the_limit(tuned):
    limit = TUNED['max_headers_size']
    with open_h2(tuned) as client:
        big = client.get('/', headers=[('x-big', 'a' * (limit + 100))])
        small = client.get('/', headers=[('x-big', 'a' * (limit - 1000))])
        assert (big.status, small.status) == (431, 200)
        assert not client.closed


def test_initial_stream_window_holds_an_upload_until_the_app_reads(tuned):
    window = TUNED['initial_stream_window_size']
    body = hashlib.sha256(b'seed').digest() * (MiB // 32)
    with open_h2(tuned) as client, open_h2(tuned) as other:
        client.wait_settings()
        # Wait until the client has taken in the tuned windows: the stream's (SETTINGS) and the
        # connection's (a WINDOW_UPDATE right after it; until then the connection's 65535 would
        # cap the upload first, which once failed this test in CI).
        client.wait_for(
            lambda: (
                client.conn.remote_settings.initial_window_size == window
                and client.conn.outbound_flow_control_window > window
            ),
            5.0,
            'the tuned stream and connection windows',
        )
        sid = client.request('POST', '/gated_digest?tag=upload-window', end_stream=False)
        sent = 0
        while (room := client.conn.local_flow_control_window(sid)) > 0:
            piece = min(room, client.conn.max_outbound_frame_size)
            client.send_body(sid, body[sent : sent + piece])
            sent += piece
        assert sent == window
        # The app has not read: the server gives no window back, however long we wait.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            client.pump(0.05)
        assert client.conn.local_flow_control_window(sid) == 0
        assert other.get('/open?tag=upload-window').status == 200
        client.send_body(sid, body[sent:], end_stream=True)
        assert json_of(client.response(sid)) == {'len': len(body), 'sha256': hashlib.sha256(body).hexdigest()}


@pytest.fixture(scope='module')
def keepalive(module_server):
    return start(module_server, 'rsgi', '--http2-keep-alive-interval', '300', '--http2-keep-alive-timeout', '1')


def test_keep_alive_pings_an_idle_connection_that_answers(keepalive):
    with open_h2(keepalive) as client:
        opened = time.monotonic()
        deadline = opened + 2.5  # well past interval + timeout (1.3 s)
        while time.monotonic() < deadline and not client.closed:
            client.pump(0.05)
        assert not client.closed, f'an answering connection was closed: {client.goaway}'
        gaps = [b - a for a, b in zip([opened, *client.pings], client.pings)]
        assert len(client.pings) >= 4, gaps
        assert all(0.2 < gap < 1.0 for gap in gaps), gaps
        assert client.get('/').status == 200


def test_keep_alive_closes_a_connection_that_never_acks(keepalive):
    with RawH2(keepalive.host, keepalive.port) as raw:
        opened = time.monotonic()
        raw.read(3, until=lambda f: isinstance(f, hf.PingFrame))
        pings = [f for f in raw.frames if isinstance(f, hf.PingFrame)]
        assert pings and 'ACK' not in pings[0].flags
        first_ping = time.monotonic() - opened
        how = raw.wait_closed(5)
        closed = time.monotonic() - opened
    assert 0.15 < first_ping < 1.0, first_ping
    assert 1.0 < closed < 3.5, (closed, how)


def test_adaptive_window_serves_and_probes_the_bandwidth(server):
    srv = start(server, 'rsgi', '--http2-adaptive-window')
    body = hashlib.sha256(b'adaptive').digest() * (8 * MiB // 32)
    with open_h2(srv) as client:
        settings = client.wait_settings()
        # Adaptive flow control starts from the protocol's default windows and grows them
        # from bandwidth-delay PINGs (keep-alive is off, so any PING here is such a probe).
        assert settings[SETTINGS_INITIAL_WINDOW_SIZE] == 65_535
        sid = client.request('POST', '/digest', body=body)
        assert json_of(client.response(sid, timeout=20))['sha256'] == hashlib.sha256(body).hexdigest()
        assert client.pings, 'no bandwidth probe PING during an 8 MiB upload'
        download = client.get(f'/produce?tag=adaptive&total={4 * MiB}', timeout=20)
        assert download.ended and len(download.data) == 4 * MiB


def kernel_send_buffer_max():
    try:
        return int(Path('/proc/sys/net/ipv4/tcp_wmem').read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * MiB


@pytest.mark.parametrize('interface', INTERFACES)
@pytest.mark.parametrize('buffer', [409_600, 64 * MiB], ids=['default-buffer', '64MiB-buffer'])
def test_send_buffer_bounds_what_a_stalled_reader_costs(server, interface, buffer):
    """A client that opened a huge window but stopped reading its socket: the app can hand over
    no more than the kernel buffers plus the stream's send buffer, then waits."""
    srv = start(server, interface, f'--http2-max-send-buffer-size={buffer}')
    pid = worker_pid(srv)
    rss_before = proc_status_kib(pid, 'VmRSS') * 1024
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(5)
    sock.connect((srv.host, srv.port))
    with H2Client(srv.host, srv.port, sock=sock, initial_window=2**31 - 1, connection_window=2**31 - 1) as client:
        client.wait_settings()
        sid = client.request('GET', f'/produce?tag=stall&total={512 * MiB}')
        wait_app_state(srv, 'stall', lambda s: s['progress'] is not None)
        # Not reading from now on; wait until the app can hand over no more.
        last, stable_since = -1, time.monotonic()
        deadline = time.monotonic() + 10
        while time.monotonic() - stable_since < 0.5 and time.monotonic() < deadline:
            sent = app_state(srv, 'stall')['progress']['sent']
            if sent != last:
                last, stable_since = sent, time.monotonic()
            time.sleep(0.05)
        rss_growth = proc_status_kib(pid, 'VmRSS') * 1024 - rss_before
        client.reset(sid)
    # Beyond the send buffer: the socket's kernel buffer (up to tcp_wmem's maximum), the
    # interface's chunk queue (16 chunks of 64 KiB) and some slack.
    outside = kernel_send_buffer_max() + 16 * 64 * 1024 + 2 * MiB
    assert last < buffer + outside, f'the app handed over {last / MiB:.1f} MiB to a client that reads nothing'
    if buffer == 409_600:
        assert rss_growth < 32 * MiB, f'worker RSS grew by {rss_growth / MiB:.1f} MiB'
    else:
        # The setting is what bounds it: a larger send buffer lets the app run further ahead.
        assert last > 48 * MiB, f'only {last / MiB:.1f} MiB handed over with a 64 MiB send buffer'
    state = wait_app_state(srv, 'stall', lambda s: s['progress']['error'] is not None)
    assert not state['progress']['done']


# --- streams and bodies ---------------------------------------------------------------------------


def test_many_concurrent_streams_on_one_connection(srv):
    with open_h2(srv) as client:
        started = time.monotonic()
        ids = [client.request('GET', '/sleep?secs=0.5') for _ in range(150)]
        responses = [client.response(sid, timeout=20) for sid in ids]
        elapsed = time.monotonic() - started
    assert {(r.status, bytes(r.data)) for r in responses} == {(200, b'slept')}
    # 150 half-second requests one after the other would take 75 s.
    assert elapsed < 12, elapsed


def test_httpx_concurrent_requests_share_one_h2_connection(srv):
    with httpx.Client(base_url=srv.url, http1=False, http2=True, timeout=20) as client:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            started = time.monotonic()
            responses = list(pool.map(lambda _: client.get('/sleep?secs=0.5'), range(40)))
            elapsed = time.monotonic() - started
    assert {(r.status_code, r.http_version, r.text) for r in responses} == {(200, 'HTTP/2', 'slept')}
    assert elapsed < 12, elapsed
    assert len(re.findall(r'Spawning worker-', srv.log())) == 1


def test_request_and_response_bodies_stream_both_ways(srv):
    with open_h2(srv) as client:
        sid = client.request('POST', '/duplex', end_stream=False)
        stream = client.stream(sid)
        expected = b''
        for i in range(10):
            chunk = f'chunk-{i:02d};'.encode() * 1000
            client.send_body(sid, chunk)
            expected += chunk
            # Each chunk comes back before the next one is sent: nothing waits for the body's end.
            client.wait_for(lambda e=expected: bytes(stream.data) == e, 5, f'the echo of chunk {i}')
        client.end(sid)
        client.response(sid)
        assert stream.status == 200 and stream.ended and bytes(stream.data) == expected


def test_large_bodies_both_ways(srv):
    body = hashlib.sha256(b'large').digest() * (4 * MiB // 32)
    with open_h2(srv) as client:
        up = client.response(client.request('POST', '/digest', body=body), timeout=20)
        assert json_of(up) == {'len': len(body), 'sha256': hashlib.sha256(body).hexdigest()}
        down = client.get(f'/produce?tag=large&total={6 * MiB}&chunk=100000', timeout=20)
        assert down.ended and bytes(down.data) == b'x' * (6 * MiB)


def test_a_reader_that_never_acks_gets_one_window_and_the_app_waits(srv):
    with open_h2(srv, auto_ack=False) as client:
        sid = client.request('GET', f'/produce?tag=noack&total={64 * MiB}')
        stream = client.stream(sid)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            client.pump(0.05)
        assert len(stream.data) == 65_535  # the client's stream window, and not a byte more
        state = app_state(srv, 'noack')['progress']
        assert not state['done'] and state['sent'] < 4 * MiB, state
        # Reading again lets the response finish.
        client.auto_ack = True
        client.ack(sid)
        client.response(sid, timeout=30)
        assert stream.ended and len(stream.data) == 64 * MiB
    assert app_state(srv, 'noack')['progress']['done']


def test_client_reset_is_a_disconnect_for_the_app(srv):
    with open_h2(srv) as client:
        sid = client.request('GET', '/wait_disconnect?tag=reset-wait')
        wait_app_state(srv, 'reset-wait', lambda s: s['event'] == 'waiting')
        client.reset(sid)
        wait_app_state(srv, 'reset-wait', lambda s: s['event'] == 'disconnect', timeout=5)
        # Only that stream ended: the connection serves on.
        assert client.get('/').status == 200
        assert not client.closed


def test_client_reset_stops_a_streaming_response(srv):
    with open_h2(srv) as client:
        sid = client.request('GET', '/stream_until_gone?tag=reset-stream')
        client.wait_for(lambda: len(client.stream(sid).data) >= 50, 5, 'some streamed data')
        client.reset(sid)
        state = wait_app_state(srv, 'reset-stream', lambda s: s['event'].startswith('error:'), timeout=5)
        assert state['event'] in {'error:RSGIProtocolClosed', 'error:ClientDisconnected'}, state
        assert client.get('/').status == 200


def test_closing_the_connection_is_a_disconnect_for_every_stream(srv):
    client = open_h2(srv)
    sids = [client.request('GET', f'/wait_disconnect?tag=close-{i}') for i in range(3)]
    for i in range(3):
        wait_app_state(srv, f'close-{i}', lambda s: s['event'] == 'waiting')
    assert all(not client.stream(sid).finished for sid in sids)
    client.close()
    for i in range(3):
        wait_app_state(srv, f'close-{i}', lambda s: s['event'] == 'disconnect', timeout=5)


def test_app_error_mid_stream_resets_only_that_stream(srv):
    with open_h2(srv) as client:
        slow = client.request('GET', '/sleep?secs=0.5')
        broken = client.response(client.request('GET', '/raise_mid_stream'))
        # A cut response must not look complete: the stream is reset, not ended.
        assert broken.status == 200 and bytes(broken.data) == b'partial'
        assert broken.reset is not None and not broken.ended
        assert bytes(client.response(slow).data) == b'slept'
        assert client.get('/').status == 200
        assert not client.closed
    srv.wait_for_log('boom mid-stream')
