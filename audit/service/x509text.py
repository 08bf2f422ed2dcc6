"""What `openssl x509 -text` readers look for first, read from a certificate's DER.

Subject alternative names, validity, key usage and extended key usage, the AIA URLs
(caIssuers, OCSP), CRL distribution points and the SHA-256 fingerprint. Never raises: an
extension that does not decode is named in `problems` and the rest is still read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from audit.model import CertInfo

T = TypeVar("T")

_KEY_USAGES = (
    ("digital_signature", "Digital Signature"),
    ("content_commitment", "Non Repudiation"),
    ("key_encipherment", "Key Encipherment"),
    ("data_encipherment", "Data Encipherment"),
    ("key_agreement", "Key Agreement"),
    ("key_cert_sign", "Certificate Sign"),
    ("crl_sign", "CRL Sign"),
)
"""KeyUsage bits as openssl names them (encipher/decipher only are read separately)."""

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "TLS Web Server Authentication",
    ExtendedKeyUsageOID.CLIENT_AUTH: "TLS Web Client Authentication",
    ExtendedKeyUsageOID.CODE_SIGNING: "Code Signing",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "E-mail Protection",
    ExtendedKeyUsageOID.TIME_STAMPING: "Time Stamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSP Signing",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "Any Extended Key Usage",
}


@dataclass(frozen=True)
class X509Text:
    """The fields, as text (URLs and names exactly as the certificate has them)."""

    sans: tuple[str, ...]
    """"DNS:name", "IP Address:addr", "email:...", "URI:...", "othername:<oid>"..."""
    not_before: datetime
    not_after: datetime
    key_usage: tuple[str, ...]
    key_usage_critical: bool
    extended_key_usage: tuple[str, ...]
    ocsp: tuple[str, ...]
    ca_issuers: tuple[str, ...]
    crl: tuple[str, ...]
    fingerprint: str
    """SHA-256 over the DER, as openssl prints it (AB:CD:...)."""
    problems: tuple[str, ...] = ()
    """Extensions that could not be read, with the reason."""


def x509_text(cert: CertInfo) -> X509Text:
    """The fields of `cert`; what cannot be read is left empty and named in problems."""
    problems: list[str] = []
    parsed: x509.Certificate | None
    try:
        parsed = x509.load_der_x509_certificate(cert.der)
        parsed.extensions  # noqa: B018 - decodes every extension; a malformed one fails here
    except Exception as exc:
        parsed = None
        problems.append(f"the extensions do not decode: {exc}")

    def read(what: str, fn: Callable[[x509.Certificate], T], empty: T) -> T:
        if parsed is None:
            return empty
        try:
            return fn(parsed)
        except x509.ExtensionNotFound:
            return empty
        except Exception as exc:  # a malformed extension: named, never fatal
            problems.append(f"{what}: {exc}")
            return empty

    fallback = tuple(f"DNS:{n}" for n in cert.dns_names)
    fallback += tuple(f"IP Address:{a}" for a in cert.ip_addresses)
    sans = read("subjectAltName", _sans, fallback)
    none: tuple[str, ...] = ()
    usage, critical = read("keyUsage", _key_usage, (none, False))
    ocsp, issuers = read("authorityInfoAccess", _aia, (none, cert.aia_ca_issuers))
    return X509Text(
        sans=sans,
        not_before=cert.not_before,
        not_after=cert.not_after,
        key_usage=usage,
        key_usage_critical=critical,
        extended_key_usage=read("extendedKeyUsage", _eku, ()),
        ocsp=ocsp,
        ca_issuers=issuers,
        crl=read("cRLDistributionPoints", _crl, ()),
        fingerprint=":".join(cert.sha256[i : i + 2] for i in range(0, 64, 2)).upper(),
        problems=tuple(problems),
    )


def _extension(cert: x509.Certificate, kind: type[Any]) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_class(kind)


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    out = []
    for name in _extension(cert, x509.SubjectAlternativeName).value:
        if isinstance(name, x509.DNSName):
            out.append(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress):
            out.append(f"IP Address:{name.value}")
        elif isinstance(name, x509.RFC822Name):
            out.append(f"email:{name.value}")
        elif isinstance(name, x509.UniformResourceIdentifier):
            out.append(f"URI:{name.value}")
        elif isinstance(name, x509.DirectoryName):
            out.append(f"DirName:{name.value.rfc4514_string()}")
        elif isinstance(name, x509.OtherName):
            out.append(f"othername:{name.type_id.dotted_string}")
        else:
            out.append(f"{type(name).__name__}")
    return tuple(out)


def _key_usage(cert: x509.Certificate) -> tuple[tuple[str, ...], bool]:
    ext = _extension(cert, x509.KeyUsage)
    ku = ext.value
    names = [text for attr, text in _KEY_USAGES if getattr(ku, attr)]
    if ku.key_agreement:  # only defined when key agreement is set
        if ku.encipher_only:
            names.append("Encipher Only")
        if ku.decipher_only:
            names.append("Decipher Only")
    return tuple(names), ext.critical


def _eku(cert: x509.Certificate) -> tuple[str, ...]:
    usages = _extension(cert, x509.ExtendedKeyUsage).value
    return tuple(_EKU_NAMES.get(oid, oid.dotted_string) for oid in usages)


def _aia(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ocsp, issuers = [], []
    for desc in _extension(cert, x509.AuthorityInformationAccess).value:
        if not isinstance(desc.access_location, x509.UniformResourceIdentifier):
            continue
        if desc.access_method == AuthorityInformationAccessOID.OCSP:
            ocsp.append(desc.access_location.value)
        elif desc.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
            issuers.append(desc.access_location.value)
    return tuple(ocsp), tuple(issuers)


def _crl(cert: x509.Certificate) -> tuple[str, ...]:
    urls = []
    for point in _extension(cert, x509.CRLDistributionPoints).value:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                urls.append(name.value)
    return tuple(urls)
