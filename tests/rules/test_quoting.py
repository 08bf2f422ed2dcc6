"""Hostile names in every rule's diagnose and fix texts.

Values that come from hosts, certificates, peers and the inventory reach a finding's
`diagnose` (a command an operator pastes into a shell) and its `fix` (prose naming files,
often with a command in it). Each rule's positive cases (test_registry.POSITIVE) are run
twice: as they are, and with every ordinary name in every text field of the evidence
(a domain, a path prefix, an address, a host or user name) replaced by a hostile payload.
The hostile commands must parse to the same shape as the ordinary ones, with each
payload inside one quoted word; in the fix, every payload must sit inside single quotes;
and nothing may be quoted twice.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import shlex
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from audit.analyze import Evidence
from audit.model import Finding
from audit.rules import REGISTRY
from audit.rules.base import AnyRule
from tests.rules.kit import run
from tests.rules.test_registry import POSITIVE

PAYLOADS = {
    "quote": "x'y;touch /tmp/pwned;#",  # noqa: S108 - a payload, never a file we create
    "substitution": "$(touch pwned)",
    "backticks": "`id`",
    "metacharacters": "a b|c&d>e",
    "option": "--help",
    "newline": "a\nb",
}
"""Each one names a command (touch, id) or breaks a word (space, quote, newline, `|&>;`).
"--help" needs no quotes: the checks hold it to staying inside one word."""

NAMES = re.compile(r"example|/etc/|10\.0\.0\.|web1|db1|audit")
"""The ordinary names of the positive cases: domains, path prefixes, addresses, hosts,
the SSH user."""

COMMAND_WORDS = {"touch", "pwned", "/tmp/pwned", "id"}  # noqa: S108 - words, not files
MARKERS = ("pwned", "`", "\n")
"""Fragments of the payloads that only an unquoted payload leaves in a token of their own."""

REQUOTED = "'\"'\"'"
"""What shlex.quote makes of a single quote: seen around a value without a quote, it is
the mark of a value quoted twice."""

PUNCTUATION = set("();<>|&")


def hostile(value: Any, payload: str) -> Any:
    """`value` with every ordinary name in every str inside it replaced by `payload`,
    through dataclasses, tuples, lists and dicts (enums, numbers, dates, bytes unchanged)."""
    if isinstance(value, enum.Enum):
        return value
    if isinstance(value, str):
        return NAMES.sub(lambda _: payload, value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: hostile(getattr(value, f.name), payload)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(hostile(v, payload) for v in value)
    if isinstance(value, list):
        return [hostile(v, payload) for v in value]
    if isinstance(value, dict):
        return {hostile(k, payload): hostile(v, payload) for k, v in value.items()}
    return value


def tokens(command: str) -> list[str]:
    """Shell words and operators as a POSIX shell splits them (no comments: an unquoted
    # must not hide what follows it)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.commenters = ""
    return list(lexer)


def operators(command: str) -> tuple[str, ...]:
    """The operator tokens of a command (; | & > < ( and their combinations), sorted."""
    return tuple(sorted(t for t in tokens(command) if t and set(t) <= PUNCTUATION))


def single_quoted(text: str) -> list[bool]:
    """For every character of a fix text: whether a shell reading it would see it inside
    single quotes. An apostrophe after a letter or digit (Let's, CA's) opens nothing."""
    inside = [False] * len(text)
    state = ""
    for i, ch in enumerate(text):
        if state == "'":
            if ch == "'":
                state = ""
            else:
                inside[i] = True
        elif state == '"':
            if ch == '"':
                state = ""
        elif ch == "'" and (i == 0 or not text[i - 1].isalnum()):
            state = "'"
        elif ch == '"':
            state = '"'
    return inside


def _cases() -> list[tuple[str, int, Callable[[], Evidence]]]:
    rules = {r.id for r in REGISTRY}
    return [
        (rule_id, n, make)
        for rule_id, makes in POSITIVE.items()
        if rule_id in rules
        for n, make in enumerate(makes)
    ]


CASES = _cases()
RULE = {r.id: r for r in REGISTRY}


def check_diagnose(command: str, payload: str, benign: set[tuple[str, ...]]) -> list[str]:
    """What is wrong with one hostile diagnose command (empty: nothing). `benign`: the
    operators of the same rule's commands for ordinary names."""
    problems = []
    try:
        shlex.split(command)
        words = tokens(command)
    except ValueError as exc:
        return [f"does not parse ({exc}): {command!r}"]
    if operators(command) not in benign:
        problems.append(f"operators {operators(command)}, not one of {benign}: {command!r}")
    loose = [w for w in words if w in COMMAND_WORDS]
    loose += [w for w in words if any(m in w for m in MARKERS) and payload not in w]
    if loose:
        problems.append(f"payload pieces {loose} outside one word: {command!r}")
    if "'" not in payload and command.count(payload) != sum(w.count(payload) for w in words):
        problems.append(f"the payload is split into several words: {command!r}")
    if "'" not in payload and REQUOTED in command:
        problems.append(f"a value is quoted twice: {command!r}")
    return problems


def check_fix(text: str, payload: str) -> list[str]:
    """What is wrong with one hostile fix text (empty: nothing)."""
    if "'" in payload:
        problems = [f"the payload appears unquoted: {text!r}"] if payload in text else []
        quoted_once = payload.replace("'", REQUOTED)
        if text.count(REQUOTED) != text.count(quoted_once):
            problems.append(f"a value is quoted twice: {text!r}")
        return problems
    problems = []
    if REQUOTED in text:
        problems.append(f"a value is quoted twice: {text!r}")
    if shlex.quote(payload) == payload:
        return problems  # a word a shell takes as it is
    inside = single_quoted(text)
    for m in re.finditer(re.escape(payload), text):
        if not all(inside[m.start() : m.end()]):
            problems.append(f"the payload at {m.start()} is not in single quotes: {text!r}")
    return problems


def _findings(rule: AnyRule, evidence: Evidence) -> list[Finding]:
    findings = run(evidence, (rule,))
    assert [f.id for f in findings if f.id != rule.id] == [], "the rule crashed"
    assert findings, f"{rule.id} did not fire"
    return findings


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
@pytest.mark.parametrize(("rule_id", "n", "make"), CASES, ids=[f"{r}-{n}" for r, n, _ in CASES])
def test_hostile_names_stay_quoted(
    rule_id: str, n: int, make: Callable[[], Evidence], payload: str
) -> None:
    rule = RULE[rule_id]
    benign = _findings(rule, make())
    bad = _findings(rule, hostile(make(), payload))
    assert len(bad) == len(benign)
    ordinary = {operators(f.diagnose) for f in benign}
    problems: list[str] = []
    for f in bad:
        problems += check_diagnose(f.diagnose, payload, ordinary)
        problems += check_fix(f.fix, payload)
    assert not problems, "\n".join(problems)
    hostile_ops = Counter(operators(f.diagnose) for f in bad)
    assert hostile_ops == Counter(operators(f.diagnose) for f in benign), "operators differ"


@pytest.mark.parametrize(("rule_id", "n", "make"), CASES, ids=[f"{r}-{n}" for r, n, _ in CASES])
def test_ordinary_names_are_not_quoted_twice(
    rule_id: str, n: int, make: Callable[[], Evidence]
) -> None:
    for f in _findings(RULE[rule_id], make()):
        shlex.split(f.diagnose)
        for text in (f.diagnose, f.fix):
            assert REQUOTED not in text, f"a value is quoted twice: {text!r}"


def test_the_checks_catch_unquoted_and_twice_quoted_values() -> None:
    """The checks themselves: an unquoted payload, a payload quoted twice, a payload split
    into words, and the same text correctly quoted."""
    template = "openssl x509 -noout -in {path} | grep -E 'Subject:'"
    ops = {operators(template.format(path="x"))}
    for payload in PAYLOADS.values():
        path = "/srv/" + payload + "/a.pem"
        good = template.format(path=shlex.quote(path))
        assert check_diagnose(good, payload, ops) == []
        assert check_fix(f"Replace {shlex.quote(path)} and reload.", payload) == []
        twice = shlex.quote(shlex.quote(path))
        if shlex.quote(path) == path:
            continue  # nothing to quote, nothing to catch
        assert check_diagnose(template.format(path=path), payload, ops)
        assert check_diagnose(template.format(path=twice), payload, ops)
        assert check_fix(f"Replace {path} and reload.", payload)
        assert check_fix(f"Replace {twice} and reload.", payload)
    assert check_fix("Let's replace a b|c&d>e, it is the CA's.", "a b|c&d>e")
