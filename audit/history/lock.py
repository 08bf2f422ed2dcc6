"""The run lock: an `flock` on `<db>.lock`, so only one run writes to a history at a time.

`begin_run` takes it and holds it until `finish_run` or `close`; the holder writes its pid
and run id in the file. Readers never take it: they only peek, to tell a running run from
an interrupted one. The file is opened without following symlinks and without blocking,
and anything but a regular file is refused, so a planted symlink or FIFO can neither
redirect the write nor hang a run.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from contextlib import suppress
from pathlib import Path

from audit.errors import HistoryError
from audit.history.files import DB_HINT, FILE_MODE

LOCK_GRACE_SECONDS = 0.5
"""How long begin_run retries the run lock (a reader may hold it for microseconds)."""

_OPEN = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class RunLock:
    """The run lock of the history database `db`, at `path`."""

    def __init__(self, path: Path, db: Path) -> None:
        self.path = path
        self.db = db
        self._fd: int | None = None

    def _open(self, flags: int) -> int:
        """Open the lock file; HistoryError unless it is a regular file (not a symlink)."""
        try:
            fd = os.open(self.path, flags | _OPEN, FILE_MODE)
        except OSError as exc:
            if os.path.islink(self.path):
                raise HistoryError(
                    f"the run lock {self.path} is a symbolic link; refusing to follow it",
                    hint=f"remove {self.path} (certaudit creates it as a regular file)",
                ) from exc
            raise HistoryError(
                f"cannot create the run lock {self.path}: {exc.strerror or exc}", hint=DB_HINT
            ) from exc
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise HistoryError(
                    f"the run lock {self.path} is not a regular file",
                    hint=f"remove {self.path} (certaudit creates it as a regular file)",
                )
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def acquire(self) -> None:
        """Take the lock, waiting up to LOCK_GRACE_SECONDS; HistoryError when another run
        holds it (naming that run's pid) or the file cannot be used."""
        if self._fd is not None:
            raise HistoryError(f"the run lock {self.path} is already held by this process")
        fd = self._open(os.O_RDWR | os.O_CREAT)
        deadline = time.monotonic() + LOCK_GRACE_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid, _ = _read_info(fd)
                    os.close(fd)
                    raise HistoryError(
                        f"another certaudit run is in progress (pid {pid or 'unknown'}) "
                        f"on {self.db}",
                        hint=f"wait for it to finish; the lock is {self.path}",
                    ) from None
                time.sleep(0.02)
            except OSError as exc:
                os.close(fd)
                raise HistoryError(
                    f"cannot lock {self.path}: {exc.strerror or exc}", hint=DB_HINT
                ) from exc

    def record(self, run_id: str) -> None:
        """Write this process's pid and the run id in the held lock file (best effort)."""
        if self._fd is None:
            return
        with suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()} {run_id}\n".encode("ascii"), 0)

    def release(self) -> None:
        if self._fd is not None:
            with suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            with suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def holder(self) -> str | None:
        """The run id of whoever holds the lock right now, if anyone. Never waits; a lock
        file that is missing or not a regular file means nobody."""
        try:
            fd = self._open(os.O_RDONLY)
        except HistoryError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_info(fd)[1]
            except OSError:
                return None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def _read_info(fd: int) -> tuple[int | None, str | None]:
    """(pid, run id) written in the lock file by its holder."""
    try:
        text = os.pread(fd, 256, 0).decode("ascii", "replace").split()
    except OSError:
        return None, None
    pid = int(text[0]) if text and text[0].isdigit() else None
    return pid, (text[1] if len(text) > 1 else None)
