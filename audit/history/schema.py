"""The database schema: one declaration per table, the migrations generated from them,
and the checks and upgrade done when a database is opened.

The schema version is `PRAGMA user_version`; the file is marked as ours with
`PRAGMA application_id`. Every child row carries `seq`, its position in the model's
tuple, so a run reads back in exactly the order it was written.

Since schema 4 a host's collected evidence is shared between runs: the rows of its files
(locations, unparseable, key_files, issues, ca_bundles, tls_configs) and of its listeners
(listeners -> probes -> probe_chain) belong to an `evidence` row named by the SHA-256 of
those rows, and a host row points at one of each. A host whose evidence is byte-identical
to evidence already stored (last night's, typically) costs one `hosts` row; the timings of
its probes, which differ every run, stay with the host row (`probe_ms`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from audit.errors import HistoryError
from audit.history import superseded
from audit.history.codec import scalar
from audit.history.files import DB_HINT
from audit.history.table import Column, Index, Table

APPLICATION_ID = 0x43415544
"""`PRAGMA application_id` of a certaudit history ("CAUD")."""

BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for another connection's write lock."""

_SEQ = Column("seq", "INTEGER NOT NULL")
_HOST = Column("host", "TEXT NOT NULL")
_PATH = Column("path", "TEXT NOT NULL")
_OWNER = "INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE"
_FILES_OWNER = Column("evidence_pk", _OWNER, source="2 * host_pk")
_LISTENERS_OWNER = Column("evidence_pk", _OWNER, source="2 * host_pk + 1")
"""Schema 4 rebuilt the per-host tables to belong to evidence rows; the evidence of a
host row written before is numbered from the host row's pk (files 2 * pk, listeners
2 * pk + 1; see MIGRATIONS)."""
_PER_EVIDENCE = "PRIMARY KEY (evidence_pk, seq)"

_FINDING_3 = "'schema 3 finding ' || run_id || ' ' || seq"
"""The digest a finding's texts get when schema 4 moves them out of `findings`."""

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
        # schema 4: the shared evidence the host's record points at
        Column("files_evidence", "INTEGER REFERENCES evidence (pk)", since=4),
        Column("listener_evidence", "INTEGER REFERENCES evidence (pk)", since=4),
        Column("probe_ms", "TEXT", since=4),
        # schema 5: the system trust store apart from the rest of the files
        Column("trust_evidence", "INTEGER REFERENCES evidence (pk)", since=5),
        # schema 6: what renews the host's certificates
        Column("renewal_evidence", "INTEGER REFERENCES evidence (pk)", since=6),
    ),
    constraints=("UNIQUE (run_id, name)",),
    indexes=(
        Index("hosts_name", "name"),
        Index("hosts_files_evidence", "files_evidence", since=4),
        Index("hosts_listener_evidence", "listener_evidence", since=4),
        Index("hosts_trust_evidence", "trust_evidence", since=5),
        Index("hosts_renewal_evidence", "renewal_evidence", since=6),
    ),
)
"""One row per HostResult of a run (Host fields, outcome, timings, bytes), pointing at its
evidence: `files_evidence`, `trust_evidence` (schema 5: the locations of its system CA
bundle's certificates and its CA bundle paths, which change far less often than the
rest) and `listener_evidence` (NULL: none), and `probe_ms`, the
elapsed_ms of each probe in listener and probe order as a JSON array (NULL in rows written
before schema 4, whose probes rows hold their own timings)."""

EVIDENCE = Table(
    "evidence",
    (
        Column("pk", "INTEGER PRIMARY KEY"),
        Column("digest", "TEXT NOT NULL UNIQUE"),
    ),
    since=4,
)
"""One row per distinct body of evidence, named by the SHA-256 of the rows that belong to
it (see audit.history.evidence); evidence of earlier schemas is named after its host row
("schema 3 files of host 12") and matches nothing new."""

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
        _FILES_OWNER,
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
    constraints=(_PER_EVIDENCE,),
    indexes=(Index("locations_cert", "cert_pk"),),
    without_rowid=True,
    since=4,
    replaces=superseded.LOCATIONS_3,
)
"""Where each certificate was found (path, kind, index, format, servername)."""

UNPARSEABLE = Table(
    "unparseable",
    (
        _FILES_OWNER,
        _SEQ,
        _HOST,
        _PATH,
        Column("reason", "TEXT NOT NULL"),
        Column("bundle_index", "INTEGER NOT NULL"),
    ),
    constraints=(_PER_EVIDENCE,),
    without_rowid=True,
    since=4,
    replaces=superseded.UNPARSEABLE_3,
)

KEY_FILES = Table(
    "key_files",
    (
        _FILES_OWNER,
        _SEQ,
        _HOST,
        _PATH,
        Column("owner", "TEXT NOT NULL"),
        Column("file_group", "TEXT NOT NULL"),
        Column("mode", "INTEGER NOT NULL"),
        Column("kind", "TEXT NOT NULL"),
    ),
    constraints=(_PER_EVIDENCE,),
    without_rowid=True,
    since=4,
    replaces=superseded.KEY_FILES_3,
)

ISSUES = Table(
    "issues",
    (
        _FILES_OWNER,
        _SEQ,
        _HOST,
        _PATH,
        Column("reason", "TEXT NOT NULL"),
        Column("detail", "TEXT NOT NULL"),
    ),
    constraints=(_PER_EVIDENCE,),
    without_rowid=True,
    since=4,
    replaces=superseded.ISSUES_3,
)

CA_BUNDLES = Table(
    "ca_bundles",
    (_FILES_OWNER, _SEQ, _PATH),
    constraints=(_PER_EVIDENCE,),
    without_rowid=True,
    since=4,
    replaces=superseded.CA_BUNDLES_3,
)

LISTENERS = Table(
    "listeners",
    (
        Column("pk", "INTEGER PRIMARY KEY"),
        _LISTENERS_OWNER,
        _SEQ,
        _HOST,
        Column("address", "TEXT NOT NULL"),
        Column("port", "INTEGER NOT NULL"),
        Column("process", "TEXT"),
        Column("expects_tls", "INTEGER NOT NULL"),
        Column("config_file", "TEXT"),
        Column("config_line", "INTEGER"),
        Column("cert_file", "TEXT"),
        Column("server", "TEXT"),
        Column("server_names", "TEXT NOT NULL DEFAULT '[]'"),
        Column("starttls", "TEXT"),
        Column("legacy_protocol", "TEXT"),
        Column("notes", "TEXT NOT NULL DEFAULT '[]'"),
    ),
    constraints=("UNIQUE (evidence_pk, seq)",),
    since=4,
    replaces=superseded.LISTENERS_3,
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

FINDING_TEXTS = Table(
    "finding_texts",
    (
        Column("pk", "INTEGER PRIMARY KEY"),
        Column("digest", "TEXT NOT NULL UNIQUE"),
        Column("title", "TEXT NOT NULL"),
        Column("detail", "TEXT NOT NULL"),
        Column("diagnose", "TEXT NOT NULL"),
        Column("fix", "TEXT NOT NULL"),
        Column("why", "TEXT NOT NULL"),
    ),
    since=4,
)
"""The texts of findings (schema 4), once per distinct text, named by their SHA-256: the
same problem found again the next night costs a `findings` row, not its texts again."""

FINDINGS = Table(
    "findings",
    (
        Column("run_id", "TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE"),
        _SEQ,
        Column("finding_id", "TEXT NOT NULL"),
        Column("severity", "TEXT NOT NULL"),
        _HOST,
        Column("subject", "TEXT NOT NULL"),
        Column("cert_sha256", "TEXT"),
        Column("risk", "REAL NOT NULL"),
        Column("days_left", "REAL"),
        Column(
            "text_pk",
            "INTEGER NOT NULL REFERENCES finding_texts (pk)",
            source=f"(SELECT pk FROM finding_texts WHERE digest = {_FINDING_3})",
        ),
    ),
    constraints=("PRIMARY KEY (run_id, seq)",),
    indexes=(
        Index("findings_host", "host"),
        Index("findings_cert", "cert_sha256"),
        Index("findings_text", "text_pk"),
    ),
    without_rowid=True,
    since=4,
    replaces=superseded.FINDINGS_3,
)
"""Per run, every Finding field in model order, its texts in `finding_texts`."""

TLS_CONFIGS = Table(
    "tls_configs",
    (
        _FILES_OWNER,
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
    constraints=(_PER_EVIDENCE,),
    without_rowid=True,
    since=4,
    replaces=superseded.TLS_CONFIGS_3,
)
"""The TLS server configuration found on a host (schema 2; rebuilt in 4)."""

_RENEWAL_OWNER = Column("evidence_pk", _OWNER)

RENEWAL_SCHEDULES = Table(
    "renewal_schedules",
    (
        _RENEWAL_OWNER,
        _SEQ,
        _HOST,
        Column("client", "TEXT NOT NULL"),
        Column("kind", "TEXT NOT NULL"),
        Column("name", "TEXT NOT NULL"),
        Column("source", "TEXT NOT NULL"),
        Column("state", "TEXT NOT NULL"),
        Column("active_state", "TEXT NOT NULL"),
        Column("last_trigger", "TEXT"),
        Column("next_trigger", "TEXT"),
        Column("last_result", "TEXT NOT NULL"),
        Column("effective", "INTEGER NOT NULL"),
        Column("detail", "TEXT NOT NULL"),
    ),
    constraints=(_PER_EVIDENCE,),
    without_rowid=True,
    since=6,
)
"""A host's renewal schedules (schema 6): certbot's timers and clients' cron entries. This
table and the two below belong to the host's `renewal_evidence`."""

CERTBOT_LINEAGES = Table(
    "certbot_lineages",
    (
        _RENEWAL_OWNER,
        _SEQ,
        _HOST,
        Column("name", "TEXT NOT NULL"),
        Column("conf", "TEXT NOT NULL"),
        Column("config_dir", "TEXT NOT NULL"),
        Column("cert_path", "TEXT NOT NULL"),
        Column("fullchain_path", "TEXT NOT NULL"),
        Column("archive_dir", "TEXT NOT NULL"),
        Column("authenticator", "TEXT NOT NULL"),
        Column("server", "TEXT NOT NULL"),
        Column("renew_before_expiry", "TEXT NOT NULL"),
        Column("cert_sha256", "TEXT NOT NULL"),
        Column("last_attempt", "TEXT"),
        Column("last_outcome", "TEXT NOT NULL"),
        Column("last_error", "TEXT NOT NULL"),
    ),
    constraints=(_PER_EVIDENCE,),
    without_rowid=True,
    since=6,
)

CERT_RENEWALS = Table(
    "cert_renewals",
    (
        _RENEWAL_OWNER,
        _SEQ,
        _HOST,
        Column("cert_sha256", "TEXT NOT NULL"),
        _PATH,
        Column("mechanism", "TEXT NOT NULL"),
        Column("status", "TEXT NOT NULL"),
        Column("name", "TEXT NOT NULL"),
        Column("schedule", "TEXT NOT NULL"),
        Column("last_attempt", "TEXT"),
        Column("last_outcome", "TEXT NOT NULL"),
        Column("last_error", "TEXT NOT NULL"),
        Column("next_trigger", "TEXT"),
        Column("detail", "TEXT NOT NULL"),
        Column("ca_not_after", "TEXT"),
    ),
    constraints=(_PER_EVIDENCE,),
    without_rowid=True,
    since=6,
)
"""Per certificate of a host, what renews it (CertRenewal)."""

TABLES = (
    RUNS,
    HOSTS,
    CERTIFICATES,
    EVIDENCE,
    FINDING_TEXTS,
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
    RENEWAL_SCHEDULES,
    CERTBOT_LINEAGES,
    CERT_RENEWALS,
)
"""Every table, in the order they are created."""

LOCATION_VIEW = """CREATE VIEW location_view AS
        SELECT h.run_id, h.name AS host_name, l.host, l.path, l.kind, l.bundle_index,
               l.format, l.servername, c.sha256, c.subject, c.issuer, c.not_after
        FROM hosts h JOIN locations l
          ON l.evidence_pk IN (h.files_evidence, h.trust_evidence)
        JOIN certificates c ON c.pk = l.cert_pk"""

SERVED_VIEW = """CREATE VIEW served_view AS
        SELECT h.run_id, h.name AS host_name, p.address, p.port, p.servername, p.via,
               pc.seq AS chain_index, c.sha256, c.subject, c.issuer, c.not_after
        FROM hosts h JOIN listeners li ON li.evidence_pk = h.listener_evidence
        JOIN probes p ON p.listener_pk = li.pk JOIN probe_chain pc ON pc.probe_pk = p.pk
        JOIN certificates c ON c.pk = pc.cert_pk"""

VIEWS = (LOCATION_VIEW, SERVED_VIEW)
"""Locations and served chains joined to run id and sha256, for ad-hoc queries."""


# --------------------------------------------------------------------------- migrations

Migration = Sequence[str] | Callable[[sqlite3.Connection], None]
"""SQL statements, or a function for a migration that needs Python. Runs inside one
transaction with foreign keys off (so tables can be rebuilt the SQLite way); a foreign
key check runs before the commit."""


def _rebuilt(table: Table, version: int) -> bool:
    return table.replaces is not None and table.since == version


def declared(version: int) -> tuple[str, ...]:
    """The statements that take the declared tables from `version - 1` to `version`, but
    for the tables rebuilt in `version` (see `rebuilt`)."""
    return tuple(s for t in TABLES if not _rebuilt(t, version) for s in t.migration(version))


def rebuilt(version: int) -> tuple[str, ...]:
    """The statements that rebuild the tables rebuilt in `version`."""
    return tuple(s for t in TABLES if _rebuilt(t, version) for s in t.migration(version))


_FILE_TABLES_3 = ("locations", "unparseable", "key_files", "issues", "ca_bundles", "tls_configs")

EVIDENCE_OF_SCHEMA_3 = (
    "INSERT INTO evidence (pk, digest) SELECT DISTINCT 2 * host_pk,"
    " 'schema 3 files of host ' || host_pk FROM ("
    + " UNION ".join(f"SELECT host_pk FROM {name}" for name in _FILE_TABLES_3)
    + ")",
    "INSERT INTO evidence (pk, digest) SELECT DISTINCT 2 * host_pk + 1,"
    " 'schema 3 listeners of host ' || host_pk FROM listeners",
    "UPDATE hosts SET files_evidence = 2 * pk WHERE 2 * pk IN (SELECT pk FROM evidence)",
    "UPDATE hosts SET listener_evidence = 2 * pk + 1 WHERE 2 * pk + 1 IN (SELECT pk FROM evidence)",
    "INSERT INTO finding_texts (digest, title, detail, diagnose, fix, why)"
    f" SELECT {_FINDING_3}, title, detail, diagnose, fix, why FROM findings",
)
"""Schema 4: every host row's existing child rows become that row's own evidence (files
2 * pk, listeners 2 * pk + 1, the numbers the rebuilt tables copy their rows under), and
every finding's texts a row of their own."""


MIGRATIONS: list[Migration] = [
    (f"PRAGMA application_id = {APPLICATION_ID}", *declared(1), *superseded.VIEWS_1),
    declared(2),
    (
        *declared(3),
        # placeholders stored by runs of earlier versions, told by their outcome detail
        "UPDATE hosts SET finished = 0 WHERE outcome = 'failed'"
        " AND detail = 'run interrupted before this host finished'",
    ),
    (
        *declared(4),
        *EVIDENCE_OF_SCHEMA_3,
        "DROP VIEW location_view",
        "DROP VIEW served_view",
        *rebuilt(4),
        *superseded.VIEWS_4,
    ),
    (*declared(5), "DROP VIEW location_view", LOCATION_VIEW),
    declared(6),
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
