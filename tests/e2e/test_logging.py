"""Server and access logging as seen in the output of a running server."""

import json
import re

from conftest import free_port, run_granian
from e2e.wire import Conn

TIME = r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}'


def test_access_log_default_format(server):
    srv = server('rsgi_basic:app', '--access-log')
    assert srv.get('/').status_code == 200
    assert srv.get('/some/where', params={'q': '1'}).status_code == 404
    srv.wait_for_log(r'"GET /some/where HTTP/1\.1"')
    assert re.search(rf'^\[{TIME}\] 127\.0\.0\.1 - "GET / HTTP/1\.1" 200 \d+\.\d{{3}}$', srv.log(), re.MULTILINE)
    assert re.search(
        rf'^\[{TIME}\] 127\.0\.0\.1 - "GET /some/where HTTP/1\.1" 404 \d+\.\d{{3}}$', srv.log(), re.MULTILINE
    ), srv.log()


def test_access_log_reports_500_for_an_app_that_never_responded(server):
    srv = server('rsgi_basic:app', '--access-log')
    assert srv.get('/noresponse').status_code == 500
    srv.wait_for_log(r'"GET /noresponse HTTP/1\.1" 500 ')


def test_access_log_custom_format_renders_every_atom(server):
    fmt = (
        '%(addr)s|%(time)s|%(method)s|%(path)s|%(query_string)s|%(scheme)s|%(protocol)s|'
        '%(status)d|%(dt_ms).3f|%(header{user-agent})s|%(header{X-Missing})s|100%%'
    )
    srv = server('rsgi_basic:app', '--access-log', '--access-log-fmt', fmt)
    resp = srv.post('/echo', params={'b': '1', 'c': 'x y'}, content=b'abc', headers={'User-Agent': 'e2e-agent/1.0'})
    assert resp.status_code == 200
    (match,) = srv.wait_for_log(
        rf'^127\.0\.0\.1\|({TIME})\|POST\|/echo\|b=1&c=x\+y\|http\|HTTP/1\.1\|200\|(\d+\.\d{{3}})\|e2e-agent/1\.0\|-\|100%$'
    )
    assert float(match[2]) < 10_000


def test_access_log_line_is_written_when_a_streamed_body_is_over(server):
    # `/stream` sends six chunks 10 ms apart after the head: the line's duration covers them.
    srv = server('rsgi_basic:app', '--access-log', '--access-log-fmt', '%(path)s %(status)d %(dt_ms).3f')
    resp = srv.get('/stream')
    assert resp.status_code == 200
    assert resp.text.endswith('str-5;')
    (match,) = srv.wait_for_log(r'^/stream 200 (\d+\.\d{3})$')
    assert float(match[1]) >= 50, srv.log()


def test_access_log_is_off_by_default(server):
    srv = server('rsgi_basic:app')
    assert srv.get('/').status_code == 200
    assert srv.stop() == 0
    assert '"GET / HTTP/1.1"' not in srv.log()


def malformed_request(srv):
    """Makes the engine log a DEBUG record (a connection closed with an error)."""
    with Conn(srv.host, srv.port) as conn:
        assert conn.request(b'GARBAGE\r\n\r\n').status == 400


def test_log_level_debug_shows_debug_records(server):
    srv = server('rsgi_basic:app', '--log-level', 'debug')
    malformed_request(srv)
    srv.wait_for_log(r'^\[DEBUG\] ')
    assert '[INFO] Started worker-1' in srv.log()


def test_default_log_level_hides_debug_records(server):
    srv = server('rsgi_basic:app')
    malformed_request(srv)
    assert srv.get('/').status_code == 200
    assert srv.stop() == 0
    log = srv.log()
    assert '[INFO] Started worker-1' in log
    assert '[DEBUG]' not in log


def test_no_log_silences_the_server_but_not_the_access_log(server):
    srv = server('rsgi_basic:app', '--no-log', '--access-log', '--log-level', 'debug', ready='http')
    assert srv.get('/raise').status_code == 500
    malformed_request(srv)
    assert srv.get('/quiet').status_code == 404
    srv.wait_for_log(r'"GET /quiet HTTP/1\.1" 404')
    assert srv.stop() == 0
    log = srv.log()
    for absent in ('Starting granian', 'Listening at', 'Started worker', '[INFO]', '[DEBUG]', 'Traceback'):
        assert absent not in log, f'{absent!r} logged with --no-log:\n{log}'


def test_log_config_routes_the_runtime_logger_to_a_file(server, tmp_path):
    log_file = tmp_path / 'granian.log'
    config = {
        'version': 1,
        'formatters': {'tagged': {'format': 'TAGGED %(levelname)s %(message)s'}},
        'handlers': {'file': {'class': 'logging.FileHandler', 'filename': str(log_file), 'formatter': 'tagged'}},
        # The level here is overridden by --log-level (default info).
        'loggers': {'_granian': {'handlers': ['file'], 'level': 'ERROR', 'propagate': False}},
    }
    config_path = tmp_path / 'log.json'
    config_path.write_text(json.dumps(config))
    srv = server('rsgi_basic:app', '--log-config', str(config_path), ready='http')
    assert srv.get('/raise').status_code == 500
    assert srv.stop() == 0
    routed = log_file.read_text()
    for line in (
        'TAGGED INFO Starting granian',
        f'TAGGED INFO Listening at: http://127.0.0.1:{srv.port}',
        'TAGGED INFO Spawning worker-1',
        'TAGGED INFO Started worker-1',
        'TAGGED ERROR Application callable raised an exception',
        'RuntimeError: boom from the test app',
    ):
        assert line in routed, f'{line!r} missing from the log file:\n{routed}'
    assert 'Listening at' not in srv.stdout
    assert 'Application callable raised an exception' not in srv.log()


def test_invalid_log_config_json_exits_1_with_a_readable_message(tmp_path):
    config_path = tmp_path / 'broken.json'
    config_path.write_text('{"version": 1, not json')
    result = run_granian('--log-config', str(config_path), '--port', str(free_port()), 'rsgi_basic:app')
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert 'Traceback' not in output
    errors = [line for line in output.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1, output
    assert 'broken.json' in errors[0] and 'JSON' in errors[0]
