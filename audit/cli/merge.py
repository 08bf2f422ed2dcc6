"""`certaudit merge DB... --into DB [--out DIR]`: shard databases joined into one run.

Takes the newest run of each shard database (`certaudit run --shard K/N`, or one runner
per network segment), records them as one run in the --into history with the findings
computed over every host, and with --out writes that run's reports. Exit status: 0
merged, 3 merged but partial (a shard missing with --allow-missing, or a shard run that
was interrupted), 2 an error (nothing recorded).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from audit.cli import app
from audit.cli.terminal import error_text, safe
from audit.errors import AuditError
from audit.model import Severity
from audit.service.merge import MergeOutcome, MergeSettings, merge_runs
from audit.service.policy import EXIT_ERROR


def _print(outcome: MergeOutcome) -> None:
    result = outcome.result
    for s in outcome.sources:
        shard = f"shard {s.stored.shard}" if s.stored.shard else "runner"
        typer.echo(
            f"  {shard}: run {safe(s.run_id)} of {safe(s.db)} ({s.status.value}, "
            f"{len(s.result.hosts)} hosts)"
        )
    audited = sum(1 for r in result.hosts if r.outcome.audited)
    certs = {f.cert.sha256 for r in result.hosts for f in r.certificates}
    by_sev = Counter(f.severity for f in result.findings)
    typer.echo(
        f"certaudit merge: run {safe(result.run_id)}: {audited}/{len(result.hosts)} hosts "
        f"audited, {len(certs)} distinct certificates; findings: "
        + (", ".join(f"{by_sev[s]} {s.value}" for s in Severity if by_sev[s]) or "none")
        + (" [partial]" if result.partial else "")
    )
    if outcome.missing:
        typer.echo(
            f"certaudit: warning: shard(s) {', '.join(outcome.missing)} missing: "
            "their hosts are not in the merged run",
            err=True,
        )
    for notice in outcome.notices:
        typer.echo(f"certaudit: warning: {safe(notice)}", err=True)
    for path in outcome.written:
        typer.echo(f"  wrote {safe(path)}")
    for name, reason in outcome.report_failures:
        typer.echo(f"certaudit: error: {name} could not be rendered: {safe(reason)}", err=True)


@app.command("merge")
def merge_command(
    sources: Annotated[
        list[Path], typer.Argument(help="Shard history databases (their newest run each).")
    ],
    into: Annotated[
        Path, typer.Option("--into", help="History database to record the merged run in.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the merged run's reports here.")
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing",
            help="Merge even when a shard of a K/N set is missing (the run is partial).",
        ),
    ] = False,
) -> None:
    """Merge shard databases into one run, and write one set of reports from it."""
    try:
        outcome = merge_runs(
            MergeSettings(tuple(sources), into, out=out, allow_missing=allow_missing)
        )
    except AuditError as exc:
        typer.echo(error_text(exc), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    _print(outcome)
    raise typer.Exit(outcome.status)
