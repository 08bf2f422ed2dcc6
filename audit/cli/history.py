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
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from audit.cli import app
from audit.cli.terminal import error_text, safe
from audit.diff import CertChange, RunDiff
from audit.errors import AuditError
from audit.history import RunSummary
from audit.model import AuditResult, CertInfo, Finding
from audit.report.json import finding_doc, iso
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


def _severity_changes(old: AuditResult, diff: RunDiff) -> list[tuple[Finding, str]]:
    """Findings in both runs whose severity moved (an expiring certificate escalating)."""
    before: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for f in old.findings:
        before[(f.id, f.host, f.subject)].add(f.severity.value)
    out = []
    for f in diff.unchanged:
        seen = before.get((f.id, f.host, f.subject), set())
        if seen and f.severity.value not in seen:
            out.append((f, "/".join(sorted(seen))))
    return out


def _cert_brief(c: CertInfo | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "sha256": c.sha256,
        "subject": c.subject,
        "issuer": c.issuer,
        "serial": c.serial,
        "not_before": iso(c.not_before),
        "not_after": iso(c.not_after),
        "dns_names": list(c.dns_names),
        "ip_addresses": list(c.ip_addresses),
        "key_type": c.key_type,
        "key_bits": c.key_bits,
    }


def _change_doc(ch: CertChange) -> dict[str, Any]:
    loc = ch.location
    return {
        "kind": ch.kind.value,
        "routine": ch.kind.value == "renewed",
        "host": loc.host,
        "path": loc.path,
        "location_kind": loc.kind,
        "index": loc.index,
        "servername": loc.servername,
        "changes": list(ch.changes),
        "old": _cert_brief(ch.old),
        "new": _cert_brief(ch.new),
    }


def diff_document(old: AuditResult, new: AuditResult, diff: RunDiff) -> dict[str, Any]:
    """`certaudit diff --json`."""
    return {
        "old_run": diff.old_run,
        "new_run": diff.new_run,
        "old_finished_at": iso(old.finished_at),
        "new_finished_at": iso(new.finished_at),
        "findings": {
            "new": [finding_doc(f) for f in diff.new],
            "resolved": [finding_doc(f) for f in diff.resolved],
            "changed": [
                {**finding_doc(f), "old_severity": was} for f, was in _severity_changes(old, diff)
            ],
            "unverified": [finding_doc(f) for f in diff.unverified],
            "unchanged": len(diff.unchanged),
        },
        "certificates": {
            "renewed": [_change_doc(c) for c in diff.renewed],
            "changed": [_change_doc(c) for c in diff.changed],
            "added": [_change_doc(c) for c in diff.added],
            "removed": [_change_doc(c) for c in diff.removed],
        },
        "hosts_not_compared": list(diff.hosts_not_compared),
    }


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
    changed = _severity_changes(old, diff)
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
