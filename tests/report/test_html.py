"""report.html: inert and self-contained in its source, and working in a real browser.

The browser tests open the sample report in headless Chromium over the DevTools protocol
(tests/report/cdp.py) and record every exception, console error, CSP violation and
JavaScript dialog: an `alert()` from hostile data would show up as a dialog.
Set CERTAUDIT_SCREENSHOTS=DIR to keep the screenshots.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from audit.report import html as html_report
from audit.report import view
from audit.text import inert
from tests.report import sample as sample_module


@pytest.fixture(scope="module")
def page(sample: sample_module.Sample) -> str:
    return html_report.render_html(sample.result, sample.previous).decode("utf-8")


@pytest.fixture(scope="module")
def report_url(page: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path.as_uri()


# -- the source ------------------------------------------------------------------------


def test_environment_autoescapes_every_template() -> None:
    env = html_report.environment()
    assert env.autoescape is True  # explicit, not select_autoescape() (no match for .j2)
    template = env.from_string("{{ x }}")
    assert template.render(x="<b>&\"'") == "&lt;b&gt;&amp;&#34;&#39;"


def test_hostile_texts_are_escaped(page: str) -> None:
    for raw in (
        sample_module.SCRIPT,
        sample_module.IMG,
        sample_module.CLOSE_SCRIPT,
        "<img",
        "onerror=alert(1)>",
        "\x1b",
        "\u202e",
        "\u2028",
    ):
        assert raw not in page, f"{raw!r} reached the page unescaped"
    assert page.count("<script") == 1 and page.count("</script>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "@SUM(1)\\u2028evil\\u202egnp.crt" in page  # shown, not obeyed
    assert "\\x1b[31mred.pem" in page


def test_self_contained(page: str) -> None:
    """No external asset of any kind; the only URLs are inside escaped host data."""
    without_data = page
    for hostile in sample_module.HOSTILE:
        without_data = without_data.replace(str(escape(inert(hostile))), "")
    without_data = without_data.replace("\\&#34;http://x\\&#34;", "")  # CN==HYPERLINK(\"...\")
    without_data = re.sub(r"var RUN = .*;", "", without_data)  # JSON data, checked below
    assert "http://" not in without_data and "https://" not in without_data
    for tag in (
        "<link",
        "<img",
        "<iframe",
        "<object",
        "<embed",
        "@import",
        "url(",
        "src=",
        'href="/',
        'href="http',
    ):
        assert tag not in without_data, f"{tag} in the page"


def test_content_security_policy_allows_exactly_our_script_and_style(page: str) -> None:
    csp_meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert csp_meta
    csp = csp_meta.group(1).replace("&#39;", "'")
    assert csp.startswith("default-src 'none'")
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert script and style

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src 'sha256-{digest(script.group(1))}'" in csp
    assert f"style-src 'sha256-{digest(style.group(1))}'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert " style=" not in page  # inline style attributes would be blocked


def test_data_in_script_only_through_tojson(page: str) -> None:
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script
    data = re.search(r"var RUN = (.*);", script.group(1))
    assert data, "the run data is one JSON literal"
    assert "<" not in data.group(1) and ">" not in data.group(1) and "&" not in data.group(1)
    run = json.loads(data.group(1))
    assert run["inventory"] == f"inventories/{sample_module.IMG}prod.ini"
    assert "{{" not in script.group(1)


def test_every_section_host_certificate_and_finding_is_in_the_html(
    page: str, sample: sample_module.Sample
) -> None:
    for section in ("summary", "expiry", "findings", "resolved", "certificates", "hosts"):
        assert f'id="{section}"' in page
    result = sample.result
    for i, _ in enumerate(result.hosts, 1):
        assert f'id="host-{i}"' in page
    for use in view.certificate_uses(result.hosts, result.finished_at):
        assert f'id="{html_report.cert_anchor(use.cert.sha256)}"' in page
    assert page.count('class="finding-row"') == len(result.findings)
    assert page.count('class="resolved-row"') == 1 and "CHAIN_ORDER" in page
    assert page.count('data-new="1"') == 2
    assert "<svg" in page and 'class="mk ' in page  # the expiry timeline


def test_deterministic(page: str, sample: sample_module.Sample) -> None:
    assert html_report.render_html(sample.result, sample.previous).decode("utf-8") == page


def test_without_previous_run_and_empty_run(sample: sample_module.Sample) -> None:
    from dataclasses import replace

    alone = html_report.render_html(sample.result).decode("utf-8")
    assert 'id="resolved"' not in alone and 'data-new="1"' not in alone
    empty = html_report.render_html(replace(sample.result, hosts=(), findings=())).decode()
    assert "No findings." in empty and "No certificates were collected." in empty


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (None, "—"),
        (-3.0, "expired 3 days ago"),
        (-0.2, "expired 1 day ago"),
        (0.4, "< 1 day"),
        (1.0, "1 day"),
        (5.9, "5 days"),
    ],
)
def test_fmt_days(days: float | None, text: str) -> None:
    assert html_report.fmt_days(days) == text


# -- in Chromium -----------------------------------------------------------------------

ROWS = "Array.from(document.querySelectorAll('tr.finding-row'))"
VISIBLE = f"{ROWS}.filter(r => !r.hidden)"


def _shot(browser: Any, tmp_path: Path, name: str, **kw: Any) -> Path:
    out = Path(os.environ.get("CERTAUDIT_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    browser.screenshot(path, **kw)
    assert path.stat().st_size > 10_000  # a real picture, not a blank page
    return path


def test_opens_clean_and_renders(
    chromium: Any, report_url: str, sample: sample_module.Sample, tmp_path: Path
) -> None:
    b = chromium
    b.open(report_url)
    assert b.trouble() == []
    assert b.eval("document.body.dataset.ready") == "yes", "the script did not run (CSP?)"
    assert b.eval("document.documentElement.dataset.run") == sample.result.run_id
    assert b.eval(f"{VISIBLE}.length") == len(sample.result.findings)
    assert b.eval("document.getElementById('controls').hidden") is False
    for section in ("summary", "expiry", "findings", "resolved", "certificates", "hosts"):
        assert b.eval(f"document.getElementById('{section}').getBoundingClientRect().height") > 50
    _shot(b, tmp_path, "report-desktop.png")
    _shot(b, tmp_path, "report-findings.png", selector="#findings")


def test_hostile_texts_stay_text_in_the_dom(chromium: Any, report_url: str) -> None:
    b = chromium
    b.open(report_url)
    dom = b.eval("""(() => ({
        scripts: document.scripts.length,
        imgs: document.images.length,
        onerror: document.querySelectorAll('[onerror]').length,
        handlers: Array.from(document.querySelectorAll('*')).filter(
            el => Array.from(el.attributes).some(a => a.name.startsWith('on'))).length,
        frames: document.querySelectorAll('iframe,object,embed,link,base,form').length,
        names: Array.from(document.querySelectorAll('#certificates h3 .name'))
            .map(e => e.textContent),
        header: document.querySelector('header .meta').textContent,
    }))()""")
    assert dom["scripts"] == 1 and dom["imgs"] == 0 and dom["onerror"] == 0
    assert dom["handlers"] == 0 and dom["frames"] == 0
    assert sample_module.SCRIPT in dom["names"] and sample_module.CLOSE_SCRIPT in dom["names"]
    assert sample_module.HYPERLINK in dom["names"]
    assert "@SUM(1)\\u2028evil\\u202egnp.crt" in dom["names"]
    assert f"inventories/{sample_module.IMG}prod.ini" in dom["header"]
    assert b.dialogs == [] and b.trouble() == []


def test_filter_from_url_query_and_hash(
    chromium: Any, report_url: str, sample: sample_module.Sample
) -> None:
    b = chromium
    findings = sample.result.findings
    b.open(report_url + "?sev=critical")
    rows = b.eval(f"{VISIBLE}.map(r => r.dataset.sev)")
    assert rows == ["critical"] * sum(1 for f in findings if f.severity.value == "critical")
    assert b.eval("document.getElementById('f-sev').value") == "critical"
    assert b.eval(f"{ROWS}.filter(r => r.hidden).length") == len(findings) - len(rows)

    b.open(report_url + "#f:host=api01&id=CERT_EXPIRING")
    assert (
        b.eval(f"{VISIBLE}.map(r => [r.dataset.host, r.dataset.id])")
        == [["api01", "CERT_EXPIRING"]] * 2
    )
    b.eval("location.hash = '#f:new=1'")
    b.eval("new Promise(r => setTimeout(r, 50))")
    assert b.eval(f"{VISIBLE}.map(r => r.dataset.id)") == ["TLS_NOT_SPOKEN", "CERT_EXPIRING"]

    b.open(report_url + "#f:q=" + "onerror%3Dalert")  # search matches text, never runs it
    assert b.eval(f"{VISIBLE}.map(r => r.dataset.id)") == ["CERT_SELF_SIGNED"]
    b.open(report_url + "#f:sev=nonsense")
    assert b.eval(f"{VISIBLE}.length") == 0
    assert b.eval("document.getElementById('f-empty').hidden") is False
    assert b.trouble() == []


def test_controls_filter_and_sort(chromium: Any, report_url: str, tmp_path: Path) -> None:
    b = chromium
    b.open(report_url)
    b.eval("""(() => { const s = document.getElementById('f-sev'); s.value = 'high';
                       s.dispatchEvent(new Event('change')); })()""")
    assert set(b.eval(f"{VISIBLE}.map(r => r.dataset.sev)")) == {"high"}
    assert b.eval("location.hash") == "#f:sev=high"
    b.eval("document.getElementById('f-reset').click()")
    b.eval("document.querySelector('th[data-key=days] button').click()")
    days = b.eval(f"{ROWS}.map(r => r.dataset.days)")
    numeric = [float(d) for d in days if d]
    assert days[0] == "-3.0" and numeric == sorted(numeric)
    assert days[len(numeric) :] == [""] * (len(days) - len(numeric))  # no date: last
    b.eval("document.querySelector('th[data-key=risk] button').click()")
    risks = b.eval(f"{ROWS}.map(r => parseFloat(r.dataset.risk))")
    assert risks == sorted(risks, reverse=True)
    b.eval("document.getElementById('f-expand').click()")
    assert b.eval("document.querySelectorAll('#findings-table details[open]').length") == len(risks)
    _shot(b, tmp_path, "report-expanded.png", selector="#finding-2")
    assert b.trouble() == []


def test_reads_with_scripting_off(
    chromium: Any, report_url: str, sample: sample_module.Sample, tmp_path: Path
) -> None:
    b = chromium
    b.call("Emulation.setScriptExecutionDisabled", value=True)
    try:
        b.open(report_url + "?sev=critical")
        assert b.eval("document.body.dataset.ready") is None  # our script did not run
        assert b.eval(f"{VISIBLE}.length") == len(sample.result.findings)  # all rows are there
        assert b.eval("document.getElementById('controls').hidden") is True
        assert b.eval("document.querySelector('noscript') !== null")
        _shot(b, tmp_path, "report-noscript.png")
    finally:
        b.call("Emulation.setScriptExecutionDisabled", value=False)


def test_the_harness_would_notice_an_injection(chromium: Any, tmp_path: Path) -> None:
    """The checks above mean something: a page that runs injected code is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        "<p>blocked: <script>document.title = 'ran'</script></p>"
        "<iframe srcdoc=\"<script>alert('x')</script>\"></iframe>",
        encoding="utf-8",
    )
    chromium.open(bad.as_uri())
    assert any("Content Security Policy" in t for t in chromium.trouble()), chromium.trouble()
    worse = tmp_path / "worse.html"
    worse.write_text("<!DOCTYPE html><script>alert('injected')</script><p>x</p>", encoding="utf-8")
    chromium.open(worse.as_uri())
    assert chromium.dialogs == ["injected"]
