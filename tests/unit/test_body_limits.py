"""`--max-body-size` and `--body-read-timeout` (and the HTTP/2 header list default): defaults,
validation, the CLI flags and `GRANIAN_*` variables, `Granian(...)` keywords, and what reaches
the engine. What the server does with them: tests/e2e/test_body_limits.py and the Rust tests
of `src/http/handler_tests.rs`."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from click.testing import CliRunner

from granian import _granian
from granian import config as config_module
from granian.cli import cli
from granian.config import build_config
from granian.http import HTTP2Settings
from granian.server import Granian

GIB = 1024**3


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """No `GRANIAN_*` variable of the test run leaks in; resolution ignores what is installed."""
    for name in list(os.environ):
        if name.startswith('GRANIAN_'):
            monkeypatch.delenv(name)
    monkeypatch.setattr(config_module, 'module_available', lambda name: False)


@pytest.fixture
def keywords(monkeypatch):
    """What the CLI passes to `Granian(...)`."""
    seen = {}

    class Recorder:
        def __init__(self, target, **kwargs):
            seen.update(kwargs, target=target)

        def serve(self):
            pass

    monkeypatch.setattr('granian.server.Granian', Recorder)
    return seen


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [*args, 'main:app'], env=env, prog_name='granian')


def engine(config):
    settings = config.engine_settings()
    _granian.check_engine_settings(settings)  # the engine reads exactly this
    return settings


def test_defaults():
    config = build_config('main:app')
    assert config.max_body_size == GIB
    assert config.body_read_timeout == 30
    assert HTTP2Settings().max_headers_size == 65536
    settings = engine(config)
    assert settings['max_body_size'] == GIB
    assert settings['body_read_timeout'] == timedelta(seconds=30)
    assert settings['http2']['max_headers_size'] == 65536


def test_zero_turns_each_limit_off():
    settings = engine(build_config('main:app', max_body_size=0, body_read_timeout=0))
    assert settings['max_body_size'] is None
    assert settings['body_read_timeout'] is None


def test_values_in_engine_units():
    config = build_config(
        'main:app', max_body_size=1000, body_read_timeout='1m30s', http2_settings={'max_headers_size': 1 << 20}
    )
    assert (config.max_body_size, config.body_read_timeout) == (1000, 90)
    settings = engine(config)
    assert settings['max_body_size'] == 1000
    assert settings['body_read_timeout'] == timedelta(seconds=90)
    assert settings['http2']['max_headers_size'] == 1 << 20


def test_granian_keywords():
    server = Granian('main:app', max_body_size=2048, body_read_timeout=5)
    assert (server.config.max_body_size, server.config.body_read_timeout) == (2048, 5)


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'max_body_size': -1}, "Invalid value for 'max_body_size': -1 is not in the range x>=0."),
        ({'max_body_size': '1G'}, "Invalid value for 'max_body_size': '1G' is not a valid integer."),
        ({'body_read_timeout': -1}, "Invalid value for 'body_read_timeout': '-1' is less than the minimum"),
        ({'body_read_timeout': 'soon'}, "Invalid value for 'body_read_timeout': 'soon' is not a valid duration"),
    ],
)
def test_bad_values_are_refused(kwargs, message):
    with pytest.raises(config_module.ConfigurationError) as info:
        build_config('main:app', **kwargs)
    assert message in str(info.value)


def test_flags(keywords):
    result = invoke('--max-body-size', '0', '--body-read-timeout', '2m', '--http2-max-headers-size', '131072')
    assert result.exit_code == 0, result.output
    assert keywords['max_body_size'] == 0
    assert keywords['body_read_timeout'] == 120
    assert keywords['http2_settings'] == {'max_headers_size': 131072}


def test_env_vars(keywords):
    env = {'GRANIAN_MAX_BODY_SIZE': '1048576', 'GRANIAN_BODY_READ_TIMEOUT': '0'}
    result = invoke(env=env)
    assert result.exit_code == 0, result.output
    assert (keywords['max_body_size'], keywords['body_read_timeout']) == (1048576, 0)


@pytest.mark.parametrize(
    ('args', 'env', 'message'),
    [
        (['--max-body-size', '-5'], None, "Invalid value for '--max-body-size': -5 is not in the range x>=0."),
        ([], {'GRANIAN_MAX_BODY_SIZE': 'lots'}, "Invalid value for 'GRANIAN_MAX_BODY_SIZE': 'lots' is not a valid"),
        (['--body-read-timeout', 'x'], None, "Invalid value for '--body-read-timeout': 'x' is not a valid duration"),
        ([], {'GRANIAN_BODY_READ_TIMEOUT': '-2'}, "Invalid value for 'GRANIAN_BODY_READ_TIMEOUT': '-2' is less than"),
    ],
)
def test_bad_values_exit_2_naming_the_flag_or_variable(keywords, args, env, message):
    result = invoke(*args, env=env)
    assert result.exit_code == 2
    assert message in result.output
    assert keywords == {}


def test_help_lists_them_with_their_variables():
    out = CliRunner().invoke(cli, ['--help'], prog_name='granian', terminal_width=200).output
    for flag, var in (
        ('--max-body-size', 'GRANIAN_MAX_BODY_SIZE'),
        ('--body-read-timeout', 'GRANIAN_BODY_READ_TIMEOUT'),
    ):
        assert flag in out
        assert var in out
