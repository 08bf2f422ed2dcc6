"""`certaudit prune`: delete old runs from the history database.

Keeps the runs younger than --keep (90d, 12w, 1y) and the --keep-runs newest, and always
the newest complete run and the run `run --resume` would continue. Prints every run it
removed and what went with them; --dry-run prints the same and deletes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.cli import app
from audit.cli.terminal import error_text, safe
from audit.errors import AuditError
from audit.report.json import iso
from audit.service.policy import EXIT_ERROR
from audit.service.prune import PruneOutcome, PruneSettings, parse_age, prune_history


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _print(outcome: PruneOutcome) -> None:
    p = outcome.pruned
    verb = "would remove" if p.dry_run else "removed"
    typer.echo(f"certaudit prune {safe(outcome.path)}: {verb} {len(p.runs)} run(s)")
    for r in p.runs:
        typer.echo(
            f"  {safe(r.run_id)}  {iso(r.started_at)}  {r.status.value:<11}  "
            f"{r.hosts} hosts  {r.findings} findings  {safe(r.inventory)}"
        )
    typer.echo(
        f"  with {p.hosts} host records and {p.findings} findings; nothing else used "
        f"{p.evidence} bodies of evidence, {p.certificates} certificates, "
        f"{p.finding_texts} finding texts: {'they would go' if p.dry_run else 'gone'}"
    )
    kept = outcome.kept
    safe_runs = outcome.protected
    typer.echo(
        f"kept {len(kept)} run(s)"
        + (f", oldest {iso(kept[-1].started_at)}" if kept else "")
        + (
            f"; newest complete {safe(safe_runs.newest_complete)}"
            if safe_runs.newest_complete
            else ""
        )
        + (f"; resumable {safe(safe_runs.resumable)}" if safe_runs.resumable else "")
    )
    size = f"database {_mb(p.bytes_before)} -> {_mb(p.bytes_after)}"
    if p.vacuumed:
        typer.echo(f"{size} (vacuumed)")
    elif not p.dry_run:
        typer.echo(
            f"{size}; {_mb(p.free_bytes)} free inside it for new runs "
            "(--vacuum gives it back to the file system)"
        )


@app.command("prune")
def prune_command(
    keep: Annotated[
        str | None,
        typer.Option("--keep", help="Keep runs younger than this: 36h, 90d, 12w, 1y."),
    ] = None,
    keep_runs: Annotated[
        int | None, typer.Option("--keep-runs", help="Keep this many of the newest runs.")
    ] = None,
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="Give the freed space back to the file system.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be removed; remove nothing.")
    ] = False,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="History database (default: $CERTAUDIT_DB or "
            "~/.local/state/certaudit/history.db).",
        ),
    ] = None,
) -> None:
    """Delete old runs (and what only they used), keeping what diff and --resume need."""
    try:
        settings = PruneSettings(
            db=db,
            keep=parse_age(keep) if keep is not None else None,
            keep_runs=keep_runs,
            vacuum=vacuum,
            dry_run=dry_run,
        )
        outcome = prune_history(settings)
    except AuditError as exc:
        typer.echo(error_text(exc), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    _print(outcome)
