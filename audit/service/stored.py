"""Stored runs: the settings a run records, and a stored run read back with its findings.

A run that was killed before its findings were recorded is analysed again from the hosts
it stored, with the settings it recorded, so it is never shown as "no findings".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from audit.analyze import analyze, fleet_evidence
from audit.diff import RunDiff, diff_runs
from audit.errors import ConfigError, HistoryError
from audit.history import History, RunStatus, RunSummary, default_db_path
from audit.model import AuditResult
from audit.report import write_reports
from audit.rules.base import Settings
from audit.service.policy import DEFAULT_EXPIRY_WINDOWS


@dataclass(frozen=True)
class StoredSettings:
    """What a run records about how it was made (the `settings` JSON of its row)."""

    limit: str | None = None
    expiry_windows: tuple[int, ...] = DEFAULT_EXPIRY_WINDOWS
    hosts: int | None = None
    """Inventory hosts selected when the run began."""
    cafile: str | None = None
    """Absolute path of the --cafile the run trusted."""
    shard: str | None = None
    """"K/N" when the run audited one shard of the inventory (--shard)."""
    merged_from: tuple[str, ...] = ()
    """The shard runs a merged run was made of (`certaudit merge`)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "expiry_windows": list(self.expiry_windows),
            "hosts": self.hosts,
            "cafile": self.cafile,
            "shard": self.shard,
            "merged_from": list(self.merged_from),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredSettings:
        """Tolerant of older or hand-edited rows: a bad value falls back to the default."""
        windows = data.get("expiry_windows")
        ok_windows = (
            isinstance(windows, list)
            and bool(windows)
            and all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in windows)
        )
        limit, hosts, cafile = data.get("limit"), data.get("hosts"), data.get("cafile")
        shard, merged = data.get("shard"), data.get("merged_from")
        return cls(
            limit=limit if isinstance(limit, str) else None,
            expiry_windows=tuple(windows) if ok_windows else DEFAULT_EXPIRY_WINDOWS,  # type: ignore[arg-type]
            hosts=hosts if isinstance(hosts, int) and not isinstance(hosts, bool) else None,
            cafile=cafile if isinstance(cafile, str) else None,
            shard=shard if isinstance(shard, str) else None,
            merged_from=tuple(m for m in merged if isinstance(m, str))
            if isinstance(merged, list)
            else (),
        )


def open_history(db: Path | None) -> History:
    """An existing history database (never created by a read)."""
    return History.open(db if db is not None else default_db_path(), create=False)


def latest_run(history: History) -> str:
    run_id = history.latest_run_id()
    if run_id is None:
        raise HistoryError(
            f"no runs stored in {history.path}", hint="run `certaudit run INVENTORY` first"
        )
    return run_id


def load_analysed(history: History, run_id: str) -> AuditResult:
    """A stored run with its findings; an interrupted one is analysed from its hosts."""
    result = history.load_run(run_id)
    if result.findings or history.run_status(run_id) is not RunStatus.INTERRUPTED:
        return result
    stored = StoredSettings.from_dict(history.run_settings(run_id))
    settings = Settings(now=result.finished_at, expiry_windows=stored.expiry_windows)
    try:  # the same evidence a live run builds: listeners, served chains, --cafile
        evidence = fleet_evidence(result.hosts, now=result.finished_at, cafile=stored.cafile)
    except OSError:  # the --cafile has moved since: judge against Mozilla's roots alone
        evidence = fleet_evidence(result.hosts, now=result.finished_at)
    return replace(result, findings=tuple(analyze(evidence, settings)))


def load_with_previous(
    history: History, run_id: str | None, compare: bool = True
) -> tuple[AuditResult, AuditResult | None]:
    """A stored run (default the latest) and the run before it, when comparing."""
    chosen = run_id or latest_run(history)
    result = load_analysed(history, chosen)
    before = history.latest_run_id(before=chosen) if compare else None
    return result, load_analysed(history, before) if before else None


def load_pair(
    history: History, run_a: str | None, run_b: str | None
) -> tuple[AuditResult, AuditResult]:
    """Two stored runs to compare: B defaults to the latest, A to the run before B."""
    b_id = run_b or latest_run(history)
    a_id = run_a or history.latest_run_id(before=b_id)
    if a_id is None:
        raise HistoryError(f"run {b_id} is the first stored run: nothing to compare it with")
    return load_analysed(history, a_id), load_analysed(history, b_id)


@dataclass(frozen=True)
class Rendered:
    """A stored run rendered again."""

    result: AuditResult
    previous: AuditResult | None
    """The run it was compared with, if any."""
    written: tuple[Path, ...]
    failed: tuple[tuple[str, str], ...] = ()
    """Outputs that could not be rendered: (file name, reason)."""


def render_stored(db: Path | None, run_id: str | None, out: Path, compare: bool) -> Rendered:
    """Re-render a stored run (default the latest) into `out`, with the same renderers as
    a live run, marking what is new or resolved since the run before it."""
    with open_history(db) as history:
        result, previous = load_with_previous(history, run_id, compare)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = write_reports(result, out, previous)
    except OSError as exc:
        raise ConfigError(
            f"--out {out}: cannot write the reports ({exc.strerror or exc})"
        ) from None
    return Rendered(result, previous, written.paths, written.failed)


def list_stored(db: Path | None) -> tuple[Path, list[RunSummary]]:
    """The stored runs, newest first, and the database they are in."""
    with open_history(db) as history:
        return history.path, history.list_runs()


@dataclass(frozen=True)
class StoredDiff:
    old: AuditResult
    new: AuditResult
    diff: RunDiff


def diff_stored(db: Path | None, run_a: str | None, run_b: str | None) -> StoredDiff:
    """What changed between two stored runs (default: the last two)."""
    with open_history(db) as history:
        old, new = load_pair(history, run_a, run_b)
    return StoredDiff(old, new, diff_runs(old, new))
