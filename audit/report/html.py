"""report.html: one self-contained page an operator can open offline or get by e-mail.

Summary, expiry timeline (inline SVG), findings ranked by risk (filter, search and sort in a
little vanilla JS; the whole table is in the HTML for readers without scripting), every
certificate with every place it lives (blast radius), and a view per host.

Inert by construction (nothing a host sent can run or restyle the page):
- the jinja2 Environment is created with `autoescape=True` (not `select_autoescape()`,
  which would not match `report.html.j2`);
- every value printed by a template first goes through `audit.text.inert()` (`finalize`), so
  control characters, line separators and bidi overrides show as escapes;
- data inside `<script>` only ever goes through `|tojson`;
- a Content-Security-Policy allows exactly the page's own script and style (by SHA-256),
  nothing else: no network, no images, no forms, no plugins.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

import audit
from audit.model import AuditResult, CertInfo, CertLocation, Finding, HostResult, Severity
from audit.report import view
from audit.report.counts import run_counts
from audit.report.json import iso
from audit.text import inert

TEMPLATE = "report.html.j2"


def template_dirs() -> list[Path]:
    """Where the templates live: the repository's report_templates/ (source checkout or
    editable install), else a copy shipped as package data in audit/report/templates/."""
    candidates = [
        Path(audit.__file__).resolve().parent.parent / "report_templates",
        Path(__file__).resolve().parent / "templates",
    ]
    return [d for d in candidates if (d / TEMPLATE).is_file()]


def _finalize(value: Any) -> Any:
    """Every `{{ value }}`: Markup passes through; text is made visible, then escaped."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return inert(value, keep_newlines=True)
    if value is None:
        return ""
    return value


def environment() -> Environment:
    """The one jinja2 environment of the HTML report."""
    dirs = template_dirs()
    if not dirs:
        raise FileNotFoundError(f"{TEMPLATE} not found (looked for report_templates/)")
    loader: BaseLoader = ChoiceLoader([FileSystemLoader(str(d)) for d in dirs])
    env = Environment(
        loader=loader,
        autoescape=True,  # explicit: select_autoescape() does not match .html.j2
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["days"] = fmt_days
    env.filters["when"] = fmt_when
    env.filters["mode"] = lambda m: f"{m & 0o7777:04o}"
    return env


def fmt_days(days: float | None) -> str:
    """Days left as people say it."""
    if days is None:
        return "—"
    if days < 0:
        n = math.ceil(-days)
        return f"expired {n} day{'s' if n != 1 else ''} ago"
    if days < 1:
        return "< 1 day"
    n = math.floor(days)
    return f"{n} day{'s' if n != 1 else ''}"


def fmt_when(dt: datetime | None) -> str:
    """A UTC timestamp to the minute."""
    if dt is None:
        return "—"
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _sha_b64(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def cert_anchor(sha256: str) -> str:
    return f"cert-{sha256[:16]}"


# -- the expiry timeline --------------------------------------------------------------

_TL_MIN, _TL_MAX = -30.0, 90.0
_TL_X0, _TL_W = 30.0, 560.0


def _tl_x(days: float) -> float:
    d = min(max(days, _TL_MIN), _TL_MAX)
    return round(_TL_X0 + (d - _TL_MIN) / (_TL_MAX - _TL_MIN) * _TL_W, 1)


def timeline(uses: Sequence[view.CertUse]) -> dict[str, Any]:
    """Geometry for the inline SVG: bucket bars and one marker per certificate."""
    counts = Counter(view.expiry_bucket(u.days_left) for u in uses)
    biggest = max([counts[k] for k, _, _ in view.EXPIRY_BUCKETS] + [1])
    bars = []
    for i, (key, label, _upper) in enumerate(view.EXPIRY_BUCKETS):
        n = counts[key]
        bars.append(
            {
                "key": key,
                "label": label,
                "count": n,
                "y": 14 + i * 26,
                "width": round(0 if n == 0 else max(4.0, 280.0 * n / biggest), 1),
            }
        )
    markers = []
    stacks: Counter[int] = Counter()
    overflow: Counter[int] = Counter()
    for u in uses:
        if u.days_left > _TL_MAX:
            continue
        x = _tl_x(u.days_left)
        column = int(x // 8)
        level = stacks[column]
        stacks[column] += 1
        if level >= 6:
            overflow[column] += 1
            continue
        markers.append(
            {
                "x": x,
                "y": 118 - level * 14,
                "bucket": view.expiry_bucket(u.days_left),
                "label": f"{u.name} — {fmt_days(u.days_left)} — {u.blast_radius} place(s)",
                "anchor": cert_anchor(u.cert.sha256),
            }
        )
    ticks = [
        {"x": _tl_x(d), "label": label}
        for d, label in (
            (-30, "−30 d"),
            (0, "0"),
            (7, "7"),
            (14, "14"),
            (30, "30"),
            (60, "60"),
            (90, "90 d"),
        )
    ]
    more = [{"x": column * 8 + 4, "count": n} for column, n in sorted(overflow.items())]
    within = {days: sum(1 for u in uses if 0 <= u.days_left <= days) for days in (7, 14, 30, 90)}
    return {
        "bars": bars,
        "markers": markers,
        "ticks": ticks,
        "more": more,
        "expired": counts["expired"],
        "within": within,
        "zero_x": _tl_x(0),
        "x0": _TL_X0,
        "x1": _TL_X0 + _TL_W,
        "bands": [
            {"key": "expired", "x": _tl_x(_TL_MIN), "w": _tl_x(0) - _tl_x(_TL_MIN)},
            {"key": "d7", "x": _tl_x(0), "w": _tl_x(7) - _tl_x(0)},
            {"key": "d14", "x": _tl_x(7), "w": _tl_x(14) - _tl_x(7)},
            {"key": "d30", "x": _tl_x(14), "w": _tl_x(30) - _tl_x(14)},
            {"key": "d90", "x": _tl_x(30), "w": _tl_x(90) - _tl_x(30)},
        ],
    }


# -- the page -------------------------------------------------------------------------


def _host_view(
    r: HostResult, own: Sequence[Finding], now: datetime, anchors: dict[str, str]
) -> dict[str, Any]:
    worst = max((f.severity for f in own), key=lambda s: s.rank, default=None)
    certs: list[tuple[CertInfo, CertLocation, float]] = []
    not_deployed = 0  # trust-store roots and archived generations: counted, listed once
    for c, loc in view.host_locations(r):
        if loc.kind.deployed:
            certs.append((c, loc, view.days_left(c, now)))
        else:
            not_deployed += 1
    probes = [(li, p) for li in r.listeners for p in li.probes]
    bare = [li for li in r.listeners if not li.probes]
    return {
        "r": r,
        "anchor": anchors[r.host.name],
        "findings": own,
        "worst": worst,
        "certs": certs,
        "not_deployed": not_deployed,
        "probes": probes,
        "bare_listeners": bare,
        "counts": view.severity_counts(own),
    }


def context(result: AuditResult, previous: AuditResult | None = None) -> dict[str, Any]:
    """Everything the template shows, computed from the model."""
    now = result.finished_at
    uses = view.certificate_uses(result.hosts, now)
    by_sha = {u.cert.sha256: u for u in uses}
    deployed = [u for u in uses if u.deployed]  # expiry views leave out trust-store roots
    audited, total, pct = view.coverage(result)
    comparison = view.compare(result, previous)
    anchors = {r.host.name: f"host-{i}" for i, r in enumerate(result.hosts, 1)}
    rows = []
    for rank, f in enumerate(result.findings, 1):
        use = by_sha.get(f.cert_sha256 or "")
        rows.append(
            {
                "rank": rank,
                "f": f,
                "new": comparison is not None and rank - 1 in comparison.new,
                "host_anchor": anchors.get(f.host),
                "cert": use,
                "cert_anchor": cert_anchor(use.cert.sha256) if use else None,
            }
        )
    cert_findings: dict[str, list[tuple[int, Finding]]] = {}
    for rank, f in enumerate(result.findings, 1):
        if f.cert_sha256:
            cert_findings.setdefault(f.cert_sha256, []).append((rank, f))
    by_host: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_host.setdefault(f.host, []).append(f)
    hosts = [_host_view(r, by_host.get(r.host.name, []), now, anchors) for r in result.hosts]
    outcome_counts = Counter(r.outcome.value for r in result.hosts)
    counts = run_counts(result, uses)
    return {
        "result": result,
        "previous": previous,
        "now": now,
        "generated": fmt_when(now),
        "duration": (result.finished_at - result.started_at).total_seconds(),
        "audited": audited,
        "total": total,
        "coverage": pct,
        "not_audited": [h for h in hosts if not h["r"].outcome.audited],
        "outcome_counts": sorted(outcome_counts.items()),
        "severities": list(Severity),
        "counts": counts,
        "by_severity": counts.by_severity,
        "waived": counts.waived,
        "rows": rows,
        "ids": sorted({f.id for f in result.findings}),
        "host_names": sorted({f.host for f in result.findings}),
        "comparison": comparison,
        "uses": uses,
        "anchors": anchors,
        "cert_anchor": cert_anchor,
        "cert_findings": cert_findings,
        "deployed": deployed,
        "trust_only": [u for u in uses if not u.deployed],
        "soon": [u for u in deployed if u.days_left <= 90],
        "timeline": timeline(deployed),
        "renewal": view.renewal_rows(result.hosts, now),
        "schedules": [s for r in result.hosts for s in r.renewal_schedules],
        "hosts": hosts,
        "run_json": {
            "run_id": result.run_id,
            "inventory": result.inventory,
            "finished_at": iso(result.finished_at),
            "previous_run_id": previous.run_id if previous else None,
            "severities": [s.value for s in Severity],
        },
    }


def render_html(result: AuditResult, previous: AuditResult | None = None) -> bytes:
    """The report as UTF-8 bytes. `previous` adds "new" / "resolved since last run"."""
    env = environment()
    ctx = context(result, previous)
    loader = env.loader
    assert loader is not None
    css = loader.get_source(env, "report.css")[0]
    js = env.get_template("report.js.j2").render(**ctx)
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src 'sha256-{_sha_b64(js)}'",
            f"style-src 'sha256-{_sha_b64(css)}'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    page = env.get_template(TEMPLATE).render(
        **ctx,
        csp=csp,
        css=Markup(css),
        js=Markup(js),  # noqa: S704 - our own files, hashed
    )
    return page.encode("utf-8")
