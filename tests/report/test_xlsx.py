"""report.xlsx read back with openpyxl: structure, real dates, and nothing a spreadsheet runs."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook

from audit.report import view
from audit.report.xlsx import FORMULA_PREFIXES, cell_text, render_xlsx
from audit.report.xlsx_renewal import RENEWAL_NOTE
from tests.report import sample as sample_module

SHEETS = [
    "Summary",
    "Findings",
    "Certificates",
    "Locations",
    "Trust stores",
    "Listeners",
    "Hosts",
    "Key files",
    "Renewal",
]


@pytest.fixture(scope="module")
def data(sample: sample_module.Sample) -> bytes:
    return render_xlsx(sample.result)


@pytest.fixture(scope="module")
def wb(data: bytes) -> Workbook:
    return load_workbook(io.BytesIO(data))


def headers(ws) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.value for c in ws[1]]


def column(ws, name: str) -> list:  # type: ignore[no-untyped-def]
    i = headers(ws).index(name) + 1
    return [ws.cell(row=r, column=i).value for r in range(2, ws.max_row + 1)]


def test_sheets_frozen_headers_and_filters(wb: Workbook) -> None:
    assert wb.sheetnames == SHEETS
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
        assert all(isinstance(h, str) and h for h in headers(ws)), ws.title
        assert ws.column_dimensions["A"].width and ws.column_dimensions["A"].width >= 7


def test_no_formula_anywhere(data: bytes, wb: Workbook) -> None:
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    assert not cell.value.lstrip(" ").startswith(FORMULA_PREFIXES), (
                        f"{ws.title}!{cell.coordinate} starts like a formula: {cell.value!r}"
                    )
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<f[ >]", z.read(name)), f"{name} contains a formula element"


def test_every_data_cell_is_text_number_or_date(wb: Workbook) -> None:
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if cell.value is None:
                    continue
                assert cell.data_type in ("s", "n", "d"), (
                    ws.title,
                    cell.coordinate,
                    cell.data_type,
                )
                assert isinstance(cell.value, str | int | float | datetime)


def test_hostile_texts_are_neutralised_but_visible(wb: Workbook) -> None:
    values = [
        c.value
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str)
    ]
    joined = "\n".join(values)
    for raw in ("\x1b", "\u202e", "\u2028", "\t", "\r"):
        assert raw not in joined, repr(raw)
    assert "'" + sample_module.HYPERLINK in values  # the CN, as text, visibly prefixed
    assert "'" + sample_module.CMD in values  # a path reported by a host
    assert any(v.startswith("'" + sample_module.AT_SUM) for v in values)
    assert any(v.startswith("'" + sample_module.MINUS) for v in values)
    assert "\\x09=1+1.pem" in values and "\\x0d@cmd.pem" in values  # tab / CR prefixes shown
    assert any("\\x1b[31m" in v for v in values)  # the escape sequence, spelled out
    assert any(sample_module.SCRIPT in v for v in values)  # markup is plain text here


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "\\x09=1"),
        ("\r=1", "\\x0d=1"),
        ("  =1", "'  =1"),
        ("\uff1d1", "'\uff1d1"),
        ("a\x1bb\u202ec\x00", "a\\x1bb\\u202ec\\x00"),
        ("line1\nline2", "line1\nline2"),
        ("\n=1", "'\n=1"),
        ("plain", "plain"),
    ],
)
def test_cell_text(raw: str, shown: str) -> None:
    assert cell_text(raw) == shown


def test_certificates_sheet(wb: Workbook, sample: sample_module.Sample) -> None:
    ws = wb["Certificates"]
    uses = view.certificate_uses(sample.result.hosts, sample.result.finished_at)
    assert ws.max_row - 1 == len(uses)
    for name in ("Not before (UTC)", "Not after (UTC)"):
        i = headers(ws).index(name) + 1
        for r in range(2, ws.max_row + 1):
            cell = ws.cell(row=r, column=i)
            assert isinstance(cell.value, datetime) and cell.value.tzinfo is None
            assert cell.is_date and "yy" in cell.number_format
    by_cn = dict(
        zip(
            column(ws, "Common name"),
            zip(
                column(ws, "Not after (UTC)"),
                column(ws, "Locations"),
                column(ws, "Days left"),
                column(ws, "Serial (hex)"),
                column(ws, "Key type"),
                column(ws, "Key bits"),
                strict=True,
            ),
            strict=True,
        )
    )
    not_after, locations, days, serial, key_type, bits = by_cn["*.example.com"]
    assert not_after == datetime(2025, 6, 7, 12, 0, 0)
    assert (locations, days, serial, key_type, bits) == (5, 5.0, "2001", "EC", 256)
    assert by_cn["</script><script>alert(2)</script>"][4:] == ("RSA", 2048)
    assert "ecdsa-with-SHA1" in column(ws, "Signature algorithm")


def test_findings_hosts_and_locations(wb: Workbook, sample: sample_module.Sample) -> None:
    findings = wb["Findings"]
    assert column(findings, "Rank") == list(range(1, len(sample.result.findings) + 1))
    assert column(findings, "ID")[0] == "HOST_KEY_MISMATCH"
    assert column(findings, "Severity")[0] == "critical"
    assert findings["C2"].fill.fgColor.rgb.endswith("991B1B")  # critical is coloured
    hosts = wb["Hosts"]
    outcomes = dict(zip(column(hosts, "Host"), column(hosts, "Outcome"), strict=True))
    assert outcomes == {
        "web01": "ok",
        "web02": "ok",
        "lb01": "ok",
        "api01": "partial",
        "db01": "ok",
        "dr01": "unreachable",
        "bastion": "key_mismatch",
        "mail01": "failed",
    }
    locations = wb["Locations"]
    wildcard = [
        h
        for h, cn in zip(column(locations, "Host"), column(locations, "Common name"), strict=True)
        if cn == "*.example.com"
    ]
    assert sorted(wildcard) == ["lb01", "lb01", "web01", "web01", "web02"]
    keys = wb["Key files"]
    assert "0644" in column(keys, "Mode") and "yes" in column(keys, "Readable by group or others")
    listeners = wb["Listeners"]
    assert set(column(listeners, "Result")) == {"tls", "plaintext", "client_cert_required"}


def test_summary_and_renewal(wb: Workbook) -> None:
    summary = {r[0].value: r[1].value for r in wb["Summary"].iter_rows(min_row=2)}
    assert summary["Hosts in inventory"] == 8 and summary["Hosts not audited"] == 3
    assert isinstance(summary["Finished (UTC)"], datetime)
    assert summary["Findings: critical"] == 4
    renewal = wb["Renewal"]
    assert renewal.max_row == 3 and renewal.cell(row=2, column=1).value is None
    assert renewal.cell(row=3, column=1).value == RENEWAL_NOTE


def test_deterministic(sample: sample_module.Sample, data: bytes) -> None:
    assert render_xlsx(sample.result) == data


def test_trust_store_roots_are_summarised_not_repeated_per_host(
    sample: sample_module.Sample,
) -> None:
    import io
    from dataclasses import replace

    from openpyxl import load_workbook

    from audit.model import CertLocation, FoundCert, LocationKind
    from audit.report.xlsx import render_xlsx

    result = sample.result
    root = result.hosts[0].certificates[-1].cert
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    hosts = tuple(
        replace(
            r,
            certificates=r.certificates
            + (FoundCert(root, CertLocation(r.host.name, bundle, LocationKind.CA_BUNDLE)),),
        )
        if r.outcome.audited
        else r
        for r in result.hosts
    )
    audited = sum(1 for r in hosts if r.outcome.audited)
    wb = load_workbook(io.BytesIO(render_xlsx(replace(result, hosts=hosts))))
    kinds = set(column(wb["Locations"], "Kind"))
    assert kinds and not kinds & {"ca_bundle", "archive"}
    stores = wb["Trust stores"]
    rows = list(
        zip(column(stores, "Path"), column(stores, "SHA-256"), column(stores, "Hosts"), strict=True)
    )
    assert rows == [(bundle, root.sha256, audited)]
