"""Evidence shared between runs: a host whose evidence is unchanged costs one host row,
every run still reads back exactly as recorded, and a schema 3 database upgrades to
shared evidence and reads back identically."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

from audit.history import History, rows, schema, superseded
from audit.history.codec import dt_text
from audit.history.table import Table
from audit.model import AuditResult, CertInfo, FoundCert
from tests.history.released_schema import RELEASED
from tests.history.sample import NOW, rich_host, rich_result, store


def _count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def _retimed(result: AuditResult, shift: float) -> AuditResult:
    """The same run with every probe's timing changed (as every real run has)."""
    hosts = tuple(
        replace(
            h,
            listeners=tuple(
                replace(
                    li,
                    probes=tuple(replace(p, elapsed_ms=p.elapsed_ms + shift) for p in li.probes),
                )
                for li in h.listeners
            ),
        )
        for h in result.hosts
    )
    return replace(result, hosts=hosts)


def test_unchanged_evidence_is_stored_once(tmp_path: Path, pkiset: dict[str, CertInfo]) -> None:
    db = tmp_path / "h.db"
    with History.open(db) as h:
        first = store(h, rich_result("", pkiset))
    once = {t: _count(db, t) for t in ("evidence", "locations", "listeners", "probes")}
    assert once["evidence"] == 6  # two hosts: files, trust store and listeners each
    runs = [first]
    with History.open(db) as h:
        for night in range(1, 4):
            later = _retimed(rich_result("", pkiset), 0.5 * night)
            later = replace(later, started_at=NOW + dt.timedelta(days=night))
            runs.append(store(h, later))
        for night, run_id in enumerate(runs):
            expected = _retimed(rich_result(run_id, pkiset), 0.5 * night)
            if night:
                expected = replace(expected, started_at=NOW + dt.timedelta(days=night))
            assert h.load_run(run_id) == expected  # each run with its own probe timings
    assert {t: _count(db, t) for t in once} == once  # nothing copied
    assert _count(db, "hosts") == 4 * len(runs)


def test_a_change_copies_only_the_part_that_changed(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "h.db"
    base = rich_result("", pkiset)
    web01 = base.hosts[0]
    renewed = replace(
        web01,
        certificates=(
            FoundCert(pkiset["leaf_renewed"], web01.certificates[0].location),
            *web01.certificates[1:],
        ),
    )
    with History.open(db) as h:
        one = store(h, base)
        two = store(h, replace(base, hosts=(renewed, *base.hosts[1:])))
        assert h.load_run(one) == rich_result(one, pkiset)
        assert h.load_run(two).hosts[0] == renewed
        pointers = h._conn.execute(
            "SELECT run_id, files_evidence, trust_evidence, listener_evidence FROM hosts"
            " WHERE name = 'web01.example.test' ORDER BY run_id"
        ).fetchall()
    (_, files_1, trust_1, listeners_1), (_, files_2, trust_2, listeners_2) = sorted(
        pointers, key=lambda p: p[0] != one
    )
    assert files_1 != files_2  # the renewed certificate: new file evidence
    assert trust_1 == trust_2  # its CA bundle did not change: shared
    assert listeners_1 == listeners_2  # nor did its listeners
    assert _count(db, "evidence") == 7


def test_rerecording_a_host_releases_evidence_nothing_else_uses(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "h.db"
    host = rich_result("", pkiset).hosts[0]
    with History.open(db) as h:
        run_id = h.begin_run("inv", {})
        h.record_host(run_id, host)
        h.record_host(run_id, replace(host, certificates=(), listeners=()))
        loaded = h.load_run(run_id).hosts[0]
        h.finish_run(run_id, partial=False)
    assert loaded.certificates == () and loaded.listeners == () and loaded.key_files
    assert _count(db, "evidence") == 2  # files (key files ...) and trust store (its bundles)
    assert _count(db, "listeners") == _count(db, "probes") == _count(db, "probe_chain") == 0
    assert _count(db, "locations") == 0


def test_hosts_recorded_together_are_one_transaction(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    result = rich_result("", pkiset)
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        h.record_hosts(run_id, [(r, i) for i, r in reversed(list(enumerate(result.hosts)))])
        h.record_findings(run_id, result.findings)
        h.finish_run(run_id, partial=False, finished_at=result.finished_at)
        assert h.load_run(run_id).hosts == result.hosts


# --------------------------------------------------------------------------- upgrade


def _insert(conn: sqlite3.Connection, table: Table, row: dict[str, Any]) -> int:
    return table.insert(conn, row)


def _schema_3_db(path: Path, result: AuditResult) -> None:
    """The run as certaudit stored it with schema 3 (rows per host record, probe timings
    in the probes), written with the released statements and the old declarations."""
    conn = sqlite3.connect(path, isolation_level=None)
    for n, statements in enumerate(RELEASED[:3], 1):
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {n}")
    conn.execute(
        "INSERT INTO runs (id, started_at, finished_at, status, inventory, settings)"
        " VALUES (?, ?, ?, 'complete', ?, '{}')",
        (result.run_id, dt_text(result.started_at), dt_text(result.finished_at), result.inventory),
    )
    certs: dict[str, tuple[int, dict[str, Any]]] = {}

    def cert(c: CertInfo) -> tuple[int, str | None]:
        columns = rows.cert_columns(c)
        if c.sha256 not in certs:
            pk = schema.CERTIFICATES.insert(conn, {"sha256": c.sha256, "der": c.der, **columns})
            certs[c.sha256] = (pk, columns)
        pk, stored = certs[c.sha256]
        return pk, None if stored == columns else rows.variant_text(columns)

    for seq, r in enumerate(result.hosts):
        row = rows.host_row(result.run_id, seq, r, NOW, None, None)
        for new in (
            "files_evidence",
            "listener_evidence",
            "probe_ms",
            "trust_evidence",
            "renewal_evidence",
        ):
            del row[new]  # type: ignore[attr-defined]
        host_pk = _insert(conn, _hosts_3(), row)

        def own(row: dict[str, Any], host_pk: int = host_pk) -> dict[str, Any]:
            return {"host_pk": host_pk, **{k: v for k, v in row.items() if k != "evidence_pk"}}

        for i, f in enumerate(r.certificates):
            row = rows.location_row(0, i, f.location, *cert(f.cert))
            _insert(conn, superseded.LOCATIONS_3, own(dict(row)))
        for table, items, make in (
            (superseded.UNPARSEABLE_3, r.unparseable, rows.unparseable_row),
            (superseded.KEY_FILES_3, r.key_files, rows.key_file_row),
            (superseded.ISSUES_3, r.issues, rows.issue_row),
            (superseded.CA_BUNDLES_3, r.ca_bundles, rows.ca_bundle_row),
            (superseded.TLS_CONFIGS_3, r.tls_configs, rows.tls_config_row),
        ):
            for i, item in enumerate(items):
                _insert(conn, table, own(dict(make(0, i, item))))  # type: ignore[operator]
        for i, li in enumerate(r.listeners):
            listener_pk = _insert(
                conn, superseded.LISTENERS_3, own(dict(rows.listener_row(0, i, li)))
            )
            for j, p in enumerate(li.probes):
                probe = {**rows.probe_row(listener_pk, j, p), "elapsed_ms": p.elapsed_ms}
                probe_pk = _insert(conn, schema.PROBES, probe)
                for k, c in enumerate(p.chain):
                    _insert(conn, schema.PROBE_CHAIN, dict(rows.chain_row(probe_pk, k, *cert(c))))
    for i, f in enumerate(result.findings):
        row = {**rows.finding_row(result.run_id, i, f, 0), **rows.finding_text_row("", f)}
        del row["text_pk"], row["digest"]
        _insert(conn, superseded.FINDINGS_3, row)
    conn.close()


def _hosts_3() -> Table:
    """`hosts` as schema 3 held it."""
    return Table("hosts", tuple(c for c in schema.HOSTS.columns if c.since is None or c.since <= 3))


def test_a_schema_3_database_upgrades_to_shared_evidence_and_reads_back(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "v3.db"
    old = rich_result("20261127T174500Z-0003", pkiset)
    _schema_3_db(db, old)
    with History.open(db) as h:
        assert h._conn.execute("PRAGMA user_version").fetchone()[0] == len(RELEASED)
        assert h._conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert h.load_run(old.run_id) == old
        texts = h._conn.execute("SELECT count(*) FROM finding_texts").fetchone()[0]
        assert texts == len(old.findings)
        # a run recorded after the upgrade: same hosts, new rows (old evidence is named
        # after its host row, so it matches nothing new) ...
        second = store(h, replace(_retimed(old, 1.0), started_at=NOW + dt.timedelta(days=1)))
        evidence = h._conn.execute("SELECT count(*) FROM evidence").fetchone()[0]
        # ... and the one after shares the second's evidence
        third = store(h, replace(_retimed(old, 2.0), started_at=NOW + dt.timedelta(days=2)))
        assert h._conn.execute("SELECT count(*) FROM evidence").fetchone()[0] == evidence
        assert h.load_run(old.run_id) == old
        assert h.load_run(second).hosts == _retimed(old, 1.0).hosts
        assert h.load_run(third).hosts == _retimed(old, 2.0).hosts
        served = h._conn.execute(
            "SELECT run_id, count(*) FROM served_view GROUP BY run_id ORDER BY run_id"
        ).fetchall()
    chains = sum(len(p.chain) for r in old.hosts for li in r.listeners for p in li.probes)
    assert [n for _, n in served] == [chains] * 3
    assert evidence == 4 + 6  # migrated (files with their trust store, listeners) + new


def test_a_finding_found_again_shares_its_texts(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "h.db"
    result = rich_result("", pkiset)
    with History.open(db) as h:
        one = store(h, result)
        later = replace(
            result,
            started_at=NOW + dt.timedelta(days=1),
            findings=(replace(result.findings[0], detail="expires in 2 days", risk=9.5),)
            + result.findings[1:],
        )
        two = store(h, later)
        assert h.load_run(one).findings == result.findings
        assert h.load_run(two).findings == later.findings
    assert _count(db, "findings") == 2 * len(result.findings)
    assert _count(db, "finding_texts") == len(result.findings) + 1  # only the changed text


def test_locations_split_between_files_and_trust_store_read_back_in_order(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    host = rich_result("", pkiset).hosts[0]
    kinds = [f.location.kind.value for f in host.certificates]
    assert "ca_bundle" in kinds[1:-1]  # a CA bundle location between the others
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        h.record_host(run_id, host)
        trust = h._conn.execute(
            "SELECT count(*) FROM locations l JOIN hosts h ON l.evidence_pk = h.trust_evidence"
        ).fetchone()[0]
        assert trust == kinds.count("ca_bundle")
        assert h.load_run(run_id).hosts == (host,)


def test_location_view_sees_shared_rows_in_every_run(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "h.db"
    with History.open(db) as h:
        store(h, rich_result("", pkiset))
        store(h, replace(rich_result("", pkiset), started_at=NOW + dt.timedelta(days=1)))
    conn = sqlite3.connect(db)
    per_run = conn.execute("SELECT run_id, count(*) FROM location_view GROUP BY run_id").fetchall()
    conn.close()
    hosts = rich_result("", pkiset).hosts
    assert [n for _, n in per_run] == [sum(len(r.certificates) for r in hosts)] * 2


def test_a_run_read_while_hosts_are_committed_sees_each_host_whole(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    import threading

    template = rich_result("", pkiset).hosts[0]
    db = tmp_path / "h.db"
    with History.open(db) as writer, History.open(db) as reader:
        run_id = writer.begin_run("inv", {})
        done = threading.Event()

        def write() -> None:
            for i in range(40):  # each host's evidence differs: new rows every time
                writer.record_host(run_id, rich_host(pkiset, f"h{i:03d}"))
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        seen = 0
        while not done.is_set() or seen == 0:
            for r in reader.load_run(run_id).hosts:
                assert len(r.certificates) == len(template.certificates), r.host.name
                assert len(r.listeners) == len(template.listeners), r.host.name
                seen += 1
        thread.join()
        writer.finish_run(run_id, partial=False)
