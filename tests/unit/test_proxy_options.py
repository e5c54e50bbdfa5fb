"""`--proxy-headers` and `--forwarded-allow-ips`: values, env vars (`GRANIAN_*` and the bare
`FORWARDED_ALLOW_IPS` uvicorn and gunicorn read), errors, and what crosses to the engine."""

from __future__ import annotations

import importlib
import os
import sys
import types

import pytest
from click.testing import CliRunner

from granian import _granian
from granian.cli import cli
from granian.config import build_config
from granian.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith('GRANIAN_') or name == 'FORWARDED_ALLOW_IPS':
            monkeypatch.delenv(name)


@pytest.fixture
def configs(monkeypatch):
    """The configs the CLI would serve (the supervisor is replaced; nothing starts)."""
    seen = []
    try:
        supervisor = importlib.import_module('granian.server.supervisor')
    except ImportError:
        supervisor = types.ModuleType('granian.server.supervisor')
        monkeypatch.setitem(sys.modules, 'granian.server.supervisor', supervisor)
    monkeypatch.setattr(supervisor, 'run', lambda config, hooks: seen.append(config) or 0, raising=False)
    return seen


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [*args, 'main:app'], env=env, prog_name='granian')


def served(configs, *args, env=None):
    result = invoke(*args, env=env)
    assert result.exit_code == 0, result.output
    return configs[-1]


def test_defaults_trust_loopback():
    config = build_config('main:app')
    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == '127.0.0.1,::1'


@pytest.mark.parametrize(
    ('given', 'kept'),
    [
        ('10.0.0.0/8', '10.0.0.0/8'),
        (' 10.0.0.1 , 2001:DB8::/32 ,, ', '10.0.0.1,2001:db8::/32'),
        (['192.168.0.0/16', '::1'], '192.168.0.0/16,::1'),
        (('*',), '*'),
        ('127.0.0.1/32,::1/128', '127.0.0.1,::1'),
        ('10.0.0.0/255.0.0.0', '10.0.0.0/8'),
        ('', ''),
        ([], ''),
    ],
)
def test_keyword_values_are_normalised(given, kept):
    assert build_config('main:app', forwarded_allow_ips=given).forwarded_allow_ips == kept


@pytest.mark.parametrize(
    ('given', 'detail'),
    [
        ('localhost', "'localhost' is not an IP address, a CIDR network or '*'"),
        ('127.0.0.1,10.0.0.1/8', "'10.0.0.1/8' has host bits set (the network is 10.0.0.0/8)"),
        ('10.0.0.0/33', "'10.0.0.0/33' is not an IP address, a CIDR network or '*'"),
        ('fe80::1%eth0', "'fe80::1%eth0': IPv6 zone ids are not supported"),
        ('1.2.3.4:80', "'1.2.3.4:80' is not an IP address, a CIDR network or '*'"),
        (['10.0.0.1', 5], 'expected a string entry, got int 5'),
        (5, 'expected a comma-separated string or a list of strings, got int'),
    ],
)
def test_bad_keyword_values_are_refused(given, detail):
    with pytest.raises(ConfigurationError) as info:
        build_config('main:app', forwarded_allow_ips=given)
    assert info.value.option == 'forwarded_allow_ips'
    assert detail in str(info.value)


def test_flags(configs):
    config = served(configs, '--forwarded-allow-ips', '10.0.0.0/8, 192.0.2.1')
    assert (config.proxy_headers, config.forwarded_allow_ips) == (True, '10.0.0.0/8,192.0.2.1')
    assert served(configs, '--no-proxy-headers').proxy_headers is False
    assert served(configs, '--proxy-headers').proxy_headers is True


def test_env_vars(configs):
    assert served(configs, env={'GRANIAN_PROXY_HEADERS': 'false'}).proxy_headers is False
    assert served(configs, env={'GRANIAN_FORWARDED_ALLOW_IPS': '*'}).forwarded_allow_ips == '*'
    # uvicorn's and gunicorn's variable, read when granian's own is not set.
    assert served(configs, env={'FORWARDED_ALLOW_IPS': '10.1.0.0/16'}).forwarded_allow_ips == '10.1.0.0/16'
    both = {'GRANIAN_FORWARDED_ALLOW_IPS': '10.2.0.0/16', 'FORWARDED_ALLOW_IPS': '10.1.0.0/16'}
    assert served(configs, env=both).forwarded_allow_ips == '10.2.0.0/16'
    flag = served(configs, '--forwarded-allow-ips', '10.3.0.0/16', env=both)
    assert flag.forwarded_allow_ips == '10.3.0.0/16'


def test_help_names_both_env_vars():
    result = CliRunner().invoke(cli, ['--help'], prog_name='granian')
    assert '--forwarded-allow-ips' in result.output
    assert '--proxy-headers / --no-proxy-headers' in result.output
    assert 'GRANIAN_FORWARDED_ALLOW_IPS' in result.output
    assert 'FORWARDED_ALLOW_IPS' in result.output.replace('GRANIAN_FORWARDED_ALLOW_IPS', '')


@pytest.mark.parametrize(
    ('args', 'env', 'named'),
    [
        (['--forwarded-allow-ips', 'proxy.local'], None, '--forwarded-allow-ips'),
        ([], {'GRANIAN_FORWARDED_ALLOW_IPS': 'proxy.local'}, 'GRANIAN_FORWARDED_ALLOW_IPS'),
        ([], {'FORWARDED_ALLOW_IPS': 'proxy.local'}, 'FORWARDED_ALLOW_IPS'),
    ],
)
def test_a_bad_value_exits_2_naming_where_it_came_from(configs, args, env, named):
    result = invoke(*args, env=env)
    assert result.exit_code == 2
    expected = f"Error: Invalid value for '{named}': 'proxy.local' is not an IP address, a CIDR network or '*'"
    assert expected in result.output
    assert configs == []


def test_what_the_engine_reads():
    default = build_config('main:app').engine_settings()
    assert default['trusted_proxies'] == ['127.0.0.1', '::1']
    listed = build_config('main:app', forwarded_allow_ips='10.0.0.0/8 , *').engine_settings()
    assert listed['trusted_proxies'] == ['10.0.0.0/8', '*']
    assert build_config('main:app', forwarded_allow_ips='').engine_settings()['trusted_proxies'] == []
    assert build_config('main:app', proxy_headers=False).engine_settings()['trusted_proxies'] is None
    for settings in (default, listed):
        _granian.check_engine_settings(settings)


def test_the_config_travels_to_workers_unchanged():
    config = build_config('main:app', proxy_headers=False, forwarded_allow_ips=['10.0.0.0/8'])
    assert type(config).from_dict(config.to_dict()) == config
