"""The engine accepts exactly what the Python config produces, for every interface.

`Config.engine_settings()` (Python) and the engine's reader (`src/config/`) must agree key for
key: `_granian.check_engine_settings` reads a dict as `Engine(fd, settings)` does, rejecting a
missing key, a key it does not read and a value of the wrong type, each by its dotted name.
"""

from __future__ import annotations

import logging
import random
import re
from datetime import timedelta
from typing import Any

import pytest

from granian import _granian
from granian._engine_settings import worker_max_requests
from granian.config import Config, build_config
from granian.constants import Interfaces
from granian.http import HTTP1Settings, HTTP2Settings

INTERFACES = [i.value for i in Interfaces]


@pytest.fixture
def tls_files(tmp_path):
    """Paths that pass the options' "existing file" check (the engine reads them only at serve)."""
    names = ('cert.pem', 'key.pem', 'ca.pem', 'crl1.pem', 'crl2.pem')
    for name in names:
        (tmp_path / name).write_text('-\n')
    files = {name.removesuffix('.pem'): str(tmp_path / name) for name in names}
    files['static'] = str(tmp_path)
    return files


def everything_set(interface: str, files: dict[str, str]) -> Config:
    """A config where every section the engine reads is on and no value is the default."""
    return build_config(
        'main:app',
        interface=interface,
        http='2',
        runtime_threads=2,
        runtime_blocking_threads=16,
        backpressure=32,
        http1_settings=HTTP1Settings(
            header_read_timeout=1500, keep_alive=False, max_buffer_size=65536, pipeline_flush=True, max_headers=20
        ),
        http2_settings=HTTP2Settings(
            adaptive_window=True,
            initial_connection_window_size=65536,
            initial_stream_window_size=32768,
            keep_alive_interval=500,
            keep_alive_timeout=5,
            max_concurrent_streams=50,
            max_frame_size=32768,
            max_headers_size=8192,
            max_send_buffer_size=4096,
        ),
        ssl_cert=files['cert'],
        ssl_key=files['key'],
        ssl_key_password='secret',
        ssl_protocol_min='tls1.2',
        ssl_ca=files['ca'],
        ssl_crl=[files['crl1'], files['crl2']],
        ssl_client_verify=True,
        websockets=False,
        ws_max_message_size=1024,
        ws_ping_interval=0.5,
        ws_ping_timeout=0,
        url_path_prefix='/mount/',
        forwarded_allow_ips=['10.0.0.0/8', '*'],
        log_enabled=False,
        log_access=True,
        log_access_format='%(header{X-A})s %(response_header{ETag})s',
        log_access_json=True,
        limit_concurrency=8,
        limit_max_requests=100,
        limit_max_requests_jitter=10,
        max_body_size=1000,
        body_read_timeout=5,
        static_path_route=['/assets', '/media'],
        static_path_mount=[files['static'], files['static']],
        static_path_dir_to_file='index.html',
        static_path_expires=60,
        static_path_precompressed=True,
        static_path_fallthrough=True,
        static_path_follow_symlinks=True,
    )


@pytest.fixture(params=INTERFACES)
def interface(request) -> str:
    return request.param


@pytest.fixture(params=['default', 'everything_set'])
def config(request, interface, tls_files) -> Config:
    """Per interface: the default config, and one with every section on."""
    if request.param == 'default':
        return build_config('main:app', interface=interface)
    return everything_set(interface, tls_files)


def key_paths(settings: dict[str, Any], prefix: str = '') -> list[str]:
    """Every dotted key of `settings`, sections included (`http1`, `http1.keep_alive`, ...)."""
    paths = []
    for key, value in settings.items():
        paths.append(prefix + key)
        if isinstance(value, dict):
            paths += key_paths(value, f'{prefix}{key}.')
    return paths


def parent_and_key(settings: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The dict holding dotted `path`, and its last key."""
    *sections, key = path.split('.')
    for section in sections:
        settings = settings[section]
    return settings, key


def sections(settings: dict[str, Any]) -> list[str]:
    """The dotted keys of the dicts in `settings`, the top one as `''`."""
    nested = [path for path in key_paths(settings) if isinstance(_value(settings, path), dict)]
    return ['', *nested]


def _value(settings: dict[str, Any], path: str) -> Any:
    parent, key = parent_and_key(settings, path)
    return parent[key]


def engine_error(settings: dict[str, Any]) -> str:
    with pytest.raises(ValueError, match=r'^engine setting') as info:
        _granian.check_engine_settings(settings)
    return str(info.value)


def test_the_engine_accepts_what_python_produces(interface, config):
    _granian.check_engine_settings(config.engine_settings())
    _granian.check_engine_settings(config.engine_settings(sched_batch=False))


def test_every_key_is_required(interface, config):
    for path in key_paths(config.engine_settings()):
        settings = config.engine_settings()
        parent, key = parent_and_key(settings, path)
        del parent[key]
        assert engine_error(settings) == f"engine setting '{path}': missing"


def test_a_key_the_engine_does_not_read_is_rejected(interface, config):
    for section in sections(config.engine_settings()):
        settings = config.engine_settings()
        (_value(settings, section) if section else settings)['surprise'] = 1
        path = f'{section}.surprise' if section else 'surprise'
        assert engine_error(settings).startswith(f"engine setting '{path}': not read by the engine (it reads: ")


def test_a_value_of_the_wrong_type_is_named(interface, config):
    for path in key_paths(config.engine_settings()):
        settings = config.engine_settings()
        parent, key = parent_and_key(settings, path)
        parent[key] = object()
        assert engine_error(settings).startswith(f"engine setting '{path}': ")


def test_a_wrong_value_is_shown_with_the_reason():
    settings = build_config('main:app').engine_settings()
    settings['http1']['max_headers'] = 'many'
    assert re.fullmatch(r"engine setting 'http1\.max_headers': .+ \(got 'many'\)", engine_error(settings))
    settings = build_config('main:app').engine_settings()
    settings['http_mode'] = 'h3'
    assert engine_error(settings) == "engine setting 'http_mode': expected one of 'auto', '1', '2' (got 'h3')"


def test_the_engine_constructor_reads_the_same_way():
    settings = build_config('main:app').engine_settings()
    del settings['http1']['max_headers']
    with pytest.raises(ValueError, match=r"^engine setting 'http1\.max_headers': missing$"):
        _granian.Engine(-1, settings)


# --- what Python converts, so that the engine only reads -----------------------------------------


def test_durations_cross_as_timedeltas(tls_files):
    default = build_config('main:app').engine_settings()
    assert default['http1']['header_read_timeout'] == timedelta(seconds=30)
    assert default['http2']['keep_alive_interval'] is None
    assert default['http2']['keep_alive_timeout'] == timedelta(seconds=20)
    assert default['ws']['ping_interval'] == default['ws']['ping_timeout'] == timedelta(seconds=20)
    assert default['graceful_timeout'] == timedelta(seconds=30)
    assert build_config('main:app', graceful_timeout=0).engine_settings()['graceful_timeout'] == timedelta(0)
    settings = everything_set('rsgi', tls_files).engine_settings()
    assert settings['http1']['header_read_timeout'] == timedelta(milliseconds=1500)
    assert settings['http2']['keep_alive_interval'] == timedelta(milliseconds=500)
    assert settings['ws']['ping_interval'] == timedelta(milliseconds=500)
    assert settings['ws']['ping_timeout'] is None  # 0: off


@pytest.mark.parametrize(('given', 'sent'), [(1024, 16_384), (32_768, 32_768), (2**25, 16_777_215)])
def test_the_http2_frame_size_is_brought_into_the_range_http2_allows(given, sent):
    config = build_config('main:app', http2_settings=HTTP2Settings(max_frame_size=given))
    assert config.engine_settings()['http2']['max_frame_size'] == sent


@pytest.mark.parametrize(
    ('given', 'sent'),
    [(None, None), ('', None), ('/', None), ('/api/', '/api'), ('/a/b', '/a/b'), ('api/', '/api'), (' /x ', '/x')],
)
def test_the_url_path_prefix_is_normalised_once_for_every_interface(given, sent):
    # One mount point: the engine's ASGI `root_path` and WSGI's `SCRIPT_NAME` read the same value.
    for interface in ('asgi', 'wsgi'):
        config = build_config('main:app', interface=interface, url_path_prefix=given)
        assert config.url_path_prefix == sent
        assert config.engine_settings()['url_path_prefix'] == sent


def test_the_log_level_crosses_as_a_number():
    assert build_config('main:app', log_level='debug').engine_settings()['log_level'] == logging.DEBUG
    assert build_config('main:app', log_level='warn').engine_settings()['log_level'] == logging.WARNING
    assert build_config('main:app', log_enabled=False).engine_settings()['log_level'] > logging.CRITICAL


def test_tls_crosses_only_with_a_certificate(tls_files):
    assert build_config('main:app').engine_settings()['tls'] is None
    tls = build_config('main:app', ssl_cert=tls_files['cert'], ssl_key=tls_files['key']).engine_settings()['tls']
    assert tls == {
        'cert': tls_files['cert'],
        'key': tls_files['key'],
        'key_password': None,
        'tls13_only': True,
        'ca': None,
        'crls': [],
        'client_verify': False,
    }
    assert everything_set('asgi', tls_files).engine_settings()['tls']['tls13_only'] is False


def test_only_the_embedded_server_leaves_the_thread_policy_alone():
    config = build_config('main:app')
    assert config.engine_settings()['sched_batch'] is True
    assert config.engine_settings(sched_batch=False)['sched_batch'] is False


def test_the_concurrency_limit_crosses_as_is():
    assert build_config('main:app').engine_settings()['limit_concurrency'] == 0
    assert build_config('main:app', limit_concurrency=64).engine_settings()['limit_concurrency'] == 64


def test_each_worker_draws_its_max_requests_once_within_the_jitter():
    assert build_config('main:app').engine_settings()['max_requests'] == 0
    assert worker_max_requests(0, 0) == 0
    assert worker_max_requests(20, 0) == 20
    rng = random.Random(7)
    draws = [worker_max_requests(20, 5, rng) for _ in range(200)]
    assert set(draws) == set(range(20, 26)), 'every value of 20 + 0..5, and only those'
    config = build_config('main:app', limit_max_requests=20, limit_max_requests_jitter=5)
    assert 20 <= config.engine_settings()['max_requests'] <= 25


def test_static_files_section(tmp_path):
    assert build_config('main:app').engine_settings()['static_files'] is None
    config = build_config('main:app', static_path_mount=[tmp_path], static_path_expires=0)
    assert config.engine_settings()['static_files'] == {
        'mounts': [('/static', str(tmp_path))],
        'dir_to_file': None,
        'expires': None,
        'precompressed': False,
        'fallthrough': False,
        'follow_symlinks': False,
    }
    config = build_config('main:app', static_path_route=['/a/', '/'], static_path_mount=[tmp_path, tmp_path])
    section = config.engine_settings()['static_files']
    assert section['mounts'] == [('/a', str(tmp_path)), ('/', str(tmp_path))]
    assert section['expires'] == timedelta(seconds=86400)
