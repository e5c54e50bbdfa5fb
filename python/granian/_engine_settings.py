"""What the Rust engine reads: `Config.engine_settings()`, the one place that builds it.

`granian._granian.Engine(fd, settings)` takes a dict that mirrors the engine's config structs
(`src/config/mod.rs`): one key per Rust field, a nested dict per nested struct (`http1`,
`http2`, `ws`, and `tls`, None for plain TCP). Every key is required, no other key is allowed,
and each value already has the engine's type and unit: durations are `timedelta`s (None where
the engine reads "off"), the log level is a number, the TLS minimum a flag. The engine has no
defaults and checks no limits; `config.py` validated everything before this runs, and the
conversions and clamps the engine needs happen here, once.

`_granian.check_engine_settings(settings)` reads a dict exactly as `Engine` does without
starting anything; `tests/unit/test_engine_settings.py` runs it on what this module builds.
"""

from __future__ import annotations

import math
import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from granian._options import header_pair
from granian.access_log import access_log_headers
from granian.constants import SSLProtocols
from granian.log import runtime_level

if TYPE_CHECKING:
    from granian.config import Config

#: The range of SETTINGS_MAX_FRAME_SIZE that HTTP/2 allows (RFC 9113, section 6.5.2). The
#: `--http2-max-frame-size` option accepts from 1024 up (as Granian always did) and the value is
#: brought into this range here: hyper's h2 panics outside it.
H2_MAX_FRAME_SIZE_RANGE = (16_384, 16_777_215)


def engine_settings(config: Config, *, sched_batch: bool = True) -> dict[str, Any]:
    """The settings dict `Engine(fd, settings)` reads, for a validated and resolved `config`.

    `sched_batch`: put the thread that calls `Engine.serve` under `SCHED_BATCH`. Workers own
    their main thread and leave it true; the embedded server runs on its host's thread and
    passes false, so that the host keeps its scheduling policy.

    `max_requests` is this worker's own limit, jitter drawn here: a worker builds its settings
    once, so each worker draws once (see `worker_max_requests`).
    """
    h1, h2 = config.http1_settings, config.http2_settings
    lo, hi = H2_MAX_FRAME_SIZE_RANGE
    access_headers = (
        access_log_headers(config.log_access_format, config.log_access_json) if config.log_access else ((), ())
    )
    return {
        'runtime_threads': config.runtime_threads,
        'runtime_mode': config.runtime_mode,
        'runtime_blocking_threads': config.runtime_blocking_threads,
        'backpressure': config.backpressure,
        'http1': {
            'keep_alive': h1.keep_alive,
            'max_buffer_size': h1.max_buffer_size,
            'header_read_timeout': timedelta(milliseconds=h1.header_read_timeout),
            'pipeline_flush': h1.pipeline_flush,
            'max_headers': h1.max_headers,
        },
        'http2': {
            'adaptive_window': h2.adaptive_window,
            'initial_connection_window_size': h2.initial_connection_window_size,
            'initial_stream_window_size': h2.initial_stream_window_size,
            'keep_alive_interval': (
                None if h2.keep_alive_interval is None else timedelta(milliseconds=h2.keep_alive_interval)
            ),
            'keep_alive_timeout': timedelta(seconds=h2.keep_alive_timeout),
            'max_concurrent_streams': h2.max_concurrent_streams,
            'max_frame_size': min(max(h2.max_frame_size, lo), hi),
            'max_headers_size': h2.max_headers_size,
            'max_send_buffer_size': h2.max_send_buffer_size,
        },
        'http_mode': config.http,
        'tls': _tls(config),
        'log_level': runtime_level(config.log_enabled, config.log_level),
        'access_log': config.log_access,
        # The headers the access lines read (parsed from the format once): only these are kept.
        'access_log_request_headers': list(access_headers[0]),
        'access_log_response_headers': list(access_headers[1]),
        'metrics': config.metrics_enabled,
        # The ASGI `root_path` (normalised by the config; WSGI's `SCRIPT_NAME` is the same value,
        # set up by `granian.wsgi`).
        'url_path_prefix': config.url_path_prefix,
        'sched_batch': sched_batch,
        'websockets': config.websockets,
        'server_header': config.server_header,
        'date_header': config.date_header,
        'response_headers': [header_pair(item) for item in config.response_headers],
        # `--forwarded-allow-ips` entries (normalised by the config); None: `--no-proxy-headers`.
        'trusted_proxies': [e for e in config.forwarded_allow_ips.split(',') if e] if config.proxy_headers else None,
        'limit_concurrency': config.limit_concurrency,
        'max_requests': worker_max_requests(config.limit_max_requests, config.limit_max_requests_jitter),
        'max_body_size': config.max_body_size or None,
        'body_read_timeout': _seconds_or_off(config.body_read_timeout),
        'graceful_timeout': timedelta(seconds=config.graceful_timeout),
        'keep_alive_timeout': _seconds_or_off(config.keep_alive_timeout),
        'write_timeout': _seconds_or_off(config.write_timeout),
        'static_files': _static_files(config),
        'ws': {
            'max_message_size': config.ws_max_message_size,
            'ping_interval': _seconds_or_off(config.ws_ping_interval),
            'ping_timeout': _seconds_or_off(config.ws_ping_timeout),
        },
    }


def worker_max_requests(limit: int, jitter: int, rng: random.Random | None = None) -> int:
    """One worker's `--limit-max-requests`: `limit + randint(0, jitter)`, or 0 (off) when `limit` is.

    The jitter spreads the replacements of workers that started together over time, so they
    are not all replaced at once.
    """
    if limit <= 0:
        return 0
    return limit + (rng or random).randint(0, max(0, jitter))


def _tls(config: Config) -> dict[str, Any] | None:
    """The `tls` section: None unless both a certificate and a key are given."""
    if not (config.ssl_cert and config.ssl_key):
        return None
    return {
        'cert': config.ssl_cert,
        'key': config.ssl_key,
        'key_password': config.ssl_key_password,
        'tls13_only': config.ssl_protocol_min != SSLProtocols.tls12,
        'ca': config.ssl_ca,
        'crls': list(config.ssl_crl),
        'client_verify': config.ssl_client_verify,
    }


def _static_files(config: Config) -> dict[str, Any] | None:
    """The `static_files` section: None unless a `--static-path-mount` is given.

    `mounts` pairs each route (normalised by the config) with its directory, in order.
    """
    if not config.static_path_mount:
        return None
    return {
        'mounts': list(zip(config.static_path_route, config.static_path_mount, strict=True)),
        'dir_to_file': config.static_path_dir_to_file,
        'expires': _seconds_or_off(config.static_path_expires),
        'precompressed': config.static_path_precompressed,
        'fallthrough': config.static_path_fallthrough,
        'follow_symlinks': config.static_path_follow_symlinks,
    }


def _seconds_or_off(seconds: float) -> timedelta | None:
    """Seconds as a duration; 0 (the options' "none") and infinity mean None."""
    return timedelta(seconds=seconds) if 0 < seconds < math.inf else None
