"""`History`: opening the database, the run lock, and recording a run as it goes.

A run is committed as it goes, one transaction per host, and ends complete or marked
partial; a second run at the same time is refused by the run lock.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from audit.errors import HistoryError
from audit.history import evidence, rows
from audit.history.codec import dt_text, fetch, now, scalar, to_sql, utc
from audit.history.files import DB_HINT, create_private, explain
from audit.history.lock import RunLock
from audit.history.prune import Pruned, delete_runs, file_bytes, free_bytes
from audit.history.reads import RunReads, RunSummary
from audit.history.schema import (
    BUSY_TIMEOUT_MS,
    CERT_PARSED,
    CERTIFICATES,
    FINDINGS,
    HOSTS,
    RUNS,
    prepare,
)
from audit.model import CertInfo, Finding, HostResult

CERT_CACHE_SIZE = 2048
"""Certificates remembered per History as already stored (memory stays bounded)."""


class _DryRun(Exception):
    """Rolls a prune back once it has counted what it would delete."""


class History(RunReads):
    """The run history in one SQLite file. Use as a context manager; see the package doc."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        """Use `History.open`."""
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._conn = conn
        self._lock = RunLock(self.lock_path, path)
        self._active_run: str | None = None
        self._cert_cache: OrderedDict[CertInfo, tuple[int, str | None]] = OrderedDict()
        self._cert_pending: dict[CertInfo, tuple[int, str | None]] = {}
        self._evidence = evidence.EvidenceStore(self._store_cert)

    # ---- opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = True) -> History:
        """Open (and create or upgrade) the history at `path`.

        create=False refuses a missing file (for `report` and `diff`, which only read).
        A new database is created mode 0600, and so are its -wal, -shm and lock files.
        """
        db = Path(path).expanduser()
        if not create and not db.exists():
            raise HistoryError(f"no history database at {db}", hint=DB_HINT)
        if db.exists() and not db.is_file():
            raise HistoryError(f"{db} is not a file", hint=DB_HINT)
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"cannot create the folder for the history database {db}: {exc.strerror or exc}",
                hint=DB_HINT,
            ) from exc
        if create:
            create_private(db)
        try:
            # one thread at a time, but not always the opening one (HostWriter)
            conn = sqlite3.connect(
                str(db),
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise explain(db, exc, "open") from exc
        try:
            prepare(conn, db)
        except HistoryError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise explain(db, exc, "open") from exc
        return cls(db, conn)

    def close(self) -> None:
        """Release the run lock (an unfinished run then reads as interrupted) and close."""
        self._lock.release()
        self._active_run = None
        with suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- transactions

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        self._cert_pending.clear()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
            cache = self._cert_cache
            for cert, value in self._cert_pending.items():
                cache[cert] = value
                cache.move_to_end(cert)
            while len(cache) > CERT_CACHE_SIZE:
                cache.popitem(last=False)
            self._cert_pending.clear()
        except BaseException as exc:
            self._cert_pending.clear()
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise explain(self.path, exc, doing) from exc
            raise

    def _require_active(self, run_id: str) -> None:
        if self._active_run != run_id:
            raise HistoryError(
                f"run {run_id} is not the run this process began"
                + (f" ({self._active_run})" if self._active_run else "")
            )

    def _require_idle(self) -> None:
        if self._active_run is not None:
            raise HistoryError(f"run {self._active_run} is still in progress in this process")

    # ---- runs

    def begin_run(
        self, inventory: str, settings: dict[str, Any], *, started_at: datetime | None = None
    ) -> str:
        """Take the run lock and record a new run; returns its id ("20261127T174500Z-ab12").

        `settings` is stored as JSON (values JSON cannot hold are stored as text); it must
        not contain secrets. Raises HistoryError when another run holds the lock.
        """
        self._require_idle()
        started = started_at or now()
        self._lock.acquire()
        try:
            settings_json = json.dumps(settings, sort_keys=True, default=str)
            stamp = utc(started).strftime("%Y%m%dT%H%M%SZ")
            for _ in range(20):
                run_id = f"{stamp}-{secrets.token_hex(2)}"
                with self._transaction("record the start of a run in") as conn:
                    if fetch(conn, "SELECT id FROM runs WHERE id = ?", (run_id,)):
                        continue
                    self._lock.record(run_id)
                    RUNS.insert(
                        conn,
                        {
                            "id": run_id,
                            "started_at": dt_text(started),
                            "finished_at": None,
                            "status": "running",
                            "inventory": inventory,
                            "settings": settings_json,
                            "pid": os.getpid(),
                        },
                    )
                break
            else:  # pragma: no cover - 20 collisions of 16 random bits in one second
                raise HistoryError("could not choose a unique run id")
        except BaseException:
            self._lock.release()
            raise
        self._active_run = run_id
        return run_id

    def resume_run(self, run_id: str) -> None:
        """Take the run lock and reopen a run that did not complete (killed, or stopped
        with Ctrl-C) so more hosts can be recorded into it; its findings are dropped, to be
        computed again over every host when it finishes. Raises HistoryError when another
        run holds the lock, the run does not exist, or it completed.
        """
        self._require_idle()
        self._lock.acquire()
        try:
            with self._transaction("reopen a run in") as conn:
                found = fetch(conn, "SELECT status FROM runs WHERE id = ?", (run_id,))
                if not found:
                    raise HistoryError(f"no run {run_id} in {self.path}")
                if found[0]["status"] == "complete":
                    raise HistoryError(f"run {run_id} completed; there is nothing to resume")
                self._lock.record(run_id)
                conn.execute(
                    "UPDATE runs SET status = 'running', finished_at = NULL, pid = ? WHERE id = ?",
                    (os.getpid(), run_id),
                )
                conn.execute("DELETE FROM findings WHERE run_id = ?", (run_id,))
        except BaseException:
            self._lock.release()
            raise
        self._active_run = run_id

    def finish_run(
        self, run_id: str, *, partial: bool, finished_at: datetime | None = None
    ) -> None:
        """Mark the run complete (or partial) and release the run lock."""
        self._require_active(run_id)
        with self._transaction("record the end of a run in") as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
                (dt_text(finished_at or now()), "partial" if partial else "complete", run_id),
            )
        self._active_run = None
        self._lock.release()

    # ---- hosts and findings

    def record_host(self, run_id: str, result: HostResult, *, position: int | None = None) -> None:
        """Store one host's envelope in its own committed transaction.

        Hosts read back ordered by `position` (default: the order they were recorded).
        Recording the same host name again in the same run replaces the earlier record.
        """
        self._require_active(run_id)
        with self._transaction(f"record host {result.host.name} in") as conn:
            self._record(conn, run_id, result, position)

    def record_hosts(self, run_id: str, results: Iterable[tuple[HostResult, int | None]]) -> None:
        """Store several hosts, each (result, position) as `record_host` would, in one
        committed transaction: all of them or none."""
        self._require_active(run_id)
        with self._transaction("record hosts in") as conn:
            for result, position in results:
                self._record(conn, run_id, result, position)

    def _record(
        self, conn: sqlite3.Connection, run_id: str, result: HostResult, position: int | None
    ) -> None:
        old = fetch(
            conn,
            "SELECT pk, seq, files_evidence, trust_evidence, listener_evidence,"
            " renewal_evidence FROM hosts WHERE run_id = ? AND name = ?",
            (run_id, to_sql(result.host.name)),
        )
        if old:
            conn.execute("DELETE FROM hosts WHERE pk = ?", (old[0]["pk"],))
            o = old[0]
            evidence.release(
                conn,
                (
                    o["files_evidence"],
                    o["trust_evidence"],
                    o["listener_evidence"],
                    o["renewal_evidence"],
                ),
            )
        if position is not None:
            seq = position
        elif old:
            seq = old[0]["seq"]
        else:
            seq = scalar(
                conn, "SELECT coalesce(max(seq) + 1, 0) FROM hosts WHERE run_id = ?", (run_id,)
            )
        files = self._evidence.files(conn, result)
        trust = self._evidence.trust(conn, result)
        listeners = self._evidence.listeners(conn, result)
        renewal = self._evidence.renewal(conn, result)
        row = rows.host_row(run_id, seq, result, now(), files, listeners, trust, renewal)
        HOSTS.insert(conn, row)

    def _store_cert(self, cert: CertInfo) -> tuple[int, str | None]:
        """Make sure the certificate is stored; returns its pk and the occurrence's variant.

        The first run to see a certificate writes its columns. Should a later CertInfo for
        the same DER differ (a per-file warning such as trailing bytes, or a newer parser),
        the occurrence keeps its own columns as JSON so the run reads back exactly.
        A bounded cache skips the work for certificates seen recently (CA bundles repeat
        on every host); entries join it only when their transaction commits.
        """
        hit = self._cert_cache.get(cert) or self._cert_pending.get(cert)
        if hit is not None:
            return hit
        columns = rows.cert_columns(cert)
        found = fetch(
            self._conn,
            f"SELECT pk, {', '.join(CERT_PARSED)} FROM certificates WHERE sha256 = ?",
            (cert.sha256,),
        )
        result: tuple[int, str | None]
        if not found:
            pk = CERTIFICATES.insert(
                self._conn, {"sha256": cert.sha256, "der": cert.der, **columns}
            )
            result = (pk, None)
        elif all(found[0][name] == columns[name] for name in CERT_PARSED):
            result = (found[0]["pk"], None)
        else:
            result = (found[0]["pk"], rows.variant_text(columns))
        self._cert_pending[cert] = result
        return result

    def record_findings(self, run_id: str, findings: Iterable[Finding]) -> None:
        """Append findings to the run, in order, in one committed transaction."""
        self._require_active(run_id)
        with self._transaction("record findings in") as conn:
            start = scalar(
                conn, "SELECT coalesce(max(seq) + 1, 0) FROM findings WHERE run_id = ?", (run_id,)
            )
            FINDINGS.insert_many(
                conn,
                (
                    rows.finding_row(run_id, start + i, f, self._evidence.finding_text(conn, f))
                    for i, f in enumerate(findings)
                ),
            )

    # ---- pruning

    def prune(
        self,
        choose: Callable[[list[RunSummary]], Iterable[str]],
        *,
        vacuum: bool = False,
        dry_run: bool = False,
    ) -> Pruned:
        """Delete the runs `choose` picks from the run list (newest first, as `list_runs`
        sees it under the lock), with their hosts and findings, then every body of
        evidence, certificate and finding text nothing left points at, in one
        transaction; with `vacuum`, give the freed space back to the file system.

        Holds the run lock throughout: refused (HistoryError) while a run is in progress,
        and no run starts meanwhile. dry_run: count what would go, delete nothing.
        """
        self._require_idle()
        before = file_bytes(self.path)
        self._lock.acquire()
        try:
            self._lock.record("prune")  # no run reads as running while this holds the lock
            runs = self.list_runs()
            chosen = set(choose(runs))
            doomed = tuple(r for r in runs if r.run_id in chosen)
            try:
                with self._transaction("prune") as conn:
                    hosts, findings = delete_runs(conn, [r.run_id for r in doomed])
                    collected = evidence.collect_garbage(conn)
                    if dry_run:
                        raise _DryRun
            except _DryRun:
                pass
            else:
                self._cert_cache.clear()  # pks of deleted certificates must not be reused
            if vacuum and not dry_run:
                self._vacuum()
            free = free_bytes(self._conn)
        finally:
            self._lock.release()
        return Pruned(
            runs=doomed,
            hosts=hosts,
            findings=findings,
            evidence=collected.evidence,
            certificates=collected.certificates,
            finding_texts=collected.finding_texts,
            bytes_before=before,
            bytes_after=file_bytes(self.path),
            free_bytes=free,
            vacuumed=vacuum and not dry_run,
            dry_run=dry_run,
        )

    def _vacuum(self) -> None:
        """Rewrite the database without its free pages, and empty the WAL."""
        try:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise explain(self.path, exc, "vacuum") from exc
