"""`--process-name`: the title `ps`, `top` and `/proc/<pid>/cmdline` show for granian's processes.

Needs the optional `setproctitle` package (`pip install 'granian[pname]'`); `config.py`
rejects `--process-name` without it, and resolves the default title when it is installed.
"""

from __future__ import annotations

import importlib

__all__ = ['set_process_title', 'worker_title']


def worker_title(title: str, worker_id: int) -> str:
    """The title of worker `worker_id` under a server titled `title`."""
    return f'{title} [worker-{worker_id}]'


def set_process_title(title: str | None) -> None:
    """Set this process's title; a no-op for None."""
    if title is None:
        return
    module = importlib.import_module('setproctitle')
    module.setproctitle(title)
