"""`certaudit merge`: the shards of one audit, joined into one run.

Each source database holds the runs of one runner (`run --shard K/N`, or a runner per
network segment with its own `--limit`); its newest run is taken. The runs must audit the
same inventory with the same expiry windows and --cafile, and no host may appear in two
of them. Their hosts are recorded as one run in the `--into` history, in inventory order
(a `--shard` run stores each host's position in the whole inventory; other runs are
interleaved by their own positions), and the findings are
computed again over every host with the same analysis as `run`: fleet-wide facts such as
a certificate's blast radius, or an intermediate one host holds completing another
host's chain, come out as one unsharded run would have them.

A shard that is missing (every K of a K/N set must be given) is an error unless
`allow_missing`; the merged run is then partial, as it is when a shard run itself was
interrupted. A shard run already merged into the `--into` history is refused (a shard
that did not run since last night must not be merged twice).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from audit.analyze import analyze, fleet_evidence
from audit.errors import AuditError, ConfigError, HistoryError
from audit.history import History, RunStatus
from audit.model import AuditResult, Finding, HostResult
from audit.report import write_reports
from audit.rules.base import Settings
from audit.service.policy import EXIT_COVERAGE, EXIT_ERROR, EXIT_OK
from audit.service.shard import parse_shard
from audit.service.stored import StoredSettings


@dataclass(frozen=True)
class MergeSettings:
    sources: tuple[Path, ...]
    """The shard databases."""
    into: Path
    """The history database the merged run is recorded in (created if need be)."""
    out: Path | None = None
    """Write the merged run's reports here."""
    allow_missing: bool = False
    """Merge even when a shard of a K/N set is not among the sources (a partial run)."""


@dataclass(frozen=True)
class SourceRun:
    """The newest run of one source database."""

    db: Path
    run_id: str
    status: RunStatus
    stored: StoredSettings
    result: AuditResult
    positions: dict[str, int]


@dataclass(frozen=True)
class MergeOutcome:
    result: AuditResult
    sources: tuple[SourceRun, ...]
    missing: tuple[str, ...]
    """Shards ("K/N") of a set that were not given."""
    written: tuple[Path, ...] = ()
    report_failures: tuple[tuple[str, str], ...] = ()
    notices: tuple[str, ...] = ()
    status: int = EXIT_OK
    """0 merged; 3 merged but partial (a shard missing or interrupted); 2 a report could
    not be rendered."""


def read_source(db: Path) -> SourceRun:
    """The newest run of a shard database; HistoryError when it has none or is running."""
    with History.open(db, create=False) as history:
        run_id = history.latest_run_id()
        if run_id is None:
            raise HistoryError(f"no runs stored in {history.path}")
        status = history.run_status(run_id)
        if status is RunStatus.RUNNING:
            raise HistoryError(
                f"run {run_id} in {history.path} is still running",
                hint="merge once every shard has finished",
            )
        stored = StoredSettings.from_dict(history.run_settings(run_id))
        return SourceRun(
            history.path,
            run_id,
            status,
            stored,
            history.load_run(run_id),
            history.host_positions(run_id),
        )


def _value(s: SourceRun, what: str) -> object:
    return s.result.inventory if what == "inventory" else getattr(s.stored, what)


def _same(sources: Sequence[SourceRun], what: str, shown: str) -> None:
    first = sources[0]
    for s in sources[1:]:
        if _value(s, what) != _value(first, what):
            raise ConfigError(
                f"merge: {s.db} (run {s.run_id}) has {shown} {_value(s, what)!r}, "
                f"{first.db} (run {first.run_id}) {_value(first, what)!r}",
                hint="merge only the shards of one audit: same inventory and settings",
            )


def check_sources(sources: Sequence[SourceRun], allow_missing: bool) -> tuple[str, ...]:
    """Refuse sources that are not shards of one audit; returns the missing shards."""
    for what, shown in (
        ("inventory", "inventory"),
        ("expiry_windows", "expiry windows"),
        ("cafile", "--cafile"),
    ):
        _same(sources, what, shown)
    sets: dict[tuple[str | None, int], dict[int, Path]] = defaultdict(dict)
    for s in sources:
        if s.stored.shard is None:
            continue
        shard = parse_shard(s.stored.shard)
        seen = sets[(s.stored.limit, shard.count)]
        if shard.index in seen:
            raise ConfigError(f"merge: shard {shard} is in {seen[shard.index]} and in {s.db}")
        seen[shard.index] = s.db
    owner: dict[str, Path] = {}
    for s in sources:
        for r in s.result.hosts:
            if r.host.name in owner:
                raise ConfigError(
                    f"merge: host {r.host.name} is in {owner[r.host.name]} and in {s.db}",
                    hint="each host must be audited by exactly one shard",
                )
            owner[r.host.name] = s.db
    missing = tuple(
        f"{k}/{count}" for (_, count), seen in sets.items() for k in range(count) if k not in seen
    )
    if missing and not allow_missing:
        raise ConfigError(
            f"merge: shard(s) {', '.join(missing)} missing",
            hint="give every shard's database, or --allow-missing to merge a partial run",
        )
    return missing


def _merged_hosts(sources: Sequence[SourceRun]) -> list[tuple[HostResult, int]]:
    """Every source's hosts with their inventory positions, in inventory order."""
    hosts = [
        (r, s.positions[r.host.name], i) for i, s in enumerate(sources) for r in s.result.hosts
    ]
    hosts.sort(key=lambda item: (item[1], item[2], item[0].host.name))
    return [(r, position) for r, position, _ in hosts]


def _findings(
    hosts: Sequence[HostResult], stored: StoredSettings, now: datetime, notices: list[str]
) -> list[Finding]:
    """The analysis `run` does, over every host of every shard."""
    settings = Settings(now=now, expiry_windows=stored.expiry_windows)
    try:
        evidence = fleet_evidence(hosts, now=now, cafile=stored.cafile)
    except OSError as exc:
        notices.append(
            f"--cafile {stored.cafile} the shards trusted cannot be read here "
            f"({exc.strerror or exc}): chains judged against Mozilla's roots and each "
            "host's own store only"
        )
        evidence = fleet_evidence(hosts, now=now)
    return analyze(evidence, settings)


def _readable(settings: MergeSettings, notices: list[str]) -> list[SourceRun]:
    """The newest run of each source; with allow_missing, a source that cannot be read
    (no database, no run, still running) is left out with a notice."""
    paths = [p.resolve() for p in settings.sources]
    if not paths:
        raise ConfigError("merge: give the shard databases to merge")
    if len(set(paths)) != len(paths):
        raise ConfigError("merge: a shard database is given twice")
    if settings.into.resolve() in paths:
        raise ConfigError(f"merge: --into {settings.into} is one of the shard databases")
    sources = []
    for path in settings.sources:
        try:
            sources.append(read_source(path))
        except HistoryError as exc:
            if not settings.allow_missing:
                raise
            notices.append(f"left out {path}: {exc.message}")
    return sources


def _fresh(
    history: History, sources: list[SourceRun], allow_missing: bool, notices: list[str]
) -> list[SourceRun]:
    """The sources whose run was not merged into `history` before (a shard that did not
    run since); refused unless allow_missing, which leaves them out."""
    merged_into = {
        merged: run.run_id
        for run in history.list_runs()
        for merged in StoredSettings.from_dict(history.run_settings(run.run_id)).merged_from
    }
    fresh = []
    for s in sources:
        if s.run_id not in merged_into:
            fresh.append(s)
            continue
        said = f"run {s.run_id} of {s.db} was already merged into run {merged_into[s.run_id]}"
        if not allow_missing:
            raise ConfigError(
                f"merge: {said} of {history.path}",
                hint="that shard has not run since: run it, or leave it out (--allow-missing)",
            )
        notices.append(f"left out {s.db}: {said}")
    if not fresh:
        raise ConfigError("merge: no shard run left to merge")
    return fresh


def _stored(sources: Sequence[SourceRun]) -> StoredSettings:
    """The settings the merged run records."""
    first = sources[0].stored
    return StoredSettings(
        limit=first.limit if all(s.stored.limit == first.limit for s in sources) else None,
        expiry_windows=first.expiry_windows,
        hosts=sum(len(s.result.hosts) for s in sources),
        cafile=first.cafile,
        merged_from=tuple(s.run_id for s in sources),
    )


@dataclass(frozen=True)
class _Merged:
    result: AuditResult
    previous: AuditResult | None
    """The newest complete run before it, to mark findings new or resolved."""
    notices: list[str]


def _record(history: History, sources: Sequence[SourceRun], missing: bool) -> _Merged:
    """Record the merged run: every host, then the findings over all of them."""
    hosts = _merged_hosts(sources)
    stored = _stored(sources)
    started = min(s.result.started_at for s in sources)
    finished = max(s.result.finished_at for s in sources)
    partial = missing or any(s.status is not RunStatus.COMPLETE for s in sources)
    notices: list[str] = []
    results = tuple(r for r, _ in hosts)
    findings = tuple(_findings(results, stored, finished, notices))
    inventory = sources[0].result.inventory
    run_id = history.begin_run(inventory, stored.to_dict(), started_at=started)
    history.record_hosts(run_id, hosts)
    history.record_findings(run_id, findings)
    history.finish_run(run_id, partial=partial, finished_at=finished)
    previous_id = history.latest_run_id(before=run_id, complete_only=True)
    result = AuditResult(run_id, started, finished, inventory, results, findings, partial)
    return _Merged(result, history.load_run(previous_id) if previous_id else None, notices)


def merge_runs(settings: MergeSettings) -> MergeOutcome:
    """Merge the newest run of every source into one run of `settings.into` (see the
    module doc). Raises AuditError before recording anything when the sources are not
    the shards of one audit."""
    notices: list[str] = []
    sources = _readable(settings, notices)
    with History.open(settings.into) as history:
        fresh = _fresh(history, sources, settings.allow_missing, notices)
        missing = check_sources(fresh, settings.allow_missing)
        merged = _record(history, fresh, bool(missing))
    notices += merged.notices
    result = merged.result
    status = EXIT_COVERAGE if result.partial else EXIT_OK
    outcome = MergeOutcome(result, tuple(fresh), missing, notices=tuple(notices), status=status)
    if settings.out is None:
        return outcome
    try:
        settings.out.mkdir(parents=True, exist_ok=True)
        written = write_reports(result, settings.out, merged.previous)
    except OSError as exc:
        raise AuditError(
            f"--out {settings.out}: cannot write the reports ({exc.strerror or exc})",
            hint=f"the merged run is stored: `certaudit report --run {result.run_id} --out DIR`",
        ) from None
    return replace(
        outcome,
        written=written.paths,
        report_failures=written.failed,
        status=EXIT_ERROR if written.failed else status,
    )
