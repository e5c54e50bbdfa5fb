"""The `granian` command line and the Python API, as a user runs them."""

import re
import sys

import pytest

from conftest import APPS, free_port, run_granian


def error_lines(text):
    return [line for line in text.splitlines() if line.startswith('Error:')]


def test_version():
    result = run_granian('--version')
    assert result.returncode == 0
    assert re.fullmatch(r'granian \d+\.\d+\.\d+\n', result.stdout)


@pytest.mark.parametrize(
    ('args', 'option'),
    [
        (['--port', 'abc'], '--port'),
        (['--workers', '0'], '--workers'),
        (['--interface', 'nope'], '--interface'),
        (['--backlog', '10'], '--backlog'),
        (['--http1-header-read-timeout', '0'], '--http1-header-read-timeout'),
        (['--workers-kill-timeout', 'soon'], '--workers-kill-timeout'),
    ],
)
def test_invalid_option_value_is_a_usage_error(args, option):
    result = run_granian('--port', '0', *args, 'rsgi_basic:app', timeout=15)
    assert result.returncode == 2
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert option in errors[0]
    assert 'Traceback' not in result.stderr + result.stdout


def test_env_port_is_honoured(server):
    port = free_port()
    srv = server('rsgi_basic:app', env={'GRANIAN_PORT': str(port)}, pass_port=False, port=port)
    srv.wait_for_log(rf'Listening at: http://127\.0\.0\.1:{port} ')
    assert srv.get('/').status_code == 200


def test_env_workers_is_honoured(server):
    srv = server('rsgi_basic:app', env={'GRANIAN_WORKERS': '2'}, workers=2)
    assert sorted(srv.worker_pids()) == [1, 2]


def test_cli_option_beats_env_var(server):
    srv = server('rsgi_basic:app', '--workers', '1', env={'GRANIAN_WORKERS': '2'})
    assert srv.get('/').status_code == 200
    assert sorted(srv.worker_pids()) == [1]


def test_env_interface_is_honoured(server):
    srv = server('rsgi_basic:app', env={'GRANIAN_INTERFACE': 'RSGI'})
    assert srv.get('/').status_code == 200
    result = run_granian('--port', str(free_port()), 'rsgi_basic:app', env={'GRANIAN_INTERFACE': 'nope'})
    assert result.returncode == 2
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and 'interface' in errors[0].lower(), result.stderr


def test_legacy_threads_option_is_accepted(server):
    srv = server('rsgi_basic:app', '--threads', '2')
    assert srv.get('/').text == 'ok'


@pytest.mark.parametrize(
    ('target', 'name'),
    [('nope:app', 'nope'), ('rsgi_basic:missing', 'missing')],
    ids=['missing-module', 'missing-attribute'],
)
def test_unknown_app_target_fails_with_a_one_line_message(target, name):
    result = run_granian('--working-dir', str(APPS), '--port', str(free_port()), target)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'Traceback' not in output
    # One error line names what is missing; nothing else (no traceback, no repeated message).
    naming = [line for line in output.splitlines() if f"'{name}'" in line]
    assert len(naming) == 1, output
    assert 'error' in naming[0].lower(), output


def test_app_module_raising_on_import_shows_the_traceback():
    result = run_granian('--working-dir', str(APPS), '--port', str(free_port()), 'rsgi_import_error:app')
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'Traceback (most recent call last)' in output
    assert 'RuntimeError: import-time failure marker' in output
    assert 'rsgi_import_error.py' in output


def test_python_api_serves(server, tmp_path):
    script = tmp_path / 'serve_api.py'
    script.write_text(
        'import sys\n'
        'from pathlib import Path\n'
        'from granian import Granian\n'
        '\n'
        "if __name__ == '__main__':\n"
        "    Granian('rsgi_basic:app', address='127.0.0.1', port=int(sys.argv[1]),\n"
        '            working_dir=Path(sys.argv[2]), workers=2).serve()\n'
    )
    port = free_port()
    srv = server(cmd=[sys.executable, str(script), str(port), str(APPS)], port=port, workers=2)
    resp = srv.get('/')
    assert (resp.status_code, resp.text) == (200, 'ok')
    assert srv.stop() == 0
    srv.assert_no_orphans()


def test_env_nested_http1_setting_is_honoured(server):
    srv = server('rsgi_basic:app', env={'GRANIAN_HTTP1_KEEP_ALIVE': 'off'})
    resp = srv.get('/')
    assert resp.status_code == 200
    assert resp.headers['connection'].lower() == 'close'


def test_env_var_with_a_renamed_parameter_is_honoured(server):
    srv = server('rsgi_basic:app', env={'GRANIAN_LOG_ACCESS_ENABLED': 'true'})
    assert srv.get('/env-access').status_code == 404
    srv.wait_for_log(r'"GET /env-access HTTP/1\.1" 404 ')


def test_legacy_threads_env_var_is_accepted(server):
    srv = server('rsgi_basic:app', env={'GRANIAN_THREADS': '2'})
    assert srv.get('/').text == 'ok'


@pytest.mark.parametrize(
    ('env', 'name'),
    [
        ({'GRANIAN_OPT': 'definitely-not-valid'}, 'GRANIAN_OPT'),
        ({'GRANIAN_LOOP_OPT': 'definitely-not-valid'}, 'GRANIAN_LOOP_OPT'),
        ({'GRANIAN_THREADING_MODE': 'x'}, 'GRANIAN_THREADING_MODE'),
        ({'GRANIAN_THREADS': 'many'}, 'GRANIAN_THREADS'),
        ({'GRANIAN_TASK_IMPL': 'fast'}, 'GRANIAN_TASK_IMPL'),
    ],
)
def test_invalid_legacy_env_var_exits_2_with_one_line_naming_it(env, name):
    result = run_granian('--port', str(free_port()), 'rsgi_basic:app', env=env, timeout=15)
    assert result.returncode == 2
    assert result.stderr.splitlines() == error_lines(result.stderr), result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert f"'{name}'" in errors[0]
    assert result.stdout == ''


@pytest.mark.parametrize(
    ('args', 'env'),
    [
        (['--threading-mode', 'runtime', '--opt', '--task-impl', 'auto'], {}),
        ([], {'GRANIAN_THREADING_MODE': 'workers', 'GRANIAN_LOOP_OPT': 'on', 'GRANIAN_TASK_IMPL': 'auto'}),
    ],
    ids=['flags', 'env'],
)
def test_legacy_names_serve_with_one_deprecation_warning(server, args, env):
    srv = server('rsgi_basic:app', *args, env=env)
    assert srv.get('/').text == 'ok'
    warnings = [line for line in srv.stdout.splitlines() if 'Deprecated settings' in line]
    assert len(warnings) == 1 and warnings[0].startswith('[WARNING] '), srv.log()
    assert srv.stderr == ''


@pytest.mark.parametrize(
    ('target', 'path', 'interface', 'args', 'env'),
    [
        ('asgi_basic:app', '/scope', 'asgi', ['--blocking-threads', '4'], {}),
        ('rsgi_basic:app', '/', 'rsgi', [], {'GRANIAN_BLOCKING_THREADS': '3'}),
    ],
    ids=['asgi-flag', 'rsgi-env'],
)
def test_more_blocking_threads_on_an_async_interface_serve_as_in_1x(server, target, path, interface, args, env):
    srv = server(target, '--interface', interface, *args, env=env, ready_path=path)
    for _ in range(3):
        assert srv.get(path).status_code == 200
    lines = srv.stdout.splitlines()
    warnings = [line for line in lines if '--blocking-threads' in line]
    assert len(warnings) == 1, srv.log()
    assert warnings[0].startswith('[WARNING] Deprecated settings: ')
    assert 'so 1 is used' in warnings[0]
    # Logged through the configured logging (formatted, on stdout), not as a bare stderr line.
    assert srv.stderr == ''
