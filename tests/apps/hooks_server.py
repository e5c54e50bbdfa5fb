"""Runs `Granian(...)` with on_startup / on_reload / on_shutdown hooks (tests/e2e/test_lifecycle.py).

Usage: `python hooks_server.py PORT`; each hook appends one line to `$HOOKS_FILE`:
`<hook> children=<PIDs of our child processes> listening=<yes|no>`.
"""

import os
import socket
import sys
from pathlib import Path

from granian import Granian

HERE = Path(__file__).resolve().parent
PORT = int(sys.argv[1])


def children():
    """PIDs of the live child processes of this process (Linux /proc scan)."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2 :].split()
        if int(fields[1]) == os.getpid() and fields[0] != 'Z':
            found.append(int(entry.name))
    return sorted(found)


def listening():
    with socket.socket() as sock:
        return 'yes' if sock.connect_ex(('127.0.0.1', PORT)) == 0 else 'no'


def mark(hook):
    with open(os.environ['HOOKS_FILE'], 'a') as file:
        file.write(f'{hook} children={",".join(map(str, children()))} listening={listening()}\n')


server = Granian('rsgi_basic:app', address='127.0.0.1', port=PORT, working_dir=HERE, workers=2, respawn_interval=0.2)


@server.on_startup
def on_startup():
    mark('startup')


@server.on_reload
def on_reload():
    mark('reload')


@server.on_shutdown
def on_shutdown():
    mark('shutdown')


if __name__ == '__main__':
    server.serve()
