"""docs/FINDINGS.md, generated from the rule registry so it cannot drift from the code.

python -m tools.findings_doc          # rewrite docs/FINDINGS.md
python -m tools.findings_doc --check  # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audit.rules import PLANNED, REGISTRY

DOC = Path(__file__).resolve().parents[1] / "docs" / "FINDINGS.md"


def render() -> str:
    lines = [
        "# Findings",
        "",
        "Every problem certaudit reports carries one of these IDs. IDs are a stable contract:",
        "`findings.json`, the workbook, the metrics and suppression lists key on them.",
        "Each finding also carries a `risk` score (severity x exposure x urgency x blast",
        "radius) and a `why` that says how it was ranked. This file is generated from the",
        "rule registry (`audit/rules/`) by `make docs`; do not edit it by hand.",
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
    lines += [f"| {id_} | {where} |" for id_, where in sorted(PLANNED.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.findings_doc")
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") == text
        print(f"{DOC}: {'up to date' if current else 'out of date; run make docs'}")
        return 0 if current else 1
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
