"""`certaudit inspect` text: what `openssl x509 -text` readers look for first, per
certificate (SANs, validity, key usage and extended key usage, AIA and CRL URLs, the
SHA-256 fingerprint), and audit.service.x509text never raising on odd certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID
from typer.testing import CliRunner

from audit.certparse import load_der
from audit.cli import app
from audit.service.x509text import x509_text
from tests import pki


def _builder(now: dt.datetime, cn: str) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=10))
        .not_valid_after(now + dt.timedelta(days=80))
    )


def _sign(builder: x509.CertificateBuilder) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return builder.public_key(key.public_key()).sign(key, hashes.SHA256())


def _full(now: dt.datetime) -> x509.Certificate:
    return _sign(
        _builder(now, "www.example.test")
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("www.example.test"),
                    x509.DNSName("example.test"),
                    x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
                    x509.RFC822Name("ops@example.test"),
                    x509.UniformResourceIdentifier("https://example.test/"),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [
                    ExtendedKeyUsageOID.SERVER_AUTH,
                    ExtendedKeyUsageOID.CLIENT_AUTH,
                    x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier("http://ocsp.example.test"),
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier("http://ca.example.test/int.der"),
                    ),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier("http://crl.example.test/a.crl")],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    )


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_the_fields_openssl_x509_text_shows(tmp_path: Path) -> None:
    now = pki.utcnow()
    cert = _full(now)
    path = tmp_path / "site.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result = cli("inspect", str(path))
    out = result.stdout
    expected = [
        "SANs:           DNS:www.example.test, DNS:example.test, IP Address:192.0.2.7, "
        "email:ops@example.test, URI:https://example.test/",
        "key usage:      Digital Signature, Key Encipherment (critical)",
        "ext. key usage: TLS Web Server Authentication, TLS Web Client Authentication, "
        "1.3.6.1.4.1.99999.1",
        "OCSP:           http://ocsp.example.test",
        "CA issuers:     http://ca.example.test/int.der",
        "CRL:            http://crl.example.test/a.crl",
        f"notBefore:      {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (10 days ago)",
    ]
    for line in expected:
        assert line in out, out
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert f"SHA-256:        {fingerprint}" in out
    openssl = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if openssl.returncode == 0:  # the same text openssl prints
        assert openssl.stdout.strip().split("=", 1)[1] == fingerprint


def test_a_certificate_without_extensions(tmp_path: Path) -> None:
    cert = _sign(_builder(pki.utcnow(), "bare.test"))
    path = tmp_path / "bare.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out = cli("inspect", str(path)).stdout
    for label in ("SANs:", "key usage:", "ext. key usage:", "OCSP:", "CA issuers:", "CRL:"):
        assert f"     {label}".ljust(21) + "none" in out, label


def test_an_extension_that_does_not_decode_is_named_not_fatal(tmp_path: Path) -> None:
    now = pki.utcnow()
    cert = _sign(
        _builder(now, "odd.test").add_extension(
            x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, b"\x04\x02no"), critical=True
        )
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    info = load_der(der)
    text = x509_text(info)
    assert text.problems and text.problems[0].startswith("the extensions do not decode")
    assert text.key_usage == () and text.not_after == info.not_after
    path = tmp_path / "odd.der"
    path.write_bytes(der)
    result = cli("inspect", str(path))
    assert "unreadable:     the extensions do not decode" in result.stdout
    assert "SHA-256:" in result.stdout


@pytest.mark.parametrize("hostile", ["\x1b[31mred", "a\u202eb", "x\ny"])
def test_peer_text_in_the_fields_is_inert(tmp_path: Path, hostile: str) -> None:
    now = pki.utcnow()
    cert = _sign(
        _builder(now, "h.test").add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier._init_without_validation(
                            f"http://{hostile}/"
                        ),
                    )
                ]
            ),
            critical=False,
        )
    )
    path = tmp_path / "h.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out = cli("inspect", str(path)).stdout
    assert "\x1b" not in out and "\u202e" not in out
    ocsp = next(line for line in out.splitlines() if "OCSP:" in line)
    assert ocsp.strip().startswith("OCSP:           http://")
    assert "\\x" in ocsp or "\\u" in ocsp
