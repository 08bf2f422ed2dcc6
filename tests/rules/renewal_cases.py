"""Evidence for the renewal rules: hosts with certbot lineages and schedules, certificates
with what renews them. Names follow test_registry's ordinary ones (example, /etc/, web1),
so test_quoting can turn them hostile."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from audit.analyze import Evidence
from audit.model import (
    CertbotLineage,
    CertLocation,
    CertRenewal,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    LocationKind,
    RenewalMechanism,
    RenewalSchedule,
    RenewalStatus,
)
from audit.rules.base import CertContext
from tests.rules.kit import NOW, info, world

M, S = RenewalMechanism, RenewalStatus
LE = "/etc/letsencrypt"


def lineage(
    name: str = "www.example.com", *, outcome: str = "", error: str = "", sha: str = ""
) -> CertbotLineage:
    return CertbotLineage(
        host="web1",
        name=name,
        conf=f"{LE}/renewal/{name}.conf",
        config_dir=LE,
        cert_path=f"{LE}/live/{name}/cert.pem",
        fullchain_path=f"{LE}/live/{name}/fullchain.pem",
        archive_dir=f"{LE}/archive/{name}",
        authenticator="standalone",
        server="https://acme.example.net/directory",
        cert_sha256=sha,
        last_attempt=NOW - dt.timedelta(hours=5) if outcome else None,
        last_outcome=outcome,
        last_error=error,
    )


def timer(
    state: str, *, active: str = "", source: str = "systemctl", effective: bool = False
) -> RenewalSchedule:
    return RenewalSchedule(
        host="web1",
        client="certbot",
        kind="systemd",
        name="certbot.timer",
        source=source,
        state=state,
        active_state=active,
        effective=effective,
        detail=f"certbot.timer is {state}",
    )


def debian_cron(
    state: str = "skipped when systemd runs", effective: bool = False
) -> RenewalSchedule:
    return RenewalSchedule(
        host="web1",
        client="certbot",
        kind="cron",
        name="/etc/cron.d/certbot line 17",
        source="files",
        state=state,
        effective=effective,
        detail="cron /etc/cron.d/certbot line 17: " + state,
    )


def certbot_host(
    schedules: tuple[RenewalSchedule, ...],
    lineages: tuple[CertbotLineage, ...],
    *,
    systemd: bool = True,
    days_after: float = 20,
) -> Evidence:
    leaf = info(world().public.leaf("www.example.com", now=NOW, days_after=days_after))[0]
    lineages = tuple(
        CertbotLineage(**{**lin.__dict__, "cert_sha256": leaf.sha256}) for lin in lineages
    )
    found = tuple(
        FoundCert(leaf, CertLocation("web1", lin.cert_path, LocationKind.FILE)) for lin in lineages
    )
    host = HostResult(
        host=Host(name="web1", address="10.0.0.5"),
        outcome=HostOutcome.OK,
        ca_bundles=("/etc/ssl/certs/ca-certificates.crt",),
        certificates=found,
        facts=(("systemd", "running" if systemd else "no"),),
        renewal_schedules=schedules,
        certbot_lineages=lineages,
    )
    return Evidence(hosts=[host])


def renewed(
    mechanism: RenewalMechanism,
    status: RenewalStatus,
    *,
    name: str = "",
    days_after: float = 20,
    path: str = "/etc/ssl/example/www.pem",
    kind: LocationKind = LocationKind.FILE,
    ca_not_after: dt.datetime | None = None,
    served: bool = False,
) -> CertContext:
    """A certificate expiring in `days_after` days at `path`, renewed as said."""
    cert = info(
        world().public.leaf("www.example.com", now=NOW, days_after=days_after, days_before=300)
    )[0]
    renewal = CertRenewal(
        host="web1",
        cert_sha256=cert.sha256,
        path=path,
        mechanism=mechanism,
        status=status,
        name=name,
        detail=f"{mechanism.value} {name} (test)",
        ca_not_after=ca_not_after,
        last_outcome="success" if status is S.AUTOMATED else "",
    )
    return CertContext(
        cert=cert, location=CertLocation("web1", path, kind), renewal=renewal, served=served
    )


def _extra(*ctxs: CertContext) -> Callable[[], Evidence]:
    return lambda: Evidence(extra_certs=list(ctxs))


POSITIVE: dict[str, list[Callable[[], Evidence]]] = {
    "CERTBOT_TIMER_INACTIVE": [
        lambda: certbot_host((timer("disabled", active="inactive"), debian_cron()), (lineage(),)),
        lambda: certbot_host((timer("masked", active="inactive"),), (lineage(),)),
        lambda: certbot_host(
            (timer("enabled", source="files"), debian_cron("commented")),
            (lineage(),),
            systemd=False,
        ),
        lambda: certbot_host((), (lineage(), lineage("api.example.com"))),
    ],
    "CERTBOT_RENEWAL_FAILING": [
        lambda: certbot_host(
            (timer("enabled", active="active", effective=True),),
            (
                lineage(
                    outcome="failed",
                    error="Some challenges have failed. (the CA reported: "
                    "Detail: 203.0.113.10: Connection refused)",
                ),
            ),
        ),
    ],
    "RENEWAL_NOT_AUTOMATED": [
        _extra(renewed(M.NONE, S.NONE)),
        _extra(
            renewed(
                M.CERTBOT,
                S.UNSCHEDULED,
                name="www.example.com",
                path=f"{LE}/live/www.example.com/cert.pem",
            )
        ),
        _extra(
            renewed(
                M.KUBELET,
                S.ROTATION_OFF,
                name="kubelet-client",
                path="/var/lib/kubelet/pki/kubelet-client-current.pem",
            )
        ),
        _extra(renewed(M.ACME, S.UNSCHEDULED, name="acme.sh", path="/etc/ssl/example/app.pem")),
        _extra(renewed(M.NONE, S.NONE, served=True)),
    ],
}
"""Merged into test_registry.POSITIVE."""

EXPIRING_WITH_RENEWAL: list[Callable[[], Evidence]] = [
    _extra(
        renewed(
            M.KUBEADM,
            S.MANUAL,
            name="apiserver",
            path="/etc/kubernetes/pki/apiserver.crt",
            ca_not_after=NOW + dt.timedelta(days=3000),
        )
    ),
    _extra(
        renewed(
            M.KUBEADM,
            S.MANUAL,
            name="admin.conf",
            path="/etc/kubernetes/admin.conf",
            kind=LocationKind.KUBECONFIG,
        )
    ),
    _extra(
        renewed(
            M.CERTBOT, S.FAILING, name="www.example.com", path=f"{LE}/live/www.example.com/cert.pem"
        )
    ),
    _extra(
        renewed(
            M.KUBELET,
            S.AUTOMATED,
            name="kubelet-client",
            path="/var/lib/kubelet/pki/kubelet-client-current.pem",
        )
    ),
    _extra(renewed(M.ACME, S.AUTOMATED, name="acme.sh", path="/etc/ssl/example/app.pem")),
]
"""CERT_EXPIRING on certificates whose renewal is known (their fix names it)."""
