"""Access-log rendering: the atoms, the format check, and the callback the engine calls.

The engine gathers the facts of each finished request on its runtime thread (only with
`--access-log`) and hands them to the callback made by `make_access_logger`, on the loop
thread. The line is rendered here, as `fmt % atoms` (text) or one JSON object
(`--access-log-json`), and logged at INFO on `granian.access`, so that user formats,
formatters and handlers apply.

The format is parsed once, at startup (`AccessFormat`): it says which request and response
headers the engine must keep for each request (`access_log_headers`); a format that reads none
makes the engine copy no header at all.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from granian.log import ACCESS_LOGGER, DEFAULT_ACCESS_FORMAT

#: The request header `%(request_id)s` reads.
REQUEST_ID_HEADER = 'x-request-id'

#: Every atom but the header ones: name -> (sample value, meaning). The sample's type is the
#: atom's (`%d` needs an int); the order is the order of the fields of a JSON line.
ATOMS: dict[str, tuple[Any, str]] = {
    'addr': ('127.0.0.1', 'client IP address (as a trusted proxy reported it)'),
    'time': ('2000-10-10 13:55:36 -0700', 'request start, local time, %Y-%m-%d %H:%M:%S %z'),
    'time_clf': ('10/Oct/2000:13:55:36 -0700', 'request start, local time, Common Log Format (no brackets)'),
    'time_iso': ('2000-10-10T13:55:36.123-07:00', 'request start, local time, ISO 8601 with milliseconds'),
    'dt_ms': (0.1, 'duration in milliseconds (float)'),
    'dt_us': (100, 'duration in microseconds (int)'),
    'dt_s': (0.0001, 'duration in seconds (float)'),
    'status': (200, 'response status code (int)'),
    'method': ('GET', 'request method'),
    'path': ('/', 'request path, without the query'),
    'query_string': ('', 'query string, without the ?'),
    'request_line': ('GET /?a=1 HTTP/1.1', 'method, path with query, protocol'),
    'scheme': ('http', 'http or https (as a trusted proxy reported it)'),
    'protocol': ('HTTP/1.1', 'HTTP version: HTTP/1, HTTP/1.1, HTTP/2'),
    'body_bytes': (0, 'response body bytes sent (int)'),
    'referer': ('-', 'Referer request header'),
    'user_agent': ('-', 'User-Agent request header'),
    'request_id': ('-', f'{REQUEST_ID_HEADER} request header'),
}

#: The request header each shorthand atom reads.
_SHORTHANDS = {'referer': 'referer', 'user_agent': 'user-agent', 'request_id': REQUEST_ID_HEADER}

_REQUEST_HEADER = 'header{'
_RESPONSE_HEADER = 'response_header{'
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")

_TIME_FORMAT = '%Y-%m-%d %H:%M:%S %z'
_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')

#: What a text line shows as is: printable ASCII but `"` and `\`.
_UNSAFE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]+')


def _hex_bytes(match: re.Match[str]) -> str:
    return ''.join(f'\\x{b:02X}' for b in match.group().encode('utf-8', 'surrogateescape'))


def escape(value: str) -> str:
    """`value` safe for one line of text, as nginx writes variables: each byte of a control
    character (CR and LF included), of a non-ASCII one, of `"` and of `\\` as `\\xHH`."""
    return _UNSAFE.sub(_hex_bytes, value)


def _header_name(atom: str) -> tuple[str, str] | None:
    """`('request' | 'response', lowercased name)` for a header atom, None for another key."""
    for prefix, side in ((_REQUEST_HEADER, 'request'), (_RESPONSE_HEADER, 'response')):
        if atom.startswith(prefix) and atom.endswith('}'):
            return side, atom[len(prefix) : -1].lower()
    return None


class _Clock:
    """Formats epoch seconds as local time, reusing each text while the second is unchanged."""

    __slots__ = ('_second', '_local', '_time', '_clf')

    def __init__(self) -> None:
        self._second = -1
        self._local: datetime | None = None
        self._time = ''
        self._clf = ''

    def _at(self, timestamp: float) -> datetime:
        second = int(timestamp)
        if second != self._second or self._local is None:
            self._local = datetime.fromtimestamp(second).astimezone()
            self._second, self._time, self._clf = second, '', ''
        return self._local

    def time(self, timestamp: float) -> str:
        local = self._at(timestamp)
        if not self._time:
            self._time = local.strftime(_TIME_FORMAT)
        return self._time

    def clf(self, timestamp: float) -> str:
        local = self._at(timestamp)
        if not self._clf:
            # The month by hand: %b follows the C locale setting.
            self._clf = local.strftime(f'%d/{_MONTHS[local.month - 1]}/%Y:%H:%M:%S %z')
        return self._clf

    def iso(self, timestamp: float) -> str:
        return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec='milliseconds')


_CLOCK = _Clock()


class AccessAtoms(dict):
    """The values of one access line, for `%`-style formatting (`fmt % atoms`).

    Holds the atoms given (the engine's facts); the others are derived on first use: the time
    atoms from `start` (epoch seconds), `dt_us` and `dt_s` from `dt_ms`, `request_line`, and
    the header atoms from `headers` / `response_headers` (pairs or a mapping, names in any
    case; repeated names joined with `, `). `text`: values from the request are escaped
    (`escape`) and a missing header is `-`; otherwise (JSON) values are raw and a missing
    header is None.
    """

    __slots__ = ('_headers', '_response_headers', '_indexes', '_start', '_clock', '_text')

    def __init__(
        self,
        atoms: Mapping[str, Any],
        headers: Iterable[tuple[Any, Any]] | Mapping[str, Any] | None = None,
        response_headers: Iterable[tuple[Any, Any]] | Mapping[str, Any] | None = None,
        *,
        start: float = 0.0,
        text: bool = True,
        clock: _Clock = _CLOCK,
    ) -> None:
        super().__init__(atoms)
        self._headers = headers
        self._response_headers = response_headers
        self._indexes: dict[str, dict[str, Any]] = {}
        self._start = start
        self._clock = clock
        self._text = text

    def _index(self, side: str) -> dict[str, Any]:
        index = self._indexes.get(side)
        if index is not None:
            return index
        index = {}
        headers = self._headers if side == 'request' else self._response_headers
        pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
        for name, value in pairs:
            if value is None:
                continue
            key = (name.decode('latin-1') if isinstance(name, bytes) else str(name)).lower()
            text = value.decode('latin-1') if isinstance(value, bytes) else str(value)
            index[key] = f'{index[key]}, {text}' if key in index else text
        self._indexes[side] = index
        return index

    def _header(self, side: str, name: str) -> Any:
        value = self._index(side).get(name)
        if value is None:
            return '-' if self._text else None
        return escape(value) if self._text else value

    def _derive(self, key: str) -> Any:
        if key == 'time':
            return self._clock.time(self._start)
        if key == 'time_clf':
            return self._clock.clf(self._start)
        if key == 'time_iso':
            return self._clock.iso(self._start)
        if key == 'dt_us':
            return round(self['dt_ms'] * 1000)
        if key == 'dt_s':
            return self['dt_ms'] / 1000
        if key == 'request_line':
            query = self['query_string']
            return f'{self["method"]} {self["path"]}{"?" if query else ""}{query} {self["protocol"]}'
        if key in _SHORTHANDS:
            return self._header('request', _SHORTHANDS[key])
        header = _header_name(key) if isinstance(key, str) else None
        if header is None:
            raise KeyError(key)
        return self._header(*header)

    def __missing__(self, key: str) -> Any:
        value = self._derive(key)
        self[key] = value
        return value


class _Recorder(dict):
    """Records the atoms a format reads, answering each with its sample value."""

    def __init__(self) -> None:
        super().__init__()
        self.used: list[str] = []

    def __missing__(self, key: str) -> Any:
        if key in ATOMS:
            value = ATOMS[key][0]
        else:
            header = _header_name(key) if isinstance(key, str) else None
            if header is None:
                known = ', '.join([*ATOMS, 'header{name}', 'response_header{name}'])
                raise KeyError(f'unknown atom {key!r}', f' (known atoms: {known})')
            if not _HEADER_NAME.match(header[1]):
                raise KeyError(f'invalid header name {header[1]!r} in atom {key!r}')
            value = '-'
        self.used.append(key)
        return value


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


class AccessFormat:
    """A checked access-log format: what it reads, parsed once.

    `request_headers` / `response_headers`: the (lowercased) header names the lines read, for
    the engine to keep. With `as_json`, a line is a JSON object of every atom plus the headers
    `fmt` names; the rest of `fmt` is not used. Raises ValueError (with the reason) when `fmt`
    cannot render a line.
    """

    __slots__ = ('fmt', 'as_json', 'request_headers', 'response_headers', '_json_headers')

    def __init__(self, fmt: str = DEFAULT_ACCESS_FORMAT, as_json: bool = False) -> None:
        if not isinstance(fmt, str):
            raise ValueError(f'expected a string, got {type(fmt).__name__}')
        recorder = _Recorder()
        try:
            fmt % recorder
        except KeyError as exc:
            reason, *hint = exc.args
            raise ValueError(f'{reason} in {fmt!r}{"".join(hint)}') from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f'{fmt!r} is not a valid access log format: {exc}') from None
        headers = [(key, _header_name(key)) for key in recorder.used]
        named = [(key, h) for key, h in headers if h is not None]
        self._json_headers = (
            _unique(h[1] for _, h in named if h[0] == 'request'),
            _unique(h[1] for _, h in named if h[0] == 'response'),
        )
        shorthands = list(_SHORTHANDS) if as_json else [key for key in recorder.used if key in _SHORTHANDS]
        self.fmt = fmt
        self.as_json = as_json
        self.request_headers = _unique([*self._json_headers[0], *(_SHORTHANDS[key] for key in shorthands)])
        self.response_headers = self._json_headers[1]

    def render_json(self, atoms: AccessAtoms) -> str:
        """One JSON object, on one line: every atom, then `request_headers` and
        `response_headers`, objects of the headers the format names (None when missing)."""
        record = {name: atoms[name] for name in ATOMS}
        record['dt_ms'] = round(record['dt_ms'], 3)
        record['dt_s'] = round(record['dt_s'], 6)
        record['request_headers'] = {name: atoms._header('request', name) for name in self._json_headers[0]}
        record['response_headers'] = {name: atoms._header('response', name) for name in self._json_headers[1]}
        return json.dumps(record, separators=(',', ':'))


def validate_access_format(fmt: str) -> None:
    """Raise ValueError (with the reason) when `fmt` cannot render an access line."""
    AccessFormat(fmt)


def access_log_headers(fmt: str, as_json: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The request and response header names an access log with `fmt` reads (engine setting)."""
    spec = AccessFormat(fmt, as_json)
    return spec.request_headers, spec.response_headers


AccessLogger = Callable[..., None]


def make_access_logger(fmt: str = DEFAULT_ACCESS_FORMAT, as_json: bool = False) -> AccessLogger:
    """The callback the engine calls once per finished request.

    Signature of the returned callable: `(addr, start_ts, dt_ms, status, method, path, query,
    scheme, protocol, request_headers, body_bytes=0, response_headers=())`, with `start_ts` in
    epoch seconds and the header arguments lists of values (str or None when missing), one per
    name of `AccessFormat.request_headers` / `.response_headers`, in that order. It logs the
    line at INFO on `granian.access`; a text line is only rendered when a handler emits it.
    """
    spec = AccessFormat(fmt, as_json)
    logger = logging.getLogger(ACCESS_LOGGER)
    request_names = spec.request_headers
    response_names = spec.response_headers
    text = not as_json
    clock = _Clock()

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
        request_headers: Iterable[Any],
        body_bytes: int = 0,
        response_headers: Iterable[Any] = (),
    ) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        method = method or '-'
        if text:
            addr, method, path, query = escape(addr), escape(method), escape(path), escape(query)
        atoms = AccessAtoms(
            {
                'addr': addr,
                'dt_ms': dt_ms,
                'status': status,
                'path': path,
                'query_string': query,
                'method': method,
                'scheme': scheme,
                'protocol': protocol,
                'body_bytes': body_bytes,
            },
            zip(request_names, request_headers, strict=False) if request_names else None,
            zip(response_names, response_headers, strict=False) if response_names else None,
            start=start_ts,
            text=text,
            clock=clock,
        )
        if text:
            logger.info(fmt, atoms)
        else:
            logger.info('%s', spec.render_json(atoms))

    return log_access
