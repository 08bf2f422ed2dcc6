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
    CertRenewal,
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


@dataclass(frozen=True)
class RenewalRow:
    """One certificate of one host with what renews it, where it is served and which
    configuration lines name it: a row of the Renewal sheet and the HTML section."""

    renewal: CertRenewal
    cert: CertInfo | None
    days_left: float | None
    listeners: tuple[str, ...]
    """"address:port" of the host's listeners that serve it."""
    config_lines: tuple[str, ...]
    """"FILE line N" of the configuration directives that name its files."""

    @property
    def name(self) -> str:
        """The certificate's short name (CN, else first SAN, else its path)."""
        if self.cert is None:
            return self.renewal.path
        return self.cert.common_name or next(iter(self.cert.dns_names), "") or self.cert.subject


RENEWAL_ORDER = ("none", "unscheduled", "rotation_off", "failing", "manual", "automated")
"""Renewal statuses, worst first (the order reports list them)."""


def _served_by(r: HostResult, sha: str) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            f"{p.address}:{p.port}"
            for li in r.listeners
            for p in li.probes
            if p.chain and p.chain[0].sha256 == sha
        )
    )


def _named_in(r: HostResult, paths: set[str], prefix: str) -> tuple[str, ...]:
    out = []
    for t in r.tls_configs:
        f = t.cert_file or ""
        if f and (f in paths or (prefix and f.startswith(prefix))):
            where = t.cert_config_file or t.file
            line = t.cert_config_line if t.cert_config_file else t.line
            out.append(f"{where} line {line}")
    return tuple(dict.fromkeys(out))


def renewal_rows(hosts: Sequence[HostResult], now: datetime) -> list[RenewalRow]:
    """Every certificate's renewal, fleet-wide: the worst status first, then the soonest
    expiry."""
    rows = []
    for r in hosts:
        certs = {f.cert.sha256: f.cert for f in r.certificates}
        for renewal in r.cert_renewals:
            cert = certs.get(renewal.cert_sha256)
            paths = {
                f.location.path for f in r.certificates if f.cert.sha256 == renewal.cert_sha256
            }
            live = ""
            if renewal.mechanism.value == "certbot" and "/live/" in renewal.path:
                live = renewal.path.rsplit("/", 1)[0] + "/"
            rows.append(
                RenewalRow(
                    renewal=renewal,
                    cert=cert,
                    days_left=days_left(cert, now) if cert is not None else None,
                    listeners=_served_by(r, renewal.cert_sha256),
                    config_lines=_named_in(r, paths, live),
                )
            )
    order = {s: i for i, s in enumerate(RENEWAL_ORDER)}
    return sorted(
        rows,
        key=lambda x: (
            order.get(x.renewal.status.value, 0),
            x.days_left if x.days_left is not None else float("inf"),
            x.renewal.host,
            x.renewal.path,
        ),
    )
