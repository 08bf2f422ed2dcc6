"""The renewal part of the shared model: what renews a certificate and how it is scheduled.

audit.model re-exports every name here; every layer imports them from there. Standard
library only, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class RenewalMechanism(enum.StrEnum):
    """What renews a certificate. Stable: reports and the history key on it."""

    CERTBOT = "certbot"
    """A certbot lineage: its renewal configuration's live/ files are this certificate."""
    KUBEADM = "kubeadm"
    """A kubeadm control-plane certificate (`kubeadm certs renew NAME`, or an upgrade)."""
    KUBELET = "kubelet"
    """The kubelet's own client (or serving) certificate, renewed by certificate rotation."""
    ACME = "acme"
    """Another ACME client: acme.sh, lego, Caddy's managed storage."""
    NONE = "none"
    """Nothing the audit can see."""


class RenewalStatus(enum.StrEnum):
    """Whether the mechanism will renew the certificate in time. Stable (reports, history)."""

    AUTOMATED = "automated"
    """A working schedule runs the client and its last attempt did not fail (kubelet
    rotation on; another ACME client's own schedule)."""
    FAILING = "failing"
    """It is scheduled, but the last attempt for it failed."""
    UNSCHEDULED = "unscheduled"
    """A certbot lineage that no timer or cron entry will run."""
    ROTATION_OFF = "rotation_off"
    """A kubelet certificate with rotation turned off."""
    MANUAL = "manual"
    """kubeadm: renewed only by `kubeadm certs renew` or an upgrade (CAs: by hand)."""
    NONE = "none"
    """No renewal mechanism at all."""


@dataclass(frozen=True)
class RenewalSchedule:
    """One way a renewal client is run on a host: a systemd timer or a cron entry, as the
    host really runs it (systemctl when systemd answers, else its files)."""

    host: str
    client: str
    """"certbot", "acme.sh" or "lego"."""
    kind: str
    """"systemd" (a timer unit) or "cron" (a cron line)."""
    name: str
    """The timer unit ("certbot.timer"), or "FILE line N" of a cron entry."""
    source: str
    """Where the state was read: "systemctl" or "files"."""
    state: str
    """Timer: the unit-file state (enabled, disabled, masked, static, linked, absent).
    Cron: "active", "commented" or "skipped when systemd runs" (Debian's guard)."""
    active_state: str = ""
    """systemctl's ActiveState of the timer ("active", "inactive", "failed"); "" from files."""
    last_trigger: datetime | None = None
    """When the timer last fired (systemctl, or the mtime of its stamp file)."""
    next_trigger: datetime | None = None
    """When it fires next (systemctl only)."""
    last_result: str = ""
    """The Result of the service it runs ("success", "exit-code", ...); "" unknown."""
    effective: bool = False
    """It will run the client: an enabled timer where systemd runs, or a cron line cron
    will execute."""
    detail: str = ""
    """Why it is (not) effective, in one line."""


@dataclass(frozen=True)
class CertbotLineage:
    """One certbot lineage, from its renewal configuration (only public fields are read:
    never the account or credentials)."""

    host: str
    name: str
    conf: str
    """The renewal configuration file (CONFIG_DIR/renewal/NAME.conf)."""
    config_dir: str
    cert_path: str = ""
    """live/NAME/cert.pem as the configuration names it."""
    fullchain_path: str = ""
    archive_dir: str = ""
    authenticator: str = ""
    server: str = ""
    """The ACME directory URL."""
    renew_before_expiry: str = ""
    """As written ("30 days"); "" = certbot's default (30 days)."""
    cert_sha256: str = ""
    """The certificate live/NAME/cert.pem leads to ("" when it was not found)."""
    last_attempt: datetime | None = None
    """The last run of certbot that processed this lineage, from certbot's log (host time)."""
    last_outcome: str = ""
    """"success", "failed", "not_due", or "" when the log does not mention the lineage."""
    last_error: str = ""
    """For "failed": certbot's error and what the CA reported."""


@dataclass(frozen=True)
class CertRenewal:
    """How one certificate on a host is renewed, judged from that host's evidence."""

    host: str
    cert_sha256: str
    path: str
    """Where it is judged: the location that names it best (live/NAME/cert.pem, the
    kubeadm file or kubeconfig, else its first file)."""
    mechanism: RenewalMechanism
    status: RenewalStatus
    name: str = ""
    """The lineage, the kubeadm component (apiserver, admin.conf, etcd-ca...), the kubelet
    certificate ("kubelet-client"), or the ACME client."""
    schedule: str = ""
    """What runs it, in one line ("certbot.timer: enabled, active"), "" when nothing does."""
    last_attempt: datetime | None = None
    last_outcome: str = ""
    last_error: str = ""
    next_trigger: datetime | None = None
    detail: str = ""
    """How the mechanism was told (the live/ link, the kubeadm file, rotateCertificates...)."""
    ca_not_after: datetime | None = None
    """kubeadm: when the CA that signs it expires (renewing never outlives its CA)."""

    def __post_init__(self) -> None:
        if not isinstance(self.mechanism, RenewalMechanism):  # text from storage
            object.__setattr__(self, "mechanism", RenewalMechanism(self.mechanism))
        if not isinstance(self.status, RenewalStatus):
            object.__setattr__(self, "status", RenewalStatus(self.status))
