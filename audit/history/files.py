"""Where the history database lives, how its file is created, and errors that name it."""

from __future__ import annotations

import os
from pathlib import Path

from audit.errors import HistoryError

DB_HINT = "pass --db FILE (or set CERTAUDIT_DB) to use another history database"

FILE_MODE = 0o600
"""Mode of the database and its lock (SQLite gives -wal and -shm the database's mode):
they hold host names, addresses, paths and findings."""


def default_db_path() -> Path:
    """Where the history lives unless --db says otherwise.

    `$CERTAUDIT_DB`, else `$XDG_STATE_HOME/certaudit/history.db`, else
    `~/.local/state/certaudit/history.db`. Raises HistoryError when none can be decided
    (cron without HOME).
    """
    explicit = os.environ.get("CERTAUDIT_DB")
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME")
    if state and os.path.isabs(state):  # the XDG spec says to ignore relative values
        return Path(state) / "certaudit" / "history.db"
    home = os.environ.get("HOME")
    if not home:
        raise HistoryError(
            "cannot decide where the history database lives: HOME is not set (common under cron)",
            hint=DB_HINT,
        )
    return Path(home) / ".local" / "state" / "certaudit" / "history.db"


def create_private(path: Path) -> None:
    """Create the database file, empty and mode 0600, unless something is at `path`.

    SQLite would create it with the umask's mode (often world-readable) and give the
    -wal and -shm files the same. An existing file, or a symlink (even a dangling one),
    is left alone for SQLite to open as before.
    """
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise HistoryError(
            f"cannot create the history database {path}: {exc.strerror or exc}",
            hint=f"check that {path.parent} exists and is writable, or {DB_HINT}",
        ) from exc
    os.close(fd)


def explain(path: Path, exc: BaseException, doing: str) -> HistoryError:
    """Turn a sqlite3/OS error into a HistoryError that names the file."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "not a database" in lowered or "encrypted" in lowered:
        return HistoryError(
            f"{path} is not a certaudit history database (SQLite: {text})", hint=DB_HINT
        )
    if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
        return HistoryError(
            f"cannot {doing} the history database {path}: {text}",
            hint=f"check that {path.parent} exists and is writable, or {DB_HINT}",
        )
    if "full" in lowered or "disk i/o" in lowered:
        return HistoryError(
            f"cannot {doing} the history database {path}: {text}",
            hint="check free space and the disk; results committed so far are kept",
        )
    if "locked" in lowered or "busy" in lowered:
        return HistoryError(
            f"cannot {doing} the history database {path}: {text}",
            hint="another process holds a write lock on it for too long",
        )
    return HistoryError(f"cannot {doing} the history database {path}: {text}")
