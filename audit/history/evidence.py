"""A host's collected evidence, stored once and shared by every host record it matches.

A host record points at three bodies of evidence: its system trust store (the locations
of its CA bundles' certificates, and its CA bundle paths: schema 5), the rest of its files
(the other locations, unparseable, key_files, issues, tls_configs) and its listeners
(listeners -> probes -> probe_chain): a renewed certificate rewrites the host's deployed
files, not the hundred-odd roots of its trust store. Each body is the rows that store it,
and is named by the SHA-256 of those rows (every column but the owning key, certificates
by their `certificates.pk` and variant, probes without their timing). When a body with
that digest is already stored —
the same host's last run, nearly always — the host record points at it; otherwise the
rows are written under a new `evidence` row. Equal digests mean equal rows, so a run
reads back exactly as recorded either way.

A host without one of them points at nothing (NULL) for that part. The locations of the
two file bodies keep `seq`, their place among all the host's locations, and read back
interleaved by it; records of schema 4 keep their trust store among their files.

The texts of a finding (title, detail, diagnose, fix, why) are shared the same way: a
`finding_texts` row named by their SHA-256, which the next night's same finding reuses.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from audit.history import renewal_rows, rows
from audit.history.codec import Row, scalar
from audit.history.schema import (
    CA_BUNDLES,
    EVIDENCE,
    FINDING_TEXTS,
    ISSUES,
    KEY_FILES,
    LISTENERS,
    LOCATIONS,
    PROBE_CHAIN,
    PROBES,
    TLS_CONFIGS,
    UNPARSEABLE,
)
from audit.history.table import Table
from audit.model import CertInfo, Finding, FoundCert, HostResult, LocationKind

CertPk = Callable[[CertInfo], tuple[int, str | None]]
"""Stores a certificate if need be; returns its `certificates.pk` and the occurrence's
variant (`History._store_cert`)."""

DIGEST_VERSION = "certaudit evidence 1"
"""Part of every digest: a change to how evidence maps to rows changes every digest, so
rows of the old mapping are never taken for rows of the new."""

_NO_OWNER = 0
"""The owning key of rows being digested (replaced by the real pk when written)."""


@dataclass(frozen=True)
class _Probe:
    row: Row
    chain: list[Row]


@dataclass(frozen=True)
class _Listener:
    row: Row
    probes: list[_Probe]


def _is_trust(f: FoundCert) -> bool:
    return f.location.kind is LocationKind.CA_BUNDLE


def _file_rows(r: HostResult, cert: CertPk) -> list[tuple[Table, list[Row]]]:
    """The rows of the host's files but its trust store, by table, in model order."""
    o = _NO_OWNER
    return [
        (
            LOCATIONS,
            [
                rows.location_row(o, i, f.location, *cert(f.cert))
                for i, f in enumerate(r.certificates)
                if not _is_trust(f)
            ],
        ),
        (UNPARSEABLE, [rows.unparseable_row(o, i, u) for i, u in enumerate(r.unparseable)]),
        (KEY_FILES, [rows.key_file_row(o, i, k) for i, k in enumerate(r.key_files)]),
        (ISSUES, [rows.issue_row(o, i, c) for i, c in enumerate(r.issues)]),
        (TLS_CONFIGS, [rows.tls_config_row(o, i, t) for i, t in enumerate(r.tls_configs)]),
    ]


def _trust_rows(r: HostResult, cert: CertPk) -> list[tuple[Table, list[Row]]]:
    """The rows of the host's system trust store: the locations of its CA bundles'
    certificates (each at its place among all the host's locations) and the bundles."""
    o = _NO_OWNER
    return [
        (
            LOCATIONS,
            [
                rows.location_row(o, i, f.location, *cert(f.cert))
                for i, f in enumerate(r.certificates)
                if _is_trust(f)
            ],
        ),
        (CA_BUNDLES, [rows.ca_bundle_row(o, i, p) for i, p in enumerate(r.ca_bundles)]),
    ]


def _listener_rows(r: HostResult, cert: CertPk) -> list[_Listener]:
    """The rows of the host's listeners, each with its probes and their chains."""
    return [
        _Listener(
            rows.listener_row(_NO_OWNER, i, li),
            [
                _Probe(
                    rows.probe_row(_NO_OWNER, j, p),
                    [rows.chain_row(_NO_OWNER, k, *cert(c)) for k, c in enumerate(p.chain)],
                )
                for j, p in enumerate(li.probes)
            ],
        )
        for i, li in enumerate(r.listeners)
    ]


def _values(table: Table, row: Row, owner: str) -> list[object]:
    """The row's values in column order, without its owning key."""
    return [row[name] for name in table.writable if name != owner]


def _digest(kind: str, body: object) -> str:
    text = json.dumps([DIGEST_VERSION, kind, body], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _files_digest(kind: str, parts: Sequence[tuple[Table, list[Row]]]) -> str:
    body = [[t.name, [_values(t, row, "evidence_pk") for row in rs]] for t, rs in parts]
    return _digest(kind, body)


def _listeners_digest(listeners: Sequence[_Listener]) -> str:
    body = [
        [
            _values(LISTENERS, li.row, "evidence_pk"),
            [
                [
                    _values(PROBES, p.row, "listener_pk"),
                    [_values(PROBE_CHAIN, c, "probe_pk") for c in p.chain],
                ]
                for p in li.probes
            ],
        ]
        for li in listeners
    ]
    return _digest("listeners", body)


class EvidenceStore:
    """Finds or writes the evidence of host records and the texts of findings, inside the
    caller's transaction."""

    def __init__(self, cert: CertPk, *, share: bool = True) -> None:
        self._cert = cert
        self.share = share
        """False: every host record gets evidence of its own and every finding texts of
        its own (how schema 3 stored them; the benchmark's baseline)."""

    def _owner(self, conn: sqlite3.Connection, digest: str) -> tuple[int, bool]:
        """The evidence row of that digest, and whether it was just created."""
        if not self.share:
            digest = f"unshared {secrets.token_hex(16)}"
        found = scalar(conn, "SELECT pk FROM evidence WHERE digest = ?", (digest,))
        if found is not None:
            return int(found), False
        return EVIDENCE.insert(conn, {"digest": digest}), True

    def finding_text(self, conn: sqlite3.Connection, f: Finding) -> int:
        """The finding_texts pk of the finding's texts, written if they are new."""
        digest = _digest("finding", [f.title, f.detail, f.diagnose, f.fix, f.why])
        if not self.share:
            digest = f"unshared {secrets.token_hex(16)}"
        found = scalar(conn, "SELECT pk FROM finding_texts WHERE digest = ?", (digest,))
        if found is not None:
            return int(found)
        return FINDING_TEXTS.insert(conn, rows.finding_text_row(digest, f))

    def files(self, conn: sqlite3.Connection, r: HostResult) -> int | None:
        """The evidence pk of the host's files but its trust store; None: it has none."""
        return self._flat(conn, "files", _file_rows(r, self._cert))

    def renewal(self, conn: sqlite3.Connection, r: HostResult) -> int | None:
        """The evidence pk of what renews the host's certificates; None when it has none."""
        return self._flat(conn, "renewal", renewal_rows.parts(r, _NO_OWNER))

    def trust(self, conn: sqlite3.Connection, r: HostResult) -> int | None:
        """The evidence pk of the host's system trust store; None when it has none."""
        return self._flat(conn, "trust", _trust_rows(r, self._cert))

    def _flat(
        self, conn: sqlite3.Connection, kind: str, parts: list[tuple[Table, list[Row]]]
    ) -> int | None:
        if not any(rs for _, rs in parts):
            return None
        pk, new = self._owner(conn, _files_digest(kind, parts))
        if new:
            for table, rs in parts:
                table.insert_many(conn, ({**row, "evidence_pk": pk} for row in rs))
        return pk

    def listeners(self, conn: sqlite3.Connection, r: HostResult) -> int | None:
        """The evidence pk of the host's listeners; None when it has none."""
        if not r.listeners:
            return None
        listeners = _listener_rows(r, self._cert)
        pk, new = self._owner(conn, _listeners_digest(listeners))
        if new:
            for li in listeners:
                listener_pk = LISTENERS.insert(conn, {**li.row, "evidence_pk": pk})
                for p in li.probes:
                    probe_pk = PROBES.insert(conn, {**p.row, "listener_pk": listener_pk})
                    PROBE_CHAIN.insert_many(conn, ({**c, "probe_pk": probe_pk} for c in p.chain))
        return pk


def release(conn: sqlite3.Connection, pks: Sequence[int | None]) -> None:
    """Delete these evidence rows (and, by cascade, the rows they own) when no host record
    points at them any more."""
    for pk in {pk for pk in pks if pk is not None}:
        conn.execute(
            "DELETE FROM evidence WHERE pk = ?1"
            " AND NOT EXISTS (SELECT 1 FROM hosts WHERE files_evidence = ?1)"
            " AND NOT EXISTS (SELECT 1 FROM hosts WHERE trust_evidence = ?1)"
            " AND NOT EXISTS (SELECT 1 FROM hosts WHERE renewal_evidence = ?1)"
            " AND NOT EXISTS (SELECT 1 FROM hosts WHERE listener_evidence = ?1)",
            (pk,),
        )


@dataclass(frozen=True)
class Collected:
    """What `collect_garbage` deleted."""

    evidence: int
    certificates: int
    finding_texts: int


def collect_garbage(conn: sqlite3.Connection) -> Collected:
    """Delete every evidence row no host record points at (with the rows it owns), every
    certificate no evidence refers to, and every finding text no finding uses."""
    evidence = conn.execute(
        "DELETE FROM evidence WHERE pk NOT IN ("
        " SELECT files_evidence FROM hosts WHERE files_evidence IS NOT NULL"
        " UNION SELECT trust_evidence FROM hosts WHERE trust_evidence IS NOT NULL"
        " UNION SELECT renewal_evidence FROM hosts WHERE renewal_evidence IS NOT NULL"
        " UNION SELECT listener_evidence FROM hosts WHERE listener_evidence IS NOT NULL)"
    ).rowcount
    certificates = conn.execute(
        "DELETE FROM certificates WHERE pk NOT IN ("
        " SELECT cert_pk FROM locations UNION SELECT cert_pk FROM probe_chain)"
    ).rowcount
    texts = conn.execute(
        "DELETE FROM finding_texts WHERE pk NOT IN (SELECT text_pk FROM findings)"
    ).rowcount
    return Collected(evidence, certificates, texts)
