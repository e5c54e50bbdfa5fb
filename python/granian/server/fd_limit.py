"""A worker's open-files limit, raised from its soft value to its hard one when it starts.

Every connection is a descriptor, and the engine keeps up to 256 recently opened static files
open per worker. A soft limit of 1024 (systemd's default for services, and containerd 2's for
containers) refuses connections long before the machine runs short of anything, with "too many
open files". The hard limit is the administrator's ceiling and stays as it is: only the soft
limit, which any process may raise up to the hard one, moves (what Go's runtime does at start;
nginx asks for `worker_rlimit_nofile`).
"""

from __future__ import annotations

import resource
from pathlib import Path

#: Where Linux says how high an open-files limit may be set (a hard limit of "unlimited" cannot
#: be the soft one).
NR_OPEN = Path('/proc/sys/fs/nr_open')


def raise_open_files_limit() -> tuple[int, int] | None:
    """Raise the soft RLIMIT_NOFILE to the hard one; `(before, after)` if it moved, else None
    (already there, or the system refused: the limit is then left as it was)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            target = int(NR_OPEN.read_text())
        except (OSError, ValueError):
            return None
    if soft == resource.RLIM_INFINITY or soft >= target:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError):
        return None
    return soft, target
