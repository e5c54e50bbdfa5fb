"""Signals as bytes on a pipe, so the supervisor's selector wakes up for them like for any fd."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ['HANDLED_SIGNALS', 'SignalPipe']

#: Signals the supervisor handles while it runs.
HANDLED_SIGNALS = tuple(getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP') if hasattr(signal, name))


def _ignore_signal(signum: int, frame: object) -> None:
    """Python-level handler: the wakeup fd carries the signal, nothing else to do here."""


class SignalPipe:
    """Turns the handled signals into bytes on a non-blocking pipe the selector watches.

    Outside the main thread Python cannot install signal handlers; the pipe then stays silent
    and the embedder is responsible for stopping (workers still get reaped normally).
    """

    def __init__(self, signums: Iterable[int]) -> None:
        self.rfd, self._wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self._wfd, False)
        self._previous: dict[int, Any] = {}
        self._previous_wakeup = -1
        self.active = threading.current_thread() is threading.main_thread()
        if self.active:
            self._previous_wakeup = signal.set_wakeup_fd(self._wfd, warn_on_full_buffer=False)
            for signum in signums:
                self._previous[signum] = signal.signal(signum, _ignore_signal)

    def add(self, signum: int) -> None:
        """Start catching one more signal (used for SIGCHLD without pidfds)."""
        if self.active and signum not in self._previous:
            self._previous[signum] = signal.signal(signum, _ignore_signal)

    def read(self) -> list[int]:
        """Signal numbers received since the last call, oldest first."""
        received: list[int] = []
        while True:
            try:
                data = os.read(self.rfd, 512)
            except BlockingIOError:
                return received
            if not data:
                return received
            received.extend(data)

    def close(self) -> None:
        """Restore the previous handlers and wakeup fd, then close the pipe."""
        if self.active:
            for signum, previous in self._previous.items():
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            signal.set_wakeup_fd(self._previous_wakeup)
            self.active = False
        os.close(self.rfd)
        os.close(self._wfd)
