"""The database schema: one declaration per table, the migrations generated from them,
and the checks and upgrade done when a database is opened.

The schema version is `PRAGMA user_version`; the file is marked as ours with
`PRAGMA application_id`. Every child row carries `seq`, its position in the model's
tuple, so a run reads back in exactly the order it was written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from audit.errors import HistoryError
from audit.history.codec import scalar
from audit.history.files import DB_HINT
from audit.history.table import Column, Index, Table

APPLICATION_ID = 0x43415544
"""`PRAGMA application_id` of a certaudit history ("CAUD")."""

BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for another connection's write lock."""

_HOST_PK = Column("host_pk", "INTEGER NOT NULL REFERENCES hosts (pk) ON DELETE CASCADE")
_SEQ = Column("seq", "INTEGER NOT NULL")
_HOST = Column("host", "TEXT NOT NULL")
_PATH = Column("path", "TEXT NOT NULL")
_PER_HOST = "PRIMARY KEY (host_pk, seq)"

RUNS = Table(
    "runs",
    (
        Column("id", "TEXT PRIMARY KEY"),
        Column("started_at", "TEXT NOT NULL"),
        Column("finished_at", "TEXT"),
        Column("status", "TEXT NOT NULL CHECK (status IN ('running', 'complete', 'partial'))"),
        Column("inventory", "TEXT NOT NULL"),
        Column("settings", "TEXT NOT NULL DEFAULT '{}'"),
        Column("pid", "INTEGER"),
    ),
    indexes=(Index("runs_started", "started_at, id"),),
)
"""One row per run: id, started/finished, status, inventory, settings (JSON)."""

HOSTS = Table(
    "hosts",
    (
        Column("pk", "INTEGER PRIMARY KEY"),
        Column("run_id", "TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE"),
        _SEQ,
        Column("name", "TEXT NOT NULL"),
        Column("address", "TEXT NOT NULL"),
        Column("ssh_port", "INTEGER"),
        Column("ssh_user", "TEXT"),
        Column("key_file", "TEXT"),
        Column("become", "INTEGER NOT NULL"),
        Column("host_groups", "TEXT NOT NULL"),
        Column("cert_paths", "TEXT NOT NULL"),
        Column("tls_names", "TEXT NOT NULL"),
        Column("tls_ports", "TEXT NOT NULL"),
        Column("probe_direct", "INTEGER NOT NULL"),
        Column("source", "TEXT NOT NULL"),
        Column("outcome", "TEXT NOT NULL"),
        Column("detail", "TEXT NOT NULL"),
        Column("started_at", "TEXT"),
        Column("finished_at", "TEXT"),
        Column("bytes_received", "INTEGER NOT NULL"),
        Column("facts", "TEXT NOT NULL"),
        Column("recorded_at", "TEXT NOT NULL"),
        Column("finished", "INTEGER NOT NULL DEFAULT 1", since=3),
    ),
    constraints=("UNIQUE (run_id, name)",),
    indexes=(Index("hosts_name", "name"),),
)
"""One row per HostResult of a run (Host fields, outcome, timings, bytes)."""

CERTIFICATES = Table(
    "certificates",
    (
        Column("pk", "INTEGER PRIMARY KEY"),
        Column("sha256", "TEXT NOT NULL UNIQUE"),
        Column("der", "BLOB NOT NULL"),
        Column("subject", "TEXT NOT NULL"),
        Column("issuer", "TEXT NOT NULL"),
        Column("common_name", "TEXT"),
        Column("serial", "TEXT NOT NULL"),
        Column("not_before", "TEXT NOT NULL"),
        Column("not_after", "TEXT NOT NULL"),
        Column("dns_names", "TEXT NOT NULL"),
        Column("ip_addresses", "TEXT NOT NULL"),
        Column("has_san_extension", "INTEGER NOT NULL"),
        Column("key_type", "TEXT NOT NULL"),
        Column("key_bits", "INTEGER NOT NULL"),
        Column("signature_algorithm", "TEXT NOT NULL"),
        Column("signature_hash", "TEXT"),
        Column("is_ca", "INTEGER NOT NULL"),
        Column("self_issued", "INTEGER NOT NULL"),
        Column("self_signed", "INTEGER NOT NULL"),
        Column("subject_key_id", "TEXT"),
        Column("authority_key_id", "TEXT"),
        Column("aia_ca_issuers", "TEXT NOT NULL"),
        Column("public_key_sha256", "TEXT NOT NULL"),
        Column("warnings", "TEXT NOT NULL"),
    ),
    indexes=(Index("certificates_not_after", "not_after"),),
)
"""One row per distinct certificate across all runs, unique by sha256: the DER once, plus
the parsed CertInfo columns (the integer `pk` is what per-run rows point at)."""

CERT_PARSED = tuple(n for n in CERTIFICATES.names if n not in ("pk", "sha256", "der"))
"""The parsed columns of `certificates`, in order. An occurrence whose CertInfo differs
from the stored one keeps these as a JSON array in this order (`cert_variant`)."""

_CERT_PK = Column("cert_pk", "INTEGER NOT NULL REFERENCES certificates (pk)")
_CERT_VARIANT = Column("cert_variant", "TEXT")

LOCATIONS = Table(
    "locations",
    (
        _HOST_PK,
        _SEQ,
        _HOST,
        _PATH,
        Column("kind", "TEXT NOT NULL"),
        Column("bundle_index", "INTEGER NOT NULL"),
        Column("format", "TEXT NOT NULL"),
        Column("servername", "TEXT"),
        _CERT_PK,
        _CERT_VARIANT,
    ),
    constraints=(_PER_HOST,),
    indexes=(Index("locations_cert", "cert_pk"),),
    without_rowid=True,
)
"""Where each certificate was found (path, kind, index, format, servername)."""

UNPARSEABLE = Table(
    "unparseable",
    (
        _HOST_PK,
        _SEQ,
        _HOST,
        _PATH,
        Column("reason", "TEXT NOT NULL"),
        Column("bundle_index", "INTEGER NOT NULL"),
    ),
    constraints=(_PER_HOST,),
    without_rowid=True,
)

KEY_FILES = Table(
    "key_files",
    (
        _HOST_PK,
        _SEQ,
        _HOST,
        _PATH,
        Column("owner", "TEXT NOT NULL"),
        Column("file_group", "TEXT NOT NULL"),
        Column("mode", "INTEGER NOT NULL"),
        Column("kind", "TEXT NOT NULL"),
    ),
    constraints=(_PER_HOST,),
    without_rowid=True,
)

ISSUES = Table(
    "issues",
    (
        _HOST_PK,
        _SEQ,
        _HOST,
        _PATH,
        Column("reason", "TEXT NOT NULL"),
        Column("detail", "TEXT NOT NULL"),
    ),
    constraints=(_PER_HOST,),
    without_rowid=True,
)

CA_BUNDLES = Table(
    "ca_bundles",
    (_HOST_PK, _SEQ, _PATH),
    constraints=(_PER_HOST,),
    without_rowid=True,
)

LISTENERS = Table(
    "listeners",
    (
        Column("pk", "INTEGER PRIMARY KEY"),
        _HOST_PK,
        _SEQ,
        _HOST,
        Column("address", "TEXT NOT NULL"),
        Column("port", "INTEGER NOT NULL"),
        Column("process", "TEXT"),
        Column("expects_tls", "INTEGER NOT NULL"),
        Column("config_file", "TEXT"),
        Column("config_line", "INTEGER"),
        Column("cert_file", "TEXT"),
        # schema 2: how a listener maps to configuration, and how probing went
        Column("server", "TEXT", since=2),
        Column("server_names", "TEXT NOT NULL DEFAULT '[]'", since=2),
        Column("starttls", "TEXT", since=2),
        Column("legacy_protocol", "TEXT", since=2),
        Column("notes", "TEXT NOT NULL DEFAULT '[]'", since=2),
    ),
    constraints=("UNIQUE (host_pk, seq)",),
)

PROBES = Table(
    "probes",
    (
        Column("pk", "INTEGER PRIMARY KEY"),
        Column("listener_pk", "INTEGER NOT NULL REFERENCES listeners (pk) ON DELETE CASCADE"),
        _SEQ,
        _HOST,
        Column("address", "TEXT NOT NULL"),
        Column("port", "INTEGER NOT NULL"),
        Column("servername", "TEXT"),
        Column("status", "TEXT NOT NULL"),
        Column("via", "TEXT NOT NULL"),
        Column("protocol", "TEXT"),
        Column("cipher", "TEXT"),
        Column("alpn", "TEXT"),
        Column("acceptable_ca_names", "TEXT NOT NULL"),
        Column("error", "TEXT NOT NULL"),
        Column("elapsed_ms", "REAL NOT NULL"),
    ),
    constraints=("UNIQUE (listener_pk, seq)",),
)

PROBE_CHAIN = Table(
    "probe_chain",
    (
        Column("probe_pk", "INTEGER NOT NULL REFERENCES probes (pk) ON DELETE CASCADE"),
        _SEQ,
        _CERT_PK,
        _CERT_VARIANT,
    ),
    constraints=("PRIMARY KEY (probe_pk, seq)",),
    indexes=(Index("probe_chain_cert", "cert_pk"),),
    without_rowid=True,
)
"""The chain a probe was served, as certificates in order."""

FINDINGS = Table(
    "findings",
    (
        Column("run_id", "TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE"),
        _SEQ,
        Column("finding_id", "TEXT NOT NULL"),
        Column("severity", "TEXT NOT NULL"),
        _HOST,
        Column("subject", "TEXT NOT NULL"),
        Column("title", "TEXT NOT NULL"),
        Column("detail", "TEXT NOT NULL"),
        Column("diagnose", "TEXT NOT NULL"),
        Column("fix", "TEXT NOT NULL"),
        Column("cert_sha256", "TEXT"),
        Column("risk", "REAL NOT NULL"),
        Column("why", "TEXT NOT NULL"),
        Column("days_left", "REAL"),
    ),
    constraints=("PRIMARY KEY (run_id, seq)",),
    indexes=(Index("findings_host", "host"), Index("findings_cert", "cert_sha256")),
    without_rowid=True,
)
"""Per run, every Finding field, in model order."""

TLS_CONFIGS = Table(
    "tls_configs",
    (
        _HOST_PK,
        _SEQ,
        _HOST,
        Column("server", "TEXT NOT NULL"),
        Column("file", "TEXT NOT NULL"),
        Column("line", "INTEGER NOT NULL"),
        Column("listens", "TEXT NOT NULL"),
        Column("server_names", "TEXT NOT NULL"),
        Column("cert_file", "TEXT"),
        Column("cert_config_file", "TEXT"),
        Column("cert_config_line", "INTEGER"),
        Column("key_file", "TEXT"),
        Column("key_config_file", "TEXT"),
        Column("key_config_line", "INTEGER"),
        Column("chain_file", "TEXT"),
        Column("key_sha256", "TEXT NOT NULL"),
        Column("key_check", "TEXT NOT NULL"),
    ),
    constraints=(_PER_HOST,),
    without_rowid=True,
    since=2,
)
"""The TLS server configuration found on a host (schema 2)."""

TABLES = (
    RUNS,
    HOSTS,
    CERTIFICATES,
    LOCATIONS,
    UNPARSEABLE,
    KEY_FILES,
    ISSUES,
    CA_BUNDLES,
    LISTENERS,
    PROBES,
    PROBE_CHAIN,
    FINDINGS,
    TLS_CONFIGS,
)
"""Every table, in the order they are created."""

VIEWS = (
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
"""Locations and served chains joined to run id and sha256, for ad-hoc queries."""


# --------------------------------------------------------------------------- migrations

Migration = Sequence[str] | Callable[[sqlite3.Connection], None]
"""SQL statements, or a function for a migration that needs Python. Runs inside one
transaction with foreign keys off (so tables can be rebuilt the SQLite way); a foreign
key check runs before the commit."""


def declared(version: int) -> tuple[str, ...]:
    """The statements that take the declared tables from `version - 1` to `version`."""
    return tuple(s for table in TABLES for s in table.migration(version))


MIGRATIONS: list[Migration] = [
    (f"PRAGMA application_id = {APPLICATION_ID}", *declared(1), *VIEWS),
    declared(2),
    (
        *declared(3),
        # placeholders stored by runs of earlier versions, told by their outcome detail
        "UPDATE hosts SET finished = 0 WHERE outcome = 'failed'"
        " AND detail = 'run interrupted before this host finished'",
    ),
]
"""Migration N (1-based) takes the schema from user_version N-1 to N. Append only."""


def schema_version() -> int:
    """The newest schema this code knows."""
    return len(MIGRATIONS)


def _refuse(path: Path) -> HistoryError:
    return HistoryError(f"{path} is an SQLite database but not a certaudit history", hint=DB_HINT)


def prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Check the file is ours and not newer, set the connection up, apply migrations."""
    version = scalar(conn, "PRAGMA user_version")
    app_id = scalar(conn, "PRAGMA application_id")
    known = schema_version()
    if app_id not in (0, APPLICATION_ID) or (version > 0 and app_id != APPLICATION_ID):
        raise _refuse(path)
    if version > known:
        raise HistoryError(
            f"{path} was created by a newer certaudit (schema {version}; this version "
            f"knows up to {known})",
            hint=f"upgrade certaudit, or {DB_HINT}",
        )
    if version == 0:
        if scalar(conn, "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"):
            raise _refuse(path)
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
            current = scalar(conn, "PRAGMA user_version")
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
