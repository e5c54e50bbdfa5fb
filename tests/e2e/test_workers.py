"""Worker processes and signals: spawning, graceful stop, kill timeout, crashed workers."""

import concurrent.futures
import os
import re
import shutil
import signal
import time

import httpx
import pytest

from conftest import APPS, free_port, granian_cmd
from e2e.wire import Conn, get


def test_two_workers_are_spawned_and_serve(server):
    srv = server('rsgi_basic:app', '--workers', '2', workers=2)
    pids = srv.worker_pids()
    assert sorted(pids) == [1, 2]
    assert len(set(pids.values())) == 2
    group = {pid for pid, _ in srv.remaining()}
    assert set(pids.values()) <= group, 'workers run in the server process group'
    assert srv.proc.pid not in pids.values()
    served_by = set()
    for _ in range(10):
        resp = srv.get('/pid')
        assert resp.status_code == 200
        served_by.add(int(resp.text))
    assert served_by <= set(pids.values())
    assert srv.stop() == 0
    srv.assert_no_orphans()


def start_slow_request(srv, pool, secs=1.0, tag='slow'):
    """A request the app answers after `secs` seconds; returns once the app is handling it."""
    marker = f'EVENT sleep start {tag}'
    future = pool.submit(srv.get, '/sleep', params={'secs': secs, 'tag': tag})
    srv.wait_for_log(f'^{marker}$')
    return future


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT'])
def test_stop_signal_lets_the_in_flight_request_finish(server, signum):
    srv = server('rsgi_basic:app')
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = start_slow_request(srv, pool)
        srv.send_signal(signum)
        resp = future.result(timeout=10)
    assert (resp.status_code, resp.text) == (200, 'slept')
    assert srv.wait(10) == 0
    srv.assert_no_orphans()
    assert 'Shutting down granian' in srv.log()


def test_ctrl_c_to_the_whole_group_stops_gracefully(server):
    srv = server('rsgi_basic:app', '--workers', '2', workers=2)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = start_slow_request(srv, pool, tag='ctrl-c')
        srv.signal_group(signal.SIGINT)
        resp = future.result(timeout=10)
    assert (resp.status_code, resp.text) == (200, 'slept')
    assert srv.wait(10) == 0
    srv.assert_no_orphans()


def test_no_new_connections_are_served_after_stop(server):
    srv = server('rsgi_basic:app')
    assert srv.stop() == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.url, timeout=2)


def test_workers_kill_timeout_ends_a_worker_that_never_finishes(server):
    srv = server('rsgi_basic:app', '--workers-kill-timeout', '1')
    with Conn(srv.host, srv.port, timeout=15) as conn:
        conn.send(get('/hang'))
        srv.wait_for_log('^EVENT hang start$')
        started = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=10)  # raises TimeoutExpired if the server hangs
        elapsed = time.monotonic() - started
        assert conn.wait_closed(5), 'the hanging request must be cut off with its worker'
    assert 0.8 <= elapsed < 8, f'stopped after {elapsed:.2f}s with a 1s kill timeout'
    srv.assert_no_orphans()


def test_a_killed_worker_is_reported_and_the_server_exits_non_zero(server):
    srv = server('rsgi_basic:app')
    pid = srv.worker_pids()[1]
    os.kill(pid, signal.SIGKILL)
    code = srv.wait(timeout=10)
    assert code != 0
    lines = [line for line in srv.log().splitlines() if 'worker-1' in line and str(pid) in line]
    death = [line for line in lines if 'Spawning' not in line]
    assert death, f'no line reports the death of worker-1 (PID {pid}):\n{srv.log()}'
    assert any(re.search(r'SIGKILL|signal 9|killed', line) for line in death)
    srv.assert_no_orphans()


def test_idle_keep_alive_connections_do_not_delay_the_stop(server):
    srv = server('rsgi_basic:app')
    with Conn(srv.host, srv.port, timeout=10) as idle:
        assert idle.request(get('/')).status == 200
        started = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        assert idle.wait_closed(5), 'an idle keep-alive connection must be closed at shutdown'
    srv.assert_no_orphans()


def test_a_second_interrupt_kills_workers_that_do_not_stop(server):
    srv = server('rsgi_basic:app')
    with Conn(srv.host, srv.port, timeout=15) as conn:
        conn.send(get('/hang'))
        srv.wait_for_log('^EVENT hang start$')
        srv.send_signal(signal.SIGINT)
        srv.wait_for_log('Shutting down granian')
        time.sleep(0.3)
        assert srv.alive(), 'the first interrupt is a graceful stop: the hanging request holds it'
        srv.send_signal(signal.SIGINT)
        assert srv.wait(timeout=10) != 0
    srv.assert_no_orphans()


def test_workers_do_not_outlive_a_killed_supervisor(server):
    srv = server('rsgi_basic:app', '--workers', '2', workers=2)
    workers = set(srv.worker_pids().values())
    srv.proc.kill()
    srv.proc.wait(timeout=10)
    srv.assert_no_orphans(timeout=10)
    assert not workers & {pid for pid, _ in srv.remaining()}


def _stop_and_let_the_worker_notice(srv):
    srv.send_signal(signal.SIGTERM)
    srv.wait_for_log('Shutting down granian')
    time.sleep(0.3)  # the supervisor forwards SIGTERM; the worker's engine starts draining


def test_a_connection_accepted_before_the_stop_still_gets_its_response(server):
    srv = server('rsgi_basic:app')
    with Conn(srv.host, srv.port, timeout=10) as conn:
        time.sleep(0.2)  # accepted by the worker, but no request yet
        _stop_and_let_the_worker_notice(srv)
        resp = conn.request(get('/'))
        assert resp.status == 200
        assert resp.header('connection') == 'close'
        assert conn.wait_closed(5)
    assert srv.wait(10) == 0
    srv.assert_no_orphans()


def test_a_keep_alive_request_sent_during_the_stop_is_answered_then_the_connection_closes(server):
    srv = server('rsgi_basic:app')
    with Conn(srv.host, srv.port, timeout=10) as conn:
        first = conn.request(get('/'))
        assert first.status == 200 and first.header('connection') is None
        _stop_and_let_the_worker_notice(srv)
        second = conn.request(get('/'))
        assert second.status == 200
        assert second.header('connection') == 'close'
        assert conn.wait_closed(5)
    assert srv.wait(10) == 0
    srv.assert_no_orphans()


def open_files_limits(pid: int) -> tuple[int, int]:
    """(soft, hard) RLIMIT_NOFILE of process `pid`, from /proc."""
    with open(f'/proc/{pid}/limits') as f:
        line = next(line for line in f if line.startswith('Max open files'))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


HAS_PRLIMIT = os.path.exists('/proc/self/limits') and shutil.which('prlimit') is not None


@pytest.mark.skipif(not HAS_PRLIMIT, reason='needs /proc and prlimit')
def test_workers_raise_their_open_files_soft_limit_to_the_hard_one(server):
    """Started under a soft limit of 256 (hard 4096), a worker serves with 4096: connections are
    not refused with "too many open files" at a limit meant for interactive shells."""
    port = free_port()
    granian = granian_cmd('--working-dir', str(APPS), '--port', str(port), 'rsgi_basic:app')
    srv = server(cmd=['prlimit', '--nofile=256:4096', '--', *granian], port=port)
    assert open_files_limits(srv.proc.pid) == (256, 4096), 'the supervisor keeps what it was given'
    assert open_files_limits(srv.worker_pids()[1]) == (4096, 4096)
    assert srv.get('/').status_code == 200
    assert srv.stop() == 0
