"""What renews each certificate of one host, from that host's evidence alone.

In order: a kubeadm certificate (its file under the Kubernetes folder, or a kubeconfig) or
the kubelet's own (its pki folder, or what kubelet.conf names); else, for a leaf, the
certbot lineage whose live/ or archive/ files hold it; else another ACME client's files;
else nothing. CA certificates other than kubeadm's get no row (nothing renews a CA).

Contract: `evidence` is pure and never raises (odd evidence costs the renewal view, never
the host).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from audit.collect import kubeadm
from audit.collect.renewal import AcmeMark, Records, lineages, schedules
from audit.model import (
    CertbotLineage,
    CertInfo,
    CertRenewal,
    FoundCert,
    LocationKind,
    RenewalMechanism,
    RenewalSchedule,
    RenewalStatus,
)

M, S = RenewalMechanism, RenewalStatus


@dataclass(frozen=True)
class Found:
    schedules: tuple[RenewalSchedule, ...] = ()
    lineages: tuple[CertbotLineage, ...] = ()
    renewals: tuple[CertRenewal, ...] = ()


def evidence(
    host: str, r: Records, certs: Sequence[FoundCert], facts: Sequence[tuple[str, str]]
) -> Found:
    """The host's schedules, lineages and per-certificate renewal; empty when the collection
    did not look (no `systemd` fact: an older script, or renewal left out)."""
    try:
        known = dict(facts)
        if "systemd" not in known:
            return Found()
        found_schedules = schedules(host, r, known["systemd"] == "running")
        found_lineages = lineages(host, r, certs)
        kube = _Kube.of(r, certs, known)
        renewals = assign(host, certs, found_schedules, found_lineages, r.acme, kube)
        return Found(found_schedules, found_lineages, renewals)
    except Exception:  # the contract: never a crash
        return Found()


@dataclass(frozen=True)
class _Kube:
    """The Kubernetes side of one host."""

    dir: str
    kubelet_dir: str
    rotation: bool
    rotation_why: str
    serving: bool
    expirations: dict[str, kubeadm.Expiration]
    client_refs: dict[str, str]
    """A certificate file a kubeconfig names as its client certificate -> the kubeconfig."""
    ca_files: dict[str, datetime]
    """kubeadm CA name -> notAfter of its certificate file."""

    @classmethod
    def of(cls, r: Records, certs: Sequence[FoundCert], facts: dict[str, str]) -> _Kube:
        kube = facts.get("kubernetes", "/etc/kubernetes")
        rotation, why, serving = _rotation(r)
        kinds = {k for k, _ in r.kubeadm}
        kind = "json" if "json" in kinds else "table"
        lines = [line for k, line in r.kubeadm if k == kind]
        refs = {}
        for config, role, ref in r.krefs:
            if role == "client":
                full = posixpath.normpath(posixpath.join(posixpath.dirname(config), ref))
                refs[full] = config
        cas = {}
        for f in certs:
            name = kubeadm.component(kube, f.location.path, f.cert.is_ca)
            if name in kubeadm.CAS and f.location.path.endswith(".crt"):
                cas[name] = f.cert.not_after
        return cls(
            kube.rstrip("/") or "/",
            facts.get("kubelet", "/var/lib/kubelet").rstrip("/") or "/",
            rotation,
            why,
            serving,
            kubeadm.parse_check_expiration(kind, lines) if lines else {},
            refs,
            cas,
        )


def _rotation(r: Records) -> tuple[bool, str, bool]:
    """(client rotation on, how that was told, serving certificates bootstrapped)."""
    flag = [(f, v) for f, k, v in r.kubelet if k == "--rotate-certificates"]
    conf = [(f, v) for f, k, v in r.kubelet if k == "rotateCertificates"]
    serving = any(v for _, k, v in r.kubelet if k == "serverTLSBootstrap")
    if flag:
        f, v = flag[-1]
        return v, f"--rotate-certificates={'true' if v else 'false'} in {f}", serving
    if conf:
        f, v = conf[-1]
        return v, f"rotateCertificates: {'true' if v else 'false'} in {f}", serving
    return False, "rotateCertificates is not set (the kubelet's default is off)", serving


def assign(
    host: str,
    certs: Sequence[FoundCert],
    found_schedules: Sequence[RenewalSchedule],
    found_lineages: Sequence[CertbotLineage],
    acme: Sequence[AcmeMark],
    kube: _Kube,
) -> tuple[CertRenewal, ...]:
    """One CertRenewal per distinct deployed certificate of the host that something renews
    or that is a leaf (a leaf nothing renews gets mechanism NONE)."""
    by_sha: dict[str, list[FoundCert]] = {}
    for f in certs:
        if f.location.kind.deployed:
            by_sha.setdefault(f.cert.sha256, []).append(f)
    out = []
    for found in by_sha.values():
        renewal = _kube(host, found, kube)
        if renewal is None and not found[0].cert.is_ca:
            renewal = (
                _certbot(host, found, found_lineages, found_schedules)
                or _acme(host, found, acme, found_schedules)
                or _none(host, found)
            )
        if renewal is not None:
            out.append(replace(renewal, cert_sha256=found[0].cert.sha256))
    return tuple(out)


def _first(found: Sequence[FoundCert]) -> str:
    return next((f.location.path for f in found if f.location.index == 0), found[0].location.path)


def _kube(host: str, found: Sequence[FoundCert], kube: _Kube) -> CertRenewal | None:
    def preferred(f: FoundCert) -> tuple[bool, bool]:  # kubeadm's own file; the -current link
        base = posixpath.basename(f.location.path)
        return f.location.kind is LocationKind.KUBECONFIG, "current" not in base

    for f in sorted(found, key=preferred):
        path, cert = f.location.path, f.cert
        name = kubeadm.component(kube.dir, path, cert.is_ca)
        if path == f"{kube.dir}/kubelet.conf":
            name = "ca" if cert.is_ca else None
            if not cert.is_ca:
                return _kubelet(host, path, "kubelet-client", kube, "embedded in kubelet.conf")
        if name is not None:
            return _kubeadm(host, path, cert, name, kube)
        label = _kubelet_label(path, kube)
        if label is not None:
            return _kubelet(host, path, label, kube, "")
    return None


def _kubelet_label(path: str, kube: _Kube) -> str | None:
    pki = f"{kube.kubelet_dir}/pki/"
    base = posixpath.basename(path)
    if path in kube.client_refs and kube.client_refs[path].endswith("/kubelet.conf"):
        return "kubelet-client"
    if not path.startswith(pki):
        return None
    if base.startswith("kubelet-client"):
        return "kubelet-client"
    if base.startswith("kubelet-server") or base == "kubelet.crt":
        return "kubelet-serving"
    return None


def _kubelet(host: str, path: str, label: str, kube: _Kube, where: str) -> CertRenewal:
    if label == "kubelet-serving":
        on = kube.serving
        why = "serverTLSBootstrap: true" if on else "serverTLSBootstrap is off (self-signed)"
    else:
        on, why = kube.rotation, kube.rotation_why
    return CertRenewal(
        host=host,
        cert_sha256="",
        path=path,
        mechanism=M.KUBELET,
        status=S.AUTOMATED if on else S.ROTATION_OFF,
        name=label,
        schedule="kubelet certificate rotation" if on else "",
        detail=f"the kubelet's {label} certificate{', ' + where if where else ''}; {why}",
    )


def _kubeadm(host: str, path: str, cert: CertInfo, name: str, kube: _Kube) -> CertRenewal:
    is_ca = name in kubeadm.CAS
    ca = name if is_ca else kubeadm.ca_of(name)
    ca_after = kube.ca_files.get(ca)
    seen = kube.expirations.get(ca)
    if ca_after is None and seen is not None:
        ca_after = seen.expires
    detail = f"kubeadm's {name} ({path})"
    if is_ca:
        detail += "; kubeadm does not renew its CAs"
    mechanism, status = M.KUBEADM, S.MANUAL
    reported = kube.expirations.get(name)
    if reported is not None and reported.externally_managed:
        mechanism, status = M.NONE, S.NONE
        detail += "; kubeadm reports it externally managed: kubeadm certs renew leaves it"
    elif reported is not None and reported.expires is not None:
        if abs(reported.expires - cert.not_after) > timedelta(days=1):
            detail += (
                f"; kubeadm certs check-expiration reports {reported.expires:%Y-%m-%d %H:%M} "
                f"UTC, not the file's {cert.not_after:%Y-%m-%d %H:%M} UTC"
            )
    return CertRenewal(
        host=host,
        cert_sha256="",
        path=path,
        mechanism=mechanism,
        status=status,
        name=name,
        detail=detail,
        ca_not_after=ca_after if not is_ca else None,
    )


def _certbot(
    host: str,
    found: Sequence[FoundCert],
    found_lineages: Sequence[CertbotLineage],
    found_schedules: Sequence[RenewalSchedule],
) -> CertRenewal | None:
    for lin in found_lineages:
        live = posixpath.dirname(lin.cert_path) + "/"
        archive = lin.archive_dir.rstrip("/") + "/" if lin.archive_dir.startswith("/") else ""
        hits = [
            f
            for f in found
            if f.cert.sha256 == lin.cert_sha256
            or f.location.path.startswith(live)
            or (archive and f.location.path.startswith(archive))
        ]
        if not hits:
            continue
        mine = [s for s in found_schedules if s.client == "certbot"]
        working = [s for s in mine if s.effective]
        status = S.AUTOMATED if working else S.UNSCHEDULED
        if working and lin.last_outcome == "failed":
            status = S.FAILING
        if working:
            schedule = "; ".join(s.detail for s in working)
        else:
            schedule = "; ".join(s.detail for s in mine) or "no certbot timer and no cron entry"
        nexts = [s.next_trigger for s in working if s.next_trigger is not None]
        paths = [f.location.path for f in found]
        return CertRenewal(
            host=host,
            cert_sha256="",
            path=lin.cert_path if lin.cert_path in paths else hits[0].location.path,
            mechanism=M.CERTBOT,
            status=status,
            name=lin.name,
            schedule=schedule if working else "",
            last_attempt=lin.last_attempt,
            last_outcome=lin.last_outcome,
            last_error=lin.last_error,
            next_trigger=min(nexts) if nexts else None,
            detail=f"certbot lineage {lin.name} ({lin.conf})"
            + ("" if working else f"; nothing runs it: {schedule}"),
        )
    return None


def _acme(
    host: str,
    found: Sequence[FoundCert],
    acme: Sequence[AcmeMark],
    found_schedules: Sequence[RenewalSchedule],
) -> CertRenewal | None:
    for mark in acme:
        for f in found:
            path = f.location.path
            if not any(path == p or (p.endswith("/") and path.startswith(p)) for p in mark.paths):
                continue
            working = [s for s in found_schedules if s.client == mark.client and s.effective]
            automated = mark.client == "caddy" or bool(working)
            if mark.client == "caddy":
                schedule = "Caddy renews what it manages while it runs"
            else:
                schedule = "; ".join(s.detail for s in working)
            return CertRenewal(
                host=host,
                cert_sha256="",
                path=path,
                mechanism=M.ACME,
                status=S.AUTOMATED if automated else S.UNSCHEDULED,
                name=mark.client,
                schedule=schedule,
                next_trigger=mark.next_renewal,
                detail=f"{mark.client} manages it ({mark.source}"
                + (f", {mark.name}" if mark.name else "")
                + ")"
                + ("" if automated else f"; no cron entry runs {mark.client}"),
            )
    return None


def _none(host: str, found: Sequence[FoundCert]) -> CertRenewal:
    return CertRenewal(
        host=host,
        cert_sha256="",
        path=_first(found),
        mechanism=M.NONE,
        status=S.NONE,
        detail="no certbot lineage, kubeadm or kubelet file, or other ACME client holds it",
    )
