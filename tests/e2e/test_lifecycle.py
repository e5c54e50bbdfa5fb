"""Worker lifecycle against real processes: respawn, memory recycling, SIGHUP rolling restarts,
reload on file changes, pid file, process title and hooks (the embedded server: test_embed.py).

Every test that stops a server also checks that no process of its group is left behind.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import APPS, free_port, run_granian
from e2e.wire import Conn, get

#: The app's modules are rewritten within the same second: never trust a stale .pyc.
NO_BYTECODE = {'PYTHONDONTWRITEBYTECODE': '1'}


# --- helpers -------------------------------------------------------------------------------


def write_value(directory: Path, value: str) -> None:
    """Rewrite `lifecycle_value.py` (atomically, so a watcher never sees half a file)."""
    temp = directory / 'lifecycle_value.tmp'
    temp.write_text(f'VALUE = {value!r}\n')
    temp.replace(directory / 'lifecycle_value.py')


def write_broken_value(directory: Path) -> None:
    temp = directory / 'lifecycle_value.tmp'
    temp.write_text('VALUE = (\n')
    temp.replace(directory / 'lifecycle_value.py')


@pytest.fixture
def app_dir(tmp_path):
    """A private copy of `lifecycle.py` and `lifecycle_value.py` (VALUE = 'initial')."""
    directory = tmp_path / 'app'
    directory.mkdir()
    shutil.copy(APPS / 'lifecycle.py', directory)
    write_value(directory, 'initial')
    return directory


def lifecycle(server, app_dir, *args, env=None, **kwargs):
    """The lifecycle app from `app_dir`, served by the real CLI."""
    return server(
        'lifecycle:app',
        '--working-dir',
        str(app_dir),
        *args,
        working_dir=False,
        env={**NO_BYTECODE, **(env or {})},
        **kwargs,
    )


def rss_mib(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    raise AssertionError(f'no VmRSS for {pid}')


def cmdline(pid: int) -> str:
    return Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ').decode().strip()


class Load:
    """A bounded request load in threads, recording every failure.

    Half the threads reuse keep-alive connections (one httpx.Client each), half open a new
    connection per request (`connection: close`); every other request is `/slow` (50 ms), so
    that requests are in flight whenever a worker is told to stop. Stops by itself after
    `limit` seconds.
    """

    def __init__(self, srv, threads: int = 4, limit: float = 30.0) -> None:
        self.srv = srv
        self.limit = limit
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.bodies: list[str] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(i % 2 == 0,)) for i in range(threads)]

    def _run(self, keep_alive: bool) -> None:
        deadline = time.monotonic() + self.limit
        headers = {} if keep_alive else {'connection': 'close'}
        with self.srv.client(timeout=10) as client:
            n = 0
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                n += 1
                path = '/slow' if n % 2 else '/'
                try:
                    resp = client.get(path, headers=headers)
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.failures.append(f'{path}: {exc!r}')
                    continue
                with self.lock:
                    if resp.status_code == 200:
                        self.bodies.append(resp.text)
                    else:
                        self.failures.append(f'{path}: {resp.status_code} {resp.text!r}')

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=self.limit + 10)

    def values(self) -> set[str]:
        return {body.split()[0] for body in self.bodies}


# --- respawning ------------------------------------------------------------------------------


def test_a_killed_worker_is_respawned_with_respawn_failed_workers(server):
    srv = server('rsgi_basic:app', '--respawn-failed-workers')
    old = srv.worker_pids()[1]
    os.kill(old, signal.SIGKILL)
    srv.wait_for_log(rf'worker-1 \(PID {old}\) died unexpectedly: killed by signal SIGKILL')
    srv.wait_for_log('Respawning worker-1')
    srv.wait_for_log(r'Started worker-1', count=2)
    new = srv.worker_pids()[1]
    assert new != old
    assert srv.get('/pid').text == str(new)
    assert srv.alive()
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_without_respawn_a_dead_worker_stops_the_server_with_a_clear_message(server):
    srv = server('rsgi_basic:app')
    pid = srv.worker_pids()[1]
    os.kill(pid, signal.SIGKILL)
    assert srv.wait(10) == 1
    log = srv.log()
    assert f'worker-1 (PID {pid}) died unexpectedly: killed by signal SIGKILL' in log
    assert 'Stopping: worker-1 is gone and --respawn-failed-workers is off' in log
    srv.assert_no_orphans()


def test_a_worker_dying_again_right_after_its_respawn_stops_the_server(server):
    srv = server('rsgi_crash_soon:app', '--respawn-failed-workers', env={'CRASH_AFTER': '0.3'})
    assert srv.wait(15) == 1
    log = srv.log()
    assert len(re.findall(r'Spawning worker-1 with PID', log)) == 2, log
    assert log.count('Respawning worker-1') == 1
    assert re.search(r'worker-1 \(PID \d+\) died \d+\.\ds after being respawned: .*crash loop', log), log
    assert 'exit code 3' in log
    srv.assert_no_orphans()


# --- recycling -------------------------------------------------------------------------------


def test_a_worker_above_the_memory_limit_is_replaced_without_failing_a_request(server, app_dir):
    probe = lifecycle(server, app_dir)
    limit = int(rss_mib(probe.worker_pids()[1])) + 40
    probe.stop()

    srv = lifecycle(
        server,
        app_dir,
        *('--workers-max-rss', str(limit), '--rss-sample-interval', '1', '--rss-samples', '2'),
        *('--respawn-interval', '0.2'),
    )
    old = srv.worker_pids()[1]
    assert srv.get('/grow', params={'mb': 80}).status_code == 200
    with concurrent.futures.ThreadPoolExecutor(1) as pool, Load(srv) as load:
        in_flight = pool.submit(srv.get, '/slow', params={'secs': 2.5})
        srv.wait_for_log(
            rf'Replacing worker-1 \(PID {old}\): it uses \d+ MiB, above the limit of {limit} MiB in 2 samples in a row',
            timeout=10,
        )
        srv.wait_for_log(rf'Stopped worker-1 \(PID {old}\)', timeout=15)
        resp = in_flight.result(timeout=10)
        time.sleep(0.3)
    assert (resp.status_code, resp.text) == (200, f'initial {old}'), 'the in-flight request finished on the old worker'
    assert load.failures == []
    assert len(load.bodies) > 20
    new = srv.worker_pids()[1]
    assert new != old
    assert srv.get('/').text == f'initial {new}'
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_a_replaced_worker_that_does_not_finish_is_killed_after_the_kill_timeout(server, app_dir):
    probe = lifecycle(server, app_dir)
    limit = int(rss_mib(probe.worker_pids()[1])) + 40
    probe.stop()

    srv = lifecycle(
        server,
        app_dir,
        *('--workers-max-rss', str(limit), '--rss-sample-interval', '1', '--respawn-interval', '0'),
        *('--workers-kill-timeout', '1'),
    )
    old = srv.worker_pids()[1]
    with Conn(srv.host, srv.port, timeout=20) as hanging:
        assert srv.get('/grow', params={'mb': 80}).status_code == 200
        hanging.send(get('/hang'))
        srv.wait_for_log('^EVENT hang start$')
        srv.wait_for_log(rf'worker-1 \(PID {old}\) did not stop within 1s: killing it', timeout=15)
        assert hanging.wait_closed(5)
    new = srv.worker_pids()[1]
    assert new != old
    assert srv.get('/').text == f'initial {new}'
    assert srv.alive()
    assert srv.stop() == 0, 'killing a replaced worker is not a failure of the server'
    srv.assert_no_orphans()


# --- SIGHUP ------------------------------------------------------------------------------------


def test_sighup_replaces_every_worker_with_new_code_and_no_failed_request(server, app_dir):
    srv = lifecycle(server, app_dir, '--workers', '2', '--respawn-interval', '0.3', workers=2)
    old = set(srv.worker_pids().values())
    with Load(srv) as load:
        time.sleep(0.5)
        write_value(app_dir, 'reloaded')
        srv.send_signal(signal.SIGHUP)
        srv.wait_for_log('Received SIGHUP: reloading the workers one by one')
        for slot in (1, 2):
            srv.wait_for_log(rf'Replaced worker-{slot} \(PID \d+\) by PID \d+ \(SIGHUP\)', timeout=20)
        srv.wait_for_log(r'Stopped worker-\d \(PID \d+\)', count=2, timeout=20)
        time.sleep(0.5)
    assert load.failures == []
    assert load.values() == {'initial', 'reloaded'}
    new = set(srv.worker_pids().values())
    assert len(new) == 2 and not new & old
    for _ in range(6):
        value, pid = srv.get('/').text.split()
        assert value == 'reloaded' and int(pid) in new
    assert srv.alive()
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_sighup_keeps_the_running_workers_when_the_new_code_does_not_load(server, app_dir):
    srv = lifecycle(server, app_dir, '--respawn-interval', '0')
    old = srv.worker_pids()[1]
    write_broken_value(app_dir)
    srv.send_signal(signal.SIGHUP)
    srv.wait_for_log(r'worker-1 \(PID \d+\) failed to start')
    srv.wait_for_log(rf'worker-1 \(PID {old}\) keeps running the code it has')
    assert srv.alive()
    assert srv.get('/').text == f'initial {old}'
    write_value(app_dir, 'fixed')
    srv.send_signal(signal.SIGHUP)
    srv.wait_for_log(rf'Stopped worker-1 \(PID {old}\)', timeout=15)
    assert srv.get('/').text.split()[0] == 'fixed'
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_env_files_are_read_again_on_sighup(server, app_dir, tmp_path):
    env_file = tmp_path / 'app.env'
    env_file.write_text('LIFECYCLE_ENV=first\n')
    srv = lifecycle(server, app_dir, '--env-files', str(env_file), '--respawn-interval', '0')
    assert srv.get('/env').text == 'first'
    env_file.write_text('LIFECYCLE_ENV=second\n')
    srv.send_signal(signal.SIGHUP)
    srv.wait_for_log(r'Stopped worker-1 \(PID \d+\)', timeout=15)
    assert srv.get('/env').text == 'second'
    assert srv.stop() == 0
    srv.assert_no_orphans()


# --- reload on file changes ----------------------------------------------------------------


def reloading(server, app_dir, *args, **kwargs):
    return lifecycle(server, app_dir, '--reload', '--reload-paths', str(app_dir), *args, **kwargs)


def test_reload_serves_the_changed_code(server, app_dir):
    srv = reloading(server, app_dir)
    old = srv.worker_pids()[1]
    srv.wait_for_log('Watching for file changes in')
    write_value(app_dir, 'changed')
    srv.wait_for_log(r'Changes detected in .*lifecycle_value\.py.*: reloading', timeout=10)
    srv.wait_for_log(rf'Stopped worker-1 \(PID {old}\)', timeout=15)
    assert srv.get('/').text.split()[0] == 'changed'
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_reload_survives_a_syntax_error_and_serves_again_once_fixed(server, app_dir):
    srv = reloading(server, app_dir)
    old = srv.worker_pids()[1]
    srv.wait_for_log('Watching for file changes in')
    write_broken_value(app_dir)
    srv.wait_for_log(r'SyntaxError')
    srv.wait_for_log(rf'worker-1 \(PID {old}\) keeps running the code it has; waiting for the next file change')
    assert srv.alive()
    assert srv.get('/').text == f'initial {old}'
    write_value(app_dir, 'fixed')
    srv.wait_for_log(rf'Stopped worker-1 \(PID {old}\)', timeout=15)
    assert srv.get('/').text.split()[0] == 'fixed'
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_reload_waits_for_a_fix_when_the_app_does_not_load_at_start(server, app_dir):
    write_broken_value(app_dir)
    srv = reloading(server, app_dir, ready=None)
    srv.wait_for_log('Waiting for a file change to start worker-1 again', timeout=20)
    time.sleep(0.3)
    assert srv.alive()
    write_value(app_dir, 'fixed')
    srv.wait_for_log('Started worker-1', timeout=15)
    assert srv.get('/').text.split()[0] == 'fixed'
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_reload_ignores_the_configured_dirs_patterns_and_paths(server, app_dir):
    (app_dir / 'data').mkdir()
    (app_dir / 'private').mkdir()
    srv = reloading(
        server,
        app_dir,
        *('--reload-ignore-dirs', 'data', '--reload-ignore-patterns', r'\.txt$'),
        *('--reload-ignore-paths', str(app_dir / 'private')),
    )
    srv.wait_for_log('Watching for file changes in')
    (app_dir / 'notes.txt').write_text('ignored')
    (app_dir / 'data' / 'module.py').write_text('ignored = True\n')
    (app_dir / 'private' / 'module.py').write_text('ignored = True\n')
    time.sleep(1.5)
    assert 'Changes detected' not in srv.log()
    write_value(app_dir, 'watched')
    srv.wait_for_log(r'Changes detected in .*lifecycle_value\.py.*: reloading', timeout=10)
    assert re.search(r'Changes detected in .*(notes\.txt|module\.py)', srv.log()) is None
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_reload_ignore_worker_failure_keeps_the_supervisor_until_the_next_change(server, app_dir):
    srv = reloading(server, app_dir, '--reload-ignore-worker-failure')
    srv.wait_for_log('Watching for file changes in')
    os.kill(srv.worker_pids()[1], signal.SIGKILL)
    srv.wait_for_log('Waiting for a file change to start worker-1 again')
    time.sleep(0.3)
    assert srv.alive()
    write_value(app_dir, 'back')
    srv.wait_for_log('Started worker-1', count=2, timeout=15)
    assert srv.get('/').text.split()[0] == 'back'
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_in_reload_mode_a_dead_worker_still_stops_the_server_by_default(server, app_dir):
    srv = reloading(server, app_dir)
    os.kill(srv.worker_pids()[1], signal.SIGKILL)
    assert srv.wait(10) == 1
    assert 'Stopping: worker-1 is gone' in srv.log()
    srv.assert_no_orphans()


# --- pid file, process title ------------------------------------------------------------------


def test_pid_file_holds_the_main_pid_and_is_removed_at_exit(server, tmp_path):
    pid_file = tmp_path / 'granian.pid'
    srv = server('rsgi_basic:app', '--pid-file', str(pid_file))
    assert pid_file.read_text().strip() == str(srv.proc.pid)
    assert srv.stop() == 0
    assert not pid_file.exists()
    srv.assert_no_orphans()


def test_pid_file_of_a_running_process_refuses_the_start(tmp_path):
    pid_file = tmp_path / 'granian.pid'
    pid_file.write_text(f'{os.getpid()}\n')  # this test process: alive, and not the server
    result = run_granian(
        '--working-dir', str(APPS), '--port', str(free_port()), '--pid-file', str(pid_file), 'rsgi_basic:app'
    )
    assert result.returncode == 1
    errors = [line for line in (result.stdout + result.stderr).splitlines() if 'ERROR' in line or 'Error' in line]
    assert len(errors) == 1, result.stdout + result.stderr
    assert f'holds the PID {os.getpid()} of a running process: is granian already running?' in errors[0]
    assert 'Spawning' not in result.stdout
    assert pid_file.read_text() == f'{os.getpid()}\n', 'the other process keeps its pid file'


def test_a_stale_pid_file_is_replaced(server, tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    pid_file = tmp_path / 'granian.pid'
    pid_file.write_text(f'{dead.pid}\n')
    srv = server('rsgi_basic:app', '--pid-file', str(pid_file))
    assert pid_file.read_text().strip() == str(srv.proc.pid)
    assert srv.stop() == 0
    assert not pid_file.exists()


def test_process_name_titles_the_supervisor_and_the_workers(server):
    srv = server('rsgi_basic:app', '--workers', '2', '--process-name', 'lifecycle-test', workers=2)
    assert cmdline(srv.proc.pid) == 'lifecycle-test'
    for slot, pid in srv.worker_pids().items():
        assert cmdline(pid) == f'lifecycle-test [worker-{slot}]'
    assert srv.stop() == 0
    srv.assert_no_orphans()


# --- hooks ---------------------------------------------------------------------------------------


def test_startup_reload_and_shutdown_hooks_run_in_the_main_process_at_their_moment(server, tmp_path):
    hooks_file = tmp_path / 'hooks'
    port = free_port()
    srv = server(
        cmd=[sys.executable, str(APPS / 'hooks_server.py'), str(port)],
        env={'HOOKS_FILE': str(hooks_file)},
        port=port,
        workers=2,
    )
    before = sorted(srv.worker_pids().values())
    srv.send_signal(signal.SIGHUP)
    srv.wait_for_log(r'Stopped worker-\d \(PID \d+\)', count=2, timeout=20)
    after = sorted(srv.worker_pids().values())
    assert srv.stop() == 0
    srv.assert_no_orphans()

    lines = hooks_file.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ['startup', 'reload', 'shutdown']
    startup, reload, shutdown = (dict(part.split('=') for part in line.split()[1:]) for line in lines)
    assert startup == {'children': '', 'listening': 'yes'}, 'on_startup: socket bound, no worker yet'
    assert reload['children'] == ','.join(map(str, before)), 'on_reload: before any worker is replaced'
    assert set(after).isdisjoint(before)
    assert shutdown['children'] == '', 'on_shutdown: after every worker stopped'
