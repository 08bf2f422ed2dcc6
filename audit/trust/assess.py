"""The verdict on one chain: the store it reaches, or why it reaches none.

`assess_chain` examines the chain once (`facts.examine`), lets the steps conclude
(`steps.conclude`; the verdicts and their order are listed there), and adds what every
verdict carries: the path, the stores reached as sent, the sent order, what a strict
client says, and the bundle diagnose commands use.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from audit.model import CertInfo, ChainStatus, ChainVerdict
from audit.trust.facts import ChainFacts, Conclusion, examine
from audit.trust.steps import conclude
from audit.trust.stores import TrustStores
from audit.trust.verify import strict_error


def assess_chain(
    chain: Sequence[CertInfo],
    *,
    now: datetime,
    stores: TrustStores,
    servername: str | None = None,
    intermediates: Sequence[CertInfo] = (),
) -> ChainVerdict:
    """Judge a chain as a server sent it (leaf first) or as a bundle file holds it.

    Only trust is judged (see the `audit.trust` package docstring): the library verifies
    with a client verifier, a permissive extension policy and a time inside the leaf's
    validity; when it still refuses, the chain counts as trusted if it links (names, key
    ids, signatures) to a certificate a store holds. `servername` does not affect the
    status: it only feeds `strict_error`, what a strict client would say now for that
    name. `intermediates` are extra certificates (fleet-collected, or given) used to tell
    "incomplete" (would verify with them) from "untrusted".

    Decision order: invalid (a store is reached, but a certificate breaks a rule clients
    enforce) -> ok (Mozilla or --cafile reached as sent, or the host store when it is
    the only one) -> incomplete (reached once `intermediates` are added) -> os_only (host
    store reached, Mozilla not) -> self_signed (leaf is its own issuer) -> incomplete (the
    leaf's issuer was not sent; missing_issuer) -> untrusted.

    Never raises: a chain that cannot be judged at all is status "other" with the reason.
    """
    try:
        if not chain:
            return ChainVerdict(status=ChainStatus.NO_CHAIN, detail="no certificate was sent")
        facts = examine(chain, now, stores, servername, intermediates)
        return _verdict(facts, conclude(facts))
    except Exception as exc:  # the contract: a verdict, never an exception
        return ChainVerdict(
            status=ChainStatus.OTHER,
            detail=f"the chain could not be judged: {type(exc).__name__}: {exc}",
            leaf=chain[0] if chain else None,
        )


def _verdict(facts: ChainFacts, conclusion: Conclusion) -> ChainVerdict:
    """The conclusion, with the path, the stores reached, the order, and the strict check."""
    outcome = conclusion.outcome
    path = outcome.path if outcome else facts.sent_path
    detail, anchor = conclusion.detail, conclusion.anchor
    if outcome and outcome.ok:
        anchor = anchor or path[-1].subject
        if outcome.error:
            detail += f"; the verifier refused it for another reason: {outcome.error}"
    strict_store = facts.in_use.get(conclusion.store)
    if strict_store is None:
        strict_store = next(iter(facts.in_use.values()), None)
    broken = conclusion.broken
    culprit = broken.cert if broken else None
    return ChainVerdict(
        status=conclusion.status,
        detail=detail,
        store=conclusion.store,
        missing_issuer=conclusion.missing_issuer,
        order_problem=facts.order,
        verified_chain=path,
        trusted_by=facts.trusted_by,
        anchor=anchor,
        completes_with=conclusion.completes_with,
        strict_error=(
            strict_error(facts.leaf, facts.sent, strict_store, facts.now, facts.servername)
            if strict_store is not None
            else ""
        ),
        cafile=facts.stores.path_of(_diagnose_store(facts, conclusion)),
        leaf=facts.leaf,
        broken_rule=broken.rule.value if broken else "",
        broken_cert=culprit,
        broken_position=_position(facts, culprit),
    )


def _position(facts: ChainFacts, cert: CertInfo | None) -> int | None:
    """Where `cert` is in the chain as sent (0 = the first); None when it was not sent."""
    if cert is None:
        return None
    return next((i for i, c in enumerate(facts.chain) if c.sha256 == cert.sha256), None)


def _diagnose_store(facts: ChainFacts, conclusion: Conclusion) -> str:
    """The store that answered; failing that, the user's --cafile, then the first in use."""
    if conclusion.diagnose_store or conclusion.store:
        return conclusion.diagnose_store or conclusion.store
    if facts.stores.cafile_path:
        return "cafile"
    return facts.names[0] if facts.names else ""
