"""One run per output folder: a lock held for the life of a ``vppfed run`` or ``vppfed config`` on ``--out``.

Why: two runs into one folder both exited 0 and the folder held only the second, and a 6 h run whose folder was rebuilt
under it reported "0.00 of 6.00 simulated h" as a success. The lock is a ``flock`` on a small file *beside* the folder
(``.<name>.vppfed-lock``): the folder itself is replaced when a case is rebuilt, so a lock inside it would go with it.
The kernel drops a ``flock`` when its process dies, so a lock left by a killed run is stale by construction and the
next run takes it over; the file's text (pid, start time, command) only serves the message naming the holder.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from vppfed.errors import UserError

__all__ = ["RunLock", "lock_path"]


def lock_path(out: Path) -> Path:
    """The lock file of output folder ``out`` (beside it, hidden)."""
    out = Path(out).absolute()
    return out.parent / f".{out.name}.vppfed-lock"


class RunLock:
    """Exclusive lock on an output folder; use as a context manager around building and running into it.

    Parameters
    ----------
    out : Path
        The output folder (it need not exist yet; its parent is created).
    purpose : str
        What holds it ("run", "config"), for the message another command shows.
    """

    def __init__(self, out: Path, purpose: str = "run") -> None:
        self.out = Path(out)
        self.path = lock_path(self.out)
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise :class:`UserError` naming the command that holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{self.out}: cannot create the folder of --out ({exc.strerror})") from None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise UserError(f"{self.out}: cannot lock the run folder ({self.path}: {exc.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _describe(fd)
                os.close(fd)
                raise UserError(f"{self.out}: in use by {holder}; wait for it to end or choose another --out") from None
            # the holder before us may have removed the file between our open and our flock: lock the file that is
            # at the path now, or we would hold a lock nobody else can see
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)   # closing drops the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _describe(fd: int) -> str:
    """'vppfed run (pid 123, started ...: vppfed run te30 ...)' from a held lock file, or a plain fallback."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another vppfed command"
    where = f" on {info['host']}" if info.get("host") and info.get("host") != socket.gethostname() else ""
    return (f"another vppfed {info.get('purpose', 'run')} (pid {info.get('pid', '?')}{where}, started "
            f"{info.get('started', '?')}: {info.get('command', '?')})")
