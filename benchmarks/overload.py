#!/usr/bin/env python3
"""Overload: what `--limit-concurrency` does to admitted requests when far more arrive than fit.

One server (ours, 1 worker, pinned to `--server-cpu`) serves `apps/overload_app.py`: every request
waits 50 ms (`asyncio.sleep`), so it serves at most limit / 50 ms requests per second. Four
measured runs, the load pinned to `--load-cpu`:

1. unloaded, `wrk` with 16 connections (well under the limit): the baseline p99;
2. unloaded, the same with this script's own client (`asyncio`, one latency per request);
3. overloaded, this script's client with 512 connections: the latency of admitted (2xx) and of
   refused (503) requests, counted apart;
4. overloaded, `wrk` with 512 connections: the status of every answer (a Lua `response` hook).

Reported: requests/s, status counts, p50/p99 of admitted requests (and of refusals), the ratio
admitted p99 overloaded / unloaded p99 (target: at most 2), whether every non-2xx answer was a
503, and how many refusal warnings the server logged (at most one a second).

Admitted latency under overload, from `wrk`: its histogram holds every answer, 2xx and 503
together. Take R refusals and A admitted answers: among the R + k fastest answers at least k are
admitted ones, so the k-th fastest admitted answer is at most the (R + k)-th fastest answer. The
histogram's percentile at (R + A * p / 100) / (R + A) is therefore an upper bound of the admitted
requests' p-th percentile, whatever the mix. It is exact when every refusal is faster than every
admitted answer: an admitted request takes at least the app's 50 ms, so this holds when the
percentile at R / (R + A) (the R-th fastest answer, then the slowest refusal) is under
`SPLIT_MS`. The table marks the bound `<=` when that check fails. The asyncio client times each
request itself, but under overload it runs its CPU flat out and its own event loop lag
(reported) adds to every latency it measures: it is the cross-check, not the figure.

    .venv/bin/python benchmarks/overload.py                      # ASGI, limit 64, 10 s per run
    .venv/bin/python benchmarks/overload.py -i rsgi -d 5 --out /tmp/overload

Needs `wrk` and `taskset`. Loopback only; the server is stopped before exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from serverproc import free_port, stop

REPO = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / 'apps'
REQUEST = b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
#: Every admitted request takes at least the app's 50 ms: when the slowest refusal is faster than
#: this, wrk's histogram splits exactly (see the module docs).
SPLIT_MS = 45.0
WARNING = re.compile(r'Concurrency limit reached \(--limit-concurrency \d+\): refused (\d+) request')

#: Counts every status per wrk thread and prints them, with wrk's own latency percentiles.
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do io.write(string.format("STATUS %d %d\\n", status, n)) end
  end
  io.write(string.format("LATENCY %d %d\\n", latency:percentile(50), latency:percentile(99)))
  -- Admitted (2xx) vs the rest, by their share of the histogram (see the module docs).
  local total, ok = 0, 0
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do
      total = total + n
      if status >= 200 and status < 300 then ok = ok + n end
    end
  end
  if total > 0 and ok > 0 then
    local b = 100 * (total - ok) / total
    local low = 0
    if ok < total then low = latency:percentile(b) end
    io.write(string.format("SPLIT %d %d %d\\n", low, latency:percentile(b + (100 - b) * 0.5),
      latency:percentile(b + (100 - b) * 0.99)))
  end
  local e = summary.errors
  io.write(string.format("ERRORS %d\\n", e.connect + e.read + e.write + e.timeout))
  io.write(string.format("DURATION %d\\n", summary.duration))
end
"""


@dataclass
class Run:
    """One measured load run."""

    name: str
    tool: str
    connections: int
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    #: Latencies in ms by status (own client), or None (wrk: only the overall percentiles).
    latencies: dict[int, list[float]] | None = None
    #: wrk's p50/p99 over every answer, in ms.
    overall: tuple[float, float] | None = None
    #: wrk: the slowest non-2xx answer and the 2xx p50/p99 from the histogram split, in ms.
    split: tuple[float, float, float] | None = None
    #: asyncio client: p99 of its own event loop lag, in ms.
    lag_p99: float | None = None
    #: Share of the server's CPU used by the server, and by every other process, during the run.
    cpu_ours: float = 0.0
    cpu_others: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def separated(self) -> bool:
        """wrk: every non-2xx answer was faster than `SPLIT_MS` (so the split is exact)."""
        return self.split is not None and self.split[0] < SPLIT_MS

    def admitted(self, p: float) -> float | None:
        """p50 or p99 of the 2xx answers: measured (client), or from the histogram (wrk: exact
        when `separated`, else an upper bound)."""
        if self.latencies is not None:
            return self.percentile(2, p)
        if self.split is None:
            return None
        return self.split[1 if p == 50 else 2]

    def fmt_admitted(self, p: float) -> str:
        bound = '' if self.latencies is not None or self.separated else '<= '
        return bound + fmt(self.admitted(p))

    def percentile(self, status_class: int, p: float) -> float | None:
        """p-th percentile (nearest rank) of the latencies of statuses `status_class`xx, or exactly 503."""
        if self.latencies is None:
            return None
        values = sorted(
            v
            for status, lat in self.latencies.items()
            if (status // 100 == status_class if status_class < 10 else status == status_class)
            for v in lat
        )
        if not values:
            return None
        return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


# --- CPU accounting (is the server CPU quiet?) ----------------------------------------------------

TICK = os.sysconf('SC_CLK_TCK')


def cpu_busy_ticks(cpu: int) -> int:
    """Busy ticks of one CPU since boot (everything but idle and iowait), from /proc/stat."""
    with open('/proc/stat') as stat:
        for line in stat:
            if line.startswith(f'cpu{cpu} '):
                values = [int(v) for v in line.split()[1:]]
                return sum(values) - values[3] - values[4]
    raise RuntimeError(f'cpu{cpu} not in /proc/stat')


def tree_ticks(session: int) -> int:
    """CPU ticks (user + system) of every process of the server's session."""
    total = 0
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total


class CpuWatch:
    """What share of the server's CPU the server used, and what share other processes took."""

    def __init__(self, cpu: int, session: int) -> None:
        self.cpu, self.session = cpu, session

    def __enter__(self) -> CpuWatch:
        self.start = (time.monotonic(), cpu_busy_ticks(self.cpu), tree_ticks(self.session))
        return self

    def __exit__(self, *exc: object) -> None:
        t0, busy0, ours0 = self.start
        seconds = time.monotonic() - t0
        busy = (cpu_busy_ticks(self.cpu) - busy0) / TICK / seconds
        self.ours = (tree_ticks(self.session) - ours0) / TICK / seconds
        self.others = max(0.0, busy - self.ours)


# --- the server --------------------------------------------------------------------------------


def start_server(args: argparse.Namespace, port: int, log_path: Path) -> subprocess.Popen:
    granian = Path(args.our_venv) / 'bin' / 'granian'
    argv = [
        *('taskset', '-c', args.server_cpu, str(granian)),
        *('--interface', args.interface, '--host', '127.0.0.1', '--port', str(port)),
        *('--workers', '1', '--limit-concurrency', str(args.limit), '--working-dir', str(APPS)),
        f'overload_app:{args.interface}',
    ]
    with open(log_path, 'wb') as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'the server exited with {proc.returncode}; see {log_path}')
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=2) as s:
                s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                if s.recv(64).startswith(b'HTTP/1.1 200'):
                    return proc
        except OSError:
            pass
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError('the server did not become ready')


# --- wrk -----------------------------------------------------------------------------------------


def run_wrk(args: argparse.Namespace, port: int, connections: int, seconds: float, script: Path, name: str) -> Run:
    cmd = [
        *(
            'taskset',
            '-c',
            args.load_cpu,
            'wrk',
            '-t1',
            f'-c{connections}',
            f'-d{max(1, round(seconds))}s',
            '--timeout',
            '10s',
        ),
        *('-s', str(script), f'http://127.0.0.1:{port}/'),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    run = Run(name, 'wrk', connections, seconds)
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ['STATUS']:
            run.statuses[int(parts[1])] = run.statuses.get(int(parts[1]), 0) + int(parts[2])
        elif parts[:1] == ['LATENCY']:
            run.overall = (int(parts[1]) / 1000, int(parts[2]) / 1000)
        elif parts[:1] == ['SPLIT']:
            low, p50, p99 = (int(v) / 1000 for v in parts[1:4])
            run.split = (low, p50, p99)
        elif parts[:1] == ['ERRORS']:
            run.errors = int(parts[1])
        elif parts[:1] == ['DURATION']:
            run.seconds = int(parts[1]) / 1e6
    return run


# --- the asyncio client --------------------------------------------------------------------------


async def _connection(port: int, start: float, end: float, run: Run) -> None:
    """One client connection: request, wait, repeat until `end`; reconnects after `connection: close`."""
    reader = writer = None
    latencies = run.latencies
    assert latencies is not None
    while time.monotonic() < end:
        sent = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection('127.0.0.1', port)
            assert reader is not None
            sent = time.monotonic()
            writer.write(REQUEST)
            head = await reader.readuntil(b'\r\n\r\n')
            lines = head.decode('latin-1').lower().split('\r\n')
            status = int(lines[0][9:12])
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(':')
                if name == 'content-length':
                    length = int(value)
                elif name == 'connection' and 'close' in value:
                    close = True
            if length:
                await reader.readexactly(length)
            done = time.monotonic()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            if sent >= start:
                run.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        if sent >= start and done <= end:
            run.statuses[status] = run.statuses.get(status, 0) + 1
            latencies.setdefault(status, []).append((done - sent) * 1000)
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _lag(end: float, lags: list[float]) -> None:
    """How late the client's own event loop wakes a 5 ms sleep (its lag adds to every latency)."""
    while time.monotonic() < end:
        before = time.monotonic()
        await asyncio.sleep(0.005)
        lags.append((time.monotonic() - before - 0.005) * 1000)


async def _client(port: int, connections: int, seconds: float, warmup: float, run: Run) -> None:
    start = time.monotonic() + warmup
    lags: list[float] = []
    await asyncio.gather(
        _lag(start + seconds, lags), *(_connection(port, start, start + seconds, run) for _ in range(connections))
    )
    lags.sort()
    run.lag_p99 = lags[int(len(lags) * 0.99)] if lags else None


def run_client(port: int, connections: int, seconds: float, warmup: float, name: str) -> Run:
    run = Run(name, 'asyncio client', connections, seconds, latencies={})
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(_client(port, connections, seconds, warmup, run))
    return run


# --- report --------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return '-' if value is None else f'{value:.1f}'


def table(runs: list[Run]) -> str:
    rows = [
        '| run | load | conns | req/s | 2xx | 503 | other | socket errors | 2xx p50 ms | 2xx p99 ms '
        '| 503 p99 ms | client lag p99 ms | server CPU: ours / others |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for run in runs:
        other = run.total - run.ok - run.statuses.get(503, 0)
        refused = run.percentile(503, 99) if run.latencies is not None else None
        refused_text = fmt(refused)
        if run.latencies is None and run.separated and run.ok < run.total:
            refused_text = f'max {fmt(run.split[0])}'  # type: ignore[index]
        rows.append(
            f'| {run.name} | {run.tool} | {run.connections} | {run.total / run.seconds:.0f} | {run.ok} '
            f'| {run.statuses.get(503, 0)} | {other} | {run.errors} | {run.fmt_admitted(50)} '
            f'| {run.fmt_admitted(99)} | {refused_text} | {fmt(run.lag_p99)} '
            f'| {run.cpu_ours:.0%} / {run.cpu_others:.0%} |'
        )
    return '\n'.join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('-i', '--interface', default='asgi', choices=('asgi', 'rsgi'))
    ap.add_argument('--limit', type=int, default=64, help='--limit-concurrency of the server')
    ap.add_argument('-d', '--duration', type=float, default=10.0, help='seconds per measured run')
    ap.add_argument('-w', '--warmup', type=float, default=2.0, help='unmeasured seconds before each run')
    ap.add_argument('--unloaded', type=int, default=16, help='connections of the unloaded runs')
    ap.add_argument('--overloaded', type=int, default=512, help='connections of the overloaded runs')
    ap.add_argument('--our-venv', default=str(REPO / '.venv'))
    ap.add_argument('--server-cpu', default='0', help='one CPU (its load is reported)')
    ap.add_argument('--load-cpu', default='1')
    ap.add_argument('--out', help='directory for results.md, results.json and the server log')
    args = ap.parse_args()
    for tool in ('wrk', 'taskset'):
        if shutil.which(tool) is None:
            ap.error(f'{tool} is not installed')
    os.sched_setaffinity(0, {int(cpu) for cpu in args.load_cpu.split(',')})

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix='overload-'))
    out.mkdir(parents=True, exist_ok=True)
    script = out / 'statuses.lua'
    script.write_text(WRK_SCRIPT)
    log_path = out / 'server.log'
    port = free_port()
    server_cpu = int(args.server_cpu.split(',')[0])
    proc = start_server(args, port, log_path)
    runs: list[Run] = []
    try:
        for name, kind, conns in (
            ('unloaded', 'wrk', args.unloaded),
            ('unloaded', 'client', args.unloaded),
            ('overloaded', 'client', args.overloaded),
            ('overloaded', 'wrk', args.overloaded),
        ):
            print(f'{name} ({kind}, {conns} connections, {args.duration:g} s)...', file=sys.stderr)
            if kind == 'wrk':
                run_wrk(args, port, conns, args.warmup, script, 'warm-up')
                with CpuWatch(server_cpu, proc.pid) as cpu:
                    run = run_wrk(args, port, conns, args.duration, script, name)
            else:
                # (The warm-up is in the watched time here: it is the same load.)
                with CpuWatch(server_cpu, proc.pid) as cpu:
                    run = run_client(port, conns, args.duration, args.warmup, name)
            run.cpu_ours, run.cpu_others = cpu.ours, cpu.others
            runs.append(run)
            if proc.poll() is not None:
                raise RuntimeError(f'the server died; see {log_path}')
    finally:
        stop(proc)

    log = log_path.read_text(errors='replace')
    warned = [int(n) for n in WARNING.findall(log)]
    non_2xx = {status for run in runs for status in run.statuses if not 200 <= status < 300}

    def ratio(over: Run, under: Run) -> str:
        a, b = over.admitted(99), under.admitted(99)
        if a is None or b is None:
            return f'{over.tool}: no admitted request'
        kind = '' if over.latencies is not None or over.separated else ' at most (upper bound)'
        return f'{over.tool}: {a:.1f} / {b:.1f} ms = **{a / b:.2f}x**{kind}'

    verdict = [
        f'admitted p99 overloaded / unloaded p99 (target <= 2x): {ratio(runs[3], runs[0])}; '
        f'{ratio(runs[2], runs[1])} (with its own loop lag)',
        f'non-2xx statuses seen: {sorted(non_2xx) or "none"} (every one a 503: {non_2xx <= {503}})',
        f'refusal warnings logged: {len(warned)} lines counting {sum(warned)} refusals',
    ]
    report = '\n'.join(
        [
            f'Interface {args.interface}, --limit-concurrency {args.limit}, app waits 50 ms, 1 worker on CPU '
            f'{args.server_cpu}, load on CPU {args.load_cpu}, {args.duration:g} s per run after {args.warmup:g} s',
            '',
            table(runs),
            '',
            *(f'- {line}' for line in verdict if line),
        ]
    )
    print(report)
    (out / 'results.md').write_text(report + '\n')
    dump = [
        {**{k: v for k, v in run.__dict__.items() if k != 'latencies'}, 'p99_2xx': run.percentile(2, 99)}
        for run in runs
    ]
    (out / 'results.json').write_text(json.dumps(dump, indent=1, default=str))
    print(f'(raw results and the server log in {out})', file=sys.stderr)
    return 0 if non_2xx <= {503} else 1


if __name__ == '__main__':
    sys.exit(main())
