"""`certaudit report` and `certaudit diff`: the stored history, re-rendered and compared.

report  re-renders a stored run (the latest by default) into a folder with the same
        renderers as `run`, marking what is new or resolved since the run before it;
        `--list` shows the stored runs.
diff    what changed between two runs: findings new, resolved, changed in severity, or
        not verifiable (host not audited), and certificates renewed (routine: same
        names, issuer and key type, new validity) or changed (material: new issuer,
        names, subject or key type/size), added or removed.

Errors (no database, no runs, unknown run id, unwritable folder) are one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from audit.cli import app
from audit.cli.terminal import error_text, safe
from audit.diff import CertChange, RunDiff, severity_changes
from audit.errors import AuditError
from audit.history import RunSummary
from audit.model import AuditResult, CertInfo, Finding
from audit.report.json import diff_document, iso
from audit.service.policy import EXIT_ERROR
from audit.service.stored import diff_stored, list_stored, render_stored

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="History database (default: $CERTAUDIT_DB or ~/.local/state/certaudit/history.db).",
    ),
]


def _fail(exc: AuditError) -> NoReturn:
    typer.echo(error_text(exc), err=True)
    raise typer.Exit(EXIT_ERROR)


# ----------------------------------------------------------------------------- report


@app.command("report")
def report_command(
    run: Annotated[
        str | None, typer.Option("--run", help="Run id to render (default: the latest).")
    ] = None,
    db: DbOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the reports.")] = Path(
        "certaudit-report"
    ),
    compare: Annotated[
        bool,
        typer.Option(
            "--compare/--no-compare", help="Mark findings new or resolved since the run before."
        ),
    ] = True,
    list_runs: Annotated[
        bool, typer.Option("--list", help="List the stored runs and exit.")
    ] = False,
) -> None:
    """Re-render a stored run into report.html, report.xlsx, findings.json, metrics.prom."""
    try:
        if list_runs:
            _print_runs(*list_stored(db))
            return
        rendered = render_stored(db, run, out, compare)
    except AuditError as exc:
        _fail(exc)
    result, previous = rendered.result, rendered.previous
    note = f" (compared with {previous.run_id})" if previous else ""
    typer.echo(
        f"certaudit report: run {safe(result.run_id)}{safe(note)}"
        + (" [partial]" if result.partial else "")
    )
    for path in rendered.written:
        typer.echo(f"  wrote {safe(path)}")
    for name, reason in rendered.failed:
        typer.echo(f"certaudit: error: {name} could not be rendered: {safe(reason)}", err=True)
    if rendered.failed:
        raise typer.Exit(EXIT_ERROR)


def _print_runs(path: Path, runs: Sequence[RunSummary]) -> None:
    if not runs:
        typer.echo(f"no runs stored in {safe(path)}")
        return
    for r in runs:
        sev = ", ".join(f"{n} {s}" for s, n in r.severities) or "no findings"
        typer.echo(
            f"{safe(r.run_id)}  {iso(r.started_at)}  {r.status.value:<11}  "
            f"{r.hosts_audited}/{r.hosts} hosts audited  {sev}  {safe(r.inventory)}"
        )


# ----------------------------------------------------------------------------- diff


def _finding_line(f: Finding, extra: str = "") -> str:
    return (
        f"    {f.severity.value.upper():8} {safe(f.id)}  {safe(f.host)}  {safe(f.subject)}"
        f"  — {safe(f.title)}{extra}"
    )


def _name(c: CertInfo | None) -> str:
    if c is None:
        return "?"
    return safe(c.common_name or next(iter(c.dns_names), "") or c.subject)


def _where(ch: CertChange) -> str:
    loc = ch.location
    sni = f" (SNI {safe(loc.servername)})" if loc.servername else ""
    return f"{safe(loc.host)}  {safe(loc.path)}{sni}"


def _change_line(ch: CertChange) -> str:
    old, new = ch.old, ch.new
    if ch.kind.value == "renewed" and old and new:
        routine = ", ".join(ch.changes) or "same"
        return (
            f"    renewed   {_where(ch)}  {_name(new)}: not after "
            f"{iso(old.not_after)} -> {iso(new.not_after)}  (routine: {routine})"
        )
    if ch.kind.value == "changed" and old and new:
        parts = []
        if "issuer" in ch.changes:
            parts.append(f"issuer {safe(old.issuer)} -> {safe(new.issuer)}")
        if "names" in ch.changes:
            before = ", ".join(old.dns_names + old.ip_addresses)
            after = ", ".join(new.dns_names + new.ip_addresses)
            parts.append(f"names [{safe(before)}] -> [{safe(after)}]")
        if "subject" in ch.changes:
            parts.append(f"subject {safe(old.subject)} -> {safe(new.subject)}")
        if "key type" in ch.changes or "key size" in ch.changes:
            parts.append(f"key {old.key_type} {old.key_bits} -> {new.key_type} {new.key_bits}")
        detail = "; ".join(parts) or ", ".join(ch.changes)
        return f"    CHANGED   {_where(ch)}  {_name(old)} -> {_name(new)}: {detail}  (material)"
    if ch.kind.value == "added":
        until = iso(new.not_after) if new else "?"
        return f"    added     {_where(ch)}  {_name(new)}, not after {until}"
    return f"    removed   {_where(ch)}  {_name(old)}"


def _print_diff(old: AuditResult, new: AuditResult, diff: RunDiff) -> None:
    echo = typer.echo
    echo(
        f"certaudit diff {safe(diff.old_run)} ({iso(old.finished_at)}) -> "
        f"{safe(diff.new_run)} ({iso(new.finished_at)})"
    )
    changed = severity_changes(old, diff)
    echo(
        f"findings: {len(diff.new)} new, {len(diff.resolved)} resolved, {len(changed)} changed "
        f"severity, {len(diff.unchanged)} unchanged"
        + (f", {len(diff.unverified)} not verified" if diff.unverified else "")
    )
    if diff.new:
        echo("  new:")
        for f in diff.new:
            echo(_finding_line(f))
    if diff.resolved:
        echo("  resolved:")
        for f in diff.resolved:
            echo(_finding_line(f))
    if changed:
        echo("  changed severity:")
        for f, was in changed:
            echo(_finding_line(f, f"  (was {was})"))
    if diff.unverified:
        echo(f"  not verified (host not audited in {safe(diff.new_run)}):")
        for f in diff.unverified:
            echo(_finding_line(f))
    echo(
        f"certificates: {len(diff.renewed)} renewed (routine), {len(diff.changed)} changed "
        f"(material), {len(diff.added)} added, {len(diff.removed)} removed"
    )
    for group in (diff.changed, diff.renewed, diff.added, diff.removed):
        for ch in group:
            echo(_change_line(ch))
    if diff.hosts_not_compared:
        echo(
            "hosts audited in only one of the runs (certificates not compared): "
            + ", ".join(safe(h) for h in diff.hosts_not_compared)
        )


@app.command("diff")
def diff_command(
    run_a: Annotated[
        str | None, typer.Argument(help="Older run (default: the run before RUN_B).")
    ] = None,
    run_b: Annotated[str | None, typer.Argument(help="Newer run (default: the latest).")] = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """What changed between two stored runs (default: the last two)."""
    try:
        stored = diff_stored(db, run_a, run_b)
    except AuditError as exc:
        _fail(exc)
    old, new, diff = stored.old, stored.new, stored.diff
    if as_json:
        sys.stdout.write(json.dumps(diff_document(old, new, diff), indent=2) + "\n")
    else:
        _print_diff(old, new, diff)
