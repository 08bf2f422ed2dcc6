"""audit.trust as a whole: chain verdicts over named cases, through the package's names.

The tests of each module of the package (stores, host names, the library's refusals,
path linking) are in tests/trust/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from audit.model import CertInfo
from audit.trust import TrustStores, assess_chain
from tests import pki
from tests.rules.kit import MOZILLA_PEM, NOW, info, stores, world


def leaf(h: pki.Hierarchy | None = None, **kw) -> pki.Issued:  # type: ignore[no-untyped-def]
    return (h or world().public).leaf("www.example.com", now=NOW, **kw)


def good(**kw) -> tuple[CertInfo, ...]:  # type: ignore[no-untyped-def]
    """A public leaf (issued with **kw) and its intermediate."""
    return info(leaf(**kw), world().public.intermediate)


def with_os_store() -> TrustStores:
    return stores(host=[world().public.root, world().os_only.root])


def with_cafile() -> TrustStores:
    return stores(cafile=[world().private.root])


@dataclass(frozen=True)
class Case:
    chain: Callable[[], tuple[CertInfo, ...]]
    status: str
    store: str = ""
    trust: Callable[[], TrustStores] = stores
    intermediates: Callable[[], tuple[CertInfo, ...]] = tuple
    missing: str | None = None
    """A word expected in missing_issuer (None: missing_issuer must be None)."""
    order: str | None = None
    """Words expected in order_problem (None: there must be no order problem)."""


W = world


CASES: dict[str, Case] = {
    "healthy chain": Case(good, "ok", "mozilla"),
    "healthy chain with the root sent too": Case(
        lambda: good() + info(W().public.root), "ok", "mozilla"
    ),
    "leaf issued straight by a trusted root": Case(
        lambda: info(pki.issue("www.example.com", now=NOW, issuer=W().public.root)),
        "ok",
        "mozilla",
    ),
    "leaf without its intermediate": Case(
        lambda: info(leaf()), "incomplete", "mozilla", missing="Public Intermediate CA"
    ),
    "leaf without its intermediate, the fleet has it": Case(
        lambda: info(leaf()),
        "incomplete",
        "mozilla",
        intermediates=lambda: info(W().public.intermediate),
        missing="Public Intermediate CA",
    ),
    "leaf and root without the intermediate": Case(
        lambda: info(leaf(), W().public.root),
        "incomplete",
        "mozilla",
        missing="Public Intermediate CA",
    ),
    "expired leaf without its intermediate": Case(
        lambda: info(leaf(days_before=400, days_after=-3)),
        "incomplete",
        missing="Public Intermediate CA",
    ),
    "chain to an unknown root": Case(
        lambda: info(leaf(W().private), W().private.intermediate), "untrusted"
    ),
    "chain to an unknown root, root sent": Case(
        lambda: info(leaf(W().private), W().private.intermediate, W().private.root), "untrusted"
    ),
    "self-signed leaf": Case(lambda: info(pki.issue("www.example.com", now=NOW)), "self_signed"),
    "self-signed leaf the user trusts with --cafile": Case(
        lambda: info(_pinned()),
        "ok",
        "cafile",
        trust=lambda: stores(cafile=[_pinned()]),
    ),
    "root only in the OS store": Case(
        lambda: info(leaf(W().os_only), W().os_only.intermediate),
        "os_only",
        "host",
        trust=with_os_store,
    ),
    "OS store given, chain publicly trusted": Case(good, "ok", "mozilla", trust=with_os_store),
    "internal CA given with --cafile": Case(
        lambda: info(leaf(W().private), W().private.intermediate),
        "ok",
        "cafile",
        trust=with_cafile,
    ),
    "no Mozilla store in use, host store reached": Case(
        lambda: info(leaf(W().os_only), W().os_only.intermediate),
        "ok",
        "host",
        trust=lambda: TrustStores(mozilla=(), host=info(W().os_only.root)),
    ),
    "sent out of order": Case(
        lambda: info(leaf(), W().public.root, W().public.intermediate),
        "ok",
        "mozilla",
        order="out of order",
    ),
    "unrelated extra certificate": Case(
        lambda: good() + info(W().private.intermediate),
        "ok",
        "mozilla",
        order="unrelated",
    ),
    "intermediate sent twice": Case(
        lambda: good() + info(W().public.intermediate),
        "ok",
        "mozilla",
        order="more than once",
    ),
    "bundle with the intermediate first": Case(
        lambda: info(W().public.intermediate, leaf()),
        "ok",
        "mozilla",
        order="not the first",
    ),
    # Failures for other reasons must not look like trust failures.
    "expired leaf, complete chain": Case(
        lambda: good(days_before=400, days_after=-3), "ok", "mozilla"
    ),
    "not yet valid leaf, complete chain": Case(
        lambda: good(days_before=-10, days_after=90), "ok", "mozilla"
    ),
    "CN-only leaf, complete chain": Case(lambda: good(sans=[]), "ok", "mozilla"),
    "RSA-1024 leaf, complete chain": Case(
        lambda: good(key_kind="rsa", key_bits=1024), "ok", "mozilla"
    ),
    "SHA-1 leaf, complete chain": Case(lambda: good(hash_name="sha1"), "ok", "mozilla"),
    "RSA-1024 intermediate, complete chain": Case(
        lambda: info(_weak().leaf("www.example.com", now=NOW), _weak().intermediate),
        "ok",
        "mozilla",
        trust=lambda: TrustStores(mozilla=info(_weak().root)),
    ),
    # Reaches a trusted root, but a certificate breaks a rule: invalid, never "missing".
    "intermediate that is not a CA": Case(
        lambda: info(_not_ca().leaf("www.example.com", now=NOW), _not_ca().intermediate),
        "invalid",
        "mozilla",
        trust=lambda: TrustStores(mozilla=info(_not_ca().root)),
    ),
    "intermediate that is not a CA, root only in the OS store": Case(
        lambda: info(_not_ca().leaf("www.example.com", now=NOW), _not_ca().intermediate),
        "invalid",
        "host",
        trust=lambda: stores(host=[_not_ca().root]),
    ),
    "leaf asserting CA:TRUE": Case(lambda: good(ca_flag=True), "invalid", "mozilla"),
    "SHA-1 self-signed root": Case(
        lambda: info(pki.issue("www.example.com", now=NOW, issuer=_sha1_root())),
        "ok",
        "mozilla",
        trust=lambda: TrustStores(mozilla=info(_sha1_root())),
    ),
}


def _pinned() -> pki.Issued:
    return _cached("pinned", lambda: pki.issue("pinned.example.com", now=NOW))


def _not_ca() -> pki.Hierarchy:
    return _cached("notca", lambda: pki.hierarchy(NOW, "NotCA", ca_flag=False))


def _weak() -> pki.Hierarchy:
    def make() -> pki.Hierarchy:
        root = pki.issue(
            "Weak Root CA", now=NOW, ca=True, days_before=365, days_after=3650, fresh_key=True
        )
        inter = pki.issue(
            "Weak Intermediate CA", now=NOW, issuer=root, ca=True, key_kind="rsa", key_bits=1024
        )
        return pki.Hierarchy(root, inter)

    return _cached("weak", make)


def _sha1_root() -> pki.Issued:
    return _cached(
        "sha1root",
        lambda: pki.issue(
            "SHA1 Root CA",
            now=NOW,
            ca=True,
            key_kind="rsa",
            key_bits=2048,
            hash_name="sha1",
            days_before=3000,
            days_after=3000,
        ),
    )


_MADE: dict[str, object] = {}


def _cached(name: str, make: Callable[[], object]):  # type: ignore[no-untyped-def]
    if name not in _MADE:
        _MADE[name] = make()
    return _MADE[name]


@pytest.mark.parametrize("name", list(CASES))
def test_verdict(name: str) -> None:
    case = CASES[name]
    verdict = assess_chain(
        case.chain(),
        now=NOW,
        stores=case.trust(),
        intermediates=case.intermediates(),
        servername="www.example.com",
    )
    assert verdict.status == case.status, verdict.detail
    if case.store:
        assert verdict.store == case.store
    if case.missing is None:
        assert verdict.missing_issuer is None
    else:
        assert case.missing in (verdict.missing_issuer or "")
    if case.order is None:
        assert verdict.order_problem is None
    else:
        assert case.order in (verdict.order_problem or "")
    assert verdict.detail
    assert verdict.leaf is not None
    assert not verdict.leaf.is_ca or verdict.broken_rule == "leaf_is_ca"


def test_incomplete_with_fleet_intermediate_names_it() -> None:
    inter = info(world().public.intermediate)
    v = assess_chain(info(leaf()), now=NOW, stores=stores(), intermediates=inter)
    assert v.completes_with == inter
    assert "Public Root CA" in v.detail and "Mozilla" in v.detail


def test_other_failures_are_recorded_not_judged() -> None:
    expired = assess_chain(
        good(days_before=400, days_after=-3), now=NOW, stores=stores(), servername="www.example.com"
    )
    assert expired.status == "ok"
    assert "not valid at validation time" in expired.strict_error
    sha1 = assess_chain(good(hash_name="sha1"), now=NOW, stores=stores())
    assert sha1.status == "ok" and "another reason" in sha1.detail
    mismatch = assess_chain(good(), now=NOW, stores=stores(), servername="other.example.org")
    assert mismatch.status == "ok" and "subjectAltName" in mismatch.strict_error
    healthy = assess_chain(good(), now=NOW, stores=stores(), servername="www.example.com")
    assert healthy.strict_error == ""


def test_verdict_records_stores_and_paths() -> None:
    v = assess_chain(
        info(leaf(world().os_only), world().os_only.intermediate), now=NOW, stores=with_os_store()
    )
    assert v.trusted_by == ("host",)
    assert v.anchor is not None and "OSOnly Root CA" in v.anchor
    assert v.cafile == MOZILLA_PEM  # diagnose against the store that fails
    ok = assess_chain(good(), now=NOW, stores=stores())
    assert [c.common_name for c in ok.verified_chain] == [
        "www.example.com",
        "Public Intermediate CA",
        "Public Root CA",
    ]


def test_empty_chain() -> None:
    assert assess_chain((), now=NOW, stores=stores()).status == "no_chain"


def test_a_chain_that_cannot_be_judged_is_data(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import audit.trust.facts as facts

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("library exploded")

    monkeypatch.setattr(facts, "verify_chain", boom)
    v = assess_chain(good(), now=NOW, stores=stores())
    assert v.status == "other" and "library exploded" in v.detail
