"""Linking certificates into paths without the library: issuers, anchors and sent order.

A certificate is linked to its issuer by issuer name, key identifiers and the signature
itself, checked with the issuer's public key (which still accepts the legacy hashes the
library refuses). This is what the structural fallback uses when the library will not
verify a chain, and what tells whether a chain was sent in the right order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.verification import Store

from audit.model import CertInfo

MAX_DEPTH = 8
"""Longest path the structural fallback follows (the library's default depth too)."""


@functools.lru_cache(maxsize=4096)
def x509_of(der: bytes) -> x509.Certificate:
    """The library's certificate object for DER bytes (cached)."""
    return x509.load_der_x509_certificate(der)


def display_name(cert: CertInfo) -> str:
    """The subject as shown in verdict details."""
    return cert.subject or "(empty subject)"


def _norm(name: str) -> str:
    return " ".join(name.casefold().split())


def _identity(cert: CertInfo) -> str:
    return _norm(cert.subject) + "|" + cert.public_key_sha256


# ---------------------------------------------------------------------------
# Anchors: one store, for the library and for the structural fallback


@dataclass(frozen=True)
class Anchors:
    """One store, ready for the library (Store) and for the structural fallback."""

    name: str
    certs: tuple[CertInfo, ...]
    store: Store
    by_subject: dict[str, tuple[CertInfo, ...]]
    ids: frozenset[str]
    """sha256 of every certificate, and "subject|key" of every (subject, key) pair."""

    def holds(self, cert: CertInfo) -> bool:
        """The certificate itself, or a re-issue with the same subject and key, is here."""
        return cert.sha256 in self.ids or _identity(cert) in self.ids

    def issuer_of(self, cert: CertInfo) -> CertInfo | None:
        """A store certificate that issued `cert` (name, key identifier, signature)."""
        for candidate in self.by_subject.get(_norm(cert.issuer), ()):
            if issued_by(cert, candidate, anchor=True):
                return candidate
        return None


@functools.lru_cache(maxsize=16)
def anchors_for(name: str, certs: tuple[CertInfo, ...]) -> Anchors:
    """The store `name` holding `certs`; certificates the library cannot load are left out."""
    by_subject: dict[str, list[CertInfo]] = {}
    ids: set[str] = set()
    loadable = []
    for cert in certs:
        try:
            loadable.append(x509_of(cert.der))
        except Exception:  # parsed leniently by certparse, refused here: skip it
            continue
        by_subject.setdefault(_norm(cert.subject), []).append(cert)
        ids.add(cert.sha256)
        ids.add(_identity(cert))
    return Anchors(
        name=name,
        certs=certs,
        store=Store(loadable),
        by_subject={k: tuple(v) for k, v in by_subject.items()},
        ids=frozenset(ids),
    )


# ---------------------------------------------------------------------------
# Issuers


@functools.lru_cache(maxsize=8192)
def issued_by(child: CertInfo, parent: CertInfo, anchor: bool = False) -> bool:
    """Whether `parent` issued `child`: names, key identifiers, then the signature.

    A parent taken from a chain (not a store anchor) must be a CA, or a self-signed
    (version 1) root; `anchor=True` drops that requirement (a store certificate, or a
    certificate that signed `child` while not being a CA). Used for linking and
    ordering, and by the structural fallback.
    """
    if _norm(child.issuer) != _norm(parent.subject):
        return False
    if not anchor and not (parent.is_ca or parent.self_signed):
        return False
    if (
        child.authority_key_id
        and parent.subject_key_id
        and child.authority_key_id != parent.subject_key_id
    ):
        return False
    c, p = x509_of(child.der), x509_of(parent.der)
    try:
        c.verify_directly_issued_by(p)
        return True
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass  # the library refuses the algorithm (SHA-1, MD5): check with the key itself
    verdict = _legacy_signature(c, p)
    if verdict is not None:
        return verdict
    return bool(child.authority_key_id) and child.authority_key_id == parent.subject_key_id


def _legacy_signature(child: x509.Certificate, parent: x509.Certificate) -> bool | None:
    """Check child's signature with parent's key; None when it cannot be checked at all."""
    try:
        key = parent.public_key()
        algo = child.signature_hash_algorithm
        data, sig = child.tbs_certificate_bytes, child.signature
        if isinstance(key, rsa.RSAPublicKey) and algo is not None:
            params = child.signature_algorithm_parameters
            pad = params if isinstance(params, padding.PSS) else padding.PKCS1v15()
            key.verify(sig, data, pad, algo)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algo is not None:
            key.verify(sig, data, ec.ECDSA(algo))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(sig, data)
        elif isinstance(key, dsa.DSAPublicKey) and algo is not None:
            key.verify(sig, data, algo)
        else:
            return None
        return True
    except InvalidSignature:
        return False
    except Exception:
        return None


# ---------------------------------------------------------------------------
# Paths


def build_path(leaf: CertInfo, pool: Sequence[CertInfo], signed: bool = False) -> list[CertInfo]:
    """Leaf, its issuer from `pool`, that one's issuer... as far as the pool goes.

    `signed=True` links every certificate whose signature an issuer made, CA or not: a
    certificate in the chain that signed the one below it without being a CA is on the
    path (and breaks a rule), not missing."""
    path = [leaf]
    seen = {leaf.sha256}
    current = leaf
    while not current.self_issued and len(path) < MAX_DEPTH:
        nxt = next((c for c in pool if c.sha256 not in seen and issued_by(current, c)), None)
        if nxt is None and signed:
            nxt = next(
                (c for c in pool if c.sha256 not in seen and issued_by(current, c, anchor=True)),
                None,
            )
        if nxt is None:
            break
        path.append(nxt)
        seen.add(nxt.sha256)
        current = nxt
    return path


def anchor_path(path: Sequence[CertInfo], anchors: Anchors) -> list[CertInfo] | None:
    """The path cut at the first certificate the store holds or issued, with its anchor."""
    for i, cert in enumerate(path):
        if anchors.holds(cert):
            return list(path[: i + 1])
        issuer = anchors.issuer_of(cert)
        if issuer is not None:
            return [*path[: i + 1], issuer]
    return None


def leaf_chain(
    leaf: CertInfo, pool: Sequence[CertInfo], stores: Iterable[Anchors]
) -> list[CertInfo]:
    """The leaf's whole chain as far as `pool` builds it, anchored in the first store that can."""
    path = build_path(leaf, pool)
    for anchors in stores:
        anchored = anchor_path(path, anchors)
        if anchored is not None:
            return anchored
    return path


# ---------------------------------------------------------------------------
# Sent order


def pick_leaf(chain: Sequence[CertInfo]) -> CertInfo:
    """The first certificate, unless a bundle puts CAs first and holds one end entity."""
    if chain[0].is_ca:
        ends = [c for c in chain if not c.is_ca]
        if len(ends) == 1:
            return ends[0]
    return chain[0]


def order_problem(
    chain: Sequence[CertInfo], leaf: CertInfo, path: Sequence[CertInfo], complete: bool
) -> str | None:
    """Leaf not first, issuer before subject, duplicates, unrelated extras; None if fine.

    `path` is the leaf's full chain as far as it can be built (sent, fleet and store
    certificates); extras are called unrelated only when that path is complete, because a
    root sent without its intermediate cannot be linked to the leaf either.
    """
    problems: list[str] = []
    shas = [c.sha256 for c in chain]
    if chain[0].sha256 != leaf.sha256:
        problems.append(
            f"the leaf ({display_name(leaf)}) is certificate {shas.index(leaf.sha256) + 1},"
            " not the first"
        )
    dups = sorted({display_name(c) for i, c in enumerate(chain) if c.sha256 in shas[:i]})
    if dups:
        problems.append("sent more than once: " + "; ".join(dups))
    on_path = {c.sha256: i for i, c in enumerate(path)}
    unique = list(dict((c.sha256, c) for c in chain).values())
    positions = [on_path[c.sha256] for c in unique if c.sha256 in on_path]
    if positions != sorted(positions):
        sent = " -> ".join(display_name(c) for c in unique if c.sha256 in on_path)
        want = " -> ".join(display_name(c) for c in path if c.sha256 in set(shas))
        problems.append(f"out of order: sent {sent}; expected {want}")
    if complete:
        problems.extend(_off_path([c for c in unique if c.sha256 not in on_path], path))
    return "; ".join(problems) or None


def _off_path(unrelated: Sequence[CertInfo], path: Sequence[CertInfo]) -> list[str]:
    """Sent certificates not on the leaf's path: cross-signed copies, then the others."""
    problems = []
    path_keys = {c.public_key_sha256 for c in path if c.public_key_sha256}
    cross = [c for c in unrelated if c.public_key_sha256 in path_keys]
    others = [c for c in unrelated if c.public_key_sha256 not in path_keys]
    if cross:
        problems.append(
            f"{len(cross)} alternative (cross-signed) cop{'y' if len(cross) == 1 else 'ies'}"
            " of a chain certificate, not on the verified path: "
            + "; ".join(f"{display_name(c)} issued by {c.issuer}" for c in cross)
        )
    if others:
        problems.append(
            f"{len(others)} certificate(s) unrelated to the leaf's chain: "
            + "; ".join(display_name(c) for c in others)
        )
    return problems
