"""Renewal <-> rows (schema 6): a host's renewal schedules, certbot lineages and, per
certificate, what renews it. They are one body of evidence (`hosts.renewal_evidence`),
stored once and shared like the host's files; a body changes when a timer fires or
certbot logs a new attempt, without rewriting the host's files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audit.history.codec import Row, dt_text, opt_dt
from audit.history.schema import CERT_RENEWALS, CERTBOT_LINEAGES, RENEWAL_SCHEDULES
from audit.history.table import Table
from audit.model import (
    CertbotLineage,
    CertRenewal,
    HostResult,
    RenewalMechanism,
    RenewalSchedule,
    RenewalStatus,
)


def schedule_row(evidence_pk: int, seq: int, s: RenewalSchedule) -> Row:
    return {
        "evidence_pk": evidence_pk,
        "seq": seq,
        "host": s.host,
        "client": s.client,
        "kind": s.kind,
        "name": s.name,
        "source": s.source,
        "state": s.state,
        "active_state": s.active_state,
        "last_trigger": dt_text(s.last_trigger),
        "next_trigger": dt_text(s.next_trigger),
        "last_result": s.last_result,
        "effective": int(s.effective),
        "detail": s.detail,
    }


def schedule_from(row: Row) -> RenewalSchedule:
    return RenewalSchedule(
        host=row["host"],
        client=row["client"],
        kind=row["kind"],
        name=row["name"],
        source=row["source"],
        state=row["state"],
        active_state=row["active_state"],
        last_trigger=opt_dt(row["last_trigger"]),
        next_trigger=opt_dt(row["next_trigger"]),
        last_result=row["last_result"],
        effective=bool(row["effective"]),
        detail=row["detail"],
    )


_LINEAGE_TEXT = (
    "host name conf config_dir cert_path fullchain_path archive_dir authenticator server"
    " renew_before_expiry cert_sha256 last_outcome last_error"
).split()


def lineage_row(evidence_pk: int, seq: int, lin: CertbotLineage) -> Row:
    row: dict[str, Any] = {"evidence_pk": evidence_pk, "seq": seq}
    row.update({name: getattr(lin, name) for name in _LINEAGE_TEXT})
    row["last_attempt"] = dt_text(lin.last_attempt)
    return row


def lineage_from(row: Row) -> CertbotLineage:
    texts: dict[str, Any] = {name: row[name] for name in _LINEAGE_TEXT}
    return CertbotLineage(**texts, last_attempt=opt_dt(row["last_attempt"]))


def renewal_row(evidence_pk: int, seq: int, r: CertRenewal) -> Row:
    return {
        "evidence_pk": evidence_pk,
        "seq": seq,
        "host": r.host,
        "cert_sha256": r.cert_sha256,
        "path": r.path,
        "mechanism": r.mechanism.value,
        "status": r.status.value,
        "name": r.name,
        "schedule": r.schedule,
        "last_attempt": dt_text(r.last_attempt),
        "last_outcome": r.last_outcome,
        "last_error": r.last_error,
        "next_trigger": dt_text(r.next_trigger),
        "detail": r.detail,
        "ca_not_after": dt_text(r.ca_not_after),
    }


def renewal_from(row: Row) -> CertRenewal:
    return CertRenewal(
        host=row["host"],
        cert_sha256=row["cert_sha256"],
        path=row["path"],
        mechanism=RenewalMechanism(row["mechanism"]),
        status=RenewalStatus(row["status"]),
        name=row["name"],
        schedule=row["schedule"],
        last_attempt=opt_dt(row["last_attempt"]),
        last_outcome=row["last_outcome"],
        last_error=row["last_error"],
        next_trigger=opt_dt(row["next_trigger"]),
        detail=row["detail"],
        ca_not_after=opt_dt(row["ca_not_after"]),
    )


def parts(r: HostResult, owner: int) -> list[tuple[Table, list[Row]]]:
    """The rows of the host's renewal evidence, by table, in model order."""
    return [
        (RENEWAL_SCHEDULES, [schedule_row(owner, i, s) for i, s in enumerate(r.renewal_schedules)]),
        (CERTBOT_LINEAGES, [lineage_row(owner, i, x) for i, x in enumerate(r.certbot_lineages)]),
        (CERT_RENEWALS, [renewal_row(owner, i, x) for i, x in enumerate(r.cert_renewals)]),
    ]


READS: dict[str, tuple[Table, Callable[[Row], Any]]] = {
    "renewal_schedules": (RENEWAL_SCHEDULES, schedule_from),
    "certbot_lineages": (CERTBOT_LINEAGES, lineage_from),
    "cert_renewals": (CERT_RENEWALS, renewal_from),
}
"""HostResult field -> the table that stores it and how a row reads back."""
