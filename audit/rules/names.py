"""Names family: the leaf does not cover the name clients use, or names it in CN only.

Scope: a chain (ChainContext): what a listener served for an SNI name, or a bundle file
given with the name it is meant for. Matching follows RFC 6125 (trust.matches_hostname):
SAN dNSName entries only, one whole left-most wildcard label, IP SANs for IP literals.
A CN-only leaf whose CN is the expected name is SAN_MISSING, not HOSTNAME_MISMATCH: the
name is right, the certificate's form is what modern clients refuse.
"""

from __future__ import annotations

from collections.abc import Iterable

from audit.model import CertInfo, Severity
from audit.rules.base import ChainContext, Hit, Scope, Settings, rule, shell_quote, shell_words
from audit.rules.chain import chain_values, file_diagnose, leaf_of, subject_of, where_text
from audit.trust import matches_hostname

_SERVED_NAMES = (
    "echo | openssl s_client -connect {address}:{port} -servername {servername} 2>/dev/null"
    " | openssl x509 -noout -subject -ext subjectAltName"
)
_FILE_NAMES = "openssl x509 -noout -subject -ext subjectAltName -in {path}"


def _covered(cert: CertInfo, quote: bool = False) -> str:
    """The names the certificate covers, for a detail (as they are) or a fix (`quote`)."""
    names = [*cert.dns_names, *cert.ip_addresses]
    if not names:
        return "no names"
    return shell_words(names) if quote else ", ".join(names)


def _legacy_cn_match(cert: CertInfo, name: str) -> bool:
    """What pre-RFC 6125 clients did: compare the CN (used only to avoid a double report)."""
    cn = (cert.common_name or "").rstrip(".").lower()
    return bool(cn) and cn == name.rstrip(".").lower()


def _wildcard_hint(cert: CertInfo, name: str) -> str:
    host = name.rstrip(".").lower()
    for pattern in cert.dns_names:
        p = pattern.rstrip(".").lower()
        if not p.startswith("*."):
            continue
        base = p[2:]
        if host == base:
            return f" ({pattern} does not cover the bare {base})"
        if host.endswith("." + base):
            return f" ({pattern} covers exactly one label: not {name})"
    return ""


@rule(
    "HOSTNAME_MISMATCH",
    family="names",
    title="Certificate does not cover the name clients use",
    severity=Severity.HIGH,
    scope=Scope.CHAIN,
    diagnose=_SERVED_NAMES,
    fix=(
        "Reissue the certificate with {name} among its SANs (certbot certonly --expand "
        "-d <current names> -d {name}), deploy it and reload; or send clients to a name it "
        "covers ({covered}). If it should already cover {name}, check that {name} resolves "
        "to this server (dig +short -q {name})."
    ),
)
def hostname_mismatch(ctx: ChainContext, settings: Settings) -> Iterable[Hit]:
    name = ctx.expected_name
    if not name:
        return
    leaf = leaf_of(ctx)
    if matches_hostname(leaf, name):
        return
    if not leaf.has_san_extension and _legacy_cn_match(leaf, name):
        return  # SAN_MISSING says it
    yield Hit(
        subject=subject_of(ctx),
        detail=(
            f"Clients ask for {name}; {leaf.subject} {where_text(ctx)} covers "
            f"{_covered(leaf)}{_wildcard_hint(leaf, name)}. They fail with 'certificate is "
            f"valid for {_covered(leaf)}, not {name}'."
        ),
        values={
            **chain_values(ctx),
            "name": shell_quote(name),
            "covered": _covered(leaf, quote=True),
        },
        cert_sha256=leaf.sha256,
        diagnose=file_diagnose(ctx, _FILE_NAMES),
    )


@rule(
    "SAN_MISSING",
    family="names",
    title="Certificate names its host only in the Common Name",
    severity=Severity.HIGH,
    scope=Scope.CHAIN,
    diagnose=_SERVED_NAMES,
    fix=(
        "Reissue it with a subjectAltName: openssl req -new -key server.key -subj {subj} "
        "-addext {san_ext} -out server.csr (or add SANs to your CA's template), then "
        "replace {chain_file} and reload the service."
    ),
)
def san_missing(ctx: ChainContext, settings: Settings) -> Iterable[Hit]:
    leaf = leaf_of(ctx)
    if leaf.has_san_extension or leaf.is_ca:
        return
    cn = leaf.common_name or ctx.expected_name or "your.host.name"
    yield Hit(
        subject=subject_of(ctx),
        detail=(
            f"{leaf.subject} {where_text(ctx)} has no subjectAltName extension; its name is "
            f"only in the Common Name ({leaf.common_name or 'none'}). Go 1.15+ ('x509: "
            "certificate relies on legacy Common Name field'), Chrome and other modern clients "
            "reject it."
        ),
        values={
            **chain_values(ctx),
            "subj": shell_quote("/CN=" + cn),
            "san_ext": shell_quote("subjectAltName=DNS:" + cn),
        },
        cert_sha256=leaf.sha256,
        diagnose=file_diagnose(ctx, _FILE_NAMES),
    )


RULES = (hostname_mismatch, san_missing)
