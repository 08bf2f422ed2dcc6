"""Certificates generated at test time, relative to a `now` the test chooses.

Nothing here is a fixture file that could expire: every certificate is made fresh. Used by
unit tests (table-driven rule tests), the lab and `make demo`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = dt.UTC
_KEY_CACHE: dict[tuple[str, int], object] = {}


def key(kind: str = "ec", bits: int = 256, fresh: bool = False):  # type: ignore[no-untyped-def]
    """A private key; cached per (kind, bits) because RSA generation is slow.

    fresh=True always makes a new one (for "mismatched key" cases).
    """
    if not fresh and (kind, bits) in _KEY_CACHE:
        return _KEY_CACHE[(kind, bits)]
    if kind == "rsa":
        k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        curves: dict[int, ec.EllipticCurve] = {
            224: ec.SECP224R1(),
            256: ec.SECP256R1(),
            384: ec.SECP384R1(),
            521: ec.SECP521R1(),
        }
        curve = curves[bits]
        k = ec.generate_private_key(curve)
    if not fresh:
        _KEY_CACHE[(kind, bits)] = k
    return k


@dataclass
class Issued:
    """A certificate with its key."""

    cert: x509.Certificate
    key: object

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self, fmt: str = "pkcs8") -> bytes:
        form = {
            "pkcs8": serialization.PrivateFormat.PKCS8,
            "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
            "openssh": serialization.PrivateFormat.OpenSSH,
        }[fmt]
        return self.key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, form, serialization.NoEncryption()
        )


def _name(cn: str | None, org: str = "certaudit test") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def issue(
    cn: str | None,
    *,
    now: dt.datetime,
    issuer: Issued | None = None,
    days_before: float = 30,
    days_after: float = 60,
    sans: Sequence[str] | None = None,
    ca: bool = False,
    key_kind: str = "ec",
    key_bits: int = 256,
    fresh_key: bool = False,
    hash_name: str = "sha256",
    aia_url: str | None = None,
    serial: int | None = None,
    ca_flag: bool | None = None,
    basic_constraints: bool = True,
    path_length: int | None = None,
    key_cert_sign: bool = True,
    eku: Sequence[x509.ObjectIdentifier] | None = None,
    permitted: Sequence[str] = (),
    excluded: Sequence[str] = (),
) -> Issued:
    """Issue a certificate valid from now-days_before to now+days_after.

    sans=None means "the CN as a DNS SAN" (if there is a CN); sans=[] means no SAN
    extension at all (CN-only). Entries that parse as IP addresses become IP SANs.
    issuer=None makes it self-signed.

    `ca` shapes the certificate (a CA: keyUsage keyCertSign, no EKU, no SAN; an end
    entity: EKU serverAuth+clientAuth, SANs). The other knobs break that shape on purpose:
    `ca_flag` sets basicConstraints cA against the shape (a leaf asserting CA:TRUE, an
    intermediate with CA:FALSE), `basic_constraints=False` leaves the extension out,
    `path_length` sets pathLenConstraint, `key_cert_sign=False` gives a CA a keyUsage
    without keyCertSign, `eku` replaces the extendedKeyUsage list (an empty list leaves
    it out), and `permitted` / `excluded` add DNS nameConstraints.
    """
    k = key(key_kind, key_bits, fresh=fresh_key)
    subject = _name(cn)
    signer_key = issuer.key if issuer else k
    issuer_name = issuer.cert.subject if issuer else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(k.public_key())  # type: ignore[attr-defined]
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=days_before))
        .not_valid_after(now + dt.timedelta(days=days_after))
    )
    if basic_constraints:
        flag = ca if ca_flag is None else ca_flag
        builder = builder.add_extension(
            x509.BasicConstraints(ca=flag, path_length=path_length if flag else None),
            critical=True,
        )
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(k.public_key()),  # type: ignore[attr-defined]
        critical=False,
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[attr-defined]
            critical=False,
        )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_cert_sign,
                crl_sign=key_cert_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        if permitted or excluded:
            builder = builder.add_extension(
                x509.NameConstraints(
                    permitted_subtrees=[x509.DNSName(n) for n in permitted] or None,
                    excluded_subtrees=[x509.DNSName(n) for n in excluded] or None,
                ),
                critical=True,
            )
    else:
        usages = (
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            if eku is None
            else list(eku)
        )
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        names = [cn] if sans is None and cn else list(sans or [])
        if names:
            entries: list[x509.GeneralName] = []
            for n in names:
                try:
                    entries.append(x509.IPAddress(ipaddress.ip_address(n)))
                except ValueError:
                    entries.append(x509.DNSName(n))
            builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    if aia_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(aia_url),
                    )
                ]
            ),
            critical=False,
        )
    if hash_name in _LEGACY_HASHES:
        # cryptography refuses to sign with SHA-1/MD5: sign with SHA-256, then re-sign.
        signed = builder.sign(signer_key, hashes.SHA256())  # type: ignore[arg-type]
        return Issued(_resign_legacy(signed, signer_key, hash_name), k)
    algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}[hash_name]
    cert = builder.sign(signer_key, algo)  # type: ignore[arg-type]
    return Issued(cert, k)


_LEGACY_HASHES = {"sha1": hashes.SHA1, "md5": hashes.MD5}
_LEGACY_ALGORITHMS = {
    # AlgorithmIdentifier DER: sha1WithRSAEncryption, md5WithRSAEncryption (NULL params),
    # ecdsa-with-SHA1 (no params).
    ("rsa", "sha1"): bytes.fromhex("300d06092a864886f70d0101050500"),
    ("rsa", "md5"): bytes.fromhex("300d06092a864886f70d0101040500"),
    ("ec", "sha1"): bytes.fromhex("300906072a8648ce3d0401"),
}


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _der_children(der: bytes) -> list[bytes]:
    """The TLVs inside one DER SEQUENCE (enough DER for certificates)."""

    def header(pos: int) -> tuple[int, int]:
        first = der[pos + 1]
        if first < 0x80:
            return 2, first
        n = first & 0x7F
        return 2 + n, int.from_bytes(der[pos + 2 : pos + 2 + n], "big")

    hlen, length = header(0)
    pos, end, out = hlen, hlen + length, []
    while pos < end:
        h, n = header(pos)
        out.append(der[pos : pos + h + n])
        pos += h + n
    return out


def _resign_legacy(cert: x509.Certificate, signer_key, hash_name: str) -> x509.Certificate:  # type: ignore[no-untyped-def]
    """The same certificate signed with SHA-1 or MD5 (for WEAK_SIGNATURE cases).

    Rewrites the signature AlgorithmIdentifier in the TBS and outside it, then signs the
    new TBS with the legacy hash. RSA signers support sha1 and md5, EC signers sha1.
    """
    from cryptography.hazmat.primitives.asymmetric import padding

    kind = "rsa" if isinstance(signer_key, rsa.RSAPrivateKey) else "ec"
    alg = _LEGACY_ALGORITHMS[(kind, hash_name)]
    tbs_old, _, _ = _der_children(cert.public_bytes(serialization.Encoding.DER))
    fields = _der_children(tbs_old)
    fields[2] = alg  # [0] version, serial, signature algorithm, issuer, ...
    tbs = _der(0x30, b"".join(fields))
    algo = _LEGACY_HASHES[hash_name]()
    if kind == "rsa":
        signature = signer_key.sign(tbs, padding.PKCS1v15(), algo)
    else:
        signature = signer_key.sign(tbs, ec.ECDSA(algo))
    der = _der(0x30, tbs + alg + _der(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


@dataclass
class Hierarchy:
    """root -> intermediate -> leaves, the usual shape of a public chain."""

    root: Issued
    intermediate: Issued

    def leaf(self, cn: str, *, now: dt.datetime, **kw) -> Issued:  # type: ignore[no-untyped-def]
        return issue(cn, now=now, issuer=self.intermediate, **kw)


def hierarchy(  # type: ignore[no-untyped-def]
    now: dt.datetime, name: str = "Test", key_kind: str = "ec", **intermediate
) -> Hierarchy:
    """A fresh root and intermediate, each valid for years around `now`.

    `intermediate` goes to the intermediate's `issue` (validity, basicConstraints,
    keyUsage, EKU or nameConstraints broken on purpose)."""
    root = issue(
        f"{name} Root CA",
        now=now,
        ca=True,
        days_before=365,
        days_after=3650,
        key_kind=key_kind,
        fresh_key=True,
    )
    shape: dict[str, object] = {"days_before": 300, "days_after": 1800, **intermediate}
    inter = issue(
        f"{name} Intermediate CA",
        now=now,
        issuer=root,
        ca=True,
        key_kind=key_kind,
        fresh_key=True,
        **shape,  # type: ignore[arg-type]
    )
    return Hierarchy(root, inter)


def pem_bundle(*items: Issued) -> bytes:
    """Concatenated PEM certificates, in the order given."""
    return b"".join(i.pem for i in items)


def pkcs7_bundle(*items: Issued, pem: bool = True) -> bytes:
    """A certs-only PKCS#7 bundle."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    enc = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    return pkcs7.serialize_certificates([i.cert for i in items], enc)


def utcnow() -> dt.datetime:
    """The real clock, second precision (for the lab; unit tests pass a frozen now)."""
    return dt.datetime.now(UTC).replace(microsecond=0)


def _raw_name(*attrs: tuple[str, int, bytes]) -> bytes:
    """A Name in DER from (dotted OID, string tag, raw value bytes), one RDN each: names
    cryptography will not write itself (a T61String holding Latin-1 bytes, a BMPString)."""
    rdns = []
    for dotted, tag, value in attrs:
        body = _oid_der(dotted)
        rdns.append(_der(0x31, _der(0x30, body + _der(tag, value))))
    return _der(0x30, b"".join(rdns))


def _oid_der(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out.extend(reversed(chunk))
    return _der(0x06, bytes(out))


T61_COMMON_NAME = "Müller Zertifizierungsstelle"
"""The common name of `legacy_name_ca`, as a Latin-1 T61String on the wire."""


def legacy_name_ca(now: dt.datetime) -> Issued:
    """A self-signed CA whose subject and issuer are a Latin-1 T61String CN (legal, and
    common in old European CAs) plus a BMPString O: cryptography refuses to decode them."""
    from cryptography.hazmat.primitives.asymmetric import padding

    made = issue("placeholder", now=now, ca=True, key_kind="rsa", key_bits=2048)
    signer = made.key
    name = _raw_name(
        ("2.5.4.6", 0x13, b"DE"),
        ("2.5.4.10", 0x1E, "Prüfstelle".encode("utf-16-be")),
        ("2.5.4.3", 0x14, T61_COMMON_NAME.encode("latin-1")),
    )
    tbs_old, alg, _ = _der_children(made.der)
    fields = _der_children(tbs_old)
    fields[3] = name  # [0] version, serial, signature algorithm, issuer, validity, subject
    fields[5] = name
    tbs = _der(0x30, b"".join(fields))
    assert isinstance(signer, rsa.RSAPrivateKey)
    signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    der = _der(0x30, tbs + alg + _der(0x03, b"\x00" + signature))
    return Issued(x509.load_der_x509_certificate(der), signer)
