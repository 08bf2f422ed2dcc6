"""`certaudit inventory`: what an audit would contact, and how, without contacting anything.

Prints every host of the inventory (after --limit) with the address, port, user and key
file the audit would use, whether it collects through sudo, its groups and certaudit_
variables, then the warnings. `--json` prints the same as one document. A bad inventory
is one line on stderr (`certaudit: error: FILE:LINE: ...`) and exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from audit.cli import app
from audit.cli.terminal import error_text, safe
from audit.errors import AuditError
from audit.service.inventory import HostPlan, InventoryListing, InventorySettings, list_inventory
from audit.service.policy import EXIT_ERROR

_COLUMNS = ("HOST", "ADDRESS", "PORT", "USER", "KEY", "BECOME", "GROUPS")


def _row(plan: HostPlan) -> tuple[str, ...]:
    if plan.error is not None:
        return (safe(plan.name), "-", "-", "-", "-", "-", safe(",".join(plan.groups)) or "-")
    return (
        safe(plan.name),
        safe(plan.address),
        str(plan.port) if plan.port is not None else "(22)",
        safe(plan.user) if plan.user is not None else "(local)",
        safe(plan.key_file) if plan.key_file is not None else "-",
        "sudo" if plan.become else "-",
        safe(",".join(plan.groups)) or "-",
    )


def _extras(plan: HostPlan) -> list[str]:
    """The lines under a host's row: why it cannot be contacted, its certaudit_ values."""
    if plan.error is not None:
        return [f"    not audited: {safe(plan.error)}"]
    lines = []
    for name, value in plan.certaudit.items():
        if value in ((), False):
            continue
        shown = ", ".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
        lines.append(f"    {name} = {safe(shown)}")
    return lines


def _print_text(listing: InventoryListing) -> None:
    rows = [_row(p) for p in listing.hosts]
    widths = [max(len(r[i]) for r in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True)).rstrip())
    for plan, row in zip(listing.hosts, rows, strict=True):
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        for line in _extras(plan):
            typer.echo(line)
    bad = sum(p.error is not None for p in listing.hosts)
    typer.echo(
        f"{len(listing.hosts)} host(s)"
        + (f", {bad} not audited" if bad else "")
        + f", {len(listing.warnings)} warning(s)"
    )
    for warning in listing.warnings:
        typer.echo(f"warning: {safe(warning)}")


@app.command("inventory")
def inventory_command(
    inventory: Annotated[
        Path, typer.Argument(help="Ansible inventory (INI or YAML) or a folder of them.")
    ],
    limit: Annotated[
        str | None,
        typer.Option("--limit", "-l", help="Ansible host pattern, e.g. 'web:&prod:!web03'."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Show every host the audit would contact and how (address, port, user, key, sudo)."""
    try:
        listing = list_inventory(InventorySettings(inventory=inventory, limit=limit))
    except AuditError as exc:
        typer.echo(error_text(exc), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    if json_out:
        typer.echo(json.dumps(listing.as_json(), indent=2, ensure_ascii=False))
    else:
        _print_text(listing)
