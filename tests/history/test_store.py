"""Recording and reading runs: exact round trips, positions, rollbacks, a full disk,
the run list, and every model field stored."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from audit.errors import HistoryError
from audit.history import History, RunStatus
from audit.model import (
    AuditResult,
    CertbotLineage,
    CertInfo,
    CertLocation,
    CertRenewal,
    CollectionIssue,
    ConfigListen,
    Finding,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    KeyFile,
    Listener,
    RenewalSchedule,
    TlsConfig,
    TlsProbe,
    Unparseable,
)
from tests.history.sample import NOW, rich_host, rich_result, store


def test_round_trip_is_exact(tmp_path: Path, pkiset: dict[str, CertInfo]) -> None:
    db = tmp_path / "deep" / "er" / "history.db"
    with History.open(db) as h:
        run_id = h.begin_run("inventories/prod.ini", {"workers": 8}, started_at=NOW)
        original = rich_result(run_id, pkiset)
        for host in original.hosts:
            h.record_host(run_id, host)
        h.record_findings(run_id, original.findings[:1])
        h.record_findings(run_id, original.findings[1:])  # appends, order kept
        h.finish_run(run_id, partial=False, finished_at=original.finished_at)
        assert h.load_run(run_id) == original
        assert h.run_settings(run_id) == {"workers": 8}
    with History.open(db, create=False) as h:  # a fresh connection reads the same
        loaded = h.load_run(run_id)
    assert loaded == original
    assert loaded.hosts[0].certificates[3].cert.warnings == pkiset["der_trailing"].warnings
    assert "trailing bytes" in loaded.hosts[0].certificates[3].cert.warnings[-1]
    assert loaded.hosts[0].host.cert_paths[1] == "/etc/ssl/na\udcefve\n$(reboot).pem"

    conn = sqlite3.connect(db)
    distinct = {fc.cert.sha256 for hr in original.hosts for fc in hr.certificates} | {
        c.sha256 for hr in original.hosts for li in hr.listeners for p in li.probes for c in p.chain
    }
    assert conn.execute("SELECT count(*) FROM certificates").fetchone()[0] == len(distinct)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # the same DER seen with and without a per-file warning: one row, one variant
    assert (
        conn.execute(
            "SELECT count(*) FROM location_view WHERE sha256 = ?", (pkiset["der_plain"].sha256,)
        ).fetchone()[0]
        == 2 * 2
    )
    assert conn.execute("SELECT count(DISTINCT cert_variant) FROM locations").fetchone()[0] == 1
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_certificates_are_stored_once_across_runs(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    with History.open(tmp_path / "h.db") as h:
        first = store(h, rich_result("x", pkiset))
        second = store(h, rich_result("y", pkiset))
        assert first != second
        rows = h._conn.execute(
            "SELECT count(*), count(DISTINCT sha256) FROM certificates"
        ).fetchone()
        assert rows[0] == rows[1]
        assert h._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert h._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        for run_id in (first, second):
            assert h.load_run(run_id) == rich_result(run_id, pkiset)


def test_hosts_read_back_in_position_order_and_rerecording_replaces(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    hosts = [HostResult(Host(f"h{i}", f"10.0.0.{i}"), HostOutcome.OK) for i in range(4)]
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        for i in (2, 0, 3, 1):
            h.record_host(run_id, hosts[i], position=i)
        better = replace(
            hosts[2],
            certificates=(FoundCert(pkiset["mail"], CertLocation("h2", "/etc/ssl/mail.pem")),),
        )
        h.record_host(run_id, better)  # replaces h2, keeps its place
        h.finish_run(run_id, partial=False)
        loaded = h.load_run(run_id)
    assert [r.host.name for r in loaded.hosts] == ["h0", "h1", "h2", "h3"]
    assert loaded.hosts[2] == better


def test_writes_need_the_run_this_process_began(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        with pytest.raises(HistoryError, match="still in progress"):
            h.begin_run("inv", {})
        with pytest.raises(HistoryError, match="not the run this process began"):
            h.record_host("20000101T000000Z-0000", HostResult(Host("a", "a"), HostOutcome.OK))
        h.finish_run(run_id, partial=True)
        with pytest.raises(HistoryError):
            h.record_findings(run_id, ())
        assert h.run_status(run_id) is RunStatus.PARTIAL
        assert h.load_run(run_id).partial
        with pytest.raises(HistoryError, match="no run nope"):
            h.load_run("nope")


def test_a_failed_write_is_rolled_back_and_loud(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    good = rich_host(pkiset)
    bad = replace(good, listeners=(Listener("x", "0.0.0.0", None),))  # type: ignore[arg-type]
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        with pytest.raises(HistoryError, match="record host web01.example.test"):
            h.record_host(run_id, bad)  # fails after its certificates were inserted
        h.record_host(run_id, good)  # the rolled-back certificates are written again
        h.finish_run(run_id, partial=False)
        assert h.load_run(run_id).hosts == (good,)


def test_disk_full_is_loud_and_keeps_what_was_committed(tmp_path: Path) -> None:
    hosts = [HostResult(Host(f"h{i}", "a"), HostOutcome.OK, detail="x" * 20_000) for i in range(40)]
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        h._conn.execute("PRAGMA max_page_count = 120")  # a full disk, as SQLite sees it
        with pytest.raises(HistoryError, match="full") as err:
            for r in hosts:
                h.record_host(run_id, r)
        assert str(tmp_path / "h.db") in err.value.message
        committed = h.load_run(run_id).hosts
        assert 0 < len(committed) < len(hosts) and committed == tuple(hosts[: len(committed)])
    conn = sqlite3.connect(tmp_path / "h.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_list_runs_and_latest(tmp_path: Path, pkiset: dict[str, CertInfo]) -> None:
    with History.open(tmp_path / "h.db") as h:
        assert h.list_runs() == [] and h.latest_run_id() is None
        one = store(h, replace(rich_result("", pkiset), started_at=NOW))
        two = store(
            h, replace(rich_result("", pkiset), started_at=NOW + dt.timedelta(days=1), partial=True)
        )
        three = h.begin_run("inv", {}, started_at=NOW + dt.timedelta(days=2))
        h.record_host(three, HostResult(Host("a", "a"), HostOutcome.AUTH_FAILED))
        with History.open(tmp_path / "h.db") as reader:  # another connection sees it running
            assert reader.run_status(three) is RunStatus.RUNNING
        runs = h.list_runs()
        assert [r.run_id for r in runs] == [three, two, one]
        assert [r.status for r in runs] == [
            RunStatus.RUNNING,
            RunStatus.PARTIAL,
            RunStatus.COMPLETE,
        ]
        assert runs[2].hosts == 4 and runs[2].hosts_audited == 2
        assert runs[2].outcomes == (("partial", 2), ("unreachable", 1), ("failed", 1))
        assert runs[2].findings == 3
        assert runs[2].severities == (("critical", 1), ("medium", 1), ("low", 1))
        assert runs[0].finished_at is None and runs[0].inventory == "inv"
        assert one.startswith("20261127T174500Z-")
        assert h.latest_run_id() == three
        assert h.latest_run_id(before=three) == two
        assert h.latest_run_id(before=three, complete_only=True) == one
        assert h.latest_run_id(before=one) is None
    with History.open(tmp_path / "h.db") as h:  # closed without finishing
        assert h.run_status(three) is RunStatus.INTERRUPTED
        run = h.load_run(three)
        assert run.partial and [r.host.name for r in run.hosts] == ["a"]
        assert run.finished_at >= run.started_at


def test_history_stores_every_field_of_the_model() -> None:
    """A field added to the model must be stored too: declare its column in
    audit/history/schema.py, map it in audit/history/rows.py, then add it to this list."""
    stored = {
        AuditResult: "run_id started_at finished_at inventory hosts findings partial",
        HostResult: "host outcome detail started_at finished_at certificates unparseable"
        " key_files issues ca_bundles listeners tls_configs bytes_received facts finished"
        " renewal_schedules certbot_lineages cert_renewals",
        RenewalSchedule: "host client kind name source state active_state last_trigger"
        " next_trigger last_result effective detail",
        CertbotLineage: "host name conf config_dir cert_path fullchain_path archive_dir"
        " authenticator server renew_before_expiry cert_sha256 last_attempt last_outcome"
        " last_error",
        CertRenewal: "host cert_sha256 path mechanism status name schedule last_attempt"
        " last_outcome last_error next_trigger detail ca_not_after",
        Host: "name address port user key_file become groups cert_paths tls_names tls_ports"
        " probe_direct source",
        FoundCert: "cert location",
        CertInfo: "sha256 der subject issuer common_name serial not_before not_after dns_names"
        " ip_addresses has_san_extension key_type key_bits signature_algorithm signature_hash"
        " is_ca self_issued self_signed subject_key_id authority_key_id aia_ca_issuers"
        " public_key_sha256 warnings",
        CertLocation: "host path kind index format servername",
        Unparseable: "host path reason index",
        KeyFile: "host path owner group mode kind",
        CollectionIssue: "host path reason detail",
        Listener: "host address port process expects_tls probes config_file config_line cert_file"
        " server server_names starttls legacy_protocol notes",
        TlsConfig: "host server file line listens server_names cert_file cert_config_file"
        " cert_config_line key_file key_config_file key_config_line chain_file key_sha256"
        " key_check",
        ConfigListen: "address port tls file line",
        TlsProbe: "host address port servername status via protocol cipher alpn chain"
        " acceptable_ca_names error elapsed_ms",
        Finding: "id severity host subject title detail diagnose fix cert_sha256 risk why"
        " days_left",
    }
    # Waivers are applied by `run` from its waivers file after the analysis and are not
    # stored: a stored run reads back (and re-renders) with its findings unwaived.
    not_stored = {
        AuditResult: {"waivers_expired", "waivers_stale", "waivers_file"},
        Finding: {"waiver"},
    }
    for cls, names in stored.items():
        fields = [f.name for f in dataclasses.fields(cls) if f.name not in not_stored.get(cls, ())]
        assert fields == names.split(), cls.__name__
