#!/usr/bin/env python3
"""Memory cost of idle keep-alive connections: ours vs a reference server, in one run.

For each server (alternating, `--rounds` times): start it with 1 worker on a free loopback port,
wait until GET / answers, read the RSS of its whole process tree, open `--connections`
keep-alive connections that each complete one GET / and then stay open and idle, wait for the
RSS to settle, read it again, close everything and stop the server. Prints the RSS growth per
connection and the ratio ours/reference (below 1 = we use less memory).

    .venv/bin/python benchmarks/idle_conns.py --bench-venv /work/refvenv -i asgi -n 1000

Standard library only. Loopback only; every server started is stopped before exit.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from serverproc import free_port, stop

REPO = Path(__file__).resolve().parent.parent
APPS = REPO.parent / 'shared' / 'bench' / 'apps'
TARGETS = {'rsgi': 'rsgi_app:app', 'asgi': 'asgi_app:app', 'wsgi': 'wsgi_app:app'}
REQUEST = b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'


def tree_rss_kib(pid: int) -> int:
    """RSS of `pid` and all its descendants, in KiB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f'/proc/{p}/status') as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'server exited with {proc.returncode}')
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
                s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                if s.recv(64).startswith(b'HTTP/1.1 200'):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError('server did not become ready')


def open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connections, each having completed one keep-alive request."""
    socks = []
    sel = selectors.DefaultSelector()
    for _ in range(count):
        s = socket.create_connection(('127.0.0.1', port))
        s.sendall(REQUEST)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    pending = len(socks)
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            data = key.fileobj.recv(4096)
            if data:
                sel.unregister(key.fileobj)
                pending -= 1
    sel.close()
    if pending:
        raise RuntimeError(f'{pending} connections got no response')
    return socks


def measure(argv: list[str], port: int, count: int, cpu: str) -> tuple[int, int]:
    proc = subprocess.Popen(
        ['taskset', '-c', cpu, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(port, proc)
        time.sleep(1.0)
        before = tree_rss_kib(proc.pid)
        socks = open_idle(port, count)
        time.sleep(2.0)
        after = tree_rss_kib(proc.pid)
        for s in socks:
            s.close()
        return before, after
    finally:
        stop(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--bench-venv', default=os.environ.get('BENCH_VENV'), help='venv with the reference server')
    ap.add_argument('--our-venv', default=str(REPO / '.venv'))
    ap.add_argument('-i', '--interface', default='asgi', choices=sorted(TARGETS))
    ap.add_argument('-n', '--connections', type=int, default=1000)
    ap.add_argument('-r', '--rounds', type=int, default=2)
    ap.add_argument('--server-cpu', default='0')
    args = ap.parse_args()
    if not args.bench_venv:
        ap.error('--bench-venv (or $BENCH_VENV) is required')

    servers = {'ours': Path(args.our_venv), 'granian 2.8.7': Path(args.bench_venv)}
    growth: dict[str, list[float]] = {name: [] for name in servers}
    idle: dict[str, list[float]] = {name: [] for name in servers}
    for rnd in range(1, args.rounds + 1):
        for name, venv in servers.items():
            port = free_port()
            argv = [
                str(venv / 'bin' / 'granian'),
                *('--interface', args.interface, '--port', str(port), '--working-dir', str(APPS)),
                *('--workers', '1', '--backpressure', str(args.connections + 64), TARGETS[args.interface]),
            ]
            before, after = measure(argv, port, args.connections, args.server_cpu)
            per_conn = (after - before) / args.connections
            growth[name].append(per_conn)
            idle[name].append(before / 1024)
            print(
                f'round {rnd} {name:>14}: idle {before / 1024:.1f} MiB, with {args.connections} idle connections '
                f'{after / 1024:.1f} MiB ({per_conn:.2f} KiB/conn)',
                file=sys.stderr,
            )
    ours, ref = (statistics.median(growth[n]) for n in servers)
    ours_idle, ref_idle = (statistics.median(idle[n]) for n in servers)
    print(
        '| interface | connections | KiB/conn ours / ref | **ratio** '
        '| idle MiB ours / ref | with conns MiB ours / ref |'
    )
    print('|---|---|---|---|---|---|')
    n = args.connections
    print(
        f'| {args.interface} | {n} | {ours:.2f} / {ref:.2f} | **{ours / ref if ref > 0 else float("nan"):.2f}** '
        f'| {ours_idle:.1f} / {ref_idle:.1f} | {ours_idle + ours * n / 1024:.1f} / {ref_idle + ref * n / 1024:.1f} |'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
