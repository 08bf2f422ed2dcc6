"""Waivers: a reviewed YAML file checked (FILE:LINE) before any host is contacted; waived
findings stay in every report, marked, but count towards neither the exit status nor the
alerting metrics; expired and stale waivers are reported."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from audit import runner
from audit.certparse import parse_bytes
from audit.model import (
    CertInfo,
    CertLocation,
    Finding,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    Severity,
)
from audit.rules import BY_ID
from audit.service.policy import EXIT_FINDINGS, EXIT_OK, findings_status
from audit.service.run import RunSettings, run_audit
from audit.service.waivers import (
    WaiversError,
    WaiverSet,
    apply_waivers,
    default_file,
    load_waivers,
)
from tests import pki
from tests.report.test_prometheus import parse as parse_metrics

TODAY = date(2025, 6, 2)
HOSTS = ["web01", "web02", "db01"]
GROUPS = {"all": HOSTS, "web": ["web01", "web02"], "db": ["db01"], "ungrouped": []}


def _load(tmp_path: Path, text: str, **kw: Any) -> WaiverSet:
    path = tmp_path / "waivers.yml"
    path.write_text(text)
    args: dict[str, Any] = {
        "today": TODAY,
        "known_ids": BY_ID,
        "hosts": HOSTS,
        "groups": GROUPS,
        **kw,
    }
    return load_waivers(path, **args)


GOOD = """\
# reviewed by the platform team
waivers:
  - id: CERT_SELF_SIGNED
    hosts: "web:!web02"
    reason: lab certificate
    owner: platform
    expires: 2025-12-31
    ticket: OPS-1
  - id: CERT_EXPIRED
    cert_sha256: "AB:CD"
    reason: x
    owner: y
    expires: 2025-07-01
"""


def test_a_good_file_loads(tmp_path: Path) -> None:
    text = GOOD.replace('"AB:CD"', ":".join(["ab"] * 32))
    ws = _load(tmp_path, text)
    assert [w.id for w in ws.waivers] == ["CERT_SELF_SIGNED", "CERT_EXPIRED"]
    first, second = ws.waivers
    assert first.expires == date(2025, 12, 31) and first.ticket == "OPS-1"
    assert first.source == f"{tmp_path / 'waivers.yml'}:3"
    assert ws.selected[0] == frozenset({"web01"})
    assert second.cert_sha256 == "ab" * 32 and ws.selected[1] is None


def test_a_plain_list_and_an_empty_file_load(tmp_path: Path) -> None:
    ws = _load(
        tmp_path, "- {id: WEAK_KEY, path: /etc/*, reason: r, owner: o, expires: '2025-06-30'}\n"
    )
    assert ws.waivers[0].path == "/etc/*" and ws.waivers[0].expires == date(2025, 6, 30)
    assert _load(tmp_path, "").waivers == ()
    assert _load(tmp_path, "waivers:\n").waivers == ()


OK = ("reason: r", "owner: o", "expires: 2025-06-30")
"""Lines that make an entry complete (with an id and a match)."""


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        (("id: NOT_A_FINDING", "hosts: web01"), 3, "'NOT_A_FINDING' is not a finding ID"),
        (("id: WEAK_KEY", "hosts: web01", "expires: 2025-06-30"), 3, "reason is required"),
        (("id: WEAK_KEY", *OK), 3, "needs a match"),
        (("id: WEAK_KEY", "hosts: web01", *OK[:2]), 3, "expires is required"),
        (("id: WEAK_KEY", "hosts: web01", *OK[:2], "expires: 2027-01-01"), 7, "365 days ahead"),
        (("id: WEAK_KEY", "hosts: web01", *OK[:2], "expires: soon"), 7, "is not a date"),
        (("id: WEAK_KEY", "hosts: web01", *OK, "color: red"), 8, "unknown key 'color'"),
        (("id: WEAK_KEY", "cert_sha256: zz", *OK), 4, "64 hex digits"),
        (("id: WEAK_KEY", "hosts: web01", "hosts: web02", *OK), 5, "hosts given twice"),
        (("id: WEAK_KEY", "hosts: [web01]", *OK), 4, "single non-empty value"),
        (("id: WEAK_KEY", "hosts: '~web('", *OK), 4, "hosts '~web('"),
    ],
)
def test_bad_entries_are_errors_naming_file_and_line(
    tmp_path: Path, lines: tuple[str, ...], line: int, message: str
) -> None:
    entry = "  - " + "\n    ".join(lines) + "\n"
    with pytest.raises(WaiversError) as info:
        _load(tmp_path, "# header\nwaivers:\n" + entry)
    problem = next(p for p in info.value.problems if message in p)
    assert problem.startswith(f"{tmp_path / 'waivers.yml'}:{line}: ")
    with pytest.raises(WaiversError, match=r"waivers\.yml:3: a waiver must be a mapping"):
        _load(tmp_path, "# header\nwaivers:\n  - just text\n")


def test_every_problem_is_listed_and_yaml_errors_name_their_line(tmp_path: Path) -> None:
    with pytest.raises(WaiversError) as info:
        _load(tmp_path, "- id: NOPE\n  hosts: web01\n- id: WEAK_KEY\n")
    assert len(info.value.problems) > 2
    assert any(":1: 'NOPE'" in p for p in info.value.problems)
    assert any(":3: " in p and "expires is required" in p for p in info.value.problems)
    with pytest.raises(Exception, match=r"waivers\.yml:3: not valid YAML"):
        _load(tmp_path, "- id: WEAK_KEY\n  hosts: web01\n   bad: [\n")
    with pytest.raises(Exception, match="expected a list of waivers"):
        _load(tmp_path, "id: WEAK_KEY\n")


def test_max_days_is_configurable(tmp_path: Path) -> None:
    text = "- {id: WEAK_KEY, hosts: web01, reason: r, owner: o, expires: 2025-06-20}\n"
    assert _load(tmp_path, text, max_days=30).waivers
    with pytest.raises(WaiversError, match="more than 10 days ahead"):
        _load(tmp_path, text, max_days=10)


def _finding(fid: str, host: str, subject: str, sha: str | None = None) -> Finding:
    return Finding(fid, Severity.HIGH, host, subject, "t", "d", "diag", "fix", cert_sha256=sha)


@pytest.fixture(scope="module")
def cert() -> CertInfo:
    now = datetime(2025, 6, 2, tzinfo=UTC)
    parsed = parse_bytes(pki.issue("app.example.test", now=now).pem)[0].cert
    assert parsed is not None
    return parsed


def _results(cert: CertInfo) -> list[HostResult]:
    out = []
    for name in HOSTS:
        loc = CertLocation(name, f"/etc/ssl/{name}/app.pem")
        out.append(
            HostResult(Host(name, name), HostOutcome.OK, certificates=(FoundCert(cert, loc),))
        )
    return out


OK_FLOW = "reason: r, expires: 2025-06-30"


def test_apply_matches_every_criterion_given(tmp_path: Path, cert: CertInfo) -> None:
    ws = _load(
        tmp_path,
        f"""\
- {{id: WEAK_KEY, hosts: web, subject: "*app.example.test*", {OK_FLOW}, owner: a}}
- {{id: WEAK_KEY, path: "/etc/ssl/db01/*", cert_sha256: {cert.sha256}, {OK_FLOW}, owner: b}}
- {{id: SAN_MISSING, hosts: db01, reason: r, owner: c, expires: 2025-06-01}}
- {{id: SAN_MISSING, hosts: all, reason: r, owner: d, expires: 2025-06-02}}
- {{id: CERT_EXPIRED, hosts: web01, reason: r, owner: e, expires: 2025-06-30}}
""",
    )
    findings = [
        _finding("WEAK_KEY", "web01", "/etc/ssl/web01/app.pem", cert.sha256),
        _finding("WEAK_KEY", "db01", "/etc/ssl/db01/app.pem", cert.sha256),
        _finding("WEAK_KEY", "db01", "listener 443", None),
        _finding("SAN_MISSING", "db01", "/x"),
    ]
    applied = apply_waivers(findings, _results(cert), ws, TODAY)
    owners = [f.waiver.owner if f.waiver else None for f in applied.findings]
    # web01: hosts + subject (the certificate's CN); db01: path of the certificate on db01;
    # the listener finding has no certificate, so neither path nor sha can match;
    # SAN_MISSING: c ended yesterday (expired, skipped), d ends today (in force).
    assert owners == ["a", "b", None, "d"]
    assert [w.owner for w in applied.expired] == ["c"]
    assert [w.owner for w in applied.stale] == ["e"]
    assert [f.id for f in applied.findings] == [f.id for f in findings]


def test_waived_findings_do_not_fail_the_run(tmp_path: Path) -> None:
    ws = _load(
        tmp_path, "- {id: WEAK_KEY, hosts: web01, reason: r, owner: o, expires: 2025-06-30}\n"
    )
    findings = [_finding("WEAK_KEY", "web01", "/x")]
    assert findings_status(findings, Severity.HIGH) == EXIT_FINDINGS
    applied = apply_waivers(findings, [], ws, TODAY).findings
    assert findings_status(applied, Severity.HIGH) == EXIT_OK
    assert findings_status(applied + (findings[0],), Severity.HIGH) == EXIT_FINDINGS


def test_default_file_sits_beside_the_inventory(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    assert default_file(inventory) is None
    (tmp_path / "certaudit-waivers.yml").write_text("")
    assert default_file(inventory) == tmp_path / "certaudit-waivers.yml"
    assert default_file(tmp_path / "inventory-folder") == tmp_path / "certaudit-waivers.yml"


# -- a whole run (the SSH side is a fake; runner, analysis, history, reports are real) --


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunSettings]:
    now = datetime.now(UTC)
    expired = pki.issue("app.example.test", now=now, days_before=100, days_after=-2)
    cert = parse_bytes(expired.pem)[0].cert
    assert cert is not None

    async def audit_host(host: Host, *args: Any, **kwargs: Any) -> HostResult:
        loc = CertLocation(host.name, "/etc/ssl/app.pem")
        return HostResult(
            host,
            HostOutcome.OK,
            "",
            now,
            now,
            certificates=(FoundCert(cert, loc),),
            ca_bundles=("/etc/ssl/certs/ca-certificates.crt",),
        )

    monkeypatch.setattr(runner, "audit_host", audit_host)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[web]\nweb01 ansible_host=192.0.2.10\n[db]\ndb01 ansible_host=192.0.2.11\n"
    )
    known = tmp_path / "known_hosts"
    known.write_text("")
    yield RunSettings(
        inventory=inventory,
        out=tmp_path / "out",
        db=tmp_path / "h.db",
        known_hosts=known,
        ssh_config=(Path("/dev/null"),),
        fail_on=Severity.MEDIUM,
    )


def _write(path: Path, entries: str) -> Path:
    path.write_text(entries)
    return path


def test_a_run_marks_waived_findings_everywhere(fleet: RunSettings, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    soon = (today + timedelta(days=30)).isoformat()
    gone = (today - timedelta(days=1)).isoformat()
    waivers = _write(
        tmp_path / "w.yml",
        f"""\
- {{id: CERT_EXPIRED, hosts: web, reason: gone, owner: "=team", expires: {soon}, ticket: T-1}}
- {{id: CERT_EXPIRED, hosts: db01, reason: old, owner: dba, expires: {gone}}}
- {{id: WEAK_KEY, hosts: all, reason: nothing has it, owner: sec, expires: {soon}}}
""",
    )
    outcome = run_audit(replace(fleet, waivers=waivers))
    expired = [f for f in outcome.result.findings if f.id == "CERT_EXPIRED"]
    assert {f.host: f.waiver.owner if f.waiver else None for f in expired} == {
        "web01": "=team",
        "db01": None,  # its waiver ended yesterday: the finding counts again
    }
    assert outcome.status == EXIT_FINDINGS
    assert [w.owner for w in outcome.waivers_expired] == ["dba"]
    assert [w.owner for w in outcome.waivers_stale] == ["sec"]

    doc = json.loads((fleet.out / "findings.json").read_text())
    waived = [f for f in doc["findings"] if f["waiver"]]
    assert len(waived) == 1 and waived[0]["host"] == "web01"
    assert waived[0]["waiver"]["expires"] == soon and waived[0]["waiver"]["ticket"] == "T-1"
    assert waived[0]["waiver"]["source"] == f"{waivers}:1"
    assert [w["owner"] for w in doc["waivers"]["expired"]] == ["dba"]
    assert [w["owner"] for w in doc["waivers"]["stale"]] == ["sec"]
    assert doc["waivers"]["file"] == str(waivers)
    assert doc["summary"]["findings_waived"] == 1

    metrics = parse_metrics((fleet.out / "metrics.prom").read_text())
    active = {(s["id"], s["severity"]): v for s, v in metrics["certaudit_findings"]}
    assert active[("CERT_EXPIRED", expired[0].severity.value)] == 1
    assert [(s["id"], v) for s, v in metrics["certaudit_findings_waived"]] == [("CERT_EXPIRED", 1)]

    html = (fleet.out / "report.html").read_text()
    assert html.count('class="tag waived"') == 1 and "until " + soon in html
    assert "1 waiver expired" in html and "1 stale waiver" in html

    wb = load_workbook(io.BytesIO((fleet.out / "report.xlsx").read_bytes()), read_only=True)
    rows = list(wb["Findings"].iter_rows(values_only=True))
    head = list(rows[0])
    col = {name: head.index(name) for name in ("Host", "Waived", "Waiver owner", "Waiver expires")}
    marked = {
        r[col["Host"]]: (r[col["Waived"]], r[col["Waiver owner"]], r[col["Waiver expires"]])
        for r in rows[1:]
        if r[head.index("ID")] == "CERT_EXPIRED"
    }
    assert marked == {"web01": ("yes", "'=team", soon), "db01": ("no", None, None)}


def test_waiving_everything_above_fail_on_makes_the_run_pass(fleet: RunSettings) -> None:
    soon = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
    default = fleet.inventory.parent / "certaudit-waivers.yml"  # picked up without --waivers
    _write(default, f"- {{id: CERT_EXPIRED, hosts: all, reason: r, owner: o, expires: {soon}}}\n")
    outcome = run_audit(fleet)
    assert outcome.waivers_file == default
    assert outcome.result.findings and all(f.waiver for f in outcome.result.findings)
    assert outcome.status == EXIT_OK


def test_a_bad_waivers_file_fails_before_any_host(
    fleet: RunSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacted: list[str] = []

    async def audit_host(host: Host, *args: Any, **kwargs: Any) -> HostResult:
        contacted.append(host.name)
        raise AssertionError("no host may be contacted")

    monkeypatch.setattr(runner, "audit_host", audit_host)
    waivers = _write(tmp_path / "w.yml", "- id: CERT_EXPIRED\n  hosts: all\n")
    with pytest.raises(WaiversError, match="problems"):
        run_audit(replace(fleet, waivers=waivers))
    assert contacted == [] and not fleet.db.exists()  # type: ignore[union-attr]


def test_the_cli_prints_problems_and_notices(fleet: RunSettings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from audit.cli import app, register

    register("run")
    base = [
        "run",
        str(fleet.inventory),
        "--out",
        str(fleet.out),
        "--db",
        str(fleet.db),
        "--known-hosts",
        str(fleet.known_hosts),
        "--ssh-config",
        "/dev/null",
    ]
    bad = _write(tmp_path / "bad.yml", "- id: NOPE\n  hosts: all\n")
    result = CliRunner().invoke(app, [*base, "--waivers", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:1: 'NOPE' is not a finding ID" in result.output
    assert f"{bad}:1: expires is required" in result.output

    today = datetime.now(UTC).date()
    before = today - timedelta(days=3)
    good = _write(
        tmp_path / "good.yml",
        f"- {{id: WEAK_KEY, hosts: all, reason: r, owner: o, expires: {today}}}\n"
        f"- {{id: WEAK_KEY, hosts: all, reason: r, owner: p, expires: {before}}}\n",
    )
    result = CliRunner().invoke(app, [*base, "--waivers", str(good)])
    assert result.exit_code == 0, result.output  # CERT_EXPIRED is medium, fail-on high
    assert f"warning: {good}:1: waiver for WEAK_KEY (o) matched no finding" in result.output
    assert f"warning: {good}:2: waiver for WEAK_KEY (p) ended" in result.output
