"""Ansible `--limit` patterns: which of an inventory's hosts a pattern selects, exactly as
Ansible selects them.

A pattern is split into terms as Ansible splits it (`_limit_terms`): on commas if there
are any; else kept whole if it is one address or range (`2001:db8::1`, `web[1:3]`); else
on colons outside brackets (so `~web0[1-3]:!web02` is a regex term and an exclusion). A
term `@FILE` stands for the lines of FILE, one term each. Terms are then applied in
Ansible's order: plain terms first (united), then `&` terms (intersected), then `!` terms
(removed); with only `&` and `!` terms the start is `all`.

One term (`_match_term`) is matched against group names first — `all` and `ungrouped`
included — and selects each matching group's hosts in Ansible's order (the group's own
hosts, then its children's); host names are matched too when no group matched or when
the term has a wildcard (`*`, `?`, `[`, `.`) or is a `~regex` (matched from the start).
A plain term that is exactly a host name means that host, even when a group has the same
name; `!name` and `&name` mean the group. A subscript (`[0]`, `[-1]`, `[1:3]` inclusive,
`[2:]`) picks from that list; an index past its end is an error, as in Ansible.

A term that matches nothing is ignored with a warning, as Ansible does; a pattern that
leaves no host at all is an error.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping, Sequence
from typing import NoReturn

from audit.errors import InventoryError
from audit.inventory.builder import _show

_LIMIT_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_WILDCARD = (".", "?", "*", "[")
MAX_LIMIT_FILE = 1024 * 1024

_LIMIT_HINT = "host or group names, `a:b` or `a,b`, `&group`, `!group`, `web*`, `~regex`, `@file`"


class _LimitError(Exception):
    """A --limit pattern that is malformed or selects nothing."""


def _limit_error(message: str) -> NoReturn:
    raise _LimitError(message)


_NUM_RANGE = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_HEX_RANGE = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_V6 = rf"(?:[0-9a-f]{{1,4}}|{_HEX_RANGE})"
_V4 = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUM_RANGE})"
_LABEL = rf"(?:[\w]|{_ALNUM_RANGE})(?:[\w_-]|{_ALNUM_RANGE})*(?<![_-])"
_HOSTPORTS = (
    re.compile(r"^\[(.+)\]:([0-9]+)$"),
    re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$"),
)
_HOSTS = (
    re.compile(rf"^(?:{_V4}\.){{3}}{_V4}$", re.I),
    re.compile(
        rf"^((?:{_V6}:){{7}}{_V6}|(?:{_V6}:){{1,6}}:|(?:{_V6}:)(?::{_V6}){{1,6}}|"
        rf"(?:{_V6}:){{2}}(?::{_V6}){{1,5}}|(?:{_V6}:){{3}}(?::{_V6}){{1,4}}|"
        rf"(?:{_V6}:){{4}}(?::{_V6}){{1,3}}|(?:{_V6}:){{5}}(?::{_V6}){{1,2}}|"
        rf"(?:{_V6}:){{6}}(?::{_V6})|:(?::{_V6}){{1,6}}|{_V6}?::|"
        rf"(?:0:){{6}}(?:{_V6}\.){{3}}{_V6}|::(?:ffff:)?(?:{_V6}\.){{3}}{_V6}|"
        rf"(?:0:){{5}}ffff:(?:{_V6}\.){{3}}{_V6})$",
        re.I,
    ),
    re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.I),
)
"""Ansible's address grammar (parse_address with ranges): a pattern it accepts as one
host, with an optional :port, is one term even with colons in it."""


def _one_address(pattern: str) -> bool:
    text = pattern
    for hostport in _HOSTPORTS:
        m = hostport.match(text)
        if m:
            text = m.group(1)
    return any(regex.match(text) for regex in _HOSTS)


def _limit_terms(pattern: str) -> list[str]:
    """Ansible's split_host_pattern."""
    if "," in pattern:
        parts = pattern.split(",")
    elif _one_address(pattern.strip()):
        parts = [pattern]
    else:
        parts = _LIMIT_TERM.findall(pattern)
    return [part.strip() for part in parts if part.strip()]


def _expand_files(terms: list[str]) -> list[str]:
    """`@FILE` -> the lines of FILE (each one term, blank lines dropped)."""
    out: list[str] = []
    for term in terms:
        if not term.startswith("@"):
            out.append(term)
            continue
        path = term[1:]
        if not os.path.isfile(path):
            _limit_error(f"limit file {_show(path)} not found (or not a file)")
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_LIMIT_FILE + 1)
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _limit_error(f"cannot read limit file {_show(path)}: {exc}")
        if len(data) > MAX_LIMIT_FILE:
            _limit_error(f"limit file {_show(path)} is larger than 1 MiB")
        out += [line.strip() for line in text.split("\n") if line.strip()]
    return out


def _compile(term: str) -> re.Pattern[str]:
    try:
        return re.compile(term[1:] if term.startswith("~") else fnmatch.translate(term))
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        _limit_error(f"{_show(term)} is not a valid pattern: {exc}")


def _subscript(term: str) -> tuple[str, tuple[int, int | None] | None]:
    if term.startswith("~"):
        return term, None
    m = _SUBSCRIPT.match(term)
    if not m:
        return term, None
    base, index, start, _sep, end = m.groups()
    if index:
        return base, (int(index), None)
    return base, (int(start), int(end) if end else -1)


def _match_term(
    term: str, names: Sequence[str], groups: Mapping[str, Sequence[str]], warnings: list[str]
) -> list[str]:
    """The host names one term (without its & or !) selects, duplicates kept, in
    Ansible's order: matching groups' hosts, then matching host names."""
    expr, sub = _subscript(term)
    regex = _compile(expr)
    matched_groups = [g for g in groups if regex.match(g)]
    found = [h for g in matched_groups for h in groups[g]]
    if not matched_groups or expr.startswith("~") or any(c in expr for c in _WILDCARD):
        found += [n for n in names if regex.match(n)]
    if not found and not matched_groups and expr != "all":
        warnings.append(f"{_show(expr)} matches no host or group; ignored")
    if not found or sub is None:
        return found
    start, end = sub
    if end:
        return found[start : (len(found) if end == -1 else end + 1)]
    if not -len(found) <= start < len(found):
        _limit_error(f"{_show(term)}: no host at index {start} (it has {len(found)})")
    return [found[start]]


def _order(terms: list[str]) -> list[str]:
    plain = [t for t in terms if t[0] not in "&!"]
    return (
        (plain or ["all"]) + [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]
    )


def _select(
    names: Sequence[str], pattern: str, groups: Mapping[str, Sequence[str]]
) -> tuple[list[str], list[str]]:
    """(the selected host names in inventory order, warnings)."""
    terms = _expand_files(_limit_terms(pattern))
    if not terms:
        _limit_error("the pattern is empty")
    warnings: list[str] = []
    known = set(names)
    chosen: list[str] = []
    for term in _order(terms):
        if term in known:
            chosen.append(term)
            continue
        if term in ("!", "&"):
            _limit_error(f"{_show(term)} names nothing")
        found = _match_term(term[1:] if term[0] in "!&" else term, names, groups, warnings)
        if term[0] == "!":
            drop = set(found)
            chosen = [n for n in chosen if n not in drop]
        elif term[0] == "&":
            keep = set(found)
            chosen = [n for n in chosen if n in keep]
        else:
            chosen += found
    selected = set(chosen)
    result = [n for n in names if n in selected]
    if not result:
        _limit_error(f"{_show(pattern)} leaves no host to audit")
    return result, warnings


def select(names: Sequence[str], pattern: str, groups: Mapping[str, Sequence[str]]) -> list[str]:
    """The host names an Ansible `--limit` pattern selects, in inventory order (see the
    module docstring). `names` are every host, in inventory order; `groups` maps every
    group to its hosts in Ansible's order (`Inventory.groups`). Raises InventoryError
    (path "--limit") for a bad pattern and when nothing is selected."""
    try:
        return _select(names, pattern, groups)[0]
    except _LimitError as exc:
        raise InventoryError("--limit", None, str(exc), hint=_LIMIT_HINT) from None
