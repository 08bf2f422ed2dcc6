"""The parity suite's one expensive step: every ansible call, made once per session, in
parallel (see ansible_side). Missing ansible-core fails the suite; it is never skipped."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.parity.ansible_side import (
    Call,
    check_installed,
    host_argv,
    limit_argv,
    list_argv,
    read_listing,
    run_all,
)
from tests.parity.cases import CASES, Case
from tests.parity.compare import Answers


def limit_text(case: Case, pattern: str) -> str:
    return pattern.replace("{folder}", str(case.folder))


def ask_ansible(home: Path) -> tuple[Mapping[str, Answers], Mapping[tuple[str, str], Call]]:
    """Every `ansible-inventory --list`, every `ansible PATTERN --list-hosts`, then
    one `ansible-inventory --host` per inventory (its first host by name)."""
    check_installed()
    limits = [(c, p) for c in CASES for p in c.limits]
    calls = run_all(
        [list_argv(c.path) for c in CASES]
        + [limit_argv(c.path, limit_text(c, p)) for c, p in limits],
        home,
    )
    listings = dict(zip([c.name for c in CASES], calls[: len(CASES)], strict=True))
    firsts = {}
    for case in CASES:
        call = listings[case.name]
        if call.returncode == 0 and not call.unparsed:
            names = sorted(set(read_listing(call).hostvars) - set(case.absent))
            if names:
                firsts[case.name] = names[0]
    host_calls = run_all(
        [host_argv(c.path, firsts[c.name]) for c in CASES if c.name in firsts], home
    )
    by_host = dict(zip([c.name for c in CASES if c.name in firsts], host_calls, strict=True))
    answers = {c.name: Answers(listings[c.name], by_host.get(c.name)) for c in CASES}
    limit_calls = dict(zip([(c.name, p) for c, p in limits], calls[len(CASES) :], strict=True))
    return answers, limit_calls


@pytest.fixture(scope="session")
def ansible_answers(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Mapping[str, Answers], Mapping[tuple[str, str], Call]]:
    return ask_ansible(tmp_path_factory.mktemp("ansible"))
