"""Which listeners to probe, how, and with which names. Pure: no I/O.

A host's listening sockets (discovery.py) are merged per service, matched with the web
server configuration that names their certificate (model.TlsConfig), and given:

* `expects_tls`: a well-known TLS port, a port the configuration turns TLS on for, or one
  the inventory lists in certaudit_tls_ports. Only there is a plaintext answer a finding,
  so SSH or Redis ports raise nothing.
* SNI names, at most `max_names`: the inventory's certaudit_tls_names, the configuration's
  server names for the port, the SANs of the certificate it names ("declared": a served
  certificate must cover them), else names from certificates found on the host (exploring
  only, never a HOSTNAME_MISMATCH).
* a STARTTLS protocol on the usual ports of SMTP, IMAP, POP3, FTP, PostgreSQL, LDAP, XMPP
  and MySQL (those ports expect TLS only when the inventory lists them: a mail relay
  without STARTTLS on 25 is a choice, not TLS_NOT_SPOKEN).
* where to connect: through the host's SSH connection (direct-tcpip reaches loopback-only
  and firewalled ports with nothing installed on the host), and from the runner when the
  listener is not loopback-only.

The probing itself lives in audit.probe (a later layer); it is handed to the SSH code as a
`Prober` so that collection never imports it.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from audit.collect.discovery import Socket
from audit.model import (
    CollectionIssue,
    FoundCert,
    Host,
    Listener,
    LocationKind,
    TlsConfig,
    configs_for,
    is_any_address,
)

WELL_KNOWN_TLS_PORTS = frozenset(
    {
        443,  # https
        465,  # smtps / submissions
        563,  # nntps
        636,  # ldaps
        853,  # dns over tls
        989,  # ftps-data
        990,  # ftps
        992,  # telnets
        993,  # imaps
        994,  # ircs
        995,  # pop3s
        2376,  # docker over tls
        2379,  # etcd client
        2380,  # etcd peer
        3269,  # ldap global catalog over tls
        5061,  # sips
        5671,  # amqps
        5986,  # winrm https
        6443,  # kubernetes api
        6514,  # syslog over tls
        6697,  # ircs
        8443,  # https-alt
        8883,  # mqtt over tls
        9443,  # https-alt
        10250,  # kubelet
        10257,  # kube-controller-manager
        10259,  # kube-scheduler
    }
)
"""Ports where a plaintext answer means TLS is missing (TLS_NOT_SPOKEN)."""

STARTTLS_PORTS: dict[int, str] = {
    25: "smtp",
    587: "smtp",
    143: "imap",
    110: "pop3",
    21: "ftp",
    5432: "postgres",
    389: "ldap",
    5222: "xmpp",
    3306: "mysql",
}
"""Ports probed with a plaintext preamble that upgrades the connection to TLS."""

MAX_NAMES = 4
"""SNI names tried per listener, at most."""


@dataclass(frozen=True)
class ListenerPlan:
    """How to probe one listener."""

    listener: Listener
    """What is known before probing (no probes yet)."""
    names: tuple[str | None, ...]
    """SNI names to try, in order; (None,) when there is none (no SNI sent)."""
    ssh_targets: tuple[str, ...]
    """Addresses to open through the SSH connection, in order of preference."""
    direct_target: str | None
    """Address to probe from the runner; None for a loopback-only listener."""

    @property
    def loopback_only(self) -> bool:
        return self.direct_target is None


@dataclass(frozen=True)
class ProbeReport:
    """What probing a host's listeners gave, as the SSH code stores it."""

    listeners: tuple[Listener, ...] = ()
    issues: tuple[CollectionIssue, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()


class ForwardingProhibited(Exception):
    """The host's sshd refuses direct-tcpip channels (AllowTcpForwarding no)."""


StreamPair = tuple[asyncio.StreamReader, asyncio.StreamWriter]
ChannelOpener = Callable[[str, int], Awaitable[StreamPair]]
"""(address, port) -> a connected (reader, writer) through the host's SSH connection.
Raises ForwardingProhibited when the server refuses forwarding, OSError-like errors when
the port refuses."""

Prober = Callable[
    [Host, Sequence[ListenerPlan], ChannelOpener | None, float], Awaitable[ProbeReport]
]
"""(host, plans, opener or None, seconds left) -> ProbeReport. Injected by the runner."""


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


@dataclass
class _Service:
    port: int
    addresses: list[str]
    process: str | None


def merge(sockets: Sequence[Socket]) -> list[_Service]:
    """One service per port and address class: the IPv4 and IPv6 wildcard sockets of a
    port are one listener, so are 127.0.0.1 and ::1; other addresses stay separate."""
    out: dict[tuple[int, str], _Service] = {}
    for s in sockets:
        if is_any_address(s.address):
            key = (s.port, "*")
        elif _is_loopback(s.address):
            key = (s.port, "lo")
        else:
            key = (s.port, s.address)
        svc = out.get(key)
        if svc is None:
            out[key] = _Service(s.port, [s.address], s.process)
        else:
            svc.addresses.append(s.address)
            svc.process = svc.process or s.process
    # a wildcard listener also covers loopback: drop a loopback entry on the same port
    for port, kind in list(out):
        if kind == "lo" and (port, "*") in out:
            del out[(port, kind)]
    return sorted(out.values(), key=lambda v: (v.port, v.addresses[0]))


def _listen_of(config: TlsConfig, port: int) -> tuple[bool, str, int]:
    for x in config.listens:
        if x.port == port:
            return x.tls, x.file, x.line
    return False, config.file, config.line


def _leaf_names(cert_file: str | None, certificates: Sequence[FoundCert]) -> list[str]:
    if not cert_file:
        return []
    for f in certificates:
        if f.location.path == cert_file and f.location.index == 0:
            return [n for n in f.cert.dns_names if "*" not in n]
    return []


def _host_names(certificates: Sequence[FoundCert]) -> list[str]:
    """Names of leaf certificates deployed on the host, newest first (exploring only)."""
    leaves = [
        f.cert
        for f in certificates
        if f.location.kind is LocationKind.FILE and not f.cert.is_ca and f.location.index == 0
    ]
    leaves.sort(key=lambda c: c.not_before, reverse=True)
    names: list[str] = []
    for cert in leaves:
        names += [n.lower() for n in cert.dns_names if "*" not in n]
    return list(dict.fromkeys(names))


def plan_listeners(
    host: Host,
    sockets: Sequence[Socket],
    configs: Sequence[TlsConfig] = (),
    certificates: Sequence[FoundCert] = (),
    *,
    max_names: int = MAX_NAMES,
) -> list[ListenerPlan]:
    """One plan per listening service (see the module docstring)."""
    explore = _host_names(certificates)
    plans = []
    for svc in merge(sockets):
        shown = svc.addresses[0]
        matched = configs_for(configs, svc.port, shown)
        primary = matched[0] if matched else None
        tls_in_config = any(_listen_of(c, svc.port)[0] for c in matched)
        expects = svc.port in WELL_KNOWN_TLS_PORTS or svc.port in host.tls_ports or tls_in_config
        config_file = config_line = cert_file = None
        if primary is not None:
            tls, listen_file, listen_line = _listen_of(primary, svc.port)
            cert_file = primary.cert_file
            if tls and primary.cert_config_file:
                config_file, config_line = primary.cert_config_file, primary.cert_config_line
            else:  # TLS is off for this port: the listen line is what to change
                config_file, config_line = listen_file, listen_line
        declared: list[str] = [n.lower() for n in host.tls_names]
        for c in matched:
            declared += list(c.server_names)
        if primary is not None:
            declared += _leaf_names(primary.cert_file, certificates)
        declared = list(dict.fromkeys(declared))
        names: list[str | None] = list(declared[:max_names])
        if not names:
            names = list(explore[:max_names]) or [None]
        loopback = all(_is_loopback(a) for a in svc.addresses)
        if any(is_any_address(a) for a in svc.addresses):
            ssh_targets: tuple[str, ...] = ("127.0.0.1",)
            if all(a == "::" for a in svc.addresses):
                ssh_targets = ("127.0.0.1", "::1")  # a v6-only socket refuses 127.0.0.1
            direct: str | None = host.address
        elif loopback:
            ssh_targets = tuple(dict.fromkeys(svc.addresses))
            direct = None
        else:
            # The host says which address the socket is bound to; the runner connects
            # only to the host's inventory address, so a forged socket line cannot aim
            # the runner at another machine (a metadata service, an internal address).
            ssh_targets = (shown,)
            direct = host.address
        listener = Listener(
            host=host.name,
            address=shown,
            port=svc.port,
            process=svc.process,
            expects_tls=expects,
            config_file=config_file,
            config_line=config_line,
            cert_file=cert_file,
            server=primary.server if primary else None,
            server_names=tuple(declared),
            starttls=STARTTLS_PORTS.get(svc.port),
        )
        plans.append(ListenerPlan(listener, tuple(names), ssh_targets, direct))
    return plans
