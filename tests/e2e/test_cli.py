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
    assert f'Listening at: http://127.0.0.1:{port}' in srv.log()
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
