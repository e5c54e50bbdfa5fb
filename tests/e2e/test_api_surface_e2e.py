"""The import surface, as a served app uses it: an RSGI app importing the `granian.rsgi` type
names (annotations, `isinstance`) serves HTTP and WebSocket requests."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from websockets.sync.client import connect

from conftest import APPS, base_env


@pytest.fixture(scope='module')
def typed(module_server):
    return module_server('rsgi_typed:app', '--interface', 'rsgi')


def test_typed_rsgi_app_answers_http(typed):
    resp = typed.post('/anything', content=b'payload')
    assert resp.status_code == 200, resp.text
    checks = resp.json()
    assert checks == {'scope': True, 'headers': True, 'errors': True, 'protocol': True, 'body': True}


def test_typed_rsgi_app_answers_websocket(typed):
    with connect(f'ws://127.0.0.1:{typed.port}/ws', open_timeout=5) as ws:
        checks = json.loads(ws.recv(timeout=5))
        assert checks == {'scope': True, 'headers': True, 'errors': True, 'protocol': True}
        ws.send('hello')
        assert ws.recv(timeout=5) == 'echo:hello'
        ws.send(b'\x00\x01')
        assert ws.recv(timeout=5) == b'\x00\x01'


EMBED_SCRIPT = """
import asyncio, sys
import httpx
from granian.server.embed import Server
sys.path.insert(0, sys.argv[1])
from rsgi_typed import app

async def main():
    server = Server(app, interface='rsgi', port=0)
    task = asyncio.create_task(server.serve())
    await server.wait_ready()
    async with httpx.AsyncClient() as client:
        resp = await client.get(f'http://127.0.0.1:{server.port}/')
    server.stop()
    await task
    print('STATUS', resp.status_code, resp.text)

asyncio.run(main())
"""


def test_typed_rsgi_app_served_by_the_embedded_server():
    result = subprocess.run(
        [sys.executable, '-c', EMBED_SCRIPT, str(APPS)], env=base_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = [line for line in result.stdout.splitlines() if line.startswith('STATUS ')]
    assert status and status[0].startswith('STATUS 200 '), result.stdout + result.stderr
