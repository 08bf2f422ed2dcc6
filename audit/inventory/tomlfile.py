"""Ansible's TOML inventory format (`*.toml`), read as Ansible's toml plugin reads it.

`[GROUP.hosts] NAME = {var = value}` (or `[GROUP.hosts.NAME]`), `[GROUP.vars]` and
`GROUP.children = ["child", ...]`; every top-level table is a group. The parser keeps no
line numbers, so each name is placed at the first line that spells it (a table header or
a `key =` line), and errors from the TOML parser name the line it reports.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping

from audit.inventory.builder import _Builder, _fail, _Loc, _Setting, _show
from audit.inventory.patterns import _split_hostpattern
from audit.inventory.values import _accept_var, _group_var

_TOML_LINE = re.compile(r"at line (\d+)")


class _TomlReader:
    def __init__(self, text: str, path: str, b: _Builder) -> None:
        self.path, self.b = path, b
        self.lines = text.split("\n")

    def loc(self, *names: str) -> _Loc:
        """Where the last of `names` is first spelled as a key or in a table header, at or
        after where the names before it are."""
        start = 0
        for name in names:
            key = re.escape(name)
            spelled = re.compile(rf"""(?:^|[\s.\[{{,])(?:{key}|"{key}"|'{key}')\s*[=\].]""")
            start = next(
                (n for n in range(start, len(self.lines)) if spelled.search(self.lines[n])), start
            )
        return _Loc(self.path, start + 1)

    def group(self, name: str, data: object) -> None:
        if data is not None and not isinstance(data, Mapping):
            self.b.warn(self.loc(name), f"{name!r} skipped: a group must be a table")
            return
        self.b.declare(name, self.loc(name))
        for key, value in (data or {}).items():
            where = self.loc(name, key)
            if key == "vars":
                if not isinstance(value, Mapping):
                    _fail(where, f"vars of group {name!r} must be a table")
                for var, raw in value.items():
                    loc = self.loc(name, key, var)
                    _group_var(self.b, name, var, raw, loc, f"vars of group {name}")
            elif key == "children":
                if not isinstance(value, list):
                    _fail(where, f"children of group {name!r} must be a list of group names")
                for child in value:
                    if not isinstance(child, str):
                        _fail(where, f"children of group {name!r}: {_show(child)} is not a name")
                    self.group(child, {})
                    self.b.add_child(name, child, where)
            elif key == "hosts":
                if not isinstance(value, Mapping):
                    _fail(where, f"hosts of group {name!r} must be a table of host names")
                self.hosts(name, value)
            else:
                self.b.warn(where, f"unexpected key {_show(key)} in group {name!r} ignored")

    def hosts(self, group: str, hosts: Mapping[str, object]) -> None:
        for pattern, variables in hosts.items():
            loc = self.loc(group, "hosts", pattern)
            if not isinstance(variables, Mapping):
                _fail(loc, f"host {_show(pattern)} must have a table of variables (or {{}})")
            names, port = _split_hostpattern(pattern, loc, self.b)
            scope = f"host in group {group}"
            port_setting = (
                None if port is None else _Setting("ansible_port", port, loc, "host:port")
            )
            settings = []
            for var, raw in variables.items():
                setting = _accept_var(self.b, var, raw, loc, scope)
                if setting is not None:
                    settings.append(setting)
            for name in names:
                self.b.add_host(name, loc, group, settings, port_setting)


def _parse_toml(text: str, path: str, b: _Builder) -> None:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        m = _TOML_LINE.search(str(exc))
        problem = str(exc).split(" (at ")[0]
        _fail(_Loc(path, int(m.group(1)) if m else None), f"TOML: {problem}")
    if not data:
        _fail(_Loc(path), "an empty TOML file is not an inventory")
    if "plugin" in data:
        _fail(
            _Loc(path),
            f"an inventory plugin configuration (plugin = {_show(data['plugin'])}); "
            "certaudit never runs inventory plugins",
            hint="export its output (ansible-inventory -i FILE --list --yaml > hosts.yml)",
        )
    reader = _TomlReader(text, path, b)
    for name, value in data.items():
        reader.group(name, value)
