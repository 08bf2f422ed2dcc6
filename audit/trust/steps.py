"""The verdict steps: each recognises one kind of chain and says what it concludes.

`conclude` asks the steps of `STEPS` in turn; the first that recognises the chain gives
the `Conclusion`. Verdicts, in the order they are decided:

- ``invalid`` (`_breaks_a_rule`): the chain as sent reaches a store (the first in use
  that it reaches, by the library or by signatures alone), but a client with today's
  defaults refuses it because a certificate in it breaks a rule (`refusals.Broken`): an
  issuer that is not a CA, a CA without keyCertSign, a path length, name constraints, an
  EKU without serverAuth, an intermediate outside its validity, a leaf that says CA:TRUE.
  FINDINGS: CHAIN_INVALID.
- ``ok`` (`_trusted_as_sent`): the chain as sent reaches a root in Mozilla's store or in
  the user's --cafile (the stores the audit is asked to hold it to), or in the host store
  when no Mozilla store is in use.
- ``incomplete`` (`_completed_by_extra`): it does not, but it would once intermediates
  from the fleet (or given) are added. FINDINGS: CHAIN_INCOMPLETE.
- ``os_only`` (`_trusted_by_host_only`): reaches a root in the host's OS store but not
  Mozilla's. Only possible when a host store is given. FINDINGS: NOT_TRUSTED_BY_MOZILLA.
- ``self_signed`` (`_self_signed`): the leaf is its own issuer and no store holds it.
- ``incomplete`` (`_issuer_not_sent`): the leaf's issuer was not sent at all and is not a
  root in any store (``missing_issuer`` names it). An issuer that was sent but is not a CA
  is on the path (`ChainFacts.sent_path`), never called missing.
- ``untrusted`` (`_untrusted`, when no step matched): the intermediates were sent but the
  chain ends at a root (sent or not) that no store in use holds.

``order_problem`` is independent of the status: the leaf not first, a certificate sent
before the one it issued, duplicates, or certificates unrelated to the leaf's chain.

A new verdict is one more step: a function from `ChainFacts` to a `Conclusion` with its
status (or None when the chain is not of its kind), placed in `STEPS` where it must be
decided. Each store's refusal as sent is in `ChainFacts.as_sent`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from audit.model import CertInfo, ChainStatus
from audit.trust.facts import ChainFacts, Conclusion
from audit.trust.paths import display_name
from audit.trust.refusals import read_refusal
from audit.trust.stores import STORE_NAMES
from audit.trust.verify import NO_PATH, Outcome

Step: TypeAlias = Callable[[ChainFacts], Conclusion | None]
"""A verdict step: its Conclusion for a chain of its kind, None for any other chain."""


def conclude(facts: ChainFacts) -> Conclusion:
    """The first conclusion of `STEPS`; when none matches, the chain is untrusted."""
    for step in STEPS:
        conclusion = step(facts)
        if conclusion is not None:
            return conclusion
    return _untrusted(facts)


def _breaks_a_rule(facts: ChainFacts) -> Conclusion | None:
    """invalid: reaches a store, but a certificate in it breaks a rule clients enforce."""
    if facts.reached is None:
        return None
    name, path = facts.reached
    broken = read_refusal(facts.client_refusal, path, facts.at)
    if broken is None:
        return None
    if broken.cert is None:
        who = "a certificate of the chain"
    else:
        who = f"{_role(facts, broken.cert, path)} {display_name(broken.cert)} "
        who += f"({position_text(facts, broken.cert, name)})"
    said = f"; the verifier says: {facts.client_refusal}" if facts.client_refusal else ""
    return Conclusion(
        ChainStatus.INVALID,
        f"{who} breaks a rule strict clients enforce: {broken.text}. The chain reaches "
        f"{display_name(path[-1])} in {STORE_NAMES[name]}{said}",
        name,
        Outcome(True, path),
        broken=broken,
    )


def _role(facts: ChainFacts, cert: CertInfo, path: tuple[CertInfo, ...]) -> str:
    if cert.sha256 == facts.leaf.sha256:
        return "the leaf"
    if cert.sha256 == path[-1].sha256:
        return "the root" if cert.self_issued else "the trust anchor"
    return "the intermediate"


def position_text(facts: ChainFacts, cert: CertInfo, store: str) -> str:
    """Where a certificate is: "position N of the chain as sent" (the first is position 0),
    or the store it comes from."""
    for i, sent in enumerate(facts.chain):
        if sent.sha256 == cert.sha256:
            return f"position {i} of the chain as sent"
    return f"from {STORE_NAMES.get(store, 'the store')}, not sent"


def _trusted_as_sent(facts: ChainFacts) -> Conclusion | None:
    """ok: reaches a store the audit holds the chain to, as sent."""
    for name in ("mozilla", "cafile"):
        if name in facts.trusted_by:
            return _reaches(facts, name, ChainStatus.OK)
    if facts.trusted_by == ("host",) and "mozilla" not in facts.in_use:
        return _reaches(facts, "host", ChainStatus.OK)
    return None


def _completed_by_extra(facts: ChainFacts) -> Conclusion | None:
    """incomplete: would be trusted with certificates the server did not send."""
    sent_shas = {c.sha256 for c in facts.chain}
    for name in ("mozilla", "cafile", "host"):
        outcome = facts.helped.get(name)
        if outcome is None or not outcome.ok:
            continue
        anchors = facts.in_use[name]
        missing = tuple(
            c for c in outcome.path[1:] if c.sha256 not in sent_shas and not anchors.holds(c)
        )
        if not missing:
            continue
        return Conclusion(
            ChainStatus.INCOMPLETE,
            (
                f"{display_name(missing[0])} is not in the chain; with it the chain reaches "
                f"{display_name(outcome.path[-1])} in {STORE_NAMES[name]}"
            ),
            name,
            outcome,
            missing_issuer=missing[0].subject,
            completes_with=missing,
        )
    return None


def _trusted_by_host_only(facts: ChainFacts) -> Conclusion | None:
    """os_only: reaches the host's OS store, and no store the audit holds it to."""
    if "host" not in facts.trusted_by:
        return None
    # diagnose shows the failure against Mozilla's bundle
    return _reaches(
        facts, "host", ChainStatus.OS_ONLY, f", but no root in {STORE_NAMES['mozilla']}", "mozilla"
    )


def _self_signed(facts: ChainFacts) -> Conclusion | None:
    """self_signed: the leaf is its own issuer."""
    if not facts.leaf.self_issued:
        return None
    return Conclusion(
        ChainStatus.SELF_SIGNED,
        f"{display_name(facts.leaf)} is its own issuer and is in none of: "
        f"{_stores_text(facts)}{_refusals(facts)}",
        anchor=facts.leaf.subject,
    )


def _issuer_not_sent(facts: ChainFacts) -> Conclusion | None:
    """incomplete: the leaf's issuer was not sent and is no root anyone holds."""
    if len(facts.sent_path) != 1:
        return None
    return Conclusion(
        ChainStatus.INCOMPLETE,
        f"the leaf's issuer {facts.leaf.issuer} is not in the chain, and it is not a root in "
        f"{_stores_text(facts)}{_refusals(facts)}",
        facts.names[0] if facts.names else "",
        missing_issuer=facts.leaf.issuer,
    )


STEPS: tuple[Step, ...] = (
    _breaks_a_rule,
    _trusted_as_sent,
    _completed_by_extra,
    _trusted_by_host_only,
    _self_signed,
    _issuer_not_sent,
)
"""Every verdict but the last, in the order they are decided; the first match wins."""


def _untrusted(facts: ChainFacts) -> Conclusion:
    """untrusted: intermediates were sent; the root at the end is in no store in use."""
    top = facts.sent_path[-1]
    if top.self_issued:
        detail = (
            f"the chain ends at the root {display_name(top)}, which is in none of: "
            f"{_stores_text(facts)}"
        )
        anchor = top.subject
    else:
        detail = (
            f"the chain ends at {display_name(top)}, issued by {top.issuer}, which is not in "
            f"the chain and is in none of: {_stores_text(facts)}"
        )
        anchor = top.issuer
    return Conclusion(ChainStatus.UNTRUSTED, detail + _refusals(facts), anchor=anchor)


def _reaches(
    facts: ChainFacts, name: str, status: ChainStatus, tail: str = "", diagnose: str | None = None
) -> Conclusion:
    """The chain as sent reaches store `name`: its anchor named in the detail."""
    outcome = facts.as_sent[name]
    detail = f"reaches {display_name(outcome.path[-1])} in {STORE_NAMES[name]}{tail}"
    return Conclusion(status, detail, name, outcome, diagnose_store=diagnose)


def _stores_text(facts: ChainFacts) -> str:
    return ", ".join(STORE_NAMES[n] for n in facts.names) or "no store"


def _refusals(facts: ChainFacts) -> str:
    """The library's refusals other than "no path", for details; "" when there are none."""
    errors = "; ".join(
        f"{n}: {facts.as_sent[n].error}"
        for n in facts.names
        if facts.as_sent[n].error and facts.as_sent[n].error != NO_PATH
    )
    return f" (verifier: {errors})" if errors else ""
