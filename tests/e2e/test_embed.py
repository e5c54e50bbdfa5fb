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


GRACEFUL_TIMEOUT_PROGRAM = """
import asyncio, sys
from granian.server.embed import Server

EVENTS = []

async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    EVENTS.append('request start')
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        EVENTS.append('request cancelled')
        raise

async def main():
    server = Server(app, interface='asginl', address='127.0.0.1', port=0, graceful_timeout=1)
    serving = asyncio.create_task(server.serve())
    await server.wait_ready()
    host_task = asyncio.create_task(asyncio.sleep(3600))
    reader, writer = await asyncio.open_connection('127.0.0.1', server.port)
    writer.write(b'GET / HTTP/1.1\\r\\nhost: x\\r\\n\\r\\n')
    while 'request start' not in EVENTS:
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    server.stop()
    await asyncio.wait_for(serving, 15)
    cut = await asyncio.wait_for(reader.read(), 5)
    print('EVENT', ' / '.join(EVENTS), flush=True)
    elapsed = loop.time() - started
    print('EVENT cut at the timeout', 0.9 <= elapsed < 10, 'bytes', len(cut), flush=True)
    print('EVENT host-task', 'cancelled' if host_task.cancelled() else 'running', flush=True)
    host_task.cancel()
    writer.close()

asyncio.run(main())
"""


def test_embedded_server_cancels_its_requests_at_the_graceful_timeout_and_leaves_host_tasks_alone():
    result = subprocess.run(
        [sys.executable, '-c', GRACEFUL_TIMEOUT_PROGRAM],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    events = [line.removeprefix('EVENT ') for line in result.stdout.splitlines() if line.startswith('EVENT ')]
    assert events == ['request start / request cancelled', 'cut at the timeout True bytes 0', 'host-task running'], (
        result.stdout + result.stderr
    )
    assert 'Task was destroyed' not in result.stderr and 'never awaited' not in result.stderr, result.stderr
