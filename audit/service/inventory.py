"""The `inventory` use case: what an audit of an inventory would contact, and how.

Like `ansible-inventory --list`, but resolved the way the audit connects: for every host
the address, port, user and key file that will be used, whether the collection runs
through sudo, its groups and its certaudit_ variables; hosts that cannot be contacted as
written carry the reason instead; and every warning the inventory produced. Nothing is
contacted, nothing in the inventory is executed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from audit.inventory import Inventory, load_inventory
from audit.model import Host

CERTAUDIT_VARS = (
    "certaudit_cert_paths",
    "certaudit_tls_names",
    "certaudit_tls_ports",
    "certaudit_probe_direct",
)
"""The audit's own variables, in the order they are shown."""


@dataclass(frozen=True)
class InventorySettings:
    """What to list."""

    inventory: Path
    """Ansible inventory file or folder."""
    limit: str | None = None
    """Ansible `--limit` pattern."""


@dataclass(frozen=True)
class HostPlan:
    """One inventory host as the audit would contact it."""

    name: str
    address: str | None
    """None when the host cannot be contacted (see `error`)."""
    port: int | None
    """None: ssh_config, else 22."""
    user: str | None
    """None: ssh_config, else the local user."""
    key_file: str | None
    become: bool
    groups: tuple[str, ...]
    certaudit: Mapping[str, object] = field(default_factory=dict, hash=False)
    """certaudit_ variable -> its value (lists as tuples)."""
    source: str = ""
    """Where the host was first defined, "file:line"."""
    error: str | None = None
    """Why the host cannot be contacted as written ("file:line: ..."); None when it can."""

    def as_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "address": self.address,
            "port": self.port,
            "user": self.user,
            "key_file": self.key_file,
            "become": self.become,
            "groups": list(self.groups),
        }
        for name, value in self.certaudit.items():
            doc[name] = list(value) if isinstance(value, tuple) else value
        doc["source"] = self.source
        if self.error is not None:
            doc["error"] = self.error
        return doc


@dataclass(frozen=True)
class InventoryListing:
    """Every host of an inventory (after --limit), its groups and its warnings."""

    path: str
    hosts: tuple[HostPlan, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """Group -> its hosts (direct or through child groups), `all` and `ungrouped` too."""
    warnings: tuple[str, ...] = ()
    """Each begins with "file:line: "."""

    def as_json(self) -> dict[str, object]:
        """`{"hosts": {NAME: {...}}, "groups": {...}, "warnings": [...]}`."""
        return {
            "hosts": {h.name: h.as_json() for h in self.hosts},
            "groups": {g: list(members) for g, members in self.groups.items()},
            "warnings": list(self.warnings),
        }


def _plan(host: Host) -> HostPlan:
    values: dict[str, object] = {
        "certaudit_cert_paths": host.cert_paths,
        "certaudit_tls_names": host.tls_names,
        "certaudit_tls_ports": host.tls_ports,
        "certaudit_probe_direct": host.probe_direct,
    }
    return HostPlan(
        name=host.name,
        address=host.address,
        port=host.port,
        user=host.user,
        key_file=host.key_file,
        become=host.become,
        groups=host.groups,
        certaudit=MappingProxyType(values),
        source=host.source,
    )


def _listing(inventory: Inventory) -> InventoryListing:
    plans = [_plan(h) for h in inventory.hosts]
    for bad in inventory.unusable:
        plans.append(
            HostPlan(
                name=bad.name,
                address=None,
                port=None,
                user=None,
                key_file=None,
                become=False,
                groups=bad.groups,
                source=bad.source,
                error=bad.reason,
            )
        )
    order = {name: i for i, name in enumerate(inventory.order)}
    plans.sort(key=lambda p: order.get(p.name, len(order)))
    return InventoryListing(
        path=inventory.path,
        hosts=tuple(plans),
        groups=inventory.groups,
        warnings=inventory.warnings,
    )


def list_inventory(settings: InventorySettings) -> InventoryListing:
    """Read the inventory (restricted by --limit) and say how each host would be
    contacted. Raises InventoryError, naming file and line, for an inventory that cannot
    be read and a --limit that is malformed or selects nothing."""
    return _listing(load_inventory(settings.inventory, limit=settings.limit))
