"""The supported Python API (docs/api.md): every name code written for public Granian 2.8
imports, imported from where that code imports it, and used the way it uses it."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import logging.config
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from granian.log import ACCESS_LOGGER, RUNTIME_LOGGER


@pytest.fixture
def restore_loggers():
    """dictConfig changes process-wide state: put granian's loggers back as they were."""
    saved = {}
    for name in (RUNTIME_LOGGER, ACCESS_LOGGER):
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


# --- granian.Granian, granian.server.Server ----------------------------------------------------


def test_granian_is_the_server_class():
    import granian
    from granian import Granian
    from granian.server import Server

    assert Granian is Server is granian.Granian
    assert isinstance(granian.__version__, str)


def test_granian_builds_from_enums_and_settings_without_serving():
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes, SSLProtocols, TaskImpl
    from granian.http import HTTP1Settings, HTTP2Settings
    from granian.log import LogLevels

    server = Granian(
        'main:app',
        address='0.0.0.0',
        port=9000,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        runtime_threads=2,
        runtime_mode=RuntimeModes.st,
        loop=Loops.asyncio,
        task_impl=TaskImpl.asyncio,
        ssl_protocol_min=SSLProtocols.tls12,
        http1_settings=HTTP1Settings(keep_alive=False, header_read_timeout=5000),
        http2_settings=HTTP2Settings(max_concurrent_streams=50),
        log_level=LogLevels.debug,
        workers_lifetime=3600,
    )
    config = server.config
    assert (config.address, config.port, config.interface, config.http) == ('0.0.0.0', 9000, 'asgi', '1')
    assert (config.runtime_threads, config.runtime_mode, config.loop, config.task_impl) == (
        2,
        'st',
        'asyncio',
        'asyncio',
    )
    assert config.http1_settings == HTTP1Settings(keep_alive=False, header_read_timeout=5000)
    assert config.http2_settings.max_concurrent_streams == 50
    assert (config.log_level, config.ssl_protocol_min, config.workers_lifetime) == ('debug', 'tls1.2', 3600)

    def hook():
        return None

    assert server.on_startup(hook) is hook
    assert server.on_reload(hook) is hook
    assert server.on_shutdown(hook) is hook


def test_granian_accepts_the_1x_keywords():
    from granian import Granian

    config = Granian('main:app', threads=2, threading_mode='runtime', loop_opt=True, interface='rsgi').config
    assert (config.runtime_threads, config.runtime_mode) == (2, 'mt')
    assert Granian('main:app', interface='asgi', blocking_threads=4).config.blocking_threads == 1


# --- granian.constants, granian.http ---------------------------------------------------------


def test_constants_are_str_enums_with_the_spec_values():
    from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes, SSLProtocols, TaskImpl

    assert [m.value for m in Interfaces] == ['asgi', 'asginl', 'rsgi', 'wsgi']
    assert [m.value for m in HTTPModes] == ['auto', '1', '2']
    assert {m.value for m in Loops} == {'auto', 'asyncio', 'rloop', 'uvloop', 'winloop'}
    assert [m.value for m in RuntimeModes] == ['auto', 'mt', 'st']
    assert [m.value for m in SSLProtocols] == ['tls1.2', 'tls1.3']
    assert [m.value for m in TaskImpl] == ['asyncio', 'rust']
    assert Interfaces.RSGI == 'rsgi' and isinstance(Interfaces.RSGI, str)
    assert Interfaces('ASGI') is Interfaces.ASGI
    assert HTTPModes('2') is HTTPModes.http2


def test_http_settings_are_dataclasses_with_the_spec_defaults():
    from granian.http import HTTP1Settings, HTTP2Settings

    h1 = HTTP1Settings()
    assert (h1.header_read_timeout, h1.keep_alive, h1.max_buffer_size, h1.pipeline_flush) == (
        30000,
        True,
        417792,
        False,
    )
    h2 = HTTP2Settings()
    assert dataclasses.asdict(h2) == {
        'adaptive_window': False,
        'initial_connection_window_size': 1048576,
        'initial_stream_window_size': 1048576,
        'keep_alive_interval': None,
        'keep_alive_timeout': 20,
        'max_concurrent_streams': 200,
        'max_frame_size': 16384,
        # A deliberate difference: public Granian accepts 16 MiB header lists (docs/options.md).
        'max_headers_size': 65536,
        'max_send_buffer_size': 409600,
    }
    assert dataclasses.replace(h1, keep_alive=False).keep_alive is False


# --- granian.errors --------------------------------------------------------------------------


def test_errors():
    from granian import Granian
    from granian.errors import ConfigurationError, FatalError, GranianError, PidFileError, StartupError

    for cls in (ConfigurationError, FatalError, StartupError, PidFileError):
        assert issubclass(cls, GranianError)
    assert issubclass(PidFileError, StartupError)
    with pytest.raises(ConfigurationError) as info:
        Granian('main:app', runtime_threads=0)
    assert info.value.option == 'runtime_threads'
    assert str(PidFileError('pid file busy')) == 'pid file busy'


# --- granian.server.embed.Server -------------------------------------------------------------


def test_embed_server_takes_an_app_object():
    from granian.errors import ConfigurationError
    from granian.server.embed import Server

    async def app(scope, receive, send):
        pass

    server = Server(app, interface='asgi', port=0)
    assert (server.config.interface, server.config.workers, server.config.port) == ('asgi', 1, 0)
    assert asyncio.iscoroutinefunction(server.serve)
    assert callable(server.stop) and callable(server.reload)
    with pytest.raises(ConfigurationError):
        Server(app, interface='wsgi')


# --- granian.log -----------------------------------------------------------------------------


def test_logging_config_is_a_dictconfig(restore_loggers, capsys):
    from granian.log import DEFAULT_ACCESSLOG_FMT, LOGGING_CONFIG, LogLevels

    config = copy.deepcopy(LOGGING_CONFIG)
    assert config['version'] == 1
    assert set(config['loggers']) == {'_granian', 'granian.access'}
    config['loggers']['_granian']['level'] = 'DEBUG'
    logging.config.dictConfig(config)
    logging.getLogger('_granian').debug('hello from the runtime logger')
    assert '[DEBUG] hello from the runtime logger' in capsys.readouterr().out
    assert LOGGING_CONFIG['loggers']['_granian']['level'] == 'INFO'  # the copy was changed, not the default

    assert DEFAULT_ACCESSLOG_FMT == '[%(time)s] %(addr)s - "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).3f'
    assert {m.value for m in LogLevels} >= {'critical', 'error', 'warning', 'warn', 'info', 'debug', 'notset'}
    assert LogLevels('INFO') is LogLevels.info


def test_log_dictconfig_keyword_takes_a_modified_logging_config():
    from granian import Granian
    from granian.log import LOGGING_CONFIG

    custom = copy.deepcopy(LOGGING_CONFIG)
    custom['formatters']['generic']['format'] = '%(asctime)s %(levelname)s %(message)s'
    assert Granian('main:app', log_dictconfig=custom).config.log_dictconfig == custom


# --- granian.cli -----------------------------------------------------------------------------


def test_cli_is_the_click_command():
    from granian.cli import cli

    assert isinstance(cli, click.Command)
    result = CliRunner().invoke(cli, ['--version'], prog_name='granian')
    assert result.exit_code == 0
    assert result.output.startswith('granian ')


def _duration_command(param_type):
    @click.command()
    @click.option('--timeout', type=param_type)
    def command(timeout):
        click.echo(repr(timeout))

    return command


@pytest.mark.parametrize(
    ('text', 'seconds'),
    [
        ('10', 10),
        ('10s', 10),
        ('10m', 600),
        ('10h', 36000),
        ('10d', 864000),
        ('10d10h10m10s', 864000 + 36000 + 600 + 10),
        ('1h30m', 5400),
    ],
)
def test_duration_type_converts(text, seconds):
    from granian.cli import Duration

    result = CliRunner().invoke(_duration_command(Duration()), ['--timeout', text])
    assert result.exit_code == 0, result.output
    assert result.output == f'{seconds}\n'
    assert Duration().convert(text, None, None) == seconds


def test_duration_type_rejects_and_bounds():
    from granian.cli import Duration

    result = CliRunner().invoke(_duration_command(Duration()), ['--timeout', '10x'])
    assert result.exit_code == 2
    assert "'10x' is not a valid duration" in result.output
    bounded = _duration_command(Duration(5, 600))
    assert CliRunner().invoke(bounded, ['--timeout', '5m']).output == '300\n'
    result = CliRunner().invoke(bounded, ['--timeout', '11m'])
    assert result.exit_code == 2
    assert "'11m' is greater than the maximum allowed value of 600 seconds" in result.output
    result = CliRunner().invoke(bounded, ['--timeout', '4'])
    assert "'4' is less than the minimum allowed value of 5 seconds" in result.output


# --- granian._granian ------------------------------------------------------------------------


def test_extension_version_and_build_gil():
    import granian
    from granian._granian import BUILD_GIL, __version__

    assert __version__ == granian.__version__
    assert isinstance(BUILD_GIL, bool)
    is_gil_enabled = getattr(sys, '_is_gil_enabled', None)
    if sys.version_info < (3, 13) or is_gil_enabled is None:
        assert BUILD_GIL is True
    else:
        import sysconfig

        assert BUILD_GIL is not bool(sysconfig.get_config_var('Py_GIL_DISABLED'))


# --- granian.rsgi ----------------------------------------------------------------------------


def test_rsgi_type_names():
    from granian import rsgi
    from granian.rsgi import (
        Headers,
        HTTPProtocol,
        ProtocolClosed,
        ProtocolError,
        Scope,
        WebsocketMessage,
        WebsocketMessageType,
        WebsocketProtocol,
    )

    for cls in (Scope, Headers, HTTPProtocol, WebsocketProtocol, WebsocketMessage):
        assert isinstance(cls, type)
        assert not isinstance(object(), cls)
    for err in (ProtocolError, ProtocolClosed):
        assert issubclass(err, RuntimeError)
        with pytest.raises(err):
            raise err('boom')
    assert [(m.name, int(m)) for m in WebsocketMessageType] == [('close', 0), ('bytes', 1), ('string', 2)]
    assert WebsocketMessageType(2) is WebsocketMessageType.string
    assert set(rsgi.__all__) >= {
        'Scope',
        'HTTPProtocol',
        'WebsocketProtocol',
        'WebsocketMessage',
        'WebsocketMessageType',
        'Headers',
        'ProtocolError',
        'ProtocolClosed',
    }
    for name in ('proto', 'method', 'path', 'query_string', 'headers', 'client', 'scheme', 'http_version'):
        assert hasattr(Scope, name), name
    for name in ('response_empty', 'response_str', 'response_bytes', 'response_file', 'response_stream'):
        assert hasattr(HTTPProtocol, name), name
    assert hasattr(WebsocketProtocol, 'accept') and hasattr(WebsocketProtocol, 'close')
    assert hasattr(WebsocketMessage, 'kind') and hasattr(WebsocketMessage, 'data')


# --- granian.utils.proxies -------------------------------------------------------------------


def _asgi_call(wrap, scope):
    seen = {}

    async def inner(scope, receive, send):
        seen.update(scope)

    async def run():
        await wrap(inner)(scope, None, None)

    asyncio.run(run())
    return seen


def _http_scope(client='127.0.0.1', headers=(), kind='http'):
    return {
        'type': kind,
        'scheme': 'ws' if kind == 'websocket' else 'http',
        'client': (client, 50000),
        'headers': [(k.encode(), v.encode()) for k, v in headers],
    }


@pytest.mark.parametrize(
    ('trusted', 'client', 'headers', 'expected'),
    [
        (
            '127.0.0.1',
            '127.0.0.1',
            [('x-forwarded-for', '1.2.3.4'), ('x-forwarded-proto', 'https')],
            ('1.2.3.4', 'https'),
        ),
        (
            '10.0.0.1',
            '127.0.0.1',
            [('x-forwarded-for', '1.2.3.4'), ('x-forwarded-proto', 'https')],
            ('127.0.0.1', 'http'),
        ),
        (['10.0.0.0/8'], '10.9.8.7', [('X-Forwarded-For', '1.2.3.4')], ('1.2.3.4', 'http')),
        ('*', '192.0.2.1', [('x-forwarded-for', '1.2.3.4, 5.6.7.8')], ('1.2.3.4', 'http')),
        ('127.0.0.1', '127.0.0.1', [('x-forwarded-for', '1.2.3.4, 127.0.0.1')], ('1.2.3.4', 'http')),
        ('127.0.0.1', '127.0.0.1', [('x-forwarded-for', '[2001:db8::1]:443')], ('2001:db8::1', 'http')),
        ('127.0.0.1', '127.0.0.1', [('x-forwarded-proto', 'javascript')], ('127.0.0.1', 'http')),
        ('::1', '::1', [('x-forwarded-proto', 'HTTPS')], ('::1', 'https')),
    ],
)
def test_wrap_asgi_with_proxy_headers(trusted, client, headers, expected):
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    scope = _http_scope(client, headers)
    seen = _asgi_call(lambda inner: wrap_asgi_with_proxy_headers(inner, trusted_hosts=trusted), scope)
    assert (seen['client'][0], seen['scheme']) == expected
    assert scope['client'] == (client, 50000)  # the server's scope is not changed in place


def test_wrap_asgi_with_proxy_headers_websocket_and_lifespan():
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    def wrap(inner):
        return wrap_asgi_with_proxy_headers(inner)

    ws = _asgi_call(wrap, _http_scope(headers=[('x-forwarded-proto', 'https')], kind='websocket'))
    assert ws['scheme'] == 'wss'
    assert _asgi_call(wrap, {'type': 'lifespan'}) == {'type': 'lifespan'}


def test_wrap_wsgi_with_proxy_headers():
    from granian.utils.proxies import wrap_wsgi_with_proxy_headers

    def inner(environ, start_response):
        return [environ['REMOTE_ADDR'], environ['REMOTE_PORT'], environ['wsgi.url_scheme']]

    def environ(addr):
        return {
            'REMOTE_ADDR': addr,
            'REMOTE_PORT': '5000',
            'wsgi.url_scheme': 'http',
            'HTTP_X_FORWARDED_FOR': '1.2.3.4',
            'HTTP_X_FORWARDED_PROTO': 'https',
        }

    assert wrap_wsgi_with_proxy_headers(inner)(environ('127.0.0.1'), None) == ['1.2.3.4', '0', 'https']
    untrusted = wrap_wsgi_with_proxy_headers(inner, trusted_hosts=['10.0.0.1'])
    assert untrusted(environ('127.0.0.1'), None) == ['127.0.0.1', '5000', 'http']


def test_interface_misuse_errors_are_granian_exceptions_re_exported_lazily():
    import granian.errors as errors
    from granian import _granian

    for name in ('ASGIProtocolError', 'RSGIProtocolError', 'WSGIProtocolError'):
        cls = getattr(errors, name)
        assert cls is getattr(_granian, name)
        # A RuntimeError as before, so apps catching that keep working.
        assert issubclass(cls, errors.InterfaceError)
        assert issubclass(cls, RuntimeError)
    assert errors.ClientDisconnected is _granian.ClientDisconnected
    assert issubclass(errors.ClientDisconnected, OSError)
    assert errors.RSGIProtocolClosed is _granian.RSGIProtocolClosed
    with pytest.raises(AttributeError):
        errors.NoSuchError  # noqa: B018


def test_importing_granian_errors_does_not_load_the_extension():
    code = "import sys, granian.errors; assert 'granian._granian' not in sys.modules, 'loaded'"
    subprocess.run([sys.executable, '-c', code], check=True, timeout=60)
