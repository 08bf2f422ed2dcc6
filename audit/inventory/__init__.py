"""Ansible inventories (INI, YAML, TOML, directories) -> model.Host. Nothing here executes.

Contract: `load_inventory` returns an `Inventory` or raises `InventoryError` naming the
file and, where there is one, the line. It never raises anything else for bad input, never
prints, never runs a program, never decrypts a vault and never keeps a password.

What is read, as Ansible reads it, is described in the module that reads it; in the order
an inventory goes through them:

- `files`: an inventory file or directory on disk (format detection; dynamic-inventory
  scripts and vault-encrypted files refused), and the group_vars/ and host_vars/ beside it.
- `ini`, `yamlfile` and `tomlfile`: the inventory formats. Each records what it reads,
  with file and line, into one `builder._Builder`.
- `patterns`: host names as written: `host:port`, `[ipv6]:port`, bare IPv6, ranges
  `web[01:20]`, `[a:c]`, `[1:10:2]`.
- `values`: which variables are used, which are refused with a warning (secrets, ssh
  overrides, proxy commands, vault values, templates), and how values become Host fields.
- `precedence`: which definition of a setting wins (group depth and priority, group_vars,
  host variables, host_vars), conflict warnings, and the resulting `Host`s.
- `limit`: Ansible `--limit` patterns (`select`), `@file` limit files included.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from audit.errors import InventoryError
from audit.inventory.builder import MAX_HOSTS, _Builder, _fail, _Loc
from audit.inventory.files import (
    MAX_DIR_DEPTH,
    MAX_FILE_BYTES,
    _check_text,
    _load_path,
    _parse_text,
)
from audit.inventory.limit import _LIMIT_HINT, _LimitError, _select, select
from audit.inventory.precedence import Unusable, _resolve
from audit.model import Host

__all__ = [
    "MAX_DIR_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_HOSTS",
    "Inventory",
    "Unusable",
    "load_inventory",
    "loads_inventory",
    "select",
]


@dataclass(frozen=True)
class Inventory:
    """The hosts an inventory defines, ready to audit, with what was ignored and why."""

    path: str
    """The inventory file or directory, as given."""
    hosts: tuple[Host, ...]
    """Every host (after --limit), in order of first appearance in the inventory."""
    warnings: tuple[str, ...] = ()
    """What was ignored or ambiguous; each begins with "file:line: ". No secret values."""
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """Every group (including `all` and `ungrouped`) -> names of its hosts, usable or not,
    direct or via child groups, in Ansible's order (the group's own hosts, then its
    children's). Groups without hosts are kept."""
    unusable: tuple[Unusable, ...] = ()
    """Hosts (after --limit) that cannot be contacted as written (a port that is not a
    number, a template...), each with the reason; they are not in `hosts`, and each has
    a warning. Ansible would fail these hosts alone."""
    order: tuple[str, ...] = ()
    """Every host name (after --limit), usable or not, in order of first appearance."""


def _inventory(b: _Builder, path: str) -> Inventory:
    """Everything read into `b`, with precedence applied (before --limit)."""
    resolved = _resolve(b, path)
    return Inventory(
        path,
        resolved.hosts,
        tuple(b.warnings),
        MappingProxyType(resolved.groups),
        resolved.unusable,
        resolved.order,
    )


def _apply_limit(inventory: Inventory, limit: str | None) -> Inventory:
    if limit is None:
        return inventory
    try:
        chosen, notes = _select(inventory.order, limit, inventory.groups)
    except _LimitError as exc:
        raise InventoryError(inventory.path, None, f"--limit: {exc}", hint=_LIMIT_HINT) from None
    names = set(chosen)
    groups = {g: tuple(n for n in members if n in names) for g, members in inventory.groups.items()}
    warnings = inventory.warnings + tuple(f"{inventory.path}: --limit: {n}" for n in notes)
    return Inventory(
        inventory.path,
        tuple(h for h in inventory.hosts if h.name in names),
        tuple(dict.fromkeys(warnings)),
        MappingProxyType(groups),
        tuple(u for u in inventory.unusable if u.name in names),
        tuple(chosen),
    )


def load_inventory(path: str | os.PathLike[str], limit: str | None = None) -> Inventory:
    """Read an Ansible inventory file or directory (plus group_vars/ and host_vars/ beside
    it) and return its hosts, restricted by an Ansible `--limit` pattern if given.

    Raises InventoryError, naming file and line, for a missing, unreadable, binary,
    vault-encrypted or malformed inventory (a file Ansible would skip as unparsable), a
    dynamic-inventory script (never executed), an inventory without hosts, and a limit
    that is malformed or selects nothing. A value that cannot be used makes only its host
    unusable (`Inventory.unusable`), as in Ansible.
    """
    display = os.fspath(path)
    if not display:
        _fail(_Loc("(inventory)"), "no inventory path given")
    b = _Builder()
    _load_path(Path(display), display, b)
    return _apply_limit(_inventory(b, display), limit)


def loads_inventory(
    text: str,
    *,
    source: str = "<inventory>",
    fmt: Literal["ini", "yaml", "toml"] = "ini",
    limit: str | None = None,
) -> Inventory:
    """Like load_inventory, for inventory text already in memory (no group_vars/,
    host_vars/ or directories). `source` names the text in messages and Host.source."""
    if fmt not in ("ini", "yaml", "toml"):
        raise ValueError(f"fmt must be 'ini', 'yaml' or 'toml', not {fmt!r}")
    b = _Builder()
    text = text.removeprefix("\ufeff")
    _check_text(text, source)
    _parse_text(text, fmt, source, b)
    return _apply_limit(_inventory(b, source), limit)
