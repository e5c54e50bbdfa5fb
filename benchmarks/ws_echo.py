#!/usr/bin/env python3
"""WebSocket benchmark: our granian vs the reference granian, echo throughput and idle memory.

Builds the load generator `benchmarks/wsload` (Rust, one thread) once, then for every scenario
and every round starts our server, then the reference, each pinned to one CPU with 1 worker and
the echo apps of `benchmarks/apps/`, waits until GET / answers, loads it with wsload pinned to
another CPU and stops it. Prints Markdown tables of ratios ours/reference:

- `*-echo`: 64 connections, each sending a 32-byte text message and awaiting its echo in a loop;
  messages/s (above 1 = we are faster) and p99 round trip (below 1 = ours lower).
- `*-idle10k`: RSS of the server's process tree before and with 10,000 open, idle WebSocket
  connections (each did one echo); KiB per connection (below 1 = we use less).

    BENCH_VENV=/work/refvenv .venv/bin/python benchmarks/ws_echo.py --out /tmp/ws-bench
    .venv/bin/python benchmarks/ws_echo.py --bench-venv /work/refvenv -s rsgi-echo -r 1 -d 3

Standard library only. Loopback only; every process started is stopped before exit.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import json
import os
import platform
import re
import resource
import selectors
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from idle_conns import tree_rss_kib, wait_ready
from run import cell, cpu_model, fmt, git_revision, ratio, tool_version
from serverproc import stop

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
APPS = BENCH / 'apps'
WSLOAD_MANIFEST = BENCH / 'wsload' / 'Cargo.toml'
WSLOAD = BENCH / 'wsload' / 'target' / 'release' / 'wsload'
HOST = '127.0.0.1'
SERVERS = ('ours', 'ref')
# Both servers must admit every idle connection at once (their defaults are about 1024).
MIN_IDLE_BACKPRESSURE = 20000


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    interface: str  # asgi | rsgi: --interface and the app benchmarks/apps/ws_<interface>.py
    load: str  # echo | idle
    connections: int
    note: str = ''


SCENARIOS = [
    Scenario('asgi-echo', 'asgi', 'echo', 64, '64 conns x 1 message in flight, 32-byte text'),
    Scenario('rsgi-echo', 'rsgi', 'echo', 64, '64 conns x 1 message in flight, 32-byte text'),
    Scenario('asgi-idle10k', 'asgi', 'idle', 10000, '10,000 open idle connections, RSS growth'),
    Scenario('rsgi-idle10k', 'rsgi', 'idle', 10000, '10,000 open idle connections, RSS growth'),
]
BY_NAME = {s.name: s for s in SCENARIOS}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class RunError(Exception):
    pass


def connections(scenario: Scenario, args: argparse.Namespace) -> int:
    return args.connections or scenario.connections


def server_argv(venv: Path, scenario: Scenario, args: argparse.Namespace) -> list[str]:
    argv = [str(venv / 'bin' / 'granian'), '--interface', scenario.interface, '--workers', '1']
    argv += ['--host', HOST, '--port', str(args.port), '--working-dir', str(APPS)]
    if scenario.load == 'idle':
        argv += ['--backpressure', str(max(MIN_IDLE_BACKPRESSURE, 2 * connections(scenario, args)))]
    return [*argv, f'ws_{scenario.interface}:app']


def wsload_argv(scenario: Scenario, args: argparse.Namespace) -> list[str]:
    argv = ['taskset', '-c', args.load_cpu, str(WSLOAD), scenario.load, '--host', HOST, '--port', str(args.port)]
    argv += ['--connections', str(connections(scenario, args))]
    if scenario.load == 'echo':
        argv += ['--duration', str(args.duration), '--warmup', str(args.warmup), '--size', str(args.size)]
    else:
        argv += ['--timeout', '30']
    return argv


def wait_port_free(port: int, timeout: float = 15.0) -> None:
    """Wait until nothing listens on `port` any more (the previous server has let go of it)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RunError(f'port {port} still busy') from None
        time.sleep(0.2)


def rss_median_kib(pid: int, samples: int = 5, every: float = 0.2) -> int:
    values = []
    for i in range(samples):
        if i:
            time.sleep(every)
        values.append(tree_rss_kib(pid))
    return int(statistics.median(values))


def last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith('{'):
            return json.loads(line)
    raise RunError('wsload printed no result')


def read_line(stream, timeout: float) -> str:
    """One line from a pipe, or '' after `timeout` seconds."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ''
    return stream.readline()


def run_echo(scenario: Scenario, args: argparse.Namespace, proc: subprocess.Popen) -> dict:
    argv = wsload_argv(scenario, args)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=args.warmup + args.duration + 90)
    except subprocess.TimeoutExpired:
        raise RunError('wsload echo did not finish in time') from None
    if out.stderr.strip():
        log('    wsload: ' + out.stderr.strip().replace('\n', '\n    wsload: '))
    result = last_json(out.stdout)
    if proc.poll() is not None:
        raise RunError(f'server exited with {proc.returncode} during the load')
    if not result['messages']:
        raise RunError(f'no echo measured: {result.get("first_error")}')
    return result


def run_idle(scenario: Scenario, args: argparse.Namespace, proc: subprocess.Popen) -> dict:
    n = connections(scenario, args)
    time.sleep(0.7)  # on top of the 0.3 s before the idle sample: 1 s after readiness, as idle_conns.py
    before = rss_median_kib(proc.pid, samples=3)
    load = subprocess.Popen(
        wsload_argv(scenario, args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = read_line(load.stdout, timeout=180)
        if not line:
            raise RunError(f'wsload idle: no "open" line within 180 s (exit {load.poll()})')
        opened = json.loads(line)
        time.sleep(2.0)  # let the server's allocations settle
        with_conns = rss_median_kib(proc.pid)
        server_alive = proc.poll() is None
        rest, err = load.communicate(timeout=60)  # closes wsload's stdin: it prints "done" and exits
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    if err.strip():
        log('    wsload: ' + err.strip().replace('\n', '\n    wsload: '))
    done = last_json(rest)
    if not server_alive:
        raise RunError(f'server exited with {proc.returncode} while holding the connections')
    up = opened['open']
    if not up:
        raise RunError(f'no connection opened: {opened.get("first_error")}')
    return {
        'connections': n,
        'open': up,
        'open_s': opened['open_s'],
        'rss_before_kib': before,
        'rss_with_kib': with_conns,
        'kib_per_conn': (with_conns - before) / up,
        'errors': opened['errors'] + done['dropped'],
        'first_error': opened.get('first_error') or done.get('first_drop'),
        'pings': done['pings'],
        'held_s': done['held_s'],
    }


def log_notes(path: Path) -> list[str]:
    """Distinct server log lines worth a look (errors, warnings, exception lines), with counts."""
    try:
        lines = path.read_text(errors='replace').splitlines()
    except OSError:
        return []
    exception = re.compile(r'^[A-Za-z_][\w.]*(Error|Exception|Closed|Interrupt)\b')
    notable = [
        line.strip() for line in lines if any(k in line for k in ('ERROR', 'WARN', 'panicked')) or exception.match(line)
    ]
    return [f'{n} x {line}' for line, n in collections.Counter(notable).most_common(5)]


def one_run(scenario: Scenario, server: str, venv: Path, args: argparse.Namespace, rnd: int) -> dict:
    argv = server_argv(venv, scenario, args)
    log_path = args.out / 'logs' / f'{scenario.name}-{server}-r{rnd}.log'
    wait_port_free(args.port)
    env = {k: v for k, v in os.environ.items() if k not in ('BENCH_VENV', 'VIRTUAL_ENV')}
    with open(log_path, 'wb') as logf:
        proc = subprocess.Popen(
            ['taskset', '-c', args.server_cpu, *argv],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(REPO),
            start_new_session=True,
        )
    stop_s = None
    try:
        try:
            wait_ready(args.port, proc)
        except RuntimeError as exc:
            raise RunError(f'{exc}; log: {log_path}') from None
        time.sleep(0.3)
        idle_rss = tree_rss_kib(proc.pid)
        result = (run_echo if scenario.load == 'echo' else run_idle)(scenario, args, proc)
    finally:
        t0 = time.monotonic()
        stop(proc)
        stop_s = time.monotonic() - t0
    result.update(idle_rss_kib=idle_rss, stop_s=round(stop_s, 2), exit_code=proc.returncode, log=str(log_path))
    notes = log_notes(log_path)
    if notes:
        result['log_notes'] = notes
    return result


def summarize(runs: list[dict], load: str) -> dict | None:
    ok = [r for r in runs if 'failure' not in r]
    if not ok:
        return None

    def med(key: str) -> float:
        return statistics.median(r[key] for r in ok)

    summary = {'rounds_ok': len(ok), 'errors': sum(r['errors'] for r in ok), 'idle_rss_mib': med('idle_rss_kib') / 1024}
    if load == 'echo':
        summary.update(msgs_per_s=med('msgs_per_s'), p50_ms=med('p50_ms'), p99_ms=med('p99_ms'))
    else:
        summary.update(
            kib_per_conn=med('kib_per_conn'),
            rss_before_mib=med('rss_before_kib') / 1024,
            rss_with_mib=med('rss_with_kib') / 1024,
            open_s=med('open_s'),
        )
    return summary


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> dict:
    venvs = {'ours': args.our_venv, 'ref': args.bench_venv}
    rounds: dict[str, list[dict]] = {s: [] for s in SERVERS}
    log(f'=== {scenario.name}: {scenario.note}')
    for server in SERVERS:
        log(f'    {server}: {shlex.join(server_argv(venvs[server], scenario, args))}')
    log(f'    load: {shlex.join(wsload_argv(scenario, args))}')
    for rnd in range(1, args.rounds + 1):
        for server in SERVERS:
            try:
                r = one_run(scenario, server, venvs[server], args, rnd)
            except (RunError, OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
                r = {'failure': f'{exc.__class__.__name__}: {exc}' if not isinstance(exc, RunError) else str(exc)}
                log(f'    round {rnd} {server}: FAILED {r["failure"]}')
            else:
                limit = 0.01 * connections(scenario, args)
                if r['errors'] > limit:
                    r['failure'] = f'{r["errors"]} errors (first: {r.get("first_error")})'
                log(f'    round {rnd} {server}: {describe(r, scenario.load)}')
                for note in r.get('log_notes', []):
                    log(f'        server log: {note}')
            rounds[server].append(r)
    failures = [f'{s} r{i + 1}: {r["failure"]}' for s in SERVERS for i, r in enumerate(rounds[s]) if 'failure' in r]
    report = {
        'scenario': dataclasses.asdict(scenario),
        'config': {
            'rounds': args.rounds,
            'duration_s': args.duration,
            'warmup_s': args.warmup,
            'size': args.size,
            'connections': connections(scenario, args),
            'server_cpu': args.server_cpu,
            'load_cpu': args.load_cpu,
            'servers': {s: server_argv(venvs[s], scenario, args) for s in SERVERS},
            'load': wsload_argv(scenario, args),
        },
        'rounds': rounds,
        'summary': {s: summarize(rounds[s], scenario.load) for s in SERVERS},
    }
    if failures:
        report['failure'] = '; '.join(failures)
    (args.out / f'{scenario.name}.json').write_text(json.dumps(report, indent=2) + '\n')
    return report


def describe(r: dict, load: str) -> str:
    err = f', {r["errors"]} errors (first: {r.get("first_error")})' if r['errors'] else ''
    if load == 'echo':
        return (
            f'{r["msgs_per_s"]:.0f} msg/s, p50 {r["p50_ms"]:.2f} ms, p99 {r["p99_ms"]:.2f} ms, '
            f'idle {r["idle_rss_kib"] / 1024:.1f} MiB, stop {r["stop_s"]} s{err}'
        )
    return (
        f'{r["open"]}/{r["connections"]} open in {r["open_s"]:.2f} s, RSS {r["rss_before_kib"] / 1024:.1f} -> '
        f'{r["rss_with_kib"] / 1024:.1f} MiB ({r["kib_per_conn"]:.2f} KiB/conn), pings {r["pings"]}, '
        f'stop {r["stop_s"]} s{err}'
    )


def paired(report: dict, key: str) -> str:
    values = [
        a[key] / b[key]
        for a, b in zip(report['rounds']['ours'], report['rounds']['ref'], strict=False)
        if 'failure' not in a and 'failure' not in b and b[key]
    ]
    if not values:
        return 'n/a'
    return f'{fmt(statistics.median(values))} ({", ".join(fmt(v) for v in values)})'


def table_row(scenario: Scenario, report: dict) -> str:
    a, b = report['summary']['ours'], report['summary']['ref']
    head = f'| {scenario.name} '
    width = 7
    if not a or not b:
        return head + f'| failed: {cell(report.get("failure", "no result"))} |' + ' |' * (width - 1)
    flag = f' (incomplete: {cell(report["failure"])})' if report.get('failure') else ''
    if scenario.load == 'echo':
        cells = [
            f'**{fmt(ratio(a["msgs_per_s"], b["msgs_per_s"]))}**{flag}',
            paired(report, 'msgs_per_s'),
            f'{a["msgs_per_s"]:.0f} / {b["msgs_per_s"]:.0f}',
            f'**{fmt(ratio(a["p99_ms"], b["p99_ms"]))}**',
            f'{fmt(a["p99_ms"])} / {fmt(b["p99_ms"])} (p50 {fmt(a["p50_ms"])} / {fmt(b["p50_ms"])})',
            f'{a["idle_rss_mib"]:.1f} / {b["idle_rss_mib"]:.1f}',
            f'{a["errors"]} / {b["errors"]}',
        ]
    else:
        cells = [
            f'**{fmt(ratio(a["kib_per_conn"], b["kib_per_conn"]))}**{flag}',
            paired(report, 'kib_per_conn'),
            f'{fmt(a["kib_per_conn"])} / {fmt(b["kib_per_conn"])}',
            f'{a["rss_before_mib"]:.1f} / {b["rss_before_mib"]:.1f}',
            f'{a["rss_with_mib"]:.1f} / {b["rss_with_mib"]:.1f}',
            f'{fmt(a["open_s"])} / {fmt(b["open_s"])}',
            f'{a["errors"]} / {b["errors"]}',
        ]
    return head + '| ' + ' | '.join(cells) + ' |'


def markdown(selected: list[Scenario], reports: dict[str, dict], args: argparse.Namespace) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    lines = [
        f'Measured {now} with `benchmarks/ws_echo.py` (rounds={args.rounds}, duration={args.duration}s, '
        f'warmup={args.warmup}s; server on CPU {args.server_cpu}, wsload on CPU {args.load_cpu}).',
        '',
        f'- ours: granian at {git_revision()}, `{args.our_venv}`',
        f'- reference: {tool_version([str(args.bench_venv / "bin" / "granian"), "--version"])}, `{args.bench_venv}`',
        f'- machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}, '
        f'Python {platform.python_version()}',
        '',
        'Ratios are ours / reference within this run; absolute values are medians over rounds, this machine '
        'and this moment only. RSS = whole server process tree (main + 1 worker).',
    ]
    echo = [s for s in selected if s.load == 'echo']
    idle = [s for s in selected if s.load == 'idle']
    if echo:
        n = {connections(s, args) for s in echo}
        lines += [
            '',
            f'Echo: {"/".join(map(str, sorted(n)))} connections, each with one {args.size}-byte text message '
            'in flight. msg/s: above 1 = ours faster; p99 round trip: below 1 = ours lower.',
            '',
            '| scenario | **msg/s ours/ref** | per-round ours/ref: median (rounds) | msg/s ours / ref '
            '| **p99 ours/ref** | p99 ms ours / ref (p50) | idle RSS MiB ours / ref | errors ours / ref |',
            '|---|---|---|---|---|---|---|---|',
        ]
        lines += [table_row(s, reports[s.name]) for s in echo]
    if idle:
        n = {connections(s, args) for s in idle}
        lines += [
            '',
            f'Idle: {"/".join(map(str, sorted(n)))} WebSocket connections open at once, each after one echo. '
            'KiB/conn = (RSS with them - RSS before) / connections; below 1 = ours uses less.',
            '',
            '| scenario | **KiB/conn ours/ref** | per-round ours/ref: median (rounds) | KiB/conn ours / ref '
            '| RSS MiB before ours / ref | RSS MiB with conns ours / ref | open s ours / ref | errors ours / ref |',
            '|---|---|---|---|---|---|---|---|',
        ]
        lines += [table_row(s, reports[s.name]) for s in idle]
    return '\n'.join(lines) + '\n'


def raise_nofile(needed: int) -> None:
    """Raise our soft open-files limit (inherited by the servers) to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise SystemExit(f'error: open-files limit {soft} is below the {needed} an idle scenario needs')


def build_wsload() -> None:
    argv = ['cargo', 'build', '--release', '--manifest-path', str(WSLOAD_MANIFEST)]
    log(f'$ {shlex.join(argv)}')
    proc = subprocess.run(argv, cwd=str(REPO), stdout=sys.stderr)
    if proc.returncode != 0 or not WSLOAD.exists():
        raise SystemExit(f'error: building wsload failed (exit {proc.returncode})')


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '-s',
        '--scenario',
        action='append',
        choices=sorted(BY_NAME),
        metavar='NAME',
        help='run this scenario (repeatable; default: all, see --list)',
    )
    parser.add_argument('--list', action='store_true', help='list the scenarios and exit')
    parser.add_argument('-r', '--rounds', type=int, default=3, help='rounds, each ours then reference (default 3)')
    parser.add_argument('-d', '--duration', type=float, default=8, help='echo: measured seconds per run (default 8)')
    parser.add_argument('-w', '--warmup', type=float, default=2, help='echo: warm-up seconds per run (default 2)')
    parser.add_argument(
        '--connections', type=int, help='connections per run (default: 64 for echo, 10000 for idle scenarios)'
    )
    parser.add_argument('--size', type=int, default=32, help='echo: message size in bytes (default 32)')
    parser.add_argument(
        '--bench-venv',
        type=Path,
        default=os.environ.get('BENCH_VENV'),
        help='virtualenv with the reference granian, outside this repo (default $BENCH_VENV)',
    )
    parser.add_argument(
        '--our-venv', type=Path, default=REPO / '.venv', help=f'virtualenv with our build (default {REPO / ".venv"})'
    )
    parser.add_argument(
        '--port', type=int, default=int(os.environ.get('BENCH_PORT', '8765')), help='port (default 8765)'
    )
    parser.add_argument('--server-cpu', default='0', help='CPU list for the servers (default 0)')
    parser.add_argument('--load-cpu', default='1', help='CPU list for wsload (default 1)')
    parser.add_argument('--out', type=Path, help='directory for JSON reports, results.md and server logs')
    parser.add_argument('--no-build', action='store_true', help='use the wsload binary already built')
    args = parser.parse_args(argv)
    if args.list:
        return args
    if args.bench_venv is None:
        parser.error('set BENCH_VENV or --bench-venv to the virtualenv holding the reference granian')
    args.bench_venv = args.bench_venv.absolute()
    args.our_venv = args.our_venv.absolute()
    if args.bench_venv.resolve() == args.our_venv.resolve():
        parser.error('the reference virtualenv must not be ours')
    for venv in (args.our_venv, args.bench_venv):
        if not (venv / 'bin' / 'granian').exists():
            parser.error(f'{venv}/bin/granian not found')
    if args.rounds < 1 or args.duration <= 0 or args.warmup < 0 or args.size < 1:
        parser.error('--rounds, --duration and --size must be positive, --warmup not negative')
    if args.connections is not None and args.connections < 1:
        parser.error('--connections must be positive')
    for tool in ('taskset', 'cargo'):
        if shutil.which(tool) is None:
            parser.error(f'{tool} not found on PATH')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f'{s.name:<14} {s.interface} {s.load:<5} {s.connections:>6} conns  {s.note}')
        return 0
    selected = [BY_NAME[n] for n in dict.fromkeys(args.scenario)] if args.scenario else list(SCENARIOS)
    idle_conns = [connections(s, args) for s in selected if s.load == 'idle']
    raise_nofile(max(idle_conns, default=0) + 256)
    args.out = (args.out or Path(tempfile.mkdtemp(prefix='granian-ws-bench-'))).absolute()
    (args.out / 'logs').mkdir(parents=True, exist_ok=True)
    if not args.no_build:
        build_wsload()
    elif not WSLOAD.exists():
        log(f'error: {WSLOAD} not built (drop --no-build)')
        return 2

    reports = {s.name: run_scenario(s, args) for s in selected}
    text = markdown(selected, reports, args)
    (args.out / 'results.md').write_text(text)
    print(text)
    log(f'reports: {args.out}')
    return 1 if any(r.get('failure') for r in reports.values()) else 0


if __name__ == '__main__':
    sys.exit(main())
