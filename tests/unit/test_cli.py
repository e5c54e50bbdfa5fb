"""CLI parsing and errors, with the supervisor replaced (no process is started here)."""

import importlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

import granian
from granian import config as config_module
from granian.cli import cli
from granian.config import build_config
from granian.errors import StartupError

PYTHON_DIR = str(Path(granian.__file__).resolve().parent.parent)

#: Every flag of the compatibility spec (CLI.md §1).
SPEC_FLAGS = """
--host --port --uds --uds-permissions --interface --http --ws --no-ws --workers --blocking-threads
--blocking-threads-idle-timeout --runtime-threads --runtime-blocking-threads --runtime-mode --loop --task-impl
--backlog --backpressure --http1-buffer-size --http1-header-read-timeout --http1-keep-alive --no-http1-keep-alive
--http1-pipeline-flush --no-http1-pipeline-flush --http2-adaptive-window --no-http2-adaptive-window
--http2-initial-connection-window-size --http2-initial-stream-window-size --http2-keep-alive-interval
--http2-keep-alive-timeout --http2-max-concurrent-streams --http2-max-frame-size --http2-max-headers-size
--http2-max-send-buffer-size --log --no-log --log-level --log-config --access-log --no-access-log --access-log-fmt
--ssl-certificate --ssl-keyfile --ssl-keyfile-password --ssl-protocol-min --ssl-ca --ssl-crl --ssl-client-verify
--no-ssl-client-verify --url-path-prefix --respawn-failed-workers --no-respawn-failed-workers --respawn-interval
--rss-sample-interval --rss-samples --workers-lifetime --workers-max-rss --workers-kill-timeout --factory
--no-factory --working-dir --env-files --static-path-route --static-path-mount --static-path-dir-to-file
--static-path-expires --metrics --no-metrics --metrics-scrape-interval --metrics-address --metrics-port --reload
--no-reload --reload-paths --reload-ignore-dirs --reload-ignore-patterns --reload-ignore-paths --reload-tick
--reload-ignore-worker-failure --no-reload-ignore-worker-failure --process-name --pid-file --version --help
""".split()


@pytest.fixture(autouse=True)
def no_uvloop(monkeypatch):
    monkeypatch.setattr(config_module, 'module_available', lambda name: name == 'dotenv')


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith('GRANIAN_'):
            monkeypatch.delenv(name)


@pytest.fixture
def served(monkeypatch):
    """Replaces `granian.server.supervisor.run`; records its calls. Set `.code` / `.error` to steer it."""
    calls = types.SimpleNamespace(configs=[], hooks=[], code=0, error=None)

    def run(config, hooks):
        calls.configs.append(config)
        calls.hooks.append(hooks)
        if calls.error is not None:
            raise calls.error
        return calls.code

    try:
        supervisor = importlib.import_module('granian.server.supervisor')
    except ImportError:
        supervisor = types.ModuleType('granian.server.supervisor')
        monkeypatch.setitem(sys.modules, 'granian.server.supervisor', supervisor)
    monkeypatch.setattr(supervisor, 'run', run, raising=False)
    return calls


@pytest.fixture
def keywords(monkeypatch):
    """Replaces `Granian` to capture the keyword arguments the CLI maps options to."""
    seen = {}

    class Recorder:
        def __init__(self, target, **kwargs):
            seen.clear()
            seen.update(kwargs, target=target)

        def serve(self):
            pass

    monkeypatch.setattr('granian.server.Granian', Recorder)
    return seen


def invoke(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, prog_name='granian')


def test_help_lists_every_spec_option():
    result = invoke('--help')
    assert result.exit_code == 0
    words = set(result.output.replace('/', ' ').replace(',', ' ').split())
    missing = [flag for flag in SPEC_FLAGS if flag not in words]
    assert missing == []
    assert 'GRANIAN_WEBSOCKETS' in result.output
    assert 'GRANIAN_LOG_ACCESS_FMT' in result.output


def test_version():
    result = invoke('--version')
    assert (result.exit_code, result.output) == (0, 'granian 0.1.0\n')


def test_app_is_required():
    result = invoke()
    assert result.exit_code == 2
    assert "Missing argument 'APP'" in result.output


def test_defaults_reach_the_supervisor_unchanged(served):
    result = invoke('main:app')
    assert result.exit_code == 0, result.output
    assert served.configs == [build_config('main:app')]
    assert set(served.hooks[0]) == {'startup', 'reload', 'shutdown'}


def test_only_given_options_are_passed(keywords):
    assert invoke('main:app').exit_code == 0
    assert keywords == {'target': 'main:app'}


def test_options_map_to_keywords(keywords, tmp_path):
    log_config = tmp_path / 'log.json'
    log_config.write_text(json.dumps({'version': 1, 'loggers': {}}))
    env_a, env_b = tmp_path / 'a.env', tmp_path / 'b.env'
    env_a.write_text('')
    env_b.write_text('')
    result = invoke(
        *('--host', '::1', '--port', '9000', '--no-ws', '--interface', 'ASGI', '--http', '1'),
        *('--http1-buffer-size', '65536', '--no-http1-keep-alive', '--http1-max-headers', '20'),
        *('--log-level', 'WARNING', '--access-log', '--access-log-fmt', '%(addr)s', '--log-config', str(log_config)),
        '--access-log-json',
        *('--env-files', str(env_a), '--env-files', str(env_b), '--workers-kill-timeout', '1m30s'),
        *('--uds-permissions', '0660', '--respawn-interval', '1.5', '--factory', 'pkg:make'),
    )
    assert result.exit_code == 0, result.output
    assert keywords == {
        'target': 'pkg:make',
        'address': '::1',
        'port': 9000,
        'websockets': False,
        'interface': 'asgi',
        'http': '1',
        'http1_settings': {'max_buffer_size': 65536, 'keep_alive': False, 'max_headers': 20},
        'log_level': 'warning',
        'log_access': True,
        'log_access_format': '%(addr)s',
        'log_access_json': True,
        'log_dictconfig': {'version': 1, 'loggers': {}},
        'env_files': (str(env_a), str(env_b)),
        'workers_kill_timeout': 90,
        'uds_permissions': 0o660,
        'respawn_interval': 1.5,
        'factory': True,
    }


def test_full_config_from_options(served):
    result = invoke(
        '--interface', 'wsgi', '--workers', '2', '--blocking-threads', '8', '--http1-max-headers', '7', 'a:b'
    )
    assert result.exit_code == 0, result.output
    config = served.configs[0]
    assert (config.interface, config.workers, config.blocking_threads) == ('wsgi', 2, 8)
    assert config.http1_settings.max_headers == 7
    assert config.backpressure == 512


def test_env_vars_including_the_renamed_ones(keywords, tmp_path):
    env_a, env_b = tmp_path / 'a.env', tmp_path / 'b.env'
    env_a.write_text('')
    env_b.write_text('')
    env = {
        'GRANIAN_WORKERS': '3',
        'GRANIAN_WEBSOCKETS': 'false',
        'GRANIAN_WS_MAX_MESSAGE_SIZE': '2048',
        'GRANIAN_WS_PING_INTERVAL': '2.5',
        'GRANIAN_LOG_ENABLED': '0',
        'GRANIAN_LOG_ACCESS_ENABLED': 'yes',
        'GRANIAN_LOG_ACCESS_FMT': '%(path)s',
        'GRANIAN_LOG_ACCESS_JSON': 'true',
        'GRANIAN_HTTP1_KEEP_ALIVE': 'off',
        'GRANIAN_HOST': '0.0.0.0',
        'GRANIAN_ENV_FILES': f'{env_a}{os.pathsep}{env_b}',
        'GRANIAN_RELOAD_IGNORE_DIRS': 'build  dist',
        'GRANIAN_BLOCKING_THREADS_IDLE_TIMEOUT': '1m',
    }
    result = invoke('main:app', env=env)
    assert result.exit_code == 0, result.output
    assert keywords == {
        'target': 'main:app',
        'workers': 3,
        'websockets': False,
        'ws_max_message_size': 2048,
        'ws_ping_interval': 2.5,
        'log_enabled': False,
        'log_access': True,
        'log_access_format': '%(path)s',
        'log_access_json': True,
        'http1_settings': {'keep_alive': False},
        'address': '0.0.0.0',
        'env_files': (str(env_a), str(env_b)),
        'reload_ignore_dirs': ('build', 'dist'),
        'blocking_threads_idle_timeout': 60,
    }


def test_overload_options_flags_gunicorn_spellings_and_env(keywords):
    args = ('--limit-concurrency', '64', '--limit-max-requests', '1000', '--limit-max-requests-jitter', '50')
    assert invoke(*args, 'main:app').exit_code == 0
    expected = {'limit_concurrency': 64, 'limit_max_requests': 1000, 'limit_max_requests_jitter': 50}
    assert keywords == {'target': 'main:app', **expected}
    # gunicorn's names for the same two options.
    assert invoke('--max-requests', '1000', '--max-requests-jitter', '50', 'main:app').exit_code == 0
    assert keywords == {'target': 'main:app', 'limit_max_requests': 1000, 'limit_max_requests_jitter': 50}
    env = {'GRANIAN_LIMIT_CONCURRENCY': '64', 'GRANIAN_LIMIT_MAX_REQUESTS': '1000'}
    env['GRANIAN_LIMIT_MAX_REQUESTS_JITTER'] = '50'
    assert invoke('main:app', env=env).exit_code == 0
    assert keywords == {'target': 'main:app', **expected}


def test_overload_options_reach_the_config(served):
    result = invoke('--limit-concurrency', '8', '--max-requests', '20', '--max-requests-jitter', '5', 'main:app')
    assert result.exit_code == 0, result.output
    config = served.configs[0]
    assert (config.limit_concurrency, config.limit_max_requests, config.limit_max_requests_jitter) == (8, 20, 5)


def test_help_shows_the_gunicorn_spellings():
    output = invoke('--help').output
    assert '--limit-max-requests, --max-requests' in output
    assert '--limit-max-requests-jitter, --max-requests-jitter' in output
    assert 'GRANIAN_LIMIT_CONCURRENCY' in output


def test_command_line_beats_env(keywords):
    assert invoke('--workers', '2', 'main:app', env={'GRANIAN_WORKERS': '5'}).exit_code == 0
    assert keywords['workers'] == 2


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--runtime-threads', '0'], "Error: Invalid value for '--runtime-threads': 0 is not in the range x>=1."),
        (['--backlog', '10'], "Error: Invalid value for '--backlog': 10 is not in the range x>=128."),
        (['--interface', 'cgi'], "Error: Invalid value for '--interface': 'cgi' is not one of"),
        (
            ['--workers-kill-timeout', '2h'],
            "Error: Invalid value for '--workers-kill-timeout': '2h' is greater than the maximum allowed value of 1800",
        ),
        (['--blocking-threads-idle-timeout', 'soon'], "'soon' is not a valid duration"),
        (['--no-such-flag'], 'Error: No such option'),
        (['--loop', 'rloop'], "Error: Value 'rloop' of --loop is not supported yet by this build"),
        (['--task-impl', 'rust'], "Error: Value 'rust' of --task-impl is not supported yet by this build"),
        (['--reload'], "Error: --reload needs the watchfiles package: pip install 'granian[reload]'"),
        (['--process-name', 'web'], 'Error: --process-name needs the setproctitle package'),
        (
            ['--workers-lifetime', '59'],
            "Error: Invalid value for '--workers-lifetime': '59' is less than the minimum allowed value of 60 seconds",
        ),
        (['--access-log-fmt', '%(nope)s'], "Error: Invalid value for '--access-log-fmt': unknown atom 'nope'"),
        (
            ['--access-log-fmt', '%(response_header{a b})s'],
            "Error: Invalid value for '--access-log-fmt': invalid header name 'a b' in atom 'response_header{a b}'",
        ),
        (['--access-log-json', '--access-log-fmt', '%(dt_us)s%'], "Error: Invalid value for '--access-log-fmt': "),
        (['--uds-permissions', '0999'], "Error: Invalid value for '--uds-permissions': '0999' is not a valid octal"),
        (['--limit-concurrency', '-1'], "Error: Invalid value for '--limit-concurrency': -1 is not in the range x>=0."),
        (['--max-requests', 'many'], "Error: Invalid value for '--limit-max-requests' / '--max-requests': 'many'"),
        (
            ['--limit-max-requests-jitter', '5'],
            'Error: --limit-max-requests-jitter needs --limit-max-requests (the jitter is added to it)',
        ),
    ],
)
def test_usage_errors_exit_2_naming_the_option(served, args, message):
    result = invoke(*args, 'main:app')
    assert result.exit_code == 2
    assert message in result.output
    assert served.configs == []


def test_metrics_options_from_flags(served):
    result = invoke(
        '--metrics',
        '--metrics-scrape-interval',
        '30',
        '--metrics-address',
        '0.0.0.0',
        '--metrics-port',
        '9100',
        'main:app',
    )
    assert result.exit_code == 0, result.output
    config = served.configs[0]
    assert (config.metrics_enabled, config.metrics_scrape_interval) == (True, 30)
    assert (config.metrics_address, config.metrics_port) == ('0.0.0.0', 9100)
    assert invoke('--metrics', '--no-metrics', 'main:app').exit_code == 0
    assert served.configs[1].metrics_enabled is False


def test_metrics_options_from_env(served):
    env = {
        'GRANIAN_METRICS_ENABLED': '1',
        'GRANIAN_METRICS_SCRAPE_INTERVAL': '1',
        'GRANIAN_METRICS_ADDRESS': '::1',
        'GRANIAN_METRICS_PORT': '0',
    }
    result = invoke('main:app', env=env)
    assert result.exit_code == 0, result.output
    config = served.configs[0]
    assert (config.metrics_enabled, config.metrics_scrape_interval) == (True, 1)
    assert (config.metrics_address, config.metrics_port) == ('::1', 0)
    defaults = build_config('main:app')
    assert (defaults.metrics_enabled, defaults.metrics_scrape_interval) == (False, 15)
    assert (defaults.metrics_address, defaults.metrics_port) == ('127.0.0.1', 9090)


@pytest.mark.parametrize(
    ('args', 'env', 'message'),
    [
        (['--metrics-scrape-interval', '0'], {}, "Invalid value for '--metrics-scrape-interval'"),
        (['--metrics-scrape-interval', '61'], {}, "Invalid value for '--metrics-scrape-interval'"),
        (['--metrics-port', '65536'], {}, "Invalid value for '--metrics-port'"),
        ([], {'GRANIAN_METRICS_PORT': 'x'}, "Invalid value for 'GRANIAN_METRICS_PORT'"),
        ([], {'GRANIAN_METRICS_SCRAPE_INTERVAL': '90'}, "Invalid value for 'GRANIAN_METRICS_SCRAPE_INTERVAL'"),
    ],
)
def test_bad_metrics_options_exit_2(served, args, env, message):
    result = invoke(*args, 'main:app', env=env)
    assert result.exit_code == 2
    assert message in result.output
    assert served.configs == []


@pytest.mark.parametrize(
    ('env', 'message'),
    [
        ({'GRANIAN_PORT': 'abc'}, "Error: Invalid value for 'GRANIAN_PORT': 'abc' is not a valid integer"),
        ({'GRANIAN_INTERFACE': 'cgi'}, "Error: Invalid value for 'GRANIAN_INTERFACE': 'cgi' is not one of"),
        ({'GRANIAN_WS': 'maybe'}, None),  # not a granian variable (the flag's is GRANIAN_WEBSOCKETS): ignored
        ({'GRANIAN_WEBSOCKETS': 'maybe'}, "Error: Invalid value for 'GRANIAN_WEBSOCKETS': 'maybe' is not a valid"),
        (
            {'GRANIAN_WORKERS_LIFETIME': '59'},
            "Error: Invalid value for 'GRANIAN_WORKERS_LIFETIME': '59' is less than the minimum allowed value of 60",
        ),
        (
            {'GRANIAN_ACCESS_LOG_FMT': '%(x)s', 'GRANIAN_LOG_ACCESS_FMT': '%(nope)s'},
            "Error: Invalid value for 'GRANIAN_LOG_ACCESS_FMT': unknown atom 'nope'",
        ),
    ],
)
def test_invalid_env_values_name_the_env_var(served, env, message):
    result = invoke('main:app', env=env)
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2
    assert message in result.output
    assert served.configs == []


def test_invalid_flag_value_names_the_flag_even_with_the_env_var_set(served):
    result = invoke('--port', 'abc', 'main:app', env={'GRANIAN_PORT': 'def'})
    assert result.exit_code == 2
    assert "Error: Invalid value for '--port': 'abc' is not a valid integer" in result.output


def test_bad_target_is_a_usage_error(served):
    result = invoke(':app')
    assert result.exit_code == 2
    assert "expected '<module>:<attribute>'" in result.output


def test_v1_aliases(keywords):
    result = invoke('--threads', '4', '--threading-mode', 'runtime', '--opt', '--task-impl', 'auto', 'main:app')
    assert result.exit_code == 0, result.output
    assert keywords == {
        'target': 'main:app',
        'threads': 4,
        'threading_mode': 'runtime',
        'loop_opt': True,
        'task_impl': 'auto',
    }
    assert invoke('main:app', env={'GRANIAN_THREADS': '2', 'GRANIAN_LOOP_OPT': '1'}).exit_code == 0
    assert keywords == {'target': 'main:app', 'threads': 2, 'loop_opt': True}


def test_v1_aliases_resolve_with_a_warning(served):
    result = invoke('--threads', '4', '--threading-mode', 'workers', '--task-impl', 'AUTO', 'main:app')
    assert result.exit_code == 0, result.output
    config = served.configs[0]
    assert (config.runtime_threads, config.runtime_mode, config.task_impl) == (4, 'st', 'asyncio')


def test_v1_alias_conflict(served):
    result = invoke('--threads', '4', '--runtime-threads', '2', 'main:app')
    assert result.exit_code == 2
    assert 'Error: --threads is the 1.x name of' in result.output


#: Every 1.x name (CLI.md §1.1) as a flag and as an env var, with the 2.x setting it gives.
V1_ALIASES = [
    pytest.param(['--threads', '3'], {'GRANIAN_THREADS': '3'}, {'runtime_threads': 3}, id='threads'),
    pytest.param(
        ['--threading-mode', 'workers'],
        {'GRANIAN_THREADING_MODE': 'workers'},
        {'runtime_mode': 'st'},
        id='threading-mode-workers',
    ),
    pytest.param(
        ['--threading-mode', 'RUNTIME'],
        {'GRANIAN_THREADING_MODE': 'Runtime'},
        {'runtime_mode': 'mt'},
        id='threading-mode-runtime',
    ),
    pytest.param(['--opt'], {'GRANIAN_LOOP_OPT': 'true'}, {'task_impl': 'asyncio'}, id='opt'),
    pytest.param(['--no-opt'], {'GRANIAN_LOOP_OPT': '0'}, {'task_impl': 'asyncio'}, id='no-opt'),
    pytest.param(['--opt'], {'GRANIAN_OPT': 'yes'}, {'task_impl': 'asyncio'}, id='opt-GRANIAN_OPT'),
    pytest.param(['--task-impl', 'auto'], {'GRANIAN_TASK_IMPL': 'auto'}, {'task_impl': 'asyncio'}, id='task-impl-auto'),
    pytest.param(
        ['--interface', 'asgi', '--blocking-threads', '4'],
        {'GRANIAN_INTERFACE': 'asgi', 'GRANIAN_BLOCKING_THREADS': '4'},
        {'blocking_threads': 1},
        id='blocking-threads-asgi',
    ),
    pytest.param(
        ['--interface', 'rsgi', '--blocking-threads', '2'],
        {'GRANIAN_INTERFACE': 'rsgi', 'GRANIAN_BLOCKING_THREADS': '2'},
        {'blocking_threads': 1},
        id='blocking-threads-rsgi',
    ),
    pytest.param(
        ['--workers-lifetime', '3600'],
        {'GRANIAN_WORKERS_LIFETIME': '3600'},
        {'workers_lifetime': 3600},
        id='int-workers-lifetime',
    ),
    pytest.param(
        ['--workers-kill-timeout', '30'],
        {'GRANIAN_WORKERS_KILL_TIMEOUT': '30'},
        {'workers_kill_timeout': 30},
        id='int-workers-kill-timeout',
    ),
]


@pytest.mark.parametrize('source', ['cli', 'env'])
@pytest.mark.parametrize(('args', 'env', 'expected'), V1_ALIASES)
def test_every_v1_alias_as_flag_and_env_var(served, source, args, env, expected):
    result = invoke(*args, 'main:app') if source == 'cli' else invoke('main:app', env=env)
    assert result.exit_code == 0, result.output
    config = served.configs[0]
    assert {name: getattr(config, name) for name in expected} == expected


@pytest.mark.parametrize(
    ('env', 'message'),
    [
        ({'GRANIAN_OPT': 'definitely-not-valid'}, "'GRANIAN_OPT': 'definitely-not-valid' is not a valid boolean"),
        ({'GRANIAN_LOOP_OPT': 'definitely-not-valid'}, "'GRANIAN_LOOP_OPT': 'definitely-not-valid' is not a valid"),
        ({'GRANIAN_THREADING_MODE': 'x'}, "'GRANIAN_THREADING_MODE': 'x' is not one of 'runtime', 'workers'."),
        ({'GRANIAN_THREADS': 'many'}, "'GRANIAN_THREADS': 'many' is not a valid integer"),
        ({'GRANIAN_THREADS': '0'}, "'GRANIAN_THREADS': 0 is not in the range x>=1."),
        ({'GRANIAN_TASK_IMPL': 'fast'}, "'GRANIAN_TASK_IMPL': 'fast' is not one of 'asyncio', 'rust', 'auto'."),
        ({'GRANIAN_BLOCKING_THREADS': '0'}, "'GRANIAN_BLOCKING_THREADS': 0 is not in the range x>=1."),
    ],
)
def test_invalid_legacy_env_var_exits_2_naming_it(served, env, message):
    result = invoke('main:app', env=env)
    assert result.exit_code == 2
    assert f'Error: Invalid value for {message}' in result.output
    assert served.configs == []


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--opt=maybe'], "Error: Option '--opt' does not take a value."),
        (['--threading-mode', 'x'], "Error: Invalid value for '--threading-mode': 'x' is not one of"),
        (['--threads', 'many'], "Error: Invalid value for '--threads': 'many' is not a valid integer"),
        (['--task-impl', 'fast'], "Error: Invalid value for '--task-impl': 'fast' is not one of"),
    ],
)
def test_invalid_legacy_flag_exits_2_naming_it(served, args, message):
    result = invoke(*args, 'main:app')
    assert result.exit_code == 2
    assert message in result.output


def test_v1_alias_conflict_from_env_names_the_env_var(served):
    result = invoke('--runtime-threads', '2', 'main:app', env={'GRANIAN_THREADS': '4'})
    assert result.exit_code == 2
    assert 'Error: GRANIAN_THREADS is the 1.x name of' in result.output


def test_aliases_are_hidden_from_help():
    output = invoke('--help').output
    assert '--threads ' not in output
    assert '--threading-mode' not in output


@pytest.mark.parametrize(
    ('content', 'message'), [('{not json', 'is not valid JSON'), ('[1, 2]', 'must hold a JSON object')]
)
def test_bad_log_config_exits_1(served, tmp_path, content, message):
    path = tmp_path / 'log.json'
    path.write_text(content)
    result = invoke('--log-config', str(path), 'main:app')
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert served.configs == []


def test_missing_log_config_file_is_a_usage_error(tmp_path):
    result = invoke('--log-config', str(tmp_path / 'nope.json'), 'main:app')
    assert result.exit_code == 2
    assert "'--log-config'" in result.output


def test_startup_error_exits_1_with_one_line(served):
    served.error = StartupError("could not import module 'main'")
    result = invoke('main:app')
    assert result.exit_code == 1
    assert result.output == "Error: could not import module 'main'\n"


def test_server_exit_code_is_propagated(served):
    served.code = 3
    assert invoke('main:app').exit_code == 3


def test_python_m_granian_and_cheap_import():
    env = {**os.environ, 'PYTHONPATH': PYTHON_DIR}
    version = subprocess.run(
        [sys.executable, '-m', 'granian', '--version'], capture_output=True, text=True, env=env, timeout=60
    )
    assert (version.returncode, version.stdout) == (0, 'granian 0.1.0\n')
    code = 'import sys, granian, granian.cli, granian.config; assert "granian._granian" not in sys.modules'
    assert subprocess.run([sys.executable, '-c', code], env=env, timeout=60).returncode == 0


@pytest.mark.parametrize(
    ('args', 'env'),
    [
        (['--graceful-timeout', '1m'], None),
        (['--timeout-graceful-shutdown', '60'], None),  # uvicorn's name
        ([], {'GRANIAN_GRACEFUL_TIMEOUT': '60'}),
    ],
    ids=['flag', 'uvicorn-alias', 'env'],
)
def test_graceful_timeout_as_flag_alias_and_env_var(served, args, env):
    result = invoke(*args, 'main:app', env=env)
    assert result.exit_code == 0, result.output
    assert served.configs[0].graceful_timeout == 60


def test_graceful_timeout_default_and_bad_values(served):
    assert invoke('main:app').exit_code == 0
    assert served.configs[0].graceful_timeout == 30
    result = invoke('--graceful-timeout', 'soon', 'main:app')
    assert result.exit_code == 2
    assert "Invalid value for '--graceful-timeout'" in result.output
    assert "'soon' is not a valid duration" in result.output
    result = invoke('main:app', env={'GRANIAN_GRACEFUL_TIMEOUT': '-5'})
    assert result.exit_code == 2
    assert "Invalid value for 'GRANIAN_GRACEFUL_TIMEOUT'" in result.output


# --- connection timeouts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('args', 'env', 'expected'),
    [
        (['--keep-alive-timeout', '10'], {}, {'keep_alive_timeout': 10}),
        (['--timeout-keep-alive', '7'], {}, {'keep_alive_timeout': 7}),  # uvicorn's spelling
        (['--keep-alive-timeout', '0'], {}, {'keep_alive_timeout': 0}),
        ([], {'GRANIAN_KEEP_ALIVE_TIMEOUT': '3'}, {'keep_alive_timeout': 3}),
        (['--write-timeout', '1m'], {}, {'write_timeout': 60}),
        ([], {'GRANIAN_WRITE_TIMEOUT': '0'}, {'write_timeout': 0}),
        (['--write-timeout', '2'], {'GRANIAN_WRITE_TIMEOUT': '9'}, {'write_timeout': 2}),
    ],
)
def test_timeouts_from_flags_and_env(keywords, args, env, expected):
    result = invoke(*args, 'main:app', env=env)
    assert result.exit_code == 0, result.output
    assert keywords == {'target': 'main:app', **expected}


def test_timeouts_reach_the_config(served):
    assert invoke('--timeout-keep-alive', '2', '--write-timeout', '1h', 'main:app').exit_code == 0
    config = served.configs[0]
    assert (config.keep_alive_timeout, config.write_timeout) == (2, 3600)
    defaults = build_config('main:app')
    assert (defaults.keep_alive_timeout, defaults.write_timeout) == (5, 30)


@pytest.mark.parametrize(
    ('args', 'env', 'message'),
    [
        (['--keep-alive-timeout', 'soon'], {}, "'soon' is not a valid duration"),
        (['--write-timeout', '-1'], {}, "Error: Invalid value for '--write-timeout': '-1' is less than the minimum"),
        (['--keep-alive-timeout', '2d'], {}, 'greater than the maximum allowed value of 86400 seconds'),
        ([], {'GRANIAN_WRITE_TIMEOUT': 'x'}, "Error: Invalid value for 'GRANIAN_WRITE_TIMEOUT': 'x' is not a valid"),
        ([], {'GRANIAN_KEEP_ALIVE_TIMEOUT': '-5'}, "Invalid value for 'GRANIAN_KEEP_ALIVE_TIMEOUT'"),
    ],
)
def test_bad_timeouts_exit_2_naming_the_option(served, args, env, message):
    result = invoke(*args, 'main:app', env=env)
    assert result.exit_code == 2
    assert message in result.output
    assert served.configs == []


def test_help_shows_the_timeouts_with_their_env_vars():
    output = ' '.join(invoke('--help').output.split())
    assert '--keep-alive-timeout, --timeout-keep-alive DURATION' in output
    assert 'env var: GRANIAN_KEEP_ALIVE_TIMEOUT; default: 5' in output
    assert 'env var: GRANIAN_WRITE_TIMEOUT; default: 30' in output


def test_static_path_options_from_flags_and_env(keywords, tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    a.mkdir()
    b.mkdir()
    args = ('--static-path-route', '/assets', '--static-path-mount', str(a))
    args += ('--static-path-route', '/media', '--static-path-mount', str(b))
    args += ('--static-path-dir-to-file', 'index.html', '--static-path-expires', '1h', '--static-path-precompressed')
    args += ('--static-path-fallthrough', '--static-path-follow-symlinks')
    assert invoke(*args, 'main:app').exit_code == 0
    expected = {
        'static_path_route': ('/assets', '/media'),
        'static_path_mount': (str(a), str(b)),
        'static_path_dir_to_file': 'index.html',
        'static_path_expires': 3600,
        'static_path_precompressed': True,
        'static_path_fallthrough': True,
        'static_path_follow_symlinks': True,
    }
    assert keywords == {'target': 'main:app', **expected}
    env = {
        'GRANIAN_STATIC_PATH_ROUTE': '/assets  /media',
        'GRANIAN_STATIC_PATH_MOUNT': f'{a}{os.pathsep}{b}',
        'GRANIAN_STATIC_PATH_DIR_TO_FILE': 'index.html',
        'GRANIAN_STATIC_PATH_EXPIRES': '3600',
        'GRANIAN_STATIC_PATH_PRECOMPRESSED': 'yes',
        'GRANIAN_STATIC_PATH_FALLTHROUGH': 'true',
        'GRANIAN_STATIC_PATH_FOLLOW_SYMLINKS': '1',
    }
    result = invoke('main:app', env=env)
    assert result.exit_code == 0, result.output
    assert keywords == {'target': 'main:app', **expected}


def test_static_path_options_reach_the_config(served, tmp_path):
    result = invoke('--static-path-mount', str(tmp_path), '--static-path-expires', '0', 'main:app')
    assert result.exit_code == 0, result.output
    config = served.configs[0]
    assert (config.static_path_route, config.static_path_mount) == (('/static',), (str(tmp_path),))
    assert config.static_path_expires == 0


@pytest.mark.parametrize('source', ['flags', 'env'])
def test_unequal_static_routes_and_mounts_exit_2_with_one_line(served, tmp_path, source):
    if source == 'flags':
        args = ['--static-path-route', '/a', '--static-path-route', '/b', '--static-path-mount', str(tmp_path)]
        result = invoke(*args, 'main:app')
    else:
        env = {'GRANIAN_STATIC_PATH_ROUTE': '/a /b', 'GRANIAN_STATIC_PATH_MOUNT': str(tmp_path)}
        result = invoke('main:app', env=env)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1
    assert 'given 1 time(s) but' in errors[0] and 'pair up in order' in errors[0]
    assert served.configs == []


def test_static_path_mount_must_exist(served, tmp_path):
    result = invoke('--static-path-mount', str(tmp_path / 'nope'), 'main:app')
    assert result.exit_code == 2
    assert '--static-path-mount' in result.output
