"""The run history: exact round trips, the lock, crash safety, schema versions, the diff.

Real SQLite files in tmp_path and real subprocesses (kill -9, two runs at once).
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from audit import history
from audit.certparse import parse_bytes
from audit.errors import HistoryError
from audit.history import (
    CertChangeKind,
    History,
    RunStatus,
    default_db_path,
    diff_runs,
)
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
from tests import pki

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 27, 17, 45, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def info(data: bytes) -> CertInfo:
    """The first certificate parse_bytes finds in `data`."""
    cert = parse_bytes(data)[0].cert
    assert cert is not None
    return cert


@pytest.fixture(scope="module")
def pkiset() -> dict[str, CertInfo]:
    h = pki.hierarchy(NOW, "History")
    other = pki.hierarchy(NOW, "Other")  # key_kind="rsa" trips over pki key_bits=256
    leaf = h.leaf("www.example.test", now=NOW, sans=["www.example.test", "10.0.0.7"])
    der = pki.issue("der.test", now=NOW).der
    return {
        "root": info(h.root.pem),
        "inter": info(h.intermediate.pem),
        "leaf": info(leaf.pem),
        "leaf_renewed": info(
            h.leaf("www.example.test", now=NOW + dt.timedelta(days=60),
                   sans=["10.0.0.7", "www.example.test"]).pem
        ),
        "leaf_other_issuer": info(
            other.leaf("www.example.test", now=NOW, sans=["www.example.test", "10.0.0.7"]).pem
        ),
        "leaf_rsa": info(
            h.leaf("www.example.test", now=NOW, sans=["www.example.test", "10.0.0.7"],
                   key_kind="rsa", key_bits=2048).pem
        ),
        "api": info(h.leaf("api.example.test", now=NOW, days_after=5, aia_url="http://ca.test/i").pem),
        "sha1": info(pki.issue("legacy", now=NOW, hash_name="sha1", sans=[]).pem),
        "der_trailing": info(der + b"\x00trailing"),  # same DER, one more warning
        "der_plain": info(der),
        "mail": info(h.leaf("mail.example.test", now=NOW).pem),
    }  # fmt: skip


def rich_host(c: dict[str, CertInfo], name: str = "web01.example.test") -> HostResult:
    """A host with every field of every type filled, including awkward text."""
    odd_path = "/etc/ssl/na\udcefve\n$(reboot).pem"  # surrogateescape'd bytes, newline
    host = Host(
        name=name,
        address="2001:db8::7",
        port=2222,
        user="auditor",
        key_file="~/.ssh/id_audit",
        become=True,
        groups=("web", "prod", "élan"),
        cert_paths=("/opt/app/tls", odd_path),
        tls_names=("www.example.test", "api.example.test"),
        tls_ports=(8443, 636),
        probe_direct=True,
        source="inventories/prod.ini:12",
    )
    served = TlsProbe(
        host=name,
        address="2001:db8::7",
        port=443,
        servername="www.example.test",
        status=ProbeStatus.TLS,
        via="ssh",
        protocol="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        alpn="h2",
        chain=(c["leaf"], c["inter"], c["der_trailing"]),
        elapsed_ms=12.345678901234,
    )
    mtls = TlsProbe(
        host=name,
        address="127.0.0.1",
        port=8443,
        servername=None,
        status=ProbeStatus.CLIENT_CERT_REQUIRED,
        acceptable_ca_names=("CN=Client CA", "O=\u202eevil"),
        chain=(c["api"],),
        error="certificate required",
        elapsed_ms=0.1 + 0.2,
    )
    failed = TlsProbe(
        host=name,
        address="127.0.0.1",
        port=25,
        servername="mail.example.test",
        status=ProbeStatus.PLAINTEXT,
        via="direct",
        error="220 mail ESMTP\x00\x1b[31m",
    )
    return HostResult(
        host=host,
        outcome=HostOutcome.PARTIAL,
        detail="stat timed out on /mnt/nfs",
        started_at=dt.datetime(2026, 11, 27, 17, 45, 1, 123456, tzinfo=UTC),
        finished_at=dt.datetime(2026, 11, 27, 17, 45, 9, tzinfo=UTC),
        certificates=(
            FoundCert(c["leaf"], CertLocation(name, "/etc/ssl/site.pem", "file", 0, "pem")),
            FoundCert(c["inter"], CertLocation(name, "/etc/ssl/site.pem", "file", 1, "pem")),
            FoundCert(c["leaf"], CertLocation(name, "/etc/nginx/dup.pem")),
            FoundCert(c["der_trailing"], CertLocation(name, "/etc/ssl/x.der", "file", 0, "der")),
            FoundCert(c["der_plain"], CertLocation(name, "/etc/ssl/y.der", "file", 0, "der")),
            FoundCert(c["sha1"], CertLocation(name, odd_path, "kubeconfig", 3, "pkcs7")),
            FoundCert(c["root"], CertLocation(name, "/etc/ssl/certs/ca.pem", "ca_bundle", 7)),
            FoundCert(
                c["leaf"],
                CertLocation(name, "listener:443", "listener", 0, "der", "www.example.test"),
            ),
        ),
        unparseable=(
            Unparseable(name, "/etc/ssl/broken.pem", "PEM body is not valid base64", 2),
            Unparseable(name, odd_path, "DER is truncated or malformed"),
        ),
        key_files=(
            KeyFile(name, "/etc/ssl/private/site.key", "root", "ssl-cert", 0o640, "pem-key"),
            KeyFile(name, "/etc/haproxy/site.pem", "haproxy", "haproxy", 0o600, "combined"),
        ),
        issues=tuple(
            CollectionIssue(name, f"/p/{reason.value}", reason, f"detail {i}")
            for i, reason in enumerate(IssueReason)
        ),
        ca_bundles=("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/cert.pem"),
        listeners=(
            Listener(
                host=name,
                address="0.0.0.0",
                port=443,
                process="nginx",
                expects_tls=True,
                probes=(served, mtls),
                config_file="/etc/nginx/sites-enabled/site",
                config_line=17,
                cert_file="/etc/ssl/site.pem",
                server="nginx",
                server_names=("www.example.test", "\u00e9lan.example.test"),
                legacy_protocol="TLSv1.1",
                notes=("probed directly: forwarding prohibited",),
            ),
            Listener(host=name, address="127.0.0.1", port=25, probes=(failed,), starttls="smtp"),
            Listener(host=name, address="[::]", port=22),
        ),
        tls_configs=(
            TlsConfig(
                host=name,
                server="nginx",
                file="/etc/nginx/sites-enabled/site",
                line=3,
                listens=(
                    ConfigListen("", 443, True, "/etc/nginx/sites-enabled/site", 4),
                    ConfigListen("[::]", 80, False, odd_path, 5),
                ),
                server_names=("www.example.test",),
                cert_file="/etc/ssl/site.pem",
                cert_config_file="/etc/nginx/snippets/tls.conf",
                cert_config_line=2,
                key_file="/etc/ssl/private/site.key",
                key_config_file="/etc/nginx/snippets/tls.conf",
                key_config_line=3,
                key_sha256="ab" * 32,
                key_check="ok",
            ),
            TlsConfig(
                host=name,
                server="apache",
                file="/etc/apache2/sites-enabled/default-ssl.conf",
                line=2,
                chain_file="/etc/ssl/chain.pem",
                key_check="no_openssl",
            ),
        ),
        bytes_received=123_456_789_012,
        facts=(("os", "Debian 12"), ("shell", "bash"), ("privilege", "sudo -n")),
    )


def rich_findings(c: dict[str, CertInfo], name: str = "web01.example.test") -> tuple[Finding, ...]:
    return (
        Finding(
            id="CERT_EXPIRING",
            severity=Severity.CRITICAL,
            host=name,
            subject="/etc/ssl/site.pem",
            title="Certificate expires soon",
            detail='=HYPERLINK("http://evil") <script>alert(1)</script>',
            diagnose="openssl x509 -noout -dates -in /etc/ssl/site.pem",
            fix="certbot renew",
            cert_sha256=c["leaf"].sha256,
            risk=0.1 + 0.2,
            why="served on 443, 3 places",
            days_left=-3.25,
        ),
        Finding(
            id="HOST_PARTIAL",
            severity=Severity.LOW,
            host=name,
            subject="collection: timeout",
            title="Collection was partial",
            detail="line\u2028separator",
            diagnose="",
            fix="",
        ),
        Finding(
            id="CERT_SHA1",
            severity=Severity.MEDIUM,
            host="",
            subject="local.pem",
            title="SHA-1 signature",
            detail="",
            diagnose="",
            fix="",
            cert_sha256=c["sha1"].sha256,
            risk=1e-300,
            days_left=0.0,
        ),
    )


def rich_result(run_id: str, c: dict[str, CertInfo]) -> AuditResult:
    unreachable = HostResult(
        host=Host("db01", "db01"),
        outcome=HostOutcome.UNREACHABLE,
        detail="connection refused",
    )
    return AuditResult(
        run_id=run_id,
        started_at=NOW,
        finished_at=NOW + dt.timedelta(minutes=3, microseconds=250),
        inventory="inventories/prod.ini",
        hosts=(rich_host(c), unreachable, rich_host(c, "web02.example.test")),
        findings=rich_findings(c),
    )


def store(h: History, result: AuditResult, *, finish: bool = True) -> str:
    run_id = h.begin_run(
        result.inventory, {"out": "reports", "workers": 8}, started_at=result.started_at
    )
    for host in result.hosts:
        h.record_host(run_id, host)
    h.record_findings(run_id, result.findings)
    if finish:
        h.finish_run(run_id, partial=result.partial, finished_at=result.finished_at)
    return run_id


# --------------------------------------------------------------------------- round trip


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
        assert runs[2].hosts == 3 and runs[2].hosts_audited == 2
        assert runs[2].outcomes == (("partial", 2), ("unreachable", 1))
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


# --------------------------------------------------------------------------- location


def test_default_db_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("CERTAUDIT_DB", "XDG_STATE_HOME", "HOME"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(HistoryError, match="HOME is not set") as err:
        default_db_path()
    assert "--db" in str(err.value)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path() == tmp_path / ".local/state/certaudit/history.db"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    assert default_db_path() == tmp_path / ".local/state/certaudit/history.db"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_db_path() == tmp_path / "state/certaudit/history.db"
    monkeypatch.setenv("CERTAUDIT_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"


# --------------------------------------------------------------------------- schema


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    History.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {history.schema_version() + 1}")
    conn.close()
    with pytest.raises(HistoryError, match="created by a newer certaudit") as err:
        History.open(db)
    assert str(db) in str(err.value)


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database, it is a report " * 50,
        os.urandom(4096),
        b"SQLite format 3\x00" + b"\xff" * 200,
    ],
)
def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "report.html"
    db.write_bytes(content)
    with pytest.raises(HistoryError) as err:
        History.open(db)
    assert str(db) in err.value.message
    assert db.read_bytes() == content  # untouched


def test_someone_elses_sqlite_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE runs (x)")
    conn.close()
    with pytest.raises(HistoryError, match="not a certaudit history"):
        History.open(db)


def test_migrations_apply_to_an_empty_file_and_are_appendable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "h.db"
    db.touch()  # version 0: an empty file
    with History.open(db):
        pass
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == history.schema_version()
    assert conn.execute("PRAGMA application_id").fetchone()[0] == history.APPLICATION_ID
    conn.close()

    def backfill(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE runs SET note = 'migrated'")

    known = history.schema_version()
    migrations = [*history.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN note TEXT",), backfill]
    monkeypatch.setattr(history, "MIGRATIONS", migrations)
    with History.open(db) as h:
        run_id = h.begin_run("inv", {})
        h.finish_run(run_id, partial=False)
    monkeypatch.setattr(history, "MIGRATIONS", migrations[: known + 1])
    db2 = tmp_path / "h2.db"
    with History.open(db2) as h:  # created with the first added migration
        run_id = h.begin_run("inv", {})
        h.finish_run(run_id, partial=False)
    monkeypatch.setattr(history, "MIGRATIONS", migrations)
    with History.open(db2) as h:
        assert h._conn.execute("PRAGMA user_version").fetchone()[0] == known + 2
        assert h._conn.execute("SELECT note FROM runs").fetchall() == [("migrated",)]
    monkeypatch.undo()
    with pytest.raises(HistoryError, match="newer certaudit"):
        History.open(db2)


def test_missing_file_refused_when_only_reading(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no history database"):
        History.open(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    immutable = os.geteuid() == 0
    if immutable:  # root ignores permission bits; the immutable attribute still binds
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i")
    else:
        folder.chmod(0o555)
    try:
        db = folder / "history.db"
        with pytest.raises(HistoryError) as err:
            History.open(db)
        assert str(db) in err.value.message
        assert "writable" in str(err.value)
        with pytest.raises(HistoryError) as err:
            History.open(folder / "sub" / "history.db")
        assert str(folder / "sub" / "history.db") in err.value.message
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o755)


# --------------------------------------------------------------------------- processes

_CHILD = textwrap.dedent(
    """
    import pickle, sys
    from dataclasses import replace
    from audit.history import History
    from audit.errors import HistoryError

    mode, db = sys.argv[1], sys.argv[2]
    with History.open(db) as h:
        if mode == "race":
            sys.stdin.readline()  # wait for "go"
            try:
                run_id = h.begin_run("inv", {})
            except HistoryError as exc:
                print("refused", exc.message, flush=True)
                sys.exit(0)
            print("ok", run_id, flush=True)
            sys.stdin.readline()  # hold the lock until told
            h.finish_run(run_id, partial=False)
        elif mode == "flood":
            template = pickle.load(open(sys.argv[3], "rb"))
            run_id = h.begin_run("inv", {})
            print(run_id, flush=True)
            i = 0
            while True:
                name = f"host{i:06d}"
                h.record_host(run_id, replace(template, host=replace(template.host, name=name)))
                print(i, flush=True)
                i += 1
    """
)


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def test_two_runs_at_once_the_second_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    History.open(db).close()
    children = [_child("race", db), _child("race", db)]
    try:
        for c in children:
            assert c.stdin is not None
            c.stdin.write("go\n")
            c.stdin.flush()
        answers = {c.pid: c.stdout.readline().split(" ", 1) for c in children if c.stdout}
        winners = [pid for pid, a in answers.items() if a[0] == "ok"]
        losers = [pid for pid, a in answers.items() if a[0] == "refused"]
        assert len(winners) == 1 and len(losers) == 1, answers
        message = answers[losers[0]][1]
        assert f"another certaudit run is in progress (pid {winners[0]})" in message

        with History.open(db) as h:  # this process is refused too, and sees it running
            with pytest.raises(HistoryError, match=f"in progress \\(pid {winners[0]}\\)"):
                h.begin_run("inv", {})
            running = answers[winners[0]][1].strip()
            assert h.run_status(running) is RunStatus.RUNNING
    finally:
        for c in children:
            assert c.stdin is not None
            c.stdin.close()
            c.wait(timeout=10)
    with History.open(db) as h:
        assert h.run_status(running) is RunStatus.COMPLETE
        h.finish_run(h.begin_run("inv", {}), partial=False)  # the lock is free again


def test_kill_9_mid_run_leaves_a_sound_partial_run(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    template = rich_host(pkiset, "template")
    (tmp_path / "template.pickle").write_bytes(pickle.dumps(template))
    db = tmp_path / "h.db"
    child = _child("flood", str(db), str(tmp_path / "template.pickle"))
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    acknowledged = -1
    while acknowledged < 40:
        acknowledged = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
    with History.open(db) as h:
        assert h.run_status(run_id) is RunStatus.INTERRUPTED
        [summary] = h.list_runs()
        assert summary.status is RunStatus.INTERRUPTED and summary.hosts > acknowledged
        run = h.load_run(run_id)
        assert run.partial
        names = [r.host.name for r in run.hosts]
        assert names == [f"host{i:06d}" for i in range(len(names))]  # no gaps
        assert len(names) > acknowledged  # everything acknowledged was committed
        for r in run.hosts:  # every committed host is whole
            assert r == replace(template, host=replace(template.host, name=r.host.name))
        h.finish_run(h.begin_run("inv", {}), partial=False)  # the dead run's lock is gone


# --------------------------------------------------------------------------- diff


def _host(
    name: str, certs: list[tuple[str, CertInfo, int]], outcome: HostOutcome = HostOutcome.OK
) -> HostResult:
    return HostResult(
        host=Host(name, name),
        outcome=outcome,
        certificates=tuple(
            FoundCert(c, CertLocation(name, path, "file", i)) for path, c, i in certs
        ),
    )


def _finding(id: str, host: str, subject: str, cert: CertInfo | None = None) -> Finding:
    return Finding(id, Severity.HIGH, host, subject, id, "", "", "", cert.sha256 if cert else None)


def _run(run_id: str, hosts: list[HostResult], findings: list[Finding]) -> AuditResult:
    return AuditResult(run_id, NOW, NOW, "inv", tuple(hosts), tuple(findings))


def test_diff_findings_follow_the_location_not_the_sha256(pkiset: dict[str, CertInfo]) -> None:
    c = pkiset
    old = _run(
        "a",
        [
            _host(
                "web", [("/s.pem", c["leaf"], 0), ("/b.pem", c["api"], 0), ("/b.pem", c["mail"], 1)]
            ),
            _host("db", [("/db.pem", c["sha1"], 0)]),
        ],
        [
            _finding("CERT_EXPIRING", "web", "/s.pem", c["leaf"]),
            _finding("CERT_EXPIRING", "web", "/b.pem", c["api"]),
            _finding("CERT_EXPIRING", "web", "/b.pem", c["mail"]),
            _finding("CERT_SHA1", "db", "/db.pem", c["sha1"]),
            _finding("HOST_PARTIAL", "web", "collection"),
        ],
    )
    new = _run(
        "b",
        [
            _host(
                "web",
                [
                    ("/s.pem", c["leaf_renewed"], 0),
                    ("/b.pem", c["api"], 0),
                    ("/b.pem", c["mail"], 1),
                ],
            ),
            _host("db", [], HostOutcome.UNREACHABLE),
        ],
        [
            _finding("CERT_EXPIRING", "web", "/s.pem", c["leaf_renewed"]),  # same place, renewed
            _finding("CERT_EXPIRING", "web", "/b.pem", c["api"]),
            _finding("HOST_UNREACHABLE", "db", "ssh"),
        ],
    )
    d = diff_runs(old, new)
    assert (d.old_run, d.new_run) == ("a", "b")
    assert [f.subject for f in d.unchanged] == ["/s.pem", "/b.pem"]
    assert d.unchanged[0].cert_sha256 == c["leaf_renewed"].sha256
    assert [(f.id, f.host) for f in d.new] == [("HOST_UNREACHABLE", "db")]
    assert [(f.subject, f.cert_sha256) for f in d.resolved] == [
        ("/b.pem", c["mail"].sha256),  # index 1 of the bundle, not index 0
        ("collection", None),
    ]
    assert [f.id for f in d.unverified] == ["CERT_SHA1"]  # db was not audited this time
    assert d.hosts_not_compared == ("db",)
    assert d.removed == ()  # db's certificates are not "removed": it was unreachable
    assert [(x.location.path, x.changes) for x in d.renewed] == [("/s.pem", ("validity", "serial"))]


def test_diff_certificate_changes_per_location(pkiset: dict[str, CertInfo]) -> None:
    c = pkiset
    bundle_old = [("/etc/ssl/certs/ca.pem", c["root"], 0)]
    old = _host(
        "web",
        [("/site.pem", c["leaf"], 0), ("/rsa.pem", c["leaf"], 0), ("/gone.pem", c["api"], 0),
         ("/chain.pem", c["leaf"], 0), ("/chain.pem", c["inter"], 1)],
    )  # fmt: skip
    old = replace(
        old,
        certificates=old.certificates
        + tuple(FoundCert(x, CertLocation("web", p, "ca_bundle", i)) for p, x, i in bundle_old),
    )
    new = _host(
        "web",
        [("/site.pem", c["leaf_other_issuer"], 0), ("/rsa.pem", c["leaf_rsa"], 0),
         ("/new.pem", c["mail"], 0),
         ("/chain.pem", c["inter"], 0), ("/chain.pem", c["leaf_renewed"], 1)],
    )  # fmt: skip
    d = diff_runs(_run("a", [old], []), _run("b", [new], []))
    changed = {x.location.path: x for x in d.changed}
    assert set(changed) == {"/site.pem", "/rsa.pem"}
    assert changed["/site.pem"].changes == ("issuer", "serial")
    assert (
        changed["/site.pem"].old == c["leaf"] and changed["/site.pem"].new == c["leaf_other_issuer"]
    )
    assert changed["/rsa.pem"].changes == ("key type", "serial", "key")
    # the chain file was reordered and its leaf renewed: the intermediate is no change
    assert [(x.location.path, x.location.index, x.old, x.new) for x in d.renewed] == [
        ("/chain.pem", 1, c["leaf"], c["leaf_renewed"])
    ]
    assert [(x.kind, x.location.path) for x in d.added] == [(CertChangeKind.ADDED, "/new.pem")]
    assert [(x.kind, x.location.path, x.new) for x in d.removed] == [
        (CertChangeKind.REMOVED, "/gone.pem", None)
    ]  # the CA bundle (ignored kind) vanished without a word
    assert diff_runs(_run("a", [old], []), _run("a", [old], [])).changed == ()
    every = diff_runs(_run("a", [old], []), _run("b", [new], []), ignore_kinds=frozenset())
    assert "/etc/ssl/certs/ca.pem" in [x.location.path for x in every.removed]


def test_diff_of_runs_read_back_from_history(tmp_path: Path, pkiset: dict[str, CertInfo]) -> None:
    with History.open(tmp_path / "h.db") as h:
        first = store(h, rich_result("", pkiset))
        second = store(h, replace(rich_result("", pkiset), started_at=NOW + dt.timedelta(hours=1)))
        a, b = h.load_run(first), h.load_run(second)
    d = diff_runs(a, b)
    assert d.new == d.resolved == d.unverified == ()
    assert len(d.unchanged) == len(b.findings)
    assert d.renewed == d.changed == d.added == d.removed == ()


def test_history_stores_every_field_of_the_model() -> None:
    """A field added to the model must be stored too: update history.py, then this list."""
    import dataclasses

    stored = {
        AuditResult: "run_id started_at finished_at inventory hosts findings partial",
        HostResult: "host outcome detail started_at finished_at certificates unparseable"
        " key_files issues ca_bundles listeners tls_configs bytes_received facts",
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
    for cls, names in stored.items():
        assert [f.name for f in dataclasses.fields(cls)] == names.split(), cls.__name__
