"""Renewal family: certbot's schedule, certbot's last attempt, certificates nothing renews.

The evidence is what each host's collection concluded (HostResult.renewal_schedules,
certbot_lineages, and per certificate CertContext.renewal). This module also gives the
validity rules their renewal-aware fix (`kubeadm certs renew NAME`, not certbot) and the
analysis its renewal weight: "expires in 20 days and nothing renews it" ranks far above
"expires in 20 days, timer healthy, last renewal ok".
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from datetime import datetime

from audit.model import (
    CertbotLineage,
    CertRenewal,
    HostResult,
    LocationKind,
    RenewalMechanism,
    RenewalSchedule,
    RenewalStatus,
    Severity,
)
from audit.rules.base import (
    CertContext,
    Hit,
    HostContext,
    Scope,
    Settings,
    cert_values,
    days_between,
    rule,
    shell_quote,
    shell_words,
)

M, S = RenewalMechanism, RenewalStatus

_WEIGHTS: dict[RenewalStatus, tuple[float, str]] = {
    S.NONE: (1.6, "nothing renews it"),
    S.UNSCHEDULED: (1.5, "its renewal client never runs"),
    S.ROTATION_OFF: (1.5, "kubelet certificate rotation is off"),
    S.FAILING: (1.3, "its last renewal failed"),
    S.MANUAL: (1.15, "renewed only by hand (kubeadm certs renew)"),
    S.AUTOMATED: (0.7, "renewal automated"),
}


def renewal_weight(renewal: CertRenewal | None) -> tuple[float, str]:
    """The factor a certificate's renewal health adds to the risk of its validity
    findings, and why (1.0 and "" when unknown)."""
    if renewal is None:
        return 1.0, ""
    weight, why = _WEIGHTS[renewal.status]
    if renewal.status is S.AUTOMATED and renewal.last_outcome in ("success", "not_due"):
        why += ", last run ok"
    return weight, why


# --------------------------------------------------------------------------- host rules

_TIMER_DIAGNOSE = (
    "systemctl is-enabled {timer}; systemctl list-timers --all {timer}; "
    "grep -n certbot /etc/crontab /etc/cron.d/*"
)


def _days(result: HostResult, sha: str, now: datetime) -> float | None:
    for found in result.certificates:
        if found.cert.sha256 == sha:
            return days_between(found.cert.not_after, now)
    return None


def _soonest(result: HostResult, lineages: Iterable[CertbotLineage], now: datetime) -> float | None:
    days = [d for lin in lineages if (d := _days(result, lin.cert_sha256, now)) is not None]
    return min(days) if days else None


def _timer_fix(timers: list[RenewalSchedule], systemd: bool) -> str:
    timer = timers[0].name if timers else "certbot.timer"
    quoted = shell_quote(timer)
    if not systemd:
        return (
            "systemd does not run on this host, so no timer fires: schedule certbot with cron "
            "(a line such as 0 */12 * * * root certbot -q renew in /etc/cron.d/certbot), then "
            "check it with certbot renew --dry-run."
        )
    if not timers:
        return (
            "This certbot came without a timer: schedule certbot -q renew twice a day with a "
            "systemd timer (Debian's certbot package ships certbot.timer) or a cron line (0 */12 "
            "* * * root certbot -q renew in /etc/cron.d/certbot), then check it with certbot "
            "renew --dry-run."
        )
    unmask = f"systemctl unmask {quoted} && " if any(t.state == "masked" for t in timers) else ""
    return (
        f"Turn certbot's timer on: {unmask}systemctl enable --now {quoted}, then check it "
        f"with systemctl list-timers {quoted} and certbot renew --dry-run."
    )


@rule(
    "CERTBOT_TIMER_INACTIVE",
    family="renewal",
    title="Certbot manages certificates but nothing runs its renewal",
    severity=Severity.HIGH,
    scope=Scope.HOST,
    diagnose=_TIMER_DIAGNOSE,
    fix="Turn certbot's timer on: systemctl enable --now certbot.timer.",
)
def certbot_timer_inactive(ctx: HostContext, settings: Settings) -> Iterable[Hit]:
    r = ctx.result
    if not r.certbot_lineages:
        return
    mine = [s for s in r.renewal_schedules if s.client == "certbot"]
    if any(s.effective for s in mine):
        return
    timers = [s for s in mine if s.kind == "systemd"]
    names = shell_words(sorted(lin.name for lin in r.certbot_lineages))
    states = "; ".join(s.detail for s in mine) or "no certbot timer unit and no cron entry"
    systemd = dict(r.facts).get("systemd") == "running"
    timer = timers[0].name if timers else "certbot.timer"
    yield Hit(
        subject=timer,
        detail=(
            f"certbot manages {len(r.certbot_lineages)} lineage(s) here ({names}) but nothing "
            f"will run certbot renew: {states}"
        ),
        values={"timer": shell_quote(timer)},
        fix=_timer_fix(timers, systemd),
        days_left=_soonest(r, r.certbot_lineages, settings.now),
    )


@rule(
    "CERTBOT_RENEWAL_FAILING",
    family="renewal",
    title="Certbot's last renewal attempt failed",
    severity=Severity.HIGH,
    scope=Scope.HOST,
    diagnose="certbot renew --dry-run --cert-name {name}",
    fix=(
        "Fix what the CA reported, then renew with certbot renew --cert-name {name} and "
        "reload the services that use {fullchain}."
    ),
)
def certbot_renewal_failing(ctx: HostContext, settings: Settings) -> Iterable[Hit]:
    r = ctx.result
    for lin in r.certbot_lineages:
        if lin.last_outcome != "failed":
            continue
        when = f" on {lin.last_attempt:%Y-%m-%d %H:%M}" if lin.last_attempt else ""
        how = f" (authenticator {lin.authenticator})" if lin.authenticator else ""
        yield Hit(
            subject=f"certbot lineage {lin.name}",
            detail=(
                f"The last renewal of certbot lineage {lin.name} ({lin.conf}){when} failed"
                f"{how}: {lin.last_error or 'no error text in the log'}"
            ),
            values={
                "name": shell_quote(lin.name),
                "fullchain": shell_quote(lin.fullchain_path),
            },
            cert_sha256=lin.cert_sha256 or None,
            days_left=_days(r, lin.cert_sha256, settings.now),
        )


# --------------------------------------------------------------------------- certificates

_NOT_AUTOMATED = (S.NONE, S.UNSCHEDULED, S.ROTATION_OFF)
_KUBE_DATA = "sed -n 's/^ *{key}: *//p' {path} | base64 -d | openssl x509 -noout -subject -dates"


def renewal_diagnose(ctx: CertContext) -> str | None:
    """A diagnose template (filled from `cert_values`) for certificates `openssl x509 -in`
    cannot read directly: those embedded in a kubeconfig; kubeadm's own view of its."""
    renewal = ctx.renewal
    if renewal is not None and renewal.mechanism is M.KUBEADM:
        return "kubeadm certs check-expiration"
    if ctx.location.kind is LocationKind.KUBECONFIG:
        key = "certificate-authority-data" if ctx.cert.is_ca else "client-certificate-data"
        return _KUBE_DATA.replace("{key}", key)
    return None


def _kube_dir(path: str) -> str:
    return path.split("/pki/", 1)[0] if "/pki/" in path else posixpath.dirname(path)


_KUBEADM_CAS = ("ca", "etcd-ca", "front-proxy-ca")
_STATIC_POD = {
    "apiserver": "kube-apiserver",
    "apiserver-kubelet-client": "kube-apiserver",
    "apiserver-etcd-client": "kube-apiserver",
    "front-proxy-client": "kube-apiserver",
    "etcd-server": "etcd",
    "etcd-peer": "etcd",
    "etcd-healthcheck-client": "etcd",
    "controller-manager.conf": "kube-controller-manager",
    "scheduler.conf": "kube-scheduler",
}
"""The static pod that loads each kubeadm certificate (admin.conf and super-admin.conf are
for people)."""


def _ca_of(component: str) -> str:
    if component.startswith("etcd-") or component == "apiserver-etcd-client":
        return "etcd-ca"
    return "front-proxy-ca" if component == "front-proxy-client" else "ca"


def _kubeadm_fix(r: CertRenewal, now: datetime) -> str:
    name = shell_quote(r.name)
    if r.name in _KUBEADM_CAS:
        return (
            f"kubeadm never renews its CAs: rotate the CA {name} by hand well before it "
            "expires: a new CA trusted beside the old one, every certificate it signs issued "
            "again (kubeadm certs renew all), kubeconfigs and kubelets given the new CA, "
            "then the old CA removed."
        )
    text = f"Renew it with kubeadm certs renew {name} on this control-plane node"
    pod = _STATIC_POD.get(r.name)
    manifests = shell_quote(f"{_kube_dir(r.path)}/manifests/{pod}.yaml") if pod else ""
    if pod:
        text += (
            f", then restart the {shell_quote(pod)} static pod, which reads certificates only "
            f"when it starts (move {manifests} out of the folder and back)"
        )
    elif r.name in ("admin.conf", "super-admin.conf"):
        text += f", then give its users the new {shell_quote(r.path)} (~/.kube/config)"
    text += "; check with kubeadm certs check-expiration."
    if r.ca_not_after is not None:
        days = days_between(r.ca_not_after, now)
        text += (
            f" Its CA ({shell_quote(_ca_of(r.name))}) is valid until "
            f"{r.ca_not_after:%Y-%m-%d} ({days:.0f} days): a renewed certificate never "
            "outlives it."
        )
    return text


def _kubelet_fix(r: CertRenewal) -> str:
    if r.name == "kubelet-serving":
        return (
            "Have the kubelet request its serving certificate (serverTLSBootstrap: true in "
            "its config.yaml, CSRs approved), or replace the self-signed kubelet.crt, then "
            "systemctl restart kubelet."
        )
    if r.status is S.AUTOMATED:
        return (
            "The kubelet rotates this certificate: if it is this close to expiry, check that "
            "its certificate signing requests are approved (kubectl get csr) and that it "
            "reaches the API server, then systemctl restart kubelet."
        )
    return (
        "Turn on the kubelet's client certificate rotation (rotateCertificates: true in "
        "/var/lib/kubelet/config.yaml; kubelet.conf naming "
        "/var/lib/kubelet/pki/kubelet-client-current.pem), then systemctl restart kubelet; "
        "once it has expired the node must join again (kubeadm join, or a new bootstrap token)."
    )


def renewal_fix(ctx: CertContext, now: datetime) -> str | None:
    """The fix of an expiring or expired certificate, knowing what renews it (None: the
    rule's generic fix)."""
    r = ctx.renewal
    if r is None:
        return None
    target = cert_values(ctx)["target"]
    if r.mechanism is M.KUBEADM:
        return _kubeadm_fix(r, now)
    if r.mechanism is M.KUBELET:
        return _kubelet_fix(r)
    if r.mechanism is M.CERTBOT:
        name = shell_quote(r.name)
        why = {
            S.FAILING: "its last renewal failed (see CERTBOT_RENEWAL_FAILING)",
            S.UNSCHEDULED: "nothing runs certbot on this host (see CERTBOT_TIMER_INACTIVE)",
        }.get(r.status, "its schedule should already have renewed it")
        return (
            f"certbot lineage {name} holds it and {why}: renew it with certbot renew "
            f"--cert-name {name}, then reload the services that use {target}."
        )
    if r.mechanism is M.ACME:
        return (
            f"{shell_quote(r.name)} manages it: run its renewal for this certificate, deploy "
            f"it to {target} and reload the service; make sure its schedule runs."
        )
    return None


def _not_automated_fix(ctx: CertContext, r: CertRenewal) -> str:
    target = cert_values(ctx)["target"]
    if r.mechanism is M.KUBELET:
        return _kubelet_fix(r)
    if r.mechanism is M.CERTBOT:
        return (
            "Schedule certbot: systemctl enable --now certbot.timer (or, without systemd, a "
            "cron line running certbot -q renew), then renew this one now with certbot renew "
            f"--cert-name {shell_quote(r.name)} and reload the services that use {target}."
        )
    if r.mechanism is M.ACME:
        return (
            f"Schedule {shell_quote(r.name)} (acme.sh --install-cronjob; a cron line or timer "
            f"running lego renew), then renew this certificate now and deploy it to {target}."
        )
    return (
        "Automate its renewal: issue it through an ACME client that runs on a schedule "
        "(certbot and its timer, acme.sh, cert-manager) or your CA's own renewal process; "
        f"meanwhile renew it by hand, deploy it to {target} and reload the service."
    )


@rule(
    "RENEWAL_NOT_AUTOMATED",
    family="renewal",
    title="Certificate expires soon and nothing renews it",
    severity=Severity.MEDIUM,
    scope=Scope.CERT,
    diagnose="openssl x509 -noout -subject -dates -in {path}",
    fix="Automate its renewal (an ACME client on a schedule) and renew it now.",
)
def renewal_not_automated(ctx: CertContext, settings: Settings) -> Iterable[Hit]:
    r = ctx.renewal
    if r is None or r.status not in _NOT_AUTOMATED or ctx.off_path:
        return
    if ctx.location.path != r.path or ctx.cert.is_ca:
        return
    days = days_between(ctx.cert.not_after, settings.now)
    window = max(settings.expiry_windows, default=0)
    if not 0 <= days <= window:
        return
    what = f"{r.mechanism.value} {r.name}".strip() if r.mechanism is not M.NONE else ""
    yield Hit(
        subject=ctx.location.path,
        detail=(
            f"{ctx.cert.subject} in {ctx.location.path} expires on "
            f"{ctx.cert.not_after:%Y-%m-%d %H:%M} UTC, in {days:.1f} days, and nothing will "
            f"renew it{' (' + what + ')' if what else ''}: {r.detail}"
        ),
        values=cert_values(ctx),
        diagnose=renewal_diagnose(ctx),
        fix=_not_automated_fix(ctx, r),
        cert_sha256=ctx.cert.sha256,
        days_left=days,
    )


RULES = (certbot_timer_inactive, certbot_renewal_failing, renewal_not_automated)
