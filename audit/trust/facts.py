"""What the verdict steps read (`ChainFacts`) and what each of them decides (`Conclusion`).

`examine` asks every question about a chain once: which certificate is the leaf, whether
the chain as sent reaches each store in use (with the library's refusal when it does not
verify), whether it does once the extra intermediates are added, what a client with
today's defaults says about it against the first store it reaches, and what is wrong
with the order it was sent in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from audit.model import CertInfo, ChainStatus
from audit.trust.paths import (
    Anchors,
    anchor_path,
    anchors_for,
    build_path,
    leaf_chain,
    order_problem,
    pick_leaf,
)
from audit.trust.refusals import Refusal
from audit.trust.stores import TrustStores
from audit.trust.verify import Outcome, client_refusal, inside_validity, verify_chain


@dataclass(frozen=True)
class ChainFacts:
    """The chain examined once: what every step reads."""

    chain: tuple[CertInfo, ...]
    """As sent (or as the file holds it)."""
    leaf: CertInfo
    sent: tuple[CertInfo, ...]
    """Every other certificate of the chain, in the order sent."""
    sent_path: tuple[CertInfo, ...]
    """The leaf and its issuers among `sent`, as far as they link by signature (an issuer
    that is not a CA included: it was sent, it is not missing)."""
    stores: TrustStores
    in_use: Mapping[str, Anchors]
    """Every non-empty store by name, Mozilla first."""
    as_sent: Mapping[str, Outcome]
    """Store name -> whether the chain as sent reaches it (and the library's refusal)."""
    helped: Mapping[str, Outcome]
    """Store name -> whether the chain reaches it once the extra intermediates are added;
    only stores not reached as sent, and only when there are extra intermediates."""
    order: str | None
    """What is wrong with the sent order (`paths.order_problem`); None when nothing is."""
    now: datetime
    servername: str | None
    at: datetime
    """The time the chain is judged at: `now`, moved inside the leaf's validity."""
    reached: tuple[str, tuple[CertInfo, ...]] | None = None
    """The first store in use (Mozilla first) the chain as sent reaches, by the library or
    by linking signatures (CA or not), with that path, anchor last; None: no store."""
    client_refusal: str = ""
    """What a client with today's defaults says about the chain as sent against that
    store (`verify.client_refusal`); "" when it accepts it or no store is reached."""

    @property
    def names(self) -> tuple[str, ...]:
        """The stores in use, Mozilla first."""
        return tuple(self.in_use)

    @property
    def trusted_by(self) -> tuple[str, ...]:
        """Every store in use the chain reaches as sent, Mozilla first."""
        return tuple(n for n in self.in_use if self.as_sent[n].ok)


@dataclass(frozen=True)
class Conclusion:
    """What a step decided; the verdict adds what every verdict carries."""

    status: ChainStatus
    detail: str
    store: str = ""
    """The store that answered, or would once completed ("" when none does)."""
    outcome: Outcome | None = None
    """That store's answer, whose path is reported; None: the sent path is."""
    anchor: str | None = None
    """The root the chain ends at; when None and `outcome` verified, its last certificate."""
    missing_issuer: str | None = None
    completes_with: tuple[CertInfo, ...] = ()
    diagnose_store: str | None = None
    """The store diagnose commands are run against, when it is not `store`."""
    broken: Refusal | None = None
    """The rule the chain breaks and the certificate that breaks it (status invalid)."""


def examine(
    chain: Sequence[CertInfo],
    now: datetime,
    stores: TrustStores,
    servername: str | None,
    intermediates: Sequence[CertInfo],
) -> ChainFacts:
    """Pick the leaf, ask the library about every store in use (as sent, then helped by
    `intermediates`), and check the sent order against the leaf's whole chain."""
    leaf = pick_leaf(chain)
    sent = tuple(c for c in chain if c.sha256 != leaf.sha256)
    chain_shas = {c.sha256 for c in chain}
    extra = tuple(c for c in intermediates if c.sha256 not in chain_shas)
    at = inside_validity(now, leaf)
    in_use = {name: anchors_for(name, certs) for name, certs in stores.in_use()}
    as_sent = {name: verify_chain(leaf, sent, a, at) for name, a in in_use.items()}
    helped: dict[str, Outcome] = {}
    if extra:
        helped = {
            name: verify_chain(leaf, sent + extra, a, at)
            for name, a in in_use.items()
            if not as_sent[name].ok
        }
    # A chain some store reaches is complete; so is one that ends at a root, trusted or not.
    whole = leaf_chain(leaf, sent + extra, in_use.values())
    reached = any(o.ok for o in (*as_sent.values(), *helped.values()))
    sent_path = tuple(build_path(leaf, sent, signed=True))
    first = _first_reached(in_use, as_sent, sent_path)
    return ChainFacts(
        chain=tuple(chain),
        leaf=leaf,
        sent=sent,
        sent_path=sent_path,
        stores=stores,
        in_use=in_use,
        as_sent=as_sent,
        helped=helped,
        order=order_problem(chain, leaf, whole, reached or whole[-1].self_issued),
        now=now,
        servername=servername,
        at=at,
        reached=first,
        client_refusal=client_refusal(leaf, sent, in_use[first[0]], at) if first else "",
    )


def _first_reached(
    in_use: Mapping[str, Anchors], as_sent: Mapping[str, Outcome], sent_path: Sequence[CertInfo]
) -> tuple[str, tuple[CertInfo, ...]] | None:
    """The first store the chain as sent reaches, by the library or by signatures alone."""
    for name, anchors in in_use.items():
        if as_sent[name].ok:
            return name, as_sent[name].path
        linked = anchor_path(sent_path, anchors)
        if linked is not None:
            return name, tuple(linked)
    return None
