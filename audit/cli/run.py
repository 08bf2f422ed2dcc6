"""`certaudit run INVENTORY`: the fleet audit."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from audit.analyze import analyze, fleet_evidence
from audit.cli import app
from audit.cli.terminal import format_finding, parse_windows, safe
from audit.collect.hostkeys import KnownHosts
from audit.collect.ssh import SshOptions
from audit.errors import AuditError, ConfigError
from audit.history import History, RunStatus, default_db_path
from audit.inventory import load_inventory
from audit.model import AuditResult, HostOutcome, HostResult, Severity
from audit.report import write_reports
from audit.rules.base import Settings
from audit.runner import FleetOptions, Observer, audit_fleet
from audit.trust import load_cafile

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_COVERAGE = 0, 1, 2, 3

INTERRUPTED_DETAIL = "run interrupted before this host finished"
"""The outcome detail of a host the run never finished (also in the stored run)."""


class _Progress(Observer):
    """Rich progress on a terminal; one line per host otherwise (quiet in cron)."""

    def __init__(self, total: int, verbose: int) -> None:
        self.total = total
        self.done = 0
        self.verbose = verbose
        self.tty = sys.stderr.isatty()
        self._progress = None
        self._task = None
        if self.tty:
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


def _known_hosts_path(option: Path | None) -> Path:
    if option is not None:
        return option
    home = os.environ.get("HOME")
    if not home:
        raise ConfigError(
            "HOME is not set, so there is no ~/.ssh/known_hosts to check host keys against",
            hint="pass --known-hosts FILE (and --db FILE) when running from cron",
        )
    return Path(home, ".ssh", "known_hosts")


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
) -> None:
    """Audit every host of an inventory over SSH and write reports."""
    try:
        code = _run(
            inventory,
            out,
            db,
            limit,
            known_hosts,
            accept_new_host_keys,
            ssh_config,
            user,
            identity,
            connect_timeout,
            host_timeout,
            concurrency,
            expiry_windows,
            fail_on,
            min_coverage,
            verbose,
            cafile=cafile,
            resume=resume,
        )
    except AuditError as exc:
        typer.echo(f"certaudit: error: {safe(exc)}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    raise typer.Exit(code)


def _run(
    inventory_path: Path,
    out: Path,
    db: Path | None,
    limit: str | None,
    known_hosts: Path | None,
    accept_new: bool,
    ssh_config: list[Path] | None,
    user: str | None,
    identity: list[Path] | None,
    connect_timeout: float,
    host_timeout: float,
    concurrency: int,
    expiry_windows: str,
    fail_on: Severity,
    min_coverage: float,
    verbose: int,
    cafile: Path | None = None,
    resume: bool = False,
) -> int:
    windows = parse_windows(expiry_windows)
    if cafile is not None:  # checked before any host is contacted
        try:
            if not load_cafile(str(cafile)):
                raise ConfigError(f"--cafile {cafile}: contains no certificate")
        except OSError as exc:
            raise ConfigError(
                f"--cafile {cafile}: cannot read it ({exc.strerror or exc})"
            ) from None
    inventory = load_inventory(inventory_path, limit=limit)
    for warning in inventory.warnings:
        typer.echo(f"certaudit: warning: {safe(warning)}", err=True)
    known = KnownHosts.load(_known_hosts_path(known_hosts), accept_new=accept_new)
    for warning in known.warnings:
        typer.echo(f"certaudit: warning: {safe(warning)}", err=True)
    for path in identity or ():
        if not path.is_file():
            raise ConfigError(f"--identity {path}: no such file")
    options = FleetOptions(
        ssh=SshOptions(
            connect_timeout=connect_timeout,
            host_timeout=host_timeout,
            ssh_config=[str(p) for p in ssh_config] if ssh_config else None,
            default_user=user,
            extra_client_keys=[str(p) for p in identity or ()],
        ),
        concurrency=concurrency,
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"--out {out}: the folder is not writable")

    with History.open(db or default_db_path()) as history:
        done: dict[str, HostResult] = {}
        if resume:
            run_id, started, done = _reopen(history, str(inventory_path))
        else:
            started = datetime.now(UTC)
            run_id = history.begin_run(
                str(inventory_path),
                {
                    "limit": limit,
                    "expiry_windows": list(windows),
                    "hosts": len(inventory.hosts),
                    "cafile": str(cafile.resolve()) if cafile is not None else None,
                },
                started_at=started,
            )
        position = {h.name: i for i, h in enumerate(inventory.hosts)}
        todo = [h for h in inventory.hosts if h.name not in done]
        # Every host is stored at once as "not finished", and replaced as it ends: a run
        # that is killed (kill -9, power loss) still lists every inventory host.
        now = datetime.now(UTC)
        pending = {
            h.name: HostResult(h, HostOutcome.FAILED, INTERRUPTED_DETAIL, now, now) for h in todo
        }
        for h in todo:
            history.record_host(run_id, pending[h.name], position=position[h.name])
        if resume:
            typer.echo(
                f"certaudit: resuming run {run_id}: {len(done)} host(s) already done, "
                f"{len(todo)} to audit",
                err=True,
            )
        progress = _Progress(len(todo), verbose)
        arrived: dict[str, HostResult] = {}

        def record(r: HostResult) -> None:  # committed as each host ends
            arrived[r.host.name] = r
            history.record_host(run_id, r, position=position[r.host.name])

        interrupted = False
        try:
            asyncio.run(audit_fleet(todo, known, options, progress, on_result=record))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            progress.stop()
        # every host appears with an outcome, in inventory order, as stored
        results = [
            done.get(h.name) or arrived.get(h.name) or pending[h.name] for h in inventory.hosts
        ]
        saved = known.save()
        if saved:
            typer.echo(f"certaudit: recorded {saved} new host key(s) in {known.path}", err=True)
        finished = datetime.now(UTC)
        # served chains judged per probe; served certificates that no file holds, once
        evidence = fleet_evidence(
            results, now=finished, cafile=str(cafile) if cafile is not None else None
        )
        findings = analyze(evidence, Settings(now=finished, expiry_windows=windows))
        history.record_findings(run_id, findings)
        result = AuditResult(
            run_id,
            started,
            finished,
            str(inventory_path),
            tuple(results),
            tuple(findings),
            partial=interrupted,
        )
        previous_id = history.latest_run_id(before=run_id, complete_only=True)
        previous = history.load_run(previous_id) if previous_id else None
        try:
            written = write_reports(result, out, previous)
        except OSError as exc:  # disk full, folder made read-only mid-run, ...
            history.finish_run(run_id, partial=interrupted, finished_at=finished)
            raise AuditError(
                f"--out {out}: cannot write the reports ({exc.strerror or exc})",
                hint=f"the run is stored: `certaudit report --run {run_id} --out DIR` renders it",
            ) from None
        history.finish_run(run_id, partial=interrupted, finished_at=finished)

    _summary(result, written, verbose)
    audited = sum(1 for r in results if r.outcome.audited)
    coverage = 100.0 * audited / max(1, len(inventory.hosts))
    if interrupted:
        typer.echo("certaudit: interrupted; the run is stored as partial", err=True)
        return 130
    if coverage < min_coverage:
        return EXIT_COVERAGE
    return EXIT_FINDINGS if any(f.severity.rank >= fail_on.rank for f in findings) else EXIT_OK


def _reopen(history: History, inventory: str) -> tuple[str, datetime, dict[str, HostResult]]:
    """The most recent run that did not complete, reopened: its id, start, finished hosts."""
    unfinished = (RunStatus.INTERRUPTED, RunStatus.PARTIAL)
    run = next((r for r in history.list_runs() if r.status in unfinished), None)
    if run is None:
        raise ConfigError(
            f"--resume: no interrupted or partial run in {history.path}",
            hint="start a new run without --resume",
        )
    if run.inventory != inventory:
        raise ConfigError(
            f"--resume: run {run.run_id} audited {run.inventory}, not {inventory}",
            hint="resume with the same inventory, or start a new run",
        )
    stored = history.load_run(run.run_id)
    history.resume_run(run.run_id)
    done = {r.host.name: r for r in stored.hosts if r.detail != INTERRUPTED_DETAIL}
    return run.run_id, stored.started_at, done


def _summary(result: AuditResult, written: list[Path], verbose: int) -> None:
    hosts = result.hosts
    outcomes = Counter(r.outcome.value for r in hosts)
    audited = sum(1 for r in hosts if r.outcome.audited)
    certs = {f.cert.sha256 for r in hosts for f in r.certificates}
    by_sev = Counter(f.severity for f in result.findings)
    elapsed = (result.finished_at - result.started_at).total_seconds()
    typer.echo(
        f"certaudit run {result.run_id}: {audited}/{len(hosts)} hosts audited in {elapsed:.1f}s "
        f"({', '.join(f'{n} {k}' for k, n in sorted(outcomes.items()))})"
    )
    typer.echo(
        f"  {len(certs)} distinct certificates; findings: "
        + (", ".join(f"{by_sev[s]} {s.value}" for s in Severity if by_sev[s]) or "none")
    )
    shown = result.findings if verbose else result.findings[:10]
    for f in shown:
        typer.echo(format_finding(f, sys.stdout, verbose=bool(verbose)))
    if len(result.findings) > len(shown):
        typer.echo(f"  ... and {len(result.findings) - len(shown)} more in the reports")
    for path in written:
        typer.echo(f"  wrote {path}")
