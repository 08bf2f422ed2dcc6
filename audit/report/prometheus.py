"""metrics.prom: a node_exporter textfile-collector file.

Certificate series reuse enix/x509-certificate-exporter's names and label schema, so its
dashboards and alerts work on this file: `x509_cert_not_after`, `x509_cert_not_before`,
`x509_cert_expired` with `serial_number` (decimal), `subject_{C,ST,L,O,OU,CN}`,
`issuer_{C,ST,L,O,OU,CN}`, `filename` and `filepath`, plus our own `host`, `kind`
("file", "listener", ...) and `servername` (the SNI name, for served certificates).
`x509_read_errors` counts, per audited host, files that could not be read or parsed;
`x509_cert_error{host,filepath,filename,reason}` is 1 for each of them (the exporter's
per-certificate error series, which its CertificateError alert reads); `x509_source_up`
says per host whether the source could be read at all, and `x509_source_errors_total`
counts a host's unreadable sources in the run.

certaudit's own series: `certaudit_findings{id,severity}` (findings no waiver covers: the
ones to alert on), `certaudit_findings_waived{id,severity}`, `certaudit_host_up{host}`
(1 audited, 0 not), `certaudit_run_timestamp_seconds`, `certaudit_run_duration_seconds`,
`certaudit_run_partial`, and the run's summary numbers as every report counts them
(audit.report.counts): `certaudit_certificates` (distinct deployed certificates),
`certaudit_certificates_expired`, `certaudit_certificates_expiring{within_days}`.

Output is deterministic: families in a fixed order, series sorted by their labels, one
series per label set. Label values are escaped per the text exposition format (backslash,
double quote, newline), after control characters have been made visible.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from audit.dn import certificate_names
from audit.model import AuditResult, CertInfo, CertLocation, LocationKind
from audit.report import view
from audit.report.counts import Counts, run_counts
from audit.text import inert

_NAME_FIELDS = ("C", "ST", "L", "O", "OU", "CN")

Labels = tuple[tuple[str, str], ...]


def escape_label(value: object) -> str:
    """A label value for the text format: visible controls, then \\\\, \\" and \\n escaped."""
    text = inert(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels) + "}"


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _name_fields(cert: CertInfo) -> dict[str, str]:
    """subject_* and issuer_* as the exporter names them ("" when absent or unreadable)."""
    out = {f"{side}_{short}": "" for side in ("subject", "issuer") for short in _NAME_FIELDS}
    out["subject_CN"] = cert.common_name or ""
    names = certificate_names(cert.der)
    if names is None:  # the model already carries what could be read
        return out
    for side, name in zip(("issuer", "subject"), names, strict=True):
        for short in _NAME_FIELDS:
            value = name.first(short)
            if value is not None:
                out[f"{side}_{short}"] = value
    return out


def _serial_decimal(serial_hex: str) -> str:
    try:
        return str(int(serial_hex, 16))
    except ValueError:
        return ""


def cert_labels(cert: CertInfo, loc: CertLocation, names: dict[str, str]) -> Labels:
    """The exporter-compatible label set of one certificate at one place, sorted by name."""
    labels = {
        **names,
        "serial_number": _serial_decimal(cert.serial),
        "filename": posixpath.basename(loc.path) if loc.kind is not LocationKind.LISTENER else "",
        "filepath": loc.path,
        "host": loc.host,
        "kind": loc.kind,
        "servername": loc.servername or "",
    }
    return tuple(sorted(labels.items()))


def _family(
    name: str, kind: str, help_text: str, series: Iterable[tuple[Labels, float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    seen: set[Labels] = set()
    for labels, value in sorted(series, key=lambda s: s[0]):
        if labels in seen:
            continue  # the same certificate twice at one place (a bundle repeating itself)
        seen.add(labels)
        lines.append(f"{name}{_labels(labels)} {_number(value)}")
    return lines


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def render_metrics(result: AuditResult) -> bytes:
    """The textfile as bytes (UTF-8, LF line ends, trailing newline)."""
    uses = view.certificate_uses(result.hosts, result.finished_at)
    counts = run_counts(result, uses)
    lines = _certificate_families(uses, result.finished_at) + _run_families(result, counts)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _certificate_families(uses: Sequence[view.CertUse], now: datetime) -> list[str]:
    """The exporter's x509_cert_* series, one per deployed location of each certificate.
    Distro trust-store roots and certbot archive generations are left out: an expired root
    in ca-certificates.crt must not fire the usual x509_cert_expired alerts."""
    per_cert: list[tuple[CertInfo, Labels]] = []
    for u in uses:
        deployed = [loc for loc in u.locations if loc.kind.deployed]
        names = _name_fields(u.cert) if deployed else {}
        per_cert += [(u.cert, cert_labels(u.cert, loc, names)) for loc in deployed]
    lines: list[str] = []
    lines += _family(
        "x509_cert_not_after",
        "gauge",
        "Unix timestamp of the certificate's notAfter.",
        ((labels, _ts(c.not_after)) for c, labels in per_cert),
    )
    lines += _family(
        "x509_cert_not_before",
        "gauge",
        "Unix timestamp of the certificate's notBefore.",
        ((labels, _ts(c.not_before)) for c, labels in per_cert),
    )
    lines += _family(
        "x509_cert_expired",
        "gauge",
        "1 if the certificate had expired when the audit finished, else 0.",
        ((labels, 1.0 if c.not_after < now else 0.0) for c, labels in per_cert),
    )
    return lines


def _cert_errors(result: AuditResult) -> list[tuple[Labels, float]]:
    """One series per unparseable certificate and per unreadable path, labelled as the
    exporter labels its certificate errors (filepath, filename) plus host and reason."""
    out: list[tuple[Labels, float]] = []
    for r in result.hosts:
        places = [(u.path, "unparseable") for u in r.unparseable]
        places += [(i.path, i.reason.value) for i in r.issues]
        for path, reason in places:
            labels = {
                "filename": posixpath.basename(path),
                "filepath": path,
                "host": r.host.name,
                "reason": reason,
            }
            out.append((tuple(sorted(labels.items())), 1.0))
    return out


def _run_families(result: AuditResult, counts: Counts) -> list[str]:
    """Per-host read errors and coverage, findings by ID and severity, and the run itself."""
    read_errors = [
        ((("host", r.host.name),), float(len(r.unparseable) + len(r.issues)))
        for r in result.hosts
        if r.outcome.audited
    ]
    finding_counts = Counter((f.id, f.severity.value) for f in view.open_findings(result.findings))
    waived_counts = Counter(
        (f.id, f.severity.value) for f in result.findings if f.waiver is not None
    )
    lines: list[str] = []
    lines += _family(
        "x509_read_errors",
        "gauge",
        "Certificate files that could not be read or parsed, per audited host.",
        read_errors,
    )
    lines += _family(
        "x509_cert_error",
        "gauge",
        "1 for each certificate file or path that could not be read or decoded.",
        _cert_errors(result),
    )
    lines += _family(
        "x509_source_up",
        "gauge",
        "1 if the host's certificates could be read in the last run, 0 if not.",
        (((("host", r.host.name),), 1.0 if r.outcome.audited else 0.0) for r in result.hosts),
    )
    lines += _family(
        "x509_source_errors_total",
        "counter",
        "Unreadable or undecodable sources on the host in the last run.",
        read_errors,
    )
    lines += _family(
        "certaudit_findings",
        "gauge",
        "Findings of the last audit run by finding ID and severity, waived ones left out.",
        (((("id", i), ("severity", s)), float(n)) for (i, s), n in finding_counts.items()),
    )
    lines += _family(
        "certaudit_findings_waived",
        "gauge",
        "Findings of the last audit run that a waiver in force covers, by ID and severity.",
        (((("id", i), ("severity", s)), float(n)) for (i, s), n in waived_counts.items()),
    )
    lines += _family(
        "certaudit_host_up",
        "gauge",
        "1 if the host was audited in the last run, 0 if it could not be.",
        (((("host", r.host.name),), 1.0 if r.outcome.audited else 0.0) for r in result.hosts),
    )
    lines += _count_families(counts)
    lines += _family(
        "certaudit_run_timestamp_seconds",
        "gauge",
        "Unix timestamp at which the last audit run finished.",
        [((), _ts(result.finished_at))],
    )
    lines += _family(
        "certaudit_run_duration_seconds",
        "gauge",
        "How long the last audit run took.",
        [((), round((result.finished_at - result.started_at).total_seconds(), 3))],
    )
    lines += _family(
        "certaudit_run_partial",
        "gauge",
        "1 if the last audit run was interrupted before every host finished.",
        [((), 1.0 if result.partial else 0.0)],
    )
    return lines


def _count_families(counts: Counts) -> list[str]:
    """The run's certificate counts, as every report counts them."""
    lines: list[str] = []
    lines += _family(
        "certaudit_certificates",
        "gauge",
        "Distinct deployed certificates (by SHA-256) of the last run: trust-store roots and "
        "archived certbot generations are not counted.",
        [((), float(counts.certificates))],
    )
    lines += _family(
        "certaudit_certificates_expired",
        "gauge",
        "Distinct deployed certificates that had expired when the last run finished.",
        [((), float(counts.expired))],
    )
    lines += _family(
        "certaudit_certificates_expiring",
        "gauge",
        "Distinct deployed certificates not expired with at most within_days days left.",
        [((("within_days", str(d)),), float(n)) for d, n in counts.expiring.items()],
    )
    return lines
