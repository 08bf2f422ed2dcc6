"""The workbook's Renewal sheet: per certificate of each host, what renews it (certbot
lineage, kubeadm, kubelet rotation, another ACME client, nothing), how it is scheduled,
its last attempt and outcome and the next run, worst first. Every text goes through
`xlsx.cell_text` like the other sheets."""

from __future__ import annotations

from openpyxl import Workbook
from openpyxl.cell.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from audit.model import AuditResult
from audit.report import view
from audit.report.xlsx import _days_style, _Sheet, cell_text

RENEWAL_HEADERS = [
    "Host",
    "Certificate",
    "Path",
    "Mechanism",
    "Renewed by",
    "Status",
    "Timer or cron",
    "Last attempt (UTC)",
    "Last result",
    "Next run (UTC)",
    "Days left",
    "Served on",
    "Configured in",
    "CA expires (UTC)",
    "Detail",
]
RENEWAL_NOTE = (
    "No renewal data in this run: its hosts were not audited, or were audited by a version "
    "that did not collect what renews their certificates."
)
STATUS_FILLS = {
    "none": PatternFill("solid", fgColor="F8B4B4"),
    "unscheduled": PatternFill("solid", fgColor="F8B4B4"),
    "rotation_off": PatternFill("solid", fgColor="F8B4B4"),
    "failing": PatternFill("solid", fgColor="FFEDD5"),
    "manual": PatternFill("solid", fgColor="FEF7C3"),
    "automated": PatternFill("solid", fgColor="DCFCE7"),
}


def renewal_sheet(wb: Workbook, result: AuditResult) -> None:
    widths = [16, 28, 44, 11, 24, 13, 44, 20, 11, 20, 10, 22, 40, 20, 60]
    sheet = _Sheet(wb, "Renewal", RENEWAL_HEADERS, widths)
    rows = view.renewal_rows(result.hosts, result.finished_at)
    for row in rows:
        r = row.renewal

        def style(
            cells: list[WriteOnlyCell], status: str = r.status.value, d=row.days_left
        ) -> None:
            fill = STATUS_FILLS.get(status)
            if fill is not None:
                cells[5].fill = fill
            _days_style(cells[10], d)

        sheet.row(
            [
                r.host,
                row.name,
                r.path,
                r.mechanism.value,
                r.name,
                r.status.value.replace("_", " "),
                r.schedule,
                r.last_attempt,
                r.last_outcome.replace("_", " "),
                r.next_trigger,
                row.days_left,
                ", ".join(row.listeners),
                "\n".join(row.config_lines),
                r.ca_not_after,
                "; ".join(x for x in (r.detail, r.last_error) if x),
            ],
            style,
        )
    sheet.finish()
    if rows:
        return
    sheet.ws.auto_filter.ref = f"A1:{get_column_letter(len(RENEWAL_HEADERS))}1"
    sheet.ws.append([])
    note = WriteOnlyCell(sheet.ws, value=cell_text(RENEWAL_NOTE))
    note.font = Font(italic=True, color="616E7C")
    sheet.ws.append([note])
