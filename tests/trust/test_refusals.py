"""audit.trust.refusals: each rule a chain can break, from a chain built to break it.

Every case makes a chain that reaches a trusted root but breaks one rule, records the
verifier's own text for it (`verify.client_refusal`), and checks the verdict: status
invalid, the rule, the certificate and its position in the chain as sent, and no
"missing issuer". The same chains go through `openssl verify -purpose sslserver` as a
cross-check of what OpenSSL-based clients say.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from audit.trust import TrustStores, assess_chain
from audit.trust.paths import anchors_for
from audit.trust.refusals import Broken, read_refusal, rule_of
from audit.trust.verify import client_refusal
from tests import pki
from tests.rules.kit import NOW, info

NAME = "www.example.com"


@dataclass(frozen=True)
class Case:
    make: Callable[[], tuple[tuple[pki.Issued, ...], pki.Issued]]
    """The chain as sent (leaf first) and the trusted root."""
    text: str
    """The verifier's refusal, tidied."""
    rule: Broken
    position: int
    culprit: str
    """Common name of the certificate at fault."""
    openssl: str
    """What `openssl verify -purpose sslserver` says ("" when it accepts the chain)."""


@functools.cache
def broken(name: str, **intermediate: object) -> pki.Hierarchy:
    """A root and an intermediate named `name`, the intermediate issued with `intermediate`."""
    return pki.hierarchy(NOW, name, **intermediate)


def served(h: pki.Hierarchy, **leaf: object) -> tuple[tuple[pki.Issued, ...], pki.Issued]:
    return (h.leaf(NAME, now=NOW, **leaf), h.intermediate), h.root


@functools.cache
def _too_deep() -> tuple[tuple[pki.Issued, ...], pki.Issued]:
    """root -> Len Intermediate CA (pathlen 0) -> Len Sub CA -> leaf."""
    h = broken("Len", path_length=0)
    sub = pki.issue("Len Sub CA", now=NOW, issuer=h.intermediate, ca=True, fresh_key=True)
    leaf = pki.issue(NAME, now=NOW, issuer=sub)
    return (leaf, sub, h.intermediate), h.root


CASES: dict[str, Case] = {
    "intermediate says CA:FALSE": Case(
        lambda: served(broken("NotCA", ca_flag=False)),
        "basicConstraints.cA must be asserted in a CA certificate",
        Broken.NOT_A_CA,
        1,
        "NotCA Intermediate CA",
        "invalid CA certificate",
    ),
    "intermediate without basicConstraints": Case(
        lambda: served(broken("NoBC", basic_constraints=False)),
        "invalid extension: 2.5.29.19: missing required extension: CA certificate has no "
        "basicConstraints",
        Broken.NO_BASIC_CONSTRAINTS,
        1,
        "NoBC Intermediate CA",
        "invalid CA certificate",
    ),
    "intermediate keyUsage without keyCertSign": Case(
        lambda: served(broken("NoSign", key_cert_sign=False)),
        "keyUsage.keyCertSign must be asserted in a CA certificate",
        Broken.NO_KEY_CERT_SIGN,
        1,
        "NoSign Intermediate CA",
        "key usage does not include certificate signing",
    ),
    "path length exceeded": Case(
        _too_deep,
        "path length constraint violated",
        Broken.PATH_LENGTH,
        2,
        "Len Intermediate CA",
        "path length constraint exceeded",
    ),
    "leaf outside the permitted names": Case(
        lambda: served(broken("Corp", permitted=("corp.example",))),
        "no permitted name constraints matched SAN",
        Broken.NAME_CONSTRAINTS,
        1,
        "Corp Intermediate CA",
        "permitted subtree violation",
    ),
    "leaf inside the excluded names": Case(
        lambda: served(broken("Excl", excluded=("example.com",))),
        "excluded name constraint matched SAN",
        Broken.NAME_CONSTRAINTS,
        1,
        "Excl Intermediate CA",
        "excluded subtree violation",
    ),
    "leaf EKU without serverAuth": Case(
        lambda: served(broken("Eku"), eku=[ExtendedKeyUsageOID.CLIENT_AUTH]),
        "required EKU not found (at CN=www.example.com,O=certaudit test)",
        Broken.LEAF_EKU,
        0,
        NAME,
        "unsuitable certificate purpose",
    ),
    "intermediate EKU without serverAuth": Case(
        lambda: served(broken("ClientOnly", eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))),
        "Neither EKU nor anyEKU could be found",
        Broken.CA_EKU,
        1,
        "ClientOnly Intermediate CA",
        "unsuitable certificate purpose",
    ),
    "intermediate expired": Case(
        lambda: served(broken("Old", days_before=900, days_after=-2)),
        "cert is not valid at validation time",
        Broken.CA_EXPIRED,
        1,
        "Old Intermediate CA",
        "certificate has expired",
    ),
    "intermediate not yet valid": Case(
        lambda: served(broken("Early", days_before=-2, days_after=900)),
        "cert is not valid at validation time",
        Broken.CA_NOT_YET_VALID,
        1,
        "Early Intermediate CA",
        "certificate is not yet valid",
    ),
    "leaf asserts CA:TRUE": Case(
        lambda: served(broken("LeafCA"), ca_flag=True),
        "basicConstraints.cA must not be asserted in an EE certificate "
        "(at CN=www.example.com,O=certaudit test)",
        Broken.LEAF_IS_CA,
        0,
        NAME,
        "",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_verifier_says_it_and_the_verdict_names_rule_certificate_and_position(
    name: str,
) -> None:
    case = CASES[name]
    made, root = case.make()
    chain = info(*made)
    refusal = client_refusal(chain[0], chain[1:], anchors_for("mozilla", info(root)), NOW)
    assert refusal == case.text
    assert rule_of(refusal) is not None
    v = assess_chain(chain, now=NOW, stores=TrustStores(mozilla=info(root)), servername=NAME)
    assert v.status == "invalid", v.detail
    assert (v.broken_rule, v.broken_position) == (case.rule, case.position)
    assert v.broken_cert is not None and v.broken_cert.common_name == case.culprit
    assert f"(position {case.position} of the chain as sent)" in v.detail
    assert case.text in v.detail
    assert v.missing_issuer is None and v.store == "mozilla"
    assert v.anchor is not None and "Root CA" in v.anchor


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")
@pytest.mark.parametrize("name", list(CASES))
def test_openssl_refuses_the_same_chains(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    made, root = case.make()
    (tmp_path / "root.pem").write_bytes(root.pem)
    (tmp_path / "chain.pem").write_bytes(pki.pem_bundle(*made))
    proc = subprocess.run(
        ["openssl", "verify", "-purpose", "sslserver", "-attime", str(int(NOW.timestamp()))]
        + ["-CAfile", "root.pem", "-untrusted", "chain.pem", "chain.pem"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    said = proc.stdout + proc.stderr
    if case.openssl:
        assert proc.returncode != 0 and case.openssl in said, said
    else:
        assert proc.returncode == 0, said


def test_a_present_issuer_that_is_not_a_ca_is_never_missing() -> None:
    """A non-CA intermediate is on the path and breaks a rule; with the fleet's proper copy
    of that intermediate at hand, or ending at an unknown root, it is still never called
    missing."""
    (leaf, inter), root = served(broken("NotCA", ca_flag=False))
    proper = pki.issue("NotCA Intermediate CA", now=NOW, issuer=root, ca=True, fresh_key=True)
    trust = TrustStores(mozilla=info(root))
    v = assess_chain(info(leaf, inter), now=NOW, stores=trust, intermediates=info(proper))
    assert (v.status, v.broken_rule, v.missing_issuer) == ("invalid", "not_a_ca", None)
    unknown = assess_chain(info(leaf, inter), now=NOW, stores=TrustStores(mozilla=info(proper)))
    assert unknown.status == "untrusted" and unknown.missing_issuer is None
    assert "NotCA Root CA" in unknown.detail
    assert [c.common_name for c in unknown.verified_chain] == [NAME, "NotCA Intermediate CA"]


def test_a_refusal_of_another_kind_still_finds_an_issuer_that_is_not_a_ca() -> None:
    """The library stops at the SHA-1 leaf signature before it looks at the intermediate:
    the non-CA intermediate is found by linking signatures."""
    h = broken("NotCA", ca_flag=False)
    leaf = pki.issue(NAME, now=NOW, issuer=h.intermediate)
    chain = info(leaf, h.intermediate)
    sha1 = pki.issue(NAME, now=NOW, issuer=h.intermediate, hash_name="sha1")
    for made in (chain, info(sha1, h.intermediate)):
        v = assess_chain(made, now=NOW, stores=TrustStores(mozilla=info(h.root)))
        assert (v.status, v.broken_rule, v.broken_position) == ("invalid", "not_a_ca", 1)


def test_other_refusals_are_not_broken_rules() -> None:
    h = broken("Sha1")
    chain = info(h.leaf(NAME, now=NOW, hash_name="sha1"), h.intermediate)
    path = (*chain, info(h.root)[0])
    forbidden = "Forbidden signature algorithm: algorithm 1.2.840.10045.4.1"
    assert read_refusal(forbidden, path, NOW) is None
    assert read_refusal("", path, NOW) is None
    assert rule_of("no path to a root in the store") is None
    v = assess_chain(chain, now=NOW, stores=TrustStores(mozilla=info(h.root)))
    assert v.status == "ok" and "Forbidden signature algorithm" in v.detail


def test_a_self_made_ca_leaf() -> None:
    """`openssl req -x509` makes CA:TRUE self-signed certificates: untrusted it is
    self-signed; pinned with --cafile it reaches the store and breaks the leaf rule."""
    made = pki.issue("pinned.example.com", now=NOW, ca_flag=True)
    alone = assess_chain(info(made), now=NOW, stores=TrustStores(mozilla=()))
    assert alone.status == "self_signed"
    v = assess_chain(info(made), now=NOW, stores=TrustStores(mozilla=(), cafile=info(made)))
    assert (v.status, v.broken_rule, v.broken_position, v.store) == (
        "invalid",
        "leaf_is_ca",
        0,
        "cafile",
    )


def test_an_expired_root_in_the_store_is_named_as_not_sent() -> None:
    root = pki.issue("Gone Root CA", now=NOW, ca=True, days_before=4000, days_after=-2)
    inter = pki.issue("Gone Intermediate CA", now=NOW, issuer=root, ca=True, fresh_key=True)
    leaf = pki.issue(NAME, now=NOW, issuer=inter)
    v = assess_chain(info(leaf, inter), now=NOW, stores=TrustStores(mozilla=info(root)))
    assert (v.status, v.broken_rule, v.broken_position) == ("invalid", "ca_expired", None)
    assert "the root CN=Gone Root CA" in v.detail
    assert "from Mozilla's root store, not sent" in v.detail
