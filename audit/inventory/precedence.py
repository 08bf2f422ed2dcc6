"""Which definition wins: the group graph, the layers of variables, conflict warnings.

Each variable is resolved on its own. Precedence, lowest first; a later layer overrides
an earlier one (Ansible's order):

1. Group variables written in the inventory files, group by group, sorted by
   (depth, ansible_group_priority, name): `all` first (depth 0); a child group is deeper
   than each of its parents so it overrides them; between groups of equal depth the
   higher ansible_group_priority (default 1), then the alphabetically later name, wins.
2. group_vars/all.
3. group_vars/GROUP for the host's other groups, in the same order as 1.
4. Host variables written in the inventory files (inline on host lines, or under a host
   in YAML); when a host is defined more than once, the later definition of a variable
   wins. `host:port` sets ansible_port where the host is first defined, before its
   variables.
5. host_vars/HOST.

Then each Host field takes the first of its variables that is defined (values module):
`ansible_ssh_host` over `ansible_host` and so on, whatever layer each came from — the
ssh connection's rule; an empty user or key file passes none to ssh, and an empty host
gives way to the next name. A field whose winning value cannot be used (not convertible, a
template, a vault value) makes the host unusable: it is listed with the reason and not
audited, as Ansible fails that host alone.

When the address, port or user of a host is set to different values by definitions that
do not override each other on purpose (two host definitions, two groups neither of which
is a parent of the other, or a legacy and a modern name), the rules above still decide,
and a warning names every location and the endpoint that will be audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from audit.inventory.builder import _Builder, _fail, _HostEntry, _Loc, _Setting, _show
from audit.inventory.values import _CONNECTION, _FIELD_VARS, _Bad, _convert, _normalize_address
from audit.model import Host

_CONNECTION_FIELDS = ("address", "port", "user")
_LocWhy = tuple[_Loc, str]
"""The fields that say where to connect; differing values for them are warned about."""


@dataclass(frozen=True)
class Unusable:
    """A host the inventory defines that cannot be contacted as written."""

    name: str
    groups: tuple[str, ...]
    reason: str
    """"file:line: variable: why", naming the definition that decided it."""
    source: str


@dataclass(frozen=True)
class _Graph:
    """Group relations once every file is read."""

    order: tuple[str, ...]
    """Groups in creation order."""
    depth: Mapping[str, int]
    priority: Mapping[str, int]
    ancestors: Mapping[str, frozenset[str]]

    def sort_key(self, name: str) -> tuple[int, int, str]:
        return self.depth[name], self.priority[name], name


def _reconcile(b: _Builder) -> None:
    """As Ansible does once every source is read: groups without a parent go under
    `all`; a host in no group but `all` goes to `ungrouped`; a host in another group
    leaves `ungrouped`."""
    parented = {child for _, child in b.edges}
    for name in list(b.groups):
        if name != "all" and name not in parented:
            b.edges[("all", name)] = _Loc("(inventory)")
            b.groups["all"].children.append(name)
    ungrouped = b.groups["ungrouped"]
    for entry in b.hosts.values():
        others = [g for g in entry.groups if g not in ("all", "ungrouped")]
        if others and "ungrouped" in entry.groups:
            entry.groups.remove("ungrouped")
            ungrouped.hosts.remove(entry.name)
        elif not others and "ungrouped" not in entry.groups:
            entry.groups.append("ungrouped")
            ungrouped.hosts.append(entry.name)


def _graph(b: _Builder) -> _Graph:
    """Depths and ancestors (Kahn's order from `all`); a cycle is an error."""
    parents: dict[str, list[str]] = {name: [] for name in b.groups}
    for parent, child in b.edges:
        parents[child].append(parent)
    waiting = {name: len(parents[name]) for name in b.groups}
    depth: dict[str, int] = {}
    ancestors: dict[str, frozenset[str]] = {}
    ready = ["all"]
    while ready:
        name = ready.pop()
        ps = parents[name]
        depth[name] = max((depth[p] + 1 for p in ps), default=0)
        ancestors[name] = frozenset(ps).union(*(ancestors[p] for p in ps))
        for child in b.groups[name].children:
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


def _group_hosts(b: _Builder, name: str) -> tuple[str, ...]:
    """Ansible's order of a group's hosts: its own, then its children's, level by level
    (each level in the order the groups were added), each host once."""
    seen_groups, level, out = {name}, [name], dict[str, None]()
    while level:
        for group in level:
            out.update(dict.fromkeys(b.groups[group].hosts))
        following = [c for g in level for c in b.groups[g].children if c not in seen_groups]
        level = list(dict.fromkeys(following))
        seen_groups.update(level)
    return tuple(out)


def _member_of(entry: _HostEntry, graph: _Graph) -> frozenset[str]:
    """Every group the host is in, directly or through a child group; `all` included."""
    groups = set(entry.groups) | {"all"}
    for g in entry.groups:
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


def _conflict(var: str, layered: list[_Layered], graph: _Graph) -> str | None:
    """A message part when one variable is set to different values by definitions that
    do not deliberately override each other; None otherwise."""
    contenders = [item for item in layered if item.setting.var == var]
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
    values: dict[str, list[str]] = {}
    for item in rivals:
        values.setdefault(_show(item.setting.value), []).append(item.setting.where())
    if len(values) < 2:
        return None
    listed = "; ".join(f"{value} at {', '.join(wheres)}" for value, wheres in values.items())
    return f"{var} {listed} ({reason})"


def _shadowed(field_name: str, winners: Mapping[str, _Layered]) -> str | None:
    """A legacy name that beats a modern one set to something else."""
    names = [v for v in _FIELD_VARS[field_name] if v in winners]
    if len(names) < 2:
        return None
    win, lose = winners[names[0]].setting, winners[names[1]].setting
    if win.value == lose.value:
        return None
    return (
        f"{names[0]} {_show(win.value)} at {win.where()} beats {names[1]} "
        f"{_show(lose.value)} at {lose.where()} (the ssh connection prefers "
        f"{names[0]}, whatever the level)"
    )


def _fields(entry: _HostEntry, winners: Mapping[str, _Layered]) -> dict[str, Any] | _LocWhy:
    """Each Host field from the winning variables, or where and why the host cannot be
    used."""
    value: dict[str, Any] = {}
    for field_name, names in _FIELD_VARS.items():
        if field_name == "address":  # an empty host is passed over, as ssh's plugin does
            names = tuple(v for v in names if winners.get(v) and winners[v].setting.value != "")
        var = next((v for v in names if v in winners), None)
        if var is None:
            continue
        setting = winners[var].setting
        if setting.value == "" and field_name in ("user", "key_file"):
            continue  # the ssh connection passes no User or IdentityFile then
        if setting.refused is not None:
            if field_name in _CONNECTION:
                return setting.loc, f"{var}: {setting.refused}"
            continue
        if setting.value is None:
            continue
        try:
            value[field_name] = _convert(field_name, setting.value)
        except _Bad as exc:
            return setting.loc, f"{var}: {exc}"
    if "address" not in value:
        address = _normalize_address(entry.name)
        if address is None:
            return entry.loc, (
                f"host name {_show(entry.name)} is not a host name or IP address, and no "
                "ansible_host is set"
            )
        value["address"] = address
    return value


def _build_host(
    b: _Builder, entry: _HostEntry, member: frozenset[str], graph: _Graph
) -> Host | Unusable:
    layered = _layers(b, entry, member, graph)
    winners = {item.setting.var: item for item in layered}
    groups = tuple(g for g in graph.order if g in member and g != "all")
    value = _fields(entry, winners)
    if isinstance(value, tuple):
        loc, why = value
        b.warn(loc, f"host {entry.name} is not audited: {why}")
        return Unusable(entry.name, groups, f"{loc}: {why}", str(entry.loc))
    host = Host(
        name=entry.name,
        address=value["address"],
        port=value.get("port"),
        user=value.get("user"),
        key_file=value.get("key_file"),
        become=bool(value.get("become", False)),
        groups=groups,
        cert_paths=value.get("cert_paths", ()),
        tls_names=value.get("tls_names", ()),
        tls_ports=value.get("tls_ports", ()),
        probe_direct=bool(value.get("probe_direct", False)),
        source=str(entry.loc),
    )
    conflicts = [
        c
        for f in _CONNECTION_FIELDS
        for c in (
            _shadowed(f, winners),
            _conflict(next((v for v in _FIELD_VARS[f] if v in winners), ""), layered, graph),
        )
        if c
    ]
    if conflicts:
        b.warn(
            entry.loc,
            f"host {entry.name} has conflicting connection settings: "
            f"{' | '.join(conflicts)}; auditing {_endpoint(host.address, host.port, host.user)}",
        )
    return host


@dataclass(frozen=True)
class _Resolved:
    hosts: tuple[Host, ...]
    unusable: tuple[Unusable, ...]
    order: tuple[str, ...]
    """Every host name, usable or not, in order of first appearance."""
    groups: dict[str, tuple[str, ...]]
    """Every group -> its hosts (usable or not), in Ansible's order (_group_hosts)."""


def _resolve(b: _Builder, path: str) -> _Resolved:
    """Every host with its settings applied, in order of first appearance, and every
    group -> the names of its hosts. An inventory without hosts is an error."""
    _reconcile(b)
    graph = _graph(b)
    hosts: list[Host] = []
    unusable: list[Unusable] = []
    for entry in b.hosts.values():
        if entry.name in b.groups and b.groups[entry.name].exists:
            b.warn(
                entry.loc,
                f"{entry.name!r} is both a host and a group: its variables on host lines "
                "written after the group was defined are group variables (as in Ansible); "
                "in --limit the plain name means the host, !name and &name the group",
            )
        built = _build_host(b, entry, _member_of(entry, graph), graph)
        if isinstance(built, Host):
            hosts.append(built)
        else:
            unusable.append(built)
    if not b.hosts:
        _fail(
            _Loc(path),
            "the inventory defines no hosts",
            hint="an empty inventory would audit nothing; check the path and the file",
        )
    groups = {name: _group_hosts(b, name) for name in graph.order}
    return _Resolved(tuple(hosts), tuple(unusable), tuple(b.hosts), groups)
