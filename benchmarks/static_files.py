#!/usr/bin/env python3
"""Static files: our granian against public Granian and nginx, one file size at a time.

Each scenario serves one file from one directory with all three servers, one worker each, and
drives them with `wrk` (64 connections, keep-alive) in rounds A, B, C, A, B, C, ... through the
shared harness (`bench.py` from the shared bench directory: its server start/stop, readiness
probe, CPU pinning, wrk runs and RSS sampling are reused as they are). It prints one Markdown table
of requests/s with the ratios ours/Granian and ours/nginx, each measured within this run.

- ours:    `granian --static-path-mount DIR` (route `/static`), from this repo's .venv;
- granian: the same command line, from the reference virtualenv ($BENCH_VENV);
- nginx:   1 worker, `sendfile on`, `location /static/ { alias DIR/; }`, access log off.

    .venv/bin/python benchmarks/static_files.py --bench-venv /path/to/refvenv
    .venv/bin/python benchmarks/static_files.py -s 10k -r 5 -d 8

Standard library only. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import importlib.util
import os
import random
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / 'shared' / 'bench'

# name -> file size in bytes; the file is /static/<name>.bin
SIZES = {'10k': 10 * 1024, '1m': 1024 * 1024}

GRANIAN = (
    '{exe} --interface rsgi --host {{host}} --port {{port}} --working-dir {{apps}} --workers 1 '
    '--static-path-mount {root} rsgi_app:app'
)

NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx_body;
    proxy_temp_path {tmp}/nginx_proxy;
    fastcgi_temp_path {tmp}/nginx_fastcgi;
    uwsgi_temp_path {tmp}/nginx_uwsgi;
    scgi_temp_path {tmp}/nginx_scgi;
    types {{ application/octet-stream bin; }}
    default_type text/plain;
    sendfile on;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "Hello, World!"; }}
        location /static/ {{ alias {root}/; }}
    }}
}}
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_bench(shared: Path):
    """The shared harness as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location('bench', shared / 'bench.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_files(root: Path) -> dict[str, str]:
    """Write one file per size (pseudo-random bytes: nothing compresses) and return their SHA-256."""
    root.mkdir(parents=True, exist_ok=True)
    digests = {}
    rng = random.Random(14)
    for name, size in SIZES.items():
        data = rng.randbytes(size)
        (root / f'{name}.bin').write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def check_file(port: int, path: str, digest: str) -> str | None:
    """Fetch `path` once; the reason it is wrong, or None when it is the file."""
    try:
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
        conn.request('GET', path)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return f'GET {path}: {exc!r}'
    if resp.status != 200:
        return f'GET {path} -> {resp.status}'
    if hashlib.sha256(body).hexdigest() != digest:
        return f'GET {path}: {len(body)} bytes, not the file'
    return None


def run(args: argparse.Namespace) -> int:
    bench = load_bench(args.shared)
    tmp = Path(tempfile.mkdtemp(prefix='granian-static-bench-'))
    tmp.chmod(0o755)  # nginx workers drop root privileges and must still read the files
    root = tmp / 'files'
    digests = make_files(root)
    nginx_conf = tmp / 'nginx.conf'
    nginx_conf.write_text(NGINX_CONF.format(tmp=tmp, root=root, port=args.port))
    templates = {
        'ours': GRANIAN.format(exe=shlex.quote(str(args.our_venv / 'bin' / 'granian')), root=root),
        'granian': GRANIAN.format(exe=shlex.quote(str(args.bench_venv / 'bin' / 'granian')), root=root),
        'nginx': f'{shlex.quote(args.nginx)} -e stderr -p {tmp} -c {nginx_conf}',
    }
    results: dict[str, dict[str, list[dict]]] = {}
    failure = None
    try:
        for size in args.size:
            scenario = f'static{size}'
            path = f'/static/{size}.bin'
            bench.SCENARIOS[scenario] = ('wrk', path, 'GET', 0)
            ns = argparse.Namespace(
                scenario=scenario,
                port=args.port,
                apps=str(args.shared / 'apps'),
                venv=None,
                server_cpu=args.server_cpu,
                load_cpu=args.load_cpu,
                start_timeout=20.0,
                request_timeout=5,
                wrk='wrk',
                h2load='h2load',
                connections=args.connections,
                threads=1,
                streams=10,
                duration=args.duration,
                warmup=args.warmup,
            )
            script = bench.write_wrk_script(str(tmp), scenario)
            servers = [bench.Server(name, tpl, ns, str(tmp)) for name, tpl in templates.items()]
            per = results[size] = {s.name: [] for s in servers}
            log(f'=== {path} ({SIZES[size]} bytes), {args.connections} connections')
            for rnd in range(1, args.rounds + 1):
                for server in servers:
                    server.start()
                    try:
                        wrong = check_file(args.port, path, digests[size])
                    finally:
                        server.stop()
                    if wrong:
                        raise bench.BenchError(f'{server.name} does not serve the file: {wrong}')
                    res = one_run(bench, server, ns, script)
                    per[server.name].append(res)
                    log(
                        f'  round {rnd} {server.name:>8}: {res["rps"]:10.1f} req/s  p99 {res["p99_ms"]:.2f} ms'
                        f'  cpu {res["cpu_us_per_req"]:.1f} us/req  err {res["errors"]}'
                        f'  peak {res["peak_rss_mib"]:.1f} MiB'
                    )
    except bench.BenchError as exc:
        failure = str(exc)
        log(f'ERROR: {exc}')
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(markdown(results, args))
    return 1 if failure else 0


def cpu_seconds(bench, pid: int) -> float:
    """User + system CPU time of `pid` and its descendants, all threads (from /proc)."""
    ticks = 0
    for p in bench.process_tree(pid):
        try:
            fields = Path(f'/proc/{p}/stat').read_bytes().rsplit(b')', 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf('SC_CLK_TCK')


def one_run(bench, server, ns: argparse.Namespace, script: str) -> dict:
    """bench.py's one_run, plus the server's CPU time per request during the measured load: at
    1 MiB a response, the load generator (one core) can be the limit, and the CPU each request
    costs the server is then the comparison that says something."""
    server.start()
    try:
        bench.run_wrk(ns, script, ns.warmup)
        sampler = bench.RssSampler(server.proc.pid)
        sampler.start()
        cpu0 = cpu_seconds(bench, server.proc.pid)
        try:
            res = bench.run_wrk(ns, script, ns.duration)
        finally:
            peak = sampler.stop()
        cpu = cpu_seconds(bench, server.proc.pid) - cpu0
        res['peak_rss_mib'] = peak / 2**20
        res['cpu_us_per_req'] = cpu * 1e6 / res['requests'] if res['requests'] else float('nan')
        return res
    finally:
        server.stop()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float('nan')


def markdown(results: dict[str, dict[str, list[dict]]], args: argparse.Namespace) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    lines = [
        f'Measured {now} with `benchmarks/static_files.py` (rounds={args.rounds}, duration={args.duration}s, '
        f'warmup={args.warmup}s, wrk -c {args.connections}; servers on CPU {args.server_cpu}, load on CPU '
        f'{args.load_cpu}; 1 worker each).',
        '',
        '| file | ours req/s | granian req/s | nginx req/s | **ours/granian** (per round) '
        '| **ours/nginx** (per round) | server CPU µs/request ours / granian / nginx '
        '| p99 ms ours / granian / nginx | peak MiB ours / granian / nginx |',
        '|---|---|---|---|---|---|---|---|---|',
    ]
    for size, per in results.items():
        if not all(per.values()):
            lines.append(f'| {size} | incomplete |' + ' |' * 7)
            continue
        rps = {name: median([r['rps'] for r in rounds]) for name, rounds in per.items()}
        p99 = {name: median([r['p99_ms'] for r in rounds]) for name, rounds in per.items()}
        peak = {name: max(r['peak_rss_mib'] for r in rounds) for name, rounds in per.items()}
        cpu = {name: median([r['cpu_us_per_req'] for r in rounds]) for name, rounds in per.items()}

        def versus(other: str, per=per, rps=rps) -> str:
            paired = [a['rps'] / b['rps'] for a, b in zip(per['ours'], per[other], strict=False) if b['rps']]
            return f'**{rps["ours"] / rps[other]:.2f}** ({", ".join(f"{p:.2f}" for p in paired)})'

        lines.append(
            f'| {SIZES[size] // 1024} KiB | {rps["ours"]:.0f} | {rps["granian"]:.0f} | {rps["nginx"]:.0f} '
            f'| {versus("granian")} | {versus("nginx")} '
            f'| {cpu["ours"]:.0f} / {cpu["granian"]:.0f} / {cpu["nginx"]:.0f} '
            f'| {p99["ours"]:.1f} / {p99["granian"]:.1f} / {p99["nginx"]:.1f} '
            f'| {peak["ours"]:.1f} / {peak["granian"]:.1f} / {peak["nginx"]:.1f} |'
        )
    return '\n'.join(lines) + '\n'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--shared', type=Path, default=Path(os.environ.get('BENCH_SHARED', DEFAULT_SHARED)))
    parser.add_argument('--bench-venv', type=Path, default=os.environ.get('BENCH_VENV'))
    parser.add_argument('--our-venv', type=Path, default=REPO / '.venv')
    parser.add_argument('--nginx', default=shutil.which('nginx') or '/usr/sbin/nginx')
    parser.add_argument('-s', '--size', action='append', choices=sorted(SIZES), help='file size (repeatable)')
    parser.add_argument('-r', '--rounds', type=int, default=3)
    parser.add_argument('-d', '--duration', type=int, default=8)
    parser.add_argument('-w', '--warmup', type=int, default=2)
    parser.add_argument('-c', '--connections', type=int, default=64)
    parser.add_argument('--port', type=int, default=int(os.environ.get('BENCH_PORT', '8765')))
    parser.add_argument('--server-cpu', default='0')
    parser.add_argument('--load-cpu', default='1')
    parser.add_argument('--keep-tmp', action='store_true')
    args = parser.parse_args(argv)
    args.size = args.size or list(SIZES)
    args.shared = args.shared.resolve()
    if args.bench_venv is None:
        parser.error('set BENCH_VENV or --bench-venv to the virtualenv holding public Granian')
    args.bench_venv = args.bench_venv.absolute()
    args.our_venv = args.our_venv.absolute()
    for exe in (args.our_venv / 'bin' / 'granian', args.bench_venv / 'bin' / 'granian', Path(args.nginx)):
        if not exe.exists():
            parser.error(f'{exe} not found')
    if shutil.which('wrk') is None:
        parser.error('wrk not found on PATH')
    return args


if __name__ == '__main__':
    sys.exit(run(parse_args(None)))
