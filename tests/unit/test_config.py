"""Config: defaults, validation messages, "auto" resolution, 1.x aliases, unsupported options, JSON round trip."""

import dataclasses
import datetime
import json
import logging
from pathlib import Path

import pytest

from granian import Granian
from granian import config as config_module
from granian._options import parse_duration, parse_octal
from granian.config import Config, build_config, option_flags
from granian.constants import Interfaces, Loops, RuntimeModes, ThreadModes
from granian.errors import ConfigurationError
from granian.http import HTTP1Settings, HTTP2Settings
from granian.log import DEFAULT_ACCESS_FORMAT, LogLevels


@pytest.fixture(autouse=True)
def no_optional_modules(monkeypatch):
    """Resolution must not depend on what happens to be installed: pretend uvloop is absent."""
    available = {'dotenv': True}
    monkeypatch.setattr(config_module, 'module_available', lambda name: available.get(name, False))
    return available


@pytest.fixture
def runtime_warnings():
    """Records what is logged on `_granian` (its propagation may be off after dictConfig)."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger('_granian')
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def error_of(**kwargs) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        build_config('main:app', **kwargs)
    return info.value


def test_defaults_are_resolved():
    config = build_config('main:app')
    assert config.target == 'main:app'
    assert (config.address, config.port, config.interface, config.http) == ('127.0.0.1', 8000, 'rsgi', 'auto')
    assert config.workers == 1
    assert config.backlog == 1024
    assert config.backpressure == 1024
    assert config.blocking_threads == 1
    assert config.runtime_threads == 1
    assert config.runtime_blocking_threads == 512
    assert config.runtime_mode == 'st'
    assert config.loop == 'asyncio'
    assert config.task_impl == 'asyncio'
    assert config.http1_settings == HTTP1Settings()
    assert config.http2_settings == HTTP2Settings()
    assert config.log_access_format == DEFAULT_ACCESS_FORMAT
    assert (config.log_enabled, config.log_level, config.log_access) == (True, 'info', False)
    assert config.websockets is True


def test_http1_settings_defaults_match_the_spec():
    assert dataclasses.asdict(HTTP1Settings()) == {
        'header_read_timeout': 30000,
        'keep_alive': True,
        'max_buffer_size': 417792,
        'pipeline_flush': False,
        'max_headers': 100,
    }


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        build_config('main:app').port = 1


@pytest.mark.parametrize(
    ('kwargs', 'mode'),
    [
        ({}, 'st'),
        ({'runtime_threads': 2}, 'mt'),
        ({'interface': 'asgi'}, 'st'),
        ({'interface': 'wsgi'}, 'st'),
        ({'interface': 'asgi', 'http': '1'}, 'st'),
        ({'runtime_mode': 'mt'}, 'mt'),
        ({'runtime_mode': RuntimeModes.st, 'runtime_threads': 4}, 'st'),
    ],
)
def test_runtime_mode_auto(kwargs, mode):
    assert build_config('main:app', **kwargs).runtime_mode == mode


def test_backpressure_and_blocking_threads_defaults():
    config = build_config('main:app', interface='wsgi', workers=4, backlog=1024)
    assert config.backpressure == 256
    assert config.blocking_threads == 128
    assert build_config('main:app', interface='wsgi', backpressure=1).blocking_threads == 1
    assert build_config('main:app', interface='asgi', workers=3).blocking_threads == 1
    assert build_config('main:app', interface='wsgi', blocking_threads=7).blocking_threads == 7


def test_loop_auto_prefers_uvloop_when_installed(no_optional_modules):
    no_optional_modules['uvloop'] = True
    assert build_config('main:app').loop == 'uvloop'
    assert build_config('main:app', loop='asyncio').loop == 'asyncio'


def test_loop_uvloop_requested_but_missing():
    err = error_of(loop=Loops.uvloop)
    assert err.option == 'loop'
    assert 'uvloop' in str(err)


def test_env_files_need_python_dotenv(no_optional_modules, tmp_path):
    env = tmp_path / '.env'
    env.write_text('A=1\n')
    no_optional_modules['dotenv'] = False
    err = error_of(env_files=[env])
    assert err.option == 'env_files'
    assert 'python-dotenv' in str(err)


def test_enum_members_and_any_case_strings_are_accepted():
    config = build_config('main:app', interface=Interfaces.ASGI, log_level='WARNING', loop='AsyncIO', http=1)
    assert (config.interface, config.log_level, config.loop, config.http) == ('asgi', 'warning', 'asyncio', '1')
    assert build_config('main:app', log_level=LogLevels.warn).log_level == 'warn'


def test_paths_accept_str_and_path_and_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'a.env').write_text('A=1\n')
    (tmp_path / 'b.env').write_text('B=1\n')
    config = build_config('main:app', working_dir=Path('.'), env_files=['a.env', tmp_path / 'b.env'], uds='s.sock')
    assert config.working_dir == str(tmp_path)
    assert config.env_files == (str(tmp_path / 'a.env'), str(tmp_path / 'b.env'))
    assert config.uds == str(tmp_path / 's.sock')
    assert build_config('main:app', env_files='a.env').env_files == (str(tmp_path / 'a.env'),)


def test_missing_paths_are_reported(tmp_path):
    err = error_of(working_dir=tmp_path / 'nope')
    assert str(err) == f"Invalid value for 'working_dir': directory '{tmp_path / 'nope'}' does not exist"
    assert 'does not exist' in str(error_of(env_files=[tmp_path / 'missing.env']))


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'workers': 0}, "Invalid value for 'workers': 0 is not in the range x>=1."),
        ({'port': 70000}, "Invalid value for 'port': 70000 is not in the range 0<=x<=65535."),
        ({'port': 'abc'}, "Invalid value for 'port': 'abc' is not a valid integer."),
        ({'backlog': 64}, "Invalid value for 'backlog': 64 is not in the range x>=128."),
        ({'workers': True}, "Invalid value for 'workers': 'True' is not a valid integer."),
        ({'workers': 1.5}, "Invalid value for 'workers': '1.5' is not a valid integer."),
        ({'respawn_interval': -1}, "Invalid value for 'respawn_interval': -1.0 is not in the range x>=0."),
        ({'interface': 'cgi'}, "Invalid value for 'interface': 'cgi' is not one of 'asgi', 'asginl', 'rsgi', 'wsgi'."),
        ({'websockets': 'maybe'}, "Invalid value for 'websockets': 'maybe' is not a valid boolean."),
        (
            {'blocking_threads_idle_timeout': 2},
            "Invalid value for 'blocking_threads_idle_timeout': '2' is less than the minimum allowed value of 5 "
            'seconds',
        ),
        (
            {'workers_kill_timeout': '1h'},
            "Invalid value for 'workers_kill_timeout': '1h' is greater than the maximum allowed value of 1800 seconds",
        ),
        ({'workers_kill_timeout': '5x'}, "Invalid value for 'workers_kill_timeout': '5x' is not a valid duration"),
        (
            {'graceful_timeout': -1},
            "Invalid value for 'graceful_timeout': '-1' is less than the minimum allowed value of 0 seconds",
        ),
        (
            {'graceful_timeout': '1h'},
            "Invalid value for 'graceful_timeout': '1h' is greater than the maximum allowed value of 1800 seconds",
        ),
        (
            {'http1_settings': HTTP1Settings(max_buffer_size=10)},
            "Invalid value for 'http1_settings.max_buffer_size': 10 is not in the range x>=8192.",
        ),
        (
            {'http1_settings': {'header_read_timeout': 0}},
            "Invalid value for 'http1_settings.header_read_timeout': 0 is not in the range 1<=x<=60000.",
        ),
    ],
)
def test_invalid_values_name_the_option_and_value(kwargs, message):
    err = error_of(**kwargs)
    assert str(err) == message
    assert err.option == message.split("'")[1]


def test_error_renders_with_the_cli_flag():
    err = error_of(http1_settings={'max_buffer_size': 10})
    assert err.render(option_flags()[err.option]).startswith("Invalid value for '--http1-buffer-size': 10 ")


def test_http_settings_accept_dict_and_are_copied():
    settings = HTTP1Settings(keep_alive=False)
    config = build_config('main:app', http1_settings=settings)
    settings.keep_alive = True
    assert config.http1_settings.keep_alive is False
    assert build_config('main:app', http1_settings={'max_headers': 5}).http1_settings.max_headers == 5
    assert error_of(http1_settings={'bogus': 1}).option == 'http1_settings'
    assert error_of(http1_settings=42).option == 'http1_settings'


@pytest.mark.parametrize('interface', ['asgi', 'asginl', 'rsgi'])
def test_more_than_one_blocking_thread_with_an_async_interface_is_the_1x_setting(interface, runtime_warnings):
    """Granian 1.x accepted N > 1 for ASGI/RSGI (threads handing requests to the loop): 1 is used."""
    config = build_config('main:app', interface=interface, blocking_threads=4)
    assert config.blocking_threads == 1
    assert len(runtime_warnings) == 1
    message = runtime_warnings[0].getMessage()
    assert "'blocking_threads' (--blocking-threads) 4" in message
    assert f'the {interface} interface is from 1.x' in message
    assert 'so 1 is used' in message
    runtime_warnings.clear()
    assert build_config('main:app', interface=interface, blocking_threads=1).blocking_threads == 1
    assert runtime_warnings == []
    assert build_config('main:app', interface='wsgi', blocking_threads=4).blocking_threads == 4
    assert runtime_warnings == []


def test_uds_permissions_octal_rule():
    assert build_config('main:app', uds_permissions='0660').uds_permissions == 0o660
    assert build_config('main:app', uds_permissions=0o600).uds_permissions == 0o600
    assert build_config('main:app', uds_permissions='384').uds_permissions == 0o600
    assert error_of(uds_permissions='660').option == 'uds_permissions'
    assert parse_octal('0o755') == 0o755
    with pytest.raises(ValueError, match='not a valid octal'):
        parse_octal('0999')


@pytest.mark.parametrize(
    ('text', 'seconds'),
    [(90, 90), ('90', 90), ('2m', 120), ('1h30m', 5400), ('1d2h3m4s', 93784), ('45s', 45), ('1d', 86400)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize('text', ['', 'm', '1m1h', '1.5', '1 h', '3w', None, 1.5, True])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match='is not a valid duration'):
        parse_duration(text)


def test_parse_duration_bounds_use_the_spec_texts():
    with pytest.raises(ValueError, match="^'30' is less than the minimum allowed value of 60 seconds$"):
        parse_duration('30', 60)
    with pytest.raises(ValueError, match="^'2h' is greater than the maximum allowed value of 600 seconds$"):
        parse_duration('2h', 5, 600)


def test_access_log_format_is_checked():
    err = error_of(log_access_format='%(addr)s %(nope)s')
    assert err.option == 'log_access_format'
    assert "'nope'" in str(err)
    assert error_of(log_access_format='%(path)d').option == 'log_access_format'
    fmt = '%(addr)s %(header{User-Agent})s 100%%'
    assert build_config('main:app', log_access_format=fmt).log_access_format == fmt
    assert error_of(log_access_format='%(header{a(b)})s').option == 'log_access_format'


def test_access_log_json_and_the_headers_the_engine_keeps():
    assert build_config('main:app').log_access_json is False
    fmt = '%(header{X-A})s %(response_header{ETag})s %(user_agent)s'
    config = build_config('main:app', log_access=True, log_access_format=fmt)
    settings = config.engine_settings()
    assert settings['access_log_request_headers'] == ['x-a', 'user-agent']
    assert settings['access_log_response_headers'] == ['etag']
    # JSON lines hold every atom, the shorthands' headers included.
    settings = build_config('main:app', log_access=True, log_access_format=fmt, log_access_json=True).engine_settings()
    assert settings['access_log_request_headers'] == ['x-a', 'referer', 'user-agent', 'x-request-id']
    # Without the access log, no header is kept.
    settings = build_config('main:app', log_access_format=fmt).engine_settings()
    assert (settings['access_log_request_headers'], settings['access_log_response_headers']) == ([], [])


def test_log_dictconfig_must_be_a_json_dict():
    assert error_of(log_dictconfig={'handlers': {'x': {'stream': object()}}}).option == 'log_dictconfig'
    assert error_of(log_dictconfig='logging.json').option == 'log_dictconfig'


@pytest.mark.parametrize('target', ['', ':app', 'main:', 'main:1app', 'main:a-b'])
def test_bad_targets(target):
    with pytest.raises(ConfigurationError, match="expected '<module>:<attribute>'") as info:
        build_config(target)
    assert info.value.option == 'target'


def test_unknown_keyword():
    assert 'wrokers' in str(error_of(wrokers=2))


def test_http2_mode_and_settings_are_accepted():
    config = build_config('main:app', http='2', http2_settings={'max_frame_size': 20000})
    assert config.http == '2'
    assert config.http2_settings.max_frame_size == 20000


def test_tls_needs_both_certificate_and_key(tmp_path):
    pem = tmp_path / 'x.pem'
    pem.write_text('-')
    err = error_of(ssl_cert=pem)
    assert err.option == 'ssl_cert'
    assert err.render('--ssl-certificate') == '--ssl-certificate needs --ssl-keyfile too (TLS needs both)'
    assert error_of(ssl_key=pem).option == 'ssl_key'


@pytest.mark.parametrize(('name', 'value'), [('task_impl', 'rust'), ('loop', 'rloop'), ('loop', 'winloop')])
def test_unsupported_values(name, value):
    err = error_of(**{name: value})
    assert err.option == name
    assert 'not supported yet by this build' in str(err)


def test_v1_aliases_map_with_one_warning(runtime_warnings):
    config = build_config('main:app', threads=3, threading_mode=ThreadModes.workers, loop_opt=True, task_impl='auto')
    assert (config.runtime_threads, config.runtime_mode, config.task_impl) == (3, 'st', 'asyncio')
    assert len(runtime_warnings) == 1
    message = runtime_warnings[0].getMessage()
    for word in ("'threads'", "'threading_mode'", "'loop_opt'", "'task_impl'", '--runtime-threads'):
        assert word in message
    assert build_config('main:app', threading_mode='runtime').runtime_mode == 'mt'


def test_no_warning_without_aliases(runtime_warnings):
    build_config('main:app', runtime_threads=2)
    assert runtime_warnings == []


def test_alias_and_new_name_together_is_an_error():
    err = error_of(threads=2, runtime_threads=2)
    assert err.option == 'threads'
    assert error_of(threading_mode='workers', runtime_mode='mt').option == 'threading_mode'
    assert error_of(threading_mode='processes').option == 'threading_mode'
    assert error_of(threads=0).option == 'threads'


def test_json_round_trip(tmp_path):
    env = tmp_path / '.env'
    env.write_text('A=1\n')
    config = build_config(
        'pkg.mod:app',
        interface='wsgi',
        workers=2,
        env_files=[env],
        http1_settings=HTTP1Settings(keep_alive=False, max_headers=50),
        log_dictconfig={'version': 1, 'loggers': {}},
        workers_kill_timeout='1m',
        uds_permissions='0600',
        url_path_prefix='/api',
    )
    data = json.loads(json.dumps(config.to_dict()))
    assert data['http1_settings']['max_headers'] == 50
    assert data['env_files'] == [str(env)]
    assert data['workers_kill_timeout'] == 60
    assert Config.from_dict(data) == config


def test_from_dict_rejects_unknown_keys():
    data = build_config('main:app').to_dict()
    data['surprise'] = 1
    with pytest.raises(ConfigurationError, match='surprise'):
        Config.from_dict(data)


def test_every_cli_flag_is_known():
    flags = option_flags()
    assert flags['address'] == '--host'
    assert flags['websockets'] == '--ws'
    assert flags['log_dictconfig'] == '--log-config'
    assert flags['ssl_cert'] == '--ssl-certificate'
    assert flags['http1_settings.max_buffer_size'] == '--http1-buffer-size'
    assert flags['http2_settings.max_headers_size'] == '--http2-max-headers-size'
    assert flags['threads'] == '--threads'
    assert len(set(flags.values())) == len(flags)


# --- worker lifecycle settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ('kwargs', 'module', 'message'),
    [
        ({'reload': True}, 'watchfiles', "reload needs the watchfiles package: pip install 'granian[reload]'"),
        ({'process_name': 'web'}, 'setproctitle', 'process_name needs the setproctitle package'),
    ],
)
def test_optional_packages_are_required_only_when_used(no_optional_modules, kwargs, module, message):
    assert message in str(error_of(**kwargs))
    no_optional_modules[module] = True
    config = build_config('main:app', **kwargs)
    assert all(getattr(config, name) == value for name, value in kwargs.items())


def test_process_name_defaults_to_a_descriptive_title_when_setproctitle_is_installed(no_optional_modules):
    assert build_config('main:app').process_name is None
    no_optional_modules['setproctitle'] = True
    assert build_config('main:app', interface='asgi', port=9000).process_name == 'granian asgi 127.0.0.1:9000 main:app'
    assert build_config('main:app', address='::1').process_name == 'granian rsgi [::1]:8000 main:app'
    assert build_config('main:app', process_name='web').process_name == 'web'


def test_reload_filter_must_be_a_watchfiles_filter_class(no_optional_modules):
    pytest.importorskip('watchfiles')
    import watchfiles

    no_optional_modules['watchfiles'] = True
    config = build_config('main:app', reload=True, reload_filter=watchfiles.PythonFilter)
    assert config.reload_filter is watchfiles.PythonFilter
    for bad in (object, watchfiles.PythonFilter(), 'watchfiles.PythonFilter'):
        assert 'expected a subclass of watchfiles.BaseFilter' in str(error_of(reload=True, reload_filter=bad))


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'workers_lifetime': 59}, "'59' is less than the minimum allowed value of 60 seconds"),
        ({'rss_sample_interval': 0}, "'0' is less than the minimum allowed value of 1 seconds"),
        ({'rss_samples': 0}, '0 is not in the range x>=1.'),
        ({'workers_max_rss': 0}, '0 is not in the range x>=1.'),
        ({'reload_tick': 10}, '10 is not in the range 50<=x<=5000.'),
    ],
)
def test_lifecycle_limits(kwargs, message):
    assert message in str(error_of(**kwargs))


def test_overload_limits_defaults_and_bounds():
    config = build_config('main:app')
    assert (config.limit_concurrency, config.limit_max_requests, config.limit_max_requests_jitter) == (0, 0, 0)
    config = build_config('main:app', limit_concurrency=64, limit_max_requests=1000, limit_max_requests_jitter=50)
    assert (config.limit_concurrency, config.limit_max_requests, config.limit_max_requests_jitter) == (64, 1000, 50)
    for name in ('limit_concurrency', 'limit_max_requests', 'limit_max_requests_jitter'):
        err = error_of(**{name: -1})
        assert err.option == name and '-1 is not in the range x>=0.' in str(err)


def test_a_jitter_without_max_requests_is_refused():
    err = error_of(limit_max_requests_jitter=5)
    assert err.option == 'limit_max_requests_jitter'
    assert str(err) == 'limit_max_requests_jitter needs --limit-max-requests (the jitter is added to it)'


def test_websocket_limits_defaults_and_bounds():
    config = build_config('main:app')
    assert (config.websockets, config.ws_max_message_size) == (True, 16 * 1024 * 1024)
    assert (config.ws_ping_interval, config.ws_ping_timeout) == (20.0, 20.0)
    config = build_config('main:app', ws_max_message_size=1000, ws_ping_interval=0, ws_ping_timeout=0.5)
    assert (config.ws_max_message_size, config.ws_ping_interval, config.ws_ping_timeout) == (1000, 0.0, 0.5)
    assert error_of(ws_max_message_size=0).option == 'ws_max_message_size'
    assert error_of(ws_ping_interval=-1).option == 'ws_ping_interval'


def test_deprecation_warning_waits_until_logging_is_configured(monkeypatch, capsys):
    """Validated before the server configures logging, the warning is held back, then logged
    once through the configured handlers (not as a bare line on stderr)."""
    from granian import log as log_module

    runtime, access = logging.getLogger('_granian'), logging.getLogger('granian.access')
    levels = (runtime.level, access.level)
    for logger in (runtime, access):
        monkeypatch.setattr(logger, 'handlers', [])
        monkeypatch.setattr(logger, 'propagate', False)
    monkeypatch.setattr(log_module, '_pending_warnings', [])
    build_config('main:app', threads=2)
    assert len(log_module._pending_warnings) == 1
    assert capsys.readouterr() == ('', '')
    try:
        log_module.configure_logging()
    finally:
        runtime.setLevel(levels[0])
        access.setLevel(levels[1])
    out, err = capsys.readouterr()
    assert err == ''
    assert out.startswith("[WARNING] Deprecated settings: 'threads' (--threads) is a 1.x name")
    assert log_module._pending_warnings == []


def test_loop_opt_reads_both_env_spellings():
    opt = config_module.ALIAS_OPTIONS['loop_opt']
    assert opt.envvars == ('GRANIAN_LOOP_OPT', 'GRANIAN_OPT')
    assert config_module.ALIAS_OPTIONS['threads'].envvars == ('GRANIAN_THREADS',)
    assert config_module.ALIAS_OPTIONS['threading_mode'].envvars == ('GRANIAN_THREADING_MODE',)


def test_response_headers_keyword_takes_strings_and_pairs():
    cfg = build_config('app:app', response_headers=['X-A:1', ('X-B', ' two words '), 'x-empty:'])
    assert cfg.response_headers == ('x-a: 1', 'x-b: two words', 'x-empty: ')
    assert cfg.engine_settings()['response_headers'] == [('x-a', '1'), ('x-b', 'two words'), ('x-empty', '')]
    assert Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert build_config('app:app').engine_settings()['response_headers'] == []


@pytest.mark.parametrize(
    'value', ['X-A', 'x a: 1', 'x-a: one\r\nx-b: smuggled', 'x-a: \x00', 'x-a: caf\u00e9', ('x-a',), 42]
)
def test_response_headers_keyword_refuses_what_a_header_cannot_be(value):
    with pytest.raises(ConfigurationError, match='header') as exc:
        build_config('app:app', response_headers=[value])
    assert exc.value.option == 'response_headers'


def test_graceful_timeout_defaults_to_30s_and_takes_durations_and_zero():
    assert build_config('main:app').graceful_timeout == 30
    assert build_config('main:app', graceful_timeout='2m').graceful_timeout == 120
    assert build_config('main:app', graceful_timeout=0).graceful_timeout == 0


def test_connection_timeouts_defaults_and_bounds():
    config = build_config('main:app')
    assert (config.keep_alive_timeout, config.write_timeout) == (5, 30)
    config = build_config('main:app', keep_alive_timeout='1m', write_timeout=0)
    assert (config.keep_alive_timeout, config.write_timeout) == (60, 0)
    assert error_of(keep_alive_timeout=-1).option == 'keep_alive_timeout'
    assert error_of(write_timeout=86401).option == 'write_timeout'
    assert 'is not a valid duration' in str(error_of(write_timeout=1.5))
    # 0 means off: the engine reads None.
    settings = build_config('main:app', keep_alive_timeout=0, write_timeout=2).engine_settings()
    assert settings['keep_alive_timeout'] is None
    assert settings['write_timeout'] == datetime.timedelta(seconds=2)


def test_static_path_defaults_and_pairing(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    assert build_config('main:app').static_path_route == ()
    config = build_config('main:app', static_path_mount=tmp_path / 'a')
    assert (config.static_path_route, config.static_path_mount) == (('/static',), (str(tmp_path / 'a'),))
    assert config.static_path_expires == 86400
    config = build_config(
        'main:app',
        static_path_route=['/assets/', '/media'],
        static_path_mount=[tmp_path / 'a', tmp_path / 'b'],
        static_path_dir_to_file='index.html',
        static_path_expires='1h',
    )
    assert config.static_path_route == ('/assets', '/media')
    assert (config.static_path_dir_to_file, config.static_path_expires) == ('index.html', 3600)


def test_static_path_follow_symlinks_keyword(tmp_path):
    assert build_config('main:app', static_path_mount=tmp_path).static_path_follow_symlinks is False
    config = build_config('main:app', static_path_mount=tmp_path, static_path_follow_symlinks=True)
    assert config.static_path_follow_symlinks is True
    assert config.engine_settings()['static_files']['follow_symlinks'] is True
    assert Granian('main:app', static_path_mount=tmp_path, static_path_follow_symlinks=True).config == config


@pytest.mark.parametrize(
    ('kwargs', 'option', 'message'),
    [
        ({'static_path_route': ['/a']}, 'static_path_route', 'needs --static-path-mount'),
        ({'static_path_route': ['/a', '/b'], 'mounts': 1}, 'static_path_mount', 'given 1 time(s) but'),
        ({'mounts': 2}, 'static_path_mount', 'given 2 time(s) but --static-path-route 0 time(s)'),
        ({'static_path_route': ['static'], 'mounts': 1}, 'static_path_route', "starting with '/'"),
        ({'static_path_route': ['/a/../b'], 'mounts': 1}, 'static_path_route', "'..'"),
        ({'static_path_dir_to_file': 'a/index.html', 'mounts': 1}, 'static_path_dir_to_file', 'a file name'),
        ({'static_path_dir_to_file': '..', 'mounts': 1}, 'static_path_dir_to_file', 'a file name'),
        ({'static_path_expires': -1, 'mounts': 1}, 'static_path_expires', ''),
    ],
)
def test_static_path_errors(tmp_path, kwargs, option, message):
    kwargs = dict(kwargs)
    count = kwargs.pop('mounts', 0)
    if count:
        kwargs['static_path_mount'] = [tmp_path] * count
    err = error_of(**kwargs)
    assert err.option == option
    assert message in str(err)


def test_static_path_mount_must_be_an_existing_directory(tmp_path):
    assert error_of(static_path_mount=[tmp_path / 'missing']).option == 'static_path_mount'


def test_metrics_keywords():
    config = build_config(
        'main:app', metrics_enabled=True, metrics_scrape_interval=1, metrics_address='::', metrics_port=0
    )
    assert (config.metrics_enabled, config.metrics_scrape_interval) == (True, 1)
    assert (config.metrics_address, config.metrics_port) == ('::', 0)
    assert config.engine_settings()['metrics'] is True
    assert error_of(metrics_scrape_interval=61).option == 'metrics_scrape_interval'
    assert error_of(metrics_port=-1).option == 'metrics_port'
