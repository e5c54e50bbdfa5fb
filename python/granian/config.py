"""The one source of truth for server settings.

`Config` is a frozen dataclass whose fields are the `Granian(...)` keyword names; each field
declares its default, CLI flag, limits and help text (see `granian._options.Opt`), and the CLI
is generated from these declarations. `build_config()` validates keyword values, maps the 1.x
names, resolves every "auto" value, and returns a `Config` that workers use as is (it travels
to them as JSON: `Config.to_dict()` / `Config.from_dict()`). The Rust engine reads only
`Config.engine_settings()`, built in `granian._engine_settings`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from granian._engine_settings import engine_settings
from granian._legacy import ALIAS_OPTIONS, apply_aliases, legacy_blocking_threads
from granian._options import Opt, convert, invalid, opt_of
from granian._options import setting as _s
from granian.access_log import validate_access_format
from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes, SSLProtocols, TaskImpl
from granian.errors import ConfigurationError, StartupError
from granian.http import HTTP1Settings, HTTP2Settings
from granian.loading import split_target
from granian.log import DEFAULT_ACCESS_FORMAT, RUNTIME_LOGGER, LogLevels, warn_when_configured

logger = logging.getLogger(RUNTIME_LOGGER)


@dataclass(frozen=True)
class Config:
    """Validated, fully resolved server settings (build it with `build_config`).

    Resolved means: `runtime_mode` is `'st'`/`'mt'`, `loop` a concrete loop, and
    `backpressure`, `blocking_threads`, `runtime_blocking_threads` are ints. Choice values
    are plain lower-case strings, paths absolute `str`, durations int seconds, repeatable
    settings tuples.
    """

    target: str = dataclasses.field(metadata={'opt': Opt(None, 'Application target, `module:attr`.')})
    address: str = _s('127.0.0.1', '--host', 'Address to bind (IPv6 allowed).')
    port: int = _s(8000, '--port', 'TCP port to bind.', kind='int', min=0, max=65535)
    uds: str | None = _s(None, '--uds', 'Bind this Unix socket instead of host and port.', kind='path')
    uds_permissions: int | None = _s(
        None, '--uds-permissions', 'Permissions of the Unix socket file (e.g. 0660).', kind='octal'
    )
    interface: str = _s('rsgi', '--interface', 'Application interface.', kind='choice', choices=Interfaces)
    http: str = _s('auto', '--http', 'HTTP version to serve.', kind='choice', choices=HTTPModes)
    websockets: bool = _s(True, '--ws', 'Enable WebSocket handling.', kind='bool', env='GRANIAN_WEBSOCKETS')
    server_header: bool = _s(
        True, '--server-header', "Add 'server: granian' to responses whose app set none.", kind='bool'
    )
    date_header: bool = _s(True, '--date-header', "Add a 'date' header to every response.", kind='bool')
    response_headers: tuple[str, ...] = _s(
        (),
        '--header',
        'Response header NAME:VALUE added to every response that has none of that name (repeatable).',
        kind='header',
        multi=True,
    )
    proxy_headers: bool = _s(
        True,
        '--proxy-headers',
        'Apply X-Forwarded-For/-Proto and Forwarded from --forwarded-allow-ips peers.',
        kind='bool',
    )
    forwarded_allow_ips: str = _s(
        '127.0.0.1,::1',
        '--forwarded-allow-ips',
        "Peers trusted with proxy headers: IPs, CIDR networks or '*', comma-separated (Unix sockets always).",
        kind='ips',
        env_aliases=('FORWARDED_ALLOW_IPS',),
    )
    max_body_size: int = _s(
        1024**3, '--max-body-size', 'Largest request body accepted, in bytes (0: no limit).', kind='int', min=0
    )
    body_read_timeout: int = _s(
        30, '--body-read-timeout', 'Longest pause in a request body being read (0: none).', kind='duration', min=0
    )
    keep_alive_timeout: int = _s(
        5,
        '--keep-alive-timeout',
        'Close a connection idle this long: no request in progress, nothing received (0: never).',
        kind='duration',
        min=0,
        max=86400,
        flag_aliases=('--timeout-keep-alive',),
    )
    write_timeout: int = _s(
        30,
        '--write-timeout',
        'Drop a client that accepts no bytes this long while a response waits to be sent (0: never).',
        kind='duration',
        min=0,
        max=86400,
    )
    ws_max_message_size: int = _s(
        16 * 1024 * 1024,
        '--ws-max-message-size',
        'Largest WebSocket message accepted, in bytes; a larger one closes the connection (1009).',
        kind='int',
        min=1,
    )
    ws_ping_interval: float = _s(
        20.0,
        '--ws-ping-interval',
        'Seconds between WebSocket pings sent by the server (0: none).',
        kind='float',
        min=0,
    )
    ws_ping_timeout: float = _s(
        20.0,
        '--ws-ping-timeout',
        'Seconds a WebSocket peer has to answer a ping before it is dropped.',
        kind='float',
        min=0,
    )
    workers: int = _s(1, '--workers', 'Number of worker processes.', kind='int', min=1)
    blocking_threads: int | None = _s(
        None,
        '--blocking-threads',
        'Threads per worker running Python code (the WSGI pool size; ASGI and RSGI run on 1).',
        kind='int',
        min=1,
        default_text='WSGI: backpressure // 2, else 1',
    )
    blocking_threads_idle_timeout: int = _s(
        30,
        '--blocking-threads-idle-timeout',
        'Idle blocking threads are stopped after this long.',
        kind='duration',
        min=5,
        max=600,
    )
    runtime_threads: int = _s(1, '--runtime-threads', 'Rust I/O threads per worker.', kind='int', min=1)
    runtime_blocking_threads: int | None = _s(
        None,
        '--runtime-blocking-threads',
        'Size of the Rust blocking-I/O pool per worker.',
        kind='int',
        min=1,
        default_text='512',
    )
    runtime_mode: str = _s('auto', '--runtime-mode', 'Rust runtime layout.', kind='choice', choices=RuntimeModes)
    loop: str = _s('auto', '--loop', 'Event loop implementation.', kind='choice', choices=Loops)
    task_impl: str = _s('asyncio', '--task-impl', 'asyncio Task implementation.', kind='choice', choices=TaskImpl)
    backlog: int = _s(1024, '--backlog', 'Maximum pending connections in the listen queue.', kind='int', min=128)
    backpressure: int | None = _s(
        None,
        '--backpressure',
        'Maximum connections served at once per worker.',
        kind='int',
        min=1,
        default_text='backlog // workers',
    )
    limit_concurrency: int = _s(
        0,
        '--limit-concurrency',
        'Maximum requests (HTTP/2 streams, WebSocket sessions) served at once per worker; more get 503 (0: no limit).',
        kind='int',
        min=0,
    )
    http1_settings: HTTP1Settings = dataclasses.field(
        default_factory=HTTP1Settings, metadata={'opt': Opt(None, 'HTTP/1 settings.', kind='object')}
    )
    http2_settings: HTTP2Settings = dataclasses.field(
        default_factory=HTTP2Settings, metadata={'opt': Opt(None, 'HTTP/2 settings.', kind='object')}
    )
    log_enabled: bool = _s(True, '--log', 'Enable server logging.', kind='bool', env='GRANIAN_LOG_ENABLED')
    log_level: str = _s('info', '--log-level', 'Server log level.', kind='choice', choices=LogLevels)
    log_dictconfig: dict | None = _s(
        None, '--log-config', 'JSON file with a logging dictConfig merged over the defaults.', kind='dict'
    )
    log_access: bool = _s(
        False, '--access-log', 'Log one line per request.', kind='bool', env='GRANIAN_LOG_ACCESS_ENABLED'
    )
    log_access_format: str = _s(
        DEFAULT_ACCESS_FORMAT, '--access-log-fmt', 'Access log line format.', env='GRANIAN_LOG_ACCESS_FMT'
    )
    log_access_json: bool = _s(
        False,
        '--access-log-json',
        'Write access lines as JSON objects of every atom (--access-log-fmt then only names the headers).',
        kind='bool',
        env='GRANIAN_LOG_ACCESS_JSON',
    )
    ssl_cert: str | None = _s(None, '--ssl-certificate', 'TLS certificate chain (PEM).', kind='file')
    ssl_key: str | None = _s(None, '--ssl-keyfile', 'TLS private key (PEM, PKCS#8).', kind='file')
    ssl_key_password: str | None = _s(None, '--ssl-keyfile-password', 'Password of an encrypted TLS key.')
    ssl_protocol_min: str = _s(
        'tls1.3', '--ssl-protocol-min', 'Minimum TLS version.', kind='choice', choices=SSLProtocols
    )
    ssl_ca: str | None = _s(None, '--ssl-ca', 'CA bundle to verify client certificates.', kind='file')
    ssl_crl: tuple[str, ...] = _s((), '--ssl-crl', 'Certificate revocation list (repeatable).', kind='file', multi=True)
    ssl_client_verify: bool = _s(False, '--ssl-client-verify', 'Require client certificates.', kind='bool')
    url_path_prefix: str | None = _s(None, '--url-path-prefix', 'URL prefix the app is mounted at (ASGI/WSGI).')
    respawn_failed_workers: bool = _s(
        False, '--respawn-failed-workers', 'Restart workers that exit unexpectedly.', kind='bool'
    )
    respawn_interval: float = _s(
        3.5,
        '--respawn-interval',
        'Seconds from a replacement worker being ready to stopping the old one.',
        kind='float',
        min=0,
    )
    rss_sample_interval: int = _s(
        30, '--rss-sample-interval', 'Memory sampling period.', kind='duration', min=1, max=300
    )
    rss_samples: int = _s(1, '--rss-samples', 'Over-limit samples in a row before a respawn.', kind='int', min=1)
    workers_lifetime: int | None = _s(
        None, '--workers-lifetime', 'Respawn workers after this age.', kind='duration', min=60
    )
    limit_max_requests: int = _s(
        0,
        '--limit-max-requests',
        'Replace a worker after it served this many requests (0: never).',
        kind='int',
        min=0,
        flag_aliases=('--max-requests',),
    )
    limit_max_requests_jitter: int = _s(
        0,
        '--limit-max-requests-jitter',
        "Add a random 0..N to each worker's --limit-max-requests (spreads the replacements).",
        kind='int',
        min=0,
        flag_aliases=('--max-requests-jitter',),
    )
    workers_max_rss: int | None = _s(
        None, '--workers-max-rss', 'Respawn a worker above this memory use (MiB).', kind='int', min=1
    )
    workers_kill_timeout: int | None = _s(
        None,
        '--workers-kill-timeout',
        'Kill workers that have not stopped after this long (default: wait).',
        kind='duration',
        min=1,
        max=1800,
    )
    graceful_timeout: int = _s(
        30,
        '--graceful-timeout',
        'On stop, let in-flight requests finish this long, then cut them (0: at once).',
        kind='duration',
        min=0,
        max=1800,
        flag_aliases=('--timeout-graceful-shutdown',),
    )
    factory: bool = _s(False, '--factory', 'Call the target with no arguments to get the app.', kind='bool')
    working_dir: str | None = _s(None, '--working-dir', 'Directory put first on sys.path.', kind='dir')
    env_files: tuple[str, ...] = _s(
        (), '--env-files', 'dotenv file to load (repeatable; needs python-dotenv).', kind='file', multi=True
    )
    static_path_route: tuple[str, ...] = _s(
        (), '--static-path-route', 'URL prefix of static files (repeatable).', multi=True, default_text='/static'
    )
    static_path_mount: tuple[str, ...] = _s(
        (), '--static-path-mount', 'Directory of static files (repeatable).', kind='dir', multi=True
    )
    static_path_dir_to_file: str | None = _s(
        None, '--static-path-dir-to-file', 'File served for directory requests (e.g. index.html).'
    )
    static_path_expires: int = _s(
        86400, '--static-path-expires', 'max-age of static responses (0: no header).', kind='duration', min=0
    )
    static_path_precompressed: bool = _s(
        False,
        '--static-path-precompressed',
        'Send file.br / file.zst / file.gz instead of a static file when the client accepts it.',
        kind='bool',
    )
    static_path_fallthrough: bool = _s(
        False,
        '--static-path-fallthrough',
        'Hand requests under a static route that find no file (404) to the app.',
        kind='bool',
    )
    static_path_follow_symlinks: bool = _s(
        False,
        '--static-path-follow-symlinks',
        'Serve what a symlink in a static mount leads to even outside the mount (off: a 404).',
        kind='bool',
    )
    metrics_enabled: bool = _s(
        False, '--metrics', 'Serve Prometheus metrics.', kind='bool', env='GRANIAN_METRICS_ENABLED'
    )
    metrics_scrape_interval: int = _s(
        15, '--metrics-scrape-interval', 'Metrics collection period.', kind='duration', min=1, max=60
    )
    metrics_address: str = _s('127.0.0.1', '--metrics-address', 'Address of the metrics exporter.')
    metrics_port: int = _s(9090, '--metrics-port', 'Port of the metrics exporter.', kind='int', min=0, max=65535)
    reload: bool = _s(False, '--reload', 'Restart workers when files change (needs watchfiles).', kind='bool')
    reload_paths: tuple[str, ...] = _s(
        (), '--reload-paths', 'Path to watch (repeatable).', kind='exists', multi=True, default_text='cwd'
    )
    reload_ignore_dirs: tuple[str, ...] = _s(
        (), '--reload-ignore-dirs', 'Directory name to ignore (repeatable).', multi=True
    )
    reload_ignore_patterns: tuple[str, ...] = _s(
        (), '--reload-ignore-patterns', 'File name regex to ignore (repeatable).', multi=True
    )
    reload_ignore_paths: tuple[str, ...] = _s(
        (), '--reload-ignore-paths', 'Path to ignore (repeatable).', kind='path', multi=True
    )
    reload_tick: int = _s(50, '--reload-tick', 'Watcher polling step, in milliseconds.', kind='int', min=50, max=5000)
    reload_ignore_worker_failure: bool = _s(
        False, '--reload-ignore-worker-failure', 'In reload mode, keep running when a worker dies.', kind='bool'
    )
    reload_filter: Any = _s(None, None, 'watchfiles filter class (API only).', kind='object')
    process_name: str | None = _s(None, '--process-name', 'Process title (needs setproctitle).')
    pid_file: str | None = _s(None, '--pid-file', 'File to write the main process id to.', kind='path')

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field (settings objects as dicts, tuples as lists)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    def engine_settings(self, *, sched_batch: bool = True) -> dict[str, Any]:
        """What `granian._granian.Engine` reads: only its keys, in its units (see `_engine_settings`).

        `sched_batch=False` keeps the scheduling policy of the thread that runs the engine's
        loop (the embedded server runs on its host program's thread).
        """
        return engine_settings(self, sched_batch=sched_batch)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Rebuild a Config from `to_dict()` output (no re-validation: it was validated once)."""
        unknown = set(data) - set(FIELDS)
        if unknown:
            raise ConfigurationError(f'unknown configuration keys: {", ".join(sorted(unknown))}')
        values = dict(data)
        for name, value in data.items():
            if name == 'http1_settings' and isinstance(value, Mapping):
                values[name] = HTTP1Settings(**value)
            elif name == 'http2_settings' and isinstance(value, Mapping):
                values[name] = HTTP2Settings(**value)
            elif opt_of(FIELDS[name]).multi and value is not None:
                values[name] = tuple(value)
        return cls(**values)


FIELDS: dict[str, dataclasses.Field] = {field.name: field for field in dataclasses.fields(Config)}
SETTINGS_CLASSES: dict[str, type] = {'http1_settings': HTTP1Settings, 'http2_settings': HTTP2Settings}

#: Choice values the engine does not implement yet, per keyword.
UNSUPPORTED_VALUES: dict[str, tuple[str, ...]] = {
    'task_impl': ('rust',),
    'loop': ('rloop', 'winloop'),
}

#: Interfaces whose app runs on the event loop thread: exactly one blocking thread.
#: Default size of the Rust blocking-I/O pool.
DEFAULT_RUNTIME_BLOCKING_THREADS = 512


def option_flags() -> dict[str, str]:
    """CLI flag of every option name used in ConfigurationError (`'http1_settings.keep_alive'` included)."""
    flags: dict[str, str] = {}
    for name, field in FIELDS.items():
        if opt_of(field).flag:
            flags[name] = opt_of(field).flag
        if name in SETTINGS_CLASSES:
            for sub in dataclasses.fields(SETTINGS_CLASSES[name]):
                flags[f'{name}.{sub.name}'] = opt_of(sub).flag
    flags.update({name: opt.flag for name, opt in ALIAS_OPTIONS.items() if opt.flag})
    return flags


def _flag(name: str) -> str:
    flag = option_flags().get(name)
    return f"'{name}' ({flag})" if flag else f"'{name}'"


def _convert_settings(name: str, value: Any) -> Any:
    """A validated copy of an HTTP settings object (given as instance, dict or None)."""
    cls = SETTINGS_CLASSES[name]
    if value is None:
        value = cls()
    elif isinstance(value, Mapping):
        try:
            value = cls(**value)
        except TypeError as exc:
            raise invalid(str(exc), name) from None
    elif not isinstance(value, cls):
        raise invalid(f'expected {cls.__name__}, got {type(value).__name__}', name)
    fields = {}
    for sub in dataclasses.fields(cls):
        fields[sub.name] = convert(opt_of(sub), f'{name}.{sub.name}', getattr(value, sub.name), sub.default is None)
    return cls(**fields)


def _default(name: str) -> Any:
    field = FIELDS[name]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _convert(name: str, value: Any) -> Any:
    """`value` for keyword `name`, validated and normalised; None means the default."""
    if value is None:
        value = _default(name)
    if name in SETTINGS_CLASSES:
        return _convert_settings(name, value)
    field = FIELDS[name]
    return convert(opt_of(field), name, value, nullable=field.default is None)


def _check_unsupported(kwargs: Mapping[str, Any]) -> None:
    for name, values in UNSUPPORTED_VALUES.items():
        value = _convert(name, kwargs.get(name))
        if value in values:
            supported = [v for v in opt_of(FIELDS[name]).choices.values() if v not in values]
            message = f"Value '{value}' of {{option}} is not supported yet by this build (use: {', '.join(supported)})"
            raise ConfigurationError(message, name)


def module_available(name: str) -> bool:
    """Whether `name` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _check(values: dict[str, Any]) -> None:
    """Checks that involve more than one setting, or the environment."""
    try:
        split_target(values['target'])
    except StartupError as exc:
        raise ConfigurationError(str(exc), 'target') from None
    if not values['address']:
        raise invalid('the address must not be empty', 'address')
    if values['uds'] and sys.platform == 'win32':
        raise ConfigurationError('{option} (Unix domain sockets) is not available on Windows', 'uds')
    if values['loop'] == 'uvloop' and (sys.platform == 'win32' or not module_available('uvloop')):
        raise ConfigurationError("{option} 'uvloop' needs the uvloop package: pip install 'granian[uvloop]'", 'loop')
    if values['env_files'] and not module_available('dotenv'):
        raise ConfigurationError("{option} needs the python-dotenv package: pip install 'granian[dotenv]'", 'env_files')
    if bool(values['ssl_cert']) != bool(values['ssl_key']):
        given, missing = ('ssl_cert', 'ssl_key') if values['ssl_cert'] else ('ssl_key', 'ssl_cert')
        raise ConfigurationError(f'{{option}} needs {option_flags()[missing]} too (TLS needs both)', given)
    _check_lifecycle(values)
    _check_static(values)
    if values['log_dictconfig'] is not None:
        try:
            json.dumps(values['log_dictconfig'])
        except (TypeError, ValueError) as exc:
            raise invalid(f'must be JSON-serialisable ({exc})', 'log_dictconfig') from None
    try:
        validate_access_format(values['log_access_format'])
    except ValueError as exc:
        raise invalid(str(exc), 'log_access_format') from None


def _check_lifecycle(values: dict[str, Any]) -> None:
    """Checks of the process-management settings (reload, memory limit, process title)."""
    if values['reload'] and not module_available('watchfiles'):
        raise ConfigurationError("{option} needs the watchfiles package: pip install 'granian[reload]'", 'reload')
    reload_filter = values['reload_filter']
    if reload_filter is not None:
        base = importlib.import_module('watchfiles').BaseFilter if module_available('watchfiles') else None
        if base is None or not isinstance(reload_filter, type) or not issubclass(reload_filter, base):
            raise invalid(f'expected a subclass of watchfiles.BaseFilter, got {reload_filter!r}', 'reload_filter')
    if values['limit_max_requests_jitter'] and not values['limit_max_requests']:
        raise ConfigurationError(
            '{option} needs --limit-max-requests (the jitter is added to it)', 'limit_max_requests_jitter'
        )
    if values['workers_max_rss'] is not None and not sys.platform.startswith('linux'):
        raise ConfigurationError('{option} reads worker memory from /proc: it needs Linux', 'workers_max_rss')
    if values['process_name'] is not None and not module_available('setproctitle'):
        raise ConfigurationError(
            "{option} needs the setproctitle package: pip install 'granian[pname]'", 'process_name'
        )


#: The route of a lone `--static-path-mount` given without `--static-path-route`.
DEFAULT_STATIC_ROUTE = '/static'


def normalize_route(route: str) -> str:
    """A `--static-path-route` as matched: a leading slash, none at the end (`/` stays `/`)."""
    route = route.strip()
    if not route.startswith('/'):
        raise ValueError(f"expected a URL path starting with '/', got {route!r}")
    if any(segment in ('.', '..') for segment in route.split('/')) or '\\' in route or '\x00' in route:
        raise ValueError(f"'.', '..', backslashes and NUL are not allowed in a route, got {route!r}")
    return route.rstrip('/') or '/'


def _check_static(values: dict[str, Any]) -> None:
    """Routes and mounts pair up in order; the index file is a plain file name."""
    routes, mounts = values['static_path_route'], values['static_path_mount']
    if routes and not mounts:
        raise ConfigurationError('{option} needs --static-path-mount (the directory served there)', 'static_path_route')
    if len(routes) != len(mounts) and not (len(mounts) == 1 and not routes):
        raise ConfigurationError(
            f'{{option}} given {len(mounts)} time(s) but --static-path-route {len(routes)} time(s): '
            'routes and mounts pair up in order',
            'static_path_mount',
        )
    try:
        values['static_path_route'] = tuple(normalize_route(route) for route in routes)
    except ValueError as exc:
        raise invalid(str(exc), 'static_path_route') from None
    index = values['static_path_dir_to_file']
    if index is not None and (not index or index in ('.', '..') or any(c in index for c in '/\\\x00')):
        raise invalid(f'expected a file name (no directory part), got {index!r}', 'static_path_dir_to_file')


def default_process_name(values: Mapping[str, Any]) -> str:
    """`granian <interface> <address> <target>`: the title used when setproctitle is installed."""
    if values['uds']:
        bind = values['uds']
    else:
        host = values['address']
        bind = f'[{host}]:{values["port"]}' if ':' in host else f'{host}:{values["port"]}'
    return f'granian {values["interface"]} {bind} {values["target"]}'


def normalize_prefix(prefix: str | None) -> str:
    """`--url-path-prefix` as a mount point: `''`, or `/a/b` (leading slash, none at the end)."""
    prefix = (prefix or '').strip().strip('/')
    return f'/{prefix}' if prefix else ''


def _resolve(values: dict[str, Any]) -> None:
    """Replace every "auto"/None-means-computed value by the concrete one."""
    if values['backpressure'] is None:
        values['backpressure'] = max(1, values['backlog'] // values['workers'])
    if values['blocking_threads'] is None:
        wsgi = values['interface'] == Interfaces.WSGI
        values['blocking_threads'] = max(1, values['backpressure'] // 2) if wsgi else 1
    if values['runtime_blocking_threads'] is None:
        values['runtime_blocking_threads'] = DEFAULT_RUNTIME_BLOCKING_THREADS
    if values['runtime_mode'] == RuntimeModes.auto:
        # One runtime thread: a current-thread runtime (no work-stealing scheduler, no extra
        # thread) is faster for every interface and HTTP version; more threads share work.
        single = values['runtime_threads'] == 1
        values['runtime_mode'] = RuntimeModes.st.value if single else RuntimeModes.mt.value
    if values['process_name'] is None and module_available('setproctitle'):
        values['process_name'] = default_process_name(values)
    if values['static_path_mount'] and not values['static_path_route']:
        values['static_path_route'] = (DEFAULT_STATIC_ROUTE,)
    # One mount point for every interface (ASGI `root_path`, WSGI `SCRIPT_NAME`).
    values['url_path_prefix'] = normalize_prefix(values['url_path_prefix']) or None
    if values['loop'] == Loops.auto:
        uvloop = sys.platform != 'win32' and module_available('uvloop')
        values['loop'] = Loops.uvloop.value if uvloop else Loops.asyncio.value


def build_config(target: str, **kwargs: Any) -> Config:
    """Validate `Granian(target, **kwargs)` settings and return the resolved Config.

    Accepts the keyword names of `Config` (None meaning "default") and the 1.x aliases in
    `granian._legacy` (`ALIAS_OPTIONS` / `LEGACY_VALUES`). Enum members, plain strings (any case) and `pathlib`
    paths are all fine. Raises ConfigurationError naming the setting and the bad value.
    Using 1.x names or values (including more than 1 blocking thread with ASGI/RSGI) logs one
    warning on the `_granian` logger, once logging is configured.
    """
    kwargs = dict(kwargs)
    notes = apply_aliases(kwargs, _flag)
    unknown = sorted(set(kwargs) - set(FIELDS))
    if unknown:
        raise ConfigurationError(f'unknown option(s): {", ".join(unknown)}')
    _check_unsupported(kwargs)
    values = {'target': target}
    for name in FIELDS:
        if name != 'target':
            values[name] = _convert(name, kwargs.get(name))
    _check(values)
    legacy_threads = legacy_blocking_threads(values, _flag)
    if legacy_threads:
        notes.append(legacy_threads)
    _resolve(values)
    if notes:
        warn_when_configured(f'Deprecated settings: {"; ".join(notes)}.')
    return Config(**values)
