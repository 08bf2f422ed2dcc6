"""Model <-> row mapping: for each table, the row (by column name) that stores a model
object, and the model object a row reads back as. The column names are those declared in
`audit.history.schema`; `Table.values` refuses a row that misses one or adds another.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from audit.history.codec import Row, dt_text, json_list, opt_dt, parse_dt, strs
from audit.history.schema import CERT_PARSED
from audit.model import (
    CertInfo,
    CertLocation,
    CollectionIssue,
    ConfigListen,
    Finding,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    IssueReason,
    KeyFile,
    Listener,
    ProbeStatus,
    Severity,
    TlsConfig,
    TlsProbe,
    Unparseable,
)

CertRef = Callable[[int, str | None], CertInfo]
"""(certificates.pk, cert_variant) -> the CertInfo of that occurrence."""


# --------------------------------------------------------------------------- hosts


def host_row(
    run_id: str,
    seq: int,
    r: HostResult,
    recorded_at: datetime,
    files_evidence: int | None,
    listener_evidence: int | None,
    trust_evidence: int | None = None,
    renewal_evidence: int | None = None,
) -> Row:
    h = r.host
    return {
        "run_id": run_id,
        "seq": seq,
        "name": h.name,
        "address": h.address,
        "ssh_port": h.port,
        "ssh_user": h.user,
        "key_file": h.key_file,
        "become": int(h.become),
        "host_groups": json_list(h.groups),
        "cert_paths": json_list(h.cert_paths),
        "tls_names": json_list(h.tls_names),
        "tls_ports": json_list(h.tls_ports),
        "probe_direct": int(h.probe_direct),
        "source": h.source,
        "outcome": r.outcome.value,
        "detail": r.detail,
        "started_at": dt_text(r.started_at),
        "finished_at": dt_text(r.finished_at),
        "bytes_received": r.bytes_received,
        "facts": json_list(list(pair) for pair in r.facts),
        "recorded_at": dt_text(recorded_at),
        "finished": int(r.finished),
        "files_evidence": files_evidence,
        "listener_evidence": listener_evidence,
        "probe_ms": json_list(p.elapsed_ms for li in r.listeners for p in li.probes),
        "trust_evidence": trust_evidence,
        "renewal_evidence": renewal_evidence,
    }


def host_result_from(row: Row, parts: Mapping[str, tuple[Any, ...]]) -> HostResult:
    """A hosts row; `parts` holds its children by HostResult field (certificates, ...).
    The listeners' probes get the timings the row keeps (`probe_ms`), when it keeps them."""
    if row["probe_ms"] is not None:
        parts = {**parts, "listeners": with_probe_ms(parts["listeners"], row["probe_ms"])}
    host = Host(
        name=row["name"],
        address=row["address"],
        port=row["ssh_port"],
        user=row["ssh_user"],
        key_file=row["key_file"],
        become=bool(row["become"]),
        groups=strs(row["host_groups"]),
        cert_paths=strs(row["cert_paths"]),
        tls_names=strs(row["tls_names"]),
        tls_ports=tuple(json.loads(row["tls_ports"])),
        probe_direct=bool(row["probe_direct"]),
        source=row["source"],
    )
    return HostResult(
        host=host,
        outcome=HostOutcome(row["outcome"]),
        detail=row["detail"],
        started_at=opt_dt(row["started_at"]),
        finished_at=opt_dt(row["finished_at"]),
        bytes_received=row["bytes_received"],
        facts=tuple((k, v) for k, v in json.loads(row["facts"])),
        finished=bool(row["finished"]),
        **parts,
    )


def with_probe_ms(listeners: tuple[Listener, ...], text: str) -> tuple[Listener, ...]:
    """The listeners with each probe's elapsed_ms from a `probe_ms` array, in order."""
    times = iter(json.loads(text))
    out = tuple(
        replace(li, probes=tuple(replace(p, elapsed_ms=next(times)) for p in li.probes))
        for li in listeners
    )
    if next(times, None) is not None:
        raise ValueError("probe_ms holds more timings than the host has probes")
    return out


# --------------------------------------------------------------------------- certificates


def cert_columns(cert: CertInfo) -> dict[str, Any]:
    """The parsed columns of `certificates` (everything but pk, sha256 and der), unbound."""
    return {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "common_name": cert.common_name,
        "serial": cert.serial,
        "not_before": dt_text(cert.not_before),
        "not_after": dt_text(cert.not_after),
        "dns_names": json_list(cert.dns_names),
        "ip_addresses": json_list(cert.ip_addresses),
        "has_san_extension": int(cert.has_san_extension),
        "key_type": cert.key_type,
        "key_bits": cert.key_bits,
        "signature_algorithm": cert.signature_algorithm,
        "signature_hash": cert.signature_hash,
        "is_ca": int(cert.is_ca),
        "self_issued": int(cert.self_issued),
        "self_signed": int(cert.self_signed),
        "subject_key_id": cert.subject_key_id,
        "authority_key_id": cert.authority_key_id,
        "aia_ca_issuers": json_list(cert.aia_ca_issuers),
        "public_key_sha256": cert.public_key_sha256,
        "warnings": json_list(cert.warnings),
    }


def cert_from(sha256: str, der: bytes, v: Row) -> CertInfo:
    """A CertInfo from its parsed columns (a certificates row, or a variant)."""
    return CertInfo(
        sha256=sha256,
        der=der,
        subject=v["subject"],
        issuer=v["issuer"],
        common_name=v["common_name"],
        serial=v["serial"],
        not_before=parse_dt(v["not_before"]),
        not_after=parse_dt(v["not_after"]),
        dns_names=strs(v["dns_names"]),
        ip_addresses=strs(v["ip_addresses"]),
        has_san_extension=bool(v["has_san_extension"]),
        key_type=v["key_type"],
        key_bits=int(v["key_bits"]),
        signature_algorithm=v["signature_algorithm"],
        signature_hash=v["signature_hash"],
        is_ca=bool(v["is_ca"]),
        self_issued=bool(v["self_issued"]),
        self_signed=bool(v["self_signed"]),
        subject_key_id=v["subject_key_id"],
        authority_key_id=v["authority_key_id"],
        aia_ca_issuers=strs(v["aia_ca_issuers"]),
        public_key_sha256=v["public_key_sha256"],
        warnings=strs(v["warnings"]),
    )


def variant_text(columns: Mapping[str, Any]) -> str:
    """The `cert_variant` of an occurrence: its parsed columns as a JSON array."""
    return json.dumps([columns[name] for name in CERT_PARSED], ensure_ascii=True)


def variant_columns(text: str) -> dict[str, Any]:
    """Inverse of `variant_text`."""
    return dict(zip(CERT_PARSED, json.loads(text), strict=True))


# --------------------------------------------------------------------------- per host


def location_row(
    evidence_pk: int, seq: int, loc: CertLocation, cert_pk: int, variant: str | None
) -> Row:
    return {
        "evidence_pk": evidence_pk,
        "seq": seq,
        "host": loc.host,
        "path": loc.path,
        "kind": loc.kind,
        "bundle_index": loc.index,
        "format": loc.format,
        "servername": loc.servername,
        "cert_pk": cert_pk,
        "cert_variant": variant,
    }


def found_cert_from(row: Row, cert: CertRef) -> FoundCert:
    location = CertLocation(
        host=row["host"],
        path=row["path"],
        kind=row["kind"],
        index=row["bundle_index"],
        format=row["format"],
        servername=row["servername"],
    )
    return FoundCert(cert(row["cert_pk"], row["cert_variant"]), location)


def unparseable_row(evidence_pk: int, seq: int, u: Unparseable) -> Row:
    return {
        "evidence_pk": evidence_pk,
        "seq": seq,
        "host": u.host,
        "path": u.path,
        "reason": u.reason,
        "bundle_index": u.index,
    }


def unparseable_from(row: Row) -> Unparseable:
    return Unparseable(row["host"], row["path"], row["reason"], row["bundle_index"])


def key_file_row(evidence_pk: int, seq: int, k: KeyFile) -> Row:
    return {
        "evidence_pk": evidence_pk,
        "seq": seq,
        "host": k.host,
        "path": k.path,
        "owner": k.owner,
        "file_group": k.group,
        "mode": k.mode,
        "kind": k.kind,
    }


def key_file_from(row: Row) -> KeyFile:
    return KeyFile(
        row["host"], row["path"], row["owner"], row["file_group"], row["mode"], row["kind"]
    )


def issue_row(evidence_pk: int, seq: int, c: CollectionIssue) -> Row:
    return {
        "evidence_pk": evidence_pk,
        "seq": seq,
        "host": c.host,
        "path": c.path,
        "reason": c.reason.value,
        "detail": c.detail,
    }


def issue_from(row: Row) -> CollectionIssue:
    return CollectionIssue(row["host"], row["path"], IssueReason(row["reason"]), row["detail"])


def ca_bundle_row(evidence_pk: int, seq: int, path: str) -> Row:
    return {"evidence_pk": evidence_pk, "seq": seq, "path": path}


def ca_bundle_from(row: Row) -> str:
    return row["path"]


def tls_config_row(evidence_pk: int, seq: int, t: TlsConfig) -> Row:
    return {
        "evidence_pk": evidence_pk,
        "seq": seq,
        "host": t.host,
        "server": t.server,
        "file": t.file,
        "line": t.line,
        "listens": json_list([x.address, x.port, x.tls, x.file, x.line] for x in t.listens),
        "server_names": json_list(t.server_names),
        "cert_file": t.cert_file,
        "cert_config_file": t.cert_config_file,
        "cert_config_line": t.cert_config_line,
        "key_file": t.key_file,
        "key_config_file": t.key_config_file,
        "key_config_line": t.key_config_line,
        "chain_file": t.chain_file,
        "key_sha256": t.key_sha256,
        "key_check": t.key_check,
    }


def tls_config_from(row: Row) -> TlsConfig:
    return TlsConfig(
        host=row["host"],
        server=row["server"],
        file=row["file"],
        line=row["line"],
        listens=tuple(
            ConfigListen(a, int(p), bool(t), f, int(n))
            for a, p, t, f, n in json.loads(row["listens"])
        ),
        server_names=strs(row["server_names"]),
        cert_file=row["cert_file"],
        cert_config_file=row["cert_config_file"],
        cert_config_line=row["cert_config_line"],
        key_file=row["key_file"],
        key_config_file=row["key_config_file"],
        key_config_line=row["key_config_line"],
        chain_file=row["chain_file"],
        key_sha256=row["key_sha256"],
        key_check=row["key_check"],
    )


# --------------------------------------------------------------------------- listeners


def listener_row(evidence_pk: int, seq: int, li: Listener) -> Row:
    return {
        "evidence_pk": evidence_pk,
        "seq": seq,
        "host": li.host,
        "address": li.address,
        "port": li.port,
        "process": li.process,
        "expects_tls": int(li.expects_tls),
        "config_file": li.config_file,
        "config_line": li.config_line,
        "cert_file": li.cert_file,
        "server": li.server,
        "server_names": json_list(li.server_names),
        "starttls": li.starttls,
        "legacy_protocol": li.legacy_protocol,
        "notes": json_list(li.notes),
    }


def listener_from(row: Row, probes: tuple[TlsProbe, ...]) -> Listener:
    return Listener(
        host=row["host"],
        address=row["address"],
        port=row["port"],
        process=row["process"],
        expects_tls=bool(row["expects_tls"]),
        probes=probes,
        config_file=row["config_file"],
        config_line=row["config_line"],
        cert_file=row["cert_file"],
        server=row["server"],
        server_names=strs(row["server_names"]),
        starttls=row["starttls"],
        legacy_protocol=row["legacy_protocol"],
        notes=strs(row["notes"]),
    )


def probe_row(listener_pk: int, seq: int, p: TlsProbe) -> Row:
    """The probe without its timing, which differs every run: the host row keeps it
    (`probe_ms`), so the same probe result is the same row from one run to the next."""
    return {
        "listener_pk": listener_pk,
        "seq": seq,
        "host": p.host,
        "address": p.address,
        "port": p.port,
        "servername": p.servername,
        "status": p.status.value,
        "via": p.via,
        "protocol": p.protocol,
        "cipher": p.cipher,
        "alpn": p.alpn,
        "acceptable_ca_names": json_list(p.acceptable_ca_names),
        "error": p.error,
        "elapsed_ms": 0.0,
    }


def probe_from(row: Row, chain: tuple[CertInfo, ...]) -> TlsProbe:
    return TlsProbe(
        host=row["host"],
        address=row["address"],
        port=row["port"],
        servername=row["servername"],
        status=ProbeStatus(row["status"]),
        via=row["via"],
        protocol=row["protocol"],
        cipher=row["cipher"],
        alpn=row["alpn"],
        chain=chain,
        acceptable_ca_names=strs(row["acceptable_ca_names"]),
        error=row["error"],
        elapsed_ms=row["elapsed_ms"],
    )


def chain_row(probe_pk: int, seq: int, cert_pk: int, variant: str | None) -> Row:
    return {"probe_pk": probe_pk, "seq": seq, "cert_pk": cert_pk, "cert_variant": variant}


# --------------------------------------------------------------------------- findings


def finding_row(run_id: str, seq: int, f: Finding, text_pk: int) -> Row:
    return {
        "run_id": run_id,
        "seq": seq,
        "finding_id": f.id,
        "severity": f.severity.value,
        "host": f.host,
        "subject": f.subject,
        "cert_sha256": f.cert_sha256,
        "risk": float(f.risk),
        "days_left": None if f.days_left is None else float(f.days_left),
        "text_pk": text_pk,
    }


def finding_text_row(digest: str, f: Finding) -> Row:
    return {
        "digest": digest,
        "title": f.title,
        "detail": f.detail,
        "diagnose": f.diagnose,
        "fix": f.fix,
        "why": f.why,
    }


def finding_from(row: Row) -> Finding:
    """A findings row joined to its finding_texts row."""
    return Finding(
        id=row["finding_id"],
        severity=Severity(row["severity"]),
        host=row["host"],
        subject=row["subject"],
        title=row["title"],
        detail=row["detail"],
        diagnose=row["diagnose"],
        fix=row["fix"],
        cert_sha256=row["cert_sha256"],
        risk=row["risk"],
        why=row["why"],
        days_left=row["days_left"],
    )
