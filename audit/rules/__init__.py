"""The explicit rule registry. Every finding ID has exactly one Rule listed here.

Add a rule: write it in its family module, add it to that module's RULES, and make sure
the family is listed below. tests/rules/test_registry.py checks IDs against FINDINGS.md.
"""

from __future__ import annotations

from audit.rules import (
    chain,
    coverage,
    crypto,
    hoststore,
    keys,
    names,
    parsing,
    served,
    tls,
    validity,
)
from audit.rules.base import Rule

REGISTRY: tuple[Rule, ...] = (
    *validity.RULES,
    *keys.RULES,
    *parsing.RULES,
    *coverage.RULES,
    *chain.RULES,
    *names.RULES,
    *crypto.RULES,
    *tls.RULES,
    *hoststore.RULES,
    *served.RULES,
)

BY_ID: dict[str, Rule] = {r.id: r for r in REGISTRY}
