"""`certaudit run INVENTORY`: the fleet audit."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from audit.analyze import Evidence, analyze
from audit.cli import app
from audit.cli.terminal import format_finding, safe
from audit.collect.hostkeys import KnownHosts
from audit.collect.ssh import SshOptions
from audit.errors import AuditError, ConfigError
from audit.history import History, default_db_path
from audit.inventory import load_inventory
from audit.model import AuditResult, HostOutcome, HostResult, Severity
from audit.report import write_reports
from audit.rules.base import Settings
from audit.runner import FleetOptions, Observer, audit_fleet

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_COVERAGE = 0, 1, 2, 3


def parse_windows(text: str) -> tuple[int, ...]:
    """"30,14,7" -> (30, 14, 7), widest first."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()}, reverse=True)
    except ValueError:
        raise ConfigError(f"--expiry-windows: expected days like 30,14,7, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ConfigError(f"--expiry-windows: expected positive days like 30,14,7, got {text!r}")
    return tuple(values)


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
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("auditing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
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


def _known_hosts_path(option: Optional[Path]) -> Path:
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
    inventory: Annotated[Path, typer.Argument(help="Ansible inventory (INI or YAML) or a folder of them.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the reports.")] = Path("certaudit-report"),
    db: Annotated[Optional[Path], typer.Option("--db", help="History database (default: ~/.local/state/certaudit/history.db).")] = None,
    limit: Annotated[Optional[str], typer.Option("--limit", "-l", help="Ansible host pattern, e.g. 'web:&prod:!web03'.")] = None,
    known_hosts: Annotated[Optional[Path], typer.Option("--known-hosts", help="known_hosts file (default ~/.ssh/known_hosts).")] = None,
    accept_new_host_keys: Annotated[bool, typer.Option("--accept-new-host-keys", help="Trust and record keys of hosts not yet in known_hosts.")] = False,
    ssh_config: Annotated[Optional[list[Path]], typer.Option("--ssh-config", help="ssh_config file(s) to read instead of ~/.ssh/config.")] = None,
    user: Annotated[Optional[str], typer.Option("--user", "-u", help="SSH user when the inventory gives none.")] = None,
    identity: Annotated[Optional[list[Path]], typer.Option("--identity", "-i", help="Private key file(s) to offer.")] = None,
    connect_timeout: Annotated[float, typer.Option(help="Seconds to connect and log in.")] = 10.0,
    host_timeout: Annotated[float, typer.Option(help="Overall seconds per host.")] = 120.0,
    concurrency: Annotated[int, typer.Option(help="Hosts audited at once.")] = 64,
    expiry_windows: Annotated[str, typer.Option(help="Warning windows in days (medium,high,critical).")] = "30,14,7",
    fail_on: Annotated[Severity, typer.Option(help="Exit 1 when a finding is at least this severe.")] = Severity.HIGH,
    min_coverage: Annotated[float, typer.Option(help="Exit 3 when fewer than this percentage of hosts were audited.")] = 100.0,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail on stderr (-vvv: byte counts).")] = 0,
) -> None:
    """Audit every host of an inventory over SSH and write reports."""
    try:
        code = _run(
            inventory, out, db, limit, known_hosts, accept_new_host_keys, ssh_config, user, identity,
            connect_timeout, host_timeout, concurrency, expiry_windows, fail_on, min_coverage, verbose,
        )
    except AuditError as exc:
        typer.echo(f"certaudit: error: {safe(exc)}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    raise typer.Exit(code)


def _run(
    inventory_path: Path, out: Path, db: Optional[Path], limit: Optional[str], known_hosts: Optional[Path],
    accept_new: bool, ssh_config: Optional[list[Path]], user: Optional[str], identity: Optional[list[Path]],
    connect_timeout: float, host_timeout: float, concurrency: int, expiry_windows: str, fail_on: Severity,
    min_coverage: float, verbose: int,
) -> int:
    windows = parse_windows(expiry_windows)
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
        run_id = history.begin_run(
            str(inventory_path), {"limit": limit, "expiry_windows": list(windows), "hosts": len(inventory.hosts)}
        )
        started = datetime.now(timezone.utc)
        progress = _Progress(len(inventory.hosts), verbose)
        interrupted = False
        results: list[HostResult] = []
        try:
            results = asyncio.run(
                audit_fleet(inventory.hosts, known, options, progress,
                            on_result=lambda r: (results.append(r), history.record_host(run_id, r))[0])
            )
        except KeyboardInterrupt:
            interrupted = True
            done = {r.host.name for r in results}
            now = datetime.now(timezone.utc)
            for host in inventory.hosts:
                if host.name not in done:  # every host appears with an outcome
                    results.append(HostResult(host, HostOutcome.FAILED, "run interrupted before this host finished", now, now))
        finally:
            progress.stop()
        saved = known.save()
        if saved:
            typer.echo(f"certaudit: recorded {saved} new host key(s) in {known.path}", err=True)
        finished = datetime.now(timezone.utc)
        findings = analyze(Evidence(hosts=results), Settings(now=finished, expiry_windows=windows))
        history.record_findings(run_id, findings)
        result = AuditResult(run_id, started, finished, str(inventory_path), tuple(results), tuple(findings),
                             partial=interrupted)
        written = write_reports(result, out)
        history.finish_run(run_id, partial=interrupted)

    _summary(result, written, verbose)
    audited = sum(1 for r in results if r.outcome.audited)
    coverage = 100.0 * audited / max(1, len(inventory.hosts))
    if interrupted:
        typer.echo("certaudit: interrupted; the run is stored as partial", err=True)
        return 130
    if coverage < min_coverage:
        return EXIT_COVERAGE
    return EXIT_FINDINGS if any(f.severity.rank >= fail_on.rank for f in findings) else EXIT_OK


def _summary(result: AuditResult, written: list[Path], verbose: int) -> None:
    hosts = result.hosts
    outcomes = Counter(r.outcome.value for r in hosts)
    audited = sum(1 for r in hosts if r.outcome.audited)
    certs = {f.cert.sha256 for r in hosts for f in r.certificates}
    by_sev = Counter(f.severity for f in result.findings)
    elapsed = (result.finished_at - result.started_at).total_seconds()
    typer.echo(f"certaudit run {result.run_id}: {audited}/{len(hosts)} hosts audited in {elapsed:.1f}s "
               f"({', '.join(f'{n} {k}' for k, n in sorted(outcomes.items()))})")
    typer.echo(f"  {len(certs)} distinct certificates; findings: "
               + (", ".join(f"{by_sev[s]} {s.value}" for s in Severity if by_sev[s]) or "none"))
    shown = result.findings if verbose else result.findings[:10]
    for f in shown:
        typer.echo(format_finding(f, sys.stdout, verbose=bool(verbose)))
    if len(result.findings) > len(shown):
        typer.echo(f"  ... and {len(result.findings) - len(shown)} more in the reports")
    for path in written:
        typer.echo(f"  wrote {path}")
