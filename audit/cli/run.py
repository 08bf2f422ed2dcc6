"""`certaudit run INVENTORY`: the fleet audit."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from audit.cli import app
from audit.cli.terminal import error_text, format_finding, safe, windows_option
from audit.errors import AuditError
from audit.model import AuditResult, HostResult, Severity, Waiver
from audit.report.counts import run_counts
from audit.runner import Observer
from audit.service.policy import EXIT_ERROR
from audit.service.run import RunSettings, run_audit
from audit.service.shard import parse_shard
from audit.service.waivers import WaiversError


class _Progress(Observer):
    """Rich progress on a terminal; one line per host otherwise (quiet in cron)."""

    def __init__(self, verbose: int) -> None:
        self.total = 0
        self.done = 0
        self.verbose = verbose
        self._progress: Any = None
        self._task: Any = None

    def fleet_started(self, total: int) -> None:
        self.total = total
        if not sys.stderr.isatty():
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("auditing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        )
        self._task = self._progress.add_task("hosts", total=total)
        self._progress.start()

    def warning(self, message: str) -> None:
        typer.echo(f"certaudit: warning: {safe(message)}", err=True)

    def notice(self, message: str) -> None:
        typer.echo(f"certaudit: {safe(message)}", err=True)

    def host_finished(self, result: HostResult) -> None:
        self.done += 1
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.done)
        if self.verbose:
            line = f"[{self.done}/{self.total}] {safe(result.host.name)}: {result.outcome.value}"
            if result.detail:
                line += f" ({safe(result.detail)})"
            print(line, file=sys.stderr)

    def received(self, host: str, stream: str, data: bytes) -> None:
        if self.verbose >= 3:
            print(f"{safe(host)} {stream}: {len(data)} bytes", file=sys.stderr)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@app.command("run")
def run_command(
    inventory: Annotated[
        Path, typer.Argument(help="Ansible inventory (INI or YAML) or a folder of them.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the reports.")] = Path(
        "certaudit-report"
    ),
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", help="History database (default: ~/.local/state/certaudit/history.db)."
        ),
    ] = None,
    limit: Annotated[
        str | None,
        typer.Option("--limit", "-l", help="Ansible host pattern, e.g. 'web:&prod:!web03'."),
    ] = None,
    known_hosts: Annotated[
        Path | None,
        typer.Option("--known-hosts", help="known_hosts file (default ~/.ssh/known_hosts)."),
    ] = None,
    accept_new_host_keys: Annotated[
        bool,
        typer.Option(
            "--accept-new-host-keys", help="Trust and record keys of hosts not yet in known_hosts."
        ),
    ] = False,
    ssh_config: Annotated[
        list[Path] | None,
        typer.Option("--ssh-config", help="ssh_config file(s) to read instead of ~/.ssh/config."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="SSH user when the inventory gives none.")
    ] = None,
    identity: Annotated[
        list[Path] | None, typer.Option("--identity", "-i", help="Private key file(s) to offer.")
    ] = None,
    connect_timeout: Annotated[float, typer.Option(help="Seconds to connect and log in.")] = 10.0,
    host_timeout: Annotated[float, typer.Option(help="Overall seconds per host.")] = 120.0,
    concurrency: Annotated[int, typer.Option(help="Hosts audited at once.")] = 64,
    expiry_windows: Annotated[
        str, typer.Option(help="Warning windows in days (medium,high,critical).")
    ] = "30,14,7",
    fail_on: Annotated[
        Severity, typer.Option(help="Exit 1 when a finding is at least this severe.")
    ] = Severity.HIGH,
    min_coverage: Annotated[
        float, typer.Option(help="Exit 3 when fewer than this percentage of hosts were audited.")
    ] = 100.0,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="More detail on stderr (-vvv: byte counts)."
        ),
    ] = 0,
    cafile: Annotated[
        Path | None,
        typer.Option(
            "--cafile",
            help="Also trust these CA certificates when judging served chains (internal CA).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the most recent run that did not complete (killed or interrupted): "
            "audit only the hosts it had not finished.",
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="Audit only shard K of N (K from 0, e.g. $JOB_COMPLETION_INDEX/4): a stable "
            "hash partition of the hosts; `certaudit merge` joins the shards' databases.",
        ),
    ] = None,
    waivers: Annotated[
        Path | None,
        typer.Option(
            "--waivers",
            help="Reviewed waivers (YAML); default: certaudit-waivers.yml beside the "
            "inventory, when it exists. Waived findings stay in the reports, marked, but "
            "count towards neither the exit status nor the alert metrics.",
        ),
    ] = None,
    waiver_max_days: Annotated[
        int, typer.Option(help="Refuse waivers ending more than this many days ahead.")
    ] = 365,
    sign_key: Annotated[
        Path | None,
        typer.Option(
            "--sign-key",
            help="SSH private key: sign manifest.json (ssh-keygen -Y sign) into manifest.json.sig.",
        ),
    ] = None,
) -> None:
    """Audit every host of an inventory over SSH and write reports."""
    progress: _Progress | None = None
    try:
        settings = RunSettings(
            inventory=inventory,
            out=out,
            db=db,
            limit=limit,
            known_hosts=known_hosts,
            accept_new_host_keys=accept_new_host_keys,
            ssh_config=tuple(ssh_config) if ssh_config else None,
            user=user,
            identities=tuple(identity or ()),
            connect_timeout=connect_timeout,
            host_timeout=host_timeout,
            concurrency=concurrency,
            expiry_windows=windows_option(expiry_windows),
            fail_on=fail_on,
            min_coverage=min_coverage,
            cafile=cafile,
            resume=resume,
            shard=parse_shard(shard) if shard is not None else None,
            waivers=waivers,
            waiver_max_days=waiver_max_days,
            sign_key=sign_key,
        )
        progress = _Progress(verbose)
        outcome = run_audit(settings, progress)
    except AuditError as exc:
        if isinstance(exc, WaiversError) and len(exc.problems) > 1:
            typer.echo(f"certaudit: error: {safe(exc.message)}", err=True)
            for problem in exc.problems:
                typer.echo(f"  {safe(problem)}", err=True)
            typer.echo(f"  hint: {safe(exc.hint)}", err=True)
        else:
            typer.echo(error_text(exc), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    finally:
        if progress is not None:
            progress.stop()
    if outcome.saved_host_keys:
        typer.echo(
            f"certaudit: recorded {outcome.saved_host_keys} new host key(s) in "
            f"{safe(outcome.known_hosts)}",
            err=True,
        )
    _summary(outcome.result, outcome.written, verbose)
    for extra in (outcome.manifest, outcome.signature):
        if extra is not None:
            typer.echo(f"  wrote {safe(extra)}")
    _waiver_notices(outcome.waivers_expired, outcome.waivers_stale)
    for name, reason in outcome.report_failures:
        typer.echo(f"certaudit: error: {name} could not be rendered: {safe(reason)}", err=True)
    if outcome.interrupted:
        typer.echo("certaudit: interrupted; the run is stored as partial", err=True)
    raise typer.Exit(outcome.status)


def _summary(result: AuditResult, written: Sequence[Path], verbose: int) -> None:
    hosts = result.hosts
    outcomes = Counter(r.outcome.value for r in hosts)
    audited = sum(1 for r in hosts if r.outcome.audited)
    certs = run_counts(result).certificates  # as every report counts them
    by_sev = Counter(f.severity for f in result.findings if f.waiver is None)
    waived = sum(1 for f in result.findings if f.waiver is not None)
    elapsed = (result.finished_at - result.started_at).total_seconds()
    typer.echo(
        f"certaudit run {result.run_id}: {audited}/{len(hosts)} hosts audited in {elapsed:.1f}s "
        f"({', '.join(f'{n} {k}' for k, n in sorted(outcomes.items()))})"
    )
    typer.echo(
        f"  {certs} distinct certificates deployed; findings: "
        + (", ".join(f"{by_sev[s]} {s.value}" for s in Severity if by_sev[s]) or "none")
        + (f"; {waived} waived" if waived else "")
    )
    shown = result.findings if verbose else result.findings[:10]
    for f in shown:
        typer.echo(format_finding(f, sys.stdout, verbose=bool(verbose)))
    if len(result.findings) > len(shown):
        typer.echo(f"  ... and {len(result.findings) - len(shown)} more in the reports")
    for path in written:
        typer.echo(f"  wrote {safe(path)}")


def _waiver_notices(expired: Sequence[Waiver], stale: Sequence[Waiver]) -> None:
    for w in expired:
        typer.echo(
            f"certaudit: warning: {safe(w.source)}: waiver for {safe(w.id)} ({safe(w.owner)}) "
            f"ended {w.expires.isoformat()}: the findings it matched count again",
            err=True,
        )
    for w in stale:
        typer.echo(
            f"certaudit: warning: {safe(w.source)}: waiver for {safe(w.id)} ({safe(w.owner)}) "
            "matched no finding of this run (stale: remove it or fix its match)",
            err=True,
        )
