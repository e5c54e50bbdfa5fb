"""PEP 3333 rules an application relies on, end to end (`tests/apps/spec_wsgi.py`).

- `start_response` headers as a list of tuples and as a list of lists (shapes: see
  test_spec_shapes.py), duplicate response headers kept;
- `exc_info`: replaces status and headers while nothing was sent, re-raises once the headers
  went out; a second call without it is an error;
- the legacy `write()` callable;
- `close()` of the returned iterable is called after a normal response, after an error, and
  after the client went away;
- a request header sent several times reaches `environ` as one comma-joined value;
- a `HEAD` response carries no body (the connection stays usable for the next response).
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest

from e2e.wire import Conn, get


@pytest.fixture(scope='module')
def srv(module_server):
    return module_server('spec_wsgi:app', '--interface', 'wsgi')


def request(srv, raw: bytes, head: bool = False):
    with Conn(srv.host, srv.port) as conn:
        return conn.request(raw, head_request=head)


def app_state(srv, tag, timeout=5.0, predicate=lambda state: state is not None):
    deadline = time.monotonic() + timeout
    while True:
        resp = request(srv, get(f'/state?tag={tag}'))
        assert resp.status == 200, resp
        state = json.loads(resp.body)['state']
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f'app state {tag!r} still {state!r} after {timeout}s')
        time.sleep(0.05)


def closed(state) -> bool:
    return bool(state and state.get('closed'))


# --- response headers -------------------------------------------------------------------------


@pytest.mark.parametrize('shape', ['tuples', 'lists'])
def test_duplicate_response_headers_kept_in_order(srv, shape):
    resp = request(srv, get(f'/shape/iterable?shape={shape}'))
    assert resp.status == 200, resp
    assert resp.header_all('set-cookie') == ['a=1; Path=/', 'b=2; Path=/']
    assert resp.header_all('x-order') == ['first', 'second']


# --- exc_info ---------------------------------------------------------------------------------


def test_exc_info_before_anything_sent_replaces_status_and_headers(srv):
    resp = request(srv, get('/exc-before'))
    assert resp.status == 500, resp
    assert resp.header('x-second') == '1'
    assert resp.header('x-first') is None, resp.headers
    assert resp.body == b'replaced'


def test_exc_info_after_headers_sent_reraises(srv):
    """PEP 3333: if exc_info is provided and the headers have already been sent,
    start_response must raise an error, and should re-raise using the exc_info tuple."""
    tag = 'exc-after'
    resp = request(srv, get(f'/exc-after?tag={tag}'))
    assert resp.status == 200, resp
    assert resp.body == b'part-1;part-2'
    state = app_state(srv, tag, predicate=lambda s: s is not None and 'raised' in s)
    assert state['raised'] is not None, 'start_response(exc_info) after the headers were sent did not raise'
    assert state == {'raised': 'ValueError', 'same': True}


def test_second_start_response_without_exc_info_raises(srv):
    tag = 'twice'
    resp = request(srv, get(f'/twice?tag={tag}'))
    assert (resp.status, resp.body) == (200, b'first status kept')
    assert app_state(srv, tag)['raised'] is not None


# --- write() ----------------------------------------------------------------------------------


def test_write_callable_then_iterable(srv):
    resp = request(srv, get('/shape/write'))
    assert resp.status == 200, resp
    assert resp.body == b'written then returned'


# --- close() ----------------------------------------------------------------------------------


def test_close_called_after_normal_response(srv):
    resp = request(srv, get('/closing?mode=ok&tag=close-ok'))
    assert (resp.status, resp.body) == (200, b'chunk-1;chunk-2')
    app_state(srv, 'close-ok', predicate=closed)


def test_close_called_after_error_before_first_chunk(srv):
    resp = request(srv, get('/closing?mode=raise_first&tag=close-raise-first'))
    assert resp.status == 500, resp
    app_state(srv, 'close-raise-first', predicate=closed)


def test_close_called_after_error_mid_body(srv):
    with Conn(srv.host, srv.port) as conn:
        conn.send(get('/closing?mode=raise&tag=close-raise'))
        # The body is cut (or the whole answer is an error); either way the connection ends.
        with contextlib.suppress(EOFError, ConnectionError):
            conn.read_response()
        assert conn.wait_closed(5.0)
    app_state(srv, 'close-raise', predicate=closed)
    assert request(srv, get('/hello')).status == 200


def test_close_called_after_client_disconnect(srv):
    with Conn(srv.host, srv.port) as conn:
        conn.send(get('/closing?mode=endless&tag=close-gone'))
        resp = conn.read_head()
        assert resp.status == 200
    # The app would go on for 10 s; the server must stop iterating and call close() well before.
    app_state(srv, 'close-gone', predicate=closed, timeout=8.0)


# --- request headers ----------------------------------------------------------------------------


def test_repeated_request_header_joined_with_comma(srv):
    raw = b'GET /environ?key=HTTP_X_DUP HTTP/1.1\r\nHost: x\r\nX-Dup: a\r\nX-Dup: b\r\n\r\n'
    resp = request(srv, raw)
    assert resp.status == 200, resp
    assert json.loads(resp.body)['value'] == 'a,b'


# --- HEAD -----------------------------------------------------------------------------------------


@pytest.mark.parametrize('path', ['/hello', '/shape/iterable', '/shape/generator', '/shape/write'])
def test_head_response_has_no_body(srv, path):
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get(path, method='HEAD'), head_request=True)
        assert resp.status == 200, resp
        # Had any body bytes followed the head, this response would not parse.
        after = conn.request(get('/hello'))
        assert (after.status, after.body) == (200, b'Hello, world!\n')
        assert conn.idle(0.2)
