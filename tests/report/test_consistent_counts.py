"""The summary numbers agree across all four outputs: hosts audited and in total, distinct
deployed certificates, expired, expiring within 30 (and 7) days, and findings by severity.
Each output is parsed as a reader would (JSON, the HTML's text, the workbook with
openpyxl, metrics with the strict exposition reader), and compared with the numbers
counted here from the model. The sample gets an expired trust-store root (not deployed:
counted nowhere) and a waived finding (counted as waived, not by severity)."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook

from audit.certparse import parse_bytes
from audit.model import AuditResult, CertLocation, FoundCert, LocationKind, Severity, Waiver
from audit.report import json as json_report
from audit.report.html import render_html
from audit.report.prometheus import render_metrics
from audit.report.view import host_locations
from audit.report.xlsx import render_xlsx
from tests import pki
from tests.report import sample as sample_module
from tests.report.test_prometheus import parse as parse_metrics


@dataclass(frozen=True)
class Numbers:
    hosts: int
    audited: int
    certificates: int
    expired: int
    expiring_30: int
    expiring_7: int
    by_severity: dict[str, int]
    waived: int


@pytest.fixture(scope="module")
def result(sample: sample_module.Sample) -> AuditResult:
    """The sample, with an expired root in a host's CA bundle and one finding waived."""
    old_root = parse_bytes(
        pki.issue(
            "Retired Root", now=sample_module.NOW, ca=True, days_before=4000, days_after=-3
        ).pem
    )[0].cert
    assert old_root is not None
    hosts = list(sample.result.hosts)
    i = next(i for i, r in enumerate(hosts) if r.outcome.audited)
    bundle = CertLocation(
        hosts[i].host.name, "/etc/ssl/certs/ca-certificates.crt", LocationKind.CA_BUNDLE, 7
    )
    hosts[i] = replace(hosts[i], certificates=(*hosts[i].certificates, FoundCert(old_root, bundle)))
    findings = list(sample.result.findings)
    waiver = Waiver("X", "accepted", "team", date(2025, 7, 1), "w.yml:1", hosts="all")
    j = next(j for j, f in enumerate(findings) if f.severity is Severity.HIGH)
    findings[j] = replace(findings[j], waiver=replace(waiver, id=findings[j].id))
    return replace(sample.result, hosts=tuple(hosts), findings=tuple(findings))


@pytest.fixture(scope="module")
def expected(result: AuditResult) -> Numbers:
    """The numbers, counted here from the model."""
    now = result.finished_at
    deployed = {
        cert.sha256: cert
        for r in result.hosts
        for cert, loc in host_locations(r)
        if loc.kind not in (LocationKind.CA_BUNDLE, LocationKind.ARCHIVE)
    }
    days = [(c.not_after - now).total_seconds() / 86400 for c in deployed.values()]
    open_ = Counter(f.severity.value for f in result.findings if f.waiver is None)
    return Numbers(
        hosts=len(result.hosts),
        audited=sum(1 for r in result.hosts if r.outcome.audited),
        certificates=len(deployed),
        expired=sum(1 for d in days if d < 0),
        expiring_30=sum(1 for d in days if 0 <= d <= 30),
        expiring_7=sum(1 for d in days if 0 <= d <= 7),
        by_severity={s.value: open_.get(s.value, 0) for s in Severity},
        waived=sum(1 for f in result.findings if f.waiver is not None),
    )


def test_the_sample_exercises_every_number(expected: Numbers) -> None:
    assert expected.hosts > expected.audited > 0
    assert expected.certificates and expected.expired and expected.expiring_30
    assert expected.expiring_30 > expected.expiring_7 > 0 and expected.waived == 1
    assert all(expected.by_severity.values())


def test_findings_json(result: AuditResult, expected: Numbers) -> None:
    summary = json.loads(json_report.dumps(json_report.run_document(result)))["summary"]
    by_severity = {s.value: summary["findings_by_severity"].get(s.value, 0) for s in Severity}
    assert (
        Numbers(
            hosts=summary["hosts"],
            audited=summary["hosts_audited"],
            certificates=summary["certificates_deployed"],
            expired=summary["certificates_expired"],
            expiring_30=summary["certificates_expiring_30d"],
            expiring_7=summary["certificates_expiring_7d"],
            by_severity=by_severity,
            waived=summary["findings_waived"],
        )
        == expected
    )


class _SectionText(HTMLParser):
    """The text of one element (by id) and of each element inside it that has an id."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root
        self.stack: list[str | None] = []
        self.texts: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("meta", "link", "br", "input", "img"):
            return
        ident = dict(attrs).get("id")
        inside = self.root in self.stack or ident == self.root
        self.stack.append(ident if inside else None)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("meta", "link", "br", "input", "img") and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        for ident in {i for i in self.stack if i}:
            self.texts.setdefault(ident, []).append(data)

    def text(self, ident: str) -> str:
        return re.sub(r"\s+", " ", " ".join(self.texts.get(ident, []))).strip()


def test_report_html(result: AuditResult, expected: Numbers) -> None:
    page = _SectionText("summary")
    page.feed(render_html(result).decode("utf-8"))
    summary = page.text("summary")
    hosts = re.search(r"(\d+) / (\d+) hosts audited", summary)
    assert hosts is not None, summary
    certificates = re.match(
        r"(\d+) distinct certificates deployed", page.text("count-certificates")
    )
    expired = re.match(r"(\d+) certificates expired", page.text("count-expired"))
    expiring = re.match(
        r"(\d+) expire within 30 days \((\d+) within 7\)", page.text("count-expiring")
    )
    waived = re.search(r"(\d+) findings \((\d+) waived\)", summary)
    assert certificates and expired and expiring and waived, summary
    by_severity = {s.value: int(re.findall(rf"\b{s.value}: (\d+)", summary)[0]) for s in Severity}
    assert (
        Numbers(
            hosts=int(hosts.group(2)),
            audited=int(hosts.group(1)),
            certificates=int(certificates.group(1)),
            expired=int(expired.group(1)),
            expiring_30=int(expiring.group(1)),
            expiring_7=int(expiring.group(2)),
            by_severity=by_severity,
            waived=int(waived.group(2)),
        )
        == expected
    )


def test_report_xlsx(result: AuditResult, expected: Numbers) -> None:
    wb = load_workbook(io.BytesIO(render_xlsx(result)), read_only=True)
    rows = dict(wb["Summary"].iter_rows(min_row=2, values_only=True))
    assert (
        Numbers(
            hosts=rows["Hosts in inventory"],
            audited=rows["Hosts audited"],
            certificates=rows["Distinct certificates deployed"],
            expired=rows["Certificates expired"],
            expiring_30=rows["Certificates expiring within 30 days"],
            expiring_7=rows["Certificates expiring within 7 days"],
            by_severity={s.value: rows[f"Findings: {s.value}"] for s in Severity},
            waived=rows["Findings waived"],
        )
        == expected
    )
    sheet = list(wb["Certificates"].iter_rows(values_only=True))
    head = list(sheet[0])
    deployed = [r for r in sheet[1:] if r[head.index("Deployed")] == "yes"]
    assert len(deployed) == expected.certificates
    kinds = {r[head.index("Kind")] for r in sheet[1:] if r[head.index("Deployed")] == "no"}
    assert kinds == {"ca_bundle"}


def test_metrics_prom(result: AuditResult, expected: Numbers) -> None:
    families = parse_metrics(render_metrics(result).decode("utf-8"))
    up = families["certaudit_host_up"]
    expiring = {s["within_days"]: v for s, v in families["certaudit_certificates_expiring"]}
    by_severity = dict.fromkeys((s.value for s in Severity), 0)
    for labels, value in families["certaudit_findings"]:
        by_severity[labels["severity"]] += int(value)
    assert (
        Numbers(
            hosts=len(up),
            audited=int(sum(v for _, v in up)),
            certificates=int(families["certaudit_certificates"][0][1]),
            expired=int(families["certaudit_certificates_expired"][0][1]),
            expiring_30=int(expiring["30"]),
            expiring_7=int(expiring["7"]),
            by_severity=by_severity,
            waived=int(sum(v for _, v in families["certaudit_findings_waived"])),
        )
        == expected
    )
    # the exporter's per-location series cover the same deployed certificates
    expired_places = {
        (s["host"], s["filepath"], s["serial_number"])
        for s, v in families["x509_cert_expired"]
        if v == 1
    }
    assert expired_places and all(
        p[1] != "/etc/ssl/certs/ca-certificates.crt" for p in expired_places
    )
