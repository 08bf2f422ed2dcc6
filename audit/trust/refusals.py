"""Which rule a chain that reaches a trusted root breaks, and which certificate breaks it.

`read_refusal` turns the verifier's refusal (`verify.client_refusal`, tidied) into a
`Broken` rule and finds the certificate of the path that breaks it: the verifier names
the leaf when the leaf is at fault, never an intermediate or a root, so the culprit is
found by checking the rule on each certificate of the path. The texts, recorded from
chains built to break each rule (tests/trust/test_refusals.py), with what OpenSSL says
about the same chain:

- "basicConstraints.cA must be asserted in a CA certificate": NOT_A_CA
  (OpenSSL: invalid CA certificate)
- "invalid extension: 2.5.29.19: missing required extension: CA certificate has no
  basicConstraints": NO_BASIC_CONSTRAINTS (OpenSSL: invalid CA certificate)
- "keyUsage.keyCertSign must be asserted in a CA certificate": NO_KEY_CERT_SIGN
  (OpenSSL: key usage does not include certificate signing)
- "path length constraint violated": PATH_LENGTH (OpenSSL: path length constraint exceeded)
- "no permitted name constraints matched SAN", "excluded name constraint matched SAN", and
  the library's other name-constraint refusals: NAME_CONSTRAINTS (OpenSSL: permitted /
  excluded subtree violation)
- "required EKU not found (at <leaf>)": LEAF_EKU (OpenSSL: unsuitable certificate purpose)
- "Neither EKU nor anyEKU could be found": CA_EKU (OpenSSL: unsuitable certificate purpose)
- "cert is not valid at validation time": CA_EXPIRED or CA_NOT_YET_VALID, by the dates of
  the certificate outside its validity (OpenSSL: certificate has expired / is not yet valid)
- "basicConstraints.cA must not be asserted in an EE certificate (at <leaf>)": LEAF_IS_CA
  (OpenSSL and Go accept it; rustls and webpki refuse it)

Any other refusal (a forbidden signature algorithm, an RSA key too weak, no path) is not
a broken rule of this kind: WEAK_SIGNATURE, WEAK_KEY and the trust verdicts say those.
When the library stops at such a refusal before looking further, a certificate that
signed the one below it without being a CA is still found on the path (NOT_A_CA).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from audit.model import CertInfo
from audit.trust.paths import x509_of


class Broken(enum.StrEnum):
    """A rule every strict client enforces on a chain (ChainVerdict.broken_rule)."""

    NOT_A_CA = "not_a_ca"
    """An issuer in the chain says basicConstraints CA:FALSE."""
    NO_BASIC_CONSTRAINTS = "no_basic_constraints"
    """An issuer in the chain has no basicConstraints extension at all."""
    NO_KEY_CERT_SIGN = "no_key_cert_sign"
    """A CA's keyUsage does not include keyCertSign."""
    PATH_LENGTH = "path_length"
    """More CA certificates sit below a CA than its pathLenConstraint allows."""
    NAME_CONSTRAINTS = "name_constraints"
    """The leaf's names are outside a CA's nameConstraints."""
    LEAF_EKU = "leaf_eku"
    """The leaf's extendedKeyUsage does not include serverAuth."""
    CA_EKU = "ca_eku"
    """A CA's extendedKeyUsage allows neither serverAuth nor anyExtendedKeyUsage."""
    CA_EXPIRED = "ca_expired"
    """An intermediate (or the root) expired before the time the chain is judged at."""
    CA_NOT_YET_VALID = "ca_not_yet_valid"
    """An intermediate (or the root) becomes valid only after that time."""
    LEAF_IS_CA = "leaf_is_ca"
    """The leaf asserts basicConstraints CA:TRUE."""


_TEXTS: tuple[tuple[str, Broken], ...] = (
    ("basicConstraints.cA must be asserted in a CA certificate", Broken.NOT_A_CA),
    ("CA certificate has no basicConstraints", Broken.NO_BASIC_CONSTRAINTS),
    ("keyUsage.keyCertSign must be asserted in a CA certificate", Broken.NO_KEY_CERT_SIGN),
    ("path length constraint violated", Broken.PATH_LENGTH),
    ("name constraint", Broken.NAME_CONSTRAINTS),
    ("nameConstraints", Broken.NAME_CONSTRAINTS),
    ("required EKU not found", Broken.LEAF_EKU),
    ("Neither EKU nor anyEKU could be found", Broken.CA_EKU),
    ("cert is not valid at validation time", Broken.CA_EXPIRED),
    ("basicConstraints.cA must not be asserted in an EE certificate", Broken.LEAF_IS_CA),
)
"""Fragments of the verifier's refusals, in the order they are matched."""


@dataclass(frozen=True)
class Refusal:
    """A broken rule, the certificate that breaks it, and what it breaks, in words."""

    rule: Broken
    cert: CertInfo | None
    """The certificate at fault (None when no certificate of the path shows it)."""
    text: str
    """What the certificate breaks, for a detail ("its keyUsage ... lacks keyCertSign")."""


def rule_of(refusal: str) -> Broken | None:
    """The rule a refusal text names, None for any other refusal."""
    for fragment, rule in _TEXTS:
        if fragment.casefold() in refusal.casefold():
            return rule
    return None


def read_refusal(refusal: str, path: Sequence[CertInfo], at: datetime) -> Refusal | None:
    """The broken rule behind `refusal` on `path` (leaf first, anchor last), judged at
    `at`; None when the refusal is empty or of another kind and no certificate of the path
    signed the one below it without being a CA."""
    if not refusal or not path:
        return None
    rule = rule_of(refusal)
    if rule is None:
        return _not_a_ca(path[1:-1])
    if rule in (Broken.NOT_A_CA, Broken.NO_BASIC_CONSTRAINTS):
        return _not_a_ca(path[1:]) or Refusal(rule, None, "an issuer in it is not a CA")
    if rule is Broken.CA_EXPIRED:
        return _outside_validity(path, at)
    return _LOCATE[rule](path)


def _not_a_ca(issuers: Sequence[CertInfo]) -> Refusal | None:
    for cert in issuers:
        if cert.is_ca:
            continue
        if _ext(cert, x509.BasicConstraints) is None:
            return Refusal(
                Broken.NO_BASIC_CONSTRAINTS,
                cert,
                "it has no basicConstraints extension, so it is not a CA, yet it signed the "
                "certificate below it",
            )
        return Refusal(
            Broken.NOT_A_CA,
            cert,
            "its basicConstraints says CA:FALSE, yet it signed the certificate below it",
        )
    return None


def _outside_validity(path: Sequence[CertInfo], at: datetime) -> Refusal | None:
    for cert in path[1:]:
        if cert.not_after < at:
            return Refusal(
                Broken.CA_EXPIRED, cert, f"it expired on {cert.not_after:%Y-%m-%d %H:%M} UTC"
            )
        if cert.not_before > at:
            return Refusal(
                Broken.CA_NOT_YET_VALID,
                cert,
                f"it is valid only from {cert.not_before:%Y-%m-%d %H:%M} UTC",
            )
    return None


def _no_key_cert_sign(path: Sequence[CertInfo]) -> Refusal:
    for cert in path[1:]:
        ku = _ext(cert, x509.KeyUsage)
        if ku is not None and not ku.key_cert_sign:
            return Refusal(
                Broken.NO_KEY_CERT_SIGN,
                cert,
                "its keyUsage does not include keyCertSign, so it may not sign certificates",
            )
    return Refusal(Broken.NO_KEY_CERT_SIGN, None, "a CA's keyUsage lacks keyCertSign")


def _path_length(path: Sequence[CertInfo]) -> Refusal:
    for i, cert in enumerate(path[1:], start=1):
        bc = _ext(cert, x509.BasicConstraints)
        if bc is None or bc.path_length is None:
            continue
        below = sum(1 for c in path[1:i] if not c.self_issued)
        if below > bc.path_length:
            n = bc.path_length
            allowed = "no CA certificate" if n == 0 else f"at most {n} CA certificate(s)"
            return Refusal(
                Broken.PATH_LENGTH,
                cert,
                f"its pathLenConstraint is {n}: {allowed} may sit below it, and the chain "
                f"has {below}",
            )
    return Refusal(Broken.PATH_LENGTH, None, "a CA's pathLenConstraint is exceeded")


def _name_constraints(path: Sequence[CertInfo]) -> Refusal:
    leaf = path[0]
    names = ", ".join([*leaf.dns_names, *leaf.ip_addresses]) or "no SAN"
    for cert in path[1:]:
        nc = _ext(cert, x509.NameConstraints)
        if nc is None:
            continue
        parts = []
        if nc.permitted_subtrees:
            parts.append("permits only " + _subtrees(nc.permitted_subtrees))
        if nc.excluded_subtrees:
            parts.append("excludes " + _subtrees(nc.excluded_subtrees))
        return Refusal(
            Broken.NAME_CONSTRAINTS,
            cert,
            f"its nameConstraints {' and '.join(parts) or 'are empty'}; the leaf names {names}",
        )
    return Refusal(Broken.NAME_CONSTRAINTS, None, f"the leaf's names ({names}) break a CA's rules")


def _leaf_eku(path: Sequence[CertInfo]) -> Refusal:
    leaf = path[0]
    usages = _usages(_ext(leaf, x509.ExtendedKeyUsage))
    return Refusal(
        Broken.LEAF_EKU,
        leaf,
        f"its extendedKeyUsage ({usages}) does not include serverAuth, so it may not "
        "identify a TLS server",
    )


def _ca_eku(path: Sequence[CertInfo]) -> Refusal:
    allowed = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    for cert in path[1:]:
        eku = _ext(cert, x509.ExtendedKeyUsage)
        if eku is not None and not allowed & set(eku):
            return Refusal(
                Broken.CA_EKU,
                cert,
                f"its extendedKeyUsage ({_usages(eku)}) does not include serverAuth, so no "
                "TLS server certificate below it is valid",
            )
    return Refusal(Broken.CA_EKU, None, "a CA's extendedKeyUsage excludes serverAuth")


def _leaf_is_ca(path: Sequence[CertInfo]) -> Refusal:
    return Refusal(
        Broken.LEAF_IS_CA,
        path[0],
        "its basicConstraints says CA:TRUE, and a server's (end-entity) certificate must "
        "not be a CA",
    )


_LOCATE = {
    Broken.NO_KEY_CERT_SIGN: _no_key_cert_sign,
    Broken.PATH_LENGTH: _path_length,
    Broken.NAME_CONSTRAINTS: _name_constraints,
    Broken.LEAF_EKU: _leaf_eku,
    Broken.CA_EKU: _ca_eku,
    Broken.LEAF_IS_CA: _leaf_is_ca,
}


E = TypeVar("E", bound=x509.ExtensionType)


def _ext(cert: CertInfo, kind: type[E]) -> E | None:
    """The certificate's extension of that kind; None when absent or unreadable."""
    try:
        return x509_of(cert.der).extensions.get_extension_for_class(kind).value
    except Exception:  # absent, or an extension the library cannot decode
        return None


def _usages(eku: x509.ExtendedKeyUsage | None) -> str:
    if eku is None:
        return "none"
    return ", ".join(getattr(oid, "_name", oid.dotted_string) for oid in eku) or "empty"


def _subtrees(names: Sequence[x509.GeneralName]) -> str:
    return ", ".join(str(getattr(n, "value", n)) for n in names)
