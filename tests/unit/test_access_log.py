"""Access-line rendering: atoms, escaping, JSON lines, the format check and the headers it names."""

import json
import logging
import time
from datetime import datetime

import pytest

from granian.access_log import (
    ATOMS,
    AccessAtoms,
    AccessFormat,
    access_log_headers,
    escape,
    make_access_logger,
    validate_access_format,
)
from granian.log import ACCESS_LOGGER, DEFAULT_ACCESS_FORMAT


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
    saved = (list(logger.handlers), logger.level, logger.propagate)
    handler = Collect()
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield handler
    logger.handlers[:], level, logger.propagate = saved
    logger.setLevel(level)


def local(ts, fmt):
    return datetime.fromtimestamp(int(ts)).astimezone().strftime(fmt)


def test_access_atoms_headers_are_lazy_and_case_insensitive():
    atoms = AccessAtoms({'addr': '1.2.3.4'}, [('User-Agent', 'curl/8'), ('x-a', '1'), ('X-A', '2'), (b'x-b', b'v')])
    assert atoms['addr'] == '1.2.3.4'
    assert atoms['header{user-agent}'] == 'curl/8'
    assert atoms['header{USER-AGENT}'] == 'curl/8'
    assert atoms['user_agent'] == 'curl/8'
    assert atoms['header{x-a}'] == '1, 2'
    assert atoms['header{x-b}'] == 'v'
    assert atoms['header{missing}'] == '-'
    assert atoms['referer'] == '-'
    with pytest.raises(KeyError):
        atoms['nope']
    assert AccessAtoms({}, {'Host': 'h'})['header{host}'] == 'h'
    assert AccessAtoms({}, None)['header{host}'] == '-'
    assert AccessAtoms({}, [('host', None)])['header{host}'] == '-', 'None: the engine saw no such header'


def test_access_atoms_response_headers_are_their_own():
    atoms = AccessAtoms({}, [('content-type', 'req')], {'Content-Type': 'text/html'})
    assert atoms['response_header{content-type}'] == 'text/html'
    assert atoms['header{content-type}'] == 'req'
    assert atoms['response_header{x-missing}'] == '-'
    raw = AccessAtoms({}, None, None, text=False)
    assert raw['response_header{x-missing}'] is None
    assert raw['request_id'] is None


def test_access_atoms_format_with_percent():
    atoms = AccessAtoms({'status': 200, 'dt_ms': 1.23456}, [('Referer', 'x')])
    fmt = '%(status)d %(dt_ms).3f %(header{referer})s %(referer)s 100%%'
    assert fmt % atoms == '200 1.235 x x 100%'


def test_derived_atoms():
    atoms = AccessAtoms(
        {'dt_ms': 1234.5678, 'method': 'GET', 'path': '/a', 'query_string': 'b=1', 'protocol': 'HTTP/2'},
        [('X-Request-ID', 'req-7')],
        start=971185336.25,
    )
    assert atoms['dt_us'] == 1234568
    assert atoms['dt_s'] == pytest.approx(1.2345678)
    assert atoms['request_line'] == 'GET /a?b=1 HTTP/2'
    assert atoms['request_id'] == 'req-7'
    local_dt = datetime.fromtimestamp(971185336).astimezone()
    assert atoms['time'] == local_dt.strftime('%Y-%m-%d %H:%M:%S %z')
    months = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split()
    assert atoms['time_clf'] == local_dt.strftime(f'%d/{months[local_dt.month - 1]}/%Y:%H:%M:%S %z')
    assert atoms['time_iso'] == datetime.fromtimestamp(971185336.25).astimezone().isoformat(timespec='milliseconds')
    assert atoms['time_iso'][19:23] == '.250'
    no_query = AccessAtoms({'method': 'GET', 'path': '/', 'query_string': '', 'protocol': 'HTTP/1.1'})
    assert no_query['request_line'] == 'GET / HTTP/1.1'


def test_clf_time_matches_the_common_log_format():
    line = AccessAtoms({}, start=time.time())['time_clf']
    datetime.strptime(line, '%d/%b/%Y:%H:%M:%S %z')  # the C locale's month names
    assert len(line) == len('10/Oct/2000:13:55:36 -0700')


@pytest.mark.parametrize(
    ('raw', 'logged'),
    [
        ('plain /path?a=1&b=%20', 'plain /path?a=1&b=%20'),
        ('a\r\nforged line', 'a\\x0D\\x0Aforged line'),
        ('say "hi"', 'say \\x22hi\\x22'),
        ('back\\slash', 'back\\x5Cslash'),
        ('tab\tnul\x00del\x7f', 'tab\\x09nul\\x00del\\x7F'),
        ('café', 'caf\\xC3\\xA9'),
        ('nel\x85ls\u2028', 'nel\\xC2\\x85ls\\xE2\\x80\\xA8'),
        ('', ''),
    ],
)
def test_escape_writes_unsafe_bytes_as_hex(raw, logged):
    assert escape(raw) == logged


def test_default_access_line(access_lines):
    log = make_access_logger()
    start = time.time()
    log('127.0.0.1', start, 0.1754, 200, 'GET', '/a', 'b=1', 'http', 'HTTP/1.1', [])
    stamp = local(start, '%Y-%m-%d %H:%M:%S %z')
    assert access_lines.lines == [f'[{stamp}] 127.0.0.1 - "GET /a HTTP/1.1" 200 0.175']
    assert access_lines.records[0].levelno == logging.INFO
    assert DEFAULT_ACCESS_FORMAT.startswith('[%(time)s]')


def test_custom_access_line_with_every_atom(access_lines):
    fmt = (
        '%(addr)s|%(time)s|%(method)s|%(path)s|%(query_string)s|%(scheme)s|%(protocol)s|%(status)d'
        '|%(dt_ms).3f|%(header{user-agent})s|%(header{x-missing})s|%(body_bytes)d|%(dt_us)d|%(dt_s).4f'
        '|%(referer)s|%(user_agent)s|%(request_id)s|%(response_header{content-type})s|%(request_line)s'
        '|[%(time_clf)s]'
    )
    log = make_access_logger(fmt)
    assert AccessFormat(fmt).request_headers == ('user-agent', 'x-missing', 'referer', 'x-request-id')
    assert AccessFormat(fmt).response_headers == ('content-type',)
    log(
        '10.0.0.1',
        0.0,
        171.0,
        404,
        None,
        '/a',
        'b=1',
        'https',
        'HTTP/2',
        ['curl/7.88.1', None, None, 'r1'],
        1234,
        ['text/plain'],
    )
    stamp = local(0, '%Y-%m-%d %H:%M:%S %z')
    clf = AccessAtoms({}, start=0.0)['time_clf']
    assert access_lines.lines == [
        f'10.0.0.1|{stamp}|-|/a|b=1|https|HTTP/2|404|171.000|curl/7.88.1|-|1234|171000|0.1710'
        f'|-|curl/7.88.1|r1|text/plain|- /a?b=1 HTTP/2|[{clf}]'
    ]


def test_request_values_cannot_forge_a_line(access_lines):
    fmt = '%(method)s "%(request_line)s" "%(referer)s" "%(header{x-a})s" %(response_header{x-b})s %(addr)s'
    log = make_access_logger(fmt)
    log(
        '1.2.3.4',
        0.0,
        1.0,
        200,
        'G"T',
        '/p"a\\th\r\n',
        'q=\n1',
        'http',
        'HTTP/1.1',
        # AccessFormat.request_headers: the format's names first, then the shorthands'.
        ['é\x1b[31m', 'ref\r\n[2000-01-01] 6.6.6.6 - "GET /forged"'],
        0,
        ['"quoted"'],
    )
    (line,) = access_lines.lines
    assert '\n' not in line and '\r' not in line and '\x1b' not in line
    assert line == (
        'G\\x22T "G\\x22T /p\\x22a\\x5Cth\\x0D\\x0A?q=\\x0A1 HTTP/1.1" '
        '"ref\\x0D\\x0A[2000-01-01] 6.6.6.6 - \\x22GET /forged\\x22" "\\xC3\\xA9\\x1B[31m" \\x22quoted\\x22 1.2.3.4'
    )


def test_json_access_line_holds_every_atom(access_lines):
    log = make_access_logger('%(header{X-A})s %(response_header{Content-Type})s', as_json=True)
    log(
        '10.0.0.1',
        971185336.5,
        1.23456,
        201,
        'POST',
        '/p"\n',
        'a=1',
        'https',
        'HTTP/2',
        # In the order of AccessFormat.request_headers: the format's first, then the shorthands.
        ['x\r\n"y"', 'https://ref/', None, 'id-1'],
        17,
        [None],
    )
    (line,) = access_lines.lines
    assert '\n' not in line
    record = json.loads(line)
    assert list(record) == [*ATOMS, 'request_headers', 'response_headers']
    assert record['addr'] == '10.0.0.1'
    assert record['time'] == local(971185336, '%Y-%m-%d %H:%M:%S %z')
    assert record['time_iso'] == datetime.fromtimestamp(971185336.5).astimezone().isoformat(timespec='milliseconds')
    assert (record['dt_ms'], record['dt_us'], record['dt_s']) == (1.235, 1235, 0.001235)
    assert (record['status'], record['method'], record['path'], record['query_string']) == (201, 'POST', '/p"\n', 'a=1')
    assert record['request_line'] == 'POST /p"\n?a=1 HTTP/2'
    assert (record['scheme'], record['protocol'], record['body_bytes']) == ('https', 'HTTP/2', 17)
    assert (record['referer'], record['user_agent'], record['request_id']) == ('https://ref/', None, 'id-1')
    assert record['request_headers'] == {'x-a': 'x\r\n"y"'}
    assert record['response_headers'] == {'content-type': None}


def test_json_keeps_the_shorthand_headers_even_when_the_format_names_none():
    assert access_log_headers(DEFAULT_ACCESS_FORMAT, as_json=True) == (('referer', 'user-agent', 'x-request-id'), ())
    assert access_log_headers(DEFAULT_ACCESS_FORMAT) == ((), ())


def test_header_names_are_read_once_lowercased_and_unique():
    fmt = '%(header{X-A})s %(header{x-a})s %(user_agent)s %(header{User-Agent})s %(response_header{ETag})s'
    assert access_log_headers(fmt) == (('x-a', 'user-agent'), ('etag',))


def test_access_line_is_not_built_when_disabled(access_lines):
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)

    class Exploding:
        def __iter__(self):
            raise AssertionError('headers read while the access log is off')

    make_access_logger('%(header{a})s')('a', 0.0, 0.0, 200, 'GET', '/', '', 'http', 'HTTP/1.1', Exploding())
    assert access_lines.records == []


@pytest.mark.parametrize(
    'fmt',
    [
        DEFAULT_ACCESS_FORMAT,
        'plain text',
        '%(header{x})s %%',
        '%(status)s',
        '%(body_bytes)d %(dt_us)d %(dt_s).6f',
        '[%(time_clf)s] %(time_iso)s %(response_header{content-length})s %(request_id)s',
    ],
)
def test_valid_access_formats(fmt):
    validate_access_format(fmt)


@pytest.mark.parametrize(
    ('fmt', 'reason'),
    [
        ('%(unknown)s', "unknown atom 'unknown'"),
        ('%(addr)q', 'not a valid'),
        ('%(path)d', 'not a valid'),
        ('%(referer)d', 'not a valid'),
        ('%(header{bad name})s', "invalid header name 'bad name' in atom 'header{bad name}'"),
        ('%(response_header{})s', "invalid header name ''"),
        ('%(response_header{a:b})s', "invalid header name 'a:b'"),
        (None, 'expected a string'),
    ],
)
def test_invalid_access_formats(fmt, reason):
    with pytest.raises(ValueError, match=reason) as info:
        validate_access_format(fmt)
    assert '\n' not in str(info.value)
