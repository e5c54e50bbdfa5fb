"""A worker's side of ``--metrics``: every ``--metrics-scrape-interval`` seconds, one snapshot of
the engine's metrics (``Engine.metrics()``) goes to the supervisor as one datagram,
``[slot, pid, snapshot]`` in JSON. The send never blocks: when the supervisor's socket buffer is
full the snapshot is dropped (the next one carries the same counters, only later).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from typing import Any

from ..log import RUNTIME_LOGGER

__all__ = ['MetricsPusher']

logger = logging.getLogger(RUNTIME_LOGGER)


class MetricsPusher:
    def __init__(self, loop: asyncio.AbstractEventLoop, engine: Any, fd: int, slot: int, interval: float) -> None:
        self._loop = loop
        self._engine = engine
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)
        self._slot = slot
        self._pid = os.getpid()
        self._interval = interval
        self._timer: asyncio.TimerHandle | None = None
        self._warned = False

    def push(self) -> None:
        """Sends one snapshot now and schedules the next."""
        snapshot = self._engine.metrics()
        if snapshot is not None:
            try:
                self._sock.send(json.dumps([self._slot, self._pid, snapshot], separators=(',', ':')).encode())
            except BlockingIOError:
                pass  # the supervisor is behind: this snapshot is dropped
            except OSError as exc:
                if not self._warned:
                    self._warned = True
                    logger.warning('Cannot send metrics to the main process: %s', exc)
        self._timer = self._loop.call_later(self._interval, self.push)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._sock.close()
