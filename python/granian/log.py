"""Logging: the default dictConfig, `--log-config` merging, and access-log rendering.

Two loggers, kept apart so each can be routed on its own:

- `_granian` (`RUNTIME_LOGGER`): server messages from Python and from the Rust engine;
- `granian.access` (`ACCESS_LOGGER`): one INFO line per request when the access log is on.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from granian.constants import StrEnum
from granian.errors import ConfigurationError

RUNTIME_LOGGER = '_granian'
ACCESS_LOGGER = 'granian.access'

#: Access line format; atoms are described in `AccessAtoms`.
DEFAULT_ACCESS_FORMAT = '[%(time)s] %(addr)s - "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).3f'
#: The public Granian name of `DEFAULT_ACCESS_FORMAT`.
DEFAULT_ACCESSLOG_FMT = DEFAULT_ACCESS_FORMAT

_TIME_FORMAT = '%Y-%m-%d %H:%M:%S %z'
_DATE_FORMAT = '[%Y-%m-%d %H:%M:%S %z]'


class LogLevels(StrEnum):
    """Levels accepted by `--log-level` / `log_level`."""

    critical = 'critical'
    error = 'error'
    warning = 'warning'
    warn = 'warn'
    info = 'info'
    debug = 'debug'
    notset = 'notset'


_LEVEL_NUMBERS = {
    'critical': logging.CRITICAL,
    'error': logging.ERROR,
    'warning': logging.WARNING,
    'warn': logging.WARNING,
    'info': logging.INFO,
    'debug': logging.DEBUG,
    'notset': logging.NOTSET,
}

#: The logging configuration used when no `--log-config` is given (do not mutate; see
#: `default_log_config()` for a private copy).
DEFAULT_LOG_CONFIG: dict[str, Any] = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {
        'generic': {'format': '[%(levelname)s] %(message)s', 'datefmt': _DATE_FORMAT},
        'access': {'format': '%(message)s', 'datefmt': _DATE_FORMAT},
    },
    'handlers': {
        'console': {'formatter': 'generic', 'class': 'logging.StreamHandler', 'stream': 'ext://sys.stdout'},
        'access': {'formatter': 'access', 'class': 'logging.StreamHandler', 'stream': 'ext://sys.stdout'},
    },
    'loggers': {
        RUNTIME_LOGGER: {'handlers': ['console'], 'level': 'INFO', 'propagate': False},
        ACCESS_LOGGER: {'handlers': ['access'], 'level': 'INFO', 'propagate': False},
    },
}


#: The public Granian name of `DEFAULT_LOG_CONFIG`: copy it, change the copy, pass it as
#: `Granian(log_dictconfig=...)` (or save it as JSON for `--log-config`).
LOGGING_CONFIG = DEFAULT_LOG_CONFIG

#: Warnings logged before this process configured logging, emitted by `configure_logging`.
_pending_warnings: list[str] = []


def warn_when_configured(message: str) -> None:
    """Log `message` as a warning on the runtime logger, once logging is set up.

    Settings are validated before the server configures logging; a warning logged then would
    reach stderr through Python's last-resort handler, unformatted. So when the runtime logger
    has no handler yet, the message waits for the next `configure_logging()` call.
    """
    runtime = logging.getLogger(RUNTIME_LOGGER)
    if runtime.hasHandlers():
        runtime.warning('%s', message)
    else:
        _pending_warnings.append(message)


def level_number(level: LogLevels | str) -> int:
    """The stdlib logging level for a `LogLevels` value (case-insensitive)."""
    return _LEVEL_NUMBERS[LogLevels(level).value]


def runtime_level(enabled: bool, level: LogLevels | str) -> int:
    """The runtime logger's threshold: `level`'s number, or above CRITICAL when logging is off.

    Both the Python logger (`configure_logging`) and the engine, which drops records below it
    before formatting them, use this number.
    """
    return level_number(level) if enabled else logging.CRITICAL + 1


def default_log_config() -> dict[str, Any]:
    """A fresh copy of `DEFAULT_LOG_CONFIG`."""
    return copy.deepcopy(DEFAULT_LOG_CONFIG)


def build_log_config(dictconfig: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The defaults with `dictconfig` laid over them by a shallow, top-level update.

    A user `loggers` (or `handlers`, ...) key replaces the default one as a whole.
    """
    config = default_log_config()
    if dictconfig:
        config.update(copy.deepcopy(dict(dictconfig)))
    return config


def configure_logging(
    enabled: bool = True, level: LogLevels | str = LogLevels.info, dictconfig: Mapping[str, Any] | None = None
) -> None:
    """Apply the logging configuration of this process.

    `dictconfig` is merged over the defaults (`build_log_config`). The runtime logger's level is
    then forced to `level`, or above CRITICAL when `enabled` is false (the access logger is not
    affected by either). Raises ConfigurationError when `logging.config.dictConfig` rejects
    the merged configuration.
    """
    import logging.config  # deferred: pulls in logging.handlers and socket, not needed to import granian

    try:
        logging.config.dictConfig(build_log_config(dictconfig))
    except (ValueError, TypeError, AttributeError, ImportError) as exc:
        raise ConfigurationError(f"Invalid value for '{{option}}': {exc}", 'log_dictconfig') from exc
    runtime = logging.getLogger(RUNTIME_LOGGER)
    runtime.setLevel(runtime_level(enabled, level))
    while _pending_warnings:
        runtime.warning('%s', _pending_warnings.pop(0))


class AccessAtoms(dict):
    """The values of one access-log line, for `%`-style formatting (`fmt % atoms`).

    Holds the atoms given by the engine (`addr`, `time`, `dt_ms`, `status`, `path`,
    `query_string`, `method`, `scheme`, `protocol`). Keys written `header{name}` are
    resolved on first use from `headers` (pairs or a mapping), ignoring the name's case;
    repeated headers are joined with `, `; a missing header gives `-`.
    """

    __slots__ = ('_headers', '_by_name')

    def __init__(
        self, atoms: Mapping[str, Any], headers: Iterable[tuple[Any, Any]] | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(atoms)
        self._headers = headers
        self._by_name: dict[str, str] | None = None

    def _header_index(self) -> dict[str, str]:
        index: dict[str, str] = {}
        headers = self._headers
        pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
        for name, value in pairs:
            key = (name.decode('latin-1') if isinstance(name, bytes) else str(name)).lower()
            text = value.decode('latin-1') if isinstance(value, bytes) else str(value)
            index[key] = f'{index[key]}, {text}' if key in index else text
        return index

    def __missing__(self, key: str) -> str:
        if not (isinstance(key, str) and key.startswith('header{') and key.endswith('}')):
            raise KeyError(key)
        if self._by_name is None:
            self._by_name = self._header_index()
        value = self._by_name.get(key[7:-1].lower(), '-')
        self[key] = value
        return value


_SAMPLE_ATOMS = {
    'addr': '127.0.0.1',
    'time': '2000-01-01 00:00:00 +0000',
    'dt_ms': 0.1,
    'status': 200,
    'path': '/',
    'query_string': '',
    'method': 'GET',
    'scheme': 'http',
    'protocol': 'HTTP/1.1',
}


def validate_access_format(fmt: str) -> None:
    """Raise ValueError (with the reason) when `fmt` cannot render an access line."""
    if not isinstance(fmt, str):
        raise ValueError(f'expected a string, got {type(fmt).__name__}')
    try:
        fmt % AccessAtoms(_SAMPLE_ATOMS, [])
    except KeyError as exc:
        known = ', '.join(list(_SAMPLE_ATOMS) + ['header{name}'])
        raise ValueError(f'unknown atom {exc.args[0]!r} in {fmt!r} (known atoms: {known})') from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{fmt!r} is not a valid access log format: {exc}') from None


class _LocalTime:
    """Formats epoch seconds as local time, reusing the text while the second is unchanged."""

    __slots__ = ('_last',)

    def __init__(self) -> None:
        self._last: tuple[int, str] = (-1, '')

    def __call__(self, timestamp: float) -> str:
        second = int(timestamp)
        last = self._last
        if last[0] == second:
            return last[1]
        text = datetime.fromtimestamp(second).astimezone().strftime(_TIME_FORMAT)
        self._last = (second, text)
        return text


AccessLogger = Callable[[str, float, float, int, Any, str, str, str, str, Any], None]


def make_access_logger(fmt: str = DEFAULT_ACCESS_FORMAT) -> AccessLogger:
    """The callback the engine calls once per finished request.

    Signature of the returned callable: `(addr, start_ts, dt_ms, status, method, path, query,
    scheme, protocol, headers)`, with `start_ts` in epoch seconds and `headers` a list of
    `(name, value)` pairs. It logs `fmt % atoms` at INFO on `granian.access`; the line is only
    rendered when a handler emits it.
    """
    logger = logging.getLogger(ACCESS_LOGGER)
    local_time = _LocalTime()

    def log_access(
        addr: str,
        start_ts: float,
        dt_ms: float,
        status: int,
        method: Any,
        path: str,
        query: str,
        scheme: str,
        protocol: str,
        headers: Any,
    ) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        atoms = AccessAtoms(
            {
                'addr': addr,
                'time': local_time(start_ts),
                'dt_ms': dt_ms,
                'status': status,
                'path': path,
                'query_string': query,
                'method': method or '-',
                'scheme': scheme,
                'protocol': protocol,
            },
            headers,
        )
        logger.info(fmt, atoms)

    return log_access
