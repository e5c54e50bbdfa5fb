#!/usr/bin/env python3
"""Compare this repo's granian with reference servers, scenario by scenario.

For every selected scenario this runs the shared side-by-side harness (`bench.py` from the shared
bench directory) once, with our server as A and a reference server as B, and then prints one
Markdown table of ratios ours/reference: req/s (above 1 = we are faster), p99 latency and idle
RSS (below 1 = we are better). The table is ready to paste into docs/benchmarks.md.

Our server always runs from the repo's virtualenv by absolute path, the reference servers from a
separate virtualenv ($BENCH_VENV), also by absolute path: neither `granian` can shadow the other.

    .venv/bin/python benchmarks/run.py                       # default scenarios
    .venv/bin/python benchmarks/run.py --list                # what exists
    .venv/bin/python benchmarks/run.py -s rsgi-get -r 5      # one scenario, 5 rounds
    .venv/bin/python benchmarks/run.py --dry-run             # print the commands only
    .venv/bin/python benchmarks/run.py --against-self --our-args=--metrics   # metrics on / off

Standard library only, Python 3.10+. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / 'shared' / 'bench'
DEFAULT_OUR_VENV = REPO / '.venv'

# How to start each server: an executable in a virtualenv's bin/ plus its arguments. Our own
# placeholders are {interface}, {target} and {extra}; {host}, {port} and {apps} are left for
# bench.py to fill in. Every server runs 1 worker.
GRANIAN_ARGS = '--interface {interface} --host {host} --port {port} --working-dir {apps} --workers 1 {extra}{target}'
OURS = ('granian', GRANIAN_ARGS)
REFERENCES = {
    'granian': ('granian', GRANIAN_ARGS),
    'uvicorn': (
        'uvicorn',
        '--app-dir {apps} --host {host} --port {port} --workers 1 --loop uvloop --http httptools '
        '--no-access-log {target}',
    ),
    'gunicorn': (
        'gunicorn',
        '--chdir {apps} --bind {host}:{port} --workers 1 --worker-class gthread --threads 8 {target}',
    ),
    # Serves h2c with prior knowledge on the same port; finds the app through PYTHONPATH={apps}.
    'hypercorn': ('hypercorn', '--bind {host}:{port} --workers 1 --worker-class uvloop {target}'),
}
# The app module of the shared bench apps for each interface (same routes in all three).
TARGETS = {'rsgi': 'rsgi_app:app', 'asgi': 'asgi_app:app', 'wsgi': 'wsgi_app:app'}


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    interface: str  # rsgi | asgi | wsgi: selects the --interface flag and the bench app
    load: str  # a bench.py --scenario: get, get10k, get100k, post1k, h2
    reference: str = 'granian'  # a key of REFERENCES
    extra: str = ''  # extra flags for servers whose arguments have {extra} (granian), e.g. '--http 2'
    default: bool = True  # run without --scenario; off for what this build does not serve yet
    note: str = ''


SCENARIOS = [
    Scenario('rsgi-get', 'rsgi', 'get', note='GET / -> 13-byte body, keep-alive'),
    Scenario('rsgi-post1k', 'rsgi', 'post1k', note='POST /echo with a 1 KiB body, echoed back'),
    Scenario('rsgi-get10k', 'rsgi', 'get10k', note='GET /10k -> 10 KiB body'),
    Scenario('asgi-get', 'asgi', 'get'),
    Scenario('asgi-post1k', 'asgi', 'post1k'),
    Scenario('asgi-get10k', 'asgi', 'get10k'),
    Scenario('asgi-get-uvicorn', 'asgi', 'get', reference='uvicorn', note='uvicorn httptools + uvloop'),
    Scenario('asgi-post1k-uvicorn', 'asgi', 'post1k', reference='uvicorn', note='uvicorn httptools + uvloop'),
    Scenario('wsgi-get', 'wsgi', 'get'),
    Scenario('wsgi-post1k', 'wsgi', 'post1k'),
    Scenario('wsgi-get10k', 'wsgi', 'get10k'),
    Scenario('wsgi-get-gunicorn', 'wsgi', 'get', reference='gunicorn', note='gunicorn gthread, 1 worker x 8 threads'),
    Scenario('wsgi-post1k-gunicorn', 'wsgi', 'post1k', reference='gunicorn', default=False),
    Scenario('rsgi-h2', 'rsgi', 'h2', extra='--http 2', note='h2load, prior knowledge, 32 conns x 10 streams'),
    Scenario('asgi-h2', 'asgi', 'h2', extra='--http 2', note='h2load, prior knowledge, 32 conns x 10 streams'),
    Scenario('asgi-h2-hypercorn', 'asgi', 'h2', reference='hypercorn', extra='--http 2', note='hypercorn uvloop'),
]
BY_NAME = {s.name: s for s in SCENARIOS}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def command(server: tuple[str, str], venv: Path, scenario: Scenario, extra: str = '') -> str:
    """The shell command for one server, with bench.py's placeholders ({host}, {port}, {apps}) left in.
    `extra`: more flags for a server whose arguments have {extra} (our `--our-args`).

    The executable is an absolute path into `venv`, shell-quoted (bench.py runs the command through
    /bin/sh); braces in substituted values are doubled (bench.py applies str.format to the result).
    """
    exe, arguments = server
    values = {
        '{interface}': scenario.interface,
        '{target}': TARGETS[scenario.interface],
        '{extra}': ''.join(f'{flags} ' for flags in (scenario.extra, extra) if flags),
    }
    for key, value in values.items():
        arguments = arguments.replace(key, value)
    program = shlex.quote(str(venv / 'bin' / exe)).replace('{', '{{').replace('}', '}}')
    return f'{program} {arguments}'


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f'unknown ({exc.__class__.__name__})'
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else f'unknown (exit {out.returncode})'


def git_revision() -> str:
    def git(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(['git', '-C', str(REPO), *argv], capture_output=True, text=True)

    try:
        head, status = git('rev-parse', '--short', 'HEAD'), git('status', '--porcelain')
    except OSError:
        return 'unknown revision'
    rev = head.stdout.strip() if head.returncode == 0 else 'no commit'
    return rev + (' + uncommitted changes' if status.stdout.strip() else '')


def cpu_model() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def run_scenario(scenario: Scenario, args: argparse.Namespace, out_dir: Path) -> dict:
    """Run bench.py for one scenario; return its JSON report (or a failure record)."""
    ours = command(OURS, args.our_venv, scenario, args.our_args)
    if args.against_self:
        ref = command(OURS, args.our_venv, scenario)
    else:
        ref = command(REFERENCES[scenario.reference], args.bench_venv, scenario)
    reference = reference_name(scenario, args)
    json_path = out_dir / f'{scenario.name}.json'
    argv = [
        sys.executable,
        str(args.shared / 'bench.py'),
        '--scenario',
        scenario.load,
        '--a-name',
        'ours',
        '--a',
        ours,
        '--b-name',
        reference,
        '--b',
        ref,
        '--rounds',
        str(args.rounds),
        '--duration',
        str(args.duration),
        '--warmup',
        str(args.warmup),
        '--port',
        str(args.port),
        '--json',
        str(json_path),
    ]
    argv += ['--server-cpu', args.server_cpu, '--load-cpu', args.load_cpu]
    if args.keep_tmp:
        argv.append('--keep-tmp')
    log(f'=== {scenario.name}: {scenario.load}, ours vs {reference}')
    log(f'    A: {ours}\n    B: {ref}')
    if args.dry_run:
        log('    ' + shlex.join(argv))
        return {'failure': 'dry run'}
    # bench.py would put $BENCH_VENV/bin first on the servers' PATH: both commands are absolute
    # already, and our server must not see the reference venv at all.
    env = {k: v for k, v in os.environ.items() if k not in ('BENCH_VENV', 'VIRTUAL_ENV')}
    # bench.py's table goes to our stderr with its progress lines; our stdout is the Markdown.
    json_path.unlink(missing_ok=True)  # never read a report left by an earlier run in --out
    proc = subprocess.run(argv, stdout=sys.stderr, env=env)
    try:
        report = json.loads(json_path.read_text())
    except (OSError, ValueError):
        return {'failure': f'bench.py exited {proc.returncode} without a report'}
    if proc.returncode != 0 and not report.get('failure'):
        report['failure'] = f'bench.py exited {proc.returncode} (errors above 1%?)'
    return report


def reference_name(scenario: Scenario, args: argparse.Namespace) -> str:
    """B's name: the scenario's reference server, or `self` (our build without `--our-args`)."""
    return 'self' if args.against_self else scenario.reference


def ratio(num: float, den: float) -> float:
    return num / den if den else float('nan')


def fmt(value: float, digits: int = 2) -> str:
    return 'n/a' if value != value else f'{value:.{digits}f}'


def cell(text: str) -> str:
    """One line of free text made safe for a Markdown table cell."""
    first = text.strip().splitlines()[0] if text.strip() else ''
    return first.replace('|', '\\|')


def table_row(scenario: Scenario, report: dict, reference: str) -> str:
    summary = report.get('summary', {})
    a, b = summary.get('ours'), summary.get(reference)
    head = f'| {scenario.name} | {scenario.load} | {reference} '
    if not a or not b:
        return head + f'| failed: {cell(report.get("failure", "no result"))} |' + ' |' * 7
    rounds = report.get('rounds', {})
    paired = [
        ra['rps'] / rb['rps']
        for ra, rb in zip(rounds.get('ours', []), rounds.get(reference, []), strict=False)
        if rb['rps']
    ]
    flag = f' (incomplete: {cell(report["failure"])})' if report.get('failure') else ''
    cells = [
        f'**{fmt(ratio(a["rps"], b["rps"]))}**{flag}',
        f'{fmt(statistics.median(paired)) if paired else "n/a"} ({", ".join(fmt(p) for p in paired)})',
        f'{a["rps"]:.0f} / {b["rps"]:.0f}',
        f'**{fmt(ratio(a["p99_ms"], b["p99_ms"]))}**',
        f'{fmt(a["p99_ms"], 1)} / {fmt(b["p99_ms"], 1)}',
        f'**{fmt(ratio(a["idle_rss_mib"], b["idle_rss_mib"]))}**',
        f'{a["idle_rss_mib"]:.1f} / {b["idle_rss_mib"]:.1f}',
        f'{a["errors"]} / {b["errors"]}',
    ]
    return head + '| ' + ' | '.join(cells) + ' |'


def markdown(selected: list[Scenario], reports: dict[str, dict], args: argparse.Namespace) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    if args.against_self:
        reference = f'our own build without `{args.our_args}`'
    else:
        ref_granian = args.bench_venv / 'bin' / 'granian'
        reference = f'{tool_version([str(ref_granian), "--version"])}, `{args.bench_venv}`'
    ours = f' with `{args.our_args}`' if args.our_args else ''
    lines = [
        f'Measured {now} with `benchmarks/run.py` (rounds={args.rounds}, duration={args.duration}s, '
        f'warmup={args.warmup}s; server on CPU {args.server_cpu}, load on CPU {args.load_cpu}).',
        '',
        f'- ours: granian at {git_revision()}, `{args.our_venv}`{ours}',
        f'- reference: {reference}',
        f'- machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}, '
        f'Python {platform.python_version()}, {tool_version(["wrk", "--version"]).split(" [")[0]}',
        '',
        'Ratios are ours / reference within this run. req/s: above 1 = ours faster. p99 and idle RSS: '
        'below 1 = ours better. Absolute values are medians over rounds, this machine and this moment only. '
        'Idle RSS = whole process tree (main + 1 worker) just after readiness.',
        '',
        '| scenario | load | reference | **req/s ours/ref** | per-round ours/ref: median (rounds) '
        '| req/s ours / ref | **p99 ours/ref** | p99 ms ours / ref | **idle RSS ours/ref** '
        '| idle MiB ours / ref | errors ours / ref |',
        '|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    lines += [table_row(s, reports[s.name], reference_name(s, args)) for s in selected]
    return '\n'.join(lines) + '\n'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--shared',
        type=Path,
        default=Path(os.environ.get('BENCH_SHARED', DEFAULT_SHARED)),
        help=f'directory holding bench.py and apps/ (default $BENCH_SHARED or {DEFAULT_SHARED})',
    )
    parser.add_argument(
        '--bench-venv',
        type=Path,
        default=os.environ.get('BENCH_VENV'),
        help='virtualenv with the reference servers, outside this repo (default $BENCH_VENV)',
    )
    parser.add_argument(
        '--our-venv',
        type=Path,
        default=DEFAULT_OUR_VENV,
        help=f'virtualenv with our build (default {DEFAULT_OUR_VENV})',
    )
    parser.add_argument(
        '-s',
        '--scenario',
        action='append',
        choices=sorted(BY_NAME),
        metavar='NAME',
        help='run this scenario (repeatable; default: every default scenario, see --list)',
    )
    parser.add_argument('--list', action='store_true', help='list the scenarios and exit')
    parser.add_argument('-r', '--rounds', type=int, default=3, help='A/B rounds per scenario (default 3)')
    parser.add_argument('-d', '--duration', type=int, default=8, help='measured seconds per run (default 8)')
    parser.add_argument('-w', '--warmup', type=int, default=2, help='warm-up seconds per run (default 2)')
    parser.add_argument(
        '--port', type=int, default=int(os.environ.get('BENCH_PORT', '8765')), help='port (default 8765)'
    )
    parser.add_argument('--server-cpu', default='0', help='CPU list for the servers (default 0)')
    parser.add_argument('--load-cpu', default='1', help='CPU list for wrk (default 1)')
    parser.add_argument(
        '--out', type=Path, help='directory for the JSON reports and results.md (default: a new tmp dir)'
    )
    parser.add_argument(
        '--our-args', default='', help='extra flags for our server only, as --our-args=--metrics (default none)'
    )
    parser.add_argument(
        '--against-self',
        action='store_true',
        help='compare with our own build without --our-args instead of a reference server',
    )
    parser.add_argument('--dry-run', action='store_true', help='print the server commands, run nothing')
    parser.add_argument('--keep-tmp', action='store_true', help="keep bench.py's scratch dirs (server logs)")
    args = parser.parse_args(argv)

    if args.list:
        return args
    args.shared = args.shared.resolve()
    args.our_venv = args.our_venv.absolute()
    if not (args.shared / 'bench.py').is_file():
        parser.error(f'no bench.py in {args.shared} (use --shared)')
    if args.against_self:
        args.bench_venv = args.our_venv
    elif args.bench_venv is None:
        parser.error('set BENCH_VENV or --bench-venv to the virtualenv holding the reference servers')
    else:
        args.bench_venv = args.bench_venv.absolute()
        if args.bench_venv.resolve() == args.our_venv.resolve():
            parser.error('the reference virtualenv must not be ours')
    if not args.dry_run:
        if not (args.our_venv / 'bin' / 'granian').exists():
            parser.error(f'{args.our_venv}/bin/granian not found: run `make build` first')
        for tool in ('wrk', 'taskset'):
            if shutil.which(tool) is None:
                parser.error(f'{tool} not found on PATH (Debian: apt-get install wrk util-linux)')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            mark = 'default' if s.default else 'opt-in'
            print(f'{s.name:<20} {mark:<8} {s.interface} {s.load:<7} vs {s.reference:<14} {s.extra} {s.note}'.rstrip())
        return 0
    selected = [BY_NAME[n] for n in args.scenario] if args.scenario else [s for s in SCENARIOS if s.default]
    wanted = set() if args.against_self else {args.bench_venv / 'bin' / REFERENCES[s.reference][0] for s in selected}
    missing = sorted(str(exe) for exe in wanted if not exe.exists())
    if missing and not args.dry_run:
        log(f'error: reference server(s) not installed: {", ".join(missing)}')
        return 2

    if args.dry_run:
        out_dir = args.out or Path(tempfile.gettempdir(), 'granian-bench-XXXX')
    else:
        out_dir = args.out or Path(tempfile.mkdtemp(prefix='granian-bench-'))
        out_dir.mkdir(parents=True, exist_ok=True)
    reports = {s.name: run_scenario(s, args, out_dir) for s in selected}
    if args.dry_run:
        return 0

    text = markdown(selected, reports, args)
    (out_dir / 'results.md').write_text(text)
    print(text)
    log(f'reports: {out_dir}')
    return 1 if any(r.get('failure') for r in reports.values()) else 0


if __name__ == '__main__':
    sys.exit(main())
