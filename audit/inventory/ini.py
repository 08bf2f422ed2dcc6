"""Ansible's INI inventory format.

`[group]`, `[group:vars]`, `[group:children]`, hosts before any section (ungrouped),
inline `key=value` host variables (shell-style quoting), `#`/`;` comment lines, CRLF,
and the host patterns of the patterns module.
"""

from __future__ import annotations

import ast
import re
import shlex

from audit.inventory.builder import _Builder, _check_group_name, _fail, _Loc, _Setting, _show
from audit.inventory.patterns import _split_hostpattern
from audit.inventory.values import _SECRET_WORD, _accept_var, _group_var, _ip_literal, _safe_echo

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:[#;].*)?$")


def _lines(text: str) -> list[str]:
    """Split on LF (CRLF and LF both work); other line separators stay inside lines."""
    return text.replace("\r\n", "\n").split("\n")


def _unquote(value: str) -> str:
    """Strip one level of matching quotes, as Ansible's literal_eval of a string does."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value[1:-1]
        return parsed if isinstance(parsed, str) else value[1:-1]
    return value


def _vars_value(raw: str, loc: _Loc) -> str:
    """The value of a `key = value` line: quoted, or cut at a ` #` comment."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote, i = raw[0], 1
        while i < len(raw) and raw[i] != quote:
            i += 2 if raw[i] == "\\" else 1
        if i >= len(raw):
            _fail(loc, "missing closing quote")
        rest = raw[i + 1 :].strip()
        if rest and rest[0] not in "#;":
            _fail(loc, "unexpected text after the closing quote")
        return _unquote(raw[: i + 1])
    return re.split(r"\s#", raw, maxsplit=1)[0].strip()


def _parse_ini_host(b: _Builder, line: str, loc: _Loc, group: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        _fail(loc, f"cannot read host line: {exc}", hint="check the quotes on this line")
    if not tokens:
        return
    secret = _SECRET_WORD.search(line) is not None
    names, port = _split_hostpattern(tokens[0], loc)
    scope = f"host line in [{group}]"
    settings = []
    if port is not None:
        settings.append(_Setting("port", port, "host:port", loc, scope))
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq or not key:
            shown = "(not shown: the line may hold a secret)" if secret else _show(token)
            _fail(
                loc,
                f"expected key=value after the host name, got {shown}",
                hint='quote values that contain spaces: key="a b"',
            )
        setting = _accept_var(b, key, _unquote(value), loc, scope)
        if setting is not None:
            settings.append(setting)
    for name in names:
        b.add_host(name, loc, group, settings)


def _parse_ini_var(b: _Builder, line: str, loc: _Loc, group: str) -> None:
    key, eq, value = line.partition("=")
    key = key.strip()
    if not eq or not key or any(c.isspace() for c in key):
        _fail(loc, f"expected key=value in [{group}:vars], got {_safe_echo(line)}")
    _group_var(b, group, key, _vars_value(value, loc), loc, f"[{group}:vars]")


def _parse_ini(text: str, path: str, b: _Builder) -> None:
    """Ansible's INI inventory; the first lines behave as if under [ungrouped]."""
    group, state = "ungrouped", "hosts"
    for number, raw in enumerate(_lines(text), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        loc = _Loc(path, number)
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "vars", "children"):
                _fail(
                    loc,
                    f"section [{group}:{state}] has an unknown type {state!r}",
                    hint="use [name], [name:vars] or [name:children]",
                )
            if state == "vars":
                _check_group_name(group, loc)
                g = b.group(group)
                g.vars_loc = g.vars_loc or loc
            else:
                b.declare(group, loc)
            continue
        is_ipv6 = line.startswith("[") and _ip_literal(line.split()[0].strip("[]"))
        if line.startswith("[") and not is_ipv6 and line.split("#")[0].rstrip().endswith("]"):
            _fail(
                loc,
                f"invalid section header {_show(line)}",
                hint="write [group], [group:vars] or [group:children], without spaces",
            )
        if state == "hosts":
            _parse_ini_host(b, line, loc, group)
        elif state == "vars":
            _parse_ini_var(b, line, loc, group)
        else:
            m = _GROUP_NAME.match(line)
            if not m:
                _fail(loc, f"expected a group name in [{group}:children], got {_show(line)}")
            b.add_child(group, m.group(1), loc)
