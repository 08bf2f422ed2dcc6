"""audit.trust.hostnames: which names a certificate's SANs cover, over named cases."""

from __future__ import annotations

import pytest

from audit.trust import matches_hostname
from tests import pki
from tests.rules.kit import NOW, info

HOSTNAMES = [
    # (case, SANs, name, expected)
    ("exact", ["www.example.com"], "www.example.com", True),
    ("case-insensitive", ["WWW.Example.COM"], "www.example.com", True),
    ("trailing dot in the name", ["www.example.com"], "www.example.com.", True),
    ("trailing dot in the SAN", ["www.example.com."], "www.example.com", True),
    ("other name", ["app.example.com"], "api.example.com", False),
    ("wildcard covers one label", ["*.example.com"], "api.example.com", True),
    ("wildcard does not cover two labels", ["*.example.com"], "a.b.example.com", False),
    ("wildcard does not cover the bare domain", ["*.example.com"], "example.com", False),
    ("wildcard only as the whole left-most label", ["w*.example.com"], "www.example.com", False),
    ("wildcard not in an inner label", ["www.*.com"], "www.example.com", False),
    ("no wildcard over a one-label suffix", ["*.com"], "example.com", False),
    ("second SAN matches", ["example.com", "*.example.com"], "mail.example.com", True),
    ("IP literal against an IP SAN", ["192.0.2.10"], "192.0.2.10", True),
    ("IPv6 literal in brackets", ["2001:db8::1"], "[2001:db8::1]", True),
    ("IP literal never matches a DNS SAN", ["www.example.com"], "192.0.2.10", False),
    ("IDN name against its A-label", ["xn--bcher-kva.example"], "bücher.example", True),
]


@pytest.mark.parametrize(
    ("case", "sans", "name", "expected"), HOSTNAMES, ids=[h[0] for h in HOSTNAMES]
)
def test_matches_hostname(case: str, sans: list[str], name: str, expected: bool) -> None:
    cert = info(pki.issue("cn.example.com", now=NOW, sans=sans))[0]
    assert matches_hostname(cert, name) is expected


def test_common_name_is_never_used() -> None:
    cn_only = info(pki.issue("www.example.com", now=NOW, sans=[]))[0]
    assert not matches_hostname(cn_only, "www.example.com")
