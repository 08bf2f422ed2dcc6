"""Chain family over named cases: served chains (check) and bundle files (inspect)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

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


@functools.cache
def broken(name: str, **intermediate: object) -> pki.Hierarchy:
    """A root and an intermediate that breaks a rule (issued with `intermediate`)."""
    return pki.hierarchy(NOW, name, **intermediate)


def trusting(h: pki.Hierarchy) -> TrustStores:
    """Stores where Mozilla holds the root of `h` (and the public one)."""
    return TrustStores(mozilla=info(h.root, W().public.root), mozilla_path=MOZILLA_PEM)


def invalid(h: pki.Hierarchy, **leaf_kw: object) -> Callable[[], Evidence]:
    return lambda: served(
        info(h.leaf("www.example.com", now=NOW, **leaf_kw), h.intermediate), trust=trusting(h)
    )


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
    # Reaches a trusted root, but a certificate in it breaks a rule clients enforce.
    "intermediate that is not a CA": case(invalid(broken("NotCA", ca_flag=False)), "CHAIN_INVALID"),
    "intermediate that is not a CA, in a bundle file": case(
        lambda: bundle(
            info(broken("NotCA", ca_flag=False).leaf("www.example.com", now=NOW))
            + info(broken("NotCA", ca_flag=False).intermediate),
            trust=trusting(broken("NotCA", ca_flag=False)),
        ),
        "CHAIN_INVALID",
    ),
    "intermediate without keyCertSign": case(
        invalid(broken("NoSign", key_cert_sign=False)), "CHAIN_INVALID"
    ),
    "intermediate for client certificates only": case(
        invalid(broken("ClientOnly", eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))), "CHAIN_INVALID"
    ),
    "leaf outside the intermediate's name constraints": case(
        invalid(broken("Corp", permitted=("corp.example",))), "CHAIN_INVALID"
    ),
    "leaf for client authentication only": case(
        invalid(broken("Eku"), eku=[ExtendedKeyUsageOID.CLIENT_AUTH]), "CHAIN_INVALID"
    ),
    "leaf asserting CA:TRUE": case(invalid(broken("LeafCA"), ca_flag=True), "CHAIN_INVALID"),
    "expired intermediate under a valid leaf": case(
        invalid(broken("Old", days_before=900, days_after=-2)), "CHAIN_INVALID"
    ),
    "intermediate that is not a CA, to a root nobody holds": case(
        lambda: served(
            info(
                broken("NotCA", ca_flag=False).leaf("www.example.com", now=NOW),
                broken("NotCA", ca_flag=False).intermediate,
            )
        ),
        "CHAIN_UNTRUSTED",
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


def test_invalid_names_the_certificate_its_position_and_the_rule() -> None:
    h = broken("NotCA", ca_flag=False)
    f = _one(invalid(h)(), "CHAIN_INVALID")
    assert f.severity is Severity.HIGH
    assert f.subject == "listener 443 (www.example.com)"
    assert "The intermediate CN=NotCA Intermediate CA,O=certaudit test (position 1" in f.detail
    assert "basicConstraints says CA:FALSE" in f.detail
    assert "'invalid CA certificate'" in f.detail
    assert f.cert_sha256 == info(h.intermediate)[0].sha256
    assert "missing" not in f.detail and "missing" not in f.fix
    assert f.diagnose == (
        "echo | openssl s_client -connect 10.0.0.5:443 -servername www.example.com "
        f"-CAfile {MOZILLA_PEM} -verify_return_error 2>&1 | grep -E "
        "'^(depth=|verify error|Verify return)'"
    )
    assert f.fix.startswith("Reissue 'CN=NotCA Intermediate CA,O=certaudit test' as a CA")
    assert "keyUsage=critical,keyCertSign,cRLSign" in f.fix
    assert not ids(run(invalid(h)())) & {"CHAIN_INCOMPLETE", "CHAIN_UNTRUSTED"}


def test_invalid_in_a_bundle_file_diagnoses_the_file_as_a_server_certificate() -> None:
    h = broken("NoSign", key_cert_sign=False)
    chain = info(h.leaf("www.example.com", now=NOW), h.intermediate)
    f = _one(bundle(chain, path="/etc/nginx/tls/www.pem", trust=trusting(h)), "CHAIN_INVALID")
    assert f.subject == "/etc/nginx/tls/www.pem"
    assert f.diagnose == (
        f"openssl verify -purpose sslserver -CAfile {MOZILLA_PEM} -untrusted "
        "/etc/nginx/tls/www.pem /etc/nginx/tls/www.pem"
    )
    assert "keyUsage does not include keyCertSign" in f.detail and "(position 1" in f.detail
    assert "in /etc/nginx/tls/www.pem and reload" in f.fix


def test_invalid_leaf_texts() -> None:
    eku = _one(invalid(broken("Eku"), eku=[ExtendedKeyUsageOID.CLIENT_AUTH])(), "CHAIN_INVALID")
    assert "The leaf CN=www.example.com,O=certaudit test (position 0" in eku.detail
    assert "extendedKeyUsage (clientAuth) does not include serverAuth" in eku.detail
    assert "'unsuitable certificate purpose'" in eku.detail
    assert eku.fix.startswith(
        "Reissue the leaf for www.example.com with extendedKeyUsage=serverAuth"
    )
    ca = _one(invalid(broken("LeafCA"), ca_flag=True)(), "CHAIN_INVALID")
    assert "basicConstraints says CA:TRUE" in ca.detail and "CaUsedAsEndEntity" in ca.detail
    assert ca.diagnose.endswith(
        "| openssl x509 -noout -subject -ext basicConstraints,extendedKeyUsage"
    )
    assert "-addext basicConstraints=critical,CA:FALSE" in ca.fix


def test_invalid_expired_intermediate_fix_fetches_the_current_one() -> None:
    h = broken("Old", days_before=900, days_after=-2)
    lf = h.leaf("www.example.com", now=NOW, aia_url="http://ca.example.net/inter.der")
    f = _one(served(info(lf, h.intermediate), trust=trusting(h)), "CHAIN_INVALID")
    assert "it expired on" in f.detail and "although the leaf itself is valid" in f.detail
    assert "curl -so intermediate.der http://ca.example.net/inter.der" in f.fix


def test_invalid_fix_names_the_configured_file_and_reload() -> None:
    from dataclasses import replace

    from audit.model import Listener

    h = broken("NotCA", ca_flag=False)
    ev = invalid(h)()
    listener = Listener(
        host="web1",
        address="10.0.0.5",
        port=443,
        config_file="/etc/nginx/sites-enabled/app",
        config_line=12,
        cert_file="/etc/nginx/tls/app.pem",
        server="nginx",
    )
    ev = replace(ev, endpoints=[replace(ev.endpoints[0], listener=listener)])
    f = _one(ev, "CHAIN_INVALID")
    assert (
        "put the leaf followed by its intermediates in /etc/nginx/tls/app.pem (`ssl_certificate` "
        "in /etc/nginx/sites-enabled/app line 12 names it) and reload nginx "
        "(nginx -t && systemctl reload nginx)."
    ) in f.fix


@pytest.mark.parametrize(
    ("cert_file", "full"),
    [
        ("/etc/nginx/tls/site.pem", "/etc/nginx/tls/site.fullchain.pem"),
        ("/etc/nginx/tls/site", "/etc/nginx/tls/site.fullchain"),
        ("/etc/ssl/fullchain.pem", "/etc/ssl/fullchain.complete.pem"),
        ("/etc/ssl/api.fullchain.crt", "/etc/ssl/api.fullchain.complete.crt"),
    ],
)
def test_the_completed_chain_gets_a_new_name_beside_the_file(cert_file: str, full: str) -> None:
    from audit.rules.chain import _fullchain_path

    assert _fullchain_path(cert_file) == full
