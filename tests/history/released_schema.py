"""The schema as released, statement for statement: what databases written by earlier
versions of certaudit hold. Frozen here (never generated) so the tests notice when the
table declarations in audit/history/schema.py drift from what existing files contain.
Append a SCHEMA_N when a migration is added; never edit one.
"""

from __future__ import annotations

SCHEMA_1: tuple[str, ...] = (
    "PRAGMA application_id = 1128355140",  # 0x43415544, "CAUD"
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

SCHEMA_2: tuple[str, ...] = (
    # Listeners: how a listener maps to configuration, and how probing went.
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

SCHEMA_3: tuple[str, ...] = (
    # Hosts: a placeholder stored when a run begins is told from a finished host.
    "ALTER TABLE hosts ADD COLUMN finished INTEGER NOT NULL DEFAULT 1",
    "UPDATE hosts SET finished = 0 WHERE outcome = 'failed'"
    " AND detail = 'run interrupted before this host finished'",
)

SCHEMA_4: tuple[str, ...] = (
    # Hosts point at shared evidence; the per-host tables belong to evidence rows;
    # findings keep their texts in finding_texts.
    "ALTER TABLE hosts ADD COLUMN files_evidence INTEGER REFERENCES evidence (pk)",
    "ALTER TABLE hosts ADD COLUMN listener_evidence INTEGER REFERENCES evidence (pk)",
    "ALTER TABLE hosts ADD COLUMN probe_ms TEXT",
    "CREATE INDEX hosts_files_evidence ON hosts (files_evidence)",
    "CREATE INDEX hosts_listener_evidence ON hosts (listener_evidence)",
    """CREATE TABLE evidence (
        pk INTEGER PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE finding_texts (
        pk INTEGER PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        detail TEXT NOT NULL,
        diagnose TEXT NOT NULL,
        fix TEXT NOT NULL,
        why TEXT NOT NULL
    )""",
    "INSERT INTO evidence (pk, digest) SELECT DISTINCT 2 * host_pk, 'schema 3 files"
    " of host ' || host_pk FROM (SELECT host_pk FROM locations UNION SELECT host_pk"
    " FROM unparseable UNION SELECT host_pk FROM key_files UNION SELECT host_pk FROM"
    " issues UNION SELECT host_pk FROM ca_bundles UNION SELECT host_pk FROM"
    " tls_configs)",
    "INSERT INTO evidence (pk, digest) SELECT DISTINCT 2 * host_pk + 1, 'schema 3"
    " listeners of host ' || host_pk FROM listeners",
    "UPDATE hosts SET files_evidence = 2 * pk WHERE 2 * pk IN (SELECT pk FROM evidence)",
    "UPDATE hosts SET listener_evidence = 2 * pk + 1 WHERE 2 * pk + 1 IN (SELECT pk FROM evidence)",
    "INSERT INTO finding_texts (digest, title, detail, diagnose, fix, why) SELECT"
    " 'schema 3 finding ' || run_id || ' ' || seq, title, detail, diagnose, fix, why"
    " FROM findings",
    "DROP VIEW location_view",
    "DROP VIEW served_view",
    """CREATE TABLE locations_rebuilt (
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        bundle_index INTEGER NOT NULL,
        format TEXT NOT NULL,
        servername TEXT,
        cert_pk INTEGER NOT NULL REFERENCES certificates (pk),
        cert_variant TEXT,
        PRIMARY KEY (evidence_pk, seq)
    ) WITHOUT ROWID""",
    "INSERT INTO locations_rebuilt (evidence_pk, seq, host, path, kind, bundle_index,"
    " format, servername, cert_pk, cert_variant) SELECT 2 * host_pk, seq, host, path,"
    " kind, bundle_index, format, servername, cert_pk, cert_variant FROM locations",
    "DROP TABLE locations",
    "ALTER TABLE locations_rebuilt RENAME TO locations",
    "CREATE INDEX locations_cert ON locations (cert_pk)",
    """CREATE TABLE unparseable_rebuilt (
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        bundle_index INTEGER NOT NULL,
        PRIMARY KEY (evidence_pk, seq)
    ) WITHOUT ROWID""",
    "INSERT INTO unparseable_rebuilt (evidence_pk, seq, host, path, reason,"
    " bundle_index) SELECT 2 * host_pk, seq, host, path, reason, bundle_index FROM"
    " unparseable",
    "DROP TABLE unparseable",
    "ALTER TABLE unparseable_rebuilt RENAME TO unparseable",
    """CREATE TABLE key_files_rebuilt (
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        owner TEXT NOT NULL,
        file_group TEXT NOT NULL,
        mode INTEGER NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (evidence_pk, seq)
    ) WITHOUT ROWID""",
    "INSERT INTO key_files_rebuilt (evidence_pk, seq, host, path, owner, file_group,"
    " mode, kind) SELECT 2 * host_pk, seq, host, path, owner, file_group, mode, kind"
    " FROM key_files",
    "DROP TABLE key_files",
    "ALTER TABLE key_files_rebuilt RENAME TO key_files",
    """CREATE TABLE issues_rebuilt (
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (evidence_pk, seq)
    ) WITHOUT ROWID""",
    "INSERT INTO issues_rebuilt (evidence_pk, seq, host, path, reason, detail) SELECT"
    " 2 * host_pk, seq, host, path, reason, detail FROM issues",
    "DROP TABLE issues",
    "ALTER TABLE issues_rebuilt RENAME TO issues",
    """CREATE TABLE ca_bundles_rebuilt (
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (evidence_pk, seq)
    ) WITHOUT ROWID""",
    "INSERT INTO ca_bundles_rebuilt (evidence_pk, seq, path) SELECT 2 * host_pk, seq,"
    " path FROM ca_bundles",
    "DROP TABLE ca_bundles",
    "ALTER TABLE ca_bundles_rebuilt RENAME TO ca_bundles",
    """CREATE TABLE listeners_rebuilt (
        pk INTEGER PRIMARY KEY,
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL,
        process TEXT,
        expects_tls INTEGER NOT NULL,
        config_file TEXT,
        config_line INTEGER,
        cert_file TEXT,
        server TEXT,
        server_names TEXT NOT NULL DEFAULT '[]',
        starttls TEXT,
        legacy_protocol TEXT,
        notes TEXT NOT NULL DEFAULT '[]',
        UNIQUE (evidence_pk, seq)
    )""",
    "INSERT INTO listeners_rebuilt (pk, evidence_pk, seq, host, address, port,"
    " process, expects_tls, config_file, config_line, cert_file, server,"
    " server_names, starttls, legacy_protocol, notes) SELECT pk, 2 * host_pk + 1,"
    " seq, host, address, port, process, expects_tls, config_file, config_line,"
    " cert_file, server, server_names, starttls, legacy_protocol, notes FROM"
    " listeners",
    "DROP TABLE listeners",
    "ALTER TABLE listeners_rebuilt RENAME TO listeners",
    """CREATE TABLE findings_rebuilt (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        finding_id TEXT NOT NULL,
        severity TEXT NOT NULL,
        host TEXT NOT NULL,
        subject TEXT NOT NULL,
        cert_sha256 TEXT,
        risk REAL NOT NULL,
        days_left REAL,
        text_pk INTEGER NOT NULL REFERENCES finding_texts (pk),
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID""",
    "INSERT INTO findings_rebuilt (run_id, seq, finding_id, severity, host, subject,"
    " cert_sha256, risk, days_left, text_pk) SELECT run_id, seq, finding_id,"
    " severity, host, subject, cert_sha256, risk, days_left, (SELECT pk FROM"
    " finding_texts WHERE digest = 'schema 3 finding ' || run_id || ' ' || seq) FROM"
    " findings",
    "DROP TABLE findings",
    "ALTER TABLE findings_rebuilt RENAME TO findings",
    "CREATE INDEX findings_host ON findings (host)",
    "CREATE INDEX findings_cert ON findings (cert_sha256)",
    "CREATE INDEX findings_text ON findings (text_pk)",
    """CREATE TABLE tls_configs_rebuilt (
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
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
        PRIMARY KEY (evidence_pk, seq)
    ) WITHOUT ROWID""",
    "INSERT INTO tls_configs_rebuilt (evidence_pk, seq, host, server, file, line,"
    " listens, server_names, cert_file, cert_config_file, cert_config_line, key_file,"
    " key_config_file, key_config_line, chain_file, key_sha256, key_check) SELECT 2 *"
    " host_pk, seq, host, server, file, line, listens, server_names, cert_file,"
    " cert_config_file, cert_config_line, key_file, key_config_file, key_config_line,"
    " chain_file, key_sha256, key_check FROM tls_configs",
    "DROP TABLE tls_configs",
    "ALTER TABLE tls_configs_rebuilt RENAME TO tls_configs",
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

SCHEMA_5: tuple[str, ...] = (
    # Hosts point at their system trust store apart from the rest of their files.
    "ALTER TABLE hosts ADD COLUMN trust_evidence INTEGER REFERENCES evidence (pk)",
    "CREATE INDEX hosts_trust_evidence ON hosts (trust_evidence)",
    "DROP VIEW location_view",
    """CREATE VIEW location_view AS
        SELECT h.run_id, h.name AS host_name, l.host, l.path, l.kind, l.bundle_index,
               l.format, l.servername, c.sha256, c.subject, c.issuer, c.not_after
        FROM hosts h JOIN locations l
          ON l.evidence_pk IN (h.files_evidence, h.trust_evidence)
        JOIN certificates c ON c.pk = l.cert_pk""",
)

SCHEMA_6: tuple[str, ...] = (
    # What renews the certificates: schedules, certbot lineages, per certificate.
    "ALTER TABLE hosts ADD COLUMN renewal_evidence INTEGER REFERENCES evidence (pk)",
    "CREATE INDEX hosts_renewal_evidence ON hosts (renewal_evidence)",
    """CREATE TABLE renewal_schedules (
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        client TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        state TEXT NOT NULL,
        active_state TEXT NOT NULL,
        last_trigger TEXT,
        next_trigger TEXT,
        last_result TEXT NOT NULL,
        effective INTEGER NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (evidence_pk, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE certbot_lineages (
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        name TEXT NOT NULL,
        conf TEXT NOT NULL,
        config_dir TEXT NOT NULL,
        cert_path TEXT NOT NULL,
        fullchain_path TEXT NOT NULL,
        archive_dir TEXT NOT NULL,
        authenticator TEXT NOT NULL,
        server TEXT NOT NULL,
        renew_before_expiry TEXT NOT NULL,
        cert_sha256 TEXT NOT NULL,
        last_attempt TEXT,
        last_outcome TEXT NOT NULL,
        last_error TEXT NOT NULL,
        PRIMARY KEY (evidence_pk, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE cert_renewals (
        evidence_pk INTEGER NOT NULL REFERENCES evidence (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        host TEXT NOT NULL,
        cert_sha256 TEXT NOT NULL,
        path TEXT NOT NULL,
        mechanism TEXT NOT NULL,
        status TEXT NOT NULL,
        name TEXT NOT NULL,
        schedule TEXT NOT NULL,
        last_attempt TEXT,
        last_outcome TEXT NOT NULL,
        last_error TEXT NOT NULL,
        next_trigger TEXT,
        detail TEXT NOT NULL,
        ca_not_after TEXT,
        PRIMARY KEY (evidence_pk, seq)
    ) WITHOUT ROWID""",
)

RELEASED = (SCHEMA_1, SCHEMA_2, SCHEMA_3, SCHEMA_4, SCHEMA_5, SCHEMA_6)
"""Migration N (1-based) of each release, in order."""
