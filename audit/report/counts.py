"""The summary numbers of a run, defined once for every output.

report.html's summary cards, report.xlsx's Summary sheet, findings.json's `summary` and
metrics.prom's run gauges all print these, so they always agree:

- hosts and hosts audited (an outcome that collected anything);
- distinct certificates deployed: by SHA-256, found at least once at a location whose
  kind is deployed (`LocationKind.deployed`: not only a trust-store root or an archived
  certbot generation);
- of those, expired (notAfter before the run's end) and expiring within 7 and 30 days
  (not expired, at most that many days left);
- findings no waiver covers, by severity, and the waived ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from audit.model import AuditResult, Severity
from audit.report import view

EXPIRING_WINDOWS = (7, 30)
"""The "expiring within N days" counts every output shows."""


@dataclass(frozen=True)
class Counts:
    hosts: int
    hosts_audited: int
    certificates: int
    """Distinct deployed certificates."""
    trust_only: int
    """Distinct certificates found only in trust stores or certbot archives."""
    expired: int
    expiring: dict[int, int]
    """Days -> deployed certificates not expired with at most that many days left."""
    findings: int
    by_severity: dict[Severity, int]
    """Findings no waiver covers, every severity present, worst first."""
    waived: int


def run_counts(result: AuditResult, uses: Sequence[view.CertUse] | None = None) -> Counts:
    """The summary numbers of a run (`uses`: view.certificate_uses of it, if at hand)."""
    if uses is None:
        uses = view.certificate_uses(result.hosts, result.finished_at)
    deployed = [u for u in uses if u.deployed]
    audited, total, _pct = view.coverage(result)
    by_severity = view.severity_counts(view.open_findings(result.findings))
    return Counts(
        hosts=total,
        hosts_audited=audited,
        certificates=len(deployed),
        trust_only=len(uses) - len(deployed),
        expired=sum(1 for u in deployed if u.days_left < 0),
        expiring={
            days: sum(1 for u in deployed if 0 <= u.days_left <= days) for days in EXPIRING_WINDOWS
        },
        findings=len(result.findings),
        by_severity=by_severity,
        waived=len(result.findings) - sum(by_severity.values()),
    )
