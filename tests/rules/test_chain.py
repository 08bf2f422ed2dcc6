"""Chain family over named cases: served chains (check) and bundle files (inspect)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from audit.analyze import Evidence
from audit.model import Severity
from audit.rules import chain
from audit.trust import TrustStores
from tests import pki
from tests.rules.kit import (
    MOZILLA_PEM,
    NOW,
    bundle,
    ids,
    info,
    run,
    served,
    stores,
    unfilled,
    world,
)

FAMILY = {r.id for r in chain.RULES}


def leaf(h: pki.Hierarchy | None = None, **kw) -> pki.Issued:  # type: ignore[no-untyped-def]
    return (h or world().public).leaf("www.example.com", now=NOW, **kw)


@dataclass(frozen=True)
class Case:
    evidence: Callable[[], Evidence]
    expected: frozenset[str]


def case(evidence: Callable[[], Evidence], *expected: str) -> Case:
    return Case(evidence, frozenset(expected))


W = world


CASES: dict[str, Case] = {
    "healthy served chain": case(lambda: served(info(leaf(), W().public.intermediate))),
    "healthy bundle file": case(lambda: bundle(info(leaf(), W().public.intermediate))),
    "healthy chain with the root sent": case(
        lambda: served(info(leaf(), W().public.intermediate, W().public.root))
    ),
    "server sends the leaf without its intermediate": case(
        lambda: served(info(leaf())), "CHAIN_INCOMPLETE"
    ),
    "fleet holds the missing intermediate": case(
        lambda: served(info(leaf()), intermediates=info(W().public.intermediate)),
        "CHAIN_INCOMPLETE",
    ),
    "bundle file lacks its intermediate": case(
        lambda: bundle(info(leaf()), path="/etc/nginx/tls/www.pem"), "CHAIN_INCOMPLETE"
    ),
    "chain to an unknown root": case(
        lambda: served(info(leaf(W().private), W().private.intermediate)), "CHAIN_UNTRUSTED"
    ),
    "chain to an unknown root, root sent": case(
        lambda: served(info(leaf(W().private), W().private.intermediate, W().private.root)),
        "CHAIN_UNTRUSTED",
    ),
    "internal CA given with --cafile": case(
        lambda: served(
            info(leaf(W().private), W().private.intermediate),
            trust=stores(cafile=[W().private.root]),
        )
    ),
    "self-signed leaf": case(
        lambda: served(info(pki.issue("www.example.com", now=NOW))), "CERT_SELF_SIGNED"
    ),
    "root only in the host's OS store": case(
        lambda: served(
            info(leaf(W().os_only), W().os_only.intermediate),
            trust=stores(host=[W().public.root, W().os_only.root]),
        ),
        "NOT_TRUSTED_BY_MOZILLA",
    ),
    "sent out of order": case(
        lambda: served(info(leaf(), W().public.root, W().public.intermediate)), "CHAIN_ORDER"
    ),
    "unrelated extra certificate": case(
        lambda: served(info(leaf(), W().public.intermediate, W().private.intermediate)),
        "CHAIN_ORDER",
    ),
    "bundle with the intermediate first": case(
        lambda: bundle(info(W().public.intermediate, leaf())), "CHAIN_ORDER"
    ),
    "leaf without intermediate, sent with an unrelated certificate": case(
        lambda: served(info(leaf(), W().private.intermediate)), "CHAIN_INCOMPLETE"
    ),
    # Failures for other reasons are not chain findings.
    "expired leaf, complete chain": case(
        lambda: served(info(leaf(days_before=400, days_after=-3), W().public.intermediate))
    ),
    "CN-only leaf, complete chain": case(
        lambda: served(info(leaf(sans=[]), W().public.intermediate))
    ),
    "RSA-1024 leaf, complete chain": case(
        lambda: served(info(leaf(key_kind="rsa", key_bits=1024), W().public.intermediate))
    ),
    "SHA-1 leaf, complete chain": case(
        lambda: served(info(leaf(hash_name="sha1"), W().public.intermediate))
    ),
    "name mismatch, complete chain": case(
        lambda: served(info(leaf(), W().public.intermediate), servername="api.example.org")
    ),
    "expired leaf without its intermediate is still incomplete": case(
        lambda: served(info(leaf(days_before=400, days_after=-3))), "CHAIN_INCOMPLETE"
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_chain_rules(name: str) -> None:
    c = CASES[name]
    findings = run(c.evidence())
    assert ids(findings) & FAMILY == c.expected
    for f in findings:
        assert not unfilled(f), (f.id, f.diagnose, f.fix)


def _one(evidence: Evidence, rule_id: str):  # type: ignore[no-untyped-def]
    (finding,) = [f for f in run(evidence, chain.RULES) if f.id == rule_id]
    return finding


def test_incomplete_served_chain_texts() -> None:
    f = _one(served(info(leaf())), "CHAIN_INCOMPLETE")
    assert f.severity is Severity.HIGH
    assert f.subject == "listener 443 (www.example.com)"
    assert f.host == "web1"
    assert "the server does not send its intermediate" in f.detail
    assert "Public Intermediate CA" in f.detail
    assert f.diagnose.startswith(
        "echo | openssl s_client -connect 10.0.0.5:443 -servername www.example.com -showcerts"
    )
    assert f"-CAfile {MOZILLA_PEM}" in f.diagnose
    assert "cat leaf.crt intermediate.crt > fullchain.crt" in f.fix
    assert "its intermediate ('CN=Public Intermediate CA,O=certaudit test')" in f.fix


def test_incomplete_bundle_file_says_the_file_lacks_it() -> None:
    f = _one(bundle(info(leaf()), path="/etc/nginx/tls/www.pem"), "CHAIN_INCOMPLETE")
    assert f.subject == "/etc/nginx/tls/www.pem"
    assert "this file lacks its intermediate" in f.detail
    assert f.diagnose == (
        f"openssl verify -CAfile {MOZILLA_PEM} -untrusted /etc/nginx/tls/www.pem "
        "/etc/nginx/tls/www.pem"
    )
    assert "cat /etc/nginx/tls/www.pem intermediate.crt > fullchain.crt" in f.fix


def test_incomplete_fix_uses_the_aia_url() -> None:
    lf = leaf(aia_url="http://ca.example.net/inter.der")
    f = _one(served(info(lf)), "CHAIN_INCOMPLETE")
    assert "curl -so intermediate.der http://ca.example.net/inter.der" in f.fix


def test_untrusted_names_the_root_and_the_store() -> None:
    f = _one(served(info(leaf(W().private), W().private.intermediate)), "CHAIN_UNTRUSTED")
    assert "Private Root CA" in f.detail and "Mozilla" in f.detail
    assert "install its root ('CN=Private Root CA,O=certaudit test')" in f.fix
    assert "update-ca-certificates" in f.fix


def test_not_trusted_by_mozilla_diagnoses_against_mozilla() -> None:
    trust = stores(host=[W().os_only.root])
    f = _one(
        served(info(leaf(W().os_only), W().os_only.intermediate), trust=trust),
        "NOT_TRUSTED_BY_MOZILLA",
    )
    assert f.severity is Severity.MEDIUM
    assert f"-CAfile {MOZILLA_PEM}" in f.diagnose
    assert f.fix.startswith("Firefox and NSS-based clients reject 'CN=OSOnly Root CA,O=certaudit")
    assert "ImportEnterpriseRoots" in f.fix


def test_order_names_what_was_sent() -> None:
    f = _one(served(info(leaf(), W().public.intermediate, W().private.intermediate)), "CHAIN_ORDER")
    assert f.severity is Severity.LOW
    assert "unrelated" in f.detail and "Private Intermediate CA" in f.detail
    assert "(www.example.com then 'Public Intermediate CA')" in f.fix
    g = _one(bundle(info(W().public.intermediate, leaf())), "CHAIN_ORDER")
    assert g.diagnose.startswith("openssl crl2pkcs7 -nocrl -certfile /etc/nginx/tls/fullchain.pem")


def test_a_hostile_common_name_is_quoted_in_the_certbot_command() -> None:
    """A CN is whatever the certificate's maker wrote: pasted, it must stay one argument."""
    cn = "a.example;touch X;#"
    f = _one(bundle(info(pki.issue(cn, now=NOW))), "CERT_SELF_SIGNED")
    assert "(certbot certonly -d 'a.example;touch X;#')" in f.fix
    f = _one(
        bundle(info(W().private.leaf(cn, now=NOW), W().private.intermediate)), "CHAIN_UNTRUSTED"
    )
    assert "certbot certonly -d 'a.example;touch X;#')" in f.fix


def test_no_mozilla_store_means_no_mozilla_finding() -> None:
    trust = TrustStores(mozilla=(), host=info(W().os_only.root))
    findings = run(served(info(leaf(W().os_only), W().os_only.intermediate), trust=trust))
    assert not ids(findings) & FAMILY


def test_healthy_served_chain_raises_nothing_at_all() -> None:
    assert run(served(info(leaf(), W().public.intermediate))) == []
    assert run(bundle(info(leaf(), W().public.intermediate), expected_name="www.example.com")) == []
