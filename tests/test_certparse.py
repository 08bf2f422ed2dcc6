"""certparse's contract: every certificate in the bytes comes back, everything that looked
like one but would not parse comes back as a reason, and nothing ever raises."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.certparse import MAX_CERTS_PER_FILE, ParsedItem, ParseReason, load_der, parse_bytes
from tests import pki

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)
H = pki.hierarchy(NOW)
LEAF = H.leaf("www.example.test", now=NOW, sans=["www.example.test", "192.0.2.7"])


def certs(items: list[ParsedItem]) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(i.cert.der) for i in items if i.cert]


def raw(
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    extensions: list[tuple[x509.ExtensionType, bool]] = (),  # type: ignore[assignment]
) -> bytes:
    """A self-signed certificate with the dates and extensions given, as DER."""
    k = pki.key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd.example.test")])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(k.public_key())
        .serial_number(1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for ext, critical in extensions:
        b = b.add_extension(ext, critical=critical)
    return b.sign(k, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_a_leaf_reads_back_with_every_field() -> None:
    [item] = parse_bytes(LEAF.pem)
    c = item.cert
    assert c is not None and item.format == "pem"
    assert c.sha256 == hashlib.sha256(LEAF.der).hexdigest()
    assert c.common_name == "www.example.test"
    assert c.dns_names == ("www.example.test",) and c.ip_addresses == ("192.0.2.7",)
    assert c.has_san_extension and not c.is_ca and not c.self_signed
    assert c.key_type == "EC" and c.key_bits == 256 and c.signature_hash == "sha256"
    assert c.issuer == H.intermediate.cert.subject.rfc4514_string()
    assert c.not_after == NOW + dt.timedelta(days=60)
    assert (
        c.authority_key_id
        == H.intermediate.cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest.hex()
    )


@pytest.mark.parametrize(
    "name, data, formats",
    [
        ("PEM bundle in order", pki.pem_bundle(LEAF, H.intermediate, H.root), ["pem"] * 3),
        ("DER", LEAF.der, ["der"]),
        ("PKCS#7 PEM", pki.pkcs7_bundle(LEAF, H.intermediate), ["pkcs7"] * 2),
        ("PKCS#7 DER", pki.pkcs7_bundle(LEAF, H.intermediate, pem=False), ["pkcs7"] * 2),
        ("CRLF line endings", LEAF.pem.replace(b"\n", b"\r\n"), ["pem"]),
        ("byte-order mark", b"\xef\xbb\xbf" + LEAF.pem, ["pem"]),
        ("text around blocks", b"subject=foo\n" + LEAF.pem + b"\nnotes\n", ["pem"]),
        ("cert + key combined", LEAF.pem + LEAF.key_pem(), ["pem"]),
    ],
)
def test_formats(name: str, data: bytes, formats: list[str]) -> None:
    items = parse_bytes(data)
    assert [i.format for i in items] == formats, name
    assert all(i.cert is not None for i in items), [i.error for i in items]


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", []),
        (b"hello, this is not a certificate\n", []),
    ],
)
def test_nothing_certificate_like_gives_nothing(data: bytes, expected: list) -> None:
    assert parse_bytes(data) == expected


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", ""),
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "base64"),
        (b"-----BEGIN CERTIFICATE-----\n" + LEAF.pem[28:200], "END"),
        (LEAF.der[: len(LEAF.der) // 2], "truncated"),
    ],
)
def test_broken_certificates_are_reasons_not_exceptions(data: bytes, reason: str) -> None:
    items = parse_bytes(data)
    assert items and all(i.cert is None and i.error for i in items)
    assert reason in items[0].error


def test_der_with_trailing_bytes_is_read_and_flagged() -> None:
    [item] = parse_bytes(LEAF.der + b"\x00garbage")
    assert item.cert is not None
    assert any("trailing" in w for w in item.cert.warnings)


def test_one_bad_block_does_not_hide_the_others() -> None:
    bad = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"
    items = parse_bytes(LEAF.pem + bad + H.intermediate.pem)
    assert [bool(i.cert) for i in items] == [True, False, True]
    assert [i.index for i in items] == [0, 1, 2]


def test_negative_serial_is_read_with_a_warning() -> None:
    der = bytearray(LEAF.der)
    # the serial is the first INTEGER inside tbsCertificate, after the [0] version field
    tbs = 4
    at = der.index(b"\xa0\x03\x02\x01\x02", tbs) + 5
    assert der[at] == 0x02
    der[at + 2] = 0x80  # the sign bit: a negative serial, still minimal DER (the signature
    [item] = parse_bytes(bytes(der))  # no longer matches, which parsing does not check)
    assert item.cert is not None and item.cert.serial.startswith("-")
    assert any("serial" in w for w in item.cert.warnings)


@pytest.mark.parametrize(
    "not_before, not_after, expected_after",
    [
        (NOW, dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "9999-12-31"),
        (NOW, dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), "2049-12-31"),  # UTCTime
        (NOW, dt.datetime(2050, 1, 1, tzinfo=UTC), "2050-01-01"),  # GeneralizedTime
    ],
)
def test_validity_edges(
    not_before: dt.datetime, not_after: dt.datetime, expected_after: str
) -> None:
    [item] = parse_bytes(raw(not_before=not_before, not_after=not_after))
    assert item.cert is not None
    assert item.cert.not_after.date().isoformat() == expected_after
    assert item.cert.not_after.tzinfo is not None


def test_not_before_after_not_after_is_flagged() -> None:
    der = bytearray(raw(not_before=NOW, not_after=NOW + dt.timedelta(days=1)))
    first = der.index(b"\x17\x0d")  # notBefore and notAfter: two 13-byte UTCTimes
    second = der.index(b"\x17\x0d", first + 15)
    a, b = bytes(der[first : first + 15]), bytes(der[second : second + 15])
    der[first : first + 15], der[second : second + 15] = b, a  # swapped: ends before it starts
    [item] = parse_bytes(bytes(der))
    assert item.cert is not None
    assert item.cert.not_before > item.cert.not_after
    assert "notBefore is after notAfter" in item.cert.warnings


def test_unknown_critical_extension_is_listed_not_fatal() -> None:
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    [item] = parse_bytes(
        raw(not_before=NOW, not_after=NOW + dt.timedelta(days=1), extensions=[(ext, True)])
    )
    assert item.cert is not None and item.cert.self_signed


def test_ten_thousand_sans_and_a_500_certificate_bundle() -> None:
    many = pki.issue(
        "big.example.test", now=NOW, sans=[f"h{i}.example.test" for i in range(10_000)]
    )
    [item] = parse_bytes(many.pem)
    assert item.cert is not None and len(item.cert.dns_names) == 10_000
    bundle = b"".join(
        pki.issue(f"c{i}.example.test", now=NOW, serial=i + 1).pem for i in range(500)
    )
    items = parse_bytes(bundle)
    assert len(items) == 500 and all(i.cert for i in items)


def test_identical_bytes_give_the_identical_object() -> None:
    assert load_der(LEAF.der) is load_der(bytes(LEAF.der))  # memoised: a fleet repeats bundles


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data: bytes) -> None:
    for item in parse_bytes(data):
        assert (item.cert is None) != (item.error is None)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_certificates_never_raise(data: st.DataObject) -> None:
    base = bytearray(data.draw(st.sampled_from([LEAF.der, LEAF.pem, H.intermediate.der])))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(base) - 1))
        base[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(base)))
    for item in parse_bytes(bytes(base[:cut])):
        assert (item.cert is None) != (item.error is None)


# --------------------------------------------------------------------------
# Keys and keystores are named as what they are; bounded, linear parsing.


def _key_ders() -> dict[str, bytes]:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = pki.key("rsa", 2048)
    der, priv = serialization.Encoding.DER, serialization.PrivateFormat
    none = serialization.NoEncryption()
    return {
        "PKCS#8": ec_key.private_bytes(der, priv.PKCS8, none),
        "encrypted PKCS#8": ec_key.private_bytes(
            der, priv.PKCS8, serialization.BestAvailableEncryption(b"secret")
        ),
        "PKCS#1 RSA": rsa_key.private_bytes(der, priv.TraditionalOpenSSL, none),
        "EC": ec_key.private_bytes(der, priv.TraditionalOpenSSL, none),
        "PKCS#12": pkcs12.serialize_key_and_certificates(
            b"x", ec_key, None, None, serialization.BestAvailableEncryption(b"secret")
        ),
    }


@pytest.mark.parametrize("name", ["PKCS#8", "encrypted PKCS#8", "PKCS#1 RSA", "EC", "PKCS#12"])
def test_der_keys_and_keystores_are_named_not_unparseable(name: str) -> None:
    [item] = parse_bytes(_key_ders()[name])
    assert item.cert is None and item.reason is not None
    assert not item.reason.is_certificate_problem
    expected = ParseReason.KEYSTORE if name == "PKCS#12" else ParseReason.PRIVATE_KEY
    assert item.reason is expected and name.split()[-1] in (item.error or "")


def test_a_pem_key_alone_is_named_and_beside_certificates_is_skipped() -> None:
    [item] = parse_bytes(LEAF.key_pem())
    assert item.reason is ParseReason.PRIVATE_KEY and "private key" in (item.error or "")
    assert [i.cert is not None for i in parse_bytes(LEAF.pem + LEAF.key_pem())] == [True]


def test_unterminated_begin_lines_are_parsed_in_linear_time() -> None:
    data = b"-----BEGIN CERTIFICATE-----\nAAAA\n" * 40_000  # 1.3 MB; quadratic would hang
    items = parse_bytes(data)
    assert len(items) == 40_000
    assert all(i.reason is ParseReason.UNTERMINATED for i in items)


def test_more_certificates_than_the_cap_are_stated() -> None:
    items = parse_bytes(LEAF.pem * (MAX_CERTS_PER_FILE + 1234))
    assert sum(1 for i in items if i.cert is not None) == MAX_CERTS_PER_FILE
    assert items[-1].reason is ParseReason.TOO_MANY
    assert "1234 more not read" in (items[-1].error or "")
