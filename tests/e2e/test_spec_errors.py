"""ASGI messages of the wrong shape, end to end (`tests/apps/spec_asgi.py`, route `/bad`).

The ASGI spec, "Error Handling": if a server receives an invalid event dict (an unknown type,
missing keys a type should have, wrong Python types, e.g. unicode strings for HTTP headers) it
should raise an exception out of the `send` awaitable back into the application.

So for each bad message:
- an app that lets the exception propagate gets its client a `500`, and the log holds a
  traceback through the app's `send` call plus an error line that names the message type and
  the faulty field; the server keeps serving;
- an app that catches the exception from `send` can still answer properly, and that answer is
  what the client gets.

The same for WebSocket messages (`/ws/bad`): before the accept an uncaught error answers the
handshake with `500`, after it the connection is closed with 1011.
"""

from __future__ import annotations

import re
import time

import pytest

from e2e.wire import Conn, get
from e2e.ws_support import OP_TEXT, WsConn, upgrade_request

#: case (see `BAD` in the app) -> (the message type the error line must name, and the field).
CASES = {
    'header_name_str': ('http.response.start', 'headers'),
    'header_value_str': ('http.response.start', 'headers'),
    'header_not_pair': ('http.response.start', 'headers'),
    'headers_not_iterable': ('http.response.start', 'headers'),
    'status_str': ('http.response.start', 'status'),
    'status_words': ('http.response.start', 'status'),
    'status_none': ('http.response.start', 'status'),
    'status_missing': ('http.response.start', 'status'),
    'status_float': ('http.response.start', 'status'),
    # Not a shape error but an invalid value all the same: it must never reach the wire.
    'header_value_crlf': ('http.response.start', 'headers'),
    'type_missing': (None, 'type'),
    'type_unknown': ('http.response.begin', None),
    'body_str': ('http.response.body', 'body'),
}


@pytest.fixture(scope='module')
def srv(module_server):
    return module_server('spec_asgi:app', '--interface', 'asgi')


class LogMark:
    """A position in the server's stdout and stderr, to read only what was logged after it."""

    def __init__(self, srv) -> None:
        self.srv = srv
        self.out = len(srv.stdout)
        self.err = len(srv.stderr)

    def since(self) -> str:
        return self.srv.stdout[self.out :] + self.srv.stderr[self.err :]

    def wait_for(self, pattern: str, timeout: float = 5.0) -> str:
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            text = self.since()
            if regex.search(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f'{pattern!r} not logged within {timeout}s; logged since the request:\n{text}')
            time.sleep(0.02)


def error_line_pattern(message_type: str | None, field: str | None) -> str:
    """A log line, not indented like traceback source lines, naming the type and the field."""
    needs = []
    if field is not None:
        needs.append(rf'(?=[^\n]*\b{re.escape(field)}\b)')
    if message_type is not None:
        needs.append(rf'(?=[^\n]*{re.escape(message_type)})')
    return r'^(?!\s)' + ''.join(needs) + r'[^\n]+$'


def assert_logged_send_error(mark: LogMark, message_type: str | None, field: str | None) -> None:
    mark.wait_for(r'Traceback \(most recent call last\)', timeout=3.0)
    # The exception came out of the app's `await send(message)` (spec_asgi.send_message).
    mark.wait_for(r'in send_message\b', timeout=1.0)
    # The traceback is logged at once: its error line is there by now or not at all.
    mark.wait_for(error_line_pattern(message_type, field), timeout=1.0)


def assert_still_serving(srv) -> None:
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/minimal'))
    assert (resp.status, resp.body) == (200, b'minimal')


@pytest.mark.parametrize('case', list(CASES))
def test_bad_message_gives_500_logs_error_naming_field_and_keeps_serving(srv, case):
    message_type, field = CASES[case]
    mark = LogMark(srv)
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get(f'/bad?case={case}'))
    assert resp.status == 500, (resp.status, resp.headers, resp.body)
    assert resp.header('x-injected') is None, resp.headers
    assert_logged_send_error(mark, message_type, field)
    assert_still_serving(srv)


@pytest.mark.parametrize('case', list(CASES))
def test_bad_message_raises_out_of_send_and_app_can_recover(srv, case):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get(f'/bad?case={case}&catch=1'))
        assert resp.status == 200, (resp.status, resp.headers, resp.body)
        assert resp.body.startswith(b'recovered '), resp.body
        assert resp.body != b'recovered nothing', 'send() accepted the invalid message without raising'
        assert resp.header('x-injected') is None, resp.headers
        # The connection is still usable after the recovered response.
        again = conn.request(get('/minimal'))
        assert (again.status, again.body) == (200, b'minimal')


# --- WebSocket messages ------------------------------------------------------------------------

#: case (see `WS_BAD` in the app) -> (message type, field) the error line must name.
WS_CASES = {
    'accept_header_str': ('websocket.accept', 'headers'),
    'accept_subprotocol_bytes': ('websocket.accept', 'subprotocol'),
    'deny_status_str': ('websocket.http.response.start', 'status'),
    'send_text_bytes': ('websocket.send', 'text'),
}
OFFER_CHAT = {'Sec-WebSocket-Protocol': 'chat'}


@pytest.mark.parametrize('case', list(WS_CASES))
def test_bad_websocket_message_fails_the_session_and_logs_error(srv, case):
    message_type, field = WS_CASES[case]
    mark = LogMark(srv)
    with WsConn(srv.host, srv.port) as ws:
        head = ws.handshake(f'/ws/bad?case={case}', headers=OFFER_CHAT)
        if case == 'send_text_bytes':
            assert head.status == 101, head
            close = ws.recv_close()
            assert close.close_code == 1011, (close.close_code, close.close_reason)
        else:
            assert head.status == 500, head
    assert_logged_send_error(mark, message_type, field)
    assert_still_serving(srv)


@pytest.mark.parametrize('case', list(WS_CASES))
def test_bad_websocket_message_raises_out_of_send_and_app_can_recover(srv, case):
    if case == 'deny_status_str':
        with Conn(srv.host, srv.port) as conn:
            resp = conn.request(upgrade_request(f'/ws/bad?case={case}&catch=1'))
        assert resp.status == 401, resp
        assert resp.body.startswith(b'recovered ') and resp.body != b'recovered nothing', resp.body
        return
    with WsConn(srv.host, srv.port) as ws:
        head = ws.handshake(f'/ws/bad?case={case}&catch=1', headers=OFFER_CHAT)
        assert head.status == 101, head
        opcode, payload = ws.recv_message()
    assert opcode == OP_TEXT
    assert payload.startswith(b'recovered ') and payload != b'recovered nothing', payload
