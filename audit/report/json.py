"""findings.json and `check --json`: the machine-readable contract (schema/findings.schema.json).

One JSON document: schema_version, run metadata, hosts, certificates (deduplicated by
SHA-256, every location kept), listeners, findings (sorted by risk, highest first).
Dates are ISO 8601 UTC with a trailing Z.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from audit.diff import CertChange, RunDiff, severity_changes
from audit.model import (
    AuditResult,
    CertInfo,
    ChainVerdict,
    Finding,
    HostResult,
    Listener,
    TlsProbe,
    Waiver,
)
from audit.report import view

SCHEMA_VERSION = "1.0"


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC, second precision, with Z."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cert_doc(cert: CertInfo, now: datetime | None = None) -> dict[str, Any]:
    """A certificate as the contract shows it (without locations)."""
    doc: dict[str, Any] = {
        "sha256": cert.sha256,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "common_name": cert.common_name,
        "serial": cert.serial,
        "not_before": iso(cert.not_before),
        "not_after": iso(cert.not_after),
        "dns_names": list(cert.dns_names),
        "ip_addresses": list(cert.ip_addresses),
        "key_type": cert.key_type,
        "key_bits": cert.key_bits,
        "signature_algorithm": cert.signature_algorithm,
        "is_ca": cert.is_ca,
        "self_signed": cert.self_signed,
    }
    if now is not None:
        doc["days_left"] = round((cert.not_after - now).total_seconds() / 86400.0, 2)
    if cert.warnings:
        doc["warnings"] = list(cert.warnings)
    return doc


def finding_doc(f: Finding) -> dict[str, Any]:
    """A finding with every contract field."""
    return {
        "id": f.id,
        "severity": f.severity.value,
        "risk": f.risk,
        "host": f.host,
        "subject": f.subject,
        "title": f.title,
        "detail": f.detail,
        "diagnose": f.diagnose,
        "fix": f.fix,
        "cert_sha256": f.cert_sha256,
        "why": f.why,
        "days_left": f.days_left,
        "waiver": waiver_doc(f.waiver),
    }


def waiver_doc(w: Waiver | None) -> dict[str, Any] | None:
    """A waiver as the contract shows it (on a waived finding, and in `waivers`)."""
    if w is None:
        return None
    return {
        "id": w.id,
        "reason": w.reason,
        "owner": w.owner,
        "expires": w.expires.isoformat(),
        "ticket": w.ticket,
        "source": w.source,
        "match": {
            "hosts": w.hosts,
            "cert_sha256": w.cert_sha256,
            "subject": w.subject,
            "path": w.path,
        },
    }


def probe_doc(p: TlsProbe) -> dict[str, Any]:
    return {
        "address": p.address,
        "port": p.port,
        "servername": p.servername,
        "via": p.via,
        "status": p.status.value,
        "protocol": p.protocol,
        "cipher": p.cipher,
        "alpn": p.alpn,
        "chain": [c.sha256 for c in p.chain],
        "acceptable_ca_names": list(p.acceptable_ca_names),
        "error": p.error,
        "elapsed_ms": round(p.elapsed_ms, 1),
    }


def listener_doc(listener: Listener) -> dict[str, Any]:
    return {
        "host": listener.host,
        "address": listener.address,
        "port": listener.port,
        "process": listener.process,
        "expects_tls": listener.expects_tls,
        "config_file": listener.config_file,
        "config_line": listener.config_line,
        "cert_file": listener.cert_file,
        "server": listener.server,
        "server_names": list(listener.server_names),
        "starttls": listener.starttls,
        "legacy_protocol": listener.legacy_protocol,
        "notes": list(listener.notes),
        "probes": [probe_doc(p) for p in listener.probes],
    }


def host_doc(r: HostResult) -> dict[str, Any]:
    h = r.host
    return {
        "name": h.name,
        "address": h.address,
        "port": h.port or 22,
        "user": h.user,
        "groups": list(h.groups),
        "outcome": r.outcome.value,
        "audited": r.outcome.audited,
        "detail": r.detail,
        "started_at": iso(r.started_at),
        "finished_at": iso(r.finished_at),
        "certificates": len(r.certificates),
        "key_files": [
            {
                "path": k.path,
                "owner": k.owner,
                "group": k.group,
                "mode": f"{k.mode & 0o7777:04o}",
                "kind": k.kind,
            }
            for k in r.key_files
        ],
        "ca_bundles": list(r.ca_bundles),
        "issues": [
            {"path": i.path, "reason": i.reason.value, "detail": i.detail} for i in r.issues
        ],
        "bytes_received": r.bytes_received,
        "source": h.source,
    }


def certificates_doc(
    hosts: Iterable[HostResult],
    extra: Iterable[tuple[CertInfo, dict[str, Any]]] = (),
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Certificates deduplicated by SHA-256 across the fleet, every location kept."""
    docs: dict[str, dict[str, Any]] = {}

    def add(cert: CertInfo, location: dict[str, Any]) -> None:
        doc = docs.get(cert.sha256)
        if doc is None:
            doc = docs[cert.sha256] = {**cert_doc(cert, now), "locations": []}
        doc["locations"].append(location)

    for r in hosts:
        for found in r.certificates:
            loc = found.location
            add(
                found.cert,
                {
                    "host": loc.host,
                    "path": loc.path,
                    "kind": loc.kind,
                    "index": loc.index,
                    "format": loc.format,
                    "servername": loc.servername,
                },
            )
        for listener in r.listeners:
            for probe in listener.probes:
                for i, cert in enumerate(probe.chain):
                    add(
                        cert,
                        {
                            "host": listener.host,
                            "path": f"{probe.address}:{probe.port}",
                            "kind": "listener",
                            "index": i,
                            "format": "tls",
                            "servername": probe.servername,
                        },
                    )
    for cert, location in extra:
        add(cert, location)
    for doc in docs.values():
        doc["blast_radius"] = len(doc["locations"])
    return sorted(docs.values(), key=lambda d: (d["not_after"], d["sha256"]))


def document(
    *,
    hosts: Sequence[HostResult],
    findings: Sequence[Finding],
    meta: dict[str, Any],
    now: datetime | None = None,
    extra_certs: Iterable[tuple[CertInfo, dict[str, Any]]] = (),
    extra_listeners: Iterable[Listener] = (),
) -> dict[str, Any]:
    """The whole contract document."""
    listeners = [listener_doc(li) for r in hosts for li in r.listeners]
    listeners += [listener_doc(li) for li in extra_listeners]
    counts: dict[str, int] = {}
    for f in view.open_findings(findings):
        counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
    return {
        "schema_version": SCHEMA_VERSION,
        **meta,
        "summary": {
            "hosts": len(hosts),
            "hosts_audited": sum(1 for r in hosts if r.outcome.audited),
            "findings": len(findings),
            "findings_by_severity": counts,
            "findings_waived": len(findings) - sum(counts.values()),
        },
        "hosts": [host_doc(r) for r in hosts],
        "certificates": certificates_doc(hosts, extra_certs, now),
        "listeners": listeners,
        "findings": [finding_doc(f) for f in findings],
        **renewal_docs(hosts, now),
    }


def renewal_docs(hosts: Sequence[HostResult], now: datetime | None) -> dict[str, Any]:
    """What renews each certificate (`renewal`, worst first), and the hosts' schedules and
    certbot lineages they were judged from."""
    rows = view.renewal_rows(hosts, now) if now is not None else []
    if now is None:
        rows = [view.RenewalRow(x, None, None, (), ()) for r in hosts for x in r.cert_renewals]
    return {
        "renewal": [
            {
                "host": x.renewal.host,
                "cert_sha256": x.renewal.cert_sha256,
                "path": x.renewal.path,
                "mechanism": x.renewal.mechanism.value,
                "status": x.renewal.status.value,
                "name": x.renewal.name,
                "schedule": x.renewal.schedule,
                "last_attempt": iso(x.renewal.last_attempt),
                "last_outcome": x.renewal.last_outcome,
                "last_error": x.renewal.last_error,
                "next_trigger": iso(x.renewal.next_trigger),
                "ca_not_after": iso(x.renewal.ca_not_after),
                "days_left": x.days_left,
                "served_on": list(x.listeners),
                "configured_in": list(x.config_lines),
                "detail": x.renewal.detail,
            }
            for x in rows
        ],
        "renewal_schedules": [
            {
                "host": s.host,
                "client": s.client,
                "kind": s.kind,
                "name": s.name,
                "source": s.source,
                "state": s.state,
                "active_state": s.active_state,
                "last_trigger": iso(s.last_trigger),
                "next_trigger": iso(s.next_trigger),
                "last_result": s.last_result,
                "effective": s.effective,
                "detail": s.detail,
            }
            for r in hosts
            for s in r.renewal_schedules
        ],
        "certbot_lineages": [
            {
                "host": lin.host,
                "name": lin.name,
                "conf": lin.conf,
                "config_dir": lin.config_dir,
                "cert_path": lin.cert_path,
                "fullchain_path": lin.fullchain_path,
                "archive_dir": lin.archive_dir,
                "authenticator": lin.authenticator,
                "server": lin.server,
                "renew_before_expiry": lin.renew_before_expiry,
                "cert_sha256": lin.cert_sha256 or None,
                "last_attempt": iso(lin.last_attempt),
                "last_outcome": lin.last_outcome,
                "last_error": lin.last_error,
            }
            for r in hosts
            for lin in r.certbot_lineages
        ],
    }


def run_document(result: AuditResult) -> dict[str, Any]:
    """findings.json for a fleet run."""
    from audit.report.counts import run_counts

    doc = document(
        hosts=result.hosts,
        findings=result.findings,
        meta={
            "run_id": result.run_id,
            "inventory": result.inventory,
            "started_at": iso(result.started_at),
            "finished_at": iso(result.finished_at),
            "partial": result.partial,
            "waivers": {
                "file": result.waivers_file,
                "expired": [waiver_doc(w) for w in result.waivers_expired],
                "stale": [waiver_doc(w) for w in result.waivers_stale],
            },
        },
        now=result.finished_at,
    )
    counts = run_counts(result)
    doc["summary"]["certificates_deployed"] = counts.certificates
    doc["summary"]["certificates_expired"] = counts.expired
    for days, n in counts.expiring.items():
        doc["summary"][f"certificates_expiring_{days}d"] = n
    return doc


def verdict_doc(verdict: ChainVerdict | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {
        "status": verdict.status,
        "detail": verdict.detail,
        "store": verdict.store,
        "missing_issuer": verdict.missing_issuer,
        "order_problem": verdict.order_problem,
        "verified_chain": [c.sha256 for c in verdict.verified_chain],
        "strict_error": verdict.strict_error,
    }


def cert_brief(c: CertInfo | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "sha256": c.sha256,
        "subject": c.subject,
        "issuer": c.issuer,
        "serial": c.serial,
        "not_before": iso(c.not_before),
        "not_after": iso(c.not_after),
        "dns_names": list(c.dns_names),
        "ip_addresses": list(c.ip_addresses),
        "key_type": c.key_type,
        "key_bits": c.key_bits,
    }


def change_doc(ch: CertChange) -> dict[str, Any]:
    loc = ch.location
    return {
        "kind": ch.kind.value,
        "routine": ch.kind.value == "renewed",
        "host": loc.host,
        "path": loc.path,
        "location_kind": loc.kind,
        "index": loc.index,
        "servername": loc.servername,
        "changes": list(ch.changes),
        "old": cert_brief(ch.old),
        "new": cert_brief(ch.new),
    }


def diff_document(old: AuditResult, new: AuditResult, diff: RunDiff) -> dict[str, Any]:
    """`certaudit diff --json`."""
    return {
        "old_run": diff.old_run,
        "new_run": diff.new_run,
        "old_finished_at": iso(old.finished_at),
        "new_finished_at": iso(new.finished_at),
        "findings": {
            "new": [finding_doc(f) for f in diff.new],
            "resolved": [finding_doc(f) for f in diff.resolved],
            "changed": [
                {**finding_doc(f), "old_severity": was} for f, was in severity_changes(old, diff)
            ],
            "unverified": [finding_doc(f) for f in diff.unverified],
            "unchanged": len(diff.unchanged),
        },
        "certificates": {
            "renewed": [change_doc(c) for c in diff.renewed],
            "changed": [change_doc(c) for c in diff.changed],
            "added": [change_doc(c) for c in diff.added],
            "removed": [change_doc(c) for c in diff.removed],
        },
        "hosts_not_compared": list(diff.hosts_not_compared),
    }


def dumps(doc: dict[str, Any]) -> str:
    """Stable, readable JSON text."""
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
