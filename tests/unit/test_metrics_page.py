"""The metrics page without a server: the supervisor's state, the encoder, content negotiation
and the responder's routing (parsed with prometheus_client's parsers)."""

import json

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from granian.server.exposition import Family, negotiate, render
from granian.server.metrics_http import parse_head, respond
from granian.server.metrics_state import GRANIAN_SERIES, MetricsState

DURATION_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
SIZE_BOUNDS = [64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0]


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def snapshot(**over):
    snap = {
        'connections_active': 1,
        'connections_handled': 5,
        'connections_err': 0,
        'requests_handled': 7,
        'requests_active': 1,
        'static_handled': 2,
        'static_err': 1,
        'overload_refused': 3,
        'timeouts': {'header_read': 0, 'keep_alive': 2, 'body_read': 0, 'write': 0, 'graceful': 0},
        'ws_active': 0,
        'ws_messages_in': 4,
        'ws_messages_out': 6,
        'blocking_threads': 1,
        'blocking_queue': 0,
        'blocking_busy_us': 10,
        'blocking_idle_us': 20,
        'py_wait_us': 3,
        'duration_bounds': DURATION_BOUNDS,
        'size_bounds': SIZE_BOUNDS,
        'requests': [
            ['GET', 200, '1.1', [[2, 1] + [0] * 13, 0.012], [[0] * 12, 0.0], [[0, 3] + [0] * 10, 300.0]],
            ['_OTHER', 503, '2', [[1] + [0] * 14, 0.001], [[1] + [0] * 11, 10.0], [[1] + [0] * 11, 0.0]],
        ],
    }
    snap.update(over)
    return snap


def datagram(slot, pid, snap):
    return json.dumps([slot, pid, snap]).encode()


@pytest.fixture
def state():
    clock = Clock()
    st = MetricsState('asgi', clock=clock)
    st.clock = clock
    st.spawned(1, 101, None)
    st.spawned(2, 102, None)
    st.worker_ready(1, 101)
    st.worker_ready(2, 102)
    return st


def families_of(page: bytes, openmetrics=False):
    parse = parse_openmetrics if openmetrics else parse_text
    return {f.name: f for f in parse(page.decode())}


def value(family, name, **labels):
    """The value of sample `name` (the parsers add `_total` to counter samples) with `labels`."""
    names = (name.removesuffix('_total'), name.removesuffix('_total') + '_total')
    return next(s.value for s in family.samples if s.name in names and labels.items() <= s.labels.items())


def test_every_series_is_on_the_page_with_its_type(state):
    assert state.receive(datagram(1, 101, snapshot()))
    state.clock.now += 42
    fams = families_of(render(state.families(), openmetrics=False))
    expected = {
        'granian_workers_spawns': 'counter',
        'granian_workers_respawns_for_err': 'counter',
        'granian_workers_respawns_for_lifetime': 'counter',
        'granian_workers_respawns_for_rss': 'counter',
        'granian_worker_lifetime': 'counter',
        'http_server_request_duration_seconds': 'histogram',
        'http_server_request_body_size_bytes': 'histogram',
        'http_server_response_body_size_bytes': 'histogram',
        'http_server_active_requests': 'gauge',
        'granian_websocket_sessions_active': 'gauge',
        'granian_websocket_messages': 'counter',
        'granian_overload_refused': 'counter',
        'granian_timeouts': 'counter',
    }
    expected.update({name: kind for _, name, _, kind in GRANIAN_SERIES})
    assert {name: f.type for name, f in fams.items()} == expected
    assert value(fams['granian_worker_lifetime'], 'granian_worker_lifetime', worker='2') == 42
    assert value(fams['granian_requests_handled'], 'granian_requests_handled', worker='1') == 7
    assert value(fams['granian_timeouts'], 'granian_timeouts_total', worker='1', kind='keep_alive') == 2
    assert value(fams['granian_websocket_messages'], 'granian_websocket_messages_total', direction='out') == 6
    assert value(fams['granian_workers_spawns'], 'granian_workers_spawns') == 2


def test_histograms_are_cumulative_and_consistent(state):
    state.receive(datagram(1, 101, snapshot()))
    fams = families_of(render(state.families(), openmetrics=False))
    duration = fams['http_server_request_duration_seconds']
    labels = {
        'http_request_method': 'GET',
        'http_response_status_code': '200',
        'network_protocol_version': '1.1',
        'interface': 'asgi',
        'worker': '1',
    }
    buckets = [s for s in duration.samples if s.name.endswith('_bucket') and s.labels['http_request_method'] == 'GET']
    assert [s.value for s in buckets[:3]] == [2, 3, 3]
    assert buckets[-1].labels['le'] == '+Inf'
    assert buckets[-1].value == value(duration, 'http_server_request_duration_seconds_count', **labels) == 3
    assert value(duration, 'http_server_request_duration_seconds_sum', **labels) == pytest.approx(0.012)
    request_size = fams['http_server_request_body_size_bytes']
    assert {s.labels['http_request_method'] for s in request_size.samples} == {'_OTHER'}, 'no size known for GET'


def test_openmetrics_counters_end_in_total_and_granian_names_are_kept(state):
    state.receive(datagram(1, 101, snapshot()))
    page = render(state.families(), openmetrics=True)
    assert page.endswith(b'# EOF\n')
    fams = families_of(page, openmetrics=True)
    assert fams['granian_timeouts'].type == 'counter'
    assert fams['granian_requests_handled'].type == 'unknown'
    assert value(fams['granian_requests_handled'], 'granian_requests_handled', worker='1') == 7
    assert fams['http_server_request_duration_seconds'].unit == 'seconds'


def test_snapshots_of_a_worker_that_does_not_own_its_slot_are_ignored(state):
    assert not state.receive(datagram(1, 999, snapshot()))
    assert not state.receive(b'not json')
    state.spawned(1, 103, 'lifetime')  # a rollout: the old worker serves until the new one is ready
    assert state.receive(datagram(1, 101, snapshot()))
    assert not state.receive(datagram(1, 103, snapshot(requests_handled=1)))
    state.worker_ready(1, 103)
    assert 1 not in state.snapshots, "the old worker's series go with it"
    assert not state.receive(datagram(1, 101, snapshot()))
    assert state.receive(datagram(1, 103, snapshot(requests_handled=1)))
    state.spawned(2, 104, 'err')
    state.spawned(2, 105, 'rss')
    state.spawned(2, 106, 'sighup')
    assert (state.spawns, state.respawns) == (6, {'err': 1, 'lifetime': 1, 'rss': 1})


def test_escaping_of_labels_and_help():
    fam = Family('x_total', 'counter', 'a \\ b\nc')
    fam.add((('path', 'a"b\\c\nd'),), 1)
    page = render([fam], openmetrics=False).decode()
    assert '# HELP x_total a \\\\ b\\nc' in page
    assert 'x_total{path="a\\"b\\\\c\\nd"} 1' in page
    (parsed,) = parse_text(page)
    assert parsed.samples[0].labels['path'] == 'a"b\\c\nd'


@pytest.mark.parametrize(
    ('accept', 'openmetrics'),
    [
        (None, False),
        ('text/plain', False),
        ('*/*', False),
        ('application/openmetrics-text; version=1.0.0', True),
        # Prometheus' default scrape header
        (
            'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,'
            'text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
            True,
        ),
        ('text/plain;q=1, application/openmetrics-text;q=0.5', False),
        ('application/openmetrics-text;q=0', False),
    ],
)
def test_negotiation(accept, openmetrics):
    assert negotiate(accept) is openmetrics


def test_routes_and_health(state):
    assert respond(state, 'GET', '/other', None)[0] == 404
    assert respond(state, 'POST', '/metrics', None)[0] == 405
    assert respond(state, 'GET', '/health/live', None)[0] == 200
    assert respond(state, 'GET', '/health/ready', None)[0] == 503, 'not announced yet'
    state.ready = True
    assert respond(state, 'GET', '/health/ready?verbose', None)[0] == 200
    state.stopping = True
    assert respond(state, 'GET', '/health/ready', None)[:3:2] == (503, b'stopping\n')
    status, ctype, body = respond(state, 'GET', '/metrics', 'application/openmetrics-text')
    assert (status, ctype) == (200, 'application/openmetrics-text; version=1.0.0; charset=utf-8')
    assert body.endswith(b'# EOF\n')
    assert respond(state, 'GET', '/metrics', None)[1] == 'text/plain; version=0.0.4; charset=utf-8'


def test_request_heads():
    head = b'GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\naccept: */*'
    assert parse_head(head) == ('GET', '/metrics', 'text/plain, */*')
    assert parse_head(b'GET /metrics') is None
    assert parse_head(b'GET metrics HTTP/1.1') is None
    assert parse_head(b'GET / SPDY/3') is None


def test_malformed_datagrams_are_ignored(state):
    for junk in (b'[]', b'{"a": 1}', b'[[1], 101, {}]', b'[1, 101, []]', b'\xff'):
        assert not state.receive(junk)
    assert state.snapshots == {}


@pytest.fixture
def served_state(state):
    """A MetricsServer on a free loopback port serving `state`; yields (state, port, worker end)."""
    import socket

    from granian.server.metrics_http import MetricsServer

    listener = socket.create_server(('127.0.0.1', 0))
    receive, send = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    server = MetricsServer(state, listener, receive)
    server.start()
    try:
        yield state, listener.getsockname()[1], send
    finally:
        server.close()
        send.close()


def http(port, raw: bytes) -> bytes:
    import socket

    with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.sendall(raw)
        out = b''
        while chunk := sock.recv(65536):
            out += chunk
    return out


def test_the_responder_over_a_socket(served_state):
    import time

    state, port, worker_end = served_state
    worker_end.send(datagram(1, 101, snapshot()))
    deadline = time.monotonic() + 5
    while 1 not in state.snapshots:
        assert time.monotonic() < deadline, 'the datagram was not read'
        time.sleep(0.01)
    answer = http(port, b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
    head, _, body = answer.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 OK\r\n')
    assert f'content-length: {len(body)}'.encode() in head
    assert b'granian_requests_handled{worker="1"} 7' in body
    head_only = http(port, b'HEAD /metrics HTTP/1.1\r\n\r\n')
    assert head_only.endswith(b'\r\n\r\n'), 'no body for HEAD'
    assert http(port, b'GET /health/live HTTP/1.0\r\n\r\n').startswith(b'HTTP/1.1 200 OK')
    assert http(port, b'GET / HTTP/1.1\r\n\r\n').startswith(b'HTTP/1.1 404 ')
    assert http(port, b'nonsense\r\n\r\n').endswith(b'\r\n\r\nbad request\n')
    big = b'GET /metrics HTTP/1.1\r\nX: ' + b'a' * 9000 + b'\r\n\r\n'
    assert http(port, big).startswith(b'HTTP/1.1 431 ')
