"""Logging: defaults, `--log-config` merging, level forcing, access-line rendering."""

import logging
import time
from datetime import datetime

import pytest

from granian.errors import ConfigurationError
from granian.log import (
    ACCESS_LOGGER,
    DEFAULT_ACCESS_FORMAT,
    DEFAULT_LOG_CONFIG,
    RUNTIME_LOGGER,
    AccessAtoms,
    LogLevels,
    build_log_config,
    configure_logging,
    level_number,
    make_access_logger,
    validate_access_format,
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


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []
        self.setFormatter(logging.Formatter('%(message)s'))

    def emit(self, record):
        self.records.append(record)

    @property
    def lines(self):
        return [self.format(record) for record in self.records]


@pytest.fixture
def access_lines():
    logger = logging.getLogger(ACCESS_LOGGER)
    handler = Collect()
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


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


def test_access_atoms_headers_are_lazy_and_case_insensitive():
    atoms = AccessAtoms({'addr': '1.2.3.4'}, [('User-Agent', 'curl/8'), ('x-a', '1'), ('X-A', '2'), (b'x-b', b'v')])
    assert atoms['addr'] == '1.2.3.4'
    assert atoms['header{user-agent}'] == 'curl/8'
    assert atoms['header{USER-AGENT}'] == 'curl/8'
    assert atoms['header{x-a}'] == '1, 2'
    assert atoms['header{x-b}'] == 'v'
    assert atoms['header{missing}'] == '-'
    with pytest.raises(KeyError):
        atoms['nope']
    assert AccessAtoms({}, {'Host': 'h'})['header{host}'] == 'h'
    assert AccessAtoms({}, None)['header{host}'] == '-'


def test_access_atoms_format_with_percent():
    atoms = AccessAtoms({'status': 200, 'dt_ms': 1.23456}, [('Referer', 'x')])
    fmt = '%(status)d %(dt_ms).3f %(header{referer})s 100%%'
    assert fmt % atoms == '200 1.235 x 100%'


def test_default_access_line(access_lines):
    log = make_access_logger()
    start = time.time()
    log('127.0.0.1', start, 0.1754, 200, 'GET', '/a', 'b=1', 'http', 'HTTP/1.1', [])
    stamp = datetime.fromtimestamp(int(start)).astimezone().strftime('%Y-%m-%d %H:%M:%S %z')
    assert access_lines.lines == [f'[{stamp}] 127.0.0.1 - "GET /a HTTP/1.1" 200 0.175']
    assert access_lines.records[0].levelno == logging.INFO
    assert DEFAULT_ACCESS_FORMAT.startswith('[%(time)s]')


def test_custom_access_line_with_every_atom(access_lines):
    fmt = (
        '%(addr)s|%(time)s|%(method)s|%(path)s|%(query_string)s|%(scheme)s|%(protocol)s|%(status)d'
        '|%(dt_ms).3f|%(header{user-agent})s|%(header{x-missing})s'
    )
    log = make_access_logger(fmt)
    log('10.0.0.1', 0.0, 0.171, 404, None, '/a', 'b=1', 'https', 'HTTP/2', [('User-Agent', 'curl/7.88.1')])
    stamp = datetime.fromtimestamp(0).astimezone().strftime('%Y-%m-%d %H:%M:%S %z')
    assert access_lines.lines == [f'10.0.0.1|{stamp}|-|/a|b=1|https|HTTP/2|404|0.171|curl/7.88.1|-']


def test_access_line_is_not_built_when_disabled(access_lines):
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)

    class Exploding:
        def __iter__(self):
            raise AssertionError('headers read while the access log is off')

    make_access_logger('%(header{a})s')('a', 0.0, 0.0, 200, 'GET', '/', '', 'http', 'HTTP/1.1', Exploding())
    assert access_lines.records == []


@pytest.mark.parametrize('fmt', [DEFAULT_ACCESS_FORMAT, 'plain text', '%(header{x})s %%', '%(status)s'])
def test_valid_access_formats(fmt):
    validate_access_format(fmt)


@pytest.mark.parametrize(
    ('fmt', 'reason'),
    [
        ('%(unknown)s', "unknown atom 'unknown'"),
        ('%(addr)q', 'not a valid'),
        ('%(path)d', 'not a valid'),
        (None, 'expected a string'),
    ],
)
def test_invalid_access_formats(fmt, reason):
    with pytest.raises(ValueError, match=reason):
        validate_access_format(fmt)
