"""Table declarations that a later schema rebuilt, as they were before: they still
generate the migrations up to the rebuild (`Table.replaces`), and are never used to read
or write rows. Frozen: never edit one.
"""

from __future__ import annotations

from audit.history.table import Column, Index, Table

_HOST_PK = Column("host_pk", "INTEGER NOT NULL REFERENCES hosts (pk) ON DELETE CASCADE")
_SEQ = Column("seq", "INTEGER NOT NULL")
_HOST = Column("host", "TEXT NOT NULL")
_PATH = Column("path", "TEXT NOT NULL")
_PER_HOST = "PRIMARY KEY (host_pk, seq)"
_CERT_PK = Column("cert_pk", "INTEGER NOT NULL REFERENCES certificates (pk)")
_CERT_VARIANT = Column("cert_variant", "TEXT")

# ---- schema 1-3: rows per host record (schema 4 made them rows per evidence)

LOCATIONS_3 = Table(
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

UNPARSEABLE_3 = Table(
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

KEY_FILES_3 = Table(
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

ISSUES_3 = Table(
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

CA_BUNDLES_3 = Table(
    "ca_bundles",
    (_HOST_PK, _SEQ, _PATH),
    constraints=(_PER_HOST,),
    without_rowid=True,
)

LISTENERS_3 = Table(
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

TLS_CONFIGS_3 = Table(
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


# ---- schema 1-3: findings with their texts (schema 4 moved them to finding_texts)

FINDINGS_3 = Table(
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

VIEWS_1 = (
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
"""The views as schema 1 created them (schema 4 replaced them)."""

VIEWS_4 = (
    """CREATE VIEW location_view AS
        SELECT h.run_id, h.name AS host_name, l.host, l.path, l.kind, l.bundle_index,
               l.format, l.servername, c.sha256, c.subject, c.issuer, c.not_after
        FROM hosts h JOIN locations l ON l.evidence_pk = h.files_evidence
        JOIN certificates c ON c.pk = l.cert_pk""",
    """CREATE VIEW served_view AS
        SELECT h.run_id, h.name AS host_name, p.address, p.port, p.servername, p.via,
               pc.seq AS chain_index, c.sha256, c.subject, c.issuer, c.not_after
        FROM hosts h JOIN listeners li ON li.evidence_pk = h.listener_evidence
        JOIN probes p ON p.listener_pk = li.pk JOIN probe_chain pc ON pc.probe_pk = p.pk
        JOIN certificates c ON c.pk = pc.cert_pk""",
)
"""The views as schema 4 created them (schema 5 replaced them)."""
