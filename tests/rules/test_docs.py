"""docs/FINDINGS.md is generated from the rule registry (`make docs`), so it cannot drift."""

from __future__ import annotations

from tools.findings_doc import DOC, render


def test_findings_doc_matches_the_registry() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "docs/FINDINGS.md is stale: make docs"
