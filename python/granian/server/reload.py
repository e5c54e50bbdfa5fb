"""`--reload`: watch source files and tell the supervisor when they change.

`watchfiles` (the optional `reload` extra) blocks while it waits, so it runs in a thread of
the supervisor. Each batch of changes is stored and announced by a byte on a pipe that the
supervisor's selector watches, so the supervisor reacts on its own thread, like for signals.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from granian.errors import StartupError
from granian.log import RUNTIME_LOGGER

if TYPE_CHECKING:
    from granian.config import Config

__all__ = ['FileWatcher', 'build_filter']

logger = logging.getLogger(RUNTIME_LOGGER)


def _watchfiles() -> Any:
    try:
        return importlib.import_module('watchfiles')
    except ImportError:
        raise StartupError("--reload needs the watchfiles package: pip install 'granian[reload]'") from None


def build_filter(config: Config) -> Any:
    """The watchfiles filter: `config.reload_filter` (default `watchfiles.DefaultFilter`)
    extended with `--reload-ignore-dirs`, `--reload-ignore-patterns` and `--reload-ignore-paths`."""
    base = config.reload_filter or _watchfiles().DefaultFilter
    attrs = {
        'ignore_dirs': (*base.ignore_dirs, *config.reload_ignore_dirs),
        'ignore_entity_patterns': (*base.ignore_entity_patterns, *config.reload_ignore_patterns),
        'ignore_paths': (*base.ignore_paths, *config.reload_ignore_paths),
    }
    return type(f'Granian{base.__name__}', (base,), attrs)()


class FileWatcher:
    """A thread running `watchfiles.watch` over the reload paths.

    `rfd` becomes readable after changes; `take()` returns the changed paths since the last call.
    """

    def __init__(self, config: Config) -> None:
        self._watchfiles = _watchfiles()
        self.paths = [os.path.abspath(path) for path in config.reload_paths] or [os.getcwd()]
        self._filter = build_filter(config)
        self._tick = config.reload_tick
        self.rfd, self._wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self._wfd, False)
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='granian-reload', daemon=True)

    def start(self) -> None:
        self._thread.start()
        logger.info('Watching for file changes in: %s', ', '.join(self.paths))

    def _run(self) -> None:
        try:
            batches = self._watchfiles.watch(
                *self.paths, watch_filter=self._filter, step=self._tick, stop_event=self._stop, raise_interrupt=False
            )
            for changes in batches:
                with self._lock:
                    self._changed.update(path for _, path in changes)
                with contextlib.suppress(BlockingIOError):  # full pipe: a wake-up is pending anyway
                    os.write(self._wfd, b'!')
        except Exception:
            logger.exception('The file watcher failed: changes will not reload the workers any more')

    def take(self) -> list[str]:
        """The paths changed since the last call, sorted (empty when nothing is new)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self.rfd, 512):
                pass
        with self._lock:
            changed, self._changed = self._changed, set()
        return sorted(changed)

    def shown(self, path: str) -> str:
        """`path` as logged: relative to the watched path that holds it."""
        for root in self.paths:
            if os.path.commonpath([root, path]) == root:
                return os.path.relpath(path, root)
        return path

    def close(self) -> None:
        """Stop the thread (within one tick) and close the pipe."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._thread.is_alive():
            return  # stuck: leave its pipe open rather than let it write to a reused fd
        os.close(self.rfd)
        os.close(self._wfd)
