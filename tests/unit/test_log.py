"""Logging: defaults, `--log-config` merging, level forcing (access lines: test_access_log.py)."""

import logging

import pytest

from granian.errors import ConfigurationError
from granian.log import (
    ACCESS_LOGGER,
    DEFAULT_LOG_CONFIG,
    RUNTIME_LOGGER,
    LogLevels,
    build_log_config,
    configure_logging,
    level_number,
)


@pytest.fixture(autouse=True)
def restore_loggers():
    """dictConfig changes process-wide state: put both loggers back as they were."""
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


def test_log_levels():
    assert [level.value for level in LogLevels] == [
        'critical',
        'error',
        'warning',
        'warn',
        'info',
        'debug',
        'notset',
    ]
    assert level_number('WARN') == logging.WARNING
    assert level_number(LogLevels.debug) == logging.DEBUG
    assert level_number('notset') == logging.NOTSET


def test_default_config_matches_the_spec():
    config = DEFAULT_LOG_CONFIG
    assert config['disable_existing_loggers'] is False
    assert config['formatters']['generic']['format'] == '[%(levelname)s] %(message)s'
    assert config['formatters']['access']['format'] == '%(message)s'
    assert config['handlers']['console']['stream'] == 'ext://sys.stdout'
    assert config['loggers']['_granian'] == {'handlers': ['console'], 'level': 'INFO', 'propagate': False}
    assert config['loggers']['granian.access'] == {'handlers': ['access'], 'level': 'INFO', 'propagate': False}


def test_user_config_replaces_top_level_keys_only():
    merged = build_log_config({'loggers': {'app': {'level': 'DEBUG'}}})
    assert merged['loggers'] == {'app': {'level': 'DEBUG'}}
    assert merged['handlers'] == DEFAULT_LOG_CONFIG['handlers']
    assert build_log_config(None) == DEFAULT_LOG_CONFIG
    assert build_log_config(None) is not DEFAULT_LOG_CONFIG


def test_configure_logging_forces_the_runtime_level():
    configure_logging(True, 'debug', None)
    runtime = logging.getLogger(RUNTIME_LOGGER)
    assert runtime.level == logging.DEBUG
    assert runtime.propagate is False
    assert logging.getLogger(ACCESS_LOGGER).level == logging.INFO
    # a user config that sets another level for _granian is overridden by --log-level
    configure_logging(True, LogLevels.error, {'loggers': {'_granian': {'level': 'DEBUG'}}})
    assert runtime.level == logging.ERROR


def test_disabled_logging_silences_runtime_only():
    configure_logging(False, 'debug', None)
    assert not logging.getLogger(RUNTIME_LOGGER).isEnabledFor(logging.CRITICAL)
    assert logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO)


def test_invalid_dictconfig_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as info:
        configure_logging(True, 'info', {'handlers': {'broken': {'class': 'no.such.Handler'}}})
    assert info.value.option == 'log_dictconfig'
