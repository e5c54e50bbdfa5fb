"""When to replace a healthy worker: `--workers-lifetime` and `--workers-max-rss`.

`Recycler` holds no processes and sends no signals; it only answers "which workers are due,
and why". The supervisor tracks a worker once it serves, forgets it when it goes away, and
asks `due()` whenever `next_deadline()` has passed. Clock and memory reader are injectable,
so the schedule is testable without processes or waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ['Due', 'Recycler', 'read_rss_mib']


def read_rss_mib(pid: int) -> float | None:
    """Resident memory of process `pid` in MiB (Linux `/proc/<pid>/status` VmRSS), None if gone."""
    try:
        with open(f'/proc/{pid}/status', encoding='ascii', errors='replace') as status:
            for line in status:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024  # the kernel reports kB
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(frozen=True)
class Due:
    """A worker to replace: `reason` is `'lifetime'` or `'rss'`; `detail` says why, for the log."""

    key: Hashable
    reason: str
    detail: str


@dataclass
class _Tracked:
    pid: int
    #: When the worker's lifetime ends (None: no lifetime limit).
    expires: float | None
    #: Consecutive samples above the memory limit.
    over: int = 0


class Recycler:
    """Lifetime deadlines and memory samples of the tracked workers.

    Args:
        lifetime: seconds a worker may serve (None: forever).
        max_rss_mib: memory limit in MiB (None: no limit).
        sample_interval: seconds between two memory samples of every worker.
        samples: consecutive samples above the limit that make a worker due.
        clock: monotonic seconds.
        read_rss: MiB used by a pid, None when unknown.
    """

    def __init__(
        self,
        lifetime: float | None,
        max_rss_mib: float | None,
        sample_interval: float = 30.0,
        samples: int = 1,
        clock: Callable[[], float] = time.monotonic,
        read_rss: Callable[[int], float | None] = read_rss_mib,
    ) -> None:
        self.lifetime = lifetime
        self.max_rss_mib = max_rss_mib
        self.sample_interval = sample_interval
        self.samples = max(1, samples)
        self._clock = clock
        self._read_rss = read_rss
        self._tracked: dict[Hashable, _Tracked] = {}
        self._next_sample: float | None = clock() + sample_interval if max_rss_mib is not None else None

    @property
    def active(self) -> bool:
        """Whether there is anything to enforce at all."""
        return self.lifetime is not None or self.max_rss_mib is not None

    def track(self, key: Hashable, pid: int) -> None:
        """Start watching a serving worker; its lifetime counts from now."""
        expires = self._clock() + self.lifetime if self.lifetime is not None else None
        self._tracked[key] = _Tracked(pid, expires)

    def forget(self, key: Hashable) -> None:
        """Stop watching a worker (gone, or being replaced for another reason)."""
        self._tracked.pop(key, None)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._tracked

    def next_deadline(self) -> float | None:
        """The clock value at which `due()` may return something; None when never."""
        deadlines = [t.expires for t in self._tracked.values() if t.expires is not None]
        if self._next_sample is not None and self._tracked:
            deadlines.append(self._next_sample)
        return min(deadlines, default=None)

    def due(self) -> list[Due]:
        """The workers to replace now, oldest deadline first; they are no longer tracked."""
        now = self._clock()
        found: list[Due] = []
        for key, tracked in self._tracked.items():
            if tracked.expires is not None and now >= tracked.expires:
                found.append(Due(key, 'lifetime', f'it reached its lifetime of {self.lifetime:g}s'))
        if self._next_sample is not None and now >= self._next_sample:
            # Fixed cadence; after a long pause, sample once and start again from now.
            self._next_sample += self.sample_interval
            if self._next_sample <= now:
                self._next_sample = now + self.sample_interval
            found.extend(self._sample({d.key for d in found}))
        for item in found:
            self.forget(item.key)
        return found

    def _sample(self, skip: set[Hashable]) -> list[Due]:
        assert self.max_rss_mib is not None
        found = []
        for key, tracked in self._tracked.items():
            if key in skip:
                continue
            rss = self._read_rss(tracked.pid)
            if rss is None or rss <= self.max_rss_mib:
                tracked.over = 0
                continue
            tracked.over += 1
            if tracked.over >= self.samples:
                times = f' in {tracked.over} samples in a row' if tracked.over > 1 else ''
                detail = f'it uses {rss:.0f} MiB, above the limit of {self.max_rss_mib:g} MiB{times}'
                found.append(Due(key, 'rss', detail))
        return found
