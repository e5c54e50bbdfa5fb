#!/usr/bin/env python3
"""HTTPS (HTTP/1.1 over TLS) throughput: ours vs the reference granian, in one run.

The shared harness (`bench.py`) speaks plain HTTP only, so this script does the same for TLS:
it makes a throw-away CA and server certificate (trustme, PKCS#8 key), then alternates the two
servers for `--rounds` rounds: start with 1 worker pinned to `--server-cpu`, wait until an
HTTPS GET answers, warm up, run `wrk` pinned to `--load-cpu` against https://127.0.0.1:PORT/,
stop the server. Prints median req/s and p99 per server and the ratio ours/reference.

    .venv/bin/python benchmarks/https.py --bench-venv /work/refvenv -i rsgi -r 3

Needs wrk (built with TLS, as Debian's is), taskset, and trustme + cryptography in the venv
running it. Loopback only; every server started is stopped before exit.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serverproc import free_port, stop

REPO = Path(__file__).resolve().parent.parent
APPS = REPO.parent / 'shared' / 'bench' / 'apps'
TARGETS = {'rsgi': 'rsgi_app:app', 'asgi': 'asgi_app:app', 'wsgi': 'wsgi_app:app'}


def make_certs(directory: Path) -> tuple[Path, Path, Path]:
    import trustme
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    leaf = ca.issue_cert('127.0.0.1', 'localhost')
    cert = directory / 'cert.pem'
    key = directory / 'key.pem'
    cafile = directory / 'ca.pem'
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    private = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ca.cert_pem.write_to_path(str(cafile))
    return cert, key, cafile


def wait_ready(port: int, cafile: Path, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    ctx = ssl.create_default_context(cafile=str(cafile))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'server exited with {proc.returncode}')
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1) as raw:
                with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as s:
                    s.sendall(b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
                    if s.recv(64).startswith(b'HTTP/1.1 200'):
                        return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError('server did not become ready')


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r'([\d.]+)(us|ms|s)', value).groups()
    return float(number) * {'us': 0.001, 'ms': 1.0, 's': 1000.0}[unit]


def run_wrk(port: int, args: argparse.Namespace, duration: int) -> tuple[float, float]:
    out = subprocess.run(
        [
            *('taskset', '-c', args.load_cpu, 'wrk', '-t1', f'-c{args.connections}', f'-d{duration}s', '--latency'),
            f'https://127.0.0.1:{port}/',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    p99 = to_ms(re.search(r'^\s+99%\s+(\S+)', out, re.MULTILINE).group(1))
    return rps, p99


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--bench-venv', default=os.environ.get('BENCH_VENV'), help='venv with the reference granian')
    ap.add_argument('--our-venv', default=str(REPO / '.venv'))
    ap.add_argument('-i', '--interface', default='rsgi', choices=sorted(TARGETS))
    ap.add_argument('-r', '--rounds', type=int, default=3)
    ap.add_argument('-d', '--duration', type=int, default=8)
    ap.add_argument('-w', '--warmup', type=int, default=2)
    ap.add_argument('-c', '--connections', type=int, default=64)
    ap.add_argument('--server-cpu', default='0')
    ap.add_argument('--load-cpu', default='1')
    args = ap.parse_args()
    if not args.bench_venv:
        ap.error('--bench-venv (or $BENCH_VENV) is required')

    servers = {'ours': Path(args.our_venv), 'granian 2.8.7': Path(args.bench_venv)}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    with tempfile.TemporaryDirectory() as tmp:
        cert, key, cafile = make_certs(Path(tmp))
        for rnd in range(1, args.rounds + 1):
            for name, venv in servers.items():
                port = free_port()
                argv = [
                    *('taskset', '-c', args.server_cpu, str(venv / 'bin' / 'granian')),
                    *('--interface', args.interface, '--port', str(port), '--working-dir', str(APPS)),
                    *('--workers', '1', '--ssl-certificate', str(cert), '--ssl-keyfile', str(key)),
                    TARGETS[args.interface],
                ]
                proc = subprocess.Popen(
                    argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
                )
                try:
                    wait_ready(port, cafile, proc)
                    run_wrk(port, args, args.warmup)
                    rps, p99 = run_wrk(port, args, args.duration)
                finally:
                    stop(proc)
                results[name].append((rps, p99))
                print(f'round {rnd} {name:>14}: {rps:10.1f} req/s  p99 {p99:.2f} ms', file=sys.stderr)
    (ours_rps, ref_rps), (ours_p99, ref_p99) = (
        [statistics.median(r[i] for r in results[n]) for n in servers] for i in (0, 1)
    )
    rounds = [o[0] / r[0] for o, r in zip(*results.values(), strict=True)]
    print('| scenario | req/s ours / ref | **ratio** | per-round ratios | p99 ms ours / ref | **p99 ratio** |')
    print('|---|---|---|---|---|---|')
    print(
        f'| {args.interface} https get | {ours_rps:.0f} / {ref_rps:.0f} | **{ours_rps / ref_rps:.2f}** '
        f'| {", ".join(f"{x:.2f}" for x in rounds)} | {ours_p99:.2f} / {ref_p99:.2f} | **{ours_p99 / ref_p99:.2f}** |'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
