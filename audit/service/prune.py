"""`certaudit prune`: delete old runs from the history, keeping what `diff`, trends and
`--resume` need.

A run goes when it is older than `--keep` (by when it started) and not among the
`--keep-runs` newest; given both, a run either keeps is kept. Whatever the settings, two
runs always stay: the newest complete run (what the next run is compared with, and the
last good state of the fleet), and the newest run that did not complete, which
`certaudit run --resume` would continue. Evidence, certificates and finding texts that
only deleted runs used go with them; a run that is kept reads back, renders and diffs
exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit.errors import ConfigError
from audit.history import History, RunStatus, RunSummary, default_db_path
from audit.history.prune import Pruned

_UNITS = {"h": 1 / 24, "d": 1.0, "w": 7.0, "y": 365.0}
_AGE = re.compile(r"(\d+)([hdwy])")


def parse_age(text: str) -> timedelta:
    """ "90d", "12w", "36h", "1y" -> a timedelta; ConfigError otherwise."""
    m = _AGE.fullmatch(text.strip().lower())
    if m is None or int(m.group(1)) <= 0:
        raise ConfigError(
            f"--keep {text!r}: expected a positive number of hours, days, weeks or years "
            "(36h, 90d, 12w, 1y)"
        )
    return timedelta(days=int(m.group(1)) * _UNITS[m.group(2)])


@dataclass(frozen=True)
class PruneSettings:
    """What `certaudit prune` keeps."""

    db: Path | None = None
    """History database; None: $CERTAUDIT_DB or the per-user default."""
    keep: timedelta | None = None
    """Keep runs that started within this long before `now`."""
    keep_runs: int | None = None
    """Keep this many of the newest runs."""
    vacuum: bool = False
    """Give the freed space back to the file system (rewrites the database)."""
    dry_run: bool = False
    now: datetime | None = None
    """The clock `keep` counts back from; None: now."""


@dataclass(frozen=True)
class Protected:
    """The runs a prune never deletes, and why."""

    newest_complete: str | None
    resumable: str | None
    """The run `certaudit run --resume` would continue."""


def protected(runs: Sequence[RunSummary]) -> Protected:
    """`runs` newest first, as `History.list_runs` gives them."""
    complete = next((r.run_id for r in runs if r.status is RunStatus.COMPLETE), None)
    unfinished = (RunStatus.INTERRUPTED, RunStatus.PARTIAL)
    resumable = next((r.run_id for r in runs if r.status in unfinished), None)
    return Protected(complete, resumable)


def runs_to_delete(
    runs: Sequence[RunSummary],
    *,
    keep: timedelta | None,
    keep_runs: int | None,
    now: datetime,
) -> list[str]:
    """The runs a prune deletes, newest first. `runs` newest first; a run is deleted when
    it is outside every given keep rule, not running, and not protected."""
    _check(keep, keep_runs)
    safe = protected(runs)
    doomed = []
    for i, r in enumerate(runs):
        if r.run_id in (safe.newest_complete, safe.resumable) or r.status is RunStatus.RUNNING:
            continue
        if keep_runs is not None and i < keep_runs:
            continue
        if keep is not None and r.started_at >= now - keep:
            continue
        doomed.append(r.run_id)
    return doomed


def _check(keep: timedelta | None, keep_runs: int | None) -> None:
    if keep is None and keep_runs is None:
        raise ConfigError("prune: say what to keep: --keep AGE (90d) or --keep-runs N")
    if keep_runs is not None and keep_runs < 1:
        raise ConfigError(f"--keep-runs {keep_runs}: keep at least one run")


@dataclass(frozen=True)
class PruneOutcome:
    path: Path
    pruned: Pruned
    kept: tuple[RunSummary, ...]
    """The runs left, newest first."""
    protected: Protected


def prune_history(settings: PruneSettings) -> PruneOutcome:
    """Delete the runs `settings` does not keep (see the module doc). Raises AuditError
    (ConfigError, HistoryError: no database, a run in progress) before deleting anything."""
    now = settings.now or datetime.now(UTC)
    _check(settings.keep, settings.keep_runs)
    path = settings.db if settings.db is not None else default_db_path()
    seen: list[Protected] = []

    def choose(runs: list[RunSummary]) -> list[str]:
        seen.append(protected(runs))
        return runs_to_delete(runs, keep=settings.keep, keep_runs=settings.keep_runs, now=now)

    with History.open(path, create=False) as history:
        pruned = history.prune(choose, vacuum=settings.vacuum, dry_run=settings.dry_run)
        gone = {r.run_id for r in pruned.runs}
        kept = [r for r in history.list_runs() if r.run_id not in gone]
    return PruneOutcome(history.path, pruned, tuple(kept), seen[0])
