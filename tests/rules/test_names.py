"""Names family over named cases: SAN coverage of the name clients use, CN-only leaves."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from audit.rules import names
from tests import pki
from tests.rules.kit import NOW, bundle, ids, info, run, served, unfilled, world

FAMILY = {r.id for r in names.RULES}
TRUST_FAILURES = {"CHAIN_UNTRUSTED", "CHAIN_INCOMPLETE", "CERT_SELF_SIGNED"}

# (case, leaf CN, SANs (None = the CN), name clients use, expected IDs)
CASES: list[tuple[str, str, Sequence[str] | None, str | None, set[str]]] = [
    ("name covered", "www.example.com", None, "www.example.com", set()),
    ("other name", "app.example.com", None, "api.example.com", {"HOSTNAME_MISMATCH"}),
    (
        "second SAN covers it",
        "example.com",
        ["example.com", "www.example.com"],
        "www.example.com",
        set(),
    ),
    ("case and trailing dot", "www.example.com", None, "WWW.Example.com.", set()),
    ("wildcard covers one label", "*.example.com", None, "api.example.com", set()),
    (
        "wildcard does not cover two labels",
        "*.example.com",
        None,
        "a.b.example.com",
        {"HOSTNAME_MISMATCH"},
    ),
    (
        "wildcard does not cover the bare domain",
        "*.example.com",
        None,
        "example.com",
        {"HOSTNAME_MISMATCH"},
    ),
    (
        "partial-label wildcard is not honoured",
        "w*.example.com",
        None,
        "www.example.com",
        {"HOSTNAME_MISMATCH"},
    ),
    ("IP name with an IP SAN", "10.0.0.5", ["10.0.0.5"], "10.0.0.5", set()),
    ("IP name with only DNS SANs", "www.example.com", None, "10.0.0.5", {"HOSTNAME_MISMATCH"}),
    ("CN-only leaf, CN is the name", "www.example.com", [], "www.example.com", {"SAN_MISSING"}),
    (
        "CN-only leaf, CN is another name",
        "app.example.com",
        [],
        "www.example.com",
        {"SAN_MISSING", "HOSTNAME_MISMATCH"},
    ),
    ("no name to check", "www.example.com", None, None, set()),
]


@pytest.mark.parametrize(
    ("case", "cn", "sans", "name", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_served(
    case: str, cn: str, sans: Sequence[str] | None, name: str | None, expected: set[str]
) -> None:
    leaf = world().public.leaf(cn, now=NOW, sans=sans)
    findings = run(served(info(leaf, world().public.intermediate), servername=name))
    assert ids(findings) & FAMILY == expected
    # A complete chain to a trusted root: name problems never look like trust problems.
    assert not ids(findings) & TRUST_FAILURES
    for f in findings:
        assert not unfilled(f), (f.id, f.diagnose, f.fix)


def test_mismatch_texts() -> None:
    leaf = world().public.leaf("*.example.com", now=NOW)
    (f,) = [
        f
        for f in run(
            served(info(leaf, world().public.intermediate), servername="a.b.example.com"),
            names.RULES,
        )
    ]
    assert f.id == "HOSTNAME_MISMATCH"
    assert "covers exactly one label" in f.detail
    assert "a.b.example.com" in f.detail and "*.example.com" in f.detail
    assert f.diagnose == (
        "echo | openssl s_client -connect 10.0.0.5:443 -servername a.b.example.com 2>/dev/null"
        " | openssl x509 -noout -subject -ext subjectAltName"
    )
    assert "-d a.b.example.com" in f.fix and "dig +short -q a.b.example.com" in f.fix


def test_expected_name_overrides_sni() -> None:
    leaf = world().public.leaf("www.example.com", now=NOW)
    ev = served(
        info(leaf, world().public.intermediate), servername=None, expected_name="shop.example.com"
    )
    assert ids(run(ev, names.RULES)) == {"HOSTNAME_MISMATCH"}


def test_san_missing_in_a_file() -> None:
    leaf = pki.issue("legacy.internal", now=NOW, issuer=world().public.intermediate, sans=[])
    (f,) = run(
        bundle(info(leaf, world().public.intermediate), path="/etc/ssl/legacy.pem"), names.RULES
    )
    assert f.id == "SAN_MISSING"
    assert "legacy.internal" in f.detail and "Common Name" in f.detail
    assert f.diagnose == "openssl x509 -noout -subject -ext subjectAltName -in /etc/ssl/legacy.pem"
    assert "-subj /CN=legacy.internal -addext subjectAltName=DNS:legacy.internal" in f.fix
    assert "/etc/ssl/legacy.pem" in f.fix


def test_ca_certificates_need_no_san() -> None:
    ev = bundle(info(world().public.intermediate))
    assert not ids(run(ev, names.RULES))
