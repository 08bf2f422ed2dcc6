"""Chain building and trust verdicts, with cryptography.x509.verification.

The question answered here is narrow: *does this chain reach a root a client trusts, and if
not, why not?* It is kept apart from every other reason a client may refuse a certificate,
because each of those has its own finding and must not be reported twice, or as the wrong
thing. An expired leaf with a complete chain is CERT_EXPIRED, not CHAIN_UNTRUSTED; a name
mismatch is HOSTNAME_MISMATCH; a CN-only leaf is SAN_MISSING; an RSA-1024 key or a SHA-1
signature is WEAK_KEY / WEAK_SIGNATURE. So trust is evaluated like this:

1. **The library first.** Path building and validation are cryptography's
   (`PolicyBuilder` / `Store` / `ClientVerifier`), never ours, with three relaxations:
   a client verifier (no server name, so no name check); a permissive extension policy
   (end-entity: anything goes, so no SAN/EKU/AKI requirement; CA: only basicConstraints
   must be present, which the library insists on); and a validation time inside the leaf's
   validity window, so an expired or not-yet-valid leaf still verifies.
2. **A structural fallback when the library refuses anyway.** Some refusals cannot be
   relaxed: SHA-1/MD5 signatures ("forbidden signature algorithm"), RSA keys below 2048
   bits on a signer ("RSA key is too weak"), an intermediate expired at that time. Then the
   chain is linked by issuer name, key identifiers and the signature itself (checked with
   the issuer's public key, which still accepts legacy hashes), and we ask whether the path
   reaches a certificate in the store (same certificate, or same subject and key) or a
   certificate issued by one. If it does, the chain is *trusted* as far as trust goes; the
   verifier's refusal is kept in the verdict's detail and `strict_error`, and the other
   rules say what is wrong. Issuers taken from the chain must be CA certificates.

Verdicts, in the order they are decided (see `assess_chain`):

- ``ok``: the chain as sent reaches a root in Mozilla's store or in the user's --cafile
  (the stores the audit is asked to hold it to), or in the host store when no Mozilla
  store is in use.
- ``incomplete``: it does not, but it would once intermediates from the fleet (or given)
  are added; or the leaf's issuer was not sent at all and is not a root in any store
  (``missing_issuer`` names it). FINDINGS: CHAIN_INCOMPLETE.
- ``os_only``: reaches a root in the host's OS store but not Mozilla's. Only possible
  when a host store is given. FINDINGS: NOT_TRUSTED_BY_MOZILLA.
- ``self_signed``: the leaf is its own issuer and no store holds it.
- ``untrusted``: the intermediates were sent but the chain ends at a root (sent or not)
  that no store in use holds.

``order_problem`` is independent of the status: the leaf not first, a certificate sent
before the one it issued, duplicates, or certificates unrelated to the leaf's chain.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from audit.certparse import describe, load_pem_or_der
from audit.model import CertInfo, ChainStatus, ChainVerdict, HostResult, LocationKind

STORE_NAMES = {
    "mozilla": "Mozilla's root store",
    "cafile": "the given CA file",
    "host": "the host's OS store",
}
"""Human names of the stores, for verdict details."""

MAX_DEPTH = 8
"""Longest path the structural fallback follows (the library's default depth too)."""

DEFAULT_HOST_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class TrustStores:
    """The trust stores a chain is judged against. An empty store is not in use."""

    mozilla: tuple[CertInfo, ...]
    """Mozilla's root program (certifi): what Firefox/NSS and most language runtimes use."""
    host: tuple[CertInfo, ...] = ()
    """The audited host's OS store (its system CA bundle), when collected."""
    cafile: tuple[CertInfo, ...] = ()
    """Roots the user declared trusted with --cafile (an internal CA)."""
    mozilla_path: str = ""
    """Where the Mozilla bundle is on this machine (for diagnose commands)."""
    host_path: str = ""
    """The host's bundle path (for diagnose commands run on the host)."""
    cafile_path: str = ""
    """The --cafile path (for diagnose commands)."""

    def in_use(self) -> list[tuple[str, tuple[CertInfo, ...]]]:
        """(name, certificates) of every non-empty store, Mozilla first."""
        named = (("mozilla", self.mozilla), ("cafile", self.cafile), ("host", self.host))
        return [(name, certs) for name, certs in named if certs]

    def path_of(self, name: str) -> str:
        """The PEM file to pass as -CAfile for a store ("" when unknown)."""
        if name == "mozilla":
            return self.mozilla_path or _certifi_where()
        if name == "cafile":
            return self.cafile_path
        if name == "host":
            return self.host_path or DEFAULT_HOST_BUNDLE
        return ""


def _certifi_where() -> str:
    import certifi

    return str(certifi.where())


@functools.lru_cache(maxsize=1)
def mozilla_roots() -> tuple[CertInfo, ...]:
    """Mozilla's roots as shipped by certifi (read once per process)."""
    with open(_certifi_where(), "rb") as fh:
        return tuple(load_pem_or_der(fh.read()))


def load_cafile(path: str) -> tuple[CertInfo, ...]:
    """Every certificate in a PEM/DER/PKCS#7 file, or in every file of a directory.

    Raises OSError when the path cannot be read (the CLI turns it into an exit code);
    unparseable blocks are skipped.
    """
    if os.path.isdir(path):
        certs: list[CertInfo] = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                with open(full, "rb") as fh:
                    certs.extend(load_pem_or_der(fh.read()))
        return tuple(certs)
    with open(path, "rb") as fh:
        return tuple(load_pem_or_der(fh.read()))


def default_stores(
    cafile: str | None = None,
    host: Sequence[CertInfo] = (),
    host_path: str = "",
) -> TrustStores:
    """Mozilla's roots, plus a --cafile and a host store when given."""
    return TrustStores(
        mozilla=mozilla_roots(),
        host=tuple(host),
        cafile=load_cafile(cafile) if cafile else (),
        mozilla_path=_certifi_where(),
        host_path=host_path,
        cafile_path=cafile or "",
    )


def host_store(result: HostResult) -> tuple[CertInfo, ...]:
    """The OS store of an audited host: the certificates collected from its CA bundles."""
    return tuple(f.cert for f in result.certificates if f.location.kind is LocationKind.CA_BUNDLE)


def fleet_intermediates(hosts: Iterable[HostResult]) -> tuple[CertInfo, ...]:
    """CA certificates deployed anywhere in the fleet (not in CA bundles), deduplicated.

    These are the candidates that may complete a chain a server sends incomplete (certbot's
    chain.pem, a vendor's intermediate.crt lying beside the leaf).
    """
    seen: dict[str, CertInfo] = {}
    for h in hosts:
        for found in h.certificates:
            cert = found.cert
            if found.location.kind is LocationKind.CA_BUNDLE or not cert.is_ca or cert.self_signed:
                continue
            seen.setdefault(cert.sha256, cert)
    return tuple(seen.values())


# ---------------------------------------------------------------------------
# Host names (RFC 6125)


def matches_hostname(cert: CertInfo, name: str) -> bool:
    """Whether `name` is covered by the certificate's SANs (RFC 6125 / CA/B rules).

    dNSName SANs only, never the Common Name; case-insensitive; a trailing dot ignored; a
    wildcard only as the whole left-most label ("*.example.com" covers "a.example.com",
    not "example.com" nor "a.b.example.com"), and not directly above a one-label suffix
    ("*.com"). An IP literal (with or without brackets) matches iPAddress SANs only.
    """
    host = name.strip().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return any(_same_ip(ip, entry) for entry in cert.ip_addresses)
    host = _a_label(host)
    if not host:
        return False
    return any(_dns_match(_a_label(pattern.rstrip(".")), host) for pattern in cert.dns_names)


def _same_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        return ipaddress.ip_address(entry) == ip
    except ValueError:
        return False


def _a_label(name: str) -> str:
    name = name.lower()
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _dns_match(pattern: str, host: str) -> bool:
    if not pattern:
        return False
    if "*" not in pattern:
        return pattern == host
    p_labels = pattern.split(".")
    h_labels = host.split(".")
    if p_labels[0] != "*" or "*" in ".".join(p_labels[1:]) or len(p_labels) < 3:
        return False
    return len(h_labels) == len(p_labels) and bool(h_labels[0]) and h_labels[1:] == p_labels[1:]


# ---------------------------------------------------------------------------
# Chains


@functools.lru_cache(maxsize=4096)
def _x509(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def _norm(name: str) -> str:
    return " ".join(name.casefold().split())


@dataclass(frozen=True)
class _Anchors:
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
            if _issued_by(cert, candidate, anchor=True):
                return candidate
        return None


def _identity(cert: CertInfo) -> str:
    return _norm(cert.subject) + "|" + cert.public_key_sha256


@functools.lru_cache(maxsize=16)
def _anchors(name: str, certs: tuple[CertInfo, ...]) -> _Anchors:
    by_subject: dict[str, list[CertInfo]] = {}
    ids: set[str] = set()
    loadable = []
    for cert in certs:
        try:
            loadable.append(_x509(cert.der))
        except Exception:  # parsed leniently by certparse, refused here: skip it
            continue
        by_subject.setdefault(_norm(cert.subject), []).append(cert)
        ids.add(cert.sha256)
        ids.add(_identity(cert))
    return _Anchors(
        name=name,
        certs=certs,
        store=Store(loadable),
        by_subject={k: tuple(v) for k, v in by_subject.items()},
        ids=frozenset(ids),
    )


@functools.lru_cache(maxsize=8192)
def _issued_by(child: CertInfo, parent: CertInfo, anchor: bool = False) -> bool:
    """Whether `parent` issued `child`: names, key identifiers, then the signature.

    A parent taken from a chain (not a store anchor) must be a CA, or a self-signed
    (version 1) root. Used for linking and ordering, and by the structural fallback.
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
    c, p = _x509(child.der), _x509(parent.der)
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


def _build_path(leaf: CertInfo, pool: Sequence[CertInfo]) -> list[CertInfo]:
    """Leaf, its issuer from `pool`, that one's issuer... as far as the pool goes."""
    path = [leaf]
    seen = {leaf.sha256}
    current = leaf
    while not current.self_issued and len(path) < MAX_DEPTH:
        nxt = next((c for c in pool if c.sha256 not in seen and _issued_by(current, c)), None)
        if nxt is None:
            break
        path.append(nxt)
        seen.add(nxt.sha256)
        current = nxt
    return path


def _anchor_path(path: Sequence[CertInfo], anchors: _Anchors) -> list[CertInfo] | None:
    """The path cut at the first certificate the store holds or issued, with its anchor."""
    for i, cert in enumerate(path):
        if anchors.holds(cert):
            return list(path[: i + 1])
        issuer = anchors.issuer_of(cert)
        if issuer is not None:
            return [*path[: i + 1], issuer]
    return None


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    path: tuple[CertInfo, ...]
    error: str = ""
    """The library's refusal, tidied ("" when it verified)."""


_CA_POLICY = ExtensionPolicy.permit_all().require_present(
    x509.BasicConstraints, Criticality.AGNOSTIC, None
)
"""The most permissive CA policy the library allows (it insists on basicConstraints)."""


def _verify(leaf: CertInfo, pool: Sequence[CertInfo], anchors: _Anchors, at: datetime) -> _Outcome:
    """Does `leaf` reach `anchors` with `pool` as untrusted intermediates?"""
    verifier = (
        PolicyBuilder()
        .store(anchors.store)
        .time(at)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=ExtensionPolicy.permit_all())
        .build_client_verifier()
    )
    known = {c.der: c for c in (leaf, *pool, *anchors.certs)}
    try:
        verified = verifier.verify(_x509(leaf.der), [_x509(c.der) for c in pool])
    except VerificationError as exc:
        error = _tidy(str(exc))
    except Exception as exc:  # a certificate the library cannot handle at all
        error = _tidy(f"{type(exc).__name__}: {exc}")
    else:
        path = []
        for cert in verified.chain:
            der = cert.public_bytes(Encoding.DER)
            path.append(known.get(der) or describe(cert))
        return _Outcome(True, tuple(path))
    anchored = _anchor_path(_build_path(leaf, pool), anchors)
    if anchored is not None:
        return _Outcome(True, tuple(anchored), error)
    return _Outcome(False, tuple(_build_path(leaf, pool)), error)


def _strict_error(
    leaf: CertInfo, sent: Sequence[CertInfo], anchors: _Anchors, now: datetime, name: str | None
) -> str:
    """What a strict client says: web PKI policy, at `now`, for the server name."""
    from cryptography.x509.verification import DNSName, IPAddress

    builder = PolicyBuilder().store(anchors.store).time(now)
    try:
        if name:
            try:
                subject: DNSName | IPAddress = IPAddress(ipaddress.ip_address(name.strip("[]")))
            except ValueError:
                subject = DNSName(_a_label(name.rstrip(".")))
            builder.build_server_verifier(subject).verify(
                _x509(leaf.der), [_x509(c.der) for c in sent]
            )
        else:
            builder.build_client_verifier().verify(_x509(leaf.der), [_x509(c.der) for c in sent])
    except VerificationError as exc:
        return _tidy(str(exc))
    except Exception as exc:  # a name or certificate the library will not take
        return _tidy(f"{type(exc).__name__}: {exc}")
    return ""


_NO_PATH = "all candidates exhausted with no interior errors"


def _tidy(error: str) -> str:
    """The verifier's message without Rust debug noise."""
    error = re.sub(
        r"\s*\(encountered processing <Certificate\(subject=<Name\((.*?)\)>.*$", r" (at \1)", error
    )
    error = re.sub(r"AlgorithmIdentifier \{.*?oid: ([0-9.]+)\b.*\}", r"algorithm \1", error)
    error = error.replace("validation failed: ", "").replace("candidates exhausted: ", "")
    if error.strip() == _NO_PATH:
        return "no path to a root in the store"
    return error.strip()[:300]


def _inside_validity(now: datetime, leaf: CertInfo) -> datetime:
    """`now`, moved inside the leaf's validity window when it falls outside it."""
    if leaf.not_before > leaf.not_after:
        return now
    if now > leaf.not_after:
        return leaf.not_after - timedelta(seconds=1)
    if now < leaf.not_before:
        return leaf.not_before + timedelta(seconds=1)
    return now


def _name(cert: CertInfo) -> str:
    return cert.subject or "(empty subject)"


def _pick_leaf(chain: Sequence[CertInfo]) -> CertInfo:
    """The first certificate, unless a bundle puts CAs first and holds one end entity."""
    if chain[0].is_ca:
        ends = [c for c in chain if not c.is_ca]
        if len(ends) == 1:
            return ends[0]
    return chain[0]


def _order_problem(
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
            f"the leaf ({_name(leaf)}) is certificate {shas.index(leaf.sha256) + 1}, not the first"
        )
    dups = sorted({_name(c) for i, c in enumerate(chain) if c.sha256 in shas[:i]})
    if dups:
        problems.append("sent more than once: " + "; ".join(dups))
    on_path = {c.sha256: i for i, c in enumerate(path)}
    positions = [on_path[s] for s in dict.fromkeys(shas) if s in on_path]
    if positions != sorted(positions):
        sent = " -> ".join(
            _name(c) for c in dict((c.sha256, c) for c in chain).values() if c.sha256 in on_path
        )
        want = " -> ".join(_name(c) for c in path if c.sha256 in set(shas))
        problems.append(f"out of order: sent {sent}; expected {want}")
    if complete:
        unrelated = [
            c for c in dict((c.sha256, c) for c in chain).values() if c.sha256 not in on_path
        ]
        path_keys = {c.public_key_sha256 for c in path if c.public_key_sha256}
        cross = [c for c in unrelated if c.public_key_sha256 in path_keys]
        others = [c for c in unrelated if c.public_key_sha256 not in path_keys]
        if cross:
            problems.append(
                f"{len(cross)} alternative (cross-signed) cop{'y' if len(cross) == 1 else 'ies'}"
                " of a chain certificate, not on the verified path: "
                + "; ".join(f"{_name(c)} issued by {c.issuer}" for c in cross)
            )
        if others:
            problems.append(
                f"{len(others)} certificate(s) unrelated to the leaf's chain: "
                + "; ".join(_name(c) for c in others)
            )
    return "; ".join(problems) or None


def assess_chain(
    chain: Sequence[CertInfo],
    *,
    now: datetime,
    stores: TrustStores,
    servername: str | None = None,
    intermediates: Sequence[CertInfo] = (),
) -> ChainVerdict:
    """Judge a chain as a server sent it (leaf first) or as a bundle file holds it.

    Only trust is judged (see the module docstring): the library verifies with a client
    verifier, a permissive extension policy and a time inside the leaf's validity; when it
    still refuses, the chain counts as trusted if it links (names, key ids, signatures) to
    a certificate a store holds. `servername` does not affect the status: it only feeds
    `strict_error`, what a strict client would say now for that name. `intermediates` are
    extra certificates (fleet-collected, or given) used to tell "incomplete" (would verify
    with them) from "untrusted".

    Decision order: ok (Mozilla or --cafile reached as sent, or the host store when it is
    the only one) -> incomplete (reached once `intermediates` are added) -> os_only (host
    store reached, Mozilla not) -> self_signed (leaf is its own issuer) -> incomplete (the
    leaf's issuer was not sent; missing_issuer) -> untrusted.

    Never raises: a chain that cannot be judged at all is status "other" with the reason.
    """
    try:
        return _assess(
            chain, now=now, stores=stores, servername=servername, intermediates=intermediates
        )
    except Exception as exc:  # the contract: a verdict, never an exception
        return ChainVerdict(
            status=ChainStatus.OTHER,
            detail=f"the chain could not be judged: {type(exc).__name__}: {exc}",
            leaf=chain[0] if chain else None,
        )


def _assess(
    chain: Sequence[CertInfo],
    *,
    now: datetime,
    stores: TrustStores,
    servername: str | None,
    intermediates: Sequence[CertInfo],
) -> ChainVerdict:
    if not chain:
        return ChainVerdict(status=ChainStatus.NO_CHAIN, detail="no certificate was sent")
    leaf = _pick_leaf(chain)
    sent = [c for c in chain if c.sha256 != leaf.sha256]
    extra = [c for c in intermediates if c.sha256 not in {s.sha256 for s in chain}]
    at = _inside_validity(now, leaf)
    in_use = [_anchors(name, certs) for name, certs in stores.in_use()]
    names = [a.name for a in in_use]

    as_sent = {a.name: _verify(leaf, sent, a, at) for a in in_use}
    trusted_by = tuple(n for n in names if as_sent[n].ok)
    helped: dict[str, _Outcome] = {}
    if extra:
        helped = {
            a.name: _verify(leaf, sent + extra, a, at) for a in in_use if a.name not in trusted_by
        }

    # The leaf's whole chain, as far as anything we hold can build it (for ordering).
    full_pool = sent + extra
    full_path = _build_path(leaf, full_pool)
    for a in in_use:
        anchored = _anchor_path(full_path, a)
        if anchored is not None:
            full_path = anchored
            break
    complete = bool(trusted_by) or full_path[-1].self_issued or any(o.ok for o in helped.values())
    order = _order_problem(chain, leaf, full_path, complete)

    def verdict(
        status: ChainStatus,
        store: str,
        outcome: _Outcome | None,
        detail: str,
        *,
        anchor: str | None = None,
        missing_issuer: str | None = None,
        completes_with: tuple[CertInfo, ...] = (),
        cafile_store: str | None = None,
    ) -> ChainVerdict:
        path = outcome.path if outcome else tuple(_build_path(leaf, sent))
        if outcome and outcome.ok:
            anchor = anchor or path[-1].subject
            if outcome.error:
                detail += f"; the verifier refused it for another reason: {outcome.error}"
        strict_store = next((a for a in in_use if a.name == store), in_use[0] if in_use else None)
        return ChainVerdict(
            status=status,
            detail=detail,
            store=store,
            missing_issuer=missing_issuer,
            order_problem=order,
            verified_chain=path,
            trusted_by=trusted_by,
            anchor=anchor,
            completes_with=completes_with,
            strict_error=(
                _strict_error(leaf, sent, strict_store, now, servername) if strict_store else ""
            ),
            # diagnose against the store that answered; failing that, the user's --cafile
            cafile=stores.path_of(
                cafile_store
                or store
                or ("cafile" if stores.cafile_path else (names[0] if names else ""))
            ),
            leaf=leaf,
        )

    # 1. Trusted as sent by a store the audit holds the chain to.
    for name in ("mozilla", "cafile"):
        if name in trusted_by:
            o = as_sent[name]
            return verdict(
                ChainStatus.OK, name, o, f"reaches {_name(o.path[-1])} in {STORE_NAMES[name]}"
            )
    if trusted_by == ("host",) and "mozilla" not in names:
        o = as_sent["host"]
        return verdict(
            ChainStatus.OK, "host", o, f"reaches {_name(o.path[-1])} in {STORE_NAMES['host']}"
        )

    # 2. Would be trusted with certificates the server did not send.
    for name in ("mozilla", "cafile", "host"):
        help_outcome = helped.get(name)
        if help_outcome is None or not help_outcome.ok:
            continue
        sent_shas = {c.sha256 for c in chain}
        anchors = next(a for a in in_use if a.name == name)
        missing = tuple(
            c for c in help_outcome.path[1:] if c.sha256 not in sent_shas and not anchors.holds(c)
        )
        if not missing:
            continue
        return verdict(
            ChainStatus.INCOMPLETE,
            name,
            help_outcome,
            (
                f"{_name(missing[0])} is not in the chain; with it the chain reaches "
                f"{_name(help_outcome.path[-1])} in {STORE_NAMES[name]}"
            ),
            missing_issuer=missing[0].subject,
            completes_with=missing,
        )

    # 3. Trusted only by the host's OS store.
    if "host" in trusted_by:
        o = as_sent["host"]
        return verdict(
            ChainStatus.OS_ONLY,
            "host",
            o,
            (
                f"reaches {_name(o.path[-1])} in {STORE_NAMES['host']}, but no root in "
                f"{STORE_NAMES['mozilla']}"
            ),
            cafile_store="mozilla",  # diagnose shows the failure against Mozilla's bundle
        )

    stores_text = ", ".join(STORE_NAMES[n] for n in names) or "no store"
    errors = "; ".join(
        f"{n}: {as_sent[n].error}"
        for n in names
        if as_sent[n].error and as_sent[n].error != _tidy(_NO_PATH)
    )
    why = f" (verifier: {errors})" if errors else ""

    # 4. The leaf is its own issuer.
    if leaf.self_issued:
        return verdict(
            ChainStatus.SELF_SIGNED,
            "",
            None,
            f"{_name(leaf)} is its own issuer and is in none of: {stores_text}{why}",
            anchor=leaf.subject,
        )

    sent_path = _build_path(leaf, sent)
    top = sent_path[-1]
    # 5. The leaf's issuer was not sent and is no root anyone holds.
    if len(sent_path) == 1:
        return verdict(
            ChainStatus.INCOMPLETE,
            names[0] if names else "",
            None,
            (
                f"the leaf's issuer {leaf.issuer} is not in the chain, and it is not a root in "
                f"{stores_text}{why}"
            ),
            missing_issuer=leaf.issuer,
        )

    # 6. Intermediates were sent; the root at the end is trusted by no store in use.
    if top.self_issued:
        detail = f"the chain ends at the root {_name(top)}, which is in none of: {stores_text}"
        anchor = top.subject
    else:
        detail = (
            f"the chain ends at {_name(top)}, issued by {top.issuer}, which is not in the chain "
            f"and is in none of: {stores_text}"
        )
        anchor = top.issuer
    return verdict(ChainStatus.UNTRUSTED, "", None, detail + why, anchor=anchor)
