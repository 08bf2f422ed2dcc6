"""Any text a host can send goes through every renderer without crashing and stays inert."""

from __future__ import annotations

import io
import json
from dataclasses import replace

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from audit.model import CertLocation, CollectionIssue, FoundCert, IssueReason, KeyFile
from audit.report import renderers
from audit.report.xlsx import FORMULA_PREFIXES
from tests.report import sample as sample_module

# Everything a remote file name or command output can hold after a surrogateescape decode:
# control characters, separators, bidi overrides, lone surrogates, markup, formula prefixes.
hostile_text = st.lists(
    st.one_of(
        st.characters(codec=None, exclude_categories=()),
        st.sampled_from(
            [
                "<",
                ">",
                "&",
                '"',
                "'",
                "=",
                "+",
                "-",
                "@",
                "\t",
                "\r",
                "\n",
                "\x1b",
                "\u2028",
                "\u202e",
                "\udc80",
                "\ufffe",
                "</script>",
                "{{",
                "{%",
            ]
        ),
    ),
    max_size=20,
).map("".join)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile_text)
@example(text="\udc80\udcff")  # undecodable bytes kept by surrogateescape
@example(text="\x1b[31m\u202e\u2028</script><img src=x onerror=alert(1)>")
@example(text='=HYPERLINK("http://x")')
@example(text="\t=1+1")
@example(text="{{ 7*7 }}{% raw %}")
def test_every_renderer_survives_and_stays_inert(text: str) -> None:
    base = sample_module.build()
    result = base.result
    web01 = result.hosts[0]
    cert = web01.certificates[0].cert
    hosts = (
        replace(
            web01,
            detail=text,
            certificates=web01.certificates
            + (FoundCert(cert, CertLocation(host="web01", path=text or "x")),),
            key_files=(KeyFile("web01", text, text, text, 0o644),),
            issues=(CollectionIssue("web01", text, IssueReason.READ_ERROR, text),),
        ),
        *result.hosts[1:],
    )
    findings = (
        replace(result.findings[0], subject=text, detail=text, fix=text),
        *result.findings[1:],
    )
    fuzzed = replace(result, hosts=hosts, findings=findings, inventory=text)

    outputs = {name: render(fuzzed) for name, render in renderers(base.previous).items()}

    page = outputs["report.html"].decode("utf-8")
    assert page.count("<script") == 1 and "<img" not in page
    if "{{ 7*7 }}" in text:
        assert "{{ 7*7 }}" in page  # data is never evaluated as a template
    for raw in ("\x1b", "\u202e", "\u2028"):
        assert raw not in page
    doc = json.loads(outputs["findings.json"])
    assert doc["inventory"] == text  # exact round trip, surrogates included
    metrics = outputs["metrics.prom"].decode("utf-8")
    assert "\x1b" not in metrics and "\r" not in metrics
    wb = load_workbook(io.BytesIO(outputs["report.xlsx"]))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str):
                    assert not cell.value.lstrip(" ").startswith(FORMULA_PREFIXES)
