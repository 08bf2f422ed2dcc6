"""Crypto family: weak keys, weak signatures, publicly trusted leaves valid for too long.

Scope: a certificate at one location (a file, or a position in a served chain). CA bundles
are not deployed certificates and never reach these rules (model.LocationKind.deployed).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from audit.model import CertInfo, LocationKind, Severity
from audit.rules.base import (
    CertContext,
    Hit,
    Scope,
    Settings,
    cert_values,
    rule,
)

MIN_BITS = {"RSA": 2048, "DSA": 2048, "EC": 256}
"""Smallest acceptable key per type (bits; curve size for EC)."""

WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5"}

VALIDITY_LIMIT_SINCE = datetime(2020, 9, 1, tzinfo=UTC)
"""The 398-day limit binds publicly trusted leaves issued on or after this date."""

_FILE_TEXT = "openssl storeutl -noout -text -certs {path} | grep -E '{fields}'"
_SERVED_TEXT = (
    "echo | openssl s_client -connect {address}:{port} -servername {servername} -showcerts "
    "2>/dev/null | openssl crl2pkcs7 -nocrl -certfile /dev/stdin | openssl pkcs7 "
    "-print_certs -text -noout | grep -E '{fields}'"
)


def _served(ctx: CertContext) -> bool:
    return ctx.location.kind is LocationKind.LISTENER


def _values(ctx: CertContext, fields: str) -> dict[str, str]:
    return {**cert_values(ctx), "fields": fields}


def _diagnose(ctx: CertContext) -> str | None:
    return _SERVED_TEXT if _served(ctx) else None


def _where(ctx: CertContext) -> str:
    loc = ctx.location
    if _served(ctx):
        position = f", chain position {loc.index + 1}" if loc.index else ""
        sni = f" (SNI {loc.servername})" if loc.servername else ""
        return f"served on {loc.path}{sni}{position}"
    return f"in {loc.path}" + (f" (certificate {loc.index + 1})" if loc.index else "")


def _is_root(cert: CertInfo) -> bool:
    return cert.is_ca and cert.self_signed


@rule(
    "WEAK_KEY",
    family="crypto",
    title="Certificate key is too small",
    severity=Severity.HIGH,
    scope=Scope.CERT,
    diagnose=_FILE_TEXT,
    fix=(
        "Generate a new key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
        "-out server.key, or RSA of 2048 bits or more), get a certificate for it and replace "
        "{path}; a CA certificate with a small key must be replaced by its CA."
    ),
)
def weak_key(ctx: CertContext, settings: Settings) -> Iterable[Hit]:
    cert = ctx.cert
    minimum = MIN_BITS.get(cert.key_type)
    if minimum is None or not cert.key_bits or cert.key_bits >= minimum:
        return
    yield Hit(
        subject=ctx.location.path,
        detail=(
            f"{cert.subject} {_where(ctx)} has a {cert.key_bits}-bit {cert.key_type} key; "
            f"the minimum is {minimum} bits. Current clients and CAs refuse such keys."
        ),
        values=_values(ctx, "Subject:|Public-Key"),
        cert_sha256=cert.sha256,
        diagnose=_diagnose(ctx),
    )


@rule(
    "WEAK_SIGNATURE",
    family="crypto",
    title="Certificate is signed with SHA-1 or MD5",
    severity=Severity.HIGH,
    scope=Scope.CERT,
    diagnose=_FILE_TEXT,
    fix=(
        "Reissue it with a SHA-256 signature (current CAs do by default; openssl: -sha256) "
        "and replace {target}; if the weak signature is on an intermediate, get the CA's "
        "current intermediate and serve that instead."
    ),
)
def weak_signature(ctx: CertContext, settings: Settings) -> Iterable[Hit]:
    """Roots (self-signed CA certificates) are exempt: nobody checks a trust anchor's
    own signature, the client trusts its key."""
    cert = ctx.cert
    weak = WEAK_HASHES.get((cert.signature_hash or "").lower())
    if weak is None or _is_root(cert):
        return
    yield Hit(
        subject=ctx.location.path,
        detail=(
            f"{cert.subject} {_where(ctx)} is signed with {cert.signature_algorithm} "
            f"({weak}); {weak} collisions are practical, and clients reject such signatures."
        ),
        values=_values(ctx, "Subject:|Signature Algorithm"),
        cert_sha256=cert.sha256,
        diagnose=_diagnose(ctx),
    )


@rule(
    "VALIDITY_TOO_LONG",
    family="crypto",
    title="Publicly trusted certificate is valid for too long",
    severity=Severity.LOW,
    scope=Scope.CERT,
    diagnose=_FILE_TEXT,
    fix=(
        "Reissue it with a validity of at most {max_days} days (Let's Encrypt issues 90-day "
        "certificates) and automate the renewal; replace {target} and reload the service."
    ),
)
def validity_too_long(ctx: CertContext, settings: Settings) -> Iterable[Hit]:
    """ "Publicly trusted" is CertContext.publicly_trusted: analyze sets it for a leaf whose
    chain (served, or a bundle file) trust.assess_chain found to reach Mozilla's store or
    the user's --cafile as sent. The --cafile counts because it is the trust the user asked
    the audit to hold the fleet to; a chain that reaches only a host's OS store does not.
    Only leaves issued on or after 2020-09-01, when the 398-day limit took effect."""
    cert = ctx.cert
    if cert.is_ca or not ctx.publicly_trusted or cert.not_before < VALIDITY_LIMIT_SINCE:
        return
    days = (cert.not_after - cert.not_before).total_seconds() / 86400.0
    if days <= settings.max_leaf_validity_days:
        return
    yield Hit(
        subject=ctx.location.path,
        detail=(
            f"{cert.subject} {_where(ctx)} is valid for {days:.0f} days "
            f"({cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}), more than the "
            f"{settings.max_leaf_validity_days} days browsers accept for a publicly trusted "
            "certificate."
        ),
        values={
            **_values(ctx, "Subject:|Not Before|Not After"),
            "max_days": str(settings.max_leaf_validity_days),
        },
        cert_sha256=cert.sha256,
        diagnose=_diagnose(ctx),
    )


RULES = (weak_key, weak_signature, validity_too_long)
