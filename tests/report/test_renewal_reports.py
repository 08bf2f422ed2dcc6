"""The Renewal sheet, the HTML section and findings.json's renewal lists, from the sample run
with renewal evidence added to its first host (texts from hosts and CAs hostile)."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import replace

import jsonschema
import pytest
from openpyxl import load_workbook

from audit.model import (
    AuditResult,
    CertbotLineage,
    CertRenewal,
    RenewalMechanism,
    RenewalSchedule,
    RenewalStatus,
)
from audit.report import json as json_report
from audit.report.html import render_html
from audit.report.xlsx import render_xlsx
from tests.report import sample as sample_module
from tests.report.test_json_schema import SCHEMA_PATH

M, S = RenewalMechanism, RenewalStatus
EVIL = '=HYPERLINK("http://evil") <script>alert(1)</script>\x1b[31m'


@pytest.fixture(scope="module")
def result(sample: sample_module.Sample) -> AuditResult:
    base = sample.result
    host = base.hosts[0]
    name = host.host.name
    served = next(
        (p.chain[0], f"{p.address}:{p.port}") for li in host.listeners for p in li.probes if p.chain
    )
    leaf = served[0]
    on_disk = next(f for f in host.certificates if f.cert.sha256 == leaf.sha256)
    other = next(f for f in host.certificates if f.cert.sha256 != leaf.sha256 and not f.cert.is_ca)
    when = base.finished_at - dt.timedelta(hours=5)
    renewals = (
        CertRenewal(
            name,
            leaf.sha256,
            on_disk.location.path,
            M.CERTBOT,
            S.FAILING,
            "www.example.test",
            "certbot.timer is enabled and active",
            when,
            "failed",
            EVIL,
            base.finished_at + dt.timedelta(hours=7),
            "certbot lineage www.example.test",
        ),
        CertRenewal(
            name,
            other.cert.sha256,
            other.location.path,
            M.NONE,
            S.NONE,
            detail="no certbot lineage, kubeadm or kubelet file, or other ACME client holds it",
        ),
    )
    host = replace(
        host,
        cert_renewals=renewals,
        renewal_schedules=(
            RenewalSchedule(
                name,
                "certbot",
                "systemd",
                "certbot.timer",
                "systemctl",
                "enabled",
                "active",
                when,
                base.finished_at,
                "exit-code",
                True,
                EVIL,
            ),
        ),
        certbot_lineages=(
            CertbotLineage(
                name,
                "www.example.test",
                "/etc/letsencrypt/renewal/www.example.test.conf",
                "/etc/letsencrypt",
                cert_sha256=leaf.sha256,
                last_attempt=when,
                last_outcome="failed",
                last_error=EVIL,
            ),
        ),
    )
    return replace(base, hosts=(host, *base.hosts[1:]))


def test_findings_json_carries_renewal_and_validates(result: AuditResult) -> None:
    doc = json.loads(json_report.dumps(json_report.run_document(result)))
    schema = json.loads(SCHEMA_PATH.read_text())
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
    assert errors == []
    statuses = [r["status"] for r in doc["renewal"]]
    assert statuses == ["none", "failing"]  # worst first
    failing = doc["renewal"][1]
    assert failing["mechanism"] == "certbot" and failing["served_on"]
    assert failing["last_attempt"].endswith("Z") and failing["next_trigger"]
    assert doc["renewal_schedules"][0]["effective"] is True


def test_renewal_sheet_rows_are_inert(result: AuditResult) -> None:
    wb = load_workbook(io.BytesIO(render_xlsx(result)))
    ws = wb["Renewal"]
    header = [c.value for c in ws[1]]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2) if any(c.value for c in r)]
    assert [r[header.index("Status")] for r in rows] == ["none", "failing"]
    for r in ws.iter_rows(min_row=2):
        for cell in r:
            assert cell.data_type != "f"
    failing = rows[1]
    assert failing[header.index("Mechanism")] == "certbot"
    assert failing[header.index("Last result")] == "failed"
    assert isinstance(failing[header.index("Next run (UTC)")], dt.datetime)
    assert "HYPERLINK" in failing[header.index("Detail")]


def test_html_renewal_section_escapes_host_text(result: AuditResult) -> None:
    page = render_html(result).decode()
    section = page[page.index('<section class="block" id="renewal">') :]
    section = section[: section.index("</section>")]
    assert "<script>alert" not in section and "&lt;script&gt;" in section
    assert section.count('<tr class="renewal-row') == 2
    assert 'href="#renewal">Renewal (2)' in page
