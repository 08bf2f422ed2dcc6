"""`python -m tests.parity.figure`: the parity figure (how many inventories and --limit
patterns agree with ansible-core) and every difference, without pytest."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.parity.cases import CASES
from tests.parity.compare import compare_inventory, compare_limit
from tests.parity.conftest import ask_ansible, limit_text


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as home:
        answers, calls = ask_ansible(Path(home))
    spent = time.monotonic() - started
    inv_ok = lim_ok = lim_total = 0
    for case in CASES:
        problems = compare_inventory(case, answers[case.name])
        inv_ok += not problems
        for p in problems:
            print(f"INVENTORY {case.name}: {p}")
        for pattern in case.limits:
            lim_total += 1
            lp = compare_limit(case, limit_text(case, pattern), calls[(case.name, pattern)])
            lim_ok += not lp
            for p in lp:
                print(f"LIMIT {case.name} {pattern!r}: {p}")
    print(
        f"parity: {inv_ok + lim_ok} of {len(CASES) + lim_total} cases "
        f"({inv_ok} of {len(CASES)} inventories, {lim_ok} of {lim_total} --limit patterns); "
        f"ansible calls took {spent:.0f} s"
    )
    return 0 if inv_ok == len(CASES) and lim_ok == lim_total else 1


if __name__ == "__main__":
    sys.exit(main())
