"""Ansible's YAML inventory format, and group_vars/host_vars files (YAML mappings too).

`all: {hosts: {name: vars-or-null}, vars: {...}, children: {group: {...}}}`, nested to
any depth; other top-level keys are groups below `all`. `!vault` values are ignored with
a warning, `!unsafe` is read as plain text. The reader walks composed nodes rather than
loaded data, so every name and value keeps its line; PyYAML's own messages are never
shown, because they quote the source line.
"""

from __future__ import annotations

from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from audit.inventory.builder import _Builder, _fail, _Loc, _Setting, _show
from audit.inventory.patterns import _split_hostpattern
from audit.inventory.values import _VAULTED, _accept_var, _group_var, _Vaulted


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that knows Ansible's tags: `!vault` (kept opaque), `!unsafe` (text)."""


def _construct_vault(loader: yaml.SafeLoader, node: Node) -> _Vaulted:
    return _VAULTED


def _construct_unsafe(loader: yaml.SafeLoader, node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_sequence(node, deep=True)  # type: ignore[arg-type]


_YamlLoader.add_constructor("!vault", _construct_vault)
_YamlLoader.add_constructor("!vault-encrypted", _construct_vault)
_YamlLoader.add_constructor("!unsafe", _construct_unsafe)


def _yaml_error(path: str, exc: Exception, text: str) -> NoReturn:
    """A YAML error with its line, built from the problem only: PyYAML's own message
    quotes the source line, which may hold a secret."""
    if isinstance(exc, yaml.reader.ReaderError):
        where = text[: max(exc.position, 0)].count("\n") + 1
        _fail(
            _Loc(path, where),
            f"character U+{exc.character:04X} is not allowed in YAML"
            if isinstance(exc.character, int)
            else "invalid character in YAML",
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or "invalid YAML"
    context = getattr(exc, "context", None)
    _fail(_Loc(path, line), f"YAML: {problem}" + (f" ({context})" if context else ""))


_NODE_ERRORS = (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError)


class _YamlReader:
    """Walks the composed YAML nodes (so every name and value has its line)."""

    def __init__(self, loader: _YamlLoader, path: str, b: _Builder, text: str) -> None:
        self.loader, self.path, self.b, self.text = loader, path, b, text
        self.done: set[tuple[str, int]] = set()
        self.own_keys: dict[int, set[int]] = {}
        """Per mapping node, its own key nodes (not those a `<<` merge brought in)."""

    def loc(self, node: Node) -> _Loc:
        return _Loc(self.path, node.start_mark.line + 1)

    def pairs(self, node: MappingNode) -> list[tuple[str, Node, _Loc]]:
        """(key, value node, loc) in order; `<<` merges applied (own keys override merged
        ones silently); a key written twice: the later one wins, as in PyYAML, with a
        warning."""
        if id(node) not in self.own_keys:
            self.own_keys[id(node)] = {id(k) for k, _ in node.value}
            try:
                self.loader.flatten_mapping(node)
            except _NODE_ERRORS as exc:
                _yaml_error(self.path, exc, self.text)
        own = self.own_keys[id(node)]
        out: dict[str, tuple[Node, _Loc]] = {}
        written: set[str] = set()
        for key_node, value_node in node.value:
            loc = self.loc(key_node)
            if not isinstance(key_node, ScalarNode) or not key_node.value.strip():
                _fail(loc, "expected a name as the key")
            key = key_node.value.strip()
            if key in written and id(key_node) in own:
                self.b.warn(
                    loc,
                    f"duplicate key {_show(key)} (also at line "
                    f"{out[key][1].line}); the later one wins",
                )
            out.pop(key, None)
            out[key] = (value_node, loc)
            if id(key_node) in own:
                written.add(key)
        return [(key, value, loc) for key, (value, loc) in out.items()]

    def value(self, node: Node) -> object:
        try:
            data = self.loader.construct_object(node)
            while self.loader.state_generators:  # as BaseConstructor.construct_document
                generators, self.loader.state_generators = self.loader.state_generators, []
                for generator in generators:
                    for _ in generator:
                        pass
            return data
        except yaml.YAMLError as exc:
            _yaml_error(self.path, exc, self.text)
        except (ValueError, TypeError, OverflowError, RecursionError):
            _fail(self.loc(node), "this value cannot be read (bad number, date or nesting)")

    def is_null(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    def top(self, root: Node) -> None:
        if not isinstance(root, MappingNode):
            _fail(
                self.loc(root),
                "the top level must be a mapping of group names",
                hint="start with `all:` and put hosts under `all: hosts:`",
            )
        for name, node, loc in self.pairs(root):
            if name in ("hosts", "vars", "children"):
                self.b.warn(
                    loc,
                    f"top-level key {name!r} is read as a group name; did you mean `all: {name}:`?",
                )
            self.group(name, node, loc, parent=None)

    def group(self, name: str, node: Node, loc: _Loc, parent: str | None) -> None:
        if not (isinstance(node, MappingNode) or self.is_null(node)):
            if parent is None:
                self.b.warn(loc, f"{name!r} skipped: a group must be a mapping (or empty)")
                return
            _fail(loc, f"group {name!r} must be a mapping of hosts, vars and children (or empty)")
        self.b.declare(name, loc)
        if (name, id(node)) not in self.done and isinstance(node, MappingNode):
            self.done.add((name, id(node)))
            for key, value, key_loc in self.pairs(node):
                self.section(name, key, value, key_loc)
        if parent is not None:
            self.b.add_child(parent, name, loc)

    def section(self, name: str, key: str, value: Node, key_loc: _Loc) -> None:
        """One key of a group: hosts, vars or children (a plain name means {name: null},
        as in Ansible); anything else is skipped with a warning."""
        if key not in ("hosts", "vars", "children"):
            self.b.warn(
                key_loc,
                f"unexpected key {_show(key)} in group {name!r} "
                "ignored: only hosts, vars and children are read",
            )
            return
        if self.is_null(value):
            return
        if isinstance(value, ScalarNode):
            value = MappingNode(
                "tag:yaml.org,2002:map",
                [(value, ScalarNode("tag:yaml.org,2002:null", "", value.start_mark))],
                value.start_mark,
                value.end_mark,
            )
        if not isinstance(value, MappingNode):
            _fail(key_loc, f"{key} of group {name!r} must be a mapping of names (or one name)")
        if key == "hosts":
            self.hosts(name, value)
        elif key == "vars":
            for var, raw, var_loc in self.vars(value, key_loc, f"vars of group {name!r}"):
                _group_var(self.b, name, var, raw, var_loc, f"vars of group {name}")
        else:
            for child, child_node, child_loc in self.pairs(value):
                self.group(child, child_node, child_loc, parent=name)

    def hosts(self, group: str, node: MappingNode) -> None:
        for pattern, host_node, host_loc in self.pairs(node):
            names, port = _split_hostpattern(pattern, host_loc, self.b)
            scope = f"host in group {group}"
            port_setting = (
                None if port is None else _Setting("ansible_port", port, host_loc, "host:port")
            )
            settings = []
            for var, raw, var_loc in self.vars(host_node, host_loc, f"host {pattern!r}"):
                setting = _accept_var(self.b, var, raw, var_loc, scope)
                if setting is not None:
                    settings.append(setting)
            for name in names:
                self.b.add_host(name, host_loc, group, settings, port_setting)

    def vars(self, node: Node, loc: _Loc, what: str) -> list[tuple[str, object, _Loc]]:
        if self.is_null(node):
            return []
        if not isinstance(node, MappingNode):
            _fail(loc, f"the variables of {what} must be a mapping (or empty)")
        return [(key, self.value(value), vloc) for key, value, vloc in self.pairs(node)]


def _compose(text: str, path: str) -> tuple[_YamlLoader, Node | None]:
    try:
        loader = _YamlLoader(text)  # the reader checks every character here
    except yaml.YAMLError as exc:
        _yaml_error(path, exc, text)
    try:
        return loader, loader.get_single_node()
    except yaml.YAMLError as exc:
        loader.dispose()
        _yaml_error(path, exc, text)
    except RecursionError:
        loader.dispose()
        _fail(_Loc(path), "YAML nested too deeply")


def _parse_yaml(text: str, path: str, b: _Builder) -> None:
    loader, root = _compose(text, path)
    try:
        reader = _YamlReader(loader, path, b, text)
        if root is not None and not reader.is_null(root):
            reader.top(root)
    finally:
        loader.dispose()


def _parse_vars_file(text: str, path: str, b: _Builder) -> list[tuple[str, object, _Loc]]:
    """A group_vars/host_vars file: a YAML mapping of variable names to values."""
    loader, root = _compose(text, path)
    try:
        reader = _YamlReader(loader, path, b, text)
        if root is None or reader.is_null(root):
            return []
        if not isinstance(root, MappingNode):
            _fail(reader.loc(root), "a vars file must be a mapping of variable names")
        return reader.vars(root, reader.loc(root), path)
    finally:
        loader.dispose()
