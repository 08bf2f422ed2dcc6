"""docs/FINDINGS.md is generated from the rule registry, so it cannot drift from the code.

Regenerate with: UPDATE_GOLDEN=1 make test TESTS=test_findings_doc
"""

from __future__ import annotations

import os
from pathlib import Path

from audit.rules import REGISTRY
from tests.rules.test_registry import DEFERRED

DOC = Path(__file__).resolve().parents[2] / "docs" / "FINDINGS.md"


def render() -> str:
    lines = [
        "# Findings",
        "",
        "Every problem certaudit reports carries one of these IDs. IDs are a stable contract:",
        "`findings.json`, the workbook, the metrics and suppression lists key on them.",
        "Each finding also carries a `risk` score (severity x exposure x urgency x blast",
        "radius) and a `why` that says how it was ranked. This file is generated from the",
        "rule registry (`audit/rules/`); do not edit it by hand.",
        "",
        "| ID | family | title | default severity | diagnose |",
        "|---|---|---|---|---|",
    ]
    for rule in sorted(REGISTRY, key=lambda r: (r.family, r.id)):
        diagnose = rule.diagnose.replace("|", "\\|")
        lines.append(
            f"| {rule.id} | {rule.family} | {rule.title} | {rule.severity.value} | `{diagnose}` |"
        )
    lines += ["", "## Planned", "", "| ID | arrives with |", "|---|---|"]
    lines += [f"| {id_} | {where} |" for id_, where in sorted(DEFERRED.items())]
    return "\n".join(lines) + "\n"


def test_findings_doc_matches_the_registry() -> None:
    text = render()
    if os.environ.get("UPDATE_GOLDEN"):
        DOC.write_text(text, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == text, "regenerate docs/FINDINGS.md (see docstring)"
