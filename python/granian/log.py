"""Logging: the default dictConfig and `--log-config` merging (access lines: `granian.access_log`).

Two loggers, kept apart so each can be routed on its own:

- `_granian` (`RUNTIME_LOGGER`): server messages from Python and from the Rust engine;
- `granian.access` (`ACCESS_LOGGER`): one INFO line per request when the access log is on.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from granian.constants import StrEnum
from granian.errors import ConfigurationError

RUNTIME_LOGGER = '_granian'
ACCESS_LOGGER = 'granian.access'

#: Access line format; the atoms are listed in `granian.access_log.ATOMS`.
DEFAULT_ACCESS_FORMAT = '[%(time)s] %(addr)s - "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).3f'
#: The public Granian name of `DEFAULT_ACCESS_FORMAT`.
DEFAULT_ACCESSLOG_FMT = DEFAULT_ACCESS_FORMAT

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
