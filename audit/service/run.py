"""Run a fleet audit (or resume one), commit it to history as it goes, write the reports.

`run_audit(RunSettings)` is the whole nightly job: check the settings before any host is
contacted, store every host at once as "not finished" (a killed run still lists the whole
inventory), audit the fleet, analyse, record findings, write every report, and return the
outcome with the exit status the caller should use.

Each host is committed as it ends, in its own transaction, by the history's writer thread
(`HostWriter`): the event loop only queues it, so the disk's fsyncs never stall the other
hosts' SSH sessions; the analysis starts once every queued host is committed.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from audit.analyze import analyze, fleet_evidence
from audit.collect.hostkeys import KnownHosts
from audit.collect.ssh import SshOptions
from audit.errors import AuditError, ConfigError
from audit.history import History, HostWriter, RunStatus, default_db_path
from audit.inventory import Inventory, Unusable, load_inventory
from audit.model import AuditResult, Host, HostOutcome, HostResult, Severity, Waiver
from audit.report import write_reports
from audit.rules.base import Settings
from audit.runner import FleetOptions, Observer, audit_fleet
from audit.service import evidence, signing
from audit.service.policy import (
    DEFAULT_EXPIRY_WINDOWS,
    EXIT_COVERAGE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    findings_status,
)
from audit.service.shard import Shard, in_shard
from audit.service.stored import StoredSettings
from audit.service.waivers import (
    DEFAULT_MAX_DAYS,
    WaiverSet,
    apply_waivers,
    default_file,
    load_waivers,
)
from audit.trust import load_cafile

NOT_FINISHED_DETAIL = "run interrupted before this host finished"
"""The outcome detail of a host the run never finished (also in the stored run)."""


@dataclass(frozen=True)
class RunSettings:
    """Everything one fleet audit depends on."""

    inventory: Path
    """Ansible inventory file or folder."""
    out: Path = Path("certaudit-report")
    """Folder the reports are written to."""
    db: Path | None = None
    """History database; None: $CERTAUDIT_DB or the per-user default."""
    limit: str | None = None
    """Ansible host pattern."""
    known_hosts: Path | None = None
    """known_hosts file; None: ~/.ssh/known_hosts (an error when HOME is unset)."""
    accept_new_host_keys: bool = False
    ssh_config: tuple[Path, ...] | None = None
    """ssh_config files to read instead of ~/.ssh/config."""
    user: str | None = None
    """SSH user when the inventory and ssh_config give none."""
    identities: tuple[Path, ...] = ()
    """Extra private key files to offer."""
    connect_timeout: float = 10.0
    host_timeout: float = 120.0
    concurrency: int = 64
    expiry_windows: tuple[int, ...] = DEFAULT_EXPIRY_WINDOWS
    fail_on: Severity = Severity.HIGH
    min_coverage: float = 100.0
    """Percentage of hosts that must be audited for a zero exit status."""
    cafile: Path | None = None
    """An internal CA trusted alongside Mozilla's roots and each host's own store."""
    resume: bool = False
    """Continue the most recent interrupted or partial run instead of starting one."""
    shard: Shard | None = None
    """Audit only this shard of the inventory's hosts (after --limit)."""
    waivers: Path | None = None
    """Waivers file; None: certaudit-waivers.yml beside the inventory, when it exists."""
    waiver_max_days: int = DEFAULT_MAX_DAYS
    """How far ahead of today a waiver may end."""
    sign_key: Path | None = None
    """SSH private key that signs manifest.json (manifest.json.sig), if any."""


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced, and how the caller should exit."""

    result: AuditResult
    written: tuple[Path, ...]
    status: int
    """Exit status: 0 ok, 1 findings at fail-on, 2 a report could not be rendered, 3
    coverage below the floor, 130 interrupted."""
    report_failures: tuple[tuple[str, str], ...] = ()
    """Outputs that could not be rendered: (file name, reason). The others were written."""
    interrupted: bool = False
    resumed_hosts: int = 0
    """Hosts taken over from the run that was resumed."""
    saved_host_keys: int = 0
    """New host keys recorded in known_hosts (--accept-new-host-keys)."""
    known_hosts: Path | None = None
    waivers_file: Path | None = None
    """The waivers file applied, if any."""
    waivers_expired: tuple[Waiver, ...] = ()
    """Waivers whose end date has passed: the findings they matched count again."""
    waivers_stale: tuple[Waiver, ...] = ()
    """Waivers in force that matched no finding."""
    manifest: Path | None = None
    """manifest.json, written after the reports (None when it could not be)."""
    signature: Path | None = None
    """manifest.json.sig, with --sign-key."""


def default_known_hosts() -> Path:
    """~/.ssh/known_hosts; a ConfigError when HOME is unset (cron)."""
    home = os.environ.get("HOME")
    if not home:
        raise ConfigError(
            "HOME is not set, so there is no ~/.ssh/known_hosts to check host keys against",
            hint="pass --known-hosts FILE (and --db FILE) when running from cron",
        )
    return Path(home, ".ssh", "known_hosts")


@dataclass
class _Prepared:
    inventory: Inventory
    """The hosts to audit (this shard's, with --shard)."""
    known: KnownHosts
    options: FleetOptions
    positions: dict[str, int]
    """Each host's position in the whole inventory (after --limit): the order a run, or
    the merge of its shards, lists hosts in."""
    waivers: WaiverSet | None = None
    sources: evidence.Sources | None = None
    """The inventory's and the waivers file's digests, for the manifest."""


def _prepare(settings: RunSettings, observer: Observer) -> _Prepared:
    """Check every setting before any host is contacted; warnings go to the observer."""
    if settings.cafile is not None:
        try:
            if not load_cafile(str(settings.cafile)):
                raise ConfigError(f"--cafile {settings.cafile}: contains no certificate")
        except OSError as exc:
            raise ConfigError(
                f"--cafile {settings.cafile}: cannot read it ({exc.strerror or exc})"
            ) from None
    inventory = load_inventory(settings.inventory, limit=settings.limit)
    for warning in inventory.warnings:
        observer.warning(warning)
    order = inventory.order or tuple(h.name for h in inventory.hosts)
    positions = {name: i for i, name in enumerate(order)}
    if settings.shard is not None:
        shard = settings.shard
        inventory = replace(
            inventory,
            hosts=in_shard(inventory.hosts, shard),
            unusable=tuple(u for u in inventory.unusable if shard.holds(u.name)),
        )
    known = KnownHosts.load(
        settings.known_hosts or default_known_hosts(), accept_new=settings.accept_new_host_keys
    )
    for warning in known.warnings:
        observer.warning(warning)
    for path in settings.identities:
        if not path.is_file():
            raise ConfigError(f"--identity {path}: no such file")
    for path in settings.ssh_config or ():
        if str(path) != "/dev/null" and not os.access(path, os.R_OK):
            raise ConfigError(f"--ssh-config {path}: no such file, or not readable")
    options = FleetOptions(
        ssh=SshOptions(
            connect_timeout=settings.connect_timeout,
            host_timeout=settings.host_timeout,
            ssh_config=[str(p) for p in settings.ssh_config] if settings.ssh_config else None,
            default_user=settings.user,
            extra_client_keys=[str(p) for p in settings.identities],
        ),
        concurrency=settings.concurrency,
    )
    _writable_folder(settings.out)
    waivers = _waivers(settings, inventory)
    if settings.sign_key is not None:
        signing.check_key(settings.sign_key)
    try:
        sources = evidence.hash_sources(settings.inventory, waivers.path if waivers else None)
    except OSError as exc:
        raise ConfigError(
            f"{settings.inventory}: cannot read it to record its digest ({exc.strerror or exc})"
        ) from None
    return _Prepared(inventory, known, options, positions, waivers, sources)


def _waivers(settings: RunSettings, inventory: Inventory) -> WaiverSet | None:
    """The waivers file, checked against the registry and the run's hosts."""
    from audit.rules import BY_ID

    path = settings.waivers or default_file(settings.inventory)
    if path is None:
        return None
    return load_waivers(
        path,
        today=datetime.now(UTC).date(),
        known_ids=BY_ID,
        hosts=[h.name for h in inventory.hosts],
        groups=inventory.groups,
        max_days=settings.waiver_max_days,
    )


def _writable_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"--out {out}: the folder is not writable")


@dataclass
class _Run:
    """A run being recorded: its id, start, and the hosts a resumed run already finished."""

    run_id: str
    started: datetime
    done: dict[str, HostResult] = field(default_factory=dict)


def _begin(history: History, settings: RunSettings, inventory: Inventory) -> _Run:
    shard = str(settings.shard) if settings.shard is not None else None
    if settings.resume:
        return _reopen(history, str(settings.inventory), shard)
    started = datetime.now(UTC)
    stored = StoredSettings(
        limit=settings.limit,
        expiry_windows=settings.expiry_windows,
        hosts=len(inventory.hosts),
        cafile=str(settings.cafile.resolve()) if settings.cafile is not None else None,
        shard=shard,
    )
    run_id = history.begin_run(str(settings.inventory), stored.to_dict(), started_at=started)
    return _Run(run_id, started)


def _reopen(history: History, inventory: str, shard: str | None) -> _Run:
    """The most recent run that did not complete, reopened with the hosts it finished."""
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
    was = StoredSettings.from_dict(history.run_settings(run.run_id)).shard
    if was != shard:
        raise ConfigError(
            f"--resume: run {run.run_id} audited "
            + (f"shard {was}" if was else "every shard")
            + (f", not shard {shard}" if shard else ", not one shard"),
            hint="resume with the same --shard, or start a new run",
        )
    stored = history.load_run(run.run_id)
    history.resume_run(run.run_id)
    done = {r.host.name: r for r in stored.hosts if r.finished}
    return _Run(run.run_id, stored.started_at, done)


def not_finished(host: Host, now: datetime) -> HostResult:
    """The placeholder stored for a host until its audit ends."""
    return HostResult(host, HostOutcome.FAILED, NOT_FINISHED_DETAIL, now, now, finished=False)


def not_usable(unusable: Unusable, now: datetime) -> HostResult:
    """A host the inventory defines but that cannot be contacted as written: never
    contacted, and stated like any other host that could not be audited."""
    host = Host(name=unusable.name, address="", groups=unusable.groups, source=unusable.source)
    return HostResult(host, HostOutcome.INVENTORY_ERROR, unusable.reason, now, now)


def _collect(
    history: History, run: _Run, prepared: _Prepared, observer: Observer
) -> tuple[list[HostResult], bool]:
    """Audit the hosts not yet done, committing each as it ends. Returns every host's
    result in inventory order (hosts the inventory makes unusable included) and whether
    the run was interrupted."""
    hosts = prepared.inventory.hosts
    position = prepared.positions
    todo = [h for h in hosts if h.name not in run.done]
    now = datetime.now(UTC)
    pending = {h.name: not_finished(h, now) for h in todo}
    refused = [not_usable(u, now) for u in prepared.inventory.unusable]
    history.record_hosts(
        run.run_id,
        [(pending[h.name], position[h.name]) for h in todo]
        + [(r, position[r.host.name]) for r in refused],
    )
    arrived: dict[str, HostResult] = {}
    interrupted = False
    with HostWriter(history, run.run_id) as writer:

        def record(result: HostResult) -> None:  # queued; committed by the writer thread
            arrived[result.host.name] = result
            writer.put(result, position[result.host.name])

        try:
            asyncio.run(
                audit_fleet(todo, prepared.known, prepared.options, observer, on_result=record)
            )
        except KeyboardInterrupt:
            interrupted = True
    results = [run.done.get(h.name) or arrived.get(h.name) or pending[h.name] for h in hosts]
    return sorted([*results, *refused], key=lambda r: position[r.host.name]), interrupted


def run_audit(settings: RunSettings, observer: Observer | None = None) -> RunOutcome:
    """The fleet audit, end to end. Raises AuditError (ConfigError, InventoryError,
    HistoryError) for run-fatal problems; every host problem is data in the result."""
    obs = observer or Observer()
    prepared = _prepare(settings, obs)
    with History.open(settings.db or default_db_path()) as history:
        run = _begin(history, settings, prepared.inventory)
        if settings.resume:
            todo = len(prepared.inventory.hosts) - len(run.done)
            obs.notice(
                f"resuming run {run.run_id}: {len(run.done)} host(s) already done, {todo} to audit"
            )
        results, interrupted = _collect(history, run, prepared, obs)
        saved = prepared.known.save()
        finished = datetime.now(UTC)
        cafile = str(settings.cafile) if settings.cafile is not None else None
        evidence = fleet_evidence(results, now=finished, cafile=cafile)
        analysis = Settings(now=finished, expiry_windows=settings.expiry_windows)
        findings = analyze(evidence, analysis)
        history.record_findings(run.run_id, findings)
        result = AuditResult(
            run.run_id,
            run.started,
            finished,
            str(settings.inventory),
            tuple(results),
            tuple(findings),
            partial=interrupted,
        )
        result = _waive(result, prepared.waivers)
        previous_id = history.latest_run_id(before=run.run_id, complete_only=True)
        previous = history.load_run(previous_id) if previous_id else None
        try:
            written = write_reports(result, settings.out, previous)
        except OSError as exc:  # disk full, folder made read-only mid-run, ...
            raise AuditError(
                f"--out {settings.out}: cannot write the reports ({exc.strerror or exc})",
                hint=f"the run is stored: `certaudit report --run {run.run_id} --out DIR` "
                "renders it",
            ) from None
        finally:
            history.finish_run(run.run_id, partial=interrupted, finished_at=finished)
    failed = list(written.failed)
    manifest, signature = _evidence(settings, prepared, result, written.paths, failed)
    status = _status(settings, result, interrupted)
    if failed and status != EXIT_INTERRUPTED:
        status = EXIT_ERROR
    return RunOutcome(
        result=result,
        written=written.paths,
        report_failures=tuple(failed),
        manifest=manifest,
        signature=signature,
        status=status,
        interrupted=interrupted,
        resumed_hosts=len(run.done),
        saved_host_keys=saved,
        known_hosts=prepared.known.path,
        waivers_file=prepared.waivers.path if prepared.waivers else None,
        waivers_expired=result.waivers_expired,
        waivers_stale=result.waivers_stale,
    )


def _evidence(
    settings: RunSettings,
    prepared: _Prepared,
    result: AuditResult,
    written: tuple[Path, ...],
    failed: list[tuple[str, str]],
) -> tuple[Path | None, Path | None]:
    """manifest.json of the reports just written (and its signature); a failure is
    appended to `failed` as (file name, reason)."""
    assert prepared.sources is not None
    try:
        doc = evidence.build_manifest(result, written, prepared.sources)
        manifest = evidence.write_manifest(settings.out, doc)
    except OSError as exc:
        failed.append((evidence.MANIFEST, f"cannot write it ({exc.strerror or exc})"))
        return None, None
    if settings.sign_key is None:
        return manifest, None
    try:
        return manifest, signing.sign(settings.out, settings.sign_key)
    except AuditError as exc:
        failed.append((evidence.SIGNATURE, exc.message))
        return manifest, None


def _waive(result: AuditResult, waivers: WaiverSet | None) -> AuditResult:
    """The result with its findings marked by the waivers in force at its end."""
    if waivers is None:
        return result
    applied = apply_waivers(result.findings, result.hosts, waivers, result.finished_at.date())
    return replace(
        result,
        findings=applied.findings,
        waivers_expired=applied.expired,
        waivers_stale=applied.stale,
        waivers_file=str(waivers.path),
    )


def _status(settings: RunSettings, result: AuditResult, interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    audited = sum(1 for r in result.hosts if r.outcome.audited)
    coverage = 100.0 * audited / len(result.hosts) if result.hosts else 100.0  # an empty shard
    if coverage < settings.min_coverage:
        return EXIT_COVERAGE
    return findings_status(result.findings, settings.fail_on)
