"""`Granian`: the server object behind both the CLI and the Python API.

```python
from granian import Granian

server = Granian('main:app', interface='asgi', workers=2)

@server.on_startup
def ready() -> None: ...

server.serve()
```
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from granian.config import Config, build_config

Hook = Callable[[], Any]
_H = TypeVar('_H', bound=Hook)

#: Keys of the hooks mapping handed to the supervisor, in the order they run.
HOOK_NAMES = ('startup', 'reload', 'shutdown')


class Server:
    """A multi-process server for one application target.

    `target` is an import string (`'module:attr'`); keyword arguments are the settings of
    `granian.config.Config` (see `build_config`). Invalid settings raise
    `granian.errors.ConfigurationError` here, before anything starts.
    """

    def __init__(self, target: str, **kwargs: Any) -> None:
        self.config: Config = build_config(target, **kwargs)
        self.hooks: dict[str, list[Hook]] = {name: [] for name in HOOK_NAMES}

    def on_startup(self, fn: _H) -> _H:
        """Run `fn()` in the main process once the socket is bound, before workers start."""
        self.hooks['startup'].append(fn)
        return fn

    def on_reload(self, fn: _H) -> _H:
        """Run `fn()` in the main process on SIGHUP or a `--reload` file change, before any
        worker is replaced; if it raises, the workers are not restarted."""
        self.hooks['reload'].append(fn)
        return fn

    def on_shutdown(self, fn: _H) -> _H:
        """Run `fn()` in the main process after every worker has stopped."""
        self.hooks['shutdown'].append(fn)
        return fn

    def serve(self) -> None:
        """Run the server until it is stopped (SIGINT/SIGTERM).

        Returns on a clean stop; raises SystemExit with the exit code otherwise (1 when a
        worker could not start or crashed, a hook raised, or the pid file belongs to another
        running process). SIGHUP restarts the workers one by one (see docs/production.md).
        """
        supervisor = importlib.import_module('granian.server.supervisor')
        code = supervisor.run(self.config, {name: list(fns) for name, fns in self.hooks.items()})
        if code:
            raise SystemExit(code)


Granian = Server

__all__ = ['HOOK_NAMES', 'Granian', 'Server']
