"""TLS material and helpers for the HTTP/2 and TLS tests.

`tls_files` (session fixture) makes a fresh certificate authority with trustme for each test
session and writes everything the tests hand to the server or to clients as PEM files:

- the server certificate (for 127.0.0.1 and localhost) and its key in three forms: SEC1
  ("EC PRIVATE KEY", trustme's default), PKCS#8, and encrypted PKCS#8 (`cryptography`,
  BestAvailableEncryption);
- a chain: a certificate issued by an intermediate CA, followed by that intermediate;
- the key of another certificate (does not match the server certificate);
- client certificates: two from the CA (one of them revoked by `crl`), one from a stranger CA;
- a CRL signed by the CA that revokes one client certificate, and a file that is no PEM at all.

Use the fixture in a test module with `tls_files = tls_support.tls_files` (module level).
"""

from __future__ import annotations

import datetime
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

KEY_PASSWORD = 'correct horse battery staple'


@dataclass(frozen=True)
class TlsFiles:
    dir: Path
    ca: Path
    cert: Path
    key_sec1: Path
    key_pkcs8: Path
    key_encrypted: Path
    key_password: str
    chain_cert: Path
    chain_key: Path
    other_key: Path
    client: Path
    client_revoked: Path
    client_stranger: Path
    crl: Path
    not_pem: Path


def _pkcs8(key_pem: bytes, password: str | None = None) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _crl(ca: trustme.CA, revoked: trustme.LeafCert) -> bytes:
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    serial = x509.load_pem_x509_certificate(revoked.cert_chain_pems[0].bytes()).serial_number
    now = datetime.datetime.now(datetime.timezone.utc)
    entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - datetime.timedelta(hours=1))
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - datetime.timedelta(hours=1))
        .next_update(now + datetime.timedelta(days=1))
        .add_revoked_certificate(entry.build())
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.PEM)


def make_tls_files(root: Path) -> TlsFiles:
    ca = trustme.CA(organization_name='granian tests CA')
    stranger_ca = trustme.CA(organization_name='not trusted by the server')
    server = ca.issue_cert('127.0.0.1', 'localhost')
    intermediate = ca.create_child_ca()
    chained = intermediate.issue_cert('127.0.0.1', 'localhost')
    other = ca.issue_cert('127.0.0.1')
    client = ca.issue_cert('client.example.org')
    revoked = ca.issue_cert('revoked.example.org')
    stranger = stranger_ca.issue_cert('stranger.example.org')

    def write(name: str, data: bytes) -> Path:
        path = root / name
        path.write_bytes(data)
        return path

    return TlsFiles(
        dir=root,
        ca=write('ca.pem', ca.cert_pem.bytes()),
        cert=write('server.pem', server.cert_chain_pems[0].bytes()),
        key_sec1=write('server-key-sec1.pem', server.private_key_pem.bytes()),
        key_pkcs8=write('server-key-pkcs8.pem', _pkcs8(server.private_key_pem.bytes())),
        key_encrypted=write('server-key-encrypted.pem', _pkcs8(server.private_key_pem.bytes(), KEY_PASSWORD)),
        key_password=KEY_PASSWORD,
        chain_cert=write('chain.pem', b''.join(pem.bytes() for pem in chained.cert_chain_pems)),
        chain_key=write('chain-key.pem', _pkcs8(chained.private_key_pem.bytes())),
        other_key=write('other-key.pem', _pkcs8(other.private_key_pem.bytes())),
        client=write('client.pem', client.private_key_and_cert_chain_pem.bytes()),
        client_revoked=write('client-revoked.pem', revoked.private_key_and_cert_chain_pem.bytes()),
        client_stranger=write('client-stranger.pem', stranger.private_key_and_cert_chain_pem.bytes()),
        crl=write('ca.crl.pem', _crl(ca, revoked)),
        not_pem=write('not-pem.txt', b'this is not a PEM file\n'),
    )


@pytest.fixture(scope='session')
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Certificates, keys and a CRL made for this test session (see the module docstring)."""
    return make_tls_files(tmp_path_factory.mktemp('tls'))


def tls_args(files: TlsFiles, key: Path | None = None, cert: Path | None = None, *extra: str) -> list[str]:
    """`--ssl-certificate`/`--ssl-keyfile` (the PKCS#8 key by default) plus `extra`."""
    return ['--ssl-certificate', str(cert or files.cert), '--ssl-keyfile', str(key or files.key_pkcs8), *extra]


def client_context(
    files: TlsFiles,
    *,
    alpn: list[str] | None = None,
    client_cert: Path | None = None,
    maximum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A client context trusting the session CA, optionally offering ALPN and a client cert."""
    ctx = ssl.create_default_context(cafile=str(files.ca))
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    if client_cert is not None:
        ctx.load_cert_chain(str(client_cert))
    if maximum_version is not None:
        ctx.maximum_version = maximum_version
    return ctx


def https_url(srv) -> str:
    return f'https://{srv.host}:{srv.port}'


def https_client(
    srv, files: TlsFiles, *, http2: bool = False, client_cert: Path | None = None, **kwargs
) -> httpx.Client:
    """An httpx client for a TLS server; `http2=True` offers only h2 by ALPN."""
    ctx = client_context(files, client_cert=client_cert)
    kwargs.setdefault('timeout', 10.0)
    return httpx.Client(base_url=https_url(srv), verify=ctx, http1=not http2, http2=http2, **kwargs)


def tls_handshake(
    srv, ctx: ssl.SSLContext, timeout: float = 5.0, request: bytes | None = b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
) -> tuple[str | None, str | None, bytes]:
    """Handshake with `ctx`, send `request` and read the first response bytes.

    Returns (TLS version, ALPN protocol, first bytes). With TLS 1.3 a server that refuses a
    client certificate says so after the client's handshake completed, so the refusal shows as
    an SSLError (or EOF) on the read: callers look at the bytes, not just at the handshake.
    """
    with socket.create_connection((srv.host, srv.port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=srv.host) as tls:
            version, alpn = tls.version(), tls.selected_alpn_protocol()
            data = b''
            if request is not None:
                tls.sendall(request)
                data = tls.recv(65536)
            return version, alpn, data
