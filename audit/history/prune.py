"""Deleting runs: the runs chosen, their hosts and findings, and then whatever nothing
left points at (evidence with the rows it owns, certificates, finding texts).

Which runs may go is the caller's policy (audit.service.prune); `History.prune` runs
this under the run lock, in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audit.history.codec import scalar
from audit.history.evidence import collect_garbage
from audit.history.reads import RunSummary


@dataclass(frozen=True)
class Pruned:
    """What a prune removed (or, with dry_run, would remove)."""

    runs: tuple[RunSummary, ...]
    """The runs deleted, newest first."""
    hosts: int
    """Host records of those runs."""
    findings: int
    evidence: int
    """Bodies of evidence no remaining host record pointed at."""
    certificates: int
    """Certificates no remaining evidence referred to."""
    finding_texts: int
    bytes_before: int
    """The database and its WAL, before."""
    bytes_after: int
    free_bytes: int
    """Space inside the file that SQLite will reuse (VACUUM gives it back)."""
    vacuumed: bool = False
    dry_run: bool = False


def file_bytes(db: Path) -> int:
    """The size of the database and its WAL on disk."""
    total = 0
    for path in (db, db.with_name(db.name + "-wal")):
        try:
            total += os.stat(path).st_size
        except FileNotFoundError:
            pass
    return total


def free_bytes(conn: sqlite3.Connection) -> int:
    return int(scalar(conn, "PRAGMA freelist_count")) * int(scalar(conn, "PRAGMA page_size"))


def delete_runs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> tuple[int, int]:
    """Delete the runs with their hosts and findings (inside the caller's transaction);
    returns (hosts, findings) deleted. Garbage is collected separately."""
    hosts = findings = 0
    for run_id in run_ids:
        hosts += int(scalar(conn, "SELECT count(*) FROM hosts WHERE run_id = ?", (run_id,)))
        findings += int(scalar(conn, "SELECT count(*) FROM findings WHERE run_id = ?", (run_id,)))
        conn.execute("DELETE FROM hosts WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM findings WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
    return hosts, findings


__all__ = ["Pruned", "collect_garbage", "delete_runs", "file_bytes", "free_bytes"]
