"""Reliability promises end to end (the README's "Promises"): real sshd hosts in the lab, real
`python -m audit` processes, the real SQLite history, the report in real Chromium.

* renewal across two runs: `diff` calls a renewed certificate routine and a new issuer
  material; the second run's report.html marks findings new and resolved;
* the lab's report.html in headless Chromium: every section renders, nothing complains;
* 100 MB on stdout and stderr at once: capped, flagged, no deadlock, bounded memory;
* kill -9 and Ctrl-C during a run: the database stays sound, the run is kept as partial
  with every inventory host, the previous report is untouched;
* a read-only output folder and a second run at the same time are refused loudly; a disk
  that fills up while the reports are written keeps the previous reports whole;
* a canary password in the inventory appears nowhere;
* exit status against --min-coverage.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from audit.collect.hostkeys import KnownHosts
from audit.collect.ssh import SshOptions
from audit.inventory import load_inventory
from audit.model import HostOutcome, IssueReason
from audit.runner import FleetOptions, Observer, audit_fleet
from tests import pki
from tests.conftest import FACTORY_BRIDGE, FACTORY_SUBNET
from tests.lab.netlab import Entry, File, HostSpec, Lab, unavailable_reason
from tests.lab.scenarios import sample_files

pytestmark = pytest.mark.lab

SECTIONS = ("summary", "expiry", "findings", "certificates", "hosts")
REPORTS = ("findings.json", "report.html", "report.xlsx", "metrics.prom")
MANIFEST = "manifest.json"
"""Written by `run` after the reports (not by `report --out`)."""


def report_names(folder: Path) -> list[str]:
    """The files of a reports folder, its manifest aside."""
    return sorted(p.name for p in folder.iterdir() if p.name != MANIFEST)


# ----------------------------------------------------------------------------- helpers


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "CERTAUDIT_DB")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def certaudit(*args: object, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """`python -m audit ARGS` to completion, text output."""
    return subprocess.run(
        [sys.executable, "-m", "audit", *map(str, args)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        env=_env(),
    )


def run_args(lab: Lab, out: Path, db: Path, *extra: object) -> list[object]:
    return [
        "run",
        lab.inventory,
        "--known-hosts",
        lab.known_hosts,
        "--out",
        out,
        "--db",
        db,
        "--ssh-config",
        "/dev/null",
        "--connect-timeout",
        "5",
        "--host-timeout",
        "20",
        *extra,
    ]


def start(args: list[object], logs: Path) -> subprocess.Popen[bytes]:
    """`python -m audit ARGS` in the background, output to files (never a full pipe)."""
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "audit", *map(str, args)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=_env(),
        )


def committed_hosts(db: Path, pid: int) -> dict[str, str]:
    """Hosts the run begun by process `pid` has committed (name -> outcome), read-only."""
    if not db.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            rows = conn.execute(
                "SELECT h.name, h.outcome FROM hosts h JOIN runs r ON r.id = h.run_id"
                " WHERE r.pid = ?",
                (pid,),
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet
        return {}
    return dict(rows)


def wait_for_hosts(
    db: Path, proc: subprocess.Popen[bytes], names: set[str], timeout: float = 40
) -> dict[str, str]:
    """Wait until the run has committed these hosts as audited ("ok")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = committed_hosts(db, proc.pid)
        if all(done.get(name) == "ok" for name in names):
            return done
        assert proc.poll() is None, f"the run ended early with status {proc.returncode}"
        time.sleep(0.1)
    raise AssertionError(
        f"{names} not committed within {timeout}s: {committed_hosts(db, proc.pid)}"
    )


def run_ids(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, status FROM runs ORDER BY started_at, id").fetchall()
    finally:
        conn.close()


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def assert_reports_open(folder: Path) -> dict[str, Any]:
    """Every report in the folder is whole: JSON parses, the xlsx is a sound zip, the HTML
    is complete. Returns findings.json."""
    assert report_names(folder) == sorted(REPORTS), list(folder.iterdir())
    doc = json.loads((folder / "findings.json").read_text())
    with zipfile.ZipFile(folder / "report.xlsx") as z:
        assert z.testzip() is None
        assert "xl/workbook.xml" in z.namelist()
    page = (folder / "report.html").read_text()
    assert page.rstrip().endswith("</html>")
    for section in SECTIONS:
        assert f'id="{section}"' in page
    assert "certaudit_run_partial" in (folder / "metrics.prom").read_text()
    return doc


def outcomes(doc: dict[str, Any]) -> dict[str, str]:
    return {h["name"]: h["outcome"] for h in doc["hosts"]}


# `find` hangs on this host while /root/hang exists, as a stat on a dead network mount would.
SLOW_FIND: list[Entry] = [
    File(
        "/opt/bin/find",
        b'#!/bin/sh\n[ -e /root/hang ] && exec sleep 299\nexec /usr/bin/find "$@"\n',
        0o755,
    ),
    File("/root/.bashrc", b"PATH=/opt/bin:$PATH; export PATH\n"),
]


# ------------------------------------------------------------- 1. renewal across two runs


@dataclass
class Renewal:
    db: Path
    first: Path
    second: Path
    paths: dict[str, str]


@pytest.fixture(scope="module")
def renewal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Renewal]:
    """Two audits of the same lab into the same history; between them one certificate is
    renewed (same names and issuer; new validity, serial and key), an expired one is
    replaced by a valid renewal, one moves to another CA, and one expiring soon appears.

    The lab is torn down before the tests look at the outputs, so other tests of this
    module can use the lab bridge.
    """
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"lab unavailable: {reason}")
    now = pki.utcnow()
    tmp = tmp_path_factory.mktemp("renewal")
    ca = pki.hierarchy(now, name="Renew")
    other = pki.hierarchy(now, name="Elsewhere")
    paths = {
        "app": "/etc/ssl/local/app.renew.test.fullchain.pem",
        "old": "/etc/ssl/local/old.renew.test.pem",
        "moved": "/etc/ssl/local/moved.renew.test.pem",
        "soon": "/etc/ssl/local/soon.renew.test.pem",
    }

    def leaf(cn: str, issuer: pki.Hierarchy, before: float, after: float) -> pki.Issued:
        return issuer.leaf(cn, now=now, days_before=before, days_after=after, fresh_key=True)

    first: list[Entry] = [
        File(paths["app"], pki.pem_bundle(leaf("app.renew.test", ca, 300, 40), ca.intermediate)),
        File(paths["old"], leaf("old.renew.test", ca, 400, -3).pem),
        File(paths["moved"], leaf("moved.renew.test", ca, 30, 200).pem),
    ]
    second = [
        File(paths["app"], pki.pem_bundle(leaf("app.renew.test", ca, 1, 89), ca.intermediate)),
        File(paths["old"], leaf("old.renew.test", ca, 0, 90).pem),
        File(paths["moved"], leaf("moved.renew.test", other, 30, 200).pem),
        File(paths["soon"], leaf("soon.renew.test", ca, 80, 5).pem),
    ]
    db = tmp / "history.db"
    d1, d2 = tmp / "d1", tmp / "d2"
    specs = [HostSpec("renew1", files=first), HostSpec("steady", files=sample_files(now))]
    with Lab(specs, subnet=FACTORY_SUBNET, bridge=FACTORY_BRIDGE) as lab:
        one = certaudit(*run_args(lab, d1, db))
        assert one.returncode == 1, one.stderr  # the expired certificates are findings
        for f in second:
            lab.write_file("renew1", f.path, f.data)
        two = certaudit(*run_args(lab, d2, db))
        assert two.returncode == 1, two.stderr
    yield Renewal(db, d1, d2, paths)


def test_renewal_is_routine_and_a_new_issuer_is_material(renewal: Renewal) -> None:
    p = renewal.paths
    proc = certaudit("diff", "--db", renewal.db, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    certs = doc["certificates"]
    renewed = {c["path"]: c for c in certs["renewed"] if c["host"] == "renew1"}
    assert set(renewed) == {p["app"], p["old"]}, certs
    for c in renewed.values():
        assert c["kind"] == "renewed" and c["routine"] is True
        assert {"validity", "serial", "key"} <= set(c["changes"]), c
        assert c["old"]["issuer"] == c["new"]["issuer"]
        assert c["old"]["sha256"] != c["new"]["sha256"]
    assert renewed[p["app"]]["index"] == 0  # the unchanged intermediate is no change at all
    changed = [c for c in certs["changed"] if c["host"] == "renew1"]
    assert [c["path"] for c in changed] == [p["moved"]], certs
    assert changed[0]["routine"] is False and "issuer" in changed[0]["changes"]
    assert "Elsewhere Intermediate CA" in changed[0]["new"]["issuer"]
    assert [c["path"] for c in certs["added"]] == [p["soon"]]
    assert certs["removed"] == []
    # nothing else moved: the untouched host compares equal
    assert not [c for group in certs.values() for c in group if c["host"] == "steady"]

    resolved = {(f["id"], f["host"], f["subject"]) for f in doc["findings"]["resolved"]}
    assert ("CERT_EXPIRED", "renew1", p["old"]) in resolved, doc["findings"]["resolved"]
    new = {(f["id"], f["host"], f["subject"]) for f in doc["findings"]["new"]}
    assert ("CERT_EXPIRING", "renew1", p["soon"]) in new, doc["findings"]["new"]
    assert not [f for f in doc["findings"]["new"] if f["host"] == "steady"]

    human = certaudit("diff", "--db", renewal.db)
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert any("renewed" in line and p["app"] in line and "(routine:" in line for line in lines), (
        human.stdout
    )
    assert any("renewed" in line and p["old"] in line for line in lines), human.stdout
    moved = [line for line in lines if p["moved"] in line]
    assert len(moved) == 1 and "CHANGED" in moved[0] and "(material)" in moved[0], moved
    assert "Elsewhere Intermediate CA" in moved[0]
    assert "certificates: 2 renewed (routine), 1 changed (material), 1 added, 0 removed" in (
        human.stdout
    )


def _rows(page: str, cls: str) -> list[str]:
    return re.findall(rf'<tr class="{cls}"(.*?)</tr>', page, re.S)


def test_second_report_marks_new_and_resolved(renewal: Renewal) -> None:
    p = renewal.paths
    first = (renewal.first / "report.html").read_text()
    second = (renewal.second / "report.html").read_text()
    assert 'id="resolved"' not in first and 'data-new="1"' not in first  # nothing before it
    resolved = _rows(second, "resolved-row")
    assert any("CERT_EXPIRED" in r and p["old"] in r for r in resolved), resolved
    assert not any("steady" in r for r in resolved)
    new = [r for r in _rows(second, "finding-row") if 'data-new="1"' in r]
    assert any('data-id="CERT_EXPIRING"' in r and p["soon"] in r for r in new), new
    assert not any('data-host="steady"' in r for r in new)
    # the old certificate's finding is gone from the second run
    doc = json.loads((renewal.second / "findings.json").read_text())
    assert not [
        f for f in doc["findings"] if f["id"] == "CERT_EXPIRED" and f["subject"] == p["old"]
    ]


# ------------------------------------------------------------ 2. the lab report in Chromium


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("websockets")
    from tests.report import cdp

    if cdp.chromium_path() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with cdp.browser(tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


def test_lab_report_renders_in_chromium(renewal: Renewal, browser: Any) -> None:
    doc = json.loads((renewal.second / "findings.json").read_text())
    b = browser
    b.open((renewal.second / "report.html").as_uri())
    assert b.trouble() == []
    assert b.eval("document.body.dataset.ready") == "yes", "the report's script did not run"
    for section in (*SECTIONS, "resolved"):
        height = b.eval(f"document.getElementById('{section}').getBoundingClientRect().height")
        assert height > 50, f"section {section} is empty ({height}px)"
    rows = "Array.from(document.querySelectorAll('tr.finding-row'))"
    assert b.eval(f"{rows}.filter(r => !r.hidden).length") == len(doc["findings"])
    assert b.eval(f"{rows}.filter(r => r.dataset.new === '1').length") >= 1
    for i, _ in enumerate(doc["hosts"], 1):
        assert b.eval(f"document.getElementById('host-{i}') !== null"), f"host-{i}"
    text = b.eval("document.getElementById('certificates').textContent")
    assert "soon.renew.test" in text and "app.example.test" in text
    b.eval("document.getElementById('f-sev').value = 'critical'")
    b.eval("document.getElementById('f-sev').dispatchEvent(new Event('change'))")
    assert set(b.eval(f"{rows}.filter(r => !r.hidden).map(r => r.dataset.sev)")) <= {"critical"}
    assert b.dialogs == [] and b.trouble() == []


# ---------------------------------------------------- 3. 100 MB on stdout and stderr at once


class _Counter(Observer):
    def __init__(self) -> None:
        self.bytes: dict[str, int] = defaultdict(int)
        self.streams: dict[tuple[str, str], int] = defaultdict(int)

    def received(self, host: str, stream: str, data: bytes) -> None:
        self.bytes[host] += len(data)
        self.streams[(host, stream)] += len(data)


FLOOD_RC = (  # both streams at once, before the collection command runs
    b"( head -c 100000000 /dev/zero | tr '\\0' o ) &\n"
    b"( head -c 100000000 /dev/zero | tr '\\0' e >&2 ) &\n"
    b"wait\n"
)


def test_flood_on_both_streams_is_capped_without_deadlock(make_lab: Any) -> None:
    cap = 8 * 1024 * 1024
    host_timeout = 20.0
    flood = HostSpec("flood", files=[File("/root/.bashrc", FLOOD_RC)])
    with make_lab([flood, "calm1", "calm2"], same_files=True) as lab:
        inventory = load_inventory(lab.inventory)
        options = FleetOptions(
            ssh=SshOptions(
                connect_timeout=5.0,
                host_timeout=host_timeout,
                max_output_bytes=cap,
                ssh_config=[],
            )
        )
        counter = _Counter()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
        started = time.monotonic()
        results = asyncio.run(
            asyncio.wait_for(  # a deadlock fails the test instead of hanging it
                audit_fleet(inventory.hosts, KnownHosts.load(lab.known_hosts), options, counter),
                timeout=host_timeout + 10,
            )
        )
        elapsed = time.monotonic() - started
        rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        by_name = {r.host.name: r for r in results}
        hit = by_name["flood"]
        assert hit.outcome in (HostOutcome.PARTIAL, HostOutcome.FAILED), hit
        reasons = {i.reason for i in hit.issues}
        assert reasons & {IssueReason.OUTPUT_CAP, IssueReason.TRUNCATED}, hit.issues
        assert 0 < hit.bytes_received <= cap
        assert counter.bytes["flood"] <= cap
        # both streams were drained side by side (reading one while the other's window is
        # full is how such a flood deadlocks)
        assert counter.streams[("flood", "stdout")] > 0
        assert counter.streams[("flood", "stderr")] > 0
        assert elapsed < host_timeout, f"took {elapsed:.1f}s: the cap should end it early"
        assert rss_growth_mib < 100, f"peak memory grew by {rss_growth_mib:.0f} MiB"
        for name in ("calm1", "calm2"):
            assert by_name[name].outcome is HostOutcome.OK, by_name[name]
            assert by_name[name].certificates
        # the flood is stopped on the host too, not left writing into a closed channel
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = lab.run_in_host("flood", ["pgrep", "-f", "head -c 100000000"])
            if left.returncode != 0:
                break
            time.sleep(0.2)
        assert left.returncode != 0, "the flood kept running on the host"


# ------------------------------------------------------------ 4. kill -9 and Ctrl-C mid-run


def test_kill_9_mid_run_keeps_the_database_and_the_previous_report(
    make_lab: Any, tmp_path: Path
) -> None:
    with make_lab(["fast1", HostSpec("hang", files=SLOW_FIND), "fast2"], same_files=True) as lab:
        db = tmp_path / "history.db"
        previous = tmp_path / "previous"
        done = certaudit(*run_args(lab, previous, db))
        assert done.returncode == 1, done.stderr
        before = fingerprint(previous)

        lab.write_file("hang", "/root/hang", b"")
        killed_out = tmp_path / "killed"
        proc = start(run_args(lab, killed_out, db, "--host-timeout", "120"), tmp_path / "logs")
        try:
            stored = wait_for_hosts(db, proc, {"fast1", "fast2"})
            assert stored["hang"] == "failed"  # stored from the start as not finished
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    (complete_id, complete), (killed_id, status) = run_ids(db)
    assert (complete, status) == ("complete", "running")  # never finished, lock released

    listing = certaudit("report", "--db", db, "--list")
    assert listing.returncode == 0, listing.stderr
    assert re.search(rf"{killed_id}\s.*\binterrupted\b", listing.stdout), listing.stdout

    out = tmp_path / "rerendered"
    proc2 = certaudit("report", "--db", db, "--run", killed_id, "--out", out)
    assert proc2.returncode == 0, proc2.stderr
    assert "[partial]" in proc2.stdout and f"compared with {complete_id}" in proc2.stdout
    doc = assert_reports_open(out)
    assert doc["run_id"] == killed_id and doc["partial"] is True
    hosts = outcomes(doc)
    assert hosts["fast1"] == hosts["fast2"] == "ok"
    # every inventory host has an outcome, the unfinished one included
    assert set(hosts) == {"fast1", "hang", "fast2"}, hosts
    assert hosts["hang"] == "failed"
    # the hosts that finished are analysed, not shown as "no findings"
    assert {"CERT_EXPIRED", "CERT_EXPIRING"} <= {
        f["id"] for f in doc["findings"] if f["host"] == "fast1"
    }, doc["findings"]
    assert "interrupted" in (out / "report.html").read_text()

    assert fingerprint(previous) == before  # the last good report is untouched ...
    assert_reports_open(previous)  # ... and still opens
    assert not killed_out.exists() or not list(killed_out.iterdir())

    # compared with the complete run: nothing resolved on the hosts that finished, and the
    # unfinished host's findings are "not verified", not "resolved"
    diff = certaudit("diff", "--db", db, "--json")
    assert diff.returncode == 0, diff.stderr
    changes = json.loads(diff.stdout)
    assert (changes["old_run"], changes["new_run"]) == (complete_id, killed_id)
    assert changes["findings"]["resolved"] == [], changes["findings"]["resolved"]
    assert {f["host"] for f in changes["findings"]["unverified"]} == {"hang"}
    assert changes["hosts_not_compared"] == ["hang"]


def test_resume_after_kill_9_audits_only_the_unfinished_hosts(
    make_lab: Any, tmp_path: Path
) -> None:
    with make_lab(["fast1", HostSpec("hang", files=SLOW_FIND), "fast2"], same_files=True) as lab:
        db = tmp_path / "history.db"
        lab.write_file("hang", "/root/hang", b"")
        proc = start(
            run_args(lab, tmp_path / "killed", db, "--host-timeout", "120"), tmp_path / "l"
        )
        try:
            wait_for_hosts(db, proc, {"fast1", "fast2"})
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        [(killed_id, _)] = run_ids(db)
        conn = sqlite3.connect(db)
        try:
            first = dict(conn.execute("SELECT name, finished_at FROM hosts").fetchall())
        finally:
            conn.close()

        lab.remove("hang", "/root/hang")  # the hung mount is back
        out = tmp_path / "resumed"
        resumed = certaudit(*run_args(lab, out, db, "--resume"))
        assert resumed.returncode == 1, resumed.stderr  # findings, every host audited
        assert f"resuming run {killed_id}: 2 host(s) already done, 1 to audit" in resumed.stderr
        assert run_ids(db) == [(killed_id, "complete")]  # the same run, now complete
        doc = assert_reports_open(out)
        assert doc["run_id"] == killed_id and doc["partial"] is False
        assert outcomes(doc) == {"fast1": "ok", "hang": "ok", "fast2": "ok"}
        conn = sqlite3.connect(db)
        try:
            second = dict(conn.execute("SELECT name, finished_at FROM hosts").fetchall())
        finally:
            conn.close()
        # the hosts that had finished were not audited again; the hung one was
        assert second["fast1"] == first["fast1"] and second["fast2"] == first["fast2"]
        assert second["hang"] != first["hang"]
        # findings cover every host, computed once over the whole run
        assert {f["host"] for f in doc["findings"]} >= {"fast1", "hang", "fast2"}

        again = certaudit(*run_args(lab, tmp_path / "again", db, "--resume"))
        assert again.returncode == 2 and "no interrupted or partial run" in again.stderr


def test_ctrl_c_mid_run_exits_130_and_keeps_every_host(make_lab: Any, tmp_path: Path) -> None:
    with make_lab(["fast1", HostSpec("hang", files=SLOW_FIND), "fast2"], same_files=True) as lab:
        lab.write_file("hang", "/root/hang", b"")
        db, out = tmp_path / "history.db", tmp_path / "out"
        proc = start(run_args(lab, out, db, "--host-timeout", "120"), tmp_path / "logs")
        try:
            wait_for_hosts(db, proc, {"fast1", "fast2"})
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr = (tmp_path / "logs" / "stderr").read_text()
        assert proc.returncode == 130, stderr
        assert time.monotonic() - started < 10
        assert "Traceback" not in stderr
        assert "interrupted; the run is stored as partial" in stderr

    doc = assert_reports_open(out)
    assert doc["partial"] is True
    hosts = outcomes(doc)
    assert list(hosts) == ["fast1", "hang", "fast2"]  # inventory order, every host
    assert hosts == {"fast1": "ok", "hang": "failed", "fast2": "ok"}
    hang = next(h for h in doc["hosts"] if h["name"] == "hang")
    assert "interrupted" in hang["detail"]
    assert any(f["host"] == "hang" for f in doc["findings"])  # could not audit: a finding

    [(run_id, status)] = run_ids(db)
    assert status == "partial"
    again = tmp_path / "again"
    proc2 = certaudit("report", "--db", db, "--out", again)
    assert proc2.returncode == 0 and "[partial]" in proc2.stdout, proc2.stderr
    stored = assert_reports_open(again)
    assert outcomes(stored) == hosts  # the stored run has every host, as the live report
    assert [f["id"] for f in stored["findings"]] == [f["id"] for f in doc["findings"]]


# ------------------------------------------- 5. read-only output folder; two runs at once


def test_read_only_output_folder_fails_before_auditing(make_lab: Any, tmp_path: Path) -> None:
    with make_lab(["ro1"], same_files=True) as lab:
        db, out = tmp_path / "history.db", tmp_path / "out"
        first = certaudit(*run_args(lab, out, db))
        assert first.returncode == 1, first.stderr
        before = fingerprint(out)
        subprocess.run(["chattr", "+i", str(out)], check=True)
        try:
            started = time.monotonic()
            proc = certaudit(*run_args(lab, out, db))
            elapsed = time.monotonic() - started
        finally:
            subprocess.run(["chattr", "-i", str(out)], check=True)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("certaudit: error:") and str(out) in lines[0], lines
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert elapsed < 10
    assert [s for _, s in run_ids(db)] == ["complete"]  # refused before a run began
    assert fingerprint(out) == before
    assert_reports_open(out)


# The output folder, a small tmpfs in the run's own mount namespace, with the previous
# reports and $FREE bytes left: room for the new findings.json, not for report.html too.
FULL_DISK = """
mount -t tmpfs -o size=4m certaudit-full "$OUT_DIR" || exit 99
cp -p "$PREV_DIR"/* "$OUT_DIR"/ || exit 99
cat /dev/zero > "$OUT_DIR/.filler" 2>/dev/null
truncate -s "-$FREE" "$OUT_DIR/.filler" || exit 99
"$@"; rc=$?
rm -f "$OUT_DIR/.filler"
cp -pa "$OUT_DIR"/. "$SEEN_DIR"/
exit $rc
"""


def test_disk_full_keeps_the_previous_reports(make_lab: Any, tmp_path: Path) -> None:
    """The disk fills up while the reports are written: the run stores itself complete,
    fails with one error line and exit 2, and leaves the previous reports exactly as they
    were (not the new findings.json beside the old report.html), with no temporary files."""
    with make_lab(["full1"], same_files=True) as lab:
        db, previous = tmp_path / "history.db", tmp_path / "previous"
        first = certaudit(*run_args(lab, previous, db))
        assert first.returncode == 1, first.stderr
        json_size = (previous / "findings.json").stat().st_size
        html_size = (previous / "report.html").stat().st_size
        assert html_size > 64_000  # room for findings.json and half of report.html: ENOSPC
        # while report.html is written, with tens of kilobytes of slack either side
        out, seen = tmp_path / "out", tmp_path / "seen"
        out.mkdir()
        seen.mkdir()
        argv = [sys.executable, "-m", "audit", *map(str, run_args(lab, out, db))]
        env = {"OUT_DIR": str(out), "SEEN_DIR": str(seen), "PREV_DIR": str(previous)}
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--",
             "sh", "-c", FULL_DISK, "sh", *argv],
            capture_output=True,
            text=True,
            timeout=90,
            env={**_env(), **env, "FREE": str(json_size + html_size // 2)},
        )  # fmt: skip
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("certaudit: error:")]
    assert errors == [
        f"certaudit: error: --out {out}: cannot write the reports (No space left on device)"
    ], proc.stderr
    assert "Traceback" not in proc.stderr
    assert report_names(seen) == sorted(REPORTS)  # no temporary files left
    assert fingerprint(seen) == fingerprint(previous)
    [(_, done), (run_id, status)] = run_ids(db)
    assert (done, status) == ("complete", "complete")  # the audit itself is kept
    assert f"certaudit report --run {run_id}" in proc.stderr
    again = certaudit("report", "--db", db, "--run", run_id, "--out", tmp_path / "again")
    assert again.returncode == 0, again.stderr
    assert_reports_open(tmp_path / "again")


def test_second_run_at_the_same_time_is_refused(make_lab: Any, tmp_path: Path) -> None:
    slow = HostSpec("slow", files=[File("/root/.bashrc", b"sleep 6\n")])  # a slow login
    with make_lab([slow, "quick"], same_files=True) as lab:
        db = tmp_path / "history.db"
        first = start(run_args(lab, tmp_path / "first", db), tmp_path / "logs")
        try:
            wait_for_hosts(db, first, {"quick"})
            assert first.poll() is None, "the first run must still be running"
            second = certaudit(*run_args(lab, tmp_path / "second", db))
            assert first.poll() is None, "the first run must still be running"
            first.wait(40)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
    assert second.returncode == 2, (second.stdout, second.stderr)
    assert "another certaudit run is in progress" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "second" / "findings.json").exists()
    assert first.returncode == 1, (tmp_path / "logs" / "stderr").read_text()
    doc = assert_reports_open(tmp_path / "first")
    assert outcomes(doc) == {"slow": "ok", "quick": "ok"}
    assert [s for _, s in run_ids(db)] == ["complete"]


# ---------------------------------------------------------------- 6. a canary password


def test_canary_password_appears_nowhere(make_lab: Any, tmp_path: Path) -> None:
    token = os.urandom(8).hex()
    canaries = [f"CANARY-PW-{token}".encode(), f"CANARY-BECOME-{token}".encode()]
    spec = HostSpec(
        "secret",
        vars={
            "ansible_password": canaries[0].decode(),
            "ansible_become_password": canaries[1].decode(),
        },
    )
    with make_lab([spec, "plain"], same_files=True) as lab:
        assert canaries[0] in lab.inventory.read_bytes()  # the canary is really there
        db, out = tmp_path / "history.db", tmp_path / "out"
        proc = certaudit(*run_args(lab, out, db, "-vvv"))
    assert proc.returncode == 1, proc.stderr
    doc = assert_reports_open(out)
    assert outcomes(doc) == {"secret": "ok", "plain": "ok"}  # key authentication worked
    assert "ansible_password" in proc.stderr  # the warning names the variable ...
    assert "bytes" in proc.stderr  # (-vvv really was verbose)
    everything = {"stdout": proc.stdout.encode(), "stderr": proc.stderr.encode()}
    for path in [*out.iterdir(), *tmp_path.glob("history.db*")]:
        everything[str(path)] = path.read_bytes()
    for where, data in everything.items():
        for canary in canaries:
            for form in (canary, canary.hex().encode(), canary.decode().encode("utf-16-le")):
                assert form not in data, f"the canary {canary!r} leaked into {where}"
            assert token.encode() not in data, f"part of the canary leaked into {where}"


# ------------------------------------------------------------ 7. exit status and coverage


def test_exit_status_and_coverage(make_lab: Any, tmp_path: Path) -> None:
    """One of three hosts cannot be audited (its port refuses): coverage is 66.7%.

    * default --min-coverage (100): exit 3, whatever the findings;
    * --min-coverage 50: coverage is met, so the status says what the findings say:
      1 when a finding is at or above --fail-on (default high; the unreachable host's own
      finding and the sample's expired certificate are), never 3;
    * --min-coverage 50 --fail-on critical: 1 only if a critical finding exists, else 0;
    * --min-coverage 70: exit 3 again (the threshold is a percentage of inventory hosts).
    Every report lists all three hosts either way.
    """
    variants: dict[str, tuple[str, ...]] = {
        "default": (),
        "50": ("--min-coverage", "50"),
        "50-critical": ("--min-coverage", "50", "--fail-on", "critical"),
        "70": ("--min-coverage", "70"),
    }
    with make_lab(["up1", "up2", HostSpec("gone", up=False)], same_files=True) as lab:
        procs = {  # at once, each with its own history
            name: start(
                run_args(lab, tmp_path / name, tmp_path / f"{name}.db", *extra), tmp_path / name
            )
            for name, extra in variants.items()
        }
        status = {name: proc.wait(60) for name, proc in procs.items()}
    for name in variants:
        assert "Traceback" not in (tmp_path / name / "stderr").read_text()
        (tmp_path / name / "stdout").unlink()
        (tmp_path / name / "stderr").unlink()
        doc = assert_reports_open(tmp_path / name)
        assert outcomes(doc) == {"up1": "ok", "up2": "ok", "gone": "unreachable"}, name
        assert doc["summary"]["hosts_audited"] == 2
    assert status["default"] == 3
    assert status["70"] == 3
    doc = json.loads((tmp_path / "50" / "findings.json").read_text())
    severities = {f["severity"] for f in doc["findings"]}
    assert severities & {"high", "critical"}
    assert status["50"] == 1
    assert status["50-critical"] == (1 if "critical" in severities else 0), severities
