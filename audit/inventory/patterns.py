"""Host patterns as an inventory writes them, for the INI and the YAML reader alike.

`host:port`, `[ipv6]:port`, a bare IPv6 address, and ranges `web[01:20]`, `[a:c]`,
`[1:10:2]` (several in one name multiply). A pattern expands to at most MAX_HOSTS names.
"""

from __future__ import annotations

import itertools
import math
import re
import string

from audit.inventory.builder import MAX_HOSTS, _Builder, _fail, _Loc, _show
from audit.inventory.values import _DIGITS, _ip_literal

_BRACKETED_HOSTPORT = re.compile(r"^\[([^\[\]]+)\]:([0-9]+)$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\[\]]*\])+):([0-9]+)$")
_RANGE = re.compile(r"\[([^\[\]]*)\]")


def _range_items(body: str, pattern: str, loc: _Loc, b: _Builder | None) -> list[str]:
    """`01:20`, `a:c`, `1:10:2` -> the items of one bracketed range. A numeric range that
    runs backwards (`[3:1]`) is empty, as in Ansible, with a warning."""
    bounds = body.split(":")
    where = f"range [{body}] in {_show(pattern)}"
    if len(bounds) not in (2, 3):
        _fail(loc, f"{where} must be [start:end] or [start:end:step]")
    start, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not _DIGITS.fullmatch(step_text) or int(step_text) == 0:
        _fail(loc, f"{where}: the step must be a positive whole number")
    step = int(step_text)
    letters = string.ascii_letters
    if len(start) == 1 and len(end) == 1 and start in letters and end in letters:
        first, last = letters.index(start), letters.index(end)
        if first > last:
            _fail(loc, f"{where}: the start comes after the end")
        return list(letters[first : last + 1 : step])
    if not (_DIGITS.fullmatch(start) and _DIGITS.fullmatch(end)):
        _fail(loc, f"{where}: the bounds must be both numbers or both single letters")
    first, last = int(start), int(end)
    if first > last:
        if b is not None:
            b.warn(loc, f"{where} runs backwards and defines no host (Ansible skips it too)")
        return []
    width = len(start) if start.startswith("0") and len(start) > 1 else 0
    if width and len(end) != width:
        _fail(
            loc,
            f"{where}: a zero-padded range needs a start and an end of the same width",
            hint="write e.g. web[01:50] or web[001:100]",
        )
    numbers = range(first, last + 1, step)
    if len(numbers) > MAX_HOSTS:
        _fail(loc, f"{where} expands to more than {MAX_HOSTS} hosts")
    return [str(n).zfill(width) for n in numbers]


def _expand_ranges(pattern: str, loc: _Loc, b: _Builder | None) -> list[str]:
    parts = _RANGE.split(pattern)
    literals, bodies = parts[0::2], parts[1::2]
    if any("[" in lit or "]" in lit for lit in literals):
        _fail(loc, f"unbalanced brackets in host pattern {_show(pattern)}")
    if not bodies:
        return [pattern]
    choices = [_range_items(body, pattern, loc, b) for body in bodies]
    if math.prod(len(c) for c in choices) > MAX_HOSTS:
        _fail(loc, f"host pattern {_show(pattern)} expands to more than {MAX_HOSTS} hosts")
    names = []
    for combo in itertools.product(*choices):
        pieces = [literals[0]]
        for item, literal in zip(combo, literals[1:], strict=True):
            pieces += [item, literal]
        names.append("".join(pieces))
    return names


def _pattern_port(text: str) -> int:
    """The digits after `host:`, as Ansible keeps them: a number, checked only when the
    host is contacted."""
    return int(text) if len(text) <= 12 else 10**12


def _split_hostpattern(
    pattern: str, loc: _Loc, b: _Builder | None = None
) -> tuple[list[str], int | None]:
    """`web[01:03].example.com:2222` -> (expanded names, port). IPv6 stays whole."""
    if pattern.strip() == "---":
        _fail(loc, "a line '---' is a sign of YAML", hint="name YAML inventories *.yml")
    if _ip_literal(pattern):
        return [pattern], None
    m = _BRACKETED_HOSTPORT.match(pattern)
    if m and _ip_literal(m.group(1)):
        return [m.group(1)], _pattern_port(m.group(2))
    if pattern.startswith("[") and pattern.endswith("]") and _ip_literal(pattern[1:-1]):
        return [pattern[1:-1]], None
    port = None
    m = _HOSTPORT.match(pattern)
    if m:
        pattern, port = m.group(1), _pattern_port(m.group(2))
    elif pattern.endswith(":"):
        _fail(loc, f"host pattern {_show(pattern)} ends in ':' without a port")
    names = _expand_ranges(pattern, loc, b)
    for name in names:
        bad = any(c.isspace() or not c.isprintable() for c in name)
        if bad or not name or (":" in name and not _ip_literal(name)):
            _fail(
                loc,
                f"{_show(name)} is not a valid host name",
                hint="write host:port, [ipv6]:port, or a bare IPv6 address",
            )
    return names, port
