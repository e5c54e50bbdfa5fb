"""`--pid-file`: the main process id in a file, for init scripts and monitoring tools.

The file is written when granian starts and removed when it exits. A file that still names a
running process (other than this one) means another server uses it: granian refuses to start
rather than overwrite it. A file naming a dead process, or holding no number, is stale and gets
replaced. Our own PID counts as stale too: a container restarted with a kept volume starts
granian as PID 1 again, next to the PID 1 written by its previous life.
"""

from __future__ import annotations

import contextlib
import os

from granian.errors import PidFileError

__all__ = ['PidFile', 'pid_alive']


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (of any user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding='ascii', errors='replace') as file:
            text = file.read(64).strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PidFileError(f"cannot read the pid file '{path}': {exc.strerror or exc}") from None
    return int(text) if text.isdigit() else None


class PidFile:
    """The pid file of this process; create it with `PidFile.create`, drop it with `remove`."""

    def __init__(self, path: str, pid: int) -> None:
        self.path = path
        self.pid = pid

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> PidFile:
        """Write this process's id to `path`.

        Raises:
            PidFileError: the file names another running process, or cannot be written.
        """
        path = os.path.abspath(os.fspath(path))
        pid = os.getpid()
        other = _read_pid(path)
        if other is not None and other != pid and pid_alive(other):
            raise PidFileError(
                f"the pid file '{path}' holds the PID {other} of a running process: is granian already running? "
                '(remove the file if that process is not granian)'
            )
        temp = f'{path}.{pid}.tmp'
        try:
            with open(temp, 'w', encoding='ascii') as file:
                file.write(f'{pid}\n')
            os.replace(temp, path)  # readers never see a half-written file
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise PidFileError(f"cannot write the pid file '{path}': {exc.strerror or exc}") from None
        return cls(path, pid)

    def remove(self) -> None:
        """Delete the file if it still holds our id (never someone else's)."""
        with contextlib.suppress(OSError, PidFileError):
            if _read_pid(self.path) == self.pid:
                os.unlink(self.path)
