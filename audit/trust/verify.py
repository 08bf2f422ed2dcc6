"""Asking cryptography's verifier, relaxed to judge trust only, and strictly.

`verify_chain` is the relaxed question (does the leaf reach this store?): a client
verifier (no server name, so no name check), a permissive extension policy (end-entity:
anything goes; CA: only basicConstraints must be present, which the library insists on)
and a validation time inside the leaf's validity window. When the library refuses anyway
(SHA-1/MD5 signatures, RSA keys below 2048 bits on a signer, an intermediate expired at
that time), the chain is linked structurally (paths.py) and counts as reaching the store
if that path does; the refusal is kept in the outcome.

`client_refusal` asks what a client with today's defaults refuses in a chain that
reaches a store: the library's own checks on CA certificates (basicConstraints cA, path
length, name constraints, validity at that time) plus the extension rules such clients
apply: a CA's keyUsage, when present, includes keyCertSign; an extendedKeyUsage, when
present, allows serverAuth (a CA may also say anyExtendedKeyUsage); the leaf does not
assert basicConstraints cA. The library's web PKI policy would also demand extensions
OpenSSL and Go clients do without (keyUsage on every CA, key identifiers, a SAN), so
those four rules are checked by validators given to a permissive policy, and they word
their refusals as the library's own web PKI policy does.

`strict_error` is what a strict client says: web PKI policy, at the real time, for the
server name.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    DNSName,
    ExtensionPolicy,
    IPAddress,
    Policy,
    PolicyBuilder,
    VerificationError,
)

from audit.certparse import describe
from audit.model import CertInfo
from audit.trust.hostnames import a_label
from audit.trust.paths import Anchors, anchor_path, build_path, x509_of

NO_PATH = "no path to a root in the store"
"""The tidied refusal when the library found no path at all (nothing else went wrong)."""

_LIBRARY_NO_PATH = "all candidates exhausted with no interior errors"


@dataclass(frozen=True)
class Outcome:
    """Whether a leaf reached one store, by which path, and what the library said."""

    ok: bool
    path: tuple[CertInfo, ...]
    """The verified path (leaf first, anchor last), or the path as far as it links."""
    error: str = ""
    """The library's refusal, tidied ("" when it verified)."""


_CA_POLICY = ExtensionPolicy.permit_all().require_present(
    x509.BasicConstraints, Criticality.AGNOSTIC, None
)
"""The most permissive CA policy the library allows (it insists on basicConstraints)."""


def verify_chain(
    leaf: CertInfo, pool: Sequence[CertInfo], anchors: Anchors, at: datetime
) -> Outcome:
    """Does `leaf` reach `anchors` with `pool` as untrusted intermediates?"""
    verifier = (
        PolicyBuilder()
        .store(anchors.store)
        .time(at)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=ExtensionPolicy.permit_all())
        .build_client_verifier()
    )
    known = {c.der: c for c in (leaf, *pool, *anchors.certs)}
    try:
        verified = verifier.verify(x509_of(leaf.der), [x509_of(c.der) for c in pool])
    except VerificationError as exc:
        error = tidy(str(exc))
    except Exception as exc:  # a certificate the library cannot handle at all
        error = tidy(f"{type(exc).__name__}: {exc}")
    else:
        path = []
        for cert in verified.chain:
            der = cert.public_bytes(Encoding.DER)
            path.append(known.get(der) or describe(cert))
        return Outcome(True, tuple(path))
    anchored = anchor_path(build_path(leaf, pool), anchors)
    if anchored is not None:
        return Outcome(True, tuple(anchored), error)
    return Outcome(False, tuple(build_path(leaf, pool)), error)


def _key_cert_sign(_: Policy, __: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    if ku is not None and not ku.key_cert_sign:
        raise ValueError("keyUsage.keyCertSign must be asserted in a CA certificate")


def _ca_server_auth(_: Policy, __: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    allowed = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if eku is not None and not allowed & set(eku):
        raise ValueError("Neither EKU nor anyEKU could be found")


def _ee_server_auth(_: Policy, __: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        raise ValueError("required EKU not found")


def _ee_not_ca(_: Policy, __: x509.Certificate, bc: x509.BasicConstraints | None) -> None:
    if bc is not None and bc.ca:
        raise ValueError("basicConstraints.cA must not be asserted in an EE certificate")


_CLIENT_CA_POLICY = _CA_POLICY.may_be_present(
    x509.KeyUsage, Criticality.AGNOSTIC, _key_cert_sign
).may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _ca_server_auth)
_CLIENT_EE_POLICY = (
    ExtensionPolicy.permit_all()
    .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _ee_not_ca)
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _ee_server_auth)
)


def client_refusal(leaf: CertInfo, pool: Sequence[CertInfo], anchors: Anchors, at: datetime) -> str:
    """What a client with today's defaults says about `leaf` with `pool` as intermediates,
    against `anchors`, at `at` (tidied; "" when it accepts the chain). No name check."""
    verifier = (
        PolicyBuilder()
        .store(anchors.store)
        .time(at)
        .extension_policies(ca_policy=_CLIENT_CA_POLICY, ee_policy=_CLIENT_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verifier.verify(x509_of(leaf.der), [x509_of(c.der) for c in pool])
    except VerificationError as exc:
        return tidy(str(exc))
    except Exception as exc:  # a certificate the library cannot handle at all
        return tidy(f"{type(exc).__name__}: {exc}")
    return ""


def strict_error(
    leaf: CertInfo, sent: Sequence[CertInfo], anchors: Anchors, now: datetime, name: str | None
) -> str:
    """What a strict client says: web PKI policy, at `now`, for the server name."""
    builder = PolicyBuilder().store(anchors.store).time(now)
    try:
        if name:
            try:
                subject: DNSName | IPAddress = IPAddress(ipaddress.ip_address(name.strip("[]")))
            except ValueError:
                subject = DNSName(a_label(name.rstrip(".")))
            builder.build_server_verifier(subject).verify(
                x509_of(leaf.der), [x509_of(c.der) for c in sent]
            )
        else:
            builder.build_client_verifier().verify(
                x509_of(leaf.der), [x509_of(c.der) for c in sent]
            )
    except VerificationError as exc:
        return tidy(str(exc))
    except Exception as exc:  # a name or certificate the library will not take
        return tidy(f"{type(exc).__name__}: {exc}")
    return ""


def tidy(error: str) -> str:
    """The verifier's message without Rust debug noise."""
    error = re.sub(
        r"\s*\(encountered processing <Certificate\(subject=<Name\((.*?)\)>.*$", r" (at \1)", error
    )
    error = re.sub(r"AlgorithmIdentifier \{.*?oid: ([0-9.]+)\b.*\}", r"algorithm \1", error)
    error = error.replace("validation failed: ", "").replace("candidates exhausted: ", "")
    error = error.replace("Python extension validator failed: ValueError: ", "")
    if error.strip() == _LIBRARY_NO_PATH:
        return NO_PATH
    return error.strip()[:300]


def inside_validity(now: datetime, leaf: CertInfo) -> datetime:
    """`now`, moved inside the leaf's validity window when it falls outside it."""
    if leaf.not_before > leaf.not_after:
        return now
    if now > leaf.not_after:
        return leaf.not_after - timedelta(seconds=1)
    if now < leaf.not_before:
        return leaf.not_before + timedelta(seconds=1)
    return now
