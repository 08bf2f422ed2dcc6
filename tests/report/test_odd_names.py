"""One odd certificate costs at most its own detail, never a report.

Names in legal but unusual encodings (a Latin-1 T61String, a BMPString, a UniversalString)
that cryptography refuses to decode are read by the lenient decoder (audit.dn) in one
place; every renderer takes them; a renderer that fails anyway costs only its own file.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from typer.testing import CliRunner

from audit.certparse import parse_bytes
from audit.cli import app
from audit.model import AuditResult, CertInfo, CertLocation, FoundCert
from audit.report import renderers, write_reports
from audit.report.prometheus import render_metrics
from tests import pki
from tests.report import sample as sample_module
from tests.report.test_prometheus import parse as parse_metrics


def _with_cert(result: AuditResult, cert: CertInfo) -> AuditResult:
    web01 = result.hosts[0]
    found = FoundCert(cert, CertLocation(host=web01.host.name, path="/etc/ssl/legacy.pem"))
    return replace(
        result, hosts=(replace(web01, certificates=(*web01.certificates, found)), *result.hosts[1:])
    )


def test_a_latin1_t61string_name_is_read_and_every_report_is_written(tmp_path: Path) -> None:
    ca = pki.legacy_name_ca(pki.utcnow())
    (item,) = parse_bytes(ca.pem)
    assert item.cert is not None
    cert = item.cert
    assert cert.common_name == pki.T61_COMMON_NAME
    assert cert.subject == f"CN={pki.T61_COMMON_NAME},O=Prüfstelle,C=DE"
    assert cert.issuer == cert.subject and cert.self_signed

    result = _with_cert(sample_module.build().result, cert)
    written = write_reports(result, tmp_path)
    assert not written.failed
    assert {p.name for p in written.paths} == set(renderers())
    metrics = parse_metrics((tmp_path / "metrics.prom").read_text(encoding="utf-8"))
    labels = [lab for lab, _ in metrics["x509_cert_not_after"] if lab["subject_CN"].startswith("M")]
    assert labels and labels[0]["subject_O"] == "Prüfstelle" and labels[0]["issuer_C"] == "DE"


def test_inspect_names_the_legacy_ca_and_calls_it_self_signed(tmp_path: Path) -> None:
    ca = pki.legacy_name_ca(pki.utcnow())
    path = tmp_path / "legacy.pem"
    path.write_bytes(ca.pem)
    out = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    doc = json.loads(out.stdout)
    (cert,) = doc["certificates"]
    assert cert["common_name"] == pki.T61_COMMON_NAME and cert["self_signed"] is True
    assert not [f for f in doc["findings"] if f["id"] == "CHAIN_INCOMPLETE"]


def test_a_failing_renderer_costs_only_its_own_output(tmp_path: Path) -> None:
    result = sample_module.build().result
    (tmp_path / "report.xlsx").write_bytes(b"last night's workbook")

    def broken(_: AuditResult) -> bytes:
        raise ValueError("a renderer bug")

    outputs = {**renderers(), "report.xlsx": broken}
    written = write_reports(result, tmp_path, outputs=outputs)
    assert written.failed == (("report.xlsx", "ValueError: a renderer bug"),)
    assert {p.name for p in written.paths} == {"findings.json", "report.html", "metrics.prom"}
    assert not (tmp_path / "report.xlsx").exists(), "last run's copy would pass for this one's"
    json.loads((tmp_path / "findings.json").read_text(encoding="utf-8"))


# Raw name values of every string type a certificate may use, including bytes that are
# not valid in that type (a UTF8String with Latin-1, an odd-length BMPString).
_STRING_TYPES = (0x0C, 0x13, 0x14, 0x16, 0x1C, 0x1E)
name_values = st.tuples(st.sampled_from(_STRING_TYPES), st.binary(max_size=40))


def _cert_named(base: pki.Issued, values: list[tuple[int, bytes]]) -> bytes:
    """`base` with its subject replaced (signature left stale: parsing does not check it)."""
    name = pki._raw_name(
        *(("2.5.4.3" if i == 0 else "2.5.4.10", tag, v) for i, (tag, v) in enumerate(values))
    )
    tbs, alg, sig = pki._der_children(base.der)
    fields = pki._der_children(tbs)
    fields[5] = name
    return pki._der(0x30, pki._der(0x30, b"".join(fields)) + alg + sig)


_BASE = pki.issue("fuzz.example", now=pki.utcnow())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(name_values, min_size=1, max_size=3))
@example(values=[(0x0C, b"-----BEGIN")])  # a DER certificate is not PEM for naming a marker
@example(values=[(0x14, "Müller".encode("latin-1")), (0x1E, b"\x00")])
def test_any_name_encoding_parses_and_renders(values: list[tuple[int, bytes]]) -> None:
    items = parse_bytes(_cert_named(_BASE, values))
    assert len(items) == 1
    cert = items[0].cert
    if cert is None:  # refused as a whole: a stated reason, never an exception
        assert items[0].error
        return
    assert cert.subject  # never empty, never an exception
    result = _with_cert(sample_module.build().result, cert)
    outputs = {name: render(result) for name, render in renderers().items()}
    parse_metrics(render_metrics(result).decode("utf-8"))
    json.loads(outputs["findings.json"])
    load_workbook(io.BytesIO(outputs["report.xlsx"]))
