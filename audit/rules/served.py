"""Served-versus-stored family: what a listener serves against what its configuration
names on disk.

Scope: one host (HostContext), because both sides are needed: the listeners with their
probes, the server blocks read from configuration (model.TlsConfig, whose key digest was
derived on the host), and the certificates collected from files.

- CERT_NOT_RELOADED: a listener serves an older certificate than the file its configuration
  names, for the same names: renewed on disk, but the service was never reloaded. Where no
  configuration maps the listener, a deployed file with an overlapping name set and a later
  notBefore stands in (the detail says which way it was matched).
- KEY_MISMATCH: the certificate a configuration names and the key named beside it do not
  belong together: the SHA-256 of the public key openssl derived from the key on the host
  differs from the certificate's SubjectPublicKeyInfo digest. The key never left the host.
"""

from __future__ import annotations

from collections.abc import Iterable

from audit.model import (
    CertInfo,
    HostResult,
    LocationKind,
    ProbeStatus,
    Severity,
    TlsConfig,
    config_for_probe,
)
from audit.rules.base import (
    Hit,
    HostContext,
    Scope,
    Settings,
    connect_address,
    file_line,
    rule,
    shell_quote,
)
from audit.rules.chain import CERT_DIRECTIVE, RELOAD

_KEY_DIRECTIVE = {
    "nginx": "ssl_certificate_key",
    "apache": "SSLCertificateKeyFile",
    "haproxy": "crt",
}


def _server_file(kind: LocationKind) -> bool:
    """A deployed certificate file a TLS server could load (a kubeconfig's client
    certificate is deployed, but no web server serves it)."""
    return kind.deployed and kind is not LocationKind.KUBECONFIG


def _stored(result: HostResult) -> dict[str, CertInfo]:
    """The first certificate of every file on the host, by path (links included)."""
    out: dict[str, CertInfo] = {}
    for f in result.certificates:
        if f.location.index == 0 and f.location.kind is not LocationKind.LISTENER:
            out.setdefault(f.location.path, f.cert)
    return out


def _names(cert: CertInfo) -> set[str]:
    names = {n.lower().rstrip(".") for n in (*cert.dns_names, *cert.ip_addresses)}
    if not names and cert.common_name:
        names.add(cert.common_name.lower())
    return names


def _by_names(result: HostResult, served: CertInfo) -> tuple[str, CertInfo] | None:
    """The newest deployed file certificate for (some of) the same names, if newer."""
    best: tuple[str, CertInfo] | None = None
    for f in result.certificates:
        cert = f.cert
        if not _server_file(f.location.kind) or f.location.index != 0 or cert.is_ca:
            continue
        if cert.sha256 == served.sha256 or not _names(cert) & _names(served):
            continue
        if cert.not_before <= served.not_before:
            continue
        if best is None or cert.not_before > best[1].not_before:
            best = (f.location.path, cert)
    return best


def _when(cert: CertInfo) -> str:
    return (
        f"valid {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}, "
        f"sha256 {cert.sha256[:16]}..."
    )


@rule(
    "CERT_NOT_RELOADED",
    family="served",
    title="Listener serves an older certificate than the one on disk",
    severity=Severity.HIGH,
    scope=Scope.HOST,
    diagnose=(
        "echo | openssl s_client -connect {address}:{port} -servername {servername} 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256 -startdate; "
        "openssl x509 -noout -fingerprint -sha256 -startdate -in {cert_file}"
    ),
    fix=(
        "Reload the service so it reads {cert_file} again ({reload}); if a renewal hook "
        "should have done it (certbot --deploy-hook, cert-manager, a cron job), fix that hook "
        "so the next renewal does not leave the old certificate in service."
    ),
)
def cert_not_reloaded(ctx: HostContext, settings: Settings) -> Iterable[Hit]:
    result = ctx.result
    if not result.outcome.audited:
        return
    stored = _stored(result)
    seen: set[tuple[int, str]] = set()
    for listener in result.listeners:
        for probe in listener.probes:
            if probe.status not in (ProbeStatus.TLS, ProbeStatus.CLIENT_CERT_REQUIRED):
                continue
            if not probe.chain or (listener.port, probe.chain[0].sha256) in seen:
                continue
            served = probe.chain[0]
            config = config_for_probe(result.tls_configs, listener, probe)
            server = (config.server if config is not None else listener.server) or ""
            cert_file = config.cert_file if config is not None else listener.cert_file
            if cert_file and cert_file in stored:
                path, newer = cert_file, stored[cert_file]
                at_file, at_line = (
                    (config.cert_config_file, config.cert_config_line)
                    if config is not None
                    else (listener.config_file, listener.config_line)
                )
                directive = CERT_DIRECTIVE.get(server, "its configuration")
                how = f"the file `{directive}` names in {at_file} line {at_line}"
            else:
                found = _by_names(result, served)
                if found is None:
                    continue
                path, newer = found
                how = "a deployed file for the same names (no configuration maps this listener)"
            if newer.sha256 == served.sha256 or newer.not_before <= served.not_before:
                continue
            if not _names(newer) & _names(served):
                continue
            seen.add((listener.port, served.sha256))
            sni = f" ({probe.servername})" if probe.servername else ""
            yield Hit(
                subject=f"listener {listener.port}{sni}",
                detail=(
                    f"{probe.address}:{listener.port}{sni} serves {served.subject} "
                    f"({_when(served)}), but {how}, {path}, now holds {newer.subject} "
                    f"({_when(newer)}): the certificate was renewed on disk and the service "
                    "still serves the old one from memory."
                ),
                values={
                    "address": connect_address(probe.address),
                    "port": str(listener.port),
                    "servername": shell_quote(probe.servername or probe.address),
                    "cert_file": shell_quote(path),
                    "reload": RELOAD.get(server, "restart or reload the service that serves it"),
                },
                cert_sha256=served.sha256,
            )


def _key_pairs(result: HostResult) -> Iterable[TlsConfig]:
    seen: set[tuple[str, str]] = set()
    for c in result.tls_configs:
        if c.key_check != "ok" or not c.key_sha256 or not c.cert_file or not c.key_file:
            continue
        if (c.cert_file, c.key_file) in seen:
            continue
        seen.add((c.cert_file, c.key_file))
        yield c


@rule(
    "KEY_MISMATCH",
    family="served",
    title="Configured certificate and key do not belong together",
    severity=Severity.HIGH,
    scope=Scope.HOST,
    diagnose=(
        "openssl x509 -noout -pubkey -in {cert_file} | openssl sha256; "
        "openssl pkey -pubout -in {key_file} | openssl sha256"
    ),
    fix=(
        "Point {key_directive} in {key_where} at the key this certificate was issued for (or "
        "deploy the certificate issued for this key), check with {check} and reload; until "
        "then the next reload or restart of {server} fails with 'key values mismatch'."
    ),
)
def key_mismatch(ctx: HostContext, settings: Settings) -> Iterable[Hit]:
    result = ctx.result
    if not result.outcome.audited:
        return
    stored = _stored(result)
    for c in _key_pairs(result):
        assert c.cert_file is not None and c.key_file is not None
        cert = stored.get(c.cert_file)
        if cert is None or not cert.public_key_sha256 or cert.public_key_sha256 == c.key_sha256:
            continue
        key_where = file_line(c.key_config_file or c.file, c.key_config_line)
        ports = sorted({x.port for x in c.listens if x.tls}) or sorted({x.port for x in c.listens})
        serving = ", ".join(str(p) for p in ports) or "no port"
        yield Hit(
            subject=c.cert_file,
            detail=(
                f"{c.server} configuration {c.file} line {c.line} (port {serving}) pairs "
                f"{c.cert_file} ({cert.subject}) with {c.key_file}, but the public key "
                f"derived from that key on the host (sha256 {c.key_sha256[:16]}...) is not "
                f"the certificate's (sha256 {cert.public_key_sha256[:16]}...). A running "
                "server keeps the pair it loaded earlier; the next reload will fail."
            ),
            values={
                "cert_file": shell_quote(c.cert_file),
                "key_file": shell_quote(c.key_file),
                "key_directive": _KEY_DIRECTIVE.get(c.server, "the key directive"),
                "key_where": key_where,
                "check": RELOAD.get(c.server, "the server's configuration test").split(" && ")[0],
                "server": shell_quote(c.server),
            },
            cert_sha256=cert.sha256,
        )


RULES = (cert_not_reloaded, key_mismatch)
