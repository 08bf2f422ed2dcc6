"""audit.trust.paths: linking by issuer without the library, anchoring, and sent order."""

from __future__ import annotations

from audit.trust.paths import anchor_path, anchors_for, build_path, order_problem, pick_leaf
from tests.rules.kit import NOW, info, world


def test_build_and_anchor_a_path() -> None:
    w = world().public
    leaf, inter, root = info(w.leaf("www.example.com", now=NOW), w.intermediate, w.root)
    unrelated = info(world().private.intermediate)[0]
    assert build_path(leaf, [unrelated, root, inter]) == [leaf, inter, root]
    assert build_path(leaf, [root]) == [leaf]
    mozilla = anchors_for("mozilla", (root,))
    assert anchor_path([leaf, inter], mozilla) == [leaf, inter, root]  # issued by an anchor
    assert anchor_path([leaf, inter, root], mozilla) == [leaf, inter, root]  # held
    assert anchor_path([leaf], mozilla) is None


def test_pick_leaf() -> None:
    w = world().public
    leaf, inter, root = info(w.leaf("www.example.com", now=NOW), w.intermediate, w.root)
    assert pick_leaf([leaf, inter]) is leaf
    assert pick_leaf([root, inter, leaf]) is leaf  # a bundle with the CAs first
    assert pick_leaf([inter, root]) is inter  # no end entity: the first one


def test_order_problem() -> None:
    w = world().public
    leaf, inter, root = info(w.leaf("www.example.com", now=NOW), w.intermediate, w.root)
    path = [leaf, inter, root]
    assert order_problem([leaf, inter, root], leaf, path, complete=True) is None
    swapped = order_problem([leaf, root, inter], leaf, path, complete=True)
    assert swapped is not None and swapped.startswith("out of order: sent ")
    other = info(world().private.root)[0]
    extra = order_problem([leaf, inter, other], leaf, path, complete=True)
    assert extra == "1 certificate(s) unrelated to the leaf's chain: " + other.subject
    # an extra is only called unrelated once the leaf's chain is complete
    assert order_problem([leaf, other], leaf, [leaf], complete=False) is None
