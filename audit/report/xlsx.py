"""report.xlsx: the compliance workbook an auditor filters and signs off.

Sheets: Summary, Findings, Certificates, Locations (deployed), Trust stores, Listeners, Hosts,
Key files, Renewal.
Every sheet has a frozen header row, an autofilter and sized columns; severity and days
left are coloured.

Inert by construction (nothing a host sent can become a formula): every data cell is a
number, a real date, or a string written through `cell_text()`, which replaces control
characters visibly and puts an apostrophe in front of any text that a spreadsheet would take for a
formula (`=`, `+`, `-`, `@`, tab, CR). The apostrophe is part of the value, so the cell
stays text in Excel, LibreOffice, Google Sheets and any CSV exported from them; openpyxl
therefore never writes a formula cell (data type "f").
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from audit.model import AuditResult, Finding, HostResult, Severity
from audit.report import view
from audit.report.counts import run_counts
from audit.text import inert

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""What makes a spreadsheet (or a CSV exported from it) evaluate a text: OWASP's list plus
the full-width forms some spreadsheets normalise."""
MAX_CELL = 32_000
"""Excel's cell limit is 32,767 characters; longer texts are cut with a marker."""

DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
HEADER_FILL = PatternFill("solid", fgColor="243B53")
HEADER_FONT = Font(bold=True, color="FFFFFF")
SEVERITY_FILLS = {
    Severity.CRITICAL: (PatternFill("solid", fgColor="991B1B"), Font(bold=True, color="FFFFFF")),
    Severity.HIGH: (PatternFill("solid", fgColor="FFEDD5"), Font(bold=True, color="B45309")),
    Severity.MEDIUM: (PatternFill("solid", fgColor="FEF7C3"), Font(color="8A6D00")),
    Severity.LOW: (PatternFill("solid", fgColor="DBEAFE"), Font(color="1E40AF")),
    Severity.INFO: (PatternFill("solid", fgColor="EEF0F3"), Font(color="4B5563")),
}
DAYS_FILLS = {
    "expired": PatternFill("solid", fgColor="F8B4B4"),
    "d7": PatternFill("solid", fgColor="FDE2E2"),
    "d14": PatternFill("solid", fgColor="FFEDD5"),
    "d30": PatternFill("solid", fgColor="FEF7C3"),
}
OUTCOME_FILLS = {
    "ok": PatternFill("solid", fgColor="DCFCE7"),
    "partial": PatternFill("solid", fgColor="FEF7C3"),
}
NOT_AUDITED_FILL = PatternFill("solid", fgColor="FDE2E2")


def cell_text(value: object) -> str:
    """Any text made inert for a spreadsheet: visible control characters, no formula."""
    text = inert(value, keep_newlines=True)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL] + " …[truncated]"
    if text.lstrip(" ").startswith(FORMULA_PREFIXES):
        text = "'" + text
    return text


def excel_date(dt: datetime | None) -> datetime | None:
    """openpyxl wants naive datetimes; ours are UTC-aware. Headers say "(UTC)"."""
    if dt is None:
        return None
    return dt.astimezone(UTC).replace(tzinfo=None, microsecond=0)


Value = str | int | float | bool | datetime | None


def _value(v: Any) -> Value:
    if v is None or isinstance(v, bool | int | float):
        return v
    if isinstance(v, datetime):
        return excel_date(v)
    return cell_text(v)


Style = Callable[[list[WriteOnlyCell]], None]
"""Styles a row's cells before the row is written (a streamed row cannot change after)."""

SAMPLE_ROWS = 500
"""Column widths are sized from a sheet's first rows; the rest stream straight through."""


class _Sheet:
    """A worksheet streamed row by row (openpyxl write-only mode, so time and memory stay
    linear in the fleet), every value through `_value()`. The first SAMPLE_ROWS rows are
    held back to size the columns, which must be set before the first row is written."""

    def __init__(
        self,
        wb: Workbook,
        title: str,
        headers: Sequence[str],
        widths: Sequence[int] | None = None,
    ) -> None:
        self.ws = wb.create_sheet(title)
        self.headers = list(headers)
        self.fixed_widths = list(widths) if widths else None
        self.longest = [len(h) for h in headers]
        self.pending: list[list[WriteOnlyCell]] | None = []
        self.rows = 0

    def cell(self, value: Any) -> WriteOnlyCell:
        v = _value(value)
        cell = WriteOnlyCell(self.ws, value=v)
        if isinstance(v, datetime):
            cell.number_format = DATE_FORMAT
        elif isinstance(v, str) and "\n" in v:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        return cell

    def row(self, values: Sequence[Any], style: Style | None = None) -> None:
        cells = [self.cell(v) for v in values]
        if style is not None:
            style(cells)
        self.rows += 1
        if self.pending is None:
            self.ws.append(cells)
            return
        for i, cell in enumerate(cells):
            v = cell.value
            width = 19 if isinstance(v, datetime) else _text_width(v)
            self.longest[i] = max(self.longest[i], width)
        self.pending.append(cells)
        if len(self.pending) >= SAMPLE_ROWS:
            self._start()

    def _start(self) -> None:
        ws = self.ws
        for i, longest in enumerate(self.longest):
            width = self.fixed_widths[i] if self.fixed_widths else min(max(longest + 2, 8), 60)
            ws.column_dimensions[get_column_letter(i + 1)].width = width
        ws.freeze_panes = "A2"
        header = []
        for h in self.headers:
            cell = WriteOnlyCell(ws, value=cell_text(h))
            cell.fill = HEADER_FILL
            cell.font = HEADER_FONT
            cell.alignment = Alignment(vertical="center", wrap_text=True)
            header.append(cell)
        ws.append(header)
        for cells in self.pending or ():
            ws.append(cells)
        self.pending = None

    def finish(self) -> None:
        last = get_column_letter(len(self.headers))
        self.ws.auto_filter.ref = f"A1:{last}{max(self.rows + 1, 2)}"
        if self.pending is not None:
            self._start()


def _text_width(v: Value) -> int:
    return max((len(line) for line in str(v if v is not None else "").split("\n")), default=0)


def _severity_style(cell: WriteOnlyCell, severity: Severity) -> None:
    fill, font = SEVERITY_FILLS[severity]
    cell.fill = fill
    cell.font = font


def _days_style(cell: WriteOnlyCell, days: float | None) -> None:
    if days is None:
        return
    fill = DAYS_FILLS.get(view.expiry_bucket(days))
    if fill is not None:
        cell.fill = fill
    cell.number_format = "0.0"


def _days_at(column: int, days: float | None) -> Style:
    return lambda cells: _days_style(cells[column], days)


def _exposed(cells: list[WriteOnlyCell]) -> None:
    cells[6].fill = NOT_AUDITED_FILL


def _summary(wb: Workbook, result: AuditResult, uses: Sequence[view.CertUse]) -> None:
    sheet = _Sheet(wb, "Summary", ["Item", "Value"], [38, 48])
    audited, total, pct = view.coverage(result)
    counts = run_counts(result, uses)
    by_sev = counts.by_severity
    rows: list[tuple[str, Any]] = [
        ("Run", result.run_id),
        ("Inventory", result.inventory),
        ("Started (UTC)", result.started_at),
        ("Finished (UTC)", result.finished_at),
        ("Partial run", "yes" if result.partial else "no"),
        ("Hosts in inventory", total),
        ("Hosts audited", audited),
        ("Hosts not audited", total - audited),
        ("Coverage (%)", round(pct, 1)),
        ("Distinct certificates deployed", counts.certificates),
        ("Certificates only in trust stores or archives", counts.trust_only),
        ("Certificates expired", counts.expired),
        ("Certificates expiring within 7 days", counts.expiring[7]),
        ("Certificates expiring within 30 days", counts.expiring[30]),
        ("Findings", len(result.findings)),
    ]
    rows += [(f"Findings: {s.value}", by_sev[s]) for s in Severity]
    rows.append(("Findings waived", counts.waived))
    for label, value in rows:

        def style(cells: list[WriteOnlyCell], label: str = label, value: Any = value) -> None:
            cells[0].font = Font(bold=True)
            cells[1].alignment = Alignment(horizontal="left")
            if label.startswith("Findings: "):
                _severity_style(cells[0], Severity(label.split(": ", 1)[1]))
            if label == "Hosts not audited" and value:
                cells[1].fill = NOT_AUDITED_FILL

        sheet.row([label, value], style)
    sheet.finish()


def _findings(wb: Workbook, result: AuditResult) -> None:
    sheet = _Sheet(
        wb,
        "Findings",
        [
            "Rank",
            "Risk",
            "Severity",
            "ID",
            "Host",
            "Subject",
            "Title",
            "Detail",
            "Days left",
            "Diagnose",
            "Fix",
            "Why this rank",
            "Certificate SHA-256",
            "Waived",
            "Waiver owner",
            "Waiver expires",
        ],
        [7, 8, 11, 24, 16, 40, 40, 60, 10, 60, 60, 40, 24, 9, 18, 14],
    )
    for rank, f in enumerate(result.findings, 1):

        def style(cells: list[WriteOnlyCell], f: Finding = f) -> None:
            for c in cells:
                c.alignment = Alignment(wrap_text=True, vertical="top")
            _severity_style(cells[2], f.severity)
            _days_style(cells[8], f.days_left)

        sheet.row(
            [
                rank,
                f.risk,
                f.severity.value,
                f.id,
                f.host,
                f.subject,
                f.title,
                f.detail,
                f.days_left,
                f.diagnose,
                f.fix,
                f.why,
                f.cert_sha256,
                "yes" if f.waiver else "no",
                f.waiver.owner if f.waiver else None,
                f.waiver.expires.isoformat() if f.waiver else None,
            ],
            style,
        )
    sheet.finish()


def _certificates(wb: Workbook, uses: Sequence[view.CertUse]) -> None:
    sheet = _Sheet(
        wb,
        "Certificates",
        [
            "Common name",
            "Subject",
            "SANs",
            "Issuer",
            "Serial (hex)",
            "Key type",
            "Key bits",
            "Signature algorithm",
            "Not before (UTC)",
            "Not after (UTC)",
            "Days left",
            "Locations",
            "Hosts",
            "Served",
            "CA",
            "Self-signed",
            "SHA-256",
            "Parser warnings",
            "Kind",
            "Deployed",
        ],
    )
    for u in uses:
        c = u.cert
        sans = (
            ", ".join(c.dns_names + c.ip_addresses) if c.has_san_extension else "(no SAN extension)"
        )
        sheet.row(
            [
                c.common_name,
                c.subject,
                sans,
                c.issuer,
                c.serial,
                c.key_type,
                c.key_bits,
                c.signature_algorithm,
                c.not_before,
                c.not_after,
                u.days_left,
                u.blast_radius,
                len(u.hosts),
                "yes" if u.served else "no",
                "yes" if c.is_ca else "no",
                "yes" if c.self_signed else "no",
                c.sha256,
                "; ".join(c.warnings),
                ", ".join(sorted({loc.kind.value for loc in u.locations})),
                "yes" if u.deployed else "no",
            ],
            _days_at(10, u.days_left),
        )
    sheet.finish()


def _locations(wb: Workbook, uses: Sequence[view.CertUse]) -> None:
    """Every place a deployed certificate lives. Trust-store roots and archived certbot
    generations are summarised once per store path on the Trust stores sheet instead (a
    fleet repeats the same 150 roots on every host)."""
    sheet = _Sheet(
        wb,
        "Locations",
        [
            "Host",
            "Path or endpoint",
            "Kind",
            "Position",
            "Format",
            "SNI",
            "Common name",
            "Issuer",
            "Not after (UTC)",
            "Days left",
            "SHA-256",
        ],
    )
    for u in uses:
        days = _days_at(9, u.days_left)
        for loc in u.locations:
            if not loc.kind.deployed:
                continue
            sheet.row(
                [
                    loc.host,
                    loc.path,
                    loc.kind,
                    loc.index,
                    loc.format,
                    loc.servername,
                    u.name,
                    u.cert.issuer,
                    u.cert.not_after,
                    u.days_left,
                    u.cert.sha256,
                ],
                days,
            )
    sheet.finish()


def _trust_stores(wb: Workbook, uses: Sequence[view.CertUse]) -> None:
    """Trust-store roots and archived generations: one row per certificate and path, with
    the number of hosts that hold it there."""
    sheet = _Sheet(
        wb,
        "Trust stores",
        [
            "Path",
            "Kind",
            "Common name",
            "Issuer",
            "Not after (UTC)",
            "Days left",
            "Hosts",
            "SHA-256",
        ],
    )
    for u in uses:
        hosts: dict[tuple[str, str], set[str]] = defaultdict(set)
        for loc in u.locations:
            if not loc.kind.deployed:
                hosts[(loc.path, loc.kind)].add(loc.host)
        for (path, kind), names in sorted(hosts.items()):
            sheet.row(
                [
                    path,
                    kind,
                    u.name,
                    u.cert.issuer,
                    u.cert.not_after,
                    u.days_left,
                    len(names),
                    u.cert.sha256,
                ],
                _days_at(5, u.days_left),
            )
    sheet.finish()


def _listeners(wb: Workbook, result: AuditResult, now: datetime) -> None:
    sheet = _Sheet(
        wb,
        "Listeners",
        [
            "Host",
            "Address",
            "Port",
            "Process",
            "Expects TLS",
            "Probed via",
            "SNI",
            "Result",
            "Protocol",
            "Cipher",
            "ALPN",
            "Leaf common name",
            "Leaf not after (UTC)",
            "Leaf days left",
            "Chain length",
            "Error or answer",
            "Acceptable client CAs",
            "Config file",
            "Config line",
            "Certificate file",
        ],
    )
    for r in result.hosts:
        for li in r.listeners:
            probes = li.probes or (None,)
            for p in probes:
                leaf = p.chain[0] if p is not None and p.chain else None
                left = view.days_left(leaf, now) if leaf else None
                sheet.row(
                    [
                        li.host,
                        li.address,
                        li.port,
                        li.process,
                        "yes" if li.expects_tls else "no",
                        p.via if p else None,
                        p.servername if p else None,
                        p.status.value if p else "not probed",
                        p.protocol if p else None,
                        p.cipher if p else None,
                        p.alpn if p else None,
                        (leaf.common_name or leaf.subject) if leaf else None,
                        leaf.not_after if leaf else None,
                        left,
                        len(p.chain) if p else None,
                        p.error if p else None,
                        "; ".join(p.acceptable_ca_names) if p else None,
                        li.config_file,
                        li.config_line,
                        li.cert_file,
                    ],
                    _days_at(13, left),
                )
    sheet.finish()


def _hosts(wb: Workbook, result: AuditResult) -> None:
    sheet = _Sheet(
        wb,
        "Hosts",
        [
            "Host",
            "Address",
            "SSH port",
            "User",
            "Groups",
            "Outcome",
            "Audited",
            "Detail",
            "Started (UTC)",
            "Finished (UTC)",
            "Certificates",
            "Unparseable",
            "Key files",
            "Exposed key files",
            "Listeners",
            "Could not read",
            "CA bundles",
            "Findings",
            "Worst severity",
            "Inventory source",
        ],
    )
    by_host: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_host[f.host].append(f)
    for r in result.hosts:
        own = by_host.get(r.host.name, [])
        worst = max((f.severity for f in own), key=lambda s: s.rank, default=None)

        def style(
            cells: list[WriteOnlyCell], r: HostResult = r, worst: Severity | None = worst
        ) -> None:
            cells[5].fill = OUTCOME_FILLS.get(r.outcome.value, NOT_AUDITED_FILL)
            if worst is not None:
                _severity_style(cells[18], worst)

        sheet.row(
            [
                r.host.name,
                r.host.address,
                r.host.port or 22,
                r.host.user,
                ", ".join(r.host.groups),
                r.outcome.value,
                "yes" if r.outcome.audited else "no",
                r.detail,
                r.started_at,
                r.finished_at,
                sum(1 for _ in view.host_locations(r)),
                len(r.unparseable),
                len(r.key_files),
                sum(1 for k in r.key_files if k.exposed),
                len(r.listeners),
                len(r.issues),
                ", ".join(r.ca_bundles),
                len(own),
                worst.value if worst else None,
                r.host.source,
            ],
            style,
        )
    sheet.finish()


def _key_files(wb: Workbook, result: AuditResult) -> None:
    sheet = _Sheet(
        wb,
        "Key files",
        ["Host", "Path", "Owner", "Group", "Mode", "Kind", "Readable by group or others"],
    )
    for r in result.hosts:
        for k in r.key_files:
            sheet.row(
                [
                    k.host,
                    k.path,
                    k.owner,
                    k.group,
                    f"{k.mode & 0o7777:04o}",
                    k.kind,
                    "yes" if k.exposed else "no",
                ],
                _exposed if k.exposed else None,
            )
    sheet.finish()


def render_xlsx(result: AuditResult) -> bytes:
    """The workbook as bytes."""
    from audit.report.xlsx_renewal import renewal_sheet  # it builds on this module's sheets

    now = result.finished_at
    uses = view.certificate_uses(result.hosts, now)
    wb = Workbook(write_only=True)
    wb.properties.creator = "certaudit"
    wb.properties.title = cell_text(f"certaudit report {result.run_id}")
    created = excel_date(result.finished_at)
    wb.properties.created = created
    wb.properties.modified = created
    _summary(wb, result, uses)
    _findings(wb, result)
    _certificates(wb, uses)
    _locations(wb, uses)
    _trust_stores(wb, uses)
    _listeners(wb, result, now)
    _hosts(wb, result)
    _key_files(wb, result)
    renewal_sheet(wb, result)
    out = io.BytesIO()
    wb.save(out)
    return _fixed_zip_times(out.getvalue())


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
_CREATED = re.compile(rb"<dcterms:created[^>]*>([^<]*)</dcterms:created>")


def _fixed_zip_times(data: bytes) -> bytes:
    """Re-pack so the same run gives the same bytes: openpyxl stamps every zip member and
    the document's "modified" property with the wall clock at save time; use fixed member
    times and the run's own time instead."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                created = _CREATED.search(content)
                if created:
                    stamp = created.group(1)
                    content = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            dst.writestr(fixed, content)
    return out.getvalue()
