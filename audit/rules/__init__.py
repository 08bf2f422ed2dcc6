"""The explicit rule registry. Every finding ID has exactly one Rule listed here.

Add a rule: write it in its family module, add it to that module's RULES, and make sure
the family is listed below. tests/rules/test_registry.py checks the IDs against the
finding catalogue, and docs/FINDINGS.md is generated from this registry (`make docs`).
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
    renewal,
    served,
    tls,
    validity,
)
from audit.rules.base import AnyRule

REGISTRY: tuple[AnyRule, ...] = (
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
    *renewal.RULES,
)

BY_ID: dict[str, AnyRule] = {r.id: r for r in REGISTRY}

PLANNED: dict[str, str] = {
    "K8S_CERT_NOT_READY": "Kubernetes clusters and client trust stores",
    "K8S_TLS_SECRET_MISSING": "Kubernetes clusters and client trust stores",
    "K8S_WEBHOOK_CA_MISMATCH": "Kubernetes clusters and client trust stores",
    "CA_BUNDLE_STALE": "Kubernetes clusters and client trust stores",
    "TRUST_STORE_DIVERGENT": "Kubernetes clusters and client trust stores",
    "VERIFICATION_DISABLED": "Kubernetes clusters and client trust stores",
}
"""Catalogued finding IDs that have no rule yet, and the work that brings each."""
