"""What every human-facing renderer needs from a run, computed once from the model.

Reports read the model and nothing else. This module turns an AuditResult into the few
derived views the HTML, spreadsheet and metrics renderers share (certificates with every
place they live, expiry buckets, finding identity across runs). Text from a host or a
certificate is made inert by `audit.text.inert`, the one definition every output uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from audit.model import (
    AuditResult,
    CertInfo,
    CertLocation,
    Finding,
    HostResult,
    LocationKind,
    Severity,
)


def days_left(cert: CertInfo, now: datetime) -> float:
    """Days until notAfter (negative once expired), two decimals, like findings.json."""
    return round((cert.not_after - now).total_seconds() / 86400.0, 2)


EXPIRY_BUCKETS: tuple[tuple[str, str, float | None], ...] = (
    ("expired", "Expired", 0.0),
    ("d7", "≤ 7 days", 7.0),
    ("d14", "8–14 days", 14.0),
    ("d30", "15–30 days", 30.0),
    ("d90", "31–90 days", 90.0),
    ("later", "> 90 days", None),
)
"""(key, label, upper bound in days) — a certificate falls in the first bucket it fits."""


def expiry_bucket(days: float) -> str:
    """The bucket key for a number of days left."""
    if days < 0:
        return "expired"
    for key, _label, upper in EXPIRY_BUCKETS[1:]:
        if upper is None or days <= upper:
            return key
    return "later"


@dataclass(frozen=True)
class CertUse:
    """One distinct certificate (by SHA-256) with every place it was found in the fleet."""

    cert: CertInfo
    locations: tuple[CertLocation, ...]
    days_left: float

    @property
    def blast_radius(self) -> int:
        """How many places carry it (files, bundle positions, served chains)."""
        return len(self.locations)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Distinct hosts carrying it, sorted."""
        return tuple(sorted({loc.host for loc in self.locations}))

    @property
    def deployed(self) -> bool:
        """Whether it is deployed somewhere, not only a trust-store root or a certbot
        archive generation (those expire without anyone having to act)."""
        return any(loc.kind.deployed for loc in self.locations)

    @property
    def served(self) -> bool:
        """Whether a listener serves it."""
        return any(loc.kind is LocationKind.LISTENER for loc in self.locations)

    @property
    def name(self) -> str:
        """The best short name: CN, else first SAN, else the subject."""
        return self.cert.common_name or next(iter(self.cert.dns_names), "") or self.cert.subject


def host_locations(r: HostResult) -> Iterable[tuple[CertInfo, CertLocation]]:
    """Every certificate of one host with its location, served chains included.

    Mirrors `audit.report.json.certificates_doc`, so every report counts the same places.
    """
    for found in r.certificates:
        yield found.cert, found.location
    for listener in r.listeners:
        for probe in listener.probes:
            for i, cert in enumerate(probe.chain):
                yield (
                    cert,
                    CertLocation(
                        host=listener.host,
                        path=f"{probe.address}:{probe.port}",
                        kind=LocationKind.LISTENER,
                        index=i,
                        format="tls",
                        servername=probe.servername,
                    ),
                )


def certificate_uses(hosts: Sequence[HostResult], now: datetime) -> list[CertUse]:
    """Certificates deduplicated by SHA-256, soonest expiry first (as in findings.json)."""
    certs: dict[str, CertInfo] = {}
    places: dict[str, list[CertLocation]] = {}
    for r in hosts:
        for cert, loc in host_locations(r):
            certs.setdefault(cert.sha256, cert)
            places.setdefault(cert.sha256, []).append(loc)
    uses = [CertUse(certs[k], tuple(v), days_left(certs[k], now)) for k, v in places.items()]
    return sorted(uses, key=lambda u: (u.cert.not_after, u.cert.sha256))


@dataclass(frozen=True)
class Comparison:
    """This run's findings against the previous run's, as `audit.diff.diff_runs` sees them."""

    previous_run: str
    new: frozenset[int]
    """Positions (0-based, in this run's ranked order) of findings the previous run lacked."""
    resolved: tuple[Finding, ...]
    """Previous findings gone, on hosts audited in both runs."""
    unverified: tuple[Finding, ...]
    """Previous findings on hosts this run could not audit: not known to be resolved."""


def compare(current: AuditResult, previous: AuditResult | None) -> Comparison | None:
    """New and resolved findings; None when there is no previous run.

    Uses the history's own matching (same ID, host, subject and certificate location; a
    renewed certificate with the same problem is not "new"), so the report and
    `certaudit diff` always agree.
    """
    if previous is None:
        return None
    from audit.diff import diff_runs  # pure function; the database is not touched

    diff = diff_runs(previous, current)
    fresh = {id(f) for f in diff.new}
    new = frozenset(i for i, f in enumerate(current.findings) if id(f) in fresh)
    return Comparison(previous.run_id, new, diff.resolved, diff.unverified)


def open_findings(findings: Iterable[Finding]) -> list[Finding]:
    """The findings no waiver covers: what the exit status and the alerts count."""
    return [f for f in findings if f.waiver is None]


def severity_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    """Count per severity, every severity present (0 when none), worst first."""
    counts = Counter(f.severity for f in findings)
    return {s: counts.get(s, 0) for s in Severity}


def coverage(result: AuditResult) -> tuple[int, int, float]:
    """(audited, total, percent audited)."""
    total = len(result.hosts)
    audited = sum(1 for r in result.hosts if r.outcome.audited)
    return audited, total, (100.0 * audited / total if total else 100.0)
