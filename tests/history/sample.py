"""Runs to store: a host with every field of every type filled (awkward text included),
its findings, and a set of certificates to build them from."""

from __future__ import annotations

import datetime as dt

from audit.certparse import parse_bytes
from audit.history import History
from audit.model import (
    AuditResult,
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
from tests import pki

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 27, 17, 45, tzinfo=UTC)


def info(data: bytes) -> CertInfo:
    """The first certificate parse_bytes finds in `data`."""
    cert = parse_bytes(data)[0].cert
    assert cert is not None
    return cert


def make_pkiset() -> dict[str, CertInfo]:
    """Certificates by role (leaf, renewed leaf, other issuer, RSA, SHA-1, DER variants ...)."""
    h = pki.hierarchy(NOW, "History")
    other = pki.hierarchy(NOW, "Other")  # key_kind="rsa" trips over pki key_bits=256
    leaf = h.leaf("www.example.test", now=NOW, sans=["www.example.test", "10.0.0.7"])
    der = pki.issue("der.test", now=NOW).der
    return {
        "root": info(h.root.pem),
        "inter": info(h.intermediate.pem),
        "leaf": info(leaf.pem),
        "leaf_renewed": info(
            h.leaf("www.example.test", now=NOW + dt.timedelta(days=60),
                   sans=["10.0.0.7", "www.example.test"]).pem
        ),
        "leaf_other_issuer": info(
            other.leaf("www.example.test", now=NOW, sans=["www.example.test", "10.0.0.7"]).pem
        ),
        "leaf_rsa": info(
            h.leaf("www.example.test", now=NOW, sans=["www.example.test", "10.0.0.7"],
                   key_kind="rsa", key_bits=2048).pem
        ),
        "api": info(h.leaf("api.example.test", now=NOW, days_after=5, aia_url="http://ca.test/i").pem),
        "sha1": info(pki.issue("legacy", now=NOW, hash_name="sha1", sans=[]).pem),
        "der_trailing": info(der + b"\x00trailing"),  # same DER, one more warning
        "der_plain": info(der),
        "mail": info(h.leaf("mail.example.test", now=NOW).pem),
    }  # fmt: skip


def rich_host(c: dict[str, CertInfo], name: str = "web01.example.test") -> HostResult:
    """A host with every field of every type filled, including awkward text."""
    odd_path = "/etc/ssl/na\udcefve\n$(reboot).pem"  # surrogateescape'd bytes, newline
    host = Host(
        name=name,
        address="2001:db8::7",
        port=2222,
        user="auditor",
        key_file="~/.ssh/id_audit",
        become=True,
        groups=("web", "prod", "élan"),
        cert_paths=("/opt/app/tls", odd_path),
        tls_names=("www.example.test", "api.example.test"),
        tls_ports=(8443, 636),
        probe_direct=True,
        source="inventories/prod.ini:12",
    )
    served = TlsProbe(
        host=name,
        address="2001:db8::7",
        port=443,
        servername="www.example.test",
        status=ProbeStatus.TLS,
        via="ssh",
        protocol="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        alpn="h2",
        chain=(c["leaf"], c["inter"], c["der_trailing"]),
        elapsed_ms=12.345678901234,
    )
    mtls = TlsProbe(
        host=name,
        address="127.0.0.1",
        port=8443,
        servername=None,
        status=ProbeStatus.CLIENT_CERT_REQUIRED,
        acceptable_ca_names=("CN=Client CA", "O=\u202eevil"),
        chain=(c["api"],),
        error="certificate required",
        elapsed_ms=0.1 + 0.2,
    )
    failed = TlsProbe(
        host=name,
        address="127.0.0.1",
        port=25,
        servername="mail.example.test",
        status=ProbeStatus.PLAINTEXT,
        via="direct",
        error="220 mail ESMTP\x00\x1b[31m",
    )
    return HostResult(
        host=host,
        outcome=HostOutcome.PARTIAL,
        detail="stat timed out on /mnt/nfs",
        started_at=dt.datetime(2026, 11, 27, 17, 45, 1, 123456, tzinfo=UTC),
        finished_at=dt.datetime(2026, 11, 27, 17, 45, 9, tzinfo=UTC),
        certificates=(
            FoundCert(c["leaf"], CertLocation(name, "/etc/ssl/site.pem", "file", 0, "pem")),
            FoundCert(c["inter"], CertLocation(name, "/etc/ssl/site.pem", "file", 1, "pem")),
            FoundCert(c["leaf"], CertLocation(name, "/etc/nginx/dup.pem")),
            FoundCert(c["der_trailing"], CertLocation(name, "/etc/ssl/x.der", "file", 0, "der")),
            FoundCert(c["der_plain"], CertLocation(name, "/etc/ssl/y.der", "file", 0, "der")),
            FoundCert(c["sha1"], CertLocation(name, odd_path, "kubeconfig", 3, "pkcs7")),
            FoundCert(c["root"], CertLocation(name, "/etc/ssl/certs/ca.pem", "ca_bundle", 7)),
            FoundCert(
                c["leaf"],
                CertLocation(name, "listener:443", "listener", 0, "der", "www.example.test"),
            ),
        ),
        unparseable=(
            Unparseable(name, "/etc/ssl/broken.pem", "PEM body is not valid base64", 2),
            Unparseable(name, odd_path, "DER is truncated or malformed"),
        ),
        key_files=(
            KeyFile(name, "/etc/ssl/private/site.key", "root", "ssl-cert", 0o640, "pem-key"),
            KeyFile(name, "/etc/haproxy/site.pem", "haproxy", "haproxy", 0o600, "combined"),
        ),
        issues=tuple(
            CollectionIssue(name, f"/p/{reason.value}", reason, f"detail {i}")
            for i, reason in enumerate(IssueReason)
        ),
        ca_bundles=("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/cert.pem"),
        listeners=(
            Listener(
                host=name,
                address="0.0.0.0",
                port=443,
                process="nginx",
                expects_tls=True,
                probes=(served, mtls),
                config_file="/etc/nginx/sites-enabled/site",
                config_line=17,
                cert_file="/etc/ssl/site.pem",
                server="nginx",
                server_names=("www.example.test", "\u00e9lan.example.test"),
                legacy_protocol="TLSv1.1",
                notes=("probed directly: forwarding prohibited",),
            ),
            Listener(host=name, address="127.0.0.1", port=25, probes=(failed,), starttls="smtp"),
            Listener(host=name, address="[::]", port=22),
        ),
        tls_configs=(
            TlsConfig(
                host=name,
                server="nginx",
                file="/etc/nginx/sites-enabled/site",
                line=3,
                listens=(
                    ConfigListen("", 443, True, "/etc/nginx/sites-enabled/site", 4),
                    ConfigListen("[::]", 80, False, odd_path, 5),
                ),
                server_names=("www.example.test",),
                cert_file="/etc/ssl/site.pem",
                cert_config_file="/etc/nginx/snippets/tls.conf",
                cert_config_line=2,
                key_file="/etc/ssl/private/site.key",
                key_config_file="/etc/nginx/snippets/tls.conf",
                key_config_line=3,
                key_sha256="ab" * 32,
                key_check="ok",
            ),
            TlsConfig(
                host=name,
                server="apache",
                file="/etc/apache2/sites-enabled/default-ssl.conf",
                line=2,
                chain_file="/etc/ssl/chain.pem",
                key_check="no_openssl",
            ),
        ),
        bytes_received=123_456_789_012,
        facts=(("os", "Debian 12"), ("shell", "bash"), ("privilege", "sudo -n")),
    )


def rich_findings(c: dict[str, CertInfo], name: str = "web01.example.test") -> tuple[Finding, ...]:
    return (
        Finding(
            id="CERT_EXPIRING",
            severity=Severity.CRITICAL,
            host=name,
            subject="/etc/ssl/site.pem",
            title="Certificate expires soon",
            detail='=HYPERLINK("http://evil") <script>alert(1)</script>',
            diagnose="openssl x509 -noout -dates -in /etc/ssl/site.pem",
            fix="certbot renew",
            cert_sha256=c["leaf"].sha256,
            risk=0.1 + 0.2,
            why="served on 443, 3 places",
            days_left=-3.25,
        ),
        Finding(
            id="HOST_PARTIAL",
            severity=Severity.LOW,
            host=name,
            subject="collection: timeout",
            title="Collection was partial",
            detail="line\u2028separator",
            diagnose="",
            fix="",
        ),
        Finding(
            id="CERT_SHA1",
            severity=Severity.MEDIUM,
            host="",
            subject="local.pem",
            title="SHA-1 signature",
            detail="",
            diagnose="",
            fix="",
            cert_sha256=c["sha1"].sha256,
            risk=1e-300,
            days_left=0.0,
        ),
    )


def rich_result(run_id: str, c: dict[str, CertInfo]) -> AuditResult:
    unreachable = HostResult(
        host=Host("db01", "db01"),
        outcome=HostOutcome.UNREACHABLE,
        detail="connection refused",
    )
    never_finished = HostResult(
        host=Host("db02", "db02"),
        outcome=HostOutcome.FAILED,
        detail="run interrupted before this host finished",
        finished=False,
    )
    return AuditResult(
        run_id=run_id,
        started_at=NOW,
        finished_at=NOW + dt.timedelta(minutes=3, microseconds=250),
        inventory="inventories/prod.ini",
        hosts=(rich_host(c), unreachable, rich_host(c, "web02.example.test"), never_finished),
        findings=rich_findings(c),
    )


def store(h: History, result: AuditResult, *, finish: bool = True) -> str:
    run_id = h.begin_run(
        result.inventory, {"out": "reports", "workers": 8}, started_at=result.started_at
    )
    for host in result.hosts:
        h.record_host(run_id, host)
    h.record_findings(run_id, result.findings)
    if finish:
        h.finish_run(run_id, partial=result.partial, finished_at=result.finished_at)
    return run_id
