"""Shared helpers for the inventory tests: write files, read text, look at results."""

from __future__ import annotations

from pathlib import Path

from audit.inventory import Inventory, loads_inventory
from audit.model import Host


def write(tmp_path: Path, name: str, text: str, mode: int | None = None) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    if mode is not None:
        path.chmod(mode)
    return path


def ini(text: str, limit: str | None = None) -> Inventory:
    return loads_inventory(text, source="inv.ini", limit=limit)


def yml(text: str, limit: str | None = None) -> Inventory:
    return loads_inventory(text, source="inv.yml", fmt="yaml", limit=limit)


def by_name(inv: Inventory) -> dict[str, Host]:
    return {h.name: h for h in inv.hosts}


def names(inv: Inventory) -> list[str]:
    return [h.name for h in inv.hosts]


def warned(inv: Inventory, *fragments: str) -> list[str]:
    return [w for w in inv.warnings if all(f in w for f in fragments)]
