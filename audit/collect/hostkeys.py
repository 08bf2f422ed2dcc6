"""known_hosts, passed explicitly, failing closed.

The operator's ssh_config can never turn host-key checking off: we always hand asyncssh an
explicit known-hosts object (so `UserKnownHostsFile none` in ~/.ssh/config is ignored) and
decide unknown-versus-changed ourselves. New keys are accepted only with the explicit
opt-in, and then appended to the file atomically.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh


@dataclass
class KnownHosts:
    """The parsed known_hosts file plus what this run learned about host keys."""

    path: Path
    db: asyncssh.SSHKnownHosts
    warnings: list[str] = field(default_factory=list)
    accept_new: bool = False
    _pending: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, path: Path, *, accept_new: bool = False) -> KnownHosts:
        """Read the file; a corrupt line is skipped with a warning naming file:line.

        A missing file is an empty list (every host is then unknown).
        """
        warnings: list[str] = []
        good: list[str] = []
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            text = ""
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            try:
                asyncssh.import_known_hosts(stripped)
            except (ValueError, asyncssh.KeyImportError) as exc:
                kind = exc.__class__.__name__
                warnings.append(f"{path}:{number}: ignored unreadable known_hosts entry ({kind})")
                continue
            good.append(stripped)
        return cls(path, asyncssh.import_known_hosts("\n".join(good)), warnings, accept_new)

    def known_keys(self, host: str, addr: str, port: int | None) -> list[asyncssh.SSHKey]:
        """Keys known_hosts lists for this endpoint (plain, hashed and [host]:port forms)."""
        match_port = None if port in (None, 22) else port
        keys, *_ = self.db.match(host, addr, match_port)
        return list(keys)

    def remember(self, host: str, port: int | None, key: asyncssh.SSHKey) -> None:
        """Queue a newly accepted key for appending (only with the opt-in)."""
        pattern = host if port in (None, 22) else f"[{host}]:{port}"
        line = f"{pattern} {key.export_public_key().decode('ascii').strip()}"
        with self._lock:
            self._pending.append(line)
            self.db.load(line)

    def save(self) -> int:
        """Append accepted keys atomically (temp file + fsync + rename). Returns how many."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            current = self.path.read_bytes()
        except FileNotFoundError:
            current = b""
        if current and not current.endswith(b"\n"):
            current += b"\n"
        data = current + ("\n".join(pending) + "\n").encode("ascii")
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if self.path.exists():
                os.chmod(tmp, self.path.stat().st_mode & 0o777)
            else:
                os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(pending)
