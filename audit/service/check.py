"""`check` (endpoints from outside, no SSH) and `inspect` (local files): the 2 AM use cases.

Each judges what it sees with the fleet's own diagnosis: the chain against Mozilla's roots
(and a --cafile), the certificate, chain, name, crypto and TLS rules.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from audit.analyze import (
    Evidence,
    analyze,
    chain_context,
    endpoint_context,
    served_cert_contexts,
)
from audit.certparse import parse_bytes
from audit.collect import kubeconfig
from audit.errors import ConfigError
from audit.model import (
    CertInfo,
    CertLocation,
    ChainVerdict,
    Finding,
    Host,
    HostOutcome,
    HostResult,
    Listener,
    LocationKind,
    ProbeStatus,
    TlsProbe,
    Unparseable,
)
from audit.probe import STARTTLS_PROTOCOLS, probe_tls
from audit.probe.handshake import direct_stream, probe_detecting
from audit.probe.starttls import by_name as starttls_by_name
from audit.probe.starttls import for_port as starttls_for_port
from audit.rules import BY_ID, REGISTRY
from audit.rules.base import CertContext, Scope, Settings, shell_quote
from audit.service.policy import DEFAULT_EXPIRY_WINDOWS, EXIT_FINDINGS, findings_status
from audit.service.x509text import X509Text, x509_text
from audit.trust import TrustStores, default_stores

DEFAULT_PORT = 443
NOT_CONNECTED = frozenset({ProbeStatus.REFUSED, ProbeStatus.TIMEOUT, ProbeStatus.UNREACHABLE})
"""Probe outcomes where nothing answered: coverage, not a handshake finding."""
HEALTHY_STATUSES = frozenset({ProbeStatus.TLS, ProbeStatus.CLIENT_CERT_REQUIRED})
"""Probe outcomes where TLS works (mutual TLS included); anything else exits non-zero."""


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """HOST[:PORT] as given, split and checked."""

    host: str
    """Name or IP literal (IPv6 without brackets)."""
    port: int
    is_ip: bool

    @property
    def label(self) -> str:
        """host:port, with brackets around an IPv6 literal (as openssl -connect wants)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _split_bracketed(text: str, raw: str) -> tuple[str, str | None]:
    end = raw.find("]")
    if end < 0:
        raise ConfigError(f"{text!r}: missing ']' after the IPv6 address")
    host, rest = raw[1:end], raw[end + 1 :]
    if rest and not rest.startswith(":"):
        raise ConfigError(f"{text!r}: expected [IPv6]:PORT")
    if not _is_ip(host) or ":" not in host:
        raise ConfigError(f"{text!r}: {host!r} in brackets is not an IPv6 address")
    return host, rest[1:] if rest else None


def parse_target(text: str) -> Target:
    """ "host", "host:port", "[v6]:port", "[v6]", a bare IPv6 literal, or https://host:port/."""
    raw = text.strip()
    if "://" in raw:
        scheme, _, rest = raw.partition("://")
        if scheme.lower() != "https":
            raise ConfigError(f"{text!r}: only https:// URLs are understood; give HOST[:PORT]")
        raw = rest.split("/", 1)[0].split("?", 1)[0]
    if not raw:
        raise ConfigError("empty HOST[:PORT]")
    port_text: str | None = None
    if raw.startswith("["):
        host, port_text = _split_bracketed(text, raw)
    elif raw.count(":") > 1:
        if not _is_ip(raw):
            raise ConfigError(
                f"{text!r}: not HOST:PORT; put an IPv6 address in brackets: [::1]:443"
            )
        host = raw
    else:
        host, sep, port_text_ = raw.partition(":")
        port_text = port_text_ if sep else None
    port = DEFAULT_PORT
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"{text!r}: port must be a number from 1 to 65535")
        port = int(port_text)
    if not host:
        raise ConfigError(f"{text!r}: missing host")
    if any(c.isspace() or ord(c) < 0x20 or c in "/\\@" for c in host):
        raise ConfigError(f"{text!r}: not a host name or address")
    return Target(host=host, port=port, is_ip=_is_ip(host))


def trust_stores(cafile: Path | None) -> TrustStores:
    """Mozilla's roots plus --cafile; ConfigError when the file is unusable."""
    if cafile is None:
        return default_stores()
    if not cafile.exists():
        raise ConfigError(f"--cafile {cafile}: no such file or directory")
    try:
        stores = default_stores(cafile=str(cafile))
    except OSError as exc:
        raise ConfigError(f"--cafile {cafile}: cannot read it ({exc.strerror or exc})") from None
    if not stores.cafile:
        raise ConfigError(f"--cafile {cafile}: contains no certificate")
    return stores


# --------------------------------------------------------------------------- check

STARTTLS_CHOICES = ("auto", "none", *STARTTLS_PROTOCOLS)
"""What --starttls accepts: auto (the port's protocol, else the server's greeting), none
(TLS at once), or a protocol."""


@dataclass(frozen=True)
class CheckSettings:
    """One endpoint to diagnose from the outside."""

    target: Target
    servername: str | None = None
    """SNI name to send and judge against; None: the host unless it is an IP address."""
    cafile: Path | None = None
    timeout: float = 5.0
    """Overall deadline of the probe, in seconds."""
    expiry_windows: tuple[int, ...] = DEFAULT_EXPIRY_WINDOWS
    starttls: str = "auto"
    """A name in STARTTLS_CHOICES."""

    @property
    def sni(self) -> str | None:
        if self.servername is not None:
            return self.servername
        return None if self.target.is_ip else self.target.host


@dataclass(frozen=True)
class CheckOutcome:
    """What one endpoint showed, judged."""

    target: Target
    sni: str | None
    probe: TlsProbe
    listener: Listener
    verdict: ChainVerdict | None
    findings: tuple[Finding, ...]
    now: datetime
    status: int
    """Exit status: 1 for findings at high or above, or when no TLS session could be had."""
    starttls: str | None = None
    """The STARTTLS protocol spoken before the handshake (None: TLS at once)."""
    starttls_reason: str = ""
    """Why that protocol: "--starttls", "port 25", "the server's greeting"."""

    @property
    def usable(self) -> bool:
        """A TLS session could be had (mutual TLS included)."""
        return self.probe.status in HEALTHY_STATUSES


def validate_check(settings: CheckSettings) -> TrustStores:
    """Refuse bad settings before anything is sent; returns the trust stores to use."""
    check_options(settings)
    return trust_stores(settings.cafile)


def check_options(settings: CheckSettings) -> None:
    """ConfigError for a bad --timeout, --servername or --starttls."""
    if not 0 < settings.timeout <= 600:
        raise ConfigError(f"--timeout {settings.timeout:g}: expected seconds between 0 and 600")
    sni = settings.sni
    if sni is not None and (not sni or any(c.isspace() or ord(c) < 0x20 for c in sni)):
        raise ConfigError(f"--servername {sni!r}: not a host name")
    if settings.starttls not in STARTTLS_CHOICES:
        raise ConfigError(
            f"--starttls {settings.starttls!r}: expected one of {', '.join(STARTTLS_CHOICES)}"
        )


def check_endpoint(settings: CheckSettings) -> CheckOutcome:
    """Probe one endpoint without trusting anything, then diagnose what it sent."""
    stores = validate_check(settings)
    probed = asyncio.run(probe_endpoint(settings, host=settings.target.label))
    return judge(settings, probed, stores, datetime.now(UTC))


@dataclass(frozen=True)
class Probed:
    """One endpoint's probe and the STARTTLS protocol it spoke."""

    probe: TlsProbe
    starttls: str | None
    reason: str


async def probe_endpoint(settings: CheckSettings, *, host: str) -> Probed:
    """The probe, with the STARTTLS protocol --starttls asks for; in "auto" mode the
    port's usual protocol, else (on other ports) the one the server's greeting names."""
    tgt, mode, sni = settings.target, settings.starttls, settings.sni
    stream = direct_stream(tgt.host, tgt.port)
    protocol: str | None = None
    reason = ""
    if mode == "auto":
        usual = starttls_for_port(tgt.port)
        if usual is None:
            probe, found = await probe_detecting(
                stream,
                host=host,
                address=tgt.host,
                port=tgt.port,
                servername=sni,
                deadline=settings.timeout,
            )
            return Probed(probe, found, "the server's greeting" if found else "")
        protocol, reason = usual.name, f"port {tgt.port}"
    elif mode != "none":
        protocol, reason = mode, "--starttls"
    probe = await probe_tls(
        stream,
        host=host,
        address=tgt.host,
        port=tgt.port,
        servername=sni,
        deadline=settings.timeout,
        starttls=protocol,
    )
    return Probed(probe, protocol, reason)


def judge(
    settings: CheckSettings, probed: Probed, stores: TrustStores, now: datetime
) -> CheckOutcome:
    """The diagnosis of one probed endpoint."""
    tgt, sni, probe = settings.target, settings.sni, probed.probe
    listener = Listener(
        host=probe.host,
        address=tgt.host,
        port=tgt.port,
        expects_tls=True,
        probes=(probe,),
        starttls=probed.starttls,
        notes=(f"STARTTLS {probed.starttls}: {probed.reason}",) if probed.starttls else (),
    )
    endpoint = endpoint_context(probe, stores=stores, now=now, listener=listener, expected_name=sni)
    evidence = Evidence(endpoints=[endpoint], extra_certs=served_cert_contexts([endpoint]))
    findings = analyze(evidence, Settings(now=now, expiry_windows=settings.expiry_windows))
    if probe.status in NOT_CONNECTED and not findings:
        findings = _unreached_finding(probe, tgt, now)
    if probed.starttls:
        findings = [_with_starttls(f, probe, probed.starttls) for f in findings]
    status = findings_status(findings)
    if probe.status not in HEALTHY_STATUSES:
        status = max(status, EXIT_FINDINGS)
    return CheckOutcome(
        tgt,
        sni,
        probe,
        listener,
        endpoint.verdict,
        tuple(findings),
        now,
        status,
        probed.starttls,
        probed.reason,
    )


_STARTTLS_FIXES = {
    "smtp": "Postfix: smtpd_tls_cert_file, smtpd_tls_key_file and smtpd_tls_security_level "
    "= may in main.cf; Exim: tls_certificate and tls_privatekey",
    "imap": "Dovecot: ssl = yes with ssl_cert = <FILE and ssl_key = <FILE",
    "pop3": "Dovecot: ssl = yes with ssl_cert = <FILE and ssl_key = <FILE",
    "ftp": "vsftpd: ssl_enable=YES with rsa_cert_file and rsa_private_key_file; ProFTPD: "
    "TLSEngine on with TLSRSACertificateFile",
    "postgres": "postgresql.conf: ssl = on with ssl_cert_file and ssl_key_file",
    "ldap": "OpenLDAP: olcTLSCertificateFile and olcTLSCertificateKeyFile in cn=config",
    "xmpp": "Prosody: a certificate for the domain in its certs folder; ejabberd: "
    "starttls: true with certfiles",
    "mysql": "[mysqld] ssl_cert and ssl_key (MariaDB: also ssl on older versions)",
}
"""Where each kind of server turns STARTTLS on."""


def _with_starttls(f: Finding, probe: TlsProbe, protocol: str) -> Finding:
    """A finding on a STARTTLS endpoint: its openssl commands speak the protocol first,
    and a server that did not upgrade is said to be that, not a plaintext TLS port."""
    host = probe.servername or probe.address
    xmpp = f" -xmpphost {shell_quote(host)}" if protocol == "xmpp" else ""
    upgrade = f"openssl s_client -starttls {protocol}{xmpp} -connect "
    diagnose = f.diagnose.replace("openssl s_client -connect ", upgrade)
    if f.id != "TLS_NOT_SPOKEN" or probe.status is not ProbeStatus.PLAINTEXT:
        return replace(f, diagnose=diagnose)
    cls = starttls_by_name(protocol)
    label = cls.label if cls is not None else protocol
    sni = f" (SNI {probe.servername})" if probe.servername else ""
    return replace(
        f,
        diagnose=diagnose,
        detail=(
            f"{probe.address}:{probe.port}{sni} did not upgrade the connection to TLS with "
            f"{label} STARTTLS: {probe.error}. Clients that insist on TLS cannot connect; "
            "the others send everything, passwords included, in plaintext."
        ),
        fix=(
            f"Turn STARTTLS on in the {label} server on port {probe.port}, with its "
            f"certificate and key ({_STARTTLS_FIXES.get(protocol, 'see its TLS settings')}), "
            "and reload it."
        ),
    )


def _unreached_finding(probe: TlsProbe, target: Target, now: datetime) -> list[Finding]:
    """HOST_UNREACHABLE for an endpoint where nothing answered (refused, timeout, no route).

    The tls rules leave these to coverage; for `check` the endpoint is the host, so the
    coverage finding is raised with a TLS command and fix instead of the SSH ones.
    """
    rule = BY_ID["HOST_UNREACHABLE"]
    result = HostResult(
        host=Host(name=target.label, address=target.host, port=target.port),
        outcome=HostOutcome.UNREACHABLE,
        detail=f"{probe.status.value}: {probe.error}",
    )
    found = analyze(Evidence(hosts=[result]), Settings(now=now), rules=[rule])
    connect = shell_quote(target.label)
    sni = f" -servername {shell_quote(probe.servername)}" if probe.servername else ""
    return [
        replace(
            f,
            subject=f"listener {target.port}",
            diagnose=f"openssl s_client -connect {connect}{sni} </dev/null",
            fix=(
                f"Check that something listens on {target.label} (ss -tlnp on the host), that "
                "no firewall drops the connection, and that the name resolves to the right "
                "address (dig)."
            ),
        )
        for f in found
    ]


# --------------------------------------------------------------------------- inspect


@dataclass(frozen=True)
class InspectSettings:
    """Local certificate files or bundles to diagnose."""

    files: tuple[Path, ...]
    cafile: Path | None = None
    servername: str | None = None
    """Judge the leaf certificates against this name."""
    expiry_windows: tuple[int, ...] = DEFAULT_EXPIRY_WINDOWS


@dataclass(frozen=True)
class InspectedFile:
    """One file as read."""

    path: str
    certs: tuple[tuple[int, str, CertInfo], ...]
    """(index, format, certificate) for every block that parsed."""
    unparseable: tuple[Unparseable, ...]
    """Certificates that are broken."""
    not_certificates: tuple[str, ...] = ()
    """What else the file is, named: "a PKCS#12 keystore", "a private key"..."""


@dataclass(frozen=True)
class InspectOutcome:
    files: tuple[InspectedFile, ...]
    verdicts: dict[str, ChainVerdict]
    """Per file judged as a chain: the verdict."""
    findings: tuple[Finding, ...]
    now: datetime
    status: int
    details: dict[str, X509Text] = field(default_factory=dict)
    """Per certificate SHA-256: SANs, validity, key usages, AIA and CRL URLs, fingerprint."""


def read_files(paths: Sequence[Path]) -> list[InspectedFile]:
    """Every file parsed; ConfigError for one that cannot be read at all."""
    out = []
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory; give certificate files") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        items = kubeconfig.certificates(data) or parse_bytes(data)
        certs = tuple((i.index, i.format, i.cert) for i in items if i.cert is not None)
        broken = [i for i in items if i.cert is None]
        bad = tuple(
            Unparseable(host="", path=str(path), reason=i.error or "does not parse", index=i.index)
            for i in broken
            if i.reason is None or i.reason.is_certificate_problem
        )
        others = tuple(
            i.error or "" for i in broken if i.reason and not i.reason.is_certificate_problem
        )
        out.append(InspectedFile(str(path), certs, bad, others))
    return out


def inspect_files(settings: InspectSettings) -> InspectOutcome:
    """Each file judged as a bundle on its own ("this fullchain.pem lacks its
    intermediate"); CA certificates from the other files given tell an incomplete chain
    from an untrusted one. Files holding only CA certificates are not chains."""
    read = read_files(settings.files)
    stores = trust_stores(settings.cafile)
    if not any(f.certs or f.unparseable for f in read):
        named = [
            f"{f.path} ({'; '.join(f.not_certificates)})" if f.not_certificates else f.path
            for f in read
        ]
        raise ConfigError("no certificate found in " + ", ".join(named))
    now = datetime.now(UTC)
    cert_ctxs = [
        CertContext(
            cert=cert,
            location=CertLocation(
                host="", path=f.path, kind=LocationKind.FILE, index=index, format=fmt
            ),
        )
        for f in read
        for index, fmt, cert in f.certs
    ]
    cas = [cert for f in read for _, _, cert in f.certs if cert.is_ca]
    chains = []
    for f in read:
        certs = [cert for _, _, cert in f.certs]
        if not certs or all(c.is_ca for c in certs):
            continue
        own = {c.sha256 for c in certs}
        chains.append(
            chain_context(
                certs,
                path=f.path,
                stores=stores,
                now=now,
                expected_name=settings.servername,
                intermediates=[c for c in cas if c.sha256 not in own],
            )
        )
    # Unparseable blocks reach CERT_UNPARSEABLE (a host-scope rule) through an envelope
    # for "this machine"; only that host rule runs, so no SSH/host finding can appear.
    local = HostResult(
        host=Host(name="", address="localhost"),
        outcome=HostOutcome.OK,
        unparseable=tuple(u for f in read for u in f.unparseable),
    )
    rules = [r for r in REGISTRY if r.scope is not Scope.HOST or r.id == "CERT_UNPARSEABLE"]
    evidence = Evidence(hosts=[local], extra_certs=cert_ctxs, chains=chains)
    settings_ = Settings(now=now, expiry_windows=settings.expiry_windows)
    findings = analyze(evidence, settings_, rules=rules)
    verdicts = {c.where: c.verdict for c in chains}
    details = {cert.sha256: x509_text(cert) for f in read for _, _, cert in f.certs}
    return InspectOutcome(
        tuple(read), verdicts, tuple(findings), now, findings_status(findings), details
    )
