"""Which definition wins: the group graph, the layers of variables, conflict warnings.

Precedence, lowest first; a later layer overrides an earlier one (Ansible's order):

1. Group variables written in the inventory files, group by group, sorted by
   (depth, ansible_group_priority, name): `all` first (depth 0); a child group is deeper
   than each of its parents so it overrides them; between groups of equal depth the
   higher ansible_group_priority (default 1), then the alphabetically later name, wins.
2. group_vars/all.
3. group_vars/GROUP for the host's other groups, in the same order as 1.
4. Host variables written in the inventory files (inline on host lines, or under a host
   in YAML); when a host is defined more than once, the later definition wins. A port
   written as `host:port` is a host variable of that line.
5. host_vars/HOST.

So group_vars files override group variables written in the inventory file, as in
Ansible. Legacy names (ansible_ssh_host...) are the same setting as their modern names:
whichever is written in the higher layer (or later in the same layer) wins.

When the address, port or user of a host is set to different values by definitions that
do not override each other on purpose (two host definitions, or two groups neither of which
is a parent of the other), the order above still decides, and a warning names every
location and the endpoint that will be audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from audit.inventory.builder import _Builder, _fail, _HostEntry, _Loc, _Setting, _show
from audit.inventory.values import _normalize_address
from audit.model import Host

_CONNECTION_FIELDS = ("address", "port", "user")
"""The fields that say where to connect; differing values for them are warned about."""


@dataclass(frozen=True)
class _Graph:
    """Group relations once every file is read."""

    order: tuple[str, ...]
    """Groups in first-appearance order."""
    depth: Mapping[str, int]
    priority: Mapping[str, int]
    ancestors: Mapping[str, frozenset[str]]

    def sort_key(self, name: str) -> tuple[int, int, str]:
        return self.depth[name], self.priority[name], name


def _check_declared(b: _Builder) -> None:
    for (parent, child), loc in b.edges.items():
        if not b.groups[child].declared:
            _fail(
                loc,
                f"[{parent}:children] names group {child!r}, which is never defined",
                hint=f"add a [{child}] section (it may be empty)",
            )
    for group in b.groups.values():
        if group.vars_loc and not group.declared:
            _fail(
                group.vars_loc,
                f"[{group.name}:vars] is for a group that is never defined",
                hint=f"add a [{group.name}] section, or fix the name",
            )


def _graph(b: _Builder) -> _Graph:
    """Depths and ancestors (Kahn's order from `all`); a cycle is an error."""
    parents: dict[str, list[str]] = {name: [] for name in b.groups}
    children: dict[str, list[str]] = {name: [] for name in b.groups}
    for parent, child in b.edges:
        parents[child].append(parent)
        children[parent].append(child)
    for name in b.groups:
        if name != "all" and not parents[name]:
            parents[name].append("all")
            children["all"].append(name)
    waiting = {name: len(parents[name]) for name in b.groups}
    depth: dict[str, int] = {}
    ancestors: dict[str, frozenset[str]] = {}
    ready = ["all"]
    while ready:
        name = ready.pop()
        ps = parents[name]
        depth[name] = max((depth[p] + 1 for p in ps), default=0)
        ancestors[name] = frozenset(ps).union(*(ancestors[p] for p in ps))
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(depth) < len(b.groups):
        _cycle_error(b, parents, depth)
    return _Graph(
        order=tuple(b.groups),
        depth=depth,
        priority={name: g.priority for name, g in b.groups.items()},
        ancestors=ancestors,
    )


def _cycle_error(
    b: _Builder, parents: Mapping[str, list[str]], done: Mapping[str, int]
) -> NoReturn:
    """Name one cycle. Every group left over has a parent that is left over too."""
    path: list[str] = [next(name for name in b.groups if name not in done)]
    while path.count(path[-1]) < 2:
        path.append(next(p for p in parents[path[-1]] if p not in done))
    cycle = path[path.index(path[-1]) :]
    child, parent = cycle[0], cycle[1]
    shown = " -> ".join(reversed(cycle))
    _fail(
        b.edges[(parent, child)],
        f"groups contain each other ({shown}); a group cannot be inside itself",
    )


def _member_of(entry: _HostEntry, graph: _Graph) -> frozenset[str]:
    """Every group the host is in, directly or through a child group; `all` included."""
    direct = [g for g in entry.groups if g not in ("all", "ungrouped")] or ["ungrouped"]
    groups = set(direct) | {"all"}
    for g in direct:
        groups |= graph.ancestors[g]
    return frozenset(groups)


@dataclass(frozen=True)
class _Layered:
    """A setting with its precedence layer (1..5, see the module docstring) and group."""

    layer: int
    group: str | None
    setting: _Setting


def _layers(
    b: _Builder, entry: _HostEntry, member: frozenset[str], graph: _Graph
) -> list[_Layered]:
    ordered = sorted(member, key=graph.sort_key)
    out = [_Layered(1, g, s) for g in ordered for s in b.groups[g].settings]
    out += [_Layered(2, "all", s) for s in b.groups["all"].file_settings]
    out += [_Layered(3, g, s) for g in ordered if g != "all" for s in b.groups[g].file_settings]
    out += [_Layered(4, None, s) for s in entry.settings]
    out += [_Layered(5, None, s) for s in entry.file_settings]
    return out


def _endpoint(address: str, port: int | None, user: str | None) -> str:
    host = f"[{address}]" if ":" in address and port else address
    return f"{user + '@' if user else ''}{host}{f':{port}' if port else ''}"


def _conflict(field_name: str, layered: list[_Layered], graph: _Graph) -> str | None:
    """A message part when one connection field is set to different values by definitions
    that do not deliberately override each other; None otherwise."""
    contenders = [item for item in layered if item.setting.field == field_name]
    if not contenders:
        return None
    winner = contenders[-1]
    if winner.layer == 5:
        return None
    if winner.layer == 4:
        rivals = [c for c in contenders if c.layer == 4]
        reason = "the later host definition wins"
    else:
        assert winner.group is not None
        above = graph.ancestors[winner.group]
        rivals = [
            c
            for c in contenders
            if c.layer < 4 and c.group != winner.group and c.group not in above
        ] + [winner]
        reason = (
            "group precedence: deeper group, then higher ansible_group_priority, "
            "then the alphabetically later name, and group_vars files over the "
            "inventory file"
        )
    values: dict[object, list[str]] = {}
    for item in rivals:
        values.setdefault(item.setting.value, []).append(item.setting.where())
    if len(values) < 2:
        return None
    listed = "; ".join(f"{_show(value)} at {', '.join(wheres)}" for value, wheres in values.items())
    return f"{field_name} {listed} ({reason})"


def _effective(layered: list[_Layered]) -> dict[str, Any]:
    """Each field's value: of its settings, the last in precedence order wins."""
    return {item.setting.field: item.setting.value for item in layered}


def _build_host(b: _Builder, entry: _HostEntry, member: frozenset[str], graph: _Graph) -> Host:
    layered = _layers(b, entry, member, graph)
    value = _effective(layered)
    address = value.get("address")
    if address is None:
        address = _normalize_address(entry.name)
        if address is None:
            _fail(
                entry.loc,
                f"host name {_show(entry.name)} is not a host name or IP "
                "address, and no ansible_host is set",
            )
    host = Host(
        name=entry.name,
        address=address,
        port=value.get("port"),
        user=value.get("user"),
        key_file=value.get("key_file"),
        become=bool(value.get("become", False)),
        groups=tuple(g for g in graph.order if g in member and g != "all"),
        cert_paths=value.get("cert_paths", ()),
        tls_names=value.get("tls_names", ()),
        tls_ports=value.get("tls_ports", ()),
        probe_direct=bool(value.get("probe_direct", False)),
        source=str(entry.loc),
    )
    conflicts = [c for f in _CONNECTION_FIELDS if (c := _conflict(f, layered, graph))]
    if conflicts:
        b.warn(
            entry.loc,
            f"host {entry.name} has conflicting connection settings: "
            f"{' | '.join(conflicts)}; auditing {_endpoint(host.address, host.port, host.user)}",
        )
    return host


def _resolve(b: _Builder, path: str) -> tuple[tuple[Host, ...], dict[str, tuple[str, ...]]]:
    """Every host with its settings applied, in order of first appearance, and every
    group -> the names of its hosts. An inventory without hosts is an error."""
    _check_declared(b)
    graph = _graph(b)
    hosts: list[Host] = []
    members: dict[str, list[str]] = {name: [] for name in graph.order}
    for entry in b.hosts.values():
        if entry.name in b.groups and b.groups[entry.name].declared:
            b.warn(
                entry.loc,
                f"{entry.name!r} is both a host and a group; in --limit it means the host",
            )
        member = _member_of(entry, graph)
        hosts.append(_build_host(b, entry, member, graph))
        for g in member:
            members[g].append(entry.name)
    if not hosts:
        _fail(
            _Loc(path),
            "the inventory defines no hosts",
            hint="an empty inventory would audit nothing; check the path and the file",
        )
    groups = {name: tuple(names) for name, names in members.items()}
    return tuple(hosts), groups
