"""HTTP protocol settings: `Granian(http1_settings=HTTP1Settings(...), http2_settings=HTTP2Settings(...))`.

Each field also declares its CLI flag (`--http1-*`, `--http2-*`), limits and help text, which
`config.py` uses for validation and `cli.py` for its options. Time values are milliseconds
unless a field says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from granian._options import setting


@dataclass
class HTTP1Settings:
    """HTTP/1.x connection settings."""

    header_read_timeout: int = setting(
        30000,
        '--http1-header-read-timeout',
        'Time allowed to receive the request headers, in milliseconds.',
        kind='int',
        min=1,
        max=60000,
    )
    keep_alive: bool = setting(
        True, '--http1-keep-alive', 'Keep HTTP/1 connections open between requests.', kind='bool'
    )
    max_buffer_size: int = setting(
        417792, '--http1-buffer-size', 'Maximum size of the HTTP/1 read buffer, in bytes.', kind='int', min=8192
    )
    pipeline_flush: bool = setting(
        False,
        '--http1-pipeline-flush',
        'Batch the responses of pipelined requests into fewer writes (experimental).',
        kind='bool',
    )
    max_headers: int = setting(
        100, '--http1-max-headers', 'Maximum number of headers accepted in a request.', kind='int', min=1
    )


@dataclass
class HTTP2Settings:
    """HTTP/2 connection settings."""

    adaptive_window: bool = setting(
        False, '--http2-adaptive-window', 'Size flow-control windows from the measured bandwidth-delay.', kind='bool'
    )
    initial_connection_window_size: int = setting(
        1048576,
        '--http2-initial-connection-window-size',
        'Initial connection-level flow-control window, in bytes.',
        kind='int',
        min=1024,
    )
    initial_stream_window_size: int = setting(
        1048576,
        '--http2-initial-stream-window-size',
        'Initial stream-level flow-control window (SETTINGS_INITIAL_WINDOW_SIZE), in bytes.',
        kind='int',
        min=1024,
    )
    keep_alive_interval: int | None = setting(
        None,
        '--http2-keep-alive-interval',
        'Send a PING this often on idle connections, in milliseconds (default: never).',
        kind='int',
        min=1,
        max=60000,
    )
    keep_alive_timeout: int = setting(
        20, '--http2-keep-alive-timeout', 'How long to wait for a PING acknowledgement.', kind='duration', min=1
    )
    max_concurrent_streams: int = setting(
        200,
        '--http2-max-concurrent-streams',
        'Maximum concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS).',
        kind='int',
        min=10,
    )
    max_frame_size: int = setting(
        16384, '--http2-max-frame-size', 'Largest frame payload accepted, in bytes.', kind='int', min=1024
    )
    max_headers_size: int = setting(
        65536, '--http2-max-headers-size', 'Largest header list accepted, in bytes.', kind='int', min=1
    )
    max_send_buffer_size: int = setting(
        409600, '--http2-max-send-buffer-size', 'Write buffer per stream, in bytes.', kind='int', min=1024
    )
