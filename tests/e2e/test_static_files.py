"""Static files served by the engine (`--static-path-*`), per interface, over HTTP/1.1 and HTTP/2.

One server per interface serves two mounts (`/static` and `/static/media`, the longer route
winning) with `--static-path-dir-to-file index.html` and the access log on; its app answers
`app:<path>`, so each test sees who answered. HTTP/1.1 requests go over a raw socket
(`wire.Conn`) so that paths reach the server exactly as written (no client normalises `..`).
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from e2e import tls_support
from e2e.asgi_support import proc_status_kib, worker_pid
from e2e.h2_support import H2Client
from e2e.tls_support import client_context, tls_args
from e2e.wire import Conn, get

tls_files = tls_support.tls_files

APPS = {'asgi': 'static_apps:asgi_app', 'rsgi': 'static_apps:rsgi_app', 'wsgi': 'static_apps:wsgi_app'}
SECRET = b'TOP-SECRET-CONTENT'
HELLO = b'hello, static world\n'
BIG_SIZE = 40 * 1024 * 1024 + 123
MiB = 1024 * 1024
HUGE_SIZE = 100 * MiB


@pytest.fixture(scope='module')
def tree(tmp_path_factory) -> Path:
    """`public/` (files, an index, a UTF-8 name, a big file, links in, out and nowhere) and
    `media/`, next to `secret.txt` and `outdir/`, which are served only through the links of
    `public/` under `--static-path-follow-symlinks`."""
    root = tmp_path_factory.mktemp('static')
    public, media = root / 'public', root / 'media'
    (public / 'docs').mkdir(parents=True)
    (public / 'bare').mkdir()
    media.mkdir()
    (root / 'secret.txt').write_bytes(SECRET)
    (public / 'hello.txt').write_bytes(HELLO)
    (public / 'index.html').write_text('<h1>home</h1>')
    (public / 'docs' / 'index.html').write_text('<h1>docs</h1>')
    (public / 'style.css').write_text('body{}')
    (public / 'style.css.gz').write_bytes(gzip.compress(b'body{}'))
    (public / 'style.css.br').write_bytes(b'fake brotli')
    (public / 'こんにちは.png').write_bytes(b'\x89PNG fake')
    (public / 'empty.txt').write_bytes(b'')
    (media / 'photo.jpg').write_bytes(b'JPEG' * 10)
    os.symlink(root / 'secret.txt', public / 'leak.txt')
    os.symlink(root, public / 'up')
    os.symlink(public / 'hello.txt', public / 'alias.txt')
    (root / 'outdir').mkdir()
    (root / 'outdir' / 'index.html').write_text('<h1>outdir</h1>')
    os.symlink(root / 'outdir', public / 'ext')
    os.symlink(root / 'nothing', public / 'dangling')
    block = hashlib.sha256(b'seed').digest() * 2048  # 64 KiB
    with open(public / 'big.bin', 'wb') as f:
        for _ in range(BIG_SIZE // len(block)):
            f.write(block)
        f.write(block[: BIG_SIZE % len(block)])
    return root


def static_args(tree: Path, *extra: str) -> list[str]:
    return [
        '--static-path-route',
        '/static',
        '--static-path-mount',
        str(tree / 'public'),
        '--static-path-route',
        '/static/media',
        '--static-path-mount',
        str(tree / 'media'),
        '--static-path-dir-to-file',
        'index.html',
        '--static-path-expires',
        '600',
        *extra,
    ]


@pytest.fixture(scope='module', params=list(APPS))
def srv(request, module_server, tree):
    args = static_args(tree, '--interface', request.param, '--access-log')
    return module_server(APPS[request.param], *args)


def request_head(path: str, method: str, lines: list[tuple[str, str]]) -> bytes:
    """An HTTP/1.1 request head with these header lines, in order (a name may repeat)."""
    head = [f'{method} {path} HTTP/1.1', 'Host: localhost', *(f'{name}: {value}' for name, value in lines)]
    return ('\r\n'.join(head) + '\r\n\r\n').encode('latin-1')


class Fetcher:
    """`fetch(path, method='GET', headers=None) -> (status, headers, body)` over HTTP/1.1 or h2c;
    `headers`: a dict, or a list of `(name, value)` lines (a name may repeat)."""

    def __init__(self, srv, proto: str) -> None:
        self.srv, self.proto = srv, proto
        self.h2: H2Client | None = None

    def __call__(self, path, method='GET', headers=None):
        lines = list(headers.items()) if isinstance(headers, dict) else list(headers or ())
        if self.proto == 'h1':
            with Conn(self.srv.host, self.srv.port, timeout=30) as conn:
                resp = conn.request(request_head(path, method, lines), head_request=method == 'HEAD')
            return resp.status, dict(resp.headers), resp.body
        if self.h2 is None:
            self.h2 = H2Client(self.srv.host, self.srv.port, timeout=30)
        stream = self.h2.response(self.h2.request(method, path, lines), timeout=60)
        heads = {k.decode(): v.decode() for k, v in stream.headers if not k.startswith(b':')}
        return stream.status, heads, bytes(stream.data)

    def close(self) -> None:
        if self.h2 is not None:
            self.h2.close()


@pytest.fixture(params=['h1', 'h2'])
def fetch(request, srv):
    go = Fetcher(srv, request.param)
    yield go
    go.close()


# --- files, routes, mounts -------------------------------------------------------------------


def test_a_file_with_its_headers(fetch):
    status, headers, body = fetch('/static/hello.txt')
    assert (status, body) == (200, HELLO)
    assert headers['content-type'] == 'text/plain; charset=utf-8'
    assert headers['content-length'] == str(len(HELLO))
    assert headers['cache-control'] == 'max-age=600'
    assert headers['accept-ranges'] == 'bytes'
    assert headers['etag'].startswith('"') and headers['etag'].endswith('"')
    assert email.utils.parsedate_to_datetime(headers['last-modified'])


def test_two_mounts_the_longer_route_wins(fetch):
    assert fetch('/static/media/photo.jpg')[::2] == (200, b'JPEG' * 10)
    assert fetch('/static/media/photo.jpg')[1]['content-type'] == 'image/jpeg'
    assert fetch('/static/style.css')[1]['content-type'] == 'text/css; charset=utf-8'


def test_index_file_for_directories(fetch):
    assert fetch('/static/')[::2] == (200, b'<h1>home</h1>')
    assert fetch('/static/docs/')[::2] == (200, b'<h1>docs</h1>')
    assert fetch('/static/bare/')[0] == 404
    # Without the trailing slash, a directory is redirected to it (as nginx does).
    redirects = [('/static', '/static/'), ('/static/docs?x=1', '/static/docs/?x=1'), ('/static/bare', '/static/bare/')]
    for path, to in redirects:
        status, headers, _ = fetch(path)
        assert (status, headers['location']) == (301, to)


def test_utf8_file_names(fetch):
    status, headers, body = fetch('/static/%E3%81%93%E3%82%93%E3%81%AB%E3%81%A1%E3%81%AF.png')
    assert (status, body, headers['content-type']) == (200, b'\x89PNG fake', 'image/png')


def test_missing_files_and_empty_files(fetch):
    assert fetch('/static/nope.txt')[0] == 404
    status, headers, body = fetch('/static/empty.txt')
    assert (status, headers['content-length'], body) == (200, '0', b'')


def test_paths_outside_the_routes_go_to_the_app(fetch):
    assert fetch('/staticfoo')[::2] == (200, b'app:/staticfoo')
    assert fetch('/staticfoo/hello.txt')[::2] == (200, b'app:/staticfoo/hello.txt')
    assert fetch('/other/static/hello.txt')[::2] == (200, b'app:/other/static/hello.txt')
    assert fetch('/')[::2] == (200, b'app:/')


# --- methods, conditional requests, ranges ---------------------------------------------------


def test_head_and_other_methods(fetch):
    status, headers, body = fetch('/static/hello.txt', method='HEAD')
    assert (status, headers['content-length'], body) == (200, str(len(HELLO)), b'')
    for method in ('POST', 'PUT', 'DELETE'):
        status, headers, _ = fetch('/static/hello.txt', method=method)
        assert (status, headers['allow']) == (405, 'GET, HEAD')


def test_conditional_requests_get_304(fetch):
    _, headers, _ = fetch('/static/hello.txt')
    etag, modified = headers['etag'], headers['last-modified']
    status, h304, body = fetch('/static/hello.txt', headers={'If-None-Match': etag})
    assert (status, body, h304['etag']) == (304, b'', etag)
    assert fetch('/static/hello.txt', headers={'If-None-Match': f'"x", {etag}'})[0] == 304
    assert fetch('/static/hello.txt', headers={'If-Modified-Since': modified})[0] == 304
    assert fetch('/static/hello.txt', headers={'If-None-Match': '"other"'})[0] == 200
    old = 'Mon, 01 Jan 2001 00:00:00 GMT'
    assert fetch('/static/hello.txt', headers={'If-Modified-Since': old})[0] == 200
    assert fetch('/static/hello.txt', headers={'If-Match': '"other"'})[0] == 412


def test_list_headers_on_several_lines_and_a_range_sent_twice(fetch):
    etag = fetch('/static/hello.txt')[1]['etag']
    # `If-None-Match: "x"` + `If-None-Match: <etag>` is `If-None-Match: "x", <etag>` (RFC 9110 5.3).
    assert fetch('/static/hello.txt', headers=[('If-None-Match', '"x"'), ('If-None-Match', etag)])[0] == 304
    assert fetch('/static/hello.txt', headers=[('If-Match', '"x"'), ('If-Match', etag)])[0] == 200
    assert fetch('/static/hello.txt', headers=[('If-Match', '"x"'), ('If-Match', '"y"')])[0] == 412
    # Range is one value: two lines are no valid range, ignored (the whole file, 200).
    status, headers, body = fetch('/static/hello.txt', headers=[('Range', 'bytes=0-4'), ('Range', 'bytes=0-4')])
    assert (status, body, 'content-range' in headers) == (200, HELLO, False)


@pytest.mark.parametrize(
    ('spec', 'part'),
    [('bytes=0-4', (0, 4)), ('bytes=7-', (7, len(HELLO) - 1)), ('bytes=-6', (len(HELLO) - 6, len(HELLO) - 1))],
)
def test_ranges(fetch, spec, part):
    start, end = part
    status, headers, body = fetch('/static/hello.txt', headers={'Range': spec})
    assert (status, body) == (206, HELLO[start : end + 1])
    assert headers['content-range'] == f'bytes {start}-{end}/{len(HELLO)}'
    assert headers['content-length'] == str(end - start + 1)


def test_unsatisfiable_range_and_if_range(fetch):
    status, headers, _ = fetch('/static/hello.txt', headers={'Range': 'bytes=1000-'})
    assert (status, headers['content-range']) == (416, f'bytes */{len(HELLO)}')
    etag = fetch('/static/hello.txt')[1]['etag']
    assert fetch('/static/hello.txt', headers={'Range': 'bytes=0-4', 'If-Range': etag})[::2] == (206, HELLO[:5])
    assert fetch('/static/hello.txt', headers={'Range': 'bytes=0-4', 'If-Range': '"stale"'})[::2] == (200, HELLO)


# --- traversal ---------------------------------------------------------------------------------


#: Paths that climb out of the mount by themselves: refused before the disk, whatever the
#: symlink option.
TRAVERSAL = [
    '/static/../secret.txt',
    '/static/%2e%2e/secret.txt',
    '/static/%2E%2E/%2E%2E/secret.txt',
    '/static/..%2fsecret.txt',
    '/static/docs/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/static//etc/passwd',
    '/static/%2fetc%2fpasswd',
    '/static/a%00b',
    '/static/hello.txt%00.png',
    '/static/..%5csecret.txt',
    '/static/%5c..%5csecret.txt',
    '/static/media/../../secret.txt',
    '/static/ext/../../secret.txt',
    '/static/ext/%2e%2e/secret.txt',
]


def assert_refused(status: int, body: bytes) -> None:
    assert SECRET not in body
    assert b'root:' not in body
    if status == 200:
        # Only the app may answer 200 (hyper/h2 may normalise nothing; the app echoes).
        assert body.startswith(b'app:')
    else:
        assert status in (400, 404)


@pytest.mark.parametrize('path', [*TRAVERSAL, '/static/leak.txt', '/static/up/secret.txt', '/static/ext/'])
def test_traversal_is_refused_without_leaking(fetch, path):
    assert_refused(*fetch(path)[::2])


def test_a_symlink_inside_the_mount_is_served(fetch):
    assert fetch('/static/alias.txt')[::2] == (200, HELLO)


def test_symlinks_out_of_the_mount_are_404_by_default(fetch):
    for path in ('/static/leak.txt', '/static/up/secret.txt', '/static/ext/', '/static/ext', '/static/dangling'):
        assert fetch(path)[0] == 404, path


@pytest.fixture(scope='module', params=list(APPS))
def follow_srv(request, module_server, tree):
    args = static_args(tree, '--interface', request.param, '--static-path-follow-symlinks')
    return module_server(APPS[request.param], *args)


@pytest.fixture(params=['h1', 'h2'])
def follow_fetch(request, follow_srv):
    go = Fetcher(follow_srv, request.param)
    yield go
    go.close()


def test_followed_symlinks_may_lead_out_of_the_mount(follow_fetch):
    status, headers, body = follow_fetch('/static/leak.txt')
    assert (status, body, headers['content-type']) == (200, SECRET, 'text/plain; charset=utf-8')
    assert follow_fetch('/static/up/secret.txt')[::2] == (200, SECRET)
    # A directory outside: its index file, its files, and the redirect to the slashed path.
    assert follow_fetch('/static/ext/')[::2] == (200, b'<h1>outdir</h1>')
    assert follow_fetch('/static/ext/index.html')[::2] == (200, b'<h1>outdir</h1>')
    status, headers, _ = follow_fetch('/static/ext')
    assert (status, headers['location']) == (301, '/static/ext/')
    assert follow_fetch('/static/dangling')[0] == 404
    assert follow_fetch('/static/alias.txt')[::2] == (200, HELLO)


@pytest.mark.parametrize('path', TRAVERSAL)
def test_followed_symlinks_still_refuse_traversal(follow_fetch, path):
    assert_refused(*follow_fetch(path)[::2])


# --- big files, access log ---------------------------------------------------------------------


def test_a_big_file_is_streamed_whole(fetch, srv, tree):
    expected = hashlib.sha256((tree / 'public' / 'big.bin').read_bytes()).hexdigest()
    if fetch.proto == 'h1':
        # httpx reads the body in linear time (the raw test client buffers quadratically).
        digest, size = hashlib.sha256(), 0
        with httpx.stream('GET', f'{srv.url}/static/big.bin', timeout=60) as resp:
            assert (resp.status_code, resp.headers['content-length']) == (200, str(BIG_SIZE))
            for chunk in resp.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
        assert (size, digest.hexdigest()) == (BIG_SIZE, expected)
    else:
        status, headers, body = fetch('/static/big.bin')
        assert (status, headers['content-length'], len(body)) == (200, str(BIG_SIZE), BIG_SIZE)
        assert hashlib.sha256(body).hexdigest() == expected
    start = BIG_SIZE - 70_000
    status, _, body = fetch('/static/big.bin', headers={'Range': f'bytes={start}-'})
    assert (status, body) == (206, (tree / 'public' / 'big.bin').read_bytes()[start:])


@pytest.fixture(scope='module')
def huge(tmp_path_factory) -> tuple[Path, str]:
    """A directory with `huge.bin` (100 MiB of 64 KiB blocks, each starting with its index, so
    a block sent twice or out of place changes the hash) and `small.txt`; and the SHA-256 of
    `huge.bin`, computed while writing it."""
    directory = tmp_path_factory.mktemp('huge')
    (directory / 'small.txt').write_bytes(HELLO)
    filler = hashlib.sha256(b'huge').digest() * 2048  # 64 KiB
    digest = hashlib.sha256()
    with open(directory / 'huge.bin', 'wb') as f:
        for i in range(HUGE_SIZE // len(filler)):
            block = i.to_bytes(8, 'big') + filler[8:]
            digest.update(block)
            f.write(block)
    return directory, digest.hexdigest()


#: The slow reader pauses this long after every `PAUSE_EVERY` bytes (the server's writes then
#: block on a full socket buffer or an exhausted HTTP/2 window, so anything it read ahead of
#: what was sent would pile up in its memory).
PAUSE, PAUSE_EVERY = 0.02, 4 * MiB


def download_h1(srv, path: str, on_pause: Callable[[], None]) -> tuple[int, str]:
    """GET `path` over HTTP/1.1 through a 256 KiB receive buffer, read in 256 KiB pieces with
    pauses: `(body size, body SHA-256)`."""
    digest = hashlib.sha256()
    with Conn(srv.host, srv.port, timeout=30, rcvbuf=256 * 1024) as conn:
        conn.send(get(path))
        head = conn.read_head()
        assert (head.status, head.header('content-length')) == (200, str(HUGE_SIZE))
        size, pause_at = len(conn.buf), PAUSE_EVERY
        digest.update(conn.buf)
        while size < HUGE_SIZE:
            data = conn.sock.recv(min(256 * 1024, HUGE_SIZE - size))
            assert data, f'connection closed after {size} body bytes'
            digest.update(data)
            size += len(data)
            if size >= pause_at:
                on_pause()
                time.sleep(PAUSE)
                pause_at += PAUSE_EVERY
    return size, digest.hexdigest()


def download_h2(srv, path: str, on_pause: Callable[[], None]) -> tuple[int, str]:
    """GET `path` over h2c (the default 64 KiB stream window, given back as data arrives),
    hashing the DATA as it comes, with pauses: `(body size, body SHA-256)`."""
    digest = hashlib.sha256()
    with H2Client(srv.host, srv.port, timeout=30) as client:
        stream = client.stream(client.request('GET', path))
        size, pause_at = 0, PAUSE_EVERY
        deadline = time.monotonic() + 60
        while not stream.finished:
            assert time.monotonic() < deadline and not client.closed, f'stream stalled after {size} bytes'
            client.pump(0.5)
            digest.update(stream.data)
            size += len(stream.data)
            stream.data.clear()
            if size >= pause_at:
                on_pause()
                time.sleep(PAUSE)
                pause_at += PAUSE_EVERY
        assert (stream.status, stream.header(b'content-length'), stream.reset) == (200, str(HUGE_SIZE).encode(), None)
    return size, digest.hexdigest()


@pytest.mark.parametrize('proto', ['h1', 'h2'])
def test_a_100_mib_file_streams_to_a_slow_reader_in_bounded_worker_memory(server, huge, proto):
    """The body is right and the worker's peak memory grows by far less than the file: the
    file is streamed from disk as the client reads, not loaded (one interface: the static path
    is the same for all)."""
    directory, expected = huge
    srv = server(APPS['rsgi'], '--interface', 'rsgi', '--static-path-mount', str(directory))
    pid = worker_pid(srv)
    with Conn(srv.host, srv.port) as conn:  # warm the static path up before measuring
        assert conn.request(get('/static/small.txt')).body == HELLO
    rss_before = proc_status_kib(pid, 'VmRSS')
    samples = []

    def sample():
        samples.append(proc_status_kib(pid, 'VmRSS'))

    download = download_h1 if proto == 'h1' else download_h2
    assert download(srv, '/static/huge.bin', sample) == (HUGE_SIZE, expected)
    assert len(samples) >= 20
    peak = max(proc_status_kib(pid, 'VmHWM'), *samples)
    # Loading the file would cost >= 100 MiB; a streamed body costs a few chunks.
    assert peak - rss_before < 32 * 1024, f'worker grew by {(peak - rss_before) / 1024:.1f} MiB'


def test_static_hits_are_access_logged(srv):
    with Conn(srv.host, srv.port) as conn:
        assert conn.request(get('/static/hello.txt?v=1')).status == 200
        assert conn.request(get('/static/nope.txt')).status == 404
    srv.wait_for_log(r'"GET /static/hello\.txt HTTP/1\.1" 200 ')
    srv.wait_for_log(r'"GET /static/nope\.txt HTTP/1\.1" 404 ')


# --- TLS, defaults -----------------------------------------------------------------------------


def test_https_over_h1_and_h2(server, tree, tls_files):
    srv = server(APPS['rsgi'], *static_args(tree, '--interface', 'rsgi', *tls_args(tls_files)))
    ctx = client_context(tls_files, alpn=['h2'])
    with H2Client(srv.host, srv.port, ssl_context=ctx) as client:
        stream = client.get('/static/hello.txt')
        assert (stream.status, bytes(stream.data)) == (200, HELLO)
    with tls_support.https_client(srv, tls_files) as client:
        resp = client.get('/static/hello.txt', headers={'Range': 'bytes=0-4'})
    assert (resp.status_code, resp.http_version, resp.content) == (206, 'HTTP/1.1', HELLO[:5])


def test_one_mount_defaults_to_static_and_expires_0_drops_cache_control(server, tree):
    srv = server(
        APPS['asgi'], '--interface', 'asgi', '--static-path-mount', str(tree / 'public'), '--static-path-expires', '0'
    )
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/static/hello.txt'))
        assert (resp.status, resp.body, resp.header('cache-control')) == (200, HELLO, None)
        assert conn.request(get('/static/')).status == 404  # no --static-path-dir-to-file
        assert conn.request(get('/hello.txt')).body == b'app:/hello.txt'


def test_env_vars_configure_the_static_files(server, tree):
    env = {
        'GRANIAN_STATIC_PATH_ROUTE': '/a /m',
        'GRANIAN_STATIC_PATH_MOUNT': f'{tree / "public"}{os.pathsep}{tree / "media"}',
        'GRANIAN_STATIC_PATH_DIR_TO_FILE': 'index.html',
        'GRANIAN_STATIC_PATH_EXPIRES': '5',
    }
    srv = server(APPS['wsgi'], '--interface', 'wsgi', env=env)
    with Conn(srv.host, srv.port) as conn:
        resp = conn.request(get('/a/docs/'))
        assert (resp.status, resp.body, resp.header('cache-control')) == (200, b'<h1>docs</h1>', 'max-age=5')
        assert conn.request(get('/m/photo.jpg')).body == b'JPEG' * 10


def test_precompressed_siblings(server, tree):
    srv = server(APPS['rsgi'], *static_args(tree, '--interface', 'rsgi', '--static-path-precompressed'))
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        resp = client.get('/static/style.css', headers={'Accept-Encoding': 'gzip'})
        assert (resp.status_code, resp.headers['content-encoding'], resp.content) == (200, 'gzip', b'body{}')
        assert resp.headers['content-type'] == 'text/css; charset=utf-8'
        assert resp.headers['vary'] == 'accept-encoding'
        resp = client.get('/static/style.css', headers={'Accept-Encoding': 'gzip;q=0.5, br'})
        assert (resp.headers['content-encoding'], resp.headers['content-length']) == ('br', '11')
        resp = client.get('/static/style.css', headers={'Accept-Encoding': 'identity'})
        assert ('content-encoding' not in resp.headers, resp.content) == (True, b'body{}')
    # Accept-Encoding on two lines is one list: `gzip;q=0.5` + `br` ranks br first.
    with Conn(srv.host, srv.port) as conn:
        lines = [('Accept-Encoding', 'gzip;q=0.5'), ('Accept-Encoding', 'br')]
        resp = conn.request(request_head('/static/style.css', 'GET', lines))
    assert (resp.status, resp.header('content-encoding'), resp.body) == (200, 'br', b'fake brotli')
    # Off by default: the plain file whatever the client accepts.
    plain = server(APPS['asgi'], *static_args(tree, '--interface', 'asgi'))
    with Conn(plain.host, plain.port) as conn:
        resp = conn.request(get('/static/style.css', headers={'Accept-Encoding': 'gzip, br'}))
    assert (resp.status, resp.body, resp.header('content-encoding'), resp.header('vary')) == (
        200,
        b'body{}',
        None,
        None,
    )


def test_fallthrough_hands_a_404_to_the_app(server, tree):
    args = ('--interface', 'wsgi', '--static-path-fallthrough')
    srv = server(APPS['wsgi'], *static_args(tree, *args), '--access-log')
    with Conn(srv.host, srv.port) as conn:
        assert conn.request(get('/static/hello.txt')).body == HELLO
        assert conn.request(get('/static/settings/profile')).body == b'app:/static/settings/profile'
        assert conn.request(get('/static/bare/')).body == b'app:/static/bare/'
        resp = conn.request(get('/static/hello.txt', method='POST'))
        assert resp.status == 405  # only a missing file falls through
    srv.wait_for_log(r'"GET /static/settings/profile HTTP/1\.1" 200 ')


# --- files that change on disk (the worker keeps recently opened files open for 1 s) ------------


def _poll(fetch_once, want, seconds: float = 5.0):
    """`fetch_once()` until it returns `want` (bounded); the last answer."""
    deadline = time.monotonic() + seconds
    got = fetch_once()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)
        got = fetch_once()
    return got


def test_files_changed_on_disk_are_served_as_they_are(server, tmp_path):
    """Changed in place: the new content at once, with its own length and validators; replaced
    or deleted: the old file (whole) for at most a moment, then the new state."""
    public = tmp_path / 'public'
    public.mkdir()
    (public / 'a.txt').write_bytes(b'one')
    (public / 'b.txt').write_bytes(b'first')
    (public / 'c.txt').write_bytes(b'doomed')
    srv = server(APPS['rsgi'], '--interface', 'rsgi', '--static-path-mount', str(public))

    def once(path):
        with Conn(srv.host, srv.port) as conn:
            resp = conn.request(get(path))
        return resp.status, resp.body, resp.header('etag')

    status, body, etag = once('/static/a.txt')
    assert (status, body) == (200, b'one')
    with open(public / 'a.txt', 'r+b') as f:  # same inode, new content and size
        f.write(b'two, longer')
    status, body, new_etag = once('/static/a.txt')
    assert (status, body) == (200, b'two, longer')
    assert new_etag != etag

    assert once('/static/b.txt')[:2] == (200, b'first')
    (public / 'b.new').write_bytes(b'second version')
    os.replace(public / 'b.new', public / 'b.txt')  # a new inode under the same name
    status, body, _ = once('/static/b.txt')
    assert body in (b'first', b'second version')  # never a mix of the two
    assert _poll(lambda: once('/static/b.txt')[:2], (200, b'second version')) == (200, b'second version')

    assert once('/static/c.txt')[:2] == (200, b'doomed')
    (public / 'c.txt').unlink()
    assert _poll(lambda: once('/static/c.txt')[0], 404) == 404
