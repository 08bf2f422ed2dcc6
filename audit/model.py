"""Data shared by every layer: frozen dataclasses and enums, standard library only.

Data flows one way: inventory -> collect -> probe -> analyse -> store -> report.
Every layer reads and writes these types; none of them does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from audit.model_renewal import (  # the renewal types, re-exported: every layer imports here
    CertbotLineage,
    CertRenewal,
    RenewalMechanism,
    RenewalSchedule,
    RenewalStatus,
)

RENEWAL_TYPES = (CertbotLineage, CertRenewal, RenewalMechanism, RenewalSchedule, RenewalStatus)
"""Defined in audit/model_renewal.py (kept apart for this module's size)."""


class Severity(enum.StrEnum):
    """How bad a finding is on its own, before exposure and urgency."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: critical=4 ... info=0."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class HostOutcome(enum.StrEnum):
    """How the audit of one host ended. Every inventory host gets exactly one."""

    OK = "ok"
    PARTIAL = "partial"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    KEY_MISMATCH = "key_mismatch"
    KEY_UNKNOWN = "key_unknown"
    FAILED = "failed"
    INVENTORY_ERROR = "inventory_error"
    """The inventory defines the host in a way it cannot be contacted (a port that is not
    a number, a template): never contacted, and counted against coverage."""

    @property
    def audited(self) -> bool:
        """True when anything was collected from the host."""
        return self in (HostOutcome.OK, HostOutcome.PARTIAL)


@dataclass(frozen=True)
class Host:
    """One inventory host, with everything needed to reach and audit it."""

    name: str
    """Inventory name (what the operator calls it)."""
    address: str
    """Where to connect: ansible_host, or the name itself."""
    port: int | None = None
    """SSH port; None lets ssh_config (or 22) decide."""
    user: str | None = None
    """SSH user; None lets ssh_config (or the local user) decide."""
    key_file: str | None = None
    """ansible_ssh_private_key_file, if given."""
    become: bool = False
    """Run the collection through `sudo -n`."""
    groups: tuple[str, ...] = ()
    """Groups the host belongs to, in inventory order."""
    cert_paths: tuple[str, ...] = ()
    """Extra certificate paths from certaudit_cert_paths."""
    tls_names: tuple[str, ...] = ()
    """Names to send as SNI from certaudit_tls_names."""
    tls_ports: tuple[int, ...] = ()
    """Ports that must speak TLS, from certaudit_tls_ports."""
    probe_direct: bool = False
    """certaudit_probe_direct: also probe listeners straight from the runner."""
    source: str = ""
    """Where the host was defined, as "file:line"."""


@dataclass(frozen=True)
class CertInfo:
    """One parsed X.509 certificate. Identity is its SHA-256 over DER."""

    sha256: str
    """Lower-case hex SHA-256 of the DER encoding."""
    der: bytes = field(repr=False)
    """The certificate itself (public data)."""
    subject: str
    """RFC 4514 subject."""
    issuer: str
    """RFC 4514 issuer."""
    common_name: str | None
    """First subject CN, if any."""
    serial: str
    """Serial number as hex (may be "-1f" for a negative serial)."""
    not_before: datetime
    """Start of validity, UTC, timezone-aware."""
    not_after: datetime
    """End of validity, UTC, timezone-aware."""
    dns_names: tuple[str, ...]
    """SAN dNSName entries."""
    ip_addresses: tuple[str, ...]
    """SAN iPAddress entries."""
    has_san_extension: bool
    """Whether the subjectAltName extension is present at all."""
    key_type: str
    """"RSA", "EC", "Ed25519", "Ed448", "DSA" or "unknown"."""
    key_bits: int
    """Key size in bits (curve size for EC)."""
    signature_algorithm: str
    """Dotted name such as "sha256WithRSAEncryption" (or the OID)."""
    signature_hash: str | None
    """Hash of the signature ("sha256", "sha1", "md5"); None for Ed25519 etc."""
    is_ca: bool
    """basicConstraints CA=true."""
    self_issued: bool
    """Subject equals issuer."""
    self_signed: bool
    """Self-issued and the signature verifies with its own key."""
    subject_key_id: str | None = None
    """Subject Key Identifier as hex."""
    authority_key_id: str | None = None
    """Authority Key Identifier (keyIdentifier) as hex."""
    aia_ca_issuers: tuple[str, ...] = ()
    """AIA caIssuers URLs."""
    public_key_sha256: str = ""
    """SHA-256 of the SubjectPublicKeyInfo DER (ties certs to keys without keys)."""
    warnings: tuple[str, ...] = ()
    """Oddities that did not stop parsing (bad extension, notBefore after notAfter...)."""


class LocationKind(enum.StrEnum):
    """Where a certificate was found. Stable: reports and the history key on it."""

    FILE = "file"
    """A certificate file on a host (or given to `inspect`)."""
    LISTENER = "listener"
    """Served by a TLS listener (path "address:port")."""
    KUBECONFIG = "kubeconfig"
    """Embedded in a kubeconfig (`client-certificate-data`, `certificate-authority-data`)."""
    CA_BUNDLE = "ca_bundle"
    """A CA certificate of the host's system trust store."""
    ARCHIVE = "archive"
    """An older generation kept in certbot's archive/, not linked from live/."""

    @property
    def deployed(self) -> bool:
        """A certificate something uses: not a trust-store root, not an archived copy.
        Counts, timelines, metrics and diffs cover deployed certificates only."""
        return self not in (LocationKind.CA_BUNDLE, LocationKind.ARCHIVE)


@dataclass(frozen=True)
class CertLocation:
    """One place a certificate was found."""

    host: str
    """Inventory host name ("" for local files given to `inspect`)."""
    path: str
    """File path, or "listener:PORT" for a served certificate."""
    kind: LocationKind = LocationKind.FILE
    index: int = 0
    """Position inside the bundle or served chain (0 = first)."""
    format: str = "pem"
    """"pem", "der", "pkcs7"."""
    servername: str | None = None
    """SNI name for a listener location."""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, LocationKind):  # text from storage or a caller
            object.__setattr__(self, "kind", LocationKind(self.kind))


@dataclass(frozen=True)
class Unparseable:
    """A file that looks like a certificate but does not parse."""

    host: str
    path: str
    reason: str
    index: int = 0


@dataclass(frozen=True)
class KeyFile:
    """A private-key file, recorded by metadata only. Its bytes never leave the host."""

    host: str
    path: str
    owner: str
    group: str
    mode: int
    """Permission bits, e.g. 0o644."""
    kind: str = "key"
    """What marked it as a key: "pem-key", "der-key", "pkcs12", "keystore", "combined"."""

    @property
    def exposed(self) -> bool:
        """Readable by group or others."""
        return bool(self.mode & 0o044)


class IssueReason(enum.StrEnum):
    """Fixed reason codes for partial collection; stable, they end up in reports."""

    PERMISSION_DENIED = "permission_denied"
    TOO_LARGE = "too_large"
    TOO_MANY_FILES = "too_many_files"
    TIMEOUT = "timeout"
    TRUNCATED = "truncated"
    READ_ERROR = "read_error"
    PRIVILEGE_UNAVAILABLE = "privilege_unavailable"
    UNSUPPORTED = "unsupported"
    OUTPUT_CAP = "output_cap"


@dataclass(frozen=True)
class CollectionIssue:
    """Something that could not be read on a host."""

    host: str
    path: str
    reason: IssueReason
    detail: str = ""


@dataclass(frozen=True)
class FoundCert:
    """A certificate as it was found at one location."""

    cert: CertInfo
    location: CertLocation


@dataclass(frozen=True)
class HostResult:
    """The envelope for one host: an outcome, never an exception."""

    host: Host
    outcome: HostOutcome
    detail: str = ""
    """Human reason for the outcome (the SSH error, the deadline...)."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    certificates: tuple[FoundCert, ...] = ()
    unparseable: tuple[Unparseable, ...] = ()
    key_files: tuple[KeyFile, ...] = ()
    issues: tuple[CollectionIssue, ...] = ()
    ca_bundles: tuple[str, ...] = ()
    """Paths of system CA bundles present on the host."""
    listeners: tuple[Listener, ...] = ()
    """Listening TCP sockets, each with what probing it found."""
    tls_configs: tuple[TlsConfig, ...] = ()
    """TLS server blocks read from nginx, Apache and HAProxy configuration on the host."""
    bytes_received: int = 0
    facts: tuple[tuple[str, str], ...] = ()
    """Small key/value facts reported by the remote script (os, shell, privilege)."""
    finished: bool = True
    """False for the placeholder a run stores for every host when it begins: a run that
    was killed still lists the host, and `run --resume` knows to audit it again."""
    renewal_schedules: tuple[RenewalSchedule, ...] = ()
    """certbot's timers and cron entries (and other ACME clients' cron entries)."""
    certbot_lineages: tuple[CertbotLineage, ...] = ()
    cert_renewals: tuple[CertRenewal, ...] = ()
    """Per deployed certificate of the host: what renews it (empty when the collection did
    not look, e.g. a run of an older version)."""


class ProbeStatus(enum.StrEnum):
    """How a TLS probe of one endpoint ended."""

    TLS = "tls"
    PLAINTEXT = "plaintext"
    CLIENT_CERT_REQUIRED = "client_cert_required"
    HANDSHAKE_FAILED = "handshake_failed"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    CLOSED = "closed"
    """Connection closed before any answer."""


class ProbeRoute(enum.StrEnum):
    """How a probe reached the listener."""

    DIRECT = "direct"
    """From the runner straight to the address."""
    SSH = "ssh"
    """Forwarded through the host's own SSH connection (direct-tcpip)."""


@dataclass(frozen=True)
class TlsProbe:
    """The result of one handshake against HOST:PORT with one SNI name."""

    host: str
    """Inventory host (or the target given to `check`)."""
    address: str
    port: int
    servername: str | None
    status: ProbeStatus
    via: ProbeRoute = ProbeRoute.DIRECT
    protocol: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    chain: tuple[CertInfo, ...] = ()
    """Certificates exactly as the server sent them, leaf first."""
    acceptable_ca_names: tuple[str, ...] = ()
    """CA names from a CertificateRequest, when the server asked for a client cert."""
    error: str = ""
    """The alert or library reason for a failure; what a plaintext peer answered."""
    elapsed_ms: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.via, ProbeRoute):  # text from storage or a caller
            object.__setattr__(self, "via", ProbeRoute(self.via))


class ChainStatus(enum.StrEnum):
    """What a chain's trust verdict concluded."""

    OK = "ok"
    """Verifies against a store in use."""
    INCOMPLETE = "incomplete"
    """Would verify with an intermediate that was not sent (or not bundled)."""
    UNTRUSTED = "untrusted"
    """Ends at a root no store in use trusts."""
    SELF_SIGNED = "self_signed"
    """The leaf is its own issuer."""
    OS_ONLY = "os_only"
    """Verifies against the host's own store but not Mozilla's."""
    INVALID = "invalid"
    """Reaches a store, but a certificate in it breaks a rule every strict client enforces
    (an issuer that is not a CA, path length, name constraints, EKU, an intermediate
    outside its validity, a leaf asserting CA:TRUE): clients refuse it."""
    OTHER = "other"
    """The verifier refused it for a reason that is not about trust."""
    NO_CHAIN = "no_chain"
    """No certificate was sent."""


@dataclass(frozen=True)
class ChainVerdict:
    """What trust.py concluded about a served or deployed chain. Computed outside the rules.

    `status` is about trust only: an expired leaf, a name mismatch, a weak key or a SHA-1
    signature never turn a chain "untrusted" or "incomplete" (those have their own rules).
    """

    status: ChainStatus
    detail: str = ""
    """What was concluded and why, with names (and the verifier's reason when it refused)."""
    store: str = ""
    """Which trust store answered, or would answer once completed ("mozilla", "host", "cafile")."""
    missing_issuer: str | None = None
    """Subject of the intermediate that would complete the chain, when known."""
    order_problem: str | None = None
    """Why the sent order is wrong, or which sent certificates are unrelated."""
    verified_chain: tuple[CertInfo, ...] = ()
    """The path that verified (leaf first, anchor last), or the path as far as it goes."""
    trusted_by: tuple[str, ...] = ()
    """Every store in use that the chain, as sent, reaches."""
    anchor: str | None = None
    """Subject of the root the chain ends at (trusted or not), when known."""
    completes_with: tuple[CertInfo, ...] = ()
    """Certificates (fleet-collected or given) that complete an incomplete chain."""
    strict_error: str = ""
    """What a strict verifier (web PKI policy, at `now`, for the server name) says; "" = passes."""
    cafile: str = ""
    """A PEM bundle of the relevant store, for `openssl ... -CAfile` in diagnose commands."""
    leaf: CertInfo | None = None
    """The end-entity certificate judged (the first one, unless a file puts a CA first)."""
    broken_rule: str = ""
    """Status invalid: the rule broken (a trust.refusals.Broken value, e.g. "not_a_ca")."""
    broken_cert: CertInfo | None = None
    """Status invalid: the certificate that breaks it (None when none could be named)."""
    broken_position: int | None = None
    """Status invalid: that certificate's position in the chain as sent (0 = the first);
    None when it was not sent (a root from the store)."""

    def __post_init__(self) -> None:
        if not isinstance(self.status, ChainStatus):
            object.__setattr__(self, "status", ChainStatus(self.status))


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket on a host, with what probing it found."""

    host: str
    address: str
    port: int
    process: str | None = None
    expects_tls: bool = False
    """Well-known TLS port, `listen ... ssl`, or certaudit_tls_ports."""
    probes: tuple[TlsProbe, ...] = ()
    config_file: str | None = None
    """The configuration file that names this listener's certificate (or its listen line)."""
    config_line: int | None = None
    """Line of the certificate directive in config_file (of the listen line when the
    configuration does not turn TLS on for the port)."""
    cert_file: str | None = None
    """The certificate file that configuration names."""
    server: str | None = None
    """Which server's configuration maps it: "nginx", "apache", "haproxy" (None: unmapped)."""
    server_names: tuple[str, ...] = ()
    """Names clients are declared to use here (certaudit_tls_names, server_name /
    ServerName, SANs of the configured certificate): a served certificate must cover them.
    Probes with other names (taken from certificates found on the host) only explore."""
    starttls: str | None = None
    """Plaintext preamble used before the handshake: "smtp", "imap", "pop3", "postgres"."""
    legacy_protocol: str | None = None
    """"TLSv1" or "TLSv1.1" when a handshake offering nothing newer succeeded."""
    notes: tuple[str, ...] = ()
    """How probing went where it matters (forwarding refused, legacy check unavailable...)."""


@dataclass(frozen=True)
class ConfigListen:
    """One address a configured server block listens on (nginx `listen`, Apache
    `<VirtualHost>`, HAProxy `bind`)."""

    address: str
    """"" or "*" for any address, else the address as written."""
    port: int
    tls: bool
    """The configuration turns TLS on for it (`listen ... ssl`, SSLEngine on, `bind ... ssl`)."""
    file: str
    line: int


@dataclass(frozen=True)
class TlsConfig:
    """A server block that serves (or names) TLS material, as read from configuration on
    the host. Files are only read there; nothing is run to obtain it."""

    host: str
    server: str
    """"nginx", "apache" or "haproxy"."""
    file: str
    """File where the block starts."""
    line: int
    listens: tuple[ConfigListen, ...] = ()
    server_names: tuple[str, ...] = ()
    """server_name / ServerName / ServerAlias entries usable as SNI (no wildcards or regexes)."""
    cert_file: str | None = None
    cert_config_file: str | None = None
    """Where the certificate directive is (an included snippet, or the http-level default)."""
    cert_config_line: int | None = None
    key_file: str | None = None
    key_config_file: str | None = None
    key_config_line: int | None = None
    chain_file: str | None = None
    """Apache SSLCertificateChainFile."""
    key_sha256: str = ""
    """SHA-256 of the public key derived from key_file, computed on the host (the key never
    leaves it); compare with CertInfo.public_key_sha256."""
    key_check: str = ""
    """How deriving it went: "ok", "no_openssl", "unreadable", "missing", "failed", or "" when
    no key is configured."""


def is_any_address(address: str) -> bool:
    """A wildcard bind address ("*", "0.0.0.0", "::", Apache's _default_, or none)."""
    return address in ("", "*", "0.0.0.0", "::", "_default_")


def configs_for(configs: Sequence[TlsConfig], port: int, address: str) -> list[TlsConfig]:
    """Configured server blocks that listen on this port (and address), TLS ones first."""
    hits = []
    for c in configs:
        for x in c.listens:
            if x.port != port:
                continue
            if is_any_address(x.address) or is_any_address(address):
                hits.append(c)
                break
            if x.address.strip("[]") == address:
                hits.append(c)
                break
    return sorted(hits, key=lambda c: not any(x.tls and x.port == port for x in c.listens))


def config_for_probe(
    configs: Sequence[TlsConfig], listener: Listener, probe: TlsProbe
) -> TlsConfig | None:
    """The server block that answers `probe`'s SNI name on this listener: the one naming
    it, else the first TLS block on the port (nginx's default server, roughly)."""
    matched = configs_for(configs, listener.port, listener.address)
    name = (probe.servername or "").lower()
    for c in matched:
        if name and name in c.server_names:
            return c
    return matched[0] if matched else None


@dataclass(frozen=True)
class Waiver:
    """A reviewed exception from a waivers file: findings with this ID that match every
    criterion given (hosts, cert_sha256, subject, path) are waived until `expires`."""

    id: str
    """The finding ID it waives (from the rule registry)."""
    reason: str
    owner: str
    expires: date
    """The last day it applies (UTC); from the next day on the finding counts again."""
    source: str
    """Where it is written, as "file:line"."""
    hosts: str | None = None
    """A host pattern in the `--limit` syntax."""
    cert_sha256: str | None = None
    subject: str | None = None
    """A glob matched against the certificate's subject (RFC 4514, or its CN) and the
    finding's subject."""
    path: str | None = None
    """A glob matched against the finding's subject and the certificate's paths on the host."""
    ticket: str | None = None


@dataclass(frozen=True)
class Finding:
    """One diagnosed problem. `id` is from the rule registry (docs/FINDINGS.md) and never
    changes meaning."""

    id: str
    severity: Severity
    host: str
    """Inventory host, or the endpoint for `check`, or "" for local files."""
    subject: str
    """What it is about: a path, "listener 443 (sni name)", a renewal unit..."""
    title: str
    detail: str
    diagnose: str
    """A command the operator can paste to see it for themselves."""
    fix: str
    cert_sha256: str | None = None
    risk: float = 0.0
    """Ranking score, higher first; filled by the analysis."""
    why: str = ""
    """Why it ranks where it does (one line)."""
    days_left: float | None = None
    """Days until notAfter where the finding is about validity."""
    waiver: Waiver | None = None
    """The waiver in force for it: it stays in every report, marked, but no longer counts
    towards the exit status or the alerting metrics."""


@dataclass(frozen=True)
class AuditResult:
    """A whole run: what every host gave and what the rules made of it."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    inventory: str
    hosts: tuple[HostResult, ...]
    findings: tuple[Finding, ...]
    partial: bool = False
    """True when the run was interrupted before every host ended."""
    waivers_expired: tuple[Waiver, ...] = ()
    """Waivers of the run's waivers file whose end date has passed (they waive nothing)."""
    waivers_stale: tuple[Waiver, ...] = ()
    """Waivers in force that matched no finding of the run."""
    waivers_file: str | None = None
    """The waivers file the run applied, if any."""
