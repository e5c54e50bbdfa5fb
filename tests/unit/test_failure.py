"""The one rule for logging an application failure (granian._failure), for every interface."""

from __future__ import annotations

import logging

import pytest

from granian._failure import DISCONNECTED, RAISED, REFUSED, FailureReporter, caused_by_disconnect
from granian._granian import ClientDisconnected, RSGIProtocolClosed


@pytest.fixture
def records(caplog):
    caplog.set_level(logging.DEBUG, logger='test.failure')
    return caplog


def report(hint=None):
    return FailureReporter(logging.getLogger('test.failure'), hint)


def wrapped(inner: BaseException) -> BaseException:
    """An exception raised while handling `inner`, as frameworks wrap a failed send."""
    try:
        try:
            raise inner
        except BaseException:
            raise RuntimeError('framework wrapper')  # noqa: B904 (the implicit context is the point)
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize(
    ('exc', 'expected'),
    [
        (ClientDisconnected('gone'), True),
        (RSGIProtocolClosed('gone'), True),
        (BrokenPipeError(), True),
        (ValueError('app bug'), False),
        (wrapped(ClientDisconnected('gone')), True),
        (wrapped(KeyError('x')), False),
    ],
)
def test_what_counts_as_caused_by_the_disconnect(exc, expected):
    assert caused_by_disconnect(exc) is expected


def test_cause_chains_are_followed_boundedly():
    exc = ValueError('head')
    current = exc
    for _ in range(20):  # a deep chain: the search stops, no disconnect found
        nxt = ValueError('link')
        current.__cause__ = nxt
        current = nxt
    current.__cause__ = ClientDisconnected('too deep')
    assert caused_by_disconnect(exc) is False


#: What the engine says when it refused a request body (`_refused` of the protocol objects).
MALFORMED = 'the request body was malformed'
TOO_LARGE = 'the request body is larger than --max-body-size'


@pytest.mark.parametrize(
    ('refused', 'disconnected', 'exc', 'level', 'message'),
    [
        (MALFORMED, False, ValueError('read failed'), logging.DEBUG, REFUSED.format(MALFORMED)),
        (MALFORMED, True, ValueError('read failed'), logging.DEBUG, REFUSED.format(MALFORMED)),
        (TOO_LARGE, True, ClientDisconnected('cut'), logging.DEBUG, REFUSED.format(TOO_LARGE)),
        (None, True, ClientDisconnected('gone'), logging.DEBUG, DISCONNECTED),
        (None, True, wrapped(ClientDisconnected('gone')), logging.DEBUG, DISCONNECTED),
        # The client left, but the app failed for its own reason: that is an app error.
        (None, True, ValueError('app bug'), logging.ERROR, RAISED),
        # An OSError while the client is still there is the app's own I/O failing.
        (None, False, ClientDisconnected('gone'), logging.ERROR, RAISED),
        (None, False, ValueError('app bug'), logging.ERROR, RAISED),
    ],
)
def test_failures_are_logged_by_cause(records, refused, disconnected, exc, level, message):
    report()(exc, refused, disconnected)
    [record] = records.records
    assert (record.levelno, record.getMessage()) == (level, message)
    assert record.exc_info is not None and record.exc_info[1] is exc


def test_the_hint_goes_on_error_lines(records):
    reporter = report('the app looks like ASGI: try --interface asgi')
    reporter(ValueError('x'), False, False)
    reporter.unfinished('ASGI callable returned without starting a response')
    assert [r.getMessage() for r in records.records] == [
        f'{RAISED} (the app looks like ASGI: try --interface asgi)',
        'ASGI callable returned without starting a response (the app looks like ASGI: try --interface asgi)',
    ]
