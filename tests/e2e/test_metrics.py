"""`--metrics`: the real server scraped over HTTP, parsed with prometheus_client's parsers.

Snapshots reach the supervisor every `--metrics-scrape-interval` (1 s here), so every check
polls the scrape until the expected value appears (bounded), never sleeping a fixed time.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from websockets.sync.client import connect as ws_connect

from conftest import free_port, run_granian
from e2e.h2_support import H2Client

pytestmark = pytest.mark.timeout(120)

GRANIAN_SERIES = {
    'granian_workers_spawns': 'counter',
    'granian_workers_respawns_for_err': 'counter',
    'granian_workers_respawns_for_lifetime': 'counter',
    'granian_workers_respawns_for_rss': 'counter',
    'granian_worker_lifetime': 'counter',
    'granian_connections_active': 'gauge',
    'granian_connections_handled': 'counter',
    'granian_connections_err': 'counter',
    'granian_requests_handled': 'counter',
    'granian_static_requests_handled': 'counter',
    'granian_static_requests_err': 'counter',
    'granian_blocking_threads': 'gauge',
    'granian_blocking_queue': 'gauge',
    'granian_blocking_idle_cumulative': 'counter',
    'granian_blocking_busy_cumulative': 'counter',
    'granian_py_wait_cumulative': 'counter',
}
OUR_SERIES = {
    'http_server_request_duration_seconds': 'histogram',
    'http_server_request_body_size_bytes': 'histogram',
    'http_server_response_body_size_bytes': 'histogram',
    'http_server_active_requests': 'gauge',
    'granian_websocket_sessions_active': 'gauge',
    'granian_websocket_messages': 'counter',
    'granian_overload_refused': 'counter',
    'granian_timeouts': 'counter',
}


class Scrape:
    """One parsed page: `{family name: family}`."""

    def __init__(self, text: str, openmetrics: bool = False) -> None:
        parse = parse_openmetrics if openmetrics else parse_text
        self.families = {f.name: f for f in parse(text)}

    def samples(self, name: str, **labels: str) -> list:
        """Samples named `name` (or `name_total`: the parser names counter samples so) with `labels`."""
        base = name.removesuffix('_total')
        out = []
        for family in self.families.values():
            for s in family.samples:
                if s.name in (base, base + '_total', name) and labels.items() <= s.labels.items():
                    out.append(s)
        return out

    def value(self, name: str, **labels: str) -> float:
        """The sum of the matching samples (0 when there is none)."""
        return sum(s.value for s in self.samples(name, **labels))


class Metrics:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f'http://127.0.0.1:{port}'

    def get(self, path: str, **kwargs) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5.0, **kwargs)

    def scrape(self) -> Scrape:
        response = self.get('/metrics')
        assert response.status_code == 200
        assert response.headers['content-type'] == 'text/plain; version=0.0.4; charset=utf-8'
        return Scrape(response.text)

    def until(self, check: Callable[[Scrape], bool], what: str, timeout: float = 15.0) -> Scrape:
        """Scrapes until `check` holds (bounded); returns that scrape."""
        deadline = time.monotonic() + timeout
        while True:
            scrape = self.scrape()
            if check(scrape):
                return scrape
            assert time.monotonic() < deadline, f'{what}: not seen within {timeout}s'
            time.sleep(0.1)


def start(server, *args: str, target: str = 'metrics_apps:asgi', workers: int = 1, env=None, **kwargs):
    port = free_port()
    srv = server(
        target,
        '--interface',
        target.rsplit(':', 1)[1],
        '--metrics',
        '--metrics-port',
        str(port),
        '--metrics-scrape-interval',
        '1',
        '--workers',
        str(workers),
        *args,
        workers=workers,
        env=env,
        **kwargs,
    )
    return srv, Metrics(port)


def check_histograms(scrape: Scrape) -> None:
    """Every histogram series: buckets cumulative, `+Inf` equal to `_count`."""
    for name, kind in OUR_SERIES.items():
        if kind != 'histogram':
            continue
        family = scrape.families[name]
        series: dict[tuple, list] = {}
        counts = {}
        for s in family.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != 'le'))
            if s.name.endswith('_bucket'):
                series.setdefault(key, []).append(s)
            elif s.name.endswith('_count'):
                counts[key] = s.value
        for key, buckets in series.items():
            values = [b.value for b in buckets]
            assert values == sorted(values), f'{name}{key}: buckets not cumulative'
            assert buckets[-1].labels['le'] == '+Inf'
            assert buckets[-1].value == counts[key]


def duration_count(scrape: Scrape, **labels: str) -> float:
    return scrape.value('http_server_request_duration_seconds_count', **labels)


def test_every_series_with_counts_that_move_by_the_requests_sent(server, tmp_path: Path):
    static = tmp_path / 'static'
    static.mkdir()
    (static / 'a.txt').write_bytes(b'x' * 1000)
    srv, metrics = start(server, '--static-path-mount', str(static))
    scrape = metrics.until(lambda s: 'granian_requests_handled' in s.families, 'the first snapshot')
    assert {name: scrape.families[name].type for name in GRANIAN_SERIES} == GRANIAN_SERIES
    assert {name: scrape.families[name].type for name in OUR_SERIES} == OUR_SERIES
    assert scrape.value('granian_requests_handled', worker='1') == 0

    with srv.client() as client:
        for _ in range(3):
            assert client.get('/').status_code == 200
        assert client.get('/fail').status_code == 500
        streamed = client.get('/stream')
        assert streamed.content == b'onetwothree'
        assert client.post('/echo', content=b'y' * 300).content == b'y' * 300
        assert client.get('/static/a.txt').status_code == 200
        assert client.get('/static/missing.txt').status_code == 404
    with H2Client('127.0.0.1', srv.port) as h2c:
        assert h2c.get('/').status == 200
        assert h2c.get('/fail').status == 500
    with ws_connect(f'ws://127.0.0.1:{srv.port}/ws') as ws:
        ws.send('a')
        assert ws.recv(timeout=5) == 'a'
        ws.send('b')
        assert ws.recv(timeout=5) == 'b'

    # 3 + fail + stream + echo + 2 static + 2 HTTP/2 + the WebSocket handshake
    scrape = metrics.until(
        lambda s: duration_count(s) == 11 and s.value('granian_websocket_messages_total', direction='out') == 2,
        'the requests and messages sent',
    )
    assert scrape.value('granian_requests_handled') == 11
    h1 = {'network_protocol_version': '1.1', 'interface': 'asgi', 'worker': '1'}
    assert duration_count(scrape, http_request_method='GET', http_response_status_code='200', **h1) == 5
    assert duration_count(scrape, http_request_method='GET', http_response_status_code='500', **h1) == 1
    assert duration_count(scrape, http_request_method='POST', http_response_status_code='200', **h1) == 1
    assert duration_count(scrape, http_request_method='GET', http_response_status_code='404', **h1) == 1
    assert duration_count(scrape, http_request_method='GET', http_response_status_code='101', **h1) == 1
    h2 = {'network_protocol_version': '2', 'worker': '1'}
    assert duration_count(scrape, http_response_status_code='200', **h2) == 1
    assert duration_count(scrape, http_response_status_code='500', **h2) == 1
    assert duration_count(scrape) == 11
    post = {'http_request_method': 'POST', **h1}
    assert scrape.value('http_server_request_body_size_bytes_sum', **post) == 300
    assert scrape.value('http_server_response_body_size_bytes_sum', **post) == 300
    streamed_bytes = scrape.value('http_server_response_body_size_bytes_sum', http_response_status_code='200', **h1)
    assert streamed_bytes == 2 * 3 + len(b'onetwothree') + 300 + 1000
    assert scrape.value('granian_static_requests_handled', worker='1') == 2
    assert scrape.value('granian_static_requests_err', worker='1') == 1
    assert scrape.value('granian_websocket_messages_total', direction='in') == 2
    assert scrape.value('granian_connections_handled', worker='1') == 3  # httpx, h2, WebSocket
    assert scrape.value('granian_overload_refused_total') == 0
    assert scrape.value('granian_workers_spawns') == 1
    assert scrape.value('granian_blocking_threads', worker='1') == 1
    check_histograms(scrape)
    scrape = metrics.until(
        lambda s: s.value('granian_connections_active') == 0 and s.value('http_server_active_requests') == 0,
        'everything closed',
    )
    assert scrape.value('granian_websocket_sessions_active') == 0


def test_each_worker_has_its_series(server):
    srv, metrics = start(server, workers=2)
    sent = 20
    for _ in range(sent):  # a new connection each: the kernel spreads them
        assert srv.get('/').status_code == 200
    scrape = metrics.until(lambda s: s.value('granian_requests_handled') == sent, 'the requests of both workers')
    per_worker = {w: scrape.value('granian_requests_handled', worker=w) for w in ('1', '2')}
    assert sum(per_worker.values()) == sent
    assert {s.labels['worker'] for s in scrape.samples('granian_worker_lifetime')} == {'1', '2'}
    for worker, count in per_worker.items():
        assert duration_count(scrape, worker=worker) == count
        assert scrape.value('granian_connections_handled', worker=worker) == count
    assert scrape.value('granian_workers_spawns') == 2


def test_overload_refusals_are_counted(server, tmp_path: Path):
    gate = tmp_path / 'gate'
    gate.mkdir()
    srv, metrics = start(server, '--limit-concurrency', '1', env={'METRICS_GATE': str(gate)})
    with srv.client() as holder, srv.client() as other:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(holder.get, '/hold')
            deadline = time.monotonic() + 10
            while not (gate / 'held').exists():
                assert time.monotonic() < deadline, 'the held request did not reach the app'
                time.sleep(0.01)
            assert other.get('/').status_code == 503
            scrape = metrics.until(lambda s: s.value('http_server_active_requests') == 1, 'the held request')
            (gate / 'open').touch()
            assert held.result(timeout=10).status_code == 200
    scrape = metrics.until(lambda s: duration_count(s) == 2, 'both answers')
    assert scrape.value('granian_overload_refused_total', worker='1') == 1
    assert duration_count(scrape, http_response_status_code='503') == 1
    assert duration_count(scrape, http_response_status_code='200') == 1


def test_respawns_after_a_killed_worker(server):
    srv, metrics = start(server, '--respawn-failed-workers')
    metrics.until(lambda s: 'granian_requests_handled' in s.families, 'the first snapshot')
    pid = srv.worker_pids()[1]
    os.kill(pid, signal.SIGKILL)
    scrape = metrics.until(lambda s: s.value('granian_workers_respawns_for_err') == 1, 'the respawn')
    assert scrape.value('granian_workers_spawns') == 2
    assert scrape.value('granian_workers_respawns_for_lifetime') == 0
    srv.wait_for_log(r'Started worker-1', count=2)
    assert srv.get('/').status_code == 200
    metrics.until(lambda s: s.value('granian_requests_handled', worker='1') == 1, 'the new worker counts from zero')


def test_metrics_under_reload(server, tmp_path: Path):
    watched = tmp_path / 'watched'
    watched.mkdir()
    srv, metrics = start(server, '--reload', '--reload-paths', str(watched))
    assert srv.get('/').status_code == 200
    metrics.until(lambda s: s.value('granian_requests_handled') == 1, 'a request under --reload')
    (watched / 'changed.py').write_text('x = 1\n')
    srv.wait_for_log(r'Started worker-1', count=2, timeout=30)
    scrape = metrics.until(lambda s: s.value('granian_workers_spawns') == 2, 'the reloaded worker')
    assert scrape.value('granian_workers_respawns_for_err') == 0
    assert srv.get('/').status_code == 200
    metrics.until(lambda s: s.value('granian_requests_handled') == 1, 'the reloaded worker counts')


def test_health_during_startup_serving_and_drain(server, tmp_path: Path):
    gate = tmp_path / 'gate'
    gate.mkdir()
    env = {'METRICS_GATE': str(gate), 'METRICS_HOLD_STARTUP': '1'}
    srv, metrics = start(server, '--graceful-timeout', '30', env=env, ready=None)
    deadline = time.monotonic() + 15
    while True:  # the listener is bound before the workers start
        try:
            live = metrics.get('/health/live')
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, srv.log()
            time.sleep(0.02)
    assert live.status_code == 200
    assert metrics.get('/health/ready').status_code == 503, 'the lifespan startup has not finished'
    (gate / 'started').touch()
    deadline = time.monotonic() + 15
    while metrics.get('/health/ready').status_code != 200:
        assert time.monotonic() < deadline, srv.log()
        time.sleep(0.05)
    srv.wait_for_log('Listening at')
    assert metrics.get('/health/live').status_code == 200

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(srv.get, '/hold')
        while not (gate / 'held').exists():
            assert time.monotonic() < deadline + 15, srv.log()
            time.sleep(0.01)
        srv.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while (ready := metrics.get('/health/ready')).status_code != 503:
            assert time.monotonic() < deadline, srv.log()
            time.sleep(0.05)
        assert ready.text == 'stopping\n'
        assert metrics.get('/health/live').status_code == 200, 'still up while draining'
        (gate / 'open').touch()
        assert held.result(timeout=15).status_code == 200
    assert srv.wait() == 0


def test_openmetrics_when_asked_and_other_paths_404(server):
    srv, metrics = start(server)
    assert srv.get('/').status_code == 200
    metrics.until(lambda s: s.value('granian_requests_handled') == 1, 'the request')
    response = metrics.get('/metrics', headers={'accept': 'application/openmetrics-text; version=1.0.0'})
    assert response.headers['content-type'] == 'application/openmetrics-text; version=1.0.0; charset=utf-8'
    assert response.text.endswith('# EOF\n')
    scrape = Scrape(response.text, openmetrics=True)
    assert scrape.families['granian_timeouts'].type == 'counter'
    assert scrape.families['granian_requests_handled'].type == 'unknown'
    assert scrape.value('granian_requests_handled') == 1
    assert metrics.get('/').status_code == 404
    assert metrics.get('/metricsx').status_code == 404
    assert metrics.get('/metrics', headers={'accept': 'text/plain'}).text.startswith('# HELP')


def test_wsgi_blocking_threads(server):
    srv, metrics = start(server, '--blocking-threads', '2', target='metrics_apps:wsgi', workers=1)
    for _ in range(5):
        assert srv.get('/').status_code == 200
    scrape = metrics.until(lambda s: s.value('granian_requests_handled') == 5, 'the WSGI requests')
    assert 1 <= scrape.value('granian_blocking_threads', worker='1') <= 2
    assert scrape.value('granian_blocking_busy_cumulative', worker='1') > 0
    assert scrape.value('granian_blocking_queue', worker='1') == 0
    assert duration_count(scrape, interface='wsgi') == 5


def test_metrics_port_in_use_is_one_line_and_exit_1(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_granian(
            '--metrics', '--metrics-port', str(port), '--port', str(free_port()), 'metrics_apps:asgi', timeout=30
        )
    assert result.returncode == 1
    errors = [line for line in (result.stdout + result.stderr).splitlines() if 'ERROR' in line or 'Error' in line]
    assert len(errors) == 1, result.stdout + result.stderr
    assert f'--metrics: Cannot bind to 127.0.0.1:{port}' in errors[0]


def test_bad_metrics_address_exits_1():
    result = run_granian(
        '--metrics', '--metrics-address', 'no-such-host.invalid', '--port', str(free_port()), 'metrics_apps:asgi'
    )
    assert result.returncode == 1
    assert '--metrics: Cannot bind to no-such-host.invalid' in result.stdout + result.stderr
