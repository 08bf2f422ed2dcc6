"""certaudit reads every inventory of the corpus as ansible-core does.

For each inventory: the same hosts, each in the same groups, reached at the same address
and port as the same user with the same key and the same become, as Ansible's ssh
connection would resolve them from `ansible-inventory --list` (and `--host`); where
Ansible fails a host (a port that is not a number), certaudit does not audit that host;
where Ansible skips a file it cannot parse, certaudit refuses the inventory naming that
file and line. For each --limit pattern: the hosts `ansible -i X PATTERN --list-hosts`
lists (`all --limit PATTERN` for `@file`), or no host on both sides. Deliberate
differences are listed in cases.py with their reason, and certaudit's warning for each is
checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.parity.ansible_side import Call
from tests.parity.cases import CASES
from tests.parity.compare import Answers, compare_inventory, compare_limit
from tests.parity.conftest import limit_text

Answered = tuple[Mapping[str, Answers], Mapping[tuple[str, str], Call]]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_inventory_parity(case, ansible_answers: Answered) -> None:  # type: ignore[no-untyped-def]
    answers, _ = ansible_answers
    problems = compare_inventory(case, answers[case.name])
    assert not problems, f"{case.name} ({case.covers}):\n  " + "\n  ".join(problems)


LIMITS = [(c, p) for c in CASES for p in c.limits]


@pytest.mark.parametrize(("case", "pattern"), LIMITS, ids=[f"{c.name}:{p}" for c, p in LIMITS])
def test_limit_parity(case, pattern: str, ansible_answers: Answered) -> None:  # type: ignore[no-untyped-def]
    _, calls = ansible_answers
    problems = compare_limit(case, limit_text(case, pattern), calls[(case.name, pattern)])
    assert not problems, f"--limit {pattern!r} on {case.name}:\n  " + "\n  ".join(problems)


def test_corpus_size() -> None:
    assert len(CASES) >= 37 and len(LIMITS) >= 80
