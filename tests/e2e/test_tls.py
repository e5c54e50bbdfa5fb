"""TLS with rustls, end to end: key forms (SEC1, PKCS#8, encrypted PKCS#8), certificate chains,
`https` in the scope, `--ssl-protocol-min`, client certificates (`--ssl-ca`,
`--ssl-client-verify`, `--ssl-crl`), start-up failures that must end the server with one clear
line, and non-TLS bytes on the TLS port.

Certificates come from a trustme CA made per test session (tests/e2e/tls_support.py).
"""

import contextlib
import json
import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import time

import httpx
import pytest

from conftest import APPS, free_port, run_granian
from e2e import tls_support
from e2e.h2_support import H2Client, connect
from e2e.tls_support import client_context, https_client, tls_args, tls_handshake

tls_files = tls_support.tls_files

H2_APPS = {'rsgi': 'h2_apps:rsgi_app', 'asgi': 'h2_apps:asgi_app'}


def start(factory, files, interface='rsgi', *args, key=None, cert=None, **kwargs):
    return factory(H2_APPS[interface], '--interface', interface, *tls_args(files, key, cert), *args, **kwargs)


@pytest.fixture(scope='module', params=list(H2_APPS))
def srv(request, module_server, tls_files):
    """A TLS server (`--http auto`, defaults otherwise) per interface."""
    return start(module_server, tls_files, request.param)


def assert_served_over_tls(srv, files, **client_kwargs):
    """A TLS client gets answers over HTTP/1.1 and over HTTP/2, with `https` as the scheme."""
    for http2, version in ((False, '1.1'), (True, '2')):
        with https_client(srv, files, http2=http2, **client_kwargs) as client:
            resp = client.get('/info')
        assert resp.status_code == 200
        assert resp.http_version == f'HTTP/{version}'
        assert resp.json()['http_version'] == version
        assert resp.json()['scheme'] == 'https'


# --- keys, certificates, scheme ----------------------------------------------------------------


@pytest.mark.parametrize('form', ['sec1', 'pkcs8', 'encrypted-pkcs8'])
def test_key_forms(server, tls_files, form):
    key = {'sec1': tls_files.key_sec1, 'pkcs8': tls_files.key_pkcs8, 'encrypted-pkcs8': tls_files.key_encrypted}[form]
    assert key.read_text().startswith(
        {
            'sec1': '-----BEGIN EC PRIVATE KEY-----',
            'pkcs8': '-----BEGIN PRIVATE KEY-----',
            'encrypted-pkcs8': '-----BEGIN ENCRYPTED PRIVATE KEY-----',
        }[form]
    )
    extra = ['--ssl-keyfile-password', tls_files.key_password] if form == 'encrypted-pkcs8' else []
    srv = start(server, tls_files, 'rsgi', *extra, key=key)
    srv.wait_for_log(rf'Listening at: https://127\.0\.0\.1:{srv.port} ')
    assert_served_over_tls(srv, tls_files)


def test_password_given_for_a_plain_key_is_not_needed(server, tls_files):
    srv = start(server, tls_files, 'rsgi', '--ssl-keyfile-password', 'unused')
    assert_served_over_tls(srv, tls_files)


def test_scheme_is_https_for_every_interface(srv, tls_files):
    assert_served_over_tls(srv, tls_files)


def test_many_h2_streams_over_one_tls_connection(srv, tls_files):
    with H2Client(srv.host, srv.port, ssl_context=client_context(tls_files, alpn=['h2'])) as client:
        assert client.sock.selected_alpn_protocol() == 'h2'
        started = time.monotonic()
        ids = [client.request('GET', '/sleep?secs=0.5') for _ in range(50)]
        assert {bytes(client.response(sid).data) for sid in ids} == {b'slept'}
        assert time.monotonic() - started < 5
        big = client.get('/produce?tag=tls-big&total=3000000')
        assert big.ended and len(big.data) == 3_000_000


def test_certificate_chain_is_sent_whole(server, tls_files):
    """A certificate file holding leaf + intermediate: clients that trust only the root verify it."""
    srv = start(server, tls_files, 'rsgi', cert=tls_files.chain_cert, key=tls_files.chain_key)
    assert_served_over_tls(srv, tls_files)


@pytest.mark.skipif(shutil.which('openssl') is None, reason='openssl is not installed')
def test_openssl_sees_the_whole_chain(server, tls_files):
    # Python's ssl module does not show the chain the server sent; `openssl s_client` does.
    srv = start(server, tls_files, 'rsgi', cert=tls_files.chain_cert, key=tls_files.chain_key)
    result = subprocess.run(
        [
            'openssl',
            's_client',
            '-connect',
            f'{srv.host}:{srv.port}',
            '-servername',
            'localhost',
            '-CAfile',
            str(tls_files.ca),
            '-showcerts',
            '-alpn',
            'h2',
        ],
        input='',
        capture_output=True,
        text=True,
        errors='replace',  # the h2 SETTINGS frame the server sends is printed raw
        timeout=20,
    )
    out = result.stdout
    assert out.count('-----BEGIN CERTIFICATE-----') == 2, out
    assert 'Verify return code: 0 (ok)' in out, out
    assert 'ALPN protocol: h2' in out, out


# --- protocol versions --------------------------------------------------------------------------


def tls12_only(files):
    return client_context(files, maximum_version=ssl.TLSVersion.TLSv1_2)


def test_default_minimum_is_tls13(srv, tls_files):
    with pytest.raises(ssl.SSLError, match='(?i)protocol.version'):
        tls_handshake(srv, tls12_only(tls_files))
    version, _, data = tls_handshake(srv, client_context(tls_files))
    assert version == 'TLSv1.3'
    assert data.startswith(b'HTTP/1.1 200')


def test_protocol_min_tls13_refuses_a_tls12_client(server, tls_files):
    srv = start(server, tls_files, 'rsgi', '--ssl-protocol-min', 'tls1.3')
    with pytest.raises(ssl.SSLError, match='(?i)protocol.version'):
        tls_handshake(srv, tls12_only(tls_files))
    assert tls_handshake(srv, client_context(tls_files))[0] == 'TLSv1.3'


def test_protocol_min_tls12_accepts_tls12_and_tls13(server, tls_files):
    srv = start(server, tls_files, 'rsgi', '--ssl-protocol-min', 'tls1.2')
    version, _, data = tls_handshake(srv, tls12_only(tls_files))
    assert version == 'TLSv1.2'
    assert data.startswith(b'HTTP/1.1 200')
    assert tls_handshake(srv, client_context(tls_files))[0] == 'TLSv1.3'
    # HTTP/2 over TLS 1.2 too.
    ctx = client_context(tls_files, alpn=['h2'])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with H2Client(srv.host, srv.port, ssl_context=ctx) as client:
        assert client.sock.version() == 'TLSv1.2'
        assert json.loads(bytes(client.get('/info').data))['http_version'] == '2'


# --- client certificates ------------------------------------------------------------------------


def refused(srv, files, client_cert=None):
    """The server refuses this client: no HTTP response comes back over TLS."""
    try:
        _, _, data = tls_handshake(srv, client_context(files, client_cert=client_cert))
    except (ssl.SSLError, ConnectionError):
        return True
    return not data.startswith(b'HTTP/')


@pytest.fixture(scope='module')
def mtls(module_server, tls_files):
    """Client certificates required, checked against the CA and its CRL."""
    return start(
        module_server,
        tls_files,
        'rsgi',
        '--ssl-ca',
        str(tls_files.ca),
        '--ssl-client-verify',
        '--ssl-crl',
        str(tls_files.crl),
    )


def test_client_verify_accepts_a_client_of_the_ca(mtls, tls_files):
    assert_served_over_tls(mtls, tls_files, client_cert=tls_files.client)


@pytest.mark.parametrize('who', ['no-certificate', 'stranger-ca', 'revoked'])
def test_client_verify_refuses(mtls, tls_files, who):
    cert = {'no-certificate': None, 'stranger-ca': tls_files.client_stranger, 'revoked': tls_files.client_revoked}[who]
    assert refused(mtls, tls_files, cert)
    for http2 in (False, True):
        with https_client(mtls, tls_files, http2=http2, client_cert=cert) as client:
            with pytest.raises(httpx.TransportError):
                client.get('/info')
    # The refused handshakes cost nothing to the others.
    assert_served_over_tls(mtls, tls_files, client_cert=tls_files.client)


def test_without_crl_the_revoked_certificate_is_accepted(server, tls_files):
    """The control for the CRL test: the same certificate passes when no CRL says otherwise."""
    srv = start(server, tls_files, 'rsgi', '--ssl-ca', str(tls_files.ca), '--ssl-client-verify')
    assert_served_over_tls(srv, tls_files, client_cert=tls_files.client_revoked)
    assert refused(srv, tls_files, None)


def test_ca_without_client_verify_makes_certificates_optional(server, tls_files):
    srv = start(server, tls_files, 'rsgi', '--ssl-ca', str(tls_files.ca), '--ssl-crl', str(tls_files.crl))
    assert_served_over_tls(srv, tls_files)
    assert_served_over_tls(srv, tls_files, client_cert=tls_files.client)
    # A certificate that is offered is still checked.
    assert refused(srv, tls_files, tls_files.client_stranger)
    assert refused(srv, tls_files, tls_files.client_revoked)


def test_client_verify_without_ca_is_ignored_with_a_warning(server, tls_files):
    srv = start(server, tls_files, 'rsgi', '--ssl-client-verify')
    # A log record like any other (format, level, --log-config), not a bare line on stderr.
    assert re.search(r'\[WARNING\] .*--ssl-client-verify is ignored without --ssl-ca', srv.log()), srv.log()
    assert_served_over_tls(srv, tls_files)


# --- start-up failures --------------------------------------------------------------------------


def run_failing(*args):
    """Run the CLI with TLS options that must keep it from serving; returns the finished process."""
    return run_granian(
        '--interface',
        'rsgi',
        '--working-dir',
        str(APPS),
        '--host',
        '127.0.0.1',
        '--port',
        str(free_port()),
        *args,
        'h2_apps:rsgi_app',
        timeout=30,
    )


def test_missing_files_are_usage_errors(tls_files, tmp_path):
    missing = tmp_path / 'missing.pem'
    cases = {
        '--ssl-certificate': tls_args(tls_files, cert=missing),
        '--ssl-keyfile': tls_args(tls_files, key=missing),
        '--ssl-ca': [*tls_args(tls_files), '--ssl-ca', str(missing)],
        '--ssl-crl': [*tls_args(tls_files), '--ssl-ca', str(tls_files.ca), '--ssl-crl', str(missing)],
    }
    for flag, args in cases.items():
        result = run_failing(*args)
        output = result.stdout + result.stderr
        assert result.returncode == 2, (flag, output)
        lines = [line for line in output.splitlines() if str(missing) in line]
        assert len(lines) == 1 and flag in lines[0], (flag, output)
        assert 'Traceback' not in output
        assert 'Spawning worker' not in output


#: What the worker's error line must say, per case (`{path}`: the file at fault).
BAD_MATERIAL = {
    'certificate-not-pem': r'cannot load the TLS certificate {path}: .+',
    'key-not-pem': r'cannot load the TLS private key {path}: no PEM private key found',
    'key-mismatch': r'cannot load the TLS private key {path}: does not match the certificate.*',
    'wrong-password': r'cannot load the TLS private key {path}: wrong password.*',
    'password-missing': r'cannot load the TLS private key {path}: the key is encrypted.*--ssl-keyfile-password',
    'ca-not-pem': r'cannot load the TLS CA bundle {path}: .+',
    'crl-not-pem': r'cannot load the certificate revocation list {path}: .+',
}


@pytest.mark.parametrize('case', list(BAD_MATERIAL))
def test_bad_tls_material_ends_the_server_with_one_clear_line(tls_files, case):
    files, reason = tls_files, BAD_MATERIAL[case]
    path, args = {
        'certificate-not-pem': (files.not_pem, tls_args(files, cert=files.not_pem)),
        'key-not-pem': (files.not_pem, tls_args(files, key=files.not_pem)),
        'key-mismatch': (files.other_key, tls_args(files, key=files.other_key)),
        'wrong-password': (
            files.key_encrypted,
            [*tls_args(files, key=files.key_encrypted), '--ssl-keyfile-password', 'not the password'],
        ),
        'password-missing': (files.key_encrypted, tls_args(files, key=files.key_encrypted)),
        'ca-not-pem': (files.not_pem, [*tls_args(files), '--ssl-ca', str(files.not_pem)]),
        'crl-not-pem': (files.not_pem, [*tls_args(files), '--ssl-ca', str(files.ca), '--ssl-crl', str(files.not_pem)]),
    }[case]
    result = run_failing(*args)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert 'Started worker' not in output
    # The worker's one error line names the file and says what is wrong with it ...
    pattern = re.compile(r'^\[ERROR\] .*' + reason.format(path=re.escape(str(path))) + '$', re.MULTILINE)
    assert len(pattern.findall(output)) == 1, output
    assert [line for line in output.splitlines() if str(path) in line] == pattern.findall(output), output
    # ... the supervisor adds that the worker could not start, and nothing else is an error.
    assert re.search(r'^\[ERROR\] worker-1 \(PID \d+\) failed to start', output, re.MULTILINE), output
    assert len(re.findall(r'^\[ERROR\]', output, re.MULTILINE)) == 2, output
    assert 'Traceback' not in output, output


# --- what is not TLS on the TLS port ------------------------------------------------------------


def closed_without_http(srv, payload, timeout=5.0):
    """Send `payload` on a raw TCP connection; returns the bytes received before the server closed."""
    with socket.create_connection((srv.host, srv.port), timeout=timeout) as sock:
        if payload:
            sock.sendall(payload)
        received = b''
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
                assert time.monotonic() - started < timeout
        return received


@pytest.mark.parametrize(
    'payload',
    [
        b'GET /info HTTP/1.1\r\nHost: localhost\r\n\r\n',
        b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
        b'\x00' + random.Random(7).randbytes(4095),
        b'\x16\x03\x01\x00\x05hello' + bytes(64),
    ],
    ids=['plaintext-http11', 'plaintext-h2-preface', 'random-bytes', 'broken-client-hello'],
)
def test_non_tls_bytes_close_that_connection_only(srv, tls_files, payload):
    received = closed_without_http(srv, payload)
    assert not received.startswith(b'HTTP/'), received
    # At most a TLS alert record (content type 21) comes back before the close.
    assert received == b'' or received[0] == 0x15, received
    assert_served_over_tls(srv, tls_files)
    assert len(re.findall(r'Spawning worker-', srv.log())) == 1


def test_silent_client_is_dropped_after_the_first_read_timeout(server, tls_files):
    srv = start(server, tls_files, 'rsgi', '--http1-header-read-timeout', '500')
    started = time.monotonic()
    assert closed_without_http(srv, b'') == b''
    assert 0.3 < time.monotonic() - started < 3
    # A handshake that stops half way is dropped the same way.
    hello_start = b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'
    started = time.monotonic()
    received = closed_without_http(srv, hello_start)
    assert received == b'' or received[0] == 0x15, received
    assert 0.3 < time.monotonic() - started < 3
    assert_served_over_tls(srv, tls_files)


def test_many_bad_connections_do_not_take_the_server_down(srv, tls_files):
    for i in range(50):
        payload = os.urandom(512) if i % 2 else b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
        with contextlib.suppress(OSError), socket.create_connection((srv.host, srv.port), timeout=2) as sock:
            sock.sendall(payload)
    with pytest.raises(ssl.SSLError):
        connect(srv.host, srv.port, ssl.create_default_context()).close()  # does not trust our CA
    assert_served_over_tls(srv, tls_files)
