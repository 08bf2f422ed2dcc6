"""The renewal lab hosts of `scenarios.default_fleet` (described in its docstring):
certbot with a healthy timer, a disabled one and a failing renewal, a certificate nothing
renews, and two kubeadm control planes. The layouts come from tests/lab/renewal.py and
tests/lab/kubeadm.py; nginx and the site helpers from tests/lab/scenarios.py.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from tests import pki
from tests.lab import kubeadm, renewal
from tests.lab.netlab import HostSpec, Service

CA_SAYS = (
    "203.0.113.10: Fetching http://certfail1.example.test/.well-known/acme-challenge/"
    "Kq3nB9rT0xYwZ: Connection refused"
)
"""What the CA reported for certfail1's failed renewal (it must reach the finding)."""


def _nginx(spec: HostSpec, site: bytes) -> None:
    from tests.lab.scenarios import _nginx as plant

    plant(spec, spec.name, site)


def _site(spec: HostSpec, h: pki.Hierarchy, now: dt.datetime, **kw: Any) -> pki.Issued:
    from tests.lab.scenarios import _site as site

    return site(spec, h, now, **kw)


def _certbot_site(
    spec: HostSpec, name: str, acme: pki.Hierarchy, now: dt.datetime, **kw: Any
) -> None:
    """A certbot lineage NAME (tests/lab/renewal.py) served by nginx on :443."""
    lineage = renewal.certbot_lineage("", name, acme, now, **kw)
    spec.files += lineage.entries
    spec.canaries += lineage.canaries
    live = f"/etc/letsencrypt/live/{name}"
    site = (
        f"server {{\n    listen 443 ssl;\n    server_name {name} www.{name};\n"
        f"    ssl_certificate {live}/fullchain.pem;\n"
        f"    ssl_certificate_key {live}/privkey.pem;\n}}\n"
    )
    _nginx(spec, site.encode())
    spec.trust.append(acme.root.pem)


def _standin(spec: HostSpec, show: str) -> None:
    """A systemctl that answers `show` with `show`, first on the PATH sshd gives sessions."""
    spec.files += renewal.systemctl_standin("", show).entries
    path = f"{renewal.STANDIN_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    spec.sshd_options.append(f"SetEnv PATH={path}")


def certok1(now: dt.datetime, acme: pki.Hierarchy) -> HostSpec:
    spec = HostSpec("certok1", expect="healthy certbot: timer enabled and active, last run ok")
    name = "certok1.example.test"
    token = "labtoken" + secrets.token_hex(16)
    _certbot_site(spec, name, acme, now, days_after=60, authenticator="dns-cloudflare", token=token)
    last, nxt = now - dt.timedelta(hours=5), now + dt.timedelta(hours=7)
    _standin(spec, renewal.systemctl_show(enabled=True, active=True, last=last, next_=nxt))
    logs = "/var/lib/letsencrypt/log"
    run = renewal.certbot_run(last, {name: "not_due"}, expiry=now + dt.timedelta(days=60))
    spec.files += renewal.cli_ini("", logs).entries + renewal.certbot_log("", logs, run).entries
    return spec


def certoff1(now: dt.datetime, acme: pki.Hierarchy) -> HostSpec:
    spec = HostSpec("certoff1", expect="certbot.timer disabled, cron a no-op under systemd")
    _certbot_site(spec, "certoff1.example.test", acme, now, days_after=60)
    last = now - dt.timedelta(days=41)
    _standin(spec, renewal.systemctl_show(enabled=False, active=False, last=last, next_=None))
    return spec


def certfail1(now: dt.datetime, acme: pki.Hierarchy) -> HostSpec:
    spec = HostSpec("certfail1", expect="certbot's last renewal failed: the CA could not connect")
    name = "certfail1.example.test"
    _certbot_site(spec, name, acme, now, days_after=20)
    logs = "/var/lib/letsencrypt/log"
    older = renewal.certbot_run(now - dt.timedelta(days=2), {name: "failed"}, ca_detail="timeout")
    newer = renewal.certbot_run(now - dt.timedelta(hours=9), {name: "failed"}, ca_detail=CA_SAYS)
    spec.files += renewal.cli_ini("", logs).entries
    spec.files += renewal.certbot_log("", logs, older, newer).entries
    return spec


def norenew1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec(
        "norenew1", expect="nginx serves a certificate expiring in 12 days; nothing renews it"
    )
    _site(spec, h, now, days_before=353, days_after=12)
    return spec


def _kube_host(name: str, now: dt.datetime, expect: str, **kw: Any) -> HostSpec:
    """A kubeadm control plane; openssl s_server stands in for kube-apiserver on :6443."""
    spec = HostSpec(name, expect=expect)
    plane = kubeadm.control_plane("", now, node=name, address="10.250.0.1", **kw)
    spec.files += plane.entries
    spec.canaries += plane.canaries
    spec.trust.append(plane.certs["ca"].pem)
    pki_dir = "/etc/kubernetes/pki"
    spec.services.append(
        Service(
            (
                "openssl",
                "s_server",
                "-quiet",
                "-www",
                "-4",
                "-accept",
                "6443",
                "-cert",
                f"{pki_dir}/apiserver.crt",
                "-key",
                f"{pki_dir}/apiserver.key",
            ),
            port=6443,
        )
    )
    return spec


def kubeadm1(now: dt.datetime) -> HostSpec:
    return _kube_host(
        "kubeadm1", now, "kubeadm: apiserver.crt expires in 10 days", days={"apiserver": 10}
    )


def kubecfg1(now: dt.datetime) -> HostSpec:
    return _kube_host(
        "kubecfg1",
        now,
        "admin.conf's client certificate expires in 15 days; kubelet client in 20, rotation off",
        days={"admin.conf": 15, "kubelet-client": 20},
        styles={
            "super-admin.conf": "json",
            "controller-manager.conf": "quoted",
            "scheduler.conf": "block",
        },
        rotate=False,
    )
