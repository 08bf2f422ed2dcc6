"""Chain family: incomplete, untrusted, invalid, self-signed, OS-store-only, badly ordered
chains.

Scope: a chain with its trust verdict (ChainContext), either what a listener served or
what a bundle file holds. The verdict comes from trust.assess_chain; these rules only turn
it into findings with the case's names, the store involved and the commands to check it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from audit.model import CertInfo, ChainStatus, LocationKind, Severity
from audit.rules.base import (
    ChainContext,
    Hit,
    Scope,
    Settings,
    connect_address,
    file_line,
    render,
    rule,
    shell_quote,
    shell_words,
)
from audit.trust.refusals import Broken

FALLBACK_CAFILE = "/etc/ssl/certs/ca-certificates.crt"

SERVED_CHAIN = (
    "echo | openssl s_client -connect {address}:{port} -servername {servername} -showcerts "
    "-CAfile {cafile} 2>/dev/null | grep -E ' [0-9]+ s:|^ +i:|^Verify return'"
)
"""What a listener sends (subject/issuer per position) and what OpenSSL makes of it."""
FILE_VERIFY = "openssl verify -CAfile {cafile} -untrusted {path} {path}"
"""Verify the first certificate of a bundle with the rest of the bundle as intermediates."""
FILE_LIST = "openssl crl2pkcs7 -nocrl -certfile {path} | openssl pkcs7 -print_certs -noout"
"""Subject and issuer of every certificate in a bundle, in file order."""


def leaf_of(ctx: ChainContext) -> CertInfo:
    """The end-entity certificate of the chain (trust.py picks it)."""
    return ctx.verdict.leaf or ctx.chain[0]


def subject_of(ctx: ChainContext) -> str:
    """ "listener 443 (name)" for a served chain, the path for a file."""
    if ctx.kind is LocationKind.LISTENER and ctx.probe is not None:
        name = ctx.probe.servername
        return f"listener {ctx.probe.port}" + (f" ({name})" if name else "")
    return ctx.where


def where_text(ctx: ChainContext) -> str:
    """How a detail line names the chain: "served on ADDR:PORT (SNI x)", "in PATH", or "in
    PATH (named by DIRECTIVE in FILE line N)". Details are prose, never pasted: unquoted."""
    if ctx.kind is LocationKind.LISTENER and ctx.probe is not None:
        sni = f" (SNI {ctx.probe.servername})" if ctx.probe.servername else " (no SNI)"
        return f"served on {ctx.probe.address}:{ctx.probe.port}{sni}"
    named = _named_by(ctx)
    if named is None:
        return f"in {ctx.where}"
    directive, config_file, line = named
    return f"in {ctx.where} (named by {directive} in {config_file} line {line})"


def _named_by(ctx: ChainContext) -> tuple[str, str, int | None] | None:
    """(directive, configuration file, line) of the configuration that names a file, as
    the host reported them (unquoted); None when no configuration names it."""
    config = ctx.config
    if ctx.kind is LocationKind.LISTENER or config is None or not config.cert_file:
        return None
    directive = CERT_DIRECTIVE.get(config.server, "the certificate directive")
    return directive, config.cert_config_file or config.file, config.cert_config_line


def chain_values(ctx: ChainContext) -> dict[str, str]:
    """Template values for a chain, every value from the host or the peer shell-quoted:
    address/port/servername or path, cafile, host, and the certificate file as a command
    argument (cert_file, "leaf.crt" when unknown) and as prose (chain_file, a description
    when unknown)."""
    cafile = shell_quote(ctx.verdict.cafile or FALLBACK_CAFILE)
    if ctx.kind is LocationKind.LISTENER and ctx.probe is not None:
        p = ctx.probe
        cert_file = ctx.listener.cert_file if ctx.listener and ctx.listener.cert_file else None
        chain_file = (
            shell_quote(cert_file)
            if cert_file
            else "the file ssl_certificate (or SSLCertificateFile) names"
        )
        return {
            "address": connect_address(p.address),
            "port": str(p.port),
            "servername": shell_quote(p.servername or p.address),
            "cafile": cafile,
            "cert_file": shell_quote(cert_file) if cert_file else "leaf.crt",
            "chain_file": chain_file,
            "host": shell_quote(ctx.host),
        }
    named = _named_by(ctx)
    chain_file = shell_quote(ctx.where)
    if named is not None:
        directive, config_file, line = named
        chain_file += f" (named by `{directive}` in {file_line(config_file, line)})"
    return {
        "path": shell_quote(ctx.where),
        "cafile": cafile,
        "cert_file": shell_quote(ctx.where),
        "chain_file": chain_file,
        "host": shell_quote(ctx.host),
    }


CERT_DIRECTIVE = {"nginx": "ssl_certificate", "apache": "SSLCertificateFile", "haproxy": "crt"}
"""The directive that names a server's certificate file, by server."""
RELOAD = {
    "nginx": "nginx -t && systemctl reload nginx",
    "apache": "apachectl configtest && systemctl reload apache2 (httpd on RHEL)",
    "haproxy": "haproxy -c -f /etc/haproxy/haproxy.cfg && systemctl reload haproxy",
}
"""How to check a server's configuration and reload it, by server."""


def config_of(ctx: ChainContext) -> tuple[str, str, str, str] | None:
    """(certificate file, directive, "'FILE' line N", server) when the host's configuration
    says which file the listener's certificate (or this file) comes from, else None. The
    certificate file and the server are as the host reported them; the "FILE line N" text
    is quoted."""
    named = _named_by(ctx)
    if named is not None and ctx.config is not None and ctx.config.cert_file:
        directive, config_file, line = named
        return ctx.config.cert_file, directive, file_line(config_file, line), ctx.config.server
    listener = ctx.listener
    if ctx.kind is not LocationKind.LISTENER or listener is None:
        return None
    if not (listener.cert_file and listener.config_file and listener.config_line):
        return None
    directive = CERT_DIRECTIVE.get(listener.server or "", "the certificate directive")
    where = file_line(listener.config_file, listener.config_line)
    return listener.cert_file, directive, where, listener.server or ""


def _fullchain_path(cert_file: str) -> str:
    """Where to write the leaf followed by its intermediate: beside the file, named so
    (a file already called fullchain, but lacking its intermediate, gets ".complete")."""
    tag = "complete" if "fullchain" in cert_file.rpartition("/")[2] else "fullchain"
    head, dot, ext = cert_file.rpartition(".")
    if dot and "/" not in ext and head and not head.endswith("/"):
        return f"{head}.{tag}.{ext}"
    return f"{cert_file}.{tag}"


def file_diagnose(ctx: ChainContext, command: str) -> str | None:
    """The file form of a diagnose command for bundle files, None for listeners."""
    return command if ctx.kind is not LocationKind.LISTENER else None


def _sent(ctx: ChainContext) -> str:
    verb = "sends" if ctx.kind is LocationKind.LISTENER else "holds"
    n = len(ctx.chain)
    return f"{verb} {n} certificate{'s' if n != 1 else ''}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _name_for(ctx: ChainContext) -> str:
    """The name to request a certificate for, quoted ("your.host.name" when none is known)."""
    leaf = leaf_of(ctx)
    name = ctx.expected_name or leaf.common_name or (leaf.dns_names[0] if leaf.dns_names else "")
    return shell_quote(name) if name else "your.host.name"


def _config_fix(ctx: ChainContext, missing: str, get: str) -> str | None:
    """CHAIN_INCOMPLETE's fix when the configuration names the listener's certificate file:
    build the full chain beside it and point the directive at it. `missing` is quoted."""
    config = config_of(ctx)
    if config is None:
        return None
    cert_file, directive, where, server = config
    full = shell_quote(_fullchain_path(cert_file))
    reload = RELOAD.get(server, "reload or restart it")
    return (
        f"Deploy the leaf followed by its intermediate ({missing}): {get}cat "
        f"{shell_quote(cert_file)} intermediate.crt > {full}, point "
        f"`{directive}` in {where} at {full} and reload "
        f"{shell_quote(server) if server else 'the service'} ({reload}); with certbot, use "
        "fullchain.pem, never cert.pem."
    )


@rule(
    "CHAIN_INCOMPLETE",
    family="chain",
    title="Chain lacks the intermediate certificate clients need",
    severity=Severity.HIGH,
    scope=Scope.CHAIN,
    diagnose=SERVED_CHAIN,
    fix=(
        "Deploy the leaf followed by its intermediate ({missing}): {get_intermediate}"
        "cat {cert_file} intermediate.crt > fullchain.crt, point ssl_certificate (nginx) or "
        "SSLCertificateFile (Apache 2.4.8+) at fullchain.crt and reload the service; with "
        "certbot, use fullchain.pem, never cert.pem."
    ),
)
def chain_incomplete(ctx: ChainContext, settings: Settings) -> Iterable[Hit]:
    v = ctx.verdict
    if v.status is not ChainStatus.INCOMPLETE:
        return
    leaf = leaf_of(ctx)
    missing = shell_quote(v.missing_issuer or leaf.issuer)
    if leaf.aia_ca_issuers:
        url = leaf.aia_ca_issuers[0]
        get = (
            f"fetch it from the CA (curl -so intermediate.der {shell_quote(url)} && openssl x509 "
            "-inform der -in intermediate.der -out intermediate.crt), then "
        )
    elif v.completes_with:
        get = (
            "it is already deployed elsewhere in the fleet (sha256 "
            f"{v.completes_with[0].sha256[:16]}...; certbot keeps it in chain.pem), then "
        )
    else:
        get = "download it from your CA's repository, then "
    what = (
        "this file lacks" if ctx.kind is not LocationKind.LISTENER else "the server does not send"
    )
    yield Hit(
        subject=subject_of(ctx),
        detail=(
            f"{leaf.subject} {where_text(ctx)}: {_sent(ctx)}; {what} its intermediate. "
            f"{_cap(v.detail)}. Browsers may hide this by fetching it through AIA; curl, "
            "Python, Go and Java clients fail with 'unable to verify the first certificate'."
        ),
        values={**chain_values(ctx), "missing": missing, "get_intermediate": get},
        cert_sha256=leaf.sha256,
        diagnose=file_diagnose(ctx, FILE_VERIFY),
        fix=_config_fix(ctx, missing, get),
    )


@rule(
    "CHAIN_UNTRUSTED",
    family="chain",
    title="Chain ends at a root no trust store in use holds",
    severity=Severity.HIGH,
    scope=Scope.CHAIN,
    diagnose=SERVED_CHAIN,
    fix=(
        "Use a certificate from a publicly trusted CA (Let's Encrypt: certbot certonly -d "
        "{name}), or, for an internal CA, install its root ({anchor}) on every client: "
        "Debian/Ubuntu cp root.crt /usr/local/share/ca-certificates/ && update-ca-certificates; "
        "RHEL cp root.crt /etc/pki/ca-trust/source/anchors/ && update-ca-trust; then audit "
        "with --cafile root.crt."
    ),
)
def chain_untrusted(ctx: ChainContext, settings: Settings) -> Iterable[Hit]:
    v = ctx.verdict
    if v.status is not ChainStatus.UNTRUSTED:
        return
    leaf = leaf_of(ctx)
    yield Hit(
        subject=subject_of(ctx),
        detail=(
            f"{leaf.subject} {where_text(ctx)}: {v.detail}. Clients report 'certificate "
            "signed by unknown authority' (Go) or 'unable to get local issuer certificate' "
            "(OpenSSL)."
        ),
        values={
            **chain_values(ctx),
            "anchor": shell_quote(v.anchor or leaf.issuer),
            "name": _name_for(ctx),
        },
        cert_sha256=leaf.sha256,
        diagnose=file_diagnose(ctx, FILE_VERIFY),
    )


@rule(
    "CERT_SELF_SIGNED",
    family="chain",
    title="Certificate is self-signed",
    severity=Severity.HIGH,
    scope=Scope.CHAIN,
    diagnose=(
        "echo | openssl s_client -connect {address}:{port} -servername {servername} 2>/dev/null"
        " | openssl x509 -noout -subject -issuer"
    ),
    fix=(
        "Replace {chain_file} with a certificate from a CA clients trust: Let's Encrypt for "
        "public names (certbot certonly -d {name}), or an internal CA (step-ca, Vault PKI, "
        "cert-manager) whose root is installed on the clients; then reload the service."
    ),
)
def cert_self_signed(ctx: ChainContext, settings: Settings) -> Iterable[Hit]:
    v = ctx.verdict
    if v.status is not ChainStatus.SELF_SIGNED:
        return
    leaf = leaf_of(ctx)
    yield Hit(
        subject=subject_of(ctx),
        detail=(
            f"{_cap(where_text(ctx))}: {v.detail}. It encrypts, but "
            "no client can verify whom it belongs to; clients report 'self-signed "
            "certificate' (OpenSSL error 18)."
        ),
        values={**chain_values(ctx), "name": _name_for(ctx)},
        cert_sha256=leaf.sha256,
        diagnose=file_diagnose(ctx, "openssl x509 -noout -subject -issuer -in {path}"),
    )


@rule(
    "NOT_TRUSTED_BY_MOZILLA",
    family="chain",
    title="Chain is trusted by the OS store but not by Mozilla",
    severity=Severity.MEDIUM,
    scope=Scope.CHAIN,
    diagnose=SERVED_CHAIN,
    fix=(
        "Firefox and NSS-based clients reject {anchor} (SEC_ERROR_UNKNOWN_ISSUER). Use a "
        "certificate from a CA in Mozilla's root program, or push the root to those clients "
        '(Firefox policies.json: "Certificates": {{"ImportEnterpriseRoots": true}}).'
    ),
)
def not_trusted_by_mozilla(ctx: ChainContext, settings: Settings) -> Iterable[Hit]:
    v = ctx.verdict
    if v.status is not ChainStatus.OS_ONLY:
        return
    leaf = leaf_of(ctx)
    yield Hit(
        subject=subject_of(ctx),
        detail=f"{leaf.subject} {where_text(ctx)}: {v.detail}.",
        values={**chain_values(ctx), "anchor": shell_quote(v.anchor or leaf.issuer)},
        cert_sha256=leaf.sha256,
        diagnose=file_diagnose(ctx, FILE_VERIFY),
    )


@rule(
    "CHAIN_ORDER",
    family="chain",
    title="Chain is out of order or carries unrelated certificates",
    severity=Severity.LOW,
    scope=Scope.CHAIN,
    diagnose=SERVED_CHAIN,
    fix=(
        "Rebuild {chain_file} with the leaf first and each certificate followed by its issuer "
        "({expected}), leaving out unrelated certificates, then reload the service."
    ),
)
def chain_order(ctx: ChainContext, settings: Settings) -> Iterable[Hit]:
    v = ctx.verdict
    if not v.order_problem:
        return
    leaf = leaf_of(ctx)
    sent = {c.sha256 for c in ctx.chain}
    expected = shell_words(
        (c.common_name or c.subject for c in v.verified_chain if c.sha256 in sent), " then "
    ) or shell_quote(leaf.common_name or leaf.subject)
    yield Hit(
        subject=subject_of(ctx),
        detail=f"{leaf.subject} {where_text(ctx)}: {_sent(ctx)}; {v.order_problem}.",
        values={**chain_values(ctx), "expected": expected},
        cert_sha256=leaf.sha256,
        diagnose=file_diagnose(ctx, FILE_LIST),
    )


@dataclass(frozen=True)
class _Broken:
    """How one broken rule (trust.refusals.Broken) reads in a CHAIN_INVALID finding."""

    clients: str
    """What clients say about it."""
    fix: str
    """Fix template: {culprit} (quoted subject), {names}, {get}, {deploy}, chain values."""
    shows: str = "verify"
    """Which diagnose shows it: "verify" (OpenSSL refuses the chain too), "extensions"
    (OpenSSL accepts it: show the extension that is wrong)."""


_KEEP_KEY = "keeping its subject and key, so the certificates it signed stay valid"
_BROKEN: dict[str, _Broken] = {
    Broken.NOT_A_CA: _Broken(
        "OpenSSL-based clients (curl, Python, Ruby, PHP) fail with 'invalid CA certificate', "
        "Go with 'x509: certificate is not authorized to sign other certificates'",
        "Reissue {culprit} as a CA (basicConstraints=critical,CA:TRUE and "
        "keyUsage=critical,keyCertSign,cRLSign, e.g. openssl x509 -req -extfile ca.ext), "
        f"{_KEEP_KEY}; or, if it was never meant to be a CA, issue the leaf from your real "
        "intermediate. Then {deploy}.",
    ),
    Broken.NO_KEY_CERT_SIGN: _Broken(
        "OpenSSL-based clients (curl, Python, Ruby, PHP) fail with 'key usage does not "
        "include certificate signing'",
        "Reissue {culprit} with keyUsage=critical,keyCertSign,cRLSign, " + _KEEP_KEY + "; "
        "then {deploy}.",
    ),
    Broken.PATH_LENGTH: _Broken(
        "OpenSSL-based clients fail with 'path length constraint exceeded', Go with "
        "'x509: too many intermediates for path length constraint'",
        "Issue the leaf from a CA that may issue it within {culprit}'s pathLenConstraint, or "
        "reissue {culprit} with a larger one (basicConstraints=critical,CA:TRUE,pathlen:N), "
        f"{_KEEP_KEY}; then {{deploy}}.",
    ),
    Broken.NAME_CONSTRAINTS: _Broken(
        "OpenSSL-based clients fail with 'permitted subtree violation' or 'excluded subtree "
        "violation', Go with 'x509: a root or intermediate certificate is not authorized to "
        "sign for this name'",
        "{culprit} may only certify the names its nameConstraints allow, and the leaf names "
        "{names}: issue the leaf for names inside them, or from a CA without those "
        "constraints; then {deploy}.",
    ),
    Broken.LEAF_EKU: _Broken(
        "OpenSSL-based clients fail with 'unsuitable certificate purpose', Go with 'x509: "
        "certificate specifies an incompatible key usage'",
        "Reissue the leaf for {names} with extendedKeyUsage=serverAuth (public and ACME CAs "
        "set it; with openssl, -addext extendedKeyUsage=serverAuth); then {deploy}.",
    ),
    Broken.CA_EKU: _Broken(
        "OpenSSL-based clients fail with 'unsuitable certificate purpose', Go with 'x509: "
        "certificate specifies an incompatible key usage'",
        "Issue the leaf from a CA whose extendedKeyUsage includes serverAuth (or has none), "
        "or reissue {culprit} with serverAuth in its extendedKeyUsage, " + _KEEP_KEY + "; "
        "then {deploy}.",
    ),
    Broken.CA_EXPIRED: _Broken(
        "OpenSSL-based clients fail with 'certificate has expired', Go with 'x509: "
        "certificate has expired or is not yet valid', although the leaf itself is valid",
        "Replace {culprit} with the CA's current certificate for this leaf: {get}then "
        "{deploy}. If the CA no longer issues under it, renew the leaf and deploy the chain "
        "the CA hands out with it.",
    ),
    Broken.CA_NOT_YET_VALID: _Broken(
        "OpenSSL-based clients fail with 'certificate is not yet valid', Go with 'x509: "
        "certificate has expired or is not yet valid'",
        "{culprit} is not valid yet: check the clock of the machine that issued it "
        "(timedatectl); until it is valid, send the intermediate the CA issued before it; "
        "then {deploy}.",
    ),
    Broken.LEAF_IS_CA: _Broken(
        "Clients built on rustls or webpki (reqwest, hyper-rustls, Deno) refuse it "
        "('CaUsedAsEndEntity'), as does Python's cryptography verifier; OpenSSL and Go "
        "clients still accept it",
        "Reissue the leaf as an end-entity certificate for {names}: from a CA (certbot for "
        "public names, your internal CA), or with openssl req -x509 adding -addext "
        "basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth (its "
        "default configuration makes it a CA); then {deploy}.",
        shows="extensions",
    ),
}
_BROKEN[Broken.NO_BASIC_CONSTRAINTS] = _BROKEN[Broken.NOT_A_CA]

SERVED_VERIFY = (
    "echo | openssl s_client -connect {address}:{port} -servername {servername} "
    "-CAfile {cafile} -verify_return_error 2>&1 | grep -E '^(depth=|verify error|Verify return)'"
)
"""Which certificate (depth) OpenSSL refuses in what a listener sends, and why."""
FILE_VERIFY_SERVER = "openssl verify -purpose sslserver -CAfile {cafile} -untrusted {path} {path}"
"""The same for a bundle file, as a TLS server certificate. Without -x509_strict, which
adds checks (key identifiers, keyUsage present on every CA) clients do not make."""
_SERVED_EXTENSIONS = (
    "echo | openssl s_client -connect {address}:{port} -servername {servername} 2>/dev/null"
    " | openssl x509 -noout -subject -ext basicConstraints,extendedKeyUsage"
)
_FILE_EXTENSIONS = "openssl x509 -noout -subject -ext basicConstraints,extendedKeyUsage -in {path}"


def _deploy(ctx: ChainContext, chain_file: str) -> str:
    """How the corrected chain goes live: the file (`chain_file`, as chain_values gives
    it) and, when the configuration names it, the directive and the server's reload."""
    config = config_of(ctx)
    if config is None:
        return (
            f"put the leaf followed by its intermediates in {chain_file} and reload the "
            "service that uses it"
        )
    cert_file, directive, where, server = config
    reload = RELOAD.get(server, "reload or restart it")
    return (
        f"put the leaf followed by its intermediates in {shell_quote(cert_file)} "
        f"(`{directive}` in {where} names it) and reload "
        f"{shell_quote(server) if server else 'the service'} ({reload})"
    )


def _get_current(leaf: CertInfo) -> str:
    if leaf.aia_ca_issuers:
        url = shell_quote(leaf.aia_ca_issuers[0])
        return (
            f"the leaf names it at {url} (curl -so intermediate.der {url} && openssl x509 "
            "-inform der -in intermediate.der -out intermediate.crt), "
        )
    return "download it from your CA's repository, "


@rule(
    "CHAIN_INVALID",
    family="chain",
    title="Chain breaks a rule strict clients enforce",
    severity=Severity.HIGH,
    scope=Scope.CHAIN,
    diagnose=SERVED_VERIFY,
    fix=(
        "Replace the certificate that breaks the rule ({culprit}) with one that keeps it, "
        "then put the leaf followed by its intermediates in {chain_file} and reload the "
        "service that uses it."
    ),
)
def chain_invalid(ctx: ChainContext, settings: Settings) -> Iterable[Hit]:
    v = ctx.verdict
    if v.status is not ChainStatus.INVALID:
        return
    leaf = leaf_of(ctx)
    culprit = v.broken_cert
    how = _BROKEN.get(v.broken_rule)
    values = {
        **chain_values(ctx),
        "culprit": shell_quote(culprit.subject) if culprit else "the certificate named above",
        "names": shell_words([*leaf.dns_names, *leaf.ip_addresses]) or _name_for(ctx),
        "get": _get_current(leaf),
    }
    values["deploy"] = _deploy(ctx, values["chain_file"])
    diagnose = FILE_VERIFY_SERVER if ctx.kind is not LocationKind.LISTENER else None
    if how is not None and how.shows == "extensions":
        listener = ctx.kind is LocationKind.LISTENER
        diagnose = _SERVED_EXTENSIONS if listener else _FILE_EXTENSIONS
    clients = f" {_cap(how.clients)}." if how else ""
    yield Hit(
        subject=subject_of(ctx),
        detail=f"{leaf.subject} {where_text(ctx)}: {_cap(v.detail)}.{clients}",
        values=values,
        cert_sha256=culprit.sha256 if culprit else leaf.sha256,
        diagnose=diagnose,
        fix=render(how.fix, values) if how else None,
    )


RULES = (
    chain_incomplete,
    chain_untrusted,
    chain_invalid,
    cert_self_signed,
    not_trusted_by_mozilla,
    chain_order,
)
