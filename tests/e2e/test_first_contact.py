"""What a new user sees first: the startup lines, the wrong-interface warning, import failures."""

import re
import signal
import time

import pytest

from conftest import APPS, free_port, run_granian

ASGI_HINT = 'the app looks like an ASGI application: run with --interface asgi'
WSGI_HINT = 'the app looks like a WSGI application: run with --interface wsgi'


def lines_with(log, text):
    return [line for line in log.splitlines() if text in line]


# --- wrong interface -------------------------------------------------------------------------


def test_asgi_app_under_the_default_interface_warns_once_then_hints_on_each_500(server):
    srv = server('asgi_basic:app', '--workers', '2', workers=2)
    warning = (
        "[WARNING] app 'asgi_basic:app' looks like an ASGI application but --interface is rsgi: "
        'run with --interface asgi'
    )
    assert lines_with(srv.log(), 'looks like') == [warning]  # one line, not one per worker
    assert srv.get('/').status_code == 500
    srv.wait_for_log(
        rf'^\[ERROR\] Application callable raised an exception \({re.escape(ASGI_HINT)}\)\n'
        r"(?:.*\n)*?TypeError: app\(\) missing 1 required positional argument: 'send'$"
    )


def test_fastapi_app_under_the_default_interface_warns(server):
    srv = server('fastapi_app:app')
    assert "app 'fastapi_app:app' looks like an ASGI application but --interface is rsgi" in srv.log()
    assert srv.get('/').status_code == 500
    srv.wait_for_log(re.escape(f'Application callable raised an exception ({ASGI_HINT})'))


def test_flask_app_under_asgi_warns_and_hints(server):
    srv = server('flask_app:app', '--interface', 'asgi')
    assert (
        "[WARNING] app 'flask_app:app' looks like a WSGI application but --interface is asgi: run with --interface wsgi"
        in srv.log()
    )
    assert srv.get('/json').status_code == 500
    srv.wait_for_log(
        rf'^\[ERROR\] Application callable raised an exception \({re.escape(WSGI_HINT)}\)\n'
        r'(?:.*\n)*?TypeError: Flask\.__call__\(\) takes 3 positional arguments but 4 were given$'
    )


def test_asgi_app_under_wsgi_hints_on_the_500_line(server):
    srv = server('asgi_basic:app', '--interface', 'wsgi')
    assert 'looks like an ASGI application but --interface is wsgi' in srv.log()
    assert srv.get('/').status_code == 500
    srv.wait_for_log(re.escape(f'[ERROR] Application callable raised an exception ({ASGI_HINT})'))


@pytest.mark.parametrize(
    ('target', 'args', 'path'),
    [
        ('rsgi_basic:app', (), '/'),
        ('asgi_basic:app', ('--interface', 'asgi'), '/scope'),
        ('asgi_basic:app', ('--interface', 'asginl'), '/scope'),
        ('flask_app:app', ('--interface', 'wsgi'), '/json'),
    ],
    ids=['rsgi', 'asgi', 'asginl', 'wsgi'],
)
def test_an_app_served_with_its_interface_gets_no_warning(server, target, args, path):
    srv = server(target, *args)
    assert srv.get(path).status_code == 200
    assert srv.stop() == 0
    log = srv.log()
    assert '[WARNING]' not in log and 'looks like' not in log, log


def test_a_failure_of_a_well_shaped_app_has_no_hint(server):
    srv = server('rsgi_basic:app')
    assert srv.get('/raise').status_code == 500
    srv.wait_for_log(r'^\[ERROR\] Application callable raised an exception$')


# --- startup lines ----------------------------------------------------------------------------


def test_startup_lines_name_the_setup_and_ready_comes_after_every_worker_loaded(server):
    srv = server(
        'rsgi_slow_import:app',
        '--workers',
        '2',
        '--http',
        '1',
        '--loop',
        'asyncio',
        env={'SLOW_IMPORT_SECONDS': '1.5'},
        ready=None,
    )
    srv.wait_for_log(r'Spawning worker-2 ')
    time.sleep(0.5)  # the workers are importing the app now
    assert 'Listening at' not in srv.log()
    assert 'Started worker' not in srv.log()
    (ready,) = srv.wait_for_log(r'^\[INFO\] Listening at: (\S+) \(ready, 2 workers\)$', timeout=20)
    assert ready[1] == f'http://127.0.0.1:{srv.port}'
    assert srv.get('/').text == 'ok'
    assert srv.stop() == 0
    log = srv.log()
    setup = "[INFO] App 'rsgi_slow_import:app': --interface rsgi, --http 1, --loop asyncio, --workers 2"
    assert lines_with(log, "App '") == [setup]
    order = [
        log.index('Starting granian'),
        log.index(setup),
        log.index('Spawning worker-1'),
        max(log.index('Started worker-1'), log.index('Started worker-2')),
        log.index('Listening at:'),
    ]
    assert order == sorted(order), log
    assert len(lines_with(log, 'Listening at')) == 1


def test_ready_is_not_repeated_after_a_reload(server):
    srv = server('rsgi_basic:app', '--respawn-interval', '0')
    srv.wait_for_log(r'Listening at: .* \(ready, 1 worker\)$')
    srv.send_signal(signal.SIGHUP)
    srv.wait_for_log(r'Stopped worker-1 ')
    assert len(lines_with(srv.log(), 'Listening at')) == 1


# --- import failures --------------------------------------------------------------------------


def run_app(target, working_dir=APPS):
    result = run_granian('--working-dir', str(working_dir), '--port', str(free_port()), target)
    return result.returncode, result.stdout + result.stderr


def assert_failed_before_serving(output):
    for absent in ('Listening at', 'Started worker', 'importlib', 'granian/loading.py', 'granian/server/'):
        assert absent not in output, f'{absent!r} in the output:\n{output}'
    assert len(lines_with(output, 'failed to start')) == 1, output


def test_import_error_shows_one_summary_line_and_the_apps_frames():
    code, output = run_app('import_name_error:app')
    assert code == 1
    assert_failed_before_serving(output)
    summary = "[ERROR] cannot import 'import_name_error:app': NameError: name 'DEBUG_FLAG' is not defined"
    assert lines_with(output, 'cannot import') == [summary], output
    assert output.count('Traceback (most recent call last)') == 1, output
    frames = re.findall(r'^  File "([^"]+)", line (\d+), in (\S+)$', output, re.MULTILINE)
    assert frames == [
        (str(APPS / 'import_name_error.py'), '7', '<module>'),
        (str(APPS / 'import_name_error_settings.py'), '5', 'load_settings'),
    ], output
    pid = re.search(r'Spawning worker-1 with PID: (\d+)', output)[1]
    assert output.rstrip().splitlines()[-2:] == [
        f'[ERROR] worker-1 (PID {pid}) failed to start (see the error above)',
        '[INFO] Shutting down granian',
    ]


def test_missing_dependency_shows_the_apps_import_line():
    code, output = run_app('import_missing_dependency:app')
    assert code == 1
    assert_failed_before_serving(output)
    assert (
        "cannot import 'import_missing_dependency:app': ModuleNotFoundError: "
        "No module named 'granian_test_dependency_that_is_not_installed'"
    ) in output
    assert f'File "{APPS / "import_missing_dependency.py"}", line 3, in <module>' in output, output


def test_syntax_error_shows_the_file_and_line_only(tmp_path):
    (tmp_path / 'broken_syntax.py').write_text('async def app(scope, protocol):\n    return (\n\nx = 1 +\n')
    code, output = run_app('broken_syntax:app', tmp_path)
    assert code == 1
    assert_failed_before_serving(output)
    assert "[ERROR] cannot import 'broken_syntax:app': SyntaxError: " in output
    assert f'File "{tmp_path / "broken_syntax.py"}", line ' in output, output
    assert 'Traceback' not in output  # no frame to show: the file never ran


def test_missing_target_module_is_one_line():
    code, output = run_app('no_such_module_for_granian:app')
    assert code == 1
    assert_failed_before_serving(output)
    assert len(lines_with(output, "'no_such_module_for_granian'")) == 1
    assert 'Traceback' not in output
