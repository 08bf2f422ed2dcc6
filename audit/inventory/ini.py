"""Ansible's INI inventory format, read as Ansible's ini plugin reads it.

`[group]`, `[group:vars]`, `[group:children]`, hosts before any section (ungrouped),
inline `key=value` host variables (shell-style quoting, `#` comments), `#`/`;` comment
lines, CRLF, and the host patterns of the patterns module. Values are read as Ansible
reads them: a Python literal when the text is one (`2222`, `True`, `'quoted'`, `[443]`),
the text as written otherwise. In `[group:vars]` everything after the `=` is the value,
a `# comment` included (`deploy  # the account` is not `deploy`); a section header may be
followed by a `#` comment only.

Each file is checked on its own, as Ansible's ini plugin checks it: a `[parent:children]`
entry must name a group defined before it, in this file or an earlier one, or later in
this file, and a `[group:vars]` section needs its group defined in the same way.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field

from audit.inventory.builder import _Builder, _check_group_name, _fail, _Loc, _Setting, _show
from audit.inventory.patterns import _split_hostpattern
from audit.inventory.values import (
    _SECRET_WORD,
    _accept_var,
    _group_var,
    _ip_literal,
    _safe_echo,
)

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_MAX_LITERAL = 65536


def _lines(text: str) -> list[str]:
    """Split on LF (CRLF and LF both work); other line separators stay inside lines."""
    return text.replace("\r\n", "\n").split("\n")


def _parse_value(text: str) -> object:
    """Ansible's reading of an INI value: a Python literal if it is one, else the text."""
    if len(text) > _MAX_LITERAL:
        return text
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if value is ...:
        return "..."
    if isinstance(value, (complex, bytes)):
        return text if isinstance(value, bytes) else str(value)
    return value


@dataclass
class _Pending:
    """A group named before it is defined in this file (Ansible's pending declaration)."""

    loc: _Loc
    state: str
    parents: list[str] = field(default_factory=list)


@dataclass
class _IniFile:
    b: _Builder
    path: str
    pending: dict[str, _Pending] = field(default_factory=dict)

    def section(self, name: str, state: str, loc: _Loc) -> None:
        if state not in ("hosts", "vars", "children"):
            _fail(
                loc,
                f"section [{name}:{state}] has an unknown type {state!r}",
                hint="use [name], [name:vars] or [name:children]",
            )
        _check_group_name(name, loc)
        group = self.b.groups.get(name)
        if group is None or not group.exists:
            if state == "vars" and name not in self.pending:
                self.pending[name] = _Pending(loc, "vars")
            self.b.declare(name, loc)
        pending = self.pending.get(name)
        if pending is not None and state != "vars":
            self.resolve(name)

    def resolve(self, name: str) -> None:
        """`name` is now defined: add it to the parents that named it (and so on up)."""
        pending = self.pending.pop(name)
        for parent in pending.parents:
            self.b.add_child(parent, name, pending.loc)
            if parent in self.pending and self.pending[parent].state == "children":
                self.resolve(parent)

    def child(self, parent: str, line: str, loc: _Loc) -> None:
        m = _GROUP_NAME.match(line)
        if not m:
            _fail(loc, f"expected a group name in [{parent}:children], got {_show(line)}")
        name = m.group(1)
        group = self.b.groups.get(name)
        if group is not None and group.exists:
            self.b.add_child(parent, name, loc)
        elif name in self.pending:
            self.pending[name].parents.append(parent)
        else:
            _check_group_name(name, loc)
            self.pending[name] = _Pending(loc, "children", [parent])

    def finish(self) -> None:
        for name, pending in self.pending.items():
            if pending.state == "vars":
                _fail(
                    pending.loc,
                    f"[{name}:vars] is for a group that is not defined (here or in an "
                    "earlier file); Ansible skips this whole file",
                    hint=f"add a [{name}] section, or fix the name",
                )
            _fail(
                pending.loc,
                f"[{pending.parents[-1]}:children] names group {name!r}, which is not "
                "defined in this file or an earlier one; Ansible skips this whole file",
                hint=f"add a [{name}] section to this file (it may be empty)",
            )


def _parse_ini_host(b: _Builder, line: str, loc: _Loc, group: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        _fail(loc, f"cannot read host line: {exc}", hint="check the quotes on this line")
    if not tokens:
        return
    secret = _SECRET_WORD.search(line) is not None
    names, port = _split_hostpattern(tokens[0], loc, b)
    scope = f"host line in [{group}]"
    port_setting = None if port is None else _Setting("ansible_port", port, loc, "host:port")
    settings = []
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq or not key:
            shown = "(not shown: the line may hold a secret)" if secret else _show(token)
            _fail(
                loc,
                f"expected key=value after the host name, got {shown}",
                hint='quote values that contain spaces: key="a b"',
            )
        setting = _accept_var(b, key, _parse_value(value), loc, scope)
        if setting is not None:
            settings.append(setting)
    for name in names:
        b.add_host(name, loc, group, settings, port_setting)


def _parse_ini_var(b: _Builder, line: str, loc: _Loc, group: str) -> None:
    key, eq, value = line.partition("=")
    key = key.strip()
    if not eq or not key:
        _fail(loc, f"expected key=value in [{group}:vars], got {_safe_echo(line)}")
    if any(c.isspace() for c in key):
        b.warn(
            loc,
            f"variable name {_safe_echo(key)} contains a space; it sets nothing certaudit reads",
        )
        return
    _group_var(b, group, key, _parse_value(value.strip()), loc, f"[{group}:vars]")


def _parse_ini(text: str, path: str, b: _Builder) -> None:
    """Ansible's INI inventory; the first lines behave as if under [ungrouped]."""
    group, state = "ungrouped", "hosts"
    reader = _IniFile(b, path)
    for number, raw in enumerate(_lines(text), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        loc = _Loc(path, number)
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            reader.section(group, state, loc)
            continue
        if line.startswith("[") and line.endswith("]"):
            _fail(
                loc,
                f"invalid section header {_show(line)}",
                hint="write [group], [group:vars] or [group:children], without spaces",
            )
        first = line.split()[0]
        if first.startswith("[") and first.endswith("]") and not _ip_literal(first[1:-1]):
            _fail(
                loc,
                f"{_show(line)} is neither a section header nor a host",
                hint="only a # comment may follow a section header: [web] # comment",
            )
        if state == "hosts":
            _parse_ini_host(b, line, loc, group)
        elif state == "vars":
            _parse_ini_var(b, line, loc, group)
        else:
            reader.child(group, line, loc)
    reader.finish()
