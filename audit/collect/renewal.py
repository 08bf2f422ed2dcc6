"""Renewal records of one host (remote.sh: SDPROP, UNIT, CRON, CBLIN, CBLOG, ACME, KUBELET,
KUBEADM, KREF) -> its renewal schedules and certbot lineages (what renews each
certificate: audit.collect.mechanism).

Schedules are judged as the host really runs them: a timer counts where systemd runs
(systemctl answered, or its runtime folder exists) and is enabled and active; without
systemd, a timer never fires. Debian's /etc/cron.d/certbot line tests for
/run/systemd/system and does nothing where systemd runs.

Contract: the handlers raise fields.Malformed on a record that does not follow the format
(parse.py leaves that record out).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from audit.collect import fields
from audit.collect.certbotlog import Outcome, outcomes
from audit.collect.discovery import US
from audit.collect.fields import Malformed, display, number, text
from audit.model import CertbotLineage, FoundCert, RenewalSchedule
from audit.text import inert

TIMERS = ("certbot.timer", "snap.certbot.renew.timer")
SERVICE_OF = {
    "certbot.timer": "certbot.service",
    "snap.certbot.renew.timer": "snap.certbot.renew.service",
}
_UNIT_STATES = (b"enabled", b"disabled", b"masked", b"absent")
_CLIENTS = (b"certbot", b"acme.sh", b"lego")
_ACME_CLIENTS = (b"acme.sh", b"lego", b"caddy")
_SYSTEMD_TIME = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC")
_PROP = re.compile(r"[A-Za-z]{1,40}")
_VALUE = re.compile(r"[\x20-\x7e]{0,200}")


@dataclass(frozen=True)
class CronLine:
    file: str
    line: int
    schedule: str
    user: str
    client: str
    state: str
    """"active" or "commented"."""
    guard: bool
    """Debian's guard: the line does nothing where systemd runs."""


@dataclass(frozen=True)
class LineageConf:
    config_dir: str
    conf: str
    cert: str
    fullchain: str
    archive: str
    authenticator: str
    server: str
    renew_before_expiry: str


@dataclass(frozen=True)
class AcmeMark:
    """Certificates another ACME client manages: under a folder (ending in /) or a file."""

    client: str
    source: str
    name: str
    paths: tuple[str, ...]
    next_renewal: datetime | None


@dataclass
class Records:
    """The renewal records of one host, as they arrived."""

    sdprops: dict[str, dict[str, str]] = field(default_factory=dict)
    units: dict[str, tuple[str, str, datetime | None]] = field(default_factory=dict)
    """Timer -> (unit file, state, last trigger from its stamp file)."""
    cron: list[CronLine] = field(default_factory=list)
    confs: list[LineageConf] = field(default_factory=list)
    log: list[tuple[int, str]] = field(default_factory=list)
    acme: list[AcmeMark] = field(default_factory=list)
    kubelet: list[tuple[str, str, bool]] = field(default_factory=list)
    kubeadm: list[tuple[str, str]] = field(default_factory=list)
    krefs: list[tuple[str, str, str]] = field(default_factory=list)
    """(kubeconfig, "ca" or "client", the file it names as given)."""


def _epoch(token: bytes) -> datetime | None:
    return None if token == b"-" else datetime.fromtimestamp(number(token), UTC)


def _sdprop(r: Records, f: list[bytes]) -> None:
    unit, key, value = (fields.unhex(t).decode("ascii") for t in f)
    if unit not in TIMERS and unit not in SERVICE_OF.values():
        raise Malformed("unit")
    if not _PROP.fullmatch(key) or not _VALUE.fullmatch(value):
        raise Malformed("property")
    r.sdprops.setdefault(unit, {})[key] = value


def _unit(r: Records, f: list[bytes]) -> None:
    name = fields.unhex(f[0]).decode("ascii")
    if name not in TIMERS:
        raise Malformed("unit")
    r.units[name] = (text(f[1]), fields.choice(f[2], _UNIT_STATES), _epoch(f[3]))


def _cron(r: Records, f: list[bytes]) -> None:
    schedule = fields.unhex(f[2]).decode("ascii")
    if not re.fullmatch(r"[0-9A-Za-z*/,@ -]{1,80}", schedule):
        raise Malformed("schedule")
    r.cron.append(
        CronLine(
            file=display(fields.path(f[0])),
            line=number(f[1]),
            schedule=schedule,
            user=fields.plain(f[3]),
            client=fields.choice(f[4], _CLIENTS),
            state=fields.choice(f[5], (b"active", b"commented")),
            guard=fields.choice(f[6], (b"nosystemd", b"-")) == "nosystemd",
        )
    )


def _cblin(r: Records, f: list[bytes]) -> None:
    conf = LineageConf(*(text(t) for t in f[:5]), *(fields.plain(t) for t in f[5:]))
    if not conf.conf.startswith("/") or not conf.config_dir.startswith("/"):
        raise Malformed("renewal configuration")
    r.confs.append(conf)


def _cblog(r: Records, f: list[bytes]) -> None:
    n = number(f[1])
    line = fields.unhex(f[2]).decode("utf-8", "replace")
    r.log.append((n, line[:600]))


def _acme(r: Records, f: list[bytes]) -> None:
    paths = tuple(p for p in fields.parts(f[3]).split(US) if p.startswith("/"))
    r.acme.append(
        AcmeMark(
            fields.choice(f[0], _ACME_CLIENTS), text(f[1]), fields.plain(f[2]), paths, _epoch(f[4])
        )
    )


def _kubelet(r: Records, f: list[bytes]) -> None:
    key = fields.unhex(f[1]).decode("ascii")
    if key not in ("rotateCertificates", "serverTLSBootstrap", "--rotate-certificates"):
        raise Malformed("kubelet key")
    r.kubelet.append((text(f[0]), key, fields.choice(f[2], (b"true", b"false")) == "true"))


def _kubeadm(r: Records, f: list[bytes]) -> None:
    kind = fields.choice(f[0], (b"json", b"table"))
    r.kubeadm.append((kind, fields.unhex(f[1]).decode("utf-8", "replace")))


def _kref(r: Records, f: list[bytes]) -> None:
    r.krefs.append(
        (display(fields.path(f[0])), fields.choice(f[1], (b"ca", b"client")), text(f[2]))
    )


FIELDS = {
    "SDPROP": 4,
    "UNIT": 5,
    "CRON": 9,
    "CBLIN": 9,
    "CBLOG": 4,
    "ACME": 6,
    "KUBELET": 4,
    "KUBEADM": 3,
    "KREF": 4,
}
"""Per tag, its fields and the final dot (as parse._FIELDS counts them)."""
HANDLERS: dict[str, Callable[[Records, list[bytes]], None]] = {
    "SDPROP": _sdprop,
    "UNIT": _unit,
    "CRON": _cron,
    "CBLIN": _cblin,
    "CBLOG": _cblog,
    "ACME": _acme,
    "KUBELET": _kubelet,
    "KUBEADM": _kubeadm,
    "KREF": _kref,
}


def archives(r: Records) -> list[str]:
    """The archive folders of the renewal configurations read (each ending in "/")."""
    return [c.archive.rstrip("/") + "/" for c in r.confs if c.archive.startswith("/")]


# --------------------------------------------------------------------------- schedules


def systemd_time(value: str) -> datetime | None:
    """A timestamp as `TZ=UTC systemctl show` prints it ("Thu 2024-05-16 12:00:03 UTC")."""
    m = _SYSTEMD_TIME.search(value)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _timer(host: str, r: Records, timer: str, systemd: bool) -> RenewalSchedule | None:
    props = r.sdprops.get(timer, {})
    service = r.sdprops.get(SERVICE_OF[timer], {})
    client = "certbot"
    if props and props.get("LoadState") not in ("not-found", None):
        state = props.get("UnitFileState", "") or "unknown"
        active = props.get("ActiveState", "")
        effective = active == "active" and state != "masked"
        result = service.get("Result", "")
        if effective:
            detail = f"{timer} is {state} and {active}"
        else:
            detail = f"{timer} is {state} and {active or 'not active'}: it will not fire"
        return RenewalSchedule(
            host=host,
            client=client,
            kind="systemd",
            name=timer,
            source="systemctl",
            state=state,
            active_state=active,
            last_trigger=systemd_time(props.get("LastTriggerUSec", "")),
            next_trigger=systemd_time(props.get("NextElapseUSecRealtime", "")),
            last_result=result,
            effective=effective,
            detail=detail + (f"; {SERVICE_OF[timer]} last result: {result}" if result else ""),
        )
    unit = r.units.get(timer)
    if unit is None or unit[1] == "absent":
        return None
    file, state, stamp = unit
    if state == "masked":
        detail = f"{timer} is masked ({file} links to /dev/null)"
    elif state == "disabled":
        detail = f"{timer} is disabled (no timers.target.wants link to it)"
    elif not systemd:
        detail = f"{timer} is enabled, but systemd does not run on this host: it never fires"
    else:
        detail = f"{timer} is enabled ({file})"
    return RenewalSchedule(
        host=host,
        client=client,
        kind="systemd",
        name=timer,
        source="files",
        state=state,
        last_trigger=stamp,
        effective=state == "enabled" and systemd,
        detail=detail,
    )


def _cron_schedule(host: str, c: CronLine, systemd: bool) -> RenewalSchedule:
    where = f"{c.file} line {c.line}"
    who = f" as {c.user}" if c.user not in ("", "-") else ""
    if c.state == "commented":
        state, effective, why = "commented", False, "commented out"
    elif c.guard and systemd:
        state, effective = "skipped when systemd runs", False
        why = "it tests for /run/systemd/system and does nothing where systemd runs, as here"
    else:
        state, effective, why = "active", True, f"runs {c.client} ({c.schedule}{who})"
    return RenewalSchedule(
        host=host,
        client=c.client,
        kind="cron",
        name=where,
        source="files",
        state=state,
        effective=effective,
        detail=f"cron {where}: {why}",
    )


def schedules(host: str, r: Records, systemd: bool) -> tuple[RenewalSchedule, ...]:
    """certbot's timers (as systemctl or the files say) and every cron line of a client."""
    out = [s for t in TIMERS if (s := _timer(host, r, t, systemd)) is not None]
    out += [_cron_schedule(host, c, systemd) for c in r.cron]
    return tuple(out)


# --------------------------------------------------------------------------- lineages


def _lineage(
    host: str, c: LineageConf, certs: Sequence[FoundCert], log: dict[str, Outcome]
) -> CertbotLineage:
    name = posixpath.basename(c.conf).removesuffix(".conf")
    live = posixpath.join(c.config_dir, "live", name)
    cert_path = c.cert if c.cert.startswith("/") else f"{live}/cert.pem"
    fullchain = c.fullchain if c.fullchain.startswith("/") else f"{live}/fullchain.pem"
    sha = next((f.cert.sha256 for f in certs if f.location.path == cert_path), "")
    if not sha:
        sha = next(
            (
                f.cert.sha256
                for f in certs
                if f.location.path == fullchain and f.location.index == 0
            ),
            "",
        )
    seen = log.get(name, Outcome())
    return CertbotLineage(
        host=host,
        name=inert(name),
        conf=c.conf,
        config_dir=c.config_dir,
        cert_path=cert_path,
        fullchain_path=fullchain,
        archive_dir=c.archive,
        authenticator=c.authenticator,
        server=c.server,
        renew_before_expiry=c.renew_before_expiry,
        cert_sha256=sha,
        last_attempt=seen.attempt,
        last_outcome=seen.outcome,
        last_error=seen.error,
    )


def lineages(host: str, r: Records, certs: Sequence[FoundCert]) -> tuple[CertbotLineage, ...]:
    """Every renewal configuration read, with the certificate its live/ files lead to and
    the last outcome certbot's log records for it."""
    names = {
        (c.fullchain or posixpath.join(c.config_dir, "live", _name(c), "fullchain.pem")): _name(c)
        for c in r.confs
    }
    log = outcomes(r.log, names)
    found: dict[str, CertbotLineage] = {}
    for c in r.confs:
        lineage = _lineage(host, c, certs, log)
        found.setdefault(lineage.conf, lineage)
    return tuple(found.values())


def _name(c: LineageConf) -> str:
    return posixpath.basename(c.conf).removesuffix(".conf")
