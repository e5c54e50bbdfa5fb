"""`Engine.serve` takes the interface by name and refuses any other before touching the loop."""

from __future__ import annotations

import asyncio
import socket

import pytest

from granian import _granian
from granian.config import build_config


def test_an_unknown_interface_is_refused_before_serving():
    loop = asyncio.new_event_loop()
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen()
        engine = _granian.Engine(sock.fileno(), build_config('main:app').engine_settings(sched_batch=False))
        try:
            with pytest.raises(
                ValueError, match=r"unknown interface: \"asginl\" \(expected 'rsgi', 'asgi' or 'wsgi'\)"
            ):
                engine.serve('asginl', loop, lambda *a: None, lambda *a: None, None, lambda: None)
            with pytest.raises(TypeError):
                engine.serve(3, loop, lambda *a: None, lambda *a: None, None, lambda: None)
            # Nothing was started: the engine can still be told to stop and joined.
            engine.stop()
            engine.join()
        finally:
            loop.close()


def test_a_request_limit_needs_its_callback_before_serving():
    loop = asyncio.new_event_loop()
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen()
        config = build_config('main:app', limit_max_requests=5)
        engine = _granian.Engine(sock.fileno(), config.engine_settings(sched_batch=False))
        try:
            with pytest.raises(ValueError, match='needs an on_max_requests callback'):
                engine.serve('rsgi', loop, lambda *a: None, lambda *a: None, None, lambda: None)
            engine.stop()
            engine.join()
        finally:
            loop.close()
