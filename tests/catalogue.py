"""The finding catalogue (ID -> default severity), as the tests check the registry
against it. The catalogue is the project's brief and lives beside the repository; a copy
of its table is kept in tests/catalogue.json so the checks run in every checkout, and a
test keeps the copy equal to the brief wherever the brief is present.

Refresh the copy after the catalogue changes: python -m tests.catalogue
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "FINDINGS.md"
COPY = Path(__file__).resolve().parent / "catalogue.json"


def parse(text: str) -> dict[str, str]:
    """ID -> default severity text, from the catalogue's markdown table."""
    rows: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", cells[0]):
            rows[cells[0]] = cells[-1]
    return rows


def catalogue() -> dict[str, str]:
    """The recorded catalogue."""
    data: dict[str, str] = json.loads(COPY.read_text(encoding="utf-8"))
    return data


if __name__ == "__main__":
    COPY.write_text(
        json.dumps(parse(SPEC.read_text(encoding="utf-8")), indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {COPY}")
