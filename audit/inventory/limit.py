"""Ansible `--limit` patterns: which of an inventory's hosts a pattern selects.

A pattern is split into terms (`_limit_terms`), each term is matched against host and
group names (`_match_term`, with an optional subscript), and the terms are combined
(`_select`): plain terms united, then `&` terms intersected, then `!` terms removed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import NoReturn

from audit.errors import InventoryError
from audit.inventory.builder import _show
from audit.inventory.values import _ip_literal
from audit.model import Host

_LIMIT_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")


def _limit_terms(pattern: str) -> list[str]:
    """Ansible's split: on commas if there are any, else on colons outside brackets;
    an IP address stays whole."""
    pattern = pattern.strip()
    if "," in pattern:
        parts = pattern.split(",")
    elif _ip_literal(pattern.lstrip("!&")) or pattern.lstrip("!&").startswith("~"):
        parts = [pattern]
    else:
        parts = _LIMIT_TERM.findall(pattern)
    return [part.strip() for part in parts if part.strip()]


_LIMIT_HINT = "host or group names, `a:b` or `a,b`, `&group`, `!group`, `web*`, `~regex`"


class _LimitError(Exception):
    """A --limit pattern that is malformed or selects nothing."""


def _limit_error(message: str) -> NoReturn:
    raise _LimitError(message)


def _match_term(term: str, hosts: Sequence[Host], groups: Mapping[str, Sequence[str]]) -> list[str]:
    """The host names one term selects, in host order."""
    names = [h.name for h in hosts]
    subscript = None
    if not term.startswith("~"):
        m = _SUBSCRIPT.match(term)
        if m:
            term, subscript = m.group(1), m.groups()[1:]
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except (re.error, RecursionError, OverflowError) as exc:
            _limit_error(f"{_show(term)} is not a valid regular expression: {exc}")
        matched_groups = [g for g in groups if regex.match(g)]
        wanted = {n for n in names if regex.match(n)}
    elif term in names:
        matched_groups, wanted = [], {term}
    else:
        matched_groups = [g for g in groups if fnmatch.fnmatchcase(g, term)]
        wanted = set()
        if not matched_groups or any(c in term for c in "*?[."):
            wanted = {n for n in names if fnmatch.fnmatchcase(n, term)}
    for g in matched_groups:
        wanted.update(groups[g])
    selected = [n for n in names if n in wanted]
    if subscript is not None:
        selected = _apply_subscript(selected, subscript)
    return selected


def _apply_subscript(names: list[str], subscript: Sequence[str | None]) -> list[str]:
    """Ansible's `group[0]`, `group[-1]`, `group[1:3]` (inclusive), `group[2:]`."""
    single, start, _sep, end = subscript
    if single is not None:
        index = int(single)
        return [names[index]] if -len(names) <= index < len(names) else []
    first = int(start or 0)
    last = int(end) if end else len(names) - 1
    return names[first : last + 1]


def select(
    hosts: Sequence[Host], pattern: str, groups: Mapping[str, Sequence[str]]
) -> tuple[Host, ...]:
    """The hosts an Ansible `--limit` pattern selects, in inventory order.

    `groups` maps every group name to its hosts' names (`Inventory.groups`). Terms are
    separated by `,` (or `:`); a term is a host or group name, a `*`/`?` wildcard or a
    `~regex` (matched from the start), optionally with a subscript `[0]`, `[-1]`, `[0:2]`.
    Plain terms are united, then `&term`s intersect, then `!term`s remove; with only `&`
    and `!` terms the start is every host. An exact host name means that host, even when
    a group has the same name. Unlike Ansible (which only warns), a plain or `&` term that
    matches no host is an error: an audit that quietly skips hosts is worse than none.
    Raises InventoryError (path "--limit") for an empty or bad pattern and when nothing
    is selected.
    """
    try:
        return _select(hosts, pattern, groups)
    except _LimitError as exc:
        raise InventoryError("--limit", None, str(exc), hint=_LIMIT_HINT) from None


def _select(
    hosts: Sequence[Host], pattern: str, groups: Mapping[str, Sequence[str]]
) -> tuple[Host, ...]:
    terms = _limit_terms(pattern)
    if not terms:
        _limit_error("the pattern is empty")
    plain = [t for t in terms if t[0] not in "&!"]
    selected: set[str] = set() if plain else {h.name for h in hosts}
    for term in plain:
        found = _match_term(term, hosts, groups)
        if not found:
            _limit_error(f"{_show(term)} matches no host or group in the inventory")
        selected.update(found)
    for term in (t for t in terms if t[0] == "&"):
        found = _match_term(term[1:], hosts, groups)
        if not term[1:] or not found:
            _limit_error(f"{_show(term)} matches no host or group in the inventory")
        selected.intersection_update(found)
    for term in (t for t in terms if t[0] == "!"):
        if not term[1:]:
            _limit_error(f"{_show(term)} names nothing to exclude")
        selected.difference_update(_match_term(term[1:], hosts, groups))
    chosen = tuple(h for h in hosts if h.name in selected)
    if not chosen:
        _limit_error(f"{_show(pattern)} leaves no host to audit")
    return chosen
