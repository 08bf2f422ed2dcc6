"""Crypto family over named cases: key sizes, signature hashes, leaf validity length."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from audit.analyze import Evidence
from audit.model import CertLocation
from audit.rules import crypto
from audit.rules.base import CertContext
from tests import pki
from tests.rules.kit import NOW, bundle, ids, info, run, served, stores, unfilled, world

FAMILY = {r.id for r in crypto.RULES}
TRUST_FAILURES = {"CHAIN_UNTRUSTED", "CHAIN_INCOMPLETE", "CERT_SELF_SIGNED"}


def leaf(**kw) -> pki.Issued:  # type: ignore[no-untyped-def]
    return world().public.leaf("www.example.com", now=NOW, **kw)


def file(item: pki.Issued, *, trusted: bool = False) -> Evidence:
    """One certificate lying in a file (the fleet case), trusted or not."""
    cert = info(item)[0]
    ctx = CertContext(
        cert=cert,
        location=CertLocation(host="web1", path="/etc/ssl/x.pem"),
        publicly_trusted=trusted,
    )
    return Evidence(extra_certs=[ctx])


def rsa_root(hash_name: str = "sha256") -> pki.Issued:
    return pki.issue(
        "RSA Root CA",
        now=NOW,
        ca=True,
        key_kind="rsa",
        key_bits=2048,
        hash_name=hash_name,
        days_before=365,
        days_after=3650,
    )


CASES: dict[str, tuple[Callable[[], Evidence], set[str]]] = {
    "healthy EC P-256 leaf": (lambda: file(leaf()), set()),
    "RSA-2048 leaf": (lambda: file(leaf(key_kind="rsa", key_bits=2048)), set()),
    "RSA-1024 leaf": (lambda: file(leaf(key_kind="rsa", key_bits=1024)), {"WEAK_KEY"}),
    "EC P-224 leaf": (lambda: file(leaf(key_bits=224)), {"WEAK_KEY"}),
    "SHA-1 leaf": (lambda: file(leaf(hash_name="sha1")), {"WEAK_SIGNATURE"}),
    "MD5 leaf": (
        lambda: file(pki.issue("www.example.com", now=NOW, issuer=rsa_root(), hash_name="md5")),
        {"WEAK_SIGNATURE"},
    ),
    "SHA-1 self-signed root is exempt": (lambda: file(rsa_root("sha1")), set()),
    "SHA-1 self-signed leaf is not a root": (
        lambda: file(
            pki.issue("www.example.com", now=NOW, key_kind="rsa", key_bits=2048, hash_name="sha1")
        ),
        {"WEAK_SIGNATURE"},
    ),
    "SHA-1 intermediate": (
        lambda: file(
            pki.issue("Old Intermediate CA", now=NOW, issuer=rsa_root(), ca=True, hash_name="sha1")
        ),
        {"WEAK_SIGNATURE"},
    ),
    "825-day publicly trusted leaf": (
        lambda: file(leaf(days_before=25, days_after=800), trusted=True),
        {"VALIDITY_TOO_LONG"},
    ),
    "825-day leaf nobody trusts publicly": (
        lambda: file(leaf(days_before=25, days_after=800)),
        set(),
    ),
    "398-day publicly trusted leaf": (
        lambda: file(leaf(days_before=98, days_after=300), trusted=True),
        set(),
    ),
    "long-lived CA certificate": (lambda: file(world().public.intermediate, trusted=True), set()),
    # The same weaknesses on a served, complete chain: no trust finding comes with them.
    "served RSA-1024 leaf": (
        lambda: served(info(leaf(key_kind="rsa", key_bits=1024), world().public.intermediate)),
        {"WEAK_KEY"},
    ),
    "served SHA-1 leaf": (
        lambda: served(info(leaf(hash_name="sha1"), world().public.intermediate)),
        {"WEAK_SIGNATURE"},
    ),
    "served 825-day leaf reaching Mozilla": (
        lambda: served(info(leaf(days_before=25, days_after=800), world().public.intermediate)),
        {"VALIDITY_TOO_LONG"},
    ),
    "served 825-day leaf reaching the user's --cafile": (
        lambda: served(
            info(
                world().private.leaf("www.example.com", now=NOW, days_before=25, days_after=800),
                world().private.intermediate,
            ),
            trust=stores(cafile=[world().private.root]),
        ),
        {"VALIDITY_TOO_LONG"},
    ),
    "served 825-day leaf reaching only the OS store": (
        lambda: served(
            info(
                world().os_only.leaf("www.example.com", now=NOW, days_before=25, days_after=800),
                world().os_only.intermediate,
            ),
            trust=stores(host=[world().os_only.root]),
        ),
        set(),
    ),
    "825-day leaf in an inspected bundle reaching Mozilla": (
        lambda: bundle(info(leaf(days_before=25, days_after=800), world().public.intermediate)),
        {"VALIDITY_TOO_LONG"},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_crypto_rules(name: str) -> None:
    make, expected = CASES[name]
    findings = run(make())
    assert ids(findings) & FAMILY == expected
    assert not ids(findings) & TRUST_FAILURES
    for f in findings:
        assert not unfilled(f), (f.id, f.diagnose, f.fix)


def test_weak_key_texts_for_a_file() -> None:
    (f,) = run(file(leaf(key_kind="rsa", key_bits=1024)), crypto.RULES)
    assert "1024-bit RSA key" in f.detail and "2048" in f.detail
    assert f.diagnose == (
        "openssl storeutl -noout -text -certs /etc/ssl/x.pem | grep -E 'Subject:|Public-Key'"
    )
    assert "/etc/ssl/x.pem" in f.fix


def test_weak_signature_on_a_served_intermediate() -> None:
    root = rsa_root()
    inter = pki.issue("Old Intermediate CA", now=NOW, issuer=root, ca=True, hash_name="sha1")
    lf = pki.issue("www.example.com", now=NOW, issuer=inter)
    findings = run(served(info(lf, inter), trust=stores(cafile=[root])))
    (f,) = [f for f in findings if f.id in FAMILY]
    assert f.id == "WEAK_SIGNATURE"
    assert "Old Intermediate CA" in f.detail and "chain position 2" in f.detail
    assert "sha1WithRSAEncryption" in f.detail
    assert f.diagnose.startswith(
        "echo | openssl s_client -connect 10.0.0.5:443 -servername www.example.com -showcerts"
    )
    assert not ids(findings) & TRUST_FAILURES


def test_validity_too_long_texts() -> None:
    (f,) = run(file(leaf(days_before=25, days_after=800), trusted=True), crypto.RULES)
    assert "825 days" in f.detail and "398" in f.detail
    assert "at most 398 days" in f.fix
