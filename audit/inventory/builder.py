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
    """One definition of one variable, as written (not yet converted), and where."""

    var: str
    value: Any
    loc: _Loc
    scope: str
    """What set it, for messages: "[web:vars]", "host line in [db]", "group_vars"..."""
    refused: str | None = None
    """Why certaudit cannot use this value (a template, a vault value); a host whose
    connection setting comes from here is not audited."""

    def where(self) -> str:
        return f"{self.loc} ({self.scope})"


@dataclass
class _Group:
    name: str
    exists: bool = False
    """Created, as Ansible creates groups: by a section header or a YAML group. Host
    variables written for a host named like an existing group go to the group."""
    settings: list[_Setting] = field(default_factory=list)
    file_settings: list[_Setting] = field(default_factory=list)
    priority: int = 1
    hosts: list[str] = field(default_factory=list)
    """Its own hosts, in the order they were added."""
    children: list[str] = field(default_factory=list)
    """Its child groups, in the order they were added."""


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
        self.group("all").exists = self.group("ungrouped").exists = True
        self.groups["all"].children.append("ungrouped")
        self.edges[("all", "ungrouped")] = _Loc("(inventory)")

    def warn(self, loc: _Loc, message: str) -> None:
        self.warnings.setdefault(f"{loc}: {message}", None)

    def group(self, name: str) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group(name)
        return self.groups[name]

    def declare(self, name: str, loc: _Loc) -> _Group:
        _check_group_name(name, loc)
        group = self.group(name)
        group.exists = True
        return group

    def add_child(self, parent: str, child: str, loc: _Loc) -> None:
        _check_group_name(child, loc)
        if child == "all":
            _fail(loc, f"group 'all' cannot be a child of {parent!r}: it contains everything")
        if child == parent:
            _fail(loc, f"group {child!r} cannot be its own child")
        self.group(child).exists = True
        if (parent, child) not in self.edges:
            self.edges[(parent, child)] = loc
            self.group(parent).children.append(child)

    def add_host(
        self, name: str, loc: _Loc, group: str, settings: list[_Setting], port: _Setting | None
    ) -> None:
        """A host definition. `port` (from `host:port`) counts only where the host is
        first defined, as in Ansible; each variable goes to the group of the same name
        when one exists at this point, as Ansible's set_variable does."""
        entry = self.hosts.get(name)
        if entry is None:
            if len(self.hosts) >= MAX_HOSTS:
                _fail(loc, f"more than {MAX_HOSTS} hosts")
            entry = self.hosts[name] = _HostEntry(name, loc)
            if port is not None:
                entry.settings.append(port)
        elif port is not None:
            self.warn(
                loc,
                f"port {port.value} of {name}:{port.value} ignored: {name} was first "
                f"defined at {entry.loc}, and a host keeps the port of its first definition",
            )
        if group not in entry.groups:
            entry.groups.append(group)
        owner = self.groups[group]
        if name not in owner.hosts:
            owner.hosts.append(name)
        target = self.groups.get(name)
        if target is not None and target.exists:
            target.settings.extend(settings)
        else:
            entry.settings.extend(settings)


def _check_group_name(name: str, loc: _Loc) -> None:
    if not name or any(c.isspace() or not c.isprintable() for c in name):
        _fail(loc, f"{_show(name)} is not a valid group name")
