"""What has been read so far, across every file, before precedence is applied.

The INI and YAML readers and the group_vars/host_vars reader all record into one
`_Builder`: groups, hosts, parent -> child edges and warnings. Every setting keeps the
place it was written (`_Loc`), so that errors and warnings name file and line. `_fail`
is how this package reports bad input: it raises `InventoryError` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from audit.errors import InventoryError

MAX_HOSTS = 100_000
"""Upper bound on hosts, also on what one range pattern may expand to."""


@dataclass(frozen=True)
class _Loc:
    """Where something was written."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


def _fail(loc: _Loc, message: str, hint: str = "") -> NoReturn:
    raise InventoryError(loc.path, loc.line, message, hint=hint)


def _show(value: object, limit: int = 60) -> str:
    """A value quoted for a message: control characters escaped, long text cut."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return f"a {type(value).__name__}" if value is not None else "an empty value"
    if isinstance(value, int) and value.bit_length() > 128:
        return "a very large number"
    if isinstance(value, (int, float)):
        return str(value)[:limit]
    text = value
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


@dataclass(frozen=True)
class _Setting:
    """One accepted value for one Host field, and where it was set."""

    field: str
    value: Any
    var: str
    loc: _Loc
    scope: str
    """What set it, for messages: "[web:vars]", "host line in [db]", "group_vars"..."""

    def where(self) -> str:
        return f"{self.loc} ({self.scope})"


@dataclass
class _Group:
    name: str
    declared: bool = False
    vars_loc: _Loc | None = None
    """First [name:vars] section, to report it if the group is never defined."""
    settings: list[_Setting] = field(default_factory=list)
    file_settings: list[_Setting] = field(default_factory=list)
    priority: int = 1


@dataclass
class _HostEntry:
    name: str
    loc: _Loc
    groups: list[str] = field(default_factory=list)
    settings: list[_Setting] = field(default_factory=list)
    file_settings: list[_Setting] = field(default_factory=list)


class _Builder:
    """Everything read so far, across files, before precedence is applied."""

    def __init__(self) -> None:
        self.groups: dict[str, _Group] = {}
        self.hosts: dict[str, _HostEntry] = {}
        self.edges: dict[tuple[str, str], _Loc] = {}
        self.warnings: dict[str, None] = {}
        for name in ("all", "ungrouped"):
            self.group(name).declared = True

    def warn(self, loc: _Loc, message: str) -> None:
        self.warnings.setdefault(f"{loc}: {message}", None)

    def group(self, name: str) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group(name)
        return self.groups[name]

    def declare(self, name: str, loc: _Loc) -> _Group:
        _check_group_name(name, loc)
        group = self.group(name)
        group.declared = True
        return group

    def add_child(self, parent: str, child: str, loc: _Loc) -> None:
        _check_group_name(child, loc)
        if child == "all":
            _fail(loc, f"group 'all' cannot be a child of {parent!r}: it contains everything")
        if child == parent:
            _fail(loc, f"group {child!r} cannot be its own child")
        self.group(child)
        self.edges.setdefault((parent, child), loc)

    def add_host(self, name: str, loc: _Loc, group: str, settings: list[_Setting]) -> None:
        entry = self.hosts.get(name)
        if entry is None:
            if len(self.hosts) >= MAX_HOSTS:
                _fail(loc, f"more than {MAX_HOSTS} hosts")
            entry = self.hosts[name] = _HostEntry(name, loc)
        if group not in entry.groups:
            entry.groups.append(group)
        entry.settings.extend(settings)


def _check_group_name(name: str, loc: _Loc) -> None:
    if not name or any(c.isspace() or not c.isprintable() for c in name):
        _fail(loc, f"{_show(name)} is not a valid group name")
