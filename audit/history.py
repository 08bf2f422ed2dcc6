"""SQLite run history: durable, versioned, one writer at a time; and the diff between runs.

Promise 8 (RELIABILITY.md): a run is committed as it goes (one transaction per host) and is
either complete or marked partial; WAL with `synchronous=FULL`; a second run at the same
time is refused by a lock; a database from a newer schema is refused.

Layout of the database (schema version in `PRAGMA user_version`, the file marked as ours
with `PRAGMA application_id`):

    runs          one row per run: id, started/finished, status, inventory, settings (JSON)
    hosts         one row per HostResult of a run (Host fields, outcome, timings, bytes)
    certificates  one row per distinct certificate across all runs, unique by sha256: the
                  DER once, plus the parsed CertInfo columns (an integer `pk` is what the
                  rows below point at, to keep the per-run rows small)
    locations     where each certificate was found (host row, path, kind, index, format,
                  servername -> certificates.pk)
    unparseable, key_files, issues, ca_bundles      per host, in model order
    listeners -> probes -> probe_chain             per host; chains as certificates in order
    findings      per run, every Finding field, in model order
    location_view, served_view   the same joined to run id and sha256, for ad-hoc queries

Every child row carries `seq`, its position in the model's tuple, so a run reads back in
exactly the order it was written. Datetimes are ISO 8601 UTC text ("...Z"). Text that is
not valid UTF-8 (lone surrogates from a `surrogateescape` decode of a remote file name) is
stored as a BLOB of its `surrogatepass` encoding and restored exactly on reading.

The run lock is an `flock` on `<db>.lock`, taken by `begin_run` and held until
`finish_run` or `close`; readers never take it (they only peek to tell a running run from
an interrupted one).
"""

from __future__ import annotations

import enum
import fcntl
import json
import os
import secrets
import sqlite3
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from audit.errors import HistoryError
from audit.model import (
    AuditResult,
    CertInfo,
    CertLocation,
    CollectionIssue,
    ConfigListen,
    Finding,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    IssueReason,
    KeyFile,
    Listener,
    ProbeStatus,
    Severity,
    TlsConfig,
    TlsProbe,
    Unparseable,
)

APPLICATION_ID = 0x43415544
"""`PRAGMA application_id` of a certaudit history ("CAUD")."""

BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for another connection's write lock."""

CERT_CACHE_SIZE = 2048
"""Certificates remembered per History as already stored (memory stays bounded)."""

LOCK_GRACE_SECONDS = 0.5
"""How long begin_run retries the run lock (a reader may hold it for microseconds)."""

_DB_HINT = "pass --db FILE (or set CERTAUDIT_DB) to use another history database"


# --------------------------------------------------------------------------- location


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
            hint=_DB_HINT,
        )
    return Path(home) / ".local" / "state" / "certaudit" / "history.db"


# --------------------------------------------------------------------------- schema

Migration = Sequence[str] | Callable[[sqlite3.Connection], None]
"""SQL statements, or a function for a migration that needs Python. Runs inside one
transaction with foreign keys off (so tables can be rebuilt the SQLite way); a foreign
key check runs before the commit."""

_SCHEMA_1: tuple[str, ...] = (
    f"PRAGMA application_id = {APPLICATION_ID}",
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'partial')),
        inventory TEXT NOT NULL,
        settings TEXT NOT NULL DEFAULT '{}',
        pid INTEGER
    )""",
    "CREATE INDEX runs_started ON runs (started_at, id)",
    """CREATE TABLE hosts (
        pk INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        name TEXT NOT NULL,
        address TEXT NOT NULL,
        ssh_port INTEGER,
        ssh_user TEXT,
        key_file TEXT,
        become INTEGER NOT NULL,
        host_groups TEXT NOT NULL,
        cert_paths TEXT NOT NULL,
        tls_names TEXT NOT NULL,
        tls_ports TEXT NOT NULL,
        probe_direct INTEGER NOT NULL,
        source TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        bytes_received INTEGER NOT NULL,
        facts TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        UNIQUE (run_id, name)
    )""",
    "CREATE INDEX hosts_name ON hosts (name)",
    """CREATE TABLE certificates (
        pk INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        der BLOB NOT NULL,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        common_name TEXT,
        serial TEXT NOT NULL,
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        dns_names TEXT NOT NULL,
        ip_addresses TEXT NOT NULL,
        has_san_extension INTEGER NOT NULL,
        key_type TEXT NOT NULL,
        key_bits INTEGER NOT NULL,
        signature_algorithm TEXT NOT NULL,
        signature_hash TEXT,
        is_ca INTEGER NOT NULL,
        self_issued INTEGER NOT NULL,
        self_signed INTEGER NOT NULL,
        subject_key_id TEXT,
        authority_key_id TEXT,
        aia_ca_issuers TEXT NOT NULL,
        public_key_sha256 TEXT NOT NULL,
        warnings TEXT NOT NULL
    )""",
    "CREATE INDEX certificates_not_after ON certificates (not_after)",
    """CREATE TABLE locations (
        host_pk INTEGER NOT NULL REFERENCES hosts (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        bundle_index INTEGER NOT NULL,
        format TEXT NOT NULL,
        servername TEXT,
        cert_pk INTEGER NOT NULL REFERENCES certificates (pk),
        cert_variant TEXT,
        PRIMARY KEY (host_pk, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX locations_cert ON locations (cert_pk)",
    """CREATE TABLE unparseable (
        host_pk INTEGER NOT NULL REFERENCES hosts (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        bundle_index INTEGER NOT NULL,
        PRIMARY KEY (host_pk, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE key_files (
        host_pk INTEGER NOT NULL REFERENCES hosts (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        owner TEXT NOT NULL,
        file_group TEXT NOT NULL,
        mode INTEGER NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (host_pk, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE issues (
        host_pk INTEGER NOT NULL REFERENCES hosts (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (host_pk, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE ca_bundles (
        host_pk INTEGER NOT NULL REFERENCES hosts (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (host_pk, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE listeners (
        pk INTEGER PRIMARY KEY,
        host_pk INTEGER NOT NULL REFERENCES hosts (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL,
        process TEXT,
        expects_tls INTEGER NOT NULL,
        config_file TEXT,
        config_line INTEGER,
        cert_file TEXT,
        UNIQUE (host_pk, seq)
    )""",
    """CREATE TABLE probes (
        pk INTEGER PRIMARY KEY,
        listener_pk INTEGER NOT NULL REFERENCES listeners (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL,
        servername TEXT,
        status TEXT NOT NULL,
        via TEXT NOT NULL,
        protocol TEXT,
        cipher TEXT,
        alpn TEXT,
        acceptable_ca_names TEXT NOT NULL,
        error TEXT NOT NULL,
        elapsed_ms REAL NOT NULL,
        UNIQUE (listener_pk, seq)
    )""",
    """CREATE TABLE probe_chain (
        probe_pk INTEGER NOT NULL REFERENCES probes (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        cert_pk INTEGER NOT NULL REFERENCES certificates (pk),
        cert_variant TEXT,
        PRIMARY KEY (probe_pk, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX probe_chain_cert ON probe_chain (cert_pk)",
    """CREATE TABLE findings (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        finding_id TEXT NOT NULL,
        severity TEXT NOT NULL,
        host TEXT NOT NULL,
        subject TEXT NOT NULL,
        title TEXT NOT NULL,
        detail TEXT NOT NULL,
        diagnose TEXT NOT NULL,
        fix TEXT NOT NULL,
        cert_sha256 TEXT,
        risk REAL NOT NULL,
        why TEXT NOT NULL,
        days_left REAL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX findings_host ON findings (host)",
    "CREATE INDEX findings_cert ON findings (cert_sha256)",
    """CREATE VIEW location_view AS
        SELECT h.run_id, h.name AS host_name, l.host, l.path, l.kind, l.bundle_index,
               l.format, l.servername, c.sha256, c.subject, c.issuer, c.not_after
        FROM locations l JOIN hosts h ON h.pk = l.host_pk
        JOIN certificates c ON c.pk = l.cert_pk""",
    """CREATE VIEW served_view AS
        SELECT h.run_id, h.name AS host_name, p.address, p.port, p.servername, p.via,
               pc.seq AS chain_index, c.sha256, c.subject, c.issuer, c.not_after
        FROM probe_chain pc JOIN probes p ON p.pk = pc.probe_pk
        JOIN listeners li ON li.pk = p.listener_pk JOIN hosts h ON h.pk = li.host_pk
        JOIN certificates c ON c.pk = pc.cert_pk""",
)

_SCHEMA_2: tuple[str, ...] = (
    # Listeners (issue 4): how a listener maps to configuration, and how probing went.
    "ALTER TABLE listeners ADD COLUMN server TEXT",
    "ALTER TABLE listeners ADD COLUMN server_names TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE listeners ADD COLUMN starttls TEXT",
    "ALTER TABLE listeners ADD COLUMN legacy_protocol TEXT",
    "ALTER TABLE listeners ADD COLUMN notes TEXT NOT NULL DEFAULT '[]'",
    """CREATE TABLE tls_configs (
        host_pk INTEGER NOT NULL REFERENCES hosts (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        server TEXT NOT NULL,
        file TEXT NOT NULL,
        line INTEGER NOT NULL,
        listens TEXT NOT NULL,
        server_names TEXT NOT NULL,
        cert_file TEXT,
        cert_config_file TEXT,
        cert_config_line INTEGER,
        key_file TEXT,
        key_config_file TEXT,
        key_config_line INTEGER,
        chain_file TEXT,
        key_sha256 TEXT NOT NULL,
        key_check TEXT NOT NULL,
        PRIMARY KEY (host_pk, seq)
    ) WITHOUT ROWID""",
)

MIGRATIONS: list[Migration] = [_SCHEMA_1, _SCHEMA_2]
"""Migration N (1-based) takes the schema from user_version N-1 to N. Append only."""


def schema_version() -> int:
    """The newest schema this code knows."""
    return len(MIGRATIONS)


# --------------------------------------------------------------------------- public types


class RunStatus(enum.StrEnum):
    """How a stored run stands."""

    RUNNING = "running"
    """Begun, and the process that began it still holds the run lock."""
    COMPLETE = "complete"
    """Finished with every host ended."""
    PARTIAL = "partial"
    """Finished, but the runner said not every host ended."""
    INTERRUPTED = "interrupted"
    """Begun and never finished, and nobody holds the lock (crash, kill -9)."""


@dataclass(frozen=True)
class RunSummary:
    """One line of `list_runs`."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None
    """None while running or when interrupted."""
    status: RunStatus
    inventory: str
    hosts: int
    """Hosts recorded."""
    hosts_audited: int
    """Hosts whose outcome is ok or partial."""
    outcomes: tuple[tuple[str, int], ...]
    """Host count per outcome, in HostOutcome order, only outcomes present."""
    findings: int
    severities: tuple[tuple[str, int], ...]
    """Finding count per severity, worst first, only severities present."""


# --------------------------------------------------------------------------- value codecs


def _w(value: Any) -> Any:
    """A value ready to bind: text that is not valid UTF-8 becomes a BLOB (see module doc)."""
    if type(value) is str and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass")
    return value


def _r(value: Any) -> Any:
    """Inverse of `_w` for a text column."""
    if type(value) is bytes:
        return value.decode("utf-8", "surrogatepass")
    return value


def _bind(*values: Any) -> tuple[Any, ...]:
    """Parameters for a statement, each through `_w`."""
    for value in values:
        if type(value) is str and not value.isascii():
            return tuple(map(_w, values))
    return values


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _text_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Row factory for every table without BLOB columns."""
    return tuple(_r(v) for v in row)


def _utc(value: datetime) -> datetime:
    """A naive datetime is taken as UTC (the model says UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _dt(value: datetime | None) -> str | None:
    """ISO 8601 UTC text, second precision unless there are microseconds."""
    if value is None:
        return None
    value = _utc(value)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _parse_dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _opt_dt(text: str | None) -> datetime | None:
    return None if text is None else _parse_dt(text)


def _json(items: Iterable[Any]) -> str:
    return json.dumps(list(items), ensure_ascii=True, separators=(",", ":"))


def _strs(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _now() -> datetime:
    return datetime.now(UTC)


def _cert_values(cert: CertInfo) -> tuple[Any, ...]:
    """The parsed columns of `certificates` (everything but sha256 and der), unbound."""
    return (
        cert.subject,
        cert.issuer,
        cert.common_name,
        cert.serial,
        _dt(cert.not_before),
        _dt(cert.not_after),
        _json(cert.dns_names),
        _json(cert.ip_addresses),
        int(cert.has_san_extension),
        cert.key_type,
        cert.key_bits,
        cert.signature_algorithm,
        cert.signature_hash,
        int(cert.is_ca),
        int(cert.self_issued),
        int(cert.self_signed),
        cert.subject_key_id,
        cert.authority_key_id,
        _json(cert.aia_ca_issuers),
        cert.public_key_sha256,
        _json(cert.warnings),
    )


_CERT_COLUMNS = (
    "subject, issuer, common_name, serial, not_before, not_after, dns_names, ip_addresses, "
    "has_san_extension, key_type, key_bits, signature_algorithm, signature_hash, is_ca, "
    "self_issued, self_signed, subject_key_id, authority_key_id, aia_ca_issuers, "
    "public_key_sha256, warnings"
)


def _cert_from(sha256: str, der: bytes, v: Sequence[Any]) -> CertInfo:
    return CertInfo(
        sha256=sha256,
        der=der,
        subject=v[0],
        issuer=v[1],
        common_name=v[2],
        serial=v[3],
        not_before=_parse_dt(v[4]),
        not_after=_parse_dt(v[5]),
        dns_names=_strs(v[6]),
        ip_addresses=_strs(v[7]),
        has_san_extension=bool(v[8]),
        key_type=v[9],
        key_bits=int(v[10]),
        signature_algorithm=v[11],
        signature_hash=v[12],
        is_ca=bool(v[13]),
        self_issued=bool(v[14]),
        self_signed=bool(v[15]),
        subject_key_id=v[16],
        authority_key_id=v[17],
        aia_ca_issuers=_strs(v[18]),
        public_key_sha256=v[19],
        warnings=_strs(v[20]),
    )


# --------------------------------------------------------------------------- errors


def _explain(path: Path, exc: BaseException, doing: str) -> HistoryError:
    """Turn a sqlite3/OS error into a HistoryError that names the file."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "not a database" in lowered or "encrypted" in lowered:
        return HistoryError(
            f"{path} is not a certaudit history database (SQLite: {text})", hint=_DB_HINT
        )
    if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
        return HistoryError(
            f"cannot {doing} the history database {path}: {text}",
            hint=f"check that {path.parent} exists and is writable, or {_DB_HINT}",
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


# --------------------------------------------------------------------------- the store


class History:
    """The run history in one SQLite file. Use as a context manager; see module doc."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        """Use `History.open`."""
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._conn = conn
        self._lock_fd: int | None = None
        self._active_run: str | None = None
        self._cert_cache: OrderedDict[CertInfo, tuple[int, str | None]] = OrderedDict()
        self._cert_pending: dict[CertInfo, tuple[int, str | None]] = {}

    # ---- opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = True) -> History:
        """Open (and create or upgrade) the history at `path`.

        create=False refuses a missing file (for `report` and `diff`, which only read).
        """
        db = Path(path).expanduser()
        if not create and not db.exists():
            raise HistoryError(f"no history database at {db}", hint=_DB_HINT)
        if db.exists() and not db.is_file():
            raise HistoryError(f"{db} is not a file", hint=_DB_HINT)
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"cannot create the folder for the history database {db}: {exc.strerror or exc}",
                hint=_DB_HINT,
            ) from exc
        try:
            conn = sqlite3.connect(str(db), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise _explain(db, exc, "open") from exc
        conn.row_factory = _text_row
        try:
            _prepare(conn, db)
        except HistoryError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise _explain(db, exc, "open") from exc
        return cls(db, conn)

    def close(self) -> None:
        """Release the run lock (an unfinished run then reads as interrupted) and close."""
        self._release_lock()
        self._active_run = None
        with suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- the run lock

    def _acquire_lock(self) -> int:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise HistoryError(
                f"cannot create the run lock {self.lock_path}: {exc.strerror or exc}",
                hint=_DB_HINT,
            ) from exc
        deadline = time.monotonic() + LOCK_GRACE_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid, _ = _read_lock_info(fd)
                    os.close(fd)
                    raise HistoryError(
                        f"another certaudit run is in progress (pid {pid or 'unknown'}) "
                        f"on {self.path}",
                        hint=f"wait for it to finish; the lock is {self.lock_path}",
                    ) from None
                time.sleep(0.02)
            except OSError as exc:
                os.close(fd)
                raise HistoryError(
                    f"cannot lock {self.lock_path}: {exc.strerror or exc}", hint=_DB_HINT
                ) from exc

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            with suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            with suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def _live_run_id(self) -> str | None:
        """The run whose process holds the lock right now, if any. Never waits."""
        if self._active_run is not None:
            return self._active_run
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_lock_info(fd)[1]
            except OSError:
                return None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    # ---- writing

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        self._cert_pending.clear()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
            cache = self._cert_cache
            for cert, value in self._cert_pending.items():
                cache[cert] = value
                cache.move_to_end(cert)
            while len(cache) > CERT_CACHE_SIZE:
                cache.popitem(last=False)
            self._cert_pending.clear()
        except BaseException as exc:
            self._cert_pending.clear()
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _explain(self.path, exc, doing) from exc
            raise

    def _require_active(self, run_id: str) -> None:
        if self._active_run != run_id:
            raise HistoryError(
                f"run {run_id} is not the run this process began"
                + (f" ({self._active_run})" if self._active_run else "")
            )

    def begin_run(
        self, inventory: str, settings: dict[str, Any], *, started_at: datetime | None = None
    ) -> str:
        """Take the run lock and record a new run; returns its id ("20261127T174500Z-ab12").

        `settings` is stored as JSON (values JSON cannot hold are stored as text); it must
        not contain secrets. Raises HistoryError when another run holds the lock.
        """
        if self._active_run is not None:
            raise HistoryError(f"run {self._active_run} is still in progress in this process")
        started = started_at or _now()
        fd = self._acquire_lock()
        try:
            settings_json = json.dumps(settings, sort_keys=True, default=str)
            stamp = _utc(started).strftime("%Y%m%dT%H%M%SZ")
            for _ in range(20):
                run_id = f"{stamp}-{secrets.token_hex(2)}"
                with self._transaction("record the start of a run in") as conn:
                    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                        continue
                    _write_lock_info(fd, run_id)
                    conn.execute(
                        "INSERT INTO runs (id, started_at, status, inventory, settings, pid) "
                        "VALUES (?, ?, 'running', ?, ?, ?)",
                        (run_id, _dt(started), _w(inventory), settings_json, os.getpid()),
                    )
                break
            else:  # pragma: no cover - 20 collisions of 16 random bits in one second
                raise HistoryError("could not choose a unique run id")
        except BaseException:
            with suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        self._lock_fd = fd
        self._active_run = run_id
        return run_id

    def resume_run(self, run_id: str) -> None:
        """Take the run lock and reopen a run that did not complete (killed, or stopped
        with Ctrl-C) so more hosts can be recorded into it; its findings are dropped, to be
        computed again over every host when it finishes. Raises HistoryError when another
        run holds the lock, the run does not exist, or it completed.
        """
        if self._active_run is not None:
            raise HistoryError(f"run {self._active_run} is still in progress in this process")
        fd = self._acquire_lock()
        try:
            with self._transaction("reopen a run in") as conn:
                row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
                if row is None:
                    raise HistoryError(f"no run {run_id} in {self.path}")
                if row[0] == "complete":
                    raise HistoryError(f"run {run_id} completed; there is nothing to resume")
                _write_lock_info(fd, run_id)
                conn.execute(
                    "UPDATE runs SET status = 'running', finished_at = NULL, pid = ? WHERE id = ?",
                    (os.getpid(), run_id),
                )
                conn.execute("DELETE FROM findings WHERE run_id = ?", (run_id,))
        except BaseException:
            with suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        self._lock_fd = fd
        self._active_run = run_id

    def record_host(self, run_id: str, result: HostResult, *, position: int | None = None) -> None:
        """Store one host's envelope in its own committed transaction.

        Hosts read back ordered by `position` (default: the order they were recorded).
        Recording the same host name again in the same run replaces the earlier record.
        """
        self._require_active(run_id)
        h = result.host
        with self._transaction(f"record host {h.name} in") as conn:
            old = conn.execute(
                "SELECT pk, seq FROM hosts WHERE run_id = ? AND name = ?", _bind(run_id, h.name)
            ).fetchone()
            if old is not None:
                conn.execute("DELETE FROM hosts WHERE pk = ?", (old[0],))
            if position is not None:
                seq = position
            elif old is not None:
                seq = old[1]
            else:
                seq = conn.execute(
                    "SELECT coalesce(max(seq) + 1, 0) FROM hosts WHERE run_id = ?", (run_id,)
                ).fetchone()[0]
            cur = conn.execute(
                "INSERT INTO hosts (run_id, seq, name, address, ssh_port, ssh_user, key_file,"
                " become, host_groups, cert_paths, tls_names, tls_ports, probe_direct, source,"
                " outcome, detail, started_at, finished_at, bytes_received, facts, recorded_at)"
                f" VALUES ({_marks(21)})",
                _bind(
                    run_id, seq, h.name, h.address, h.port, h.user, h.key_file, int(h.become),
                    _json(h.groups), _json(h.cert_paths), _json(h.tls_names),
                    _json(h.tls_ports), int(h.probe_direct), h.source, result.outcome.value,
                    result.detail, _dt(result.started_at), _dt(result.finished_at),
                    result.bytes_received, _json(list(pair) for pair in result.facts),
                    _dt(_now()),
                ),
            )  # fmt: skip
            host_pk = cur.lastrowid
            conn.executemany(
                "INSERT INTO locations (host_pk, seq, host, path, kind, bundle_index, format,"
                f" servername, cert_pk, cert_variant) VALUES ({_marks(10)})",
                [
                    _bind(
                        host_pk, i, loc.host, loc.path, loc.kind, loc.index, loc.format,
                        loc.servername, *self._store_cert(f.cert),
                    )
                    for i, f in enumerate(result.certificates)
                    for loc in (f.location,)
                ],
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO unparseable (host_pk, seq, host, path, reason, bundle_index)"
                f" VALUES ({_marks(6)})",
                [
                    _bind(host_pk, i, u.host, u.path, u.reason, u.index)
                    for i, u in enumerate(result.unparseable)
                ],
            )
            conn.executemany(
                "INSERT INTO key_files (host_pk, seq, host, path, owner, file_group, mode, kind)"
                f" VALUES ({_marks(8)})",
                [
                    _bind(host_pk, i, k.host, k.path, k.owner, k.group, k.mode, k.kind)
                    for i, k in enumerate(result.key_files)
                ],
            )
            conn.executemany(
                "INSERT INTO issues (host_pk, seq, host, path, reason, detail)"
                f" VALUES ({_marks(6)})",
                [
                    _bind(host_pk, i, c.host, c.path, c.reason.value, c.detail)
                    for i, c in enumerate(result.issues)
                ],
            )
            conn.executemany(
                "INSERT INTO ca_bundles (host_pk, seq, path) VALUES (?, ?, ?)",
                [_bind(host_pk, i, p) for i, p in enumerate(result.ca_bundles)],
            )
            for i, listener in enumerate(result.listeners):
                self._store_listener(conn, host_pk, i, listener)
            conn.executemany(
                "INSERT INTO tls_configs (host_pk, seq, host, server, file, line, listens,"
                " server_names, cert_file, cert_config_file, cert_config_line, key_file,"
                " key_config_file, key_config_line, chain_file, key_sha256, key_check)"
                f" VALUES ({_marks(17)})",
                [
                    _bind(
                        host_pk, i, t.host, t.server, t.file, t.line,
                        _json([x.address, x.port, x.tls, x.file, x.line] for x in t.listens),
                        _json(t.server_names), t.cert_file, t.cert_config_file,
                        t.cert_config_line, t.key_file, t.key_config_file, t.key_config_line,
                        t.chain_file, t.key_sha256, t.key_check,
                    )
                    for i, t in enumerate(result.tls_configs)
                ],
            )  # fmt: skip

    def _store_cert(self, cert: CertInfo) -> tuple[int, str | None]:
        """Make sure the certificate is stored; returns its pk and the occurrence's variant.

        The first run to see a certificate writes its columns. Should a later CertInfo for
        the same DER differ (a per-file warning such as trailing bytes, or a newer parser),
        the occurrence keeps its own columns as JSON so the run reads back exactly.
        A bounded cache skips the work for certificates seen recently (CA bundles repeat
        on every host); entries join it only when their transaction commits.
        """
        hit = self._cert_cache.get(cert) or self._cert_pending.get(cert)
        if hit is not None:
            return hit
        values = _cert_values(cert)
        row = self._conn.execute(
            f"SELECT pk, {_CERT_COLUMNS} FROM certificates WHERE sha256 = ?", (cert.sha256,)
        ).fetchone()
        if row is None:
            cur = self._conn.execute(
                f"INSERT INTO certificates (sha256, der, {_CERT_COLUMNS})"
                f" VALUES ({_marks(len(values) + 2)})",
                (cert.sha256, cert.der, *_bind(*values)),
            )
            assert cur.lastrowid is not None
            result: tuple[int, str | None] = (cur.lastrowid, None)
        elif tuple(row[1:]) == values:
            result = (row[0], None)
        else:
            result = (row[0], json.dumps(values, ensure_ascii=True))
        self._cert_pending[cert] = result
        return result

    def _store_listener(
        self, conn: sqlite3.Connection, host_pk: int | None, seq: int, li: Listener
    ) -> None:
        cur = conn.execute(
            "INSERT INTO listeners (host_pk, seq, host, address, port, process, expects_tls,"
            " config_file, config_line, cert_file, server, server_names, starttls,"
            f" legacy_protocol, notes) VALUES ({_marks(15)})",
            _bind(
                host_pk, seq, li.host, li.address, li.port, li.process, int(li.expects_tls),
                li.config_file, li.config_line, li.cert_file, li.server,
                _json(li.server_names), li.starttls, li.legacy_protocol, _json(li.notes),
            ),
        )  # fmt: skip
        listener_pk = cur.lastrowid
        for j, p in enumerate(li.probes):
            cur = conn.execute(
                "INSERT INTO probes (listener_pk, seq, host, address, port, servername, status,"
                " via, protocol, cipher, alpn, acceptable_ca_names, error, elapsed_ms)"
                f" VALUES ({_marks(14)})",
                _bind(
                    listener_pk, j, p.host, p.address, p.port, p.servername, p.status.value,
                    p.via, p.protocol, p.cipher, p.alpn, _json(p.acceptable_ca_names), p.error,
                    float(p.elapsed_ms),
                ),
            )  # fmt: skip
            probe_pk = cur.lastrowid
            conn.executemany(
                "INSERT INTO probe_chain (probe_pk, seq, cert_pk, cert_variant)"
                " VALUES (?, ?, ?, ?)",
                [(probe_pk, k, *self._store_cert(cert)) for k, cert in enumerate(p.chain)],
            )

    def record_findings(self, run_id: str, findings: Iterable[Finding]) -> None:
        """Append findings to the run, in order, in one committed transaction."""
        self._require_active(run_id)
        with self._transaction("record findings in") as conn:
            start = conn.execute(
                "SELECT coalesce(max(seq) + 1, 0) FROM findings WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
            conn.executemany(
                "INSERT INTO findings (run_id, seq, finding_id, severity, host, subject, title,"
                " detail, diagnose, fix, cert_sha256, risk, why, days_left)"
                f" VALUES ({_marks(14)})",
                [
                    _bind(
                        run_id, start + i, f.id, f.severity.value, f.host, f.subject, f.title,
                        f.detail, f.diagnose, f.fix, f.cert_sha256, float(f.risk), f.why,
                        None if f.days_left is None else float(f.days_left),
                    )
                    for i, f in enumerate(findings)
                ],
            )  # fmt: skip

    def finish_run(
        self, run_id: str, *, partial: bool, finished_at: datetime | None = None
    ) -> None:
        """Mark the run complete (or partial) and release the run lock."""
        self._require_active(run_id)
        with self._transaction("record the end of a run in") as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
                (_dt(finished_at or _now()), "partial" if partial else "complete", run_id),
            )
        self._active_run = None
        self._release_lock()

    # ---- reading

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc, "read") from exc

    def _status(self, stored: str, run_id: str, live: str | None) -> RunStatus:
        if stored != "running":
            return RunStatus(stored)
        return RunStatus.RUNNING if live == run_id else RunStatus.INTERRUPTED

    def list_runs(self) -> list[RunSummary]:
        """Every run, newest first."""
        live = self._live_run_id()
        outcomes: dict[str, Counter[str]] = defaultdict(Counter)
        for run_id, outcome, n in self._query(
            "SELECT run_id, outcome, count(*) FROM hosts GROUP BY run_id, outcome"
        ):
            outcomes[run_id][outcome] = n
        severities: dict[str, Counter[str]] = defaultdict(Counter)
        for run_id, severity, n in self._query(
            "SELECT run_id, severity, count(*) FROM findings GROUP BY run_id, severity"
        ):
            severities[run_id][severity] = n
        audited = {o.value for o in HostOutcome if o.audited}
        out = []
        for run_id, started, finished, status, inventory in self._query(
            "SELECT id, started_at, finished_at, status, inventory FROM runs"
            " ORDER BY started_at DESC, id DESC"
        ):
            oc, sc = outcomes.get(run_id, Counter()), severities.get(run_id, Counter())
            out.append(
                RunSummary(
                    run_id=run_id,
                    started_at=_parse_dt(started),
                    finished_at=_opt_dt(finished),
                    status=self._status(status, run_id, live),
                    inventory=inventory,
                    hosts=sum(oc.values()),
                    hosts_audited=sum(n for o, n in oc.items() if o in audited),
                    outcomes=_ordered(oc, [o.value for o in HostOutcome]),
                    findings=sum(sc.values()),
                    severities=_ordered(sc, [s.value for s in Severity]),
                )
            )
        return out

    def latest_run_id(
        self, before: str | None = None, *, complete_only: bool = False
    ) -> str | None:
        """The newest run (started before run `before`, when given); None if there is none."""
        where: list[str] = []
        params: list[Any] = []
        if before is not None:
            row = self._query("SELECT started_at FROM runs WHERE id = ?", (before,))
            if not row:
                raise HistoryError(
                    f"no run {before} in {self.path}", hint="see `certaudit report --list`"
                )
            where.append("(started_at, id) < (?, ?)")
            params += [row[0][0], before]
        if complete_only:
            where.append("status = 'complete'")
        sql = "SELECT id FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query(sql + " ORDER BY started_at DESC, id DESC LIMIT 1", params)
        return rows[0][0] if rows else None

    def run_settings(self, run_id: str) -> dict[str, Any]:
        """The settings begin_run stored for the run."""
        rows = self._query("SELECT settings FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise HistoryError(f"no run {run_id} in {self.path}")
        value = json.loads(rows[0][0])
        return value if isinstance(value, dict) else {}

    def run_status(self, run_id: str) -> RunStatus:
        """How the run stands now (running, complete, partial or interrupted)."""
        rows = self._query("SELECT status FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise HistoryError(f"no run {run_id} in {self.path}")
        return self._status(rows[0][0], run_id, self._live_run_id())

    def load_run(self, run_id: str) -> AuditResult:
        """The whole run as the model, equal to what was recorded.

        A run that is not complete loads with partial=True; its finished_at is when it was
        finished, or else when its last host was recorded (or its start).
        """
        try:
            return self._load_run(run_id)
        except sqlite3.Error as exc:
            raise _explain(self.path, exc, "read") from exc

    def _load_run(self, run_id: str) -> AuditResult:
        runs = self._query(
            "SELECT started_at, finished_at, status, inventory FROM runs WHERE id = ?", (run_id,)
        )
        if not runs:
            raise HistoryError(
                f"no run {run_id} in {self.path}", hint="see `certaudit report --list`"
            )
        started, finished, status, inventory = runs[0]
        if finished is None:  # never finished: its last sign of life
            last = self._query("SELECT max(recorded_at) FROM hosts WHERE run_id = ?", (run_id,))
            finished = max(started, last[0][0] or started, key=_parse_dt)
        certs = self._load_certs(run_id)

        def cert(pk: int, variant: str | None) -> CertInfo:
            if variant is None:
                return certs[pk]
            return _cert_from(certs[pk].sha256, certs[pk].der, json.loads(variant))

        host_join = "JOIN hosts h ON h.pk = t.host_pk WHERE h.run_id = ? ORDER BY t.host_pk, t.seq"
        found: dict[int, list[FoundCert]] = defaultdict(list)
        for pk, host, path, kind, index, fmt, servername, cert_pk, variant in self._query(
            "SELECT t.host_pk, t.host, t.path, t.kind, t.bundle_index, t.format, t.servername,"
            " t.cert_pk, t.cert_variant FROM locations t " + host_join,
            (run_id,),
        ):
            found[pk].append(
                FoundCert(
                    cert(cert_pk, variant), CertLocation(host, path, kind, index, fmt, servername)
                )
            )
        unparseable: dict[int, list[Unparseable]] = defaultdict(list)
        for pk, host, path, reason, index in self._query(
            "SELECT t.host_pk, t.host, t.path, t.reason, t.bundle_index FROM unparseable t "
            + host_join,
            (run_id,),
        ):
            unparseable[pk].append(Unparseable(host, path, reason, index))
        keys: dict[int, list[KeyFile]] = defaultdict(list)
        for pk, host, path, owner, group, mode, kind in self._query(
            "SELECT t.host_pk, t.host, t.path, t.owner, t.file_group, t.mode, t.kind"
            " FROM key_files t " + host_join,
            (run_id,),
        ):
            keys[pk].append(KeyFile(host, path, owner, group, mode, kind))
        issues: dict[int, list[CollectionIssue]] = defaultdict(list)
        for pk, host, path, reason, detail in self._query(
            "SELECT t.host_pk, t.host, t.path, t.reason, t.detail FROM issues t " + host_join,
            (run_id,),
        ):
            issues[pk].append(CollectionIssue(host, path, IssueReason(reason), detail))
        bundles: dict[int, list[str]] = defaultdict(list)
        for pk, path in self._query(
            "SELECT t.host_pk, t.path FROM ca_bundles t " + host_join, (run_id,)
        ):
            bundles[pk].append(path)
        listeners = self._load_listeners(run_id, cert)
        configs: dict[int, list[TlsConfig]] = defaultdict(list)
        for r in self._query(
            "SELECT t.host_pk, t.host, t.server, t.file, t.line, t.listens, t.server_names,"
            " t.cert_file, t.cert_config_file, t.cert_config_line, t.key_file,"
            " t.key_config_file, t.key_config_line, t.chain_file, t.key_sha256, t.key_check"
            " FROM tls_configs t " + host_join,
            (run_id,),
        ):
            configs[r[0]].append(
                TlsConfig(
                    host=r[1],
                    server=r[2],
                    file=r[3],
                    line=r[4],
                    listens=tuple(
                        ConfigListen(a, int(p), bool(t), f, int(n))
                        for a, p, t, f, n in json.loads(r[5])
                    ),
                    server_names=_strs(r[6]),
                    cert_file=r[7],
                    cert_config_file=r[8],
                    cert_config_line=r[9],
                    key_file=r[10],
                    key_config_file=r[11],
                    key_config_line=r[12],
                    chain_file=r[13],
                    key_sha256=r[14],
                    key_check=r[15],
                )
            )

        hosts = []
        for row in self._query(
            "SELECT pk, name, address, ssh_port, ssh_user, key_file, become, host_groups,"
            " cert_paths, tls_names, tls_ports, probe_direct, source, outcome, detail,"
            " started_at, finished_at, bytes_received, facts"
            " FROM hosts WHERE run_id = ? ORDER BY seq, pk",
            (run_id,),
        ):
            pk = row[0]
            host = Host(
                name=row[1],
                address=row[2],
                port=row[3],
                user=row[4],
                key_file=row[5],
                become=bool(row[6]),
                groups=_strs(row[7]),
                cert_paths=_strs(row[8]),
                tls_names=_strs(row[9]),
                tls_ports=tuple(json.loads(row[10])),
                probe_direct=bool(row[11]),
                source=row[12],
            )
            hosts.append(
                HostResult(
                    host=host,
                    outcome=HostOutcome(row[13]),
                    detail=row[14],
                    started_at=_opt_dt(row[15]),
                    finished_at=_opt_dt(row[16]),
                    certificates=tuple(found.get(pk, ())),
                    unparseable=tuple(unparseable.get(pk, ())),
                    key_files=tuple(keys.get(pk, ())),
                    issues=tuple(issues.get(pk, ())),
                    ca_bundles=tuple(bundles.get(pk, ())),
                    listeners=tuple(listeners.get(pk, ())),
                    tls_configs=tuple(configs.get(pk, ())),
                    bytes_received=row[17],
                    facts=tuple((k, v) for k, v in json.loads(row[18])),
                )
            )
        findings = tuple(
            Finding(
                id=r[0],
                severity=Severity(r[1]),
                host=r[2],
                subject=r[3],
                title=r[4],
                detail=r[5],
                diagnose=r[6],
                fix=r[7],
                cert_sha256=r[8],
                risk=r[9],
                why=r[10],
                days_left=r[11],
            )
            for r in self._query(
                "SELECT finding_id, severity, host, subject, title, detail, diagnose, fix,"
                " cert_sha256, risk, why, days_left FROM findings WHERE run_id = ? ORDER BY seq",
                (run_id,),
            )
        )
        return AuditResult(
            run_id=run_id,
            started_at=_parse_dt(started),
            finished_at=_parse_dt(finished),
            inventory=inventory,
            hosts=tuple(hosts),
            findings=findings,
            partial=status != "complete",
        )

    def _load_certs(self, run_id: str) -> dict[int, CertInfo]:
        """Every certificate the run refers to, one CertInfo per certificates.pk."""
        cursor = self._conn.cursor()
        cursor.row_factory = None  # type: ignore[assignment]  # der must stay bytes
        rows = cursor.execute(
            f"SELECT pk, sha256, der, {_CERT_COLUMNS} FROM certificates WHERE pk IN ("
            " SELECT l.cert_pk FROM locations l JOIN hosts h ON h.pk = l.host_pk"
            " WHERE h.run_id = ?"
            " UNION SELECT c.cert_pk FROM probe_chain c JOIN probes p ON p.pk = c.probe_pk"
            " JOIN listeners l ON l.pk = p.listener_pk JOIN hosts h ON h.pk = l.host_pk"
            " WHERE h.run_id = ?)",
            (run_id, run_id),
        ).fetchall()
        return {
            pk: _cert_from(sha256, der, [_r(v) for v in values])
            for pk, sha256, der, *values in rows
        }

    def _load_listeners(
        self, run_id: str, cert: Callable[[int, str | None], CertInfo]
    ) -> dict[int, list[Listener]]:
        chains: dict[int, list[CertInfo]] = defaultdict(list)
        for probe_pk, cert_pk, variant in self._query(
            "SELECT c.probe_pk, c.cert_pk, c.cert_variant FROM probe_chain c"
            " JOIN probes p ON p.pk = c.probe_pk JOIN listeners l ON l.pk = p.listener_pk"
            " JOIN hosts h ON h.pk = l.host_pk WHERE h.run_id = ? ORDER BY c.probe_pk, c.seq",
            (run_id,),
        ):
            chains[probe_pk].append(cert(cert_pk, variant))
        probes: dict[int, list[TlsProbe]] = defaultdict(list)
        for r in self._query(
            "SELECT p.listener_pk, p.pk, p.host, p.address, p.port, p.servername, p.status,"
            " p.via, p.protocol, p.cipher, p.alpn, p.acceptable_ca_names, p.error, p.elapsed_ms"
            " FROM probes p JOIN listeners l ON l.pk = p.listener_pk"
            " JOIN hosts h ON h.pk = l.host_pk WHERE h.run_id = ? ORDER BY p.listener_pk, p.seq",
            (run_id,),
        ):
            probes[r[0]].append(
                TlsProbe(
                    host=r[2],
                    address=r[3],
                    port=r[4],
                    servername=r[5],
                    status=ProbeStatus(r[6]),
                    via=r[7],
                    protocol=r[8],
                    cipher=r[9],
                    alpn=r[10],
                    chain=tuple(chains.get(r[1], ())),
                    acceptable_ca_names=_strs(r[11]),
                    error=r[12],
                    elapsed_ms=r[13],
                )
            )
        listeners: dict[int, list[Listener]] = defaultdict(list)
        for r in self._query(
            "SELECT l.host_pk, l.pk, l.host, l.address, l.port, l.process, l.expects_tls,"
            " l.config_file, l.config_line, l.cert_file, l.server, l.server_names, l.starttls,"
            " l.legacy_protocol, l.notes FROM listeners l"
            " JOIN hosts h ON h.pk = l.host_pk WHERE h.run_id = ? ORDER BY l.host_pk, l.seq",
            (run_id,),
        ):
            listeners[r[0]].append(
                Listener(
                    host=r[2],
                    address=r[3],
                    port=r[4],
                    process=r[5],
                    expects_tls=bool(r[6]),
                    probes=tuple(probes.get(r[1], ())),
                    config_file=r[7],
                    config_line=r[8],
                    cert_file=r[9],
                    server=r[10],
                    server_names=_strs(r[11]),
                    starttls=r[12],
                    legacy_protocol=r[13],
                    notes=_strs(r[14]),
                )
            )
        return listeners


def _ordered(counts: Counter[str], order: list[str]) -> tuple[tuple[str, int], ...]:
    known = [(k, counts[k]) for k in order if counts.get(k)]
    extra = sorted((k, n) for k, n in counts.items() if k not in order and n)
    return tuple(known + extra)


def _read_lock_info(fd: int) -> tuple[int | None, str | None]:
    """(pid, run id) written in the lock file by its holder."""
    try:
        text = os.pread(fd, 256, 0).decode("ascii", "replace").split()
    except OSError:
        return None, None
    pid = int(text[0]) if text and text[0].isdigit() else None
    return pid, (text[1] if len(text) > 1 else None)


def _write_lock_info(fd: int, run_id: str) -> None:
    with suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {run_id}\n".encode("ascii"), 0)


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Check the file is ours and not newer, set the connection up, apply migrations."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    known = schema_version()
    if app_id not in (0, APPLICATION_ID) or (version > 0 and app_id != APPLICATION_ID):
        raise HistoryError(
            f"{path} is an SQLite database but not a certaudit history", hint=_DB_HINT
        )
    if version > known:
        raise HistoryError(
            f"{path} was created by a newer certaudit (schema {version}; this version "
            f"knows up to {known})",
            hint=f"upgrade certaudit, or {_DB_HINT}",
        )
    if version == 0:
        tables = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        if tables:
            raise HistoryError(
                f"{path} is an SQLite database but not a certaudit history", hint=_DB_HINT
            )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    if version < known:
        _migrate(conn, path)
    conn.execute("PRAGMA foreign_keys = ON")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Apply pending migrations, each in its own transaction (safe against a concurrent
    opener: the version is read again under the write lock)."""
    conn.execute("PRAGMA foreign_keys = OFF")
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current >= len(MIGRATIONS):
                conn.execute("COMMIT")
                return
            step = MIGRATIONS[current]
            if callable(step):
                step(conn)
            else:
                for statement in step:
                    conn.execute(statement)
            if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                raise HistoryError(f"upgrading {path} to schema {current + 1} broke a foreign key")
            conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise


# --------------------------------------------------------------------------- diff


class CertChangeKind(enum.StrEnum):
    """What happened to the certificate at one location between two runs."""

    RENEWED = "renewed"
    """Same subject, names, issuer and key type/size; new validity/serial/key. Routine."""
    CHANGED = "changed"
    """A different issuer, subject, names or key type/size. Material."""
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class CertChange:
    """One certificate change at one location."""

    kind: CertChangeKind
    location: CertLocation
    """The location in the newer run (the older one for `removed`)."""
    old: CertInfo | None
    new: CertInfo | None
    changes: tuple[str, ...] = ()
    """What differs: "subject", "names", "issuer", "key type", "key size" (material) and
    "validity", "serial", "key" (routine)."""


@dataclass(frozen=True)
class RunDiff:
    """What changed from run `old_run` to run `new_run`."""

    old_run: str
    new_run: str
    new: tuple[Finding, ...]
    """Findings in the newer run that the older one did not have (newer run's order)."""
    resolved: tuple[Finding, ...]
    """Findings of the older run gone from the newer one, on hosts audited in both."""
    unchanged: tuple[Finding, ...]
    """Findings in both (as in the newer run)."""
    unverified: tuple[Finding, ...]
    """Findings of the older run on hosts the newer run did not audit: not known resolved."""
    renewed: tuple[CertChange, ...]
    changed: tuple[CertChange, ...]
    added: tuple[CertChange, ...]
    removed: tuple[CertChange, ...]
    hosts_not_compared: tuple[str, ...]
    """Hosts audited in one run but not the other; their certificates are not compared."""


DIFF_IGNORED_KINDS = frozenset({"ca_bundle", "archive"})
"""Location kinds left out of certificate changes: trust stores and certbot's archive
change wholesale and are not deployed certificates."""

_LocKey = tuple[str, str, str, str]


def _audited_hosts(run: AuditResult) -> set[str]:
    return {h.host.name for h in run.hosts if h.outcome.audited}


def _keyed_findings(run: AuditResult) -> list[tuple[Any, ...]]:
    """The matching key of each finding of the run, in order."""
    places: dict[tuple[str, str], list[CertLocation]] = defaultdict(list)
    served: dict[tuple[str, str], set[tuple[str, int, str, int]]] = defaultdict(set)
    for h in run.hosts:
        for fc in h.certificates:
            places[(h.host.name, fc.cert.sha256)].append(fc.location)
        for listener in h.listeners:
            for probe in listener.probes:
                for i, c in enumerate(probe.chain):
                    served[(h.host.name, c.sha256)].add(
                        (probe.address, probe.port, probe.servername or "", i)
                    )
    keys = []
    for f in run.findings:
        ident: Any = None
        if f.cert_sha256 is not None:
            locs = places.get((f.host, f.cert_sha256))
            if locs:
                here = [loc for loc in locs if loc.path == f.subject] or locs
                ident = tuple(
                    sorted({(loc.kind, loc.path, loc.index, loc.servername or "") for loc in here})
                )
            elif (f.host, f.cert_sha256) in served:
                ident = tuple(sorted(served[(f.host, f.cert_sha256)]))
            else:
                ident = ("sha256", f.cert_sha256)
        keys.append((f.id, f.host, f.subject, ident))
    return keys


def _names(c: CertInfo) -> frozenset[str]:
    return frozenset(c.dns_names) | frozenset(c.ip_addresses)


def _differences(old: CertInfo, new: CertInfo) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(material, routine) differences between two certificates."""
    material = []
    if old.subject != new.subject:
        material.append("subject")
    if _names(old) != _names(new):
        material.append("names")
    if old.issuer != new.issuer:
        material.append("issuer")
    if old.key_type != new.key_type:
        material.append("key type")
    elif old.key_bits != new.key_bits:
        material.append("key size")
    routine = []
    if (old.not_before, old.not_after) != (new.not_before, new.not_after):
        routine.append("validity")
    if old.serial != new.serial:
        routine.append("serial")
    if old.public_key_sha256 != new.public_key_sha256:
        routine.append("key")
    return tuple(material), tuple(routine)


def _renewal_identity(c: CertInfo) -> tuple[Any, ...]:
    return (c.subject, _names(c), c.issuer, c.key_type, c.key_bits)


def _located(
    run: AuditResult, hosts: set[str], ignore: frozenset[str]
) -> dict[_LocKey, list[FoundCert]]:
    groups: dict[_LocKey, list[FoundCert]] = defaultdict(list)
    for h in run.hosts:
        if h.host.name not in hosts:
            continue
        for fc in h.certificates:
            loc = fc.location
            if loc.kind in ignore:
                continue
            groups[(h.host.name, loc.kind, loc.path, loc.servername or "")].append(fc)
    return groups


def _pair(
    old: list[FoundCert], new: list[FoundCert], match: Callable[[FoundCert, FoundCert], bool]
) -> list[tuple[FoundCert, FoundCert]]:
    """Greedily pair items that match, removing them from both lists (order kept)."""
    pairs = []
    for o in list(old):
        for n in new:
            if match(o, n):
                pairs.append((o, n))
                old.remove(o)
                new.remove(n)
                break
    return pairs


def diff_runs(
    a: AuditResult, b: AuditResult, *, ignore_kinds: frozenset[str] = DIFF_IGNORED_KINDS
) -> RunDiff:
    """What changed from run `a` (older) to run `b` (newer). Pure.

    Findings are matched on (id, host, subject, certificate identity), where a
    certificate's identity is where it lives (kind, path, index, SNI name), not its sha256,
    so the same problem on a renewed certificate is "unchanged". Certificates are compared
    per location (host, kind, path, SNI name): an identical certificate (even at another
    index) is no change; otherwise pairs with the same subject, names, issuer and key are
    renewals, pairs at the same index are changes, and the rest were added or removed.
    """
    audited_a, audited_b = _audited_hosts(a), _audited_hosts(b)

    old_keyed: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, key in enumerate(_keyed_findings(a)):
        old_keyed[key].append(i)
    new, unchanged = [], []
    for f, key in zip(b.findings, _keyed_findings(b), strict=True):
        bucket = old_keyed.get(key)
        if bucket:
            bucket.pop(0)
            unchanged.append(f)
        else:
            new.append(f)
    inventory_hosts = {h.host.name for h in a.hosts} | {h.host.name for h in b.hosts}
    resolved, unverified = [], []
    for i in sorted(i for left in old_keyed.values() for i in left):
        f = a.findings[i]
        if f.host in inventory_hosts and f.host not in audited_b:
            unverified.append(f)
        else:
            resolved.append(f)

    compared = audited_a & audited_b
    not_compared = sorted(audited_a ^ audited_b)
    old_groups = _located(a, compared, ignore_kinds)
    new_groups = _located(b, compared, ignore_kinds)
    changes: dict[CertChangeKind, list[CertChange]] = defaultdict(list)
    for key in list(old_groups) + [k for k in new_groups if k not in old_groups]:
        olds, news = list(old_groups.get(key, ())), list(new_groups.get(key, ()))
        _pair(olds, news, lambda o, n: o.cert.sha256 == n.cert.sha256)
        for o, n in _pair(
            olds, news, lambda o, n: _renewal_identity(o.cert) == _renewal_identity(n.cert)
        ):
            _, routine = _differences(o.cert, n.cert)
            changes[CertChangeKind.RENEWED].append(
                CertChange(CertChangeKind.RENEWED, n.location, o.cert, n.cert, routine)
            )
        for o, n in _pair(olds, news, lambda o, n: o.location.index == n.location.index):
            material, routine = _differences(o.cert, n.cert)
            changes[CertChangeKind.CHANGED].append(
                CertChange(CertChangeKind.CHANGED, n.location, o.cert, n.cert, material + routine)
            )
        for o in olds:
            changes[CertChangeKind.REMOVED].append(
                CertChange(CertChangeKind.REMOVED, o.location, o.cert, None)
            )
        for n in news:
            changes[CertChangeKind.ADDED].append(
                CertChange(CertChangeKind.ADDED, n.location, None, n.cert)
            )
    return RunDiff(
        old_run=a.run_id,
        new_run=b.run_id,
        new=tuple(new),
        resolved=tuple(resolved),
        unchanged=tuple(unchanged),
        unverified=tuple(unverified),
        renewed=tuple(changes[CertChangeKind.RENEWED]),
        changed=tuple(changes[CertChangeKind.CHANGED]),
        added=tuple(changes[CertChangeKind.ADDED]),
        removed=tuple(changes[CertChangeKind.REMOVED]),
        hosts_not_compared=tuple(not_compared),
    )
