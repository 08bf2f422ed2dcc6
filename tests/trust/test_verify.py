"""audit.trust.verify: the relaxed library check with its fallback, and its tidied refusals."""

from __future__ import annotations

import datetime as dt

from audit.trust.paths import Anchors, anchors_for
from audit.trust.verify import NO_PATH, inside_validity, strict_error, tidy, verify_chain
from tests.rules.kit import NOW, info, world


def _mozilla() -> Anchors:
    return anchors_for("mozilla", info(world().public.root))


def test_a_refusal_the_fallback_links_still_reaches_the_store() -> None:
    w = world().public
    leaf, inter = info(w.leaf("www.example.com", now=NOW, hash_name="sha1"), w.intermediate)
    outcome = verify_chain(leaf, [inter], _mozilla(), NOW)
    assert outcome.ok
    assert [c.common_name for c in outcome.path] == [
        "www.example.com",
        "Public Intermediate CA",
        "Public Root CA",
    ]
    assert outcome.error.startswith("Forbidden signature algorithm: algorithm ")


def test_no_path_is_said_plainly_and_the_path_goes_as_far_as_it_links() -> None:
    chain = info(world().private.leaf("www.example.com", now=NOW), world().private.intermediate)
    outcome = verify_chain(chain[0], chain[1:], _mozilla(), NOW)
    assert not outcome.ok and outcome.error == NO_PATH
    assert [c.common_name for c in outcome.path] == ["www.example.com", "Private Intermediate CA"]


def test_strict_error_names_the_rule_and_the_certificate() -> None:
    chain = info(world().public.leaf("www.example.com", now=NOW), world().public.intermediate)
    assert strict_error(chain[0], chain[1:], _mozilla(), NOW, "www.example.com") == ""
    error = strict_error(chain[0], chain[1:], _mozilla(), NOW, "other.example.org")
    assert error.startswith("leaf certificate has no matching subjectAltName (at CN=www.")


def test_tidy() -> None:
    raw = (
        "validation failed: candidates exhausted: all candidates exhausted with no interior errors"
    )
    assert tidy(raw) == NO_PATH
    noisy = (
        "validation failed: basicConstraints.cA must be asserted (encountered processing "
        "<Certificate(subject=<Name(CN=Inter)>, ...)>)"
    )
    assert tidy(noisy) == "basicConstraints.cA must be asserted (at CN=Inter)"
    assert len(tidy("x" * 1000)) == 300


def test_inside_validity() -> None:
    leaf = info(world().public.leaf("www.example.com", now=NOW, days_before=400, days_after=-3))[0]
    assert inside_validity(NOW, leaf) == leaf.not_after - dt.timedelta(seconds=1)
    fresh = info(world().public.leaf("www.example.com", now=NOW, days_before=-10, days_after=90))[0]
    assert inside_validity(NOW, fresh) == fresh.not_before + dt.timedelta(seconds=1)
    current = info(world().public.leaf("www.example.com", now=NOW))[0]
    assert inside_validity(NOW, current) == NOW
