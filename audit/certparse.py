"""Bytes -> certificates. Contract: never raises on bad input; errors are data.

Accepts PEM (bundles, CRLF, BOM, text around the blocks), DER (with trailing bytes
reported), PKCS#7 (PEM or DER). Every certificate comes back as a model.CertInfo;
everything that looked like a certificate but would not parse comes back as a reason.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import re
import threading
import warnings as pywarnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from audit.dn import certificate_names, der_items
from audit.model import CertInfo

_PEM_MARKER = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 #]{1,64})-----")
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_PKCS7_LABELS = {b"PKCS7", b"CERTIFICATE CHAIN"}
_KEY_LABELS = {
    b"PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"DSA PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
    b"OPENSSH PRIVATE KEY",
    b"ANY PRIVATE KEY",
}

MAX_CERTS_PER_FILE = 5000
"""Bound on certificates read from one input (a 500-certificate bundle is normal); past
it, one TOO_MANY item says how many were left unread."""


class ParseReason(enum.StrEnum):
    """Why an item is not a certificate. Stable codes; the text beside them says more."""

    NOT_BASE64 = "not_base64"
    """A PEM certificate block whose body is not base64."""
    UNTERMINATED = "unterminated"
    """A BEGIN CERTIFICATE line with no matching END line."""
    MALFORMED = "malformed"
    """DER that is truncated or not a certificate's structure."""
    REFUSED = "refused"
    """Well-formed DER the certificate parser refuses (a field it cannot accept)."""
    PKCS7_INVALID = "pkcs7_invalid"
    """A PKCS#7 container that does not parse."""
    PRIVATE_KEY = "private_key"
    """A private key, not a certificate (named so, never called an unparseable cert)."""
    KEYSTORE = "keystore"
    """A PKCS#12 or Java keystore: certificates behind a password, not read here."""
    TOO_MANY = "too_many"
    """More certificates than MAX_CERTS_PER_FILE; the rest were not read."""
    UNEXPECTED = "unexpected"
    """The parser itself failed (a bug): stated, never raised."""

    @property
    def is_certificate_problem(self) -> bool:
        """A certificate that is broken (rather than something that is not one)."""
        return self not in (ParseReason.PRIVATE_KEY, ParseReason.KEYSTORE)


@dataclass(frozen=True)
class ParsedItem:
    """One certificate, or one reason something that looked like one did not parse."""

    index: int
    format: str
    cert: CertInfo | None = None
    error: str | None = None
    reason: ParseReason | None = None
    """Set with `error`: the stable code of why this is not a certificate."""


def _bad(index: int, fmt: str, reason: ParseReason, error: str) -> ParsedItem:
    return ParsedItem(index, fmt, error=error, reason=reason)


def _hex(b: bytes | None) -> str | None:
    return b.hex() if b is not None else None


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _key_info(cert: x509.Certificate) -> tuple[str, int, str]:
    try:
        key = cert.public_key()
    except Exception:  # unsupported or malformed key: still report the certificate
        return "unknown", 0, ""
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(spki).hexdigest()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, digest
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, digest
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, digest
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, digest
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, digest
    return "unknown", 0, digest


def _verifies_itself(cert: x509.Certificate) -> bool:
    try:
        key = cert.public_key()
        algo = cert.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey) and algo is not None:
            pss = cert.signature_algorithm_parameters
            pad = pss if isinstance(pss, padding.PSS) else padding.PKCS1v15()
            key.verify(cert.signature, cert.tbs_certificate_bytes, pad, algo)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algo is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algo))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        elif isinstance(key, dsa.DSAPublicKey) and algo is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, algo)
        else:
            return False
        return True
    except Exception:
        return False


T = TypeVar("T")
E = TypeVar("E", bound=x509.ExtensionType)


class _Fields:
    """Reads one field at a time; a field that does not read is a warning, not a crash."""

    def __init__(self, cert: x509.Certificate) -> None:
        self.cert = cert
        self.warnings: list[str] = []

    def read(self, what: str, fn: Callable[[], T], default: T) -> T:
        try:
            return fn()
        except Exception as exc:  # malformed field: keep going, say what it was
            self.warnings.append(f"{what}: {exc}")
            return default


def _extension(cert: x509.Certificate, kind: type[E]) -> E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _first_cn(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("latin-1")


def _names(f: _Fields, der: bytes) -> tuple[str, str, str | None]:
    """(subject, issuer, common name). A name cryptography refuses (a Latin-1 T61String,
    say) is read by the lenient decoder instead: one odd encoding must not make a
    certificate anonymous."""
    lenient = certificate_names(der)
    subject = f.read("subject", lambda: f.cert.subject.rfc4514_string(), None)
    issuer = f.read("issuer", lambda: f.cert.issuer.rfc4514_string(), None)
    if subject is None:
        subject = lenient[1].rfc4514() if lenient else "<unreadable subject>"
    if issuer is None:
        issuer = lenient[0].rfc4514() if lenient else "<unreadable issuer>"
    common_name = f.read("common name", lambda: _first_cn(f.cert), None)
    if common_name is None and lenient is not None:
        common_name = lenient[1].first("CN")
    return subject, issuer, common_name


def _serial(f: _Fields) -> str:
    number = f.read("serial", lambda: f.cert.serial_number, 0)
    if number <= 0:
        f.warnings.append("serial number is not positive (RFC 5280 requires a positive serial)")
    return format(number, "x") if number >= 0 else "-" + format(-number, "x")


def _san(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(DNS names, IP addresses, whether the extension is there at all)."""
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is None:
        return (), (), False
    dns = tuple(san.get_values_for_type(x509.DNSName))
    ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return dns, ips, True


def _aia(cert: x509.Certificate) -> tuple[str, ...]:
    aia = _extension(cert, x509.AuthorityInformationAccess)
    return tuple(
        d.access_location.value
        for d in aia or ()
        if d.access_method == x509.oid.AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )


def _signature(f: _Fields) -> tuple[str, str | None]:
    """(algorithm name or dotted OID, hash name or None)."""
    oid = f.cert.signature_algorithm_oid
    name = getattr(oid, "_name", None) or oid.dotted_string
    if name == "Unknown OID":
        name = oid.dotted_string
    algorithm = f.read("signature hash", lambda: f.cert.signature_hash_algorithm, None)
    if algorithm is not None:
        return name, algorithm.name
    lowered = name.lower()
    return name, "md5" if "md5" in lowered else ("sha1" if "sha1" in lowered else None)


def describe(cert: x509.Certificate) -> CertInfo:
    """Turn a cryptography certificate into a CertInfo. Never raises."""
    der = cert.public_bytes(serialization.Encoding.DER)
    f = _Fields(cert)
    subject, issuer, common_name = _names(f, der)
    serial = _serial(f)
    not_before = _utc(cert.not_valid_before_utc)
    not_after = _utc(cert.not_valid_after_utc)
    if not_before > not_after:
        f.warnings.append("notBefore is after notAfter")
    no_san: tuple[tuple[str, ...], tuple[str, ...], bool] = ((), (), False)
    dns_names, ips, has_san = f.read("subjectAltName", lambda: _san(cert), no_san)
    basic = f.read("basicConstraints", lambda: _extension(cert, x509.BasicConstraints), None)
    ski = f.read("subjectKeyIdentifier", lambda: _extension(cert, x509.SubjectKeyIdentifier), None)
    aki = f.read(
        "authorityKeyIdentifier", lambda: _extension(cert, x509.AuthorityKeyIdentifier), None
    )
    no_urls: tuple[str, ...] = ()
    aia_urls = f.read("authorityInfoAccess", lambda: _aia(cert), no_urls)
    key_type, key_bits, pk_digest = _key_info(cert)
    sig_name, sig_hash = _signature(f)
    self_issued = subject == issuer
    return CertInfo(
        sha256=hashlib.sha256(der).hexdigest(),
        der=der,
        subject=subject,
        issuer=issuer,
        common_name=common_name,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        dns_names=dns_names,
        ip_addresses=ips,
        has_san_extension=has_san,
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm=sig_name,
        signature_hash=sig_hash,
        is_ca=bool(basic and basic.ca),
        self_issued=self_issued,
        self_signed=self_issued and _verifies_itself(cert),
        subject_key_id=_hex(ski.digest) if ski else None,
        authority_key_id=_hex(aki.key_identifier) if aki else None,
        aia_ca_issuers=aia_urls,
        public_key_sha256=pk_digest,
        warnings=tuple(f.warnings),
    )


def load_der(der: bytes) -> CertInfo:
    """Parse one DER certificate. Raises ValueError with a reason (used by callers below).

    CertInfo is immutable and a function of the bytes alone, so results are memoised: a
    fleet repeats the same CA bundle on every host, and it is parsed once.
    """
    with _CACHE_LOCK:
        cached = _CACHE.get(der)
        if cached is not None:
            _CACHE.move_to_end(der)
            return cached
    try:
        with pywarnings.catch_warnings():
            # cryptography warns (and will refuse) on non-positive serials: we report them.
            pywarnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
            info = describe(cert)
    except Exception as exc:  # malformed DER, or a field cryptography refuses lazily
        raise ValueError(_reason(exc)) from None
    with _CACHE_LOCK:
        _CACHE[der] = info
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return info


_CACHE: OrderedDict[bytes, CertInfo] = OrderedDict()
_CACHE_LOCK = threading.Lock()
"""Guards both caches: hosts' answers are parsed on a worker thread while the event loop
parses served chains."""
_CACHE_SIZE = 8192


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _der_length(data: bytes) -> int | None:
    """Total length of the leading DER SEQUENCE, or None if it is not one."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(data) < 2 + n:
        return None
    return 2 + n + int.from_bytes(data[2 : 2 + n], "big")


def _parse_pkcs7(data: bytes, pem: bool, start: int) -> list[ParsedItem]:
    try:
        certs = (
            pkcs7.load_pem_pkcs7_certificates(data)
            if pem
            else pkcs7.load_der_pkcs7_certificates(data)
        )
    except Exception as exc:
        return [
            _bad(
                start, "pkcs7", ParseReason.PKCS7_INVALID, f"PKCS#7 does not parse: {_reason(exc)}"
            )
        ]
    items = []
    for i, c in enumerate(certs[:MAX_CERTS_PER_FILE]):
        try:
            items.append(ParsedItem(start + i, "pkcs7", cert=describe(c)))
        except Exception as exc:
            items.append(_bad(start + i, "pkcs7", ParseReason.REFUSED, _reason(exc)))
    if len(certs) > MAX_CERTS_PER_FILE:
        items.append(_too_many(start + MAX_CERTS_PER_FILE, "pkcs7", len(certs)))
    return items


def _too_many(index: int, fmt: str, total: int | None) -> ParsedItem:
    more = f"{total - MAX_CERTS_PER_FILE} more" if total is not None else "the rest"
    return _bad(
        index,
        fmt,
        ParseReason.TOO_MANY,
        f"more than {MAX_CERTS_PER_FILE} certificates in one input: {more} not read",
    )


def parse_bytes(data: bytes) -> list[ParsedItem]:
    """Every certificate in `data`, in order. Never raises.

    Returns an empty list when there is nothing certificate-like at all.
    """
    try:
        return _parse_bytes(data)
    except Exception as exc:  # the contract: bad bytes are data, never a crash
        return [_bad(0, "unknown", ParseReason.UNEXPECTED, f"parser failure: {_reason(exc)}")]


def _parse_bytes(data: bytes) -> list[ParsedItem]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    length = _der_length(data)
    if length is not None and length <= len(data):  # DER (whose names may hold any text)
        return _parse_der(data)
    if b"-----BEGIN" in data:
        return _parse_pem(data)
    if data[:1] == b"\x30":
        return _parse_der(data)
    return []


@dataclass(frozen=True)
class _Block:
    label: bytes
    begin: re.Match[bytes]
    end: re.Match[bytes]

    def body(self, data: bytes) -> bytes:
        return data[self.begin.end() : self.end.start()]

    def whole(self, data: bytes) -> bytes:
        return data[self.begin.start() : self.end.end()]


def _pem_blocks(data: bytes) -> tuple[list[_Block], list[bytes]]:
    """Every BEGIN/END pair, in one linear pass; and the labels of BEGIN lines left
    without their END. A BEGIN inside an open block restarts it (the open one was never
    terminated)."""
    blocks: list[_Block] = []
    unterminated: list[bytes] = []
    begin: re.Match[bytes] | None = None
    for m in _PEM_MARKER.finditer(data):
        side, label = m.group(1), m.group(2)
        if side == b"BEGIN":
            if begin is not None:
                unterminated.append(begin.group(2))
            begin = m
        elif begin is not None and label == begin.group(2):
            blocks.append(_Block(label, begin, m))
            begin = None
    if begin is not None:
        unterminated.append(begin.group(2))
    return blocks, unterminated


def _pem_certificate(label: bytes, body: bytes, index: int) -> ParsedItem:
    key = (label, body)
    with _CACHE_LOCK:
        cached = _BODY_CACHE.get(key)
        if cached is not None:  # the same block on another host: no strip, no base64
            _BODY_CACHE.move_to_end(key)
    if cached is not None:
        return ParsedItem(index, "pem", cert=cached)
    try:
        der = base64.b64decode(re.sub(rb"\s+", b"", body), validate=True)
    except (binascii.Error, ValueError):
        return _bad(index, "pem", ParseReason.NOT_BASE64, "PEM body is not valid base64")
    if label == b"TRUSTED CERTIFICATE":
        length = _der_length(der)
        der = der[:length] if length else der  # drop OpenSSL's trailing aux data
    try:
        cert = load_der(der)
    except ValueError as exc:
        return _bad(index, "pem", ParseReason.REFUSED, str(exc))
    with _CACHE_LOCK:
        _BODY_CACHE[key] = cert
        if len(_BODY_CACHE) > _CACHE_SIZE:
            _BODY_CACHE.popitem(last=False)
    return ParsedItem(index, "pem", cert=cert)


_BODY_CACHE: OrderedDict[tuple[bytes, bytes], CertInfo] = OrderedDict()
"""PEM block bodies already parsed (a fleet repeats its CA bundle on every host)."""


def _parse_pem(data: bytes) -> list[ParsedItem]:
    blocks, unterminated = _pem_blocks(data)
    items: list[ParsedItem] = []
    certs = 0
    keys: list[bytes] = []
    for block in blocks:
        index, label = len(items), block.label
        if label in _KEY_LABELS:
            keys.append(label)
        elif label in _PKCS7_LABELS:
            items.extend(_parse_pkcs7(block.whole(data), True, index))
        elif label in _CERT_LABELS:
            if certs >= MAX_CERTS_PER_FILE:
                total = sum(1 for b in blocks if b.label in _CERT_LABELS)
                items.append(_too_many(index, "pem", total))
                break
            items.append(_pem_certificate(label, block.body(data), index))
            certs += 1
        # other labels (CSRs, CRLs, parameters) are not certificates: skipped
    if not items:  # a key file, named as one (beside certificates, keys are just skipped)
        for label in keys:
            what = label.decode("ascii").lower()
            items.append(
                _bad(len(items), "pem", ParseReason.PRIVATE_KEY, f"a {what}, not a certificate")
            )
    for label in unterminated:
        if label in _CERT_LABELS:
            items.append(
                _bad(
                    len(items),
                    "pem",
                    ParseReason.UNTERMINATED,
                    f"BEGIN {label.decode('ascii')} without a matching END line",
                )
            )
    return items


def _parse_der(data: bytes) -> list[ParsedItem]:
    length = _der_length(data)
    if length is None or length > len(data):
        return [_bad(0, "der", ParseReason.MALFORMED, "DER is truncated or malformed")]
    named = _not_a_certificate(data[:length])
    if named is not None:
        return [named]
    try:
        cert = load_der(data[:length])
    except ValueError as exc:
        if b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02" in data[:40]:  # signedData OID
            return _parse_pkcs7(data, False, 0)
        return [_bad(0, "der", ParseReason.REFUSED, str(exc))]
    if length < len(data):
        warning = f"{len(data) - length} trailing bytes after the DER certificate"
        cert = replace(cert, warnings=cert.warnings + (warning,))
    return [ParsedItem(0, "der", cert=cert)]


_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")


def _not_a_certificate(der: bytes) -> ParsedItem | None:
    """A DER private key or PKCS#12 keystore, named as what it is (by its shape only: no
    key is ever loaded). None when it may be a certificate."""
    try:
        ((_, body),) = der_items(der)
        fields = der_items(body)
    except ValueError:
        return None
    tags = [tag for tag, _ in fields]
    first = fields[0][1] if fields else b""
    if tags[:2] == [0x02, 0x30] and first == b"\x03" and _PKCS7_DATA_OID in der[:64]:
        return _bad(0, "der", ParseReason.KEYSTORE, "a PKCS#12 keystore (password-protected)")
    if tags[:3] == [0x02, 0x30, 0x04] and first == b"\x00":
        return _bad(0, "der", ParseReason.PRIVATE_KEY, "a PKCS#8 private key, not a certificate")
    if tags[:2] == [0x30, 0x04] and len(tags) == 2:
        return _bad(
            0, "der", ParseReason.PRIVATE_KEY, "an encrypted PKCS#8 private key, not a certificate"
        )
    if len(tags) >= 9 and set(tags[:9]) == {0x02} and first == b"\x00":
        return _bad(
            0, "der", ParseReason.PRIVATE_KEY, "a PKCS#1 RSA private key, not a certificate"
        )
    if tags[:2] == [0x02, 0x04] and first == b"\x01":
        return _bad(0, "der", ParseReason.PRIVATE_KEY, "an EC private key, not a certificate")
    return None


def load_pem_or_der(data: bytes) -> list[CertInfo]:
    """Only the certificates that parsed (convenience for probes and tests)."""
    return [item.cert for item in parse_bytes(data) if item.cert is not None]
