"""The embedded server (`granian.server.embed.Server`) inside a real asyncio program.

`tests/apps/embed_main.py` serves, requests, reloads, stops and cancels, twice over two event
loops; this test runs it as a process and checks what it printed.
"""

import os
import re
import subprocess
import sys

import pytest

from conftest import APPS, base_env


@pytest.mark.parametrize('interface', ['asgi', 'asginl', 'rsgi'])
def test_embedded_server_serves_reloads_and_stops_inside_an_asyncio_program(interface):
    result = subprocess.run(
        [sys.executable, str(APPS / 'embed_main.py'), interface],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    events = [line.split(' ', 2)[1:] for line in result.stdout.splitlines() if line.startswith('EVENT ')]
    assert [kind for kind, _ in events] == ['serving', 'responses', 'stopped'] * 2 + ['cancelled']
    serving = [detail for kind, detail in events if kind == 'serving']
    assert all(detail.endswith(f'policy={os.SCHED_OTHER}') for detail in serving), 'host thread policy unchanged'
    name = 'rsgi' if interface == 'rsgi' else 'asgi'
    responses = [detail for kind, detail in events if kind == 'responses']
    for detail in responses:
        assert re.fullmatch(rf"200 '{name} \d+( 10)?' 200 '{name} \d+( 0)?'", detail), detail
    expected = {
        'asgi': "['lifespan.startup', 'lifespan.shutdown', 'lifespan.startup', 'lifespan.shutdown']",
        'asginl': '[]',
        'rsgi': "['rsgi_init running=True', 'rsgi_del', 'rsgi_init running=True', 'rsgi_del']",
    }[interface]
    assert [detail for kind, detail in events if kind == 'stopped'] == [f'lifecycle={expected}'] * 2
    cancelled = [detail for kind, detail in events if kind == 'cancelled'][0]
    assert cancelled.count('shutdown') + cancelled.count('rsgi_del') == (0 if interface == 'asginl' else 1)


WRONG_INTERFACE_PROGRAM = """
import asyncio, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(levelname)s %(message)s')
from granian.server.embed import Server

async def app(scope, receive, send):
    pass

async def main():
    server = Server(app, interface='rsgi', address='127.0.0.1', port=0)
    task = asyncio.create_task(server.serve())
    await server.wait_ready()
    server.stop()
    await asyncio.wait_for(task, 10)

asyncio.run(main())
"""


def test_embedded_server_warns_when_the_app_looks_like_another_interface():
    result = subprocess.run(
        [sys.executable, '-c', WRONG_INTERFACE_PROGRAM],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith('WARNING ')]
    assert warnings == [
        "WARNING app '__main__:app' looks like an ASGI application but --interface is rsgi: run with --interface asgi"
    ], result.stdout
