"""`certaudit export`: one table of a stored run as CSV or JSON Lines, on stdout or into a
file (--out). Errors are one line on stderr and exit status 2."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from audit.cli import app
from audit.cli.terminal import error_text, safe
from audit.errors import AuditError
from audit.service.export import export_stored
from audit.service.policy import EXIT_ERROR


class Format(enum.StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class What(enum.StrEnum):
    CERTIFICATES = "certificates"
    FINDINGS = "findings"
    LISTENERS = "listeners"
    KEYS = "keys"
    MIGRATION = "migration"


@app.command("export")
def export_command(
    what: Annotated[
        What,
        typer.Option(
            "--what",
            help="certificates, findings, listeners, keys, or migration (per certificate "
            "and host: files, listeners, configuration lines, issuer, key; grouped by issuer).",
        ),
    ],
    fmt: Annotated[Format, typer.Option("--format", help="csv or jsonl.")] = Format.CSV,
    run: Annotated[
        str | None, typer.Option("--run", help="Run id to export (default: the latest).")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="History database (default: $CERTAUDIT_DB or "
            "~/.local/state/certaudit/history.db).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Export a table of a stored run (CSV cells are neutralised as in the workbook)."""
    try:
        exported = export_stored(db, run, what.value, fmt.value, out)
    except AuditError as exc:
        typer.echo(error_text(exc), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    if exported.written is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(exported.data)
        sys.stdout.buffer.flush()
        return
    typer.echo(
        f"certaudit export: {exported.rows} {what.value} row(s) of run "
        f"{safe(exported.run_id)} -> {safe(exported.written)}",
        err=True,
    )
