"""Reading the history: the run list, run status and settings, and whole runs as the model.

`RunReads` is the reading half of `History`; it never takes the run lock, only peeks at
it to tell a running run from an interrupted one.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from audit.errors import HistoryError
from audit.history import renewal_rows, rows
from audit.history.codec import Row, fetch, from_sql, opt_dt, parse_dt
from audit.history.files import explain
from audit.history.lock import RunLock
from audit.history.schema import (
    CA_BUNDLES,
    CERT_PARSED,
    CERTIFICATES,
    FINDINGS,
    HOSTS,
    ISSUES,
    KEY_FILES,
    LISTENERS,
    LOCATIONS,
    PROBE_CHAIN,
    PROBES,
    RUNS,
    TLS_CONFIGS,
    UNPARSEABLE,
)
from audit.history.table import Table
from audit.model import AuditResult, CertInfo, HostOutcome, Listener, Severity, TlsProbe

T = TypeVar("T")

_FILES = (
    "SELECT files_evidence FROM hosts WHERE run_id = ?1"
    " UNION SELECT trust_evidence FROM hosts WHERE run_id = ?1"
)
_LISTENERS = "SELECT listener_evidence FROM hosts WHERE run_id = ?1"
_RENEWAL = "SELECT renewal_evidence FROM hosts WHERE run_id = ?1"
"""The evidence the hosts of a run point at (the run id as parameter 1)."""
_TEXTS = "t.title, t.detail, t.diagnose, t.fix, t.why"

_LIST_HINT = "see `certaudit report --list`"


class RunStatus(enum.StrEnum):
    """How a stored run stands."""

    RUNNING = "running"
    """Begun, and the process that began it still holds the run lock."""
    COMPLETE = "complete"
    """Finished with every host ended."""
    PARTIAL = "partial"
    """Finished, but the runner said not every host ended."""
    INTERRUPTED = "interrupted"
    """Begun and never finished, and nobody holds the lock (crash, kill -9)."""


@dataclass(frozen=True)
class RunSummary:
    """One line of `list_runs`."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None
    """None while running or when interrupted."""
    status: RunStatus
    inventory: str
    hosts: int
    """Hosts recorded."""
    hosts_audited: int
    """Hosts whose outcome is ok or partial."""
    outcomes: tuple[tuple[str, int], ...]
    """Host count per outcome, in HostOutcome order, only outcomes present."""
    findings: int
    severities: tuple[tuple[str, int], ...]
    """Finding count per severity, worst first, only severities present."""


class RunReads:
    """The read methods of `History` (which sets these attributes)."""

    path: Path
    _conn: sqlite3.Connection
    _lock: RunLock
    _active_run: str | None

    # ---- helpers

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            return fetch(self._conn, sql, params)
        except sqlite3.Error as exc:
            raise explain(self.path, exc, "read") from exc

    def _live_run_id(self) -> str | None:
        """The run whose process holds the lock right now, if any. Never waits."""
        if self._active_run is not None:
            return self._active_run
        return self._lock.holder()

    def _status(self, stored: str, run_id: str, live: str | None) -> RunStatus:
        if stored != "running":
            return RunStatus(stored)
        return RunStatus.RUNNING if live == run_id else RunStatus.INTERRUPTED

    def _run_row(self, run_id: str, hint: str = "") -> dict[str, Any]:
        found = self._rows(f"SELECT {RUNS.select()} FROM runs WHERE id = ?", (run_id,))
        if not found:
            raise HistoryError(f"no run {run_id} in {self.path}", hint=hint)
        return found[0]

    # ---- runs

    def list_runs(self) -> list[RunSummary]:
        """Every run, newest first."""
        live = self._live_run_id()
        outcomes: dict[str, Counter[str]] = defaultdict(Counter)
        for r in self._rows(
            "SELECT run_id, outcome, count(*) AS n FROM hosts GROUP BY run_id, outcome"
        ):
            outcomes[r["run_id"]][r["outcome"]] = r["n"]
        severities: dict[str, Counter[str]] = defaultdict(Counter)
        for r in self._rows(
            "SELECT run_id, severity, count(*) AS n FROM findings GROUP BY run_id, severity"
        ):
            severities[r["run_id"]][r["severity"]] = r["n"]
        audited = {o.value for o in HostOutcome if o.audited}
        out = []
        for r in self._rows(f"SELECT {RUNS.select()} FROM runs ORDER BY started_at DESC, id DESC"):
            run_id = r["id"]
            oc, sc = outcomes.get(run_id, Counter()), severities.get(run_id, Counter())
            out.append(
                RunSummary(
                    run_id=run_id,
                    started_at=parse_dt(r["started_at"]),
                    finished_at=opt_dt(r["finished_at"]),
                    status=self._status(r["status"], run_id, live),
                    inventory=r["inventory"],
                    hosts=sum(oc.values()),
                    hosts_audited=sum(n for o, n in oc.items() if o in audited),
                    outcomes=_ordered(oc, [o.value for o in HostOutcome]),
                    findings=sum(sc.values()),
                    severities=_ordered(sc, [s.value for s in Severity]),
                )
            )
        return out

    def latest_run_id(
        self, before: str | None = None, *, complete_only: bool = False
    ) -> str | None:
        """The newest run (started before run `before`, when given); None if there is none."""
        where: list[str] = []
        params: list[Any] = []
        if before is not None:
            row = self._run_row(before, hint=_LIST_HINT)
            where.append("(started_at, id) < (?, ?)")
            params += [row["started_at"], before]
        if complete_only:
            where.append("status = 'complete'")
        sql = "SELECT id FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        found = self._rows(sql + " ORDER BY started_at DESC, id DESC LIMIT 1", params)
        return found[0]["id"] if found else None

    def run_settings(self, run_id: str) -> dict[str, Any]:
        """The settings begin_run stored for the run."""
        value = json.loads(self._run_row(run_id)["settings"])
        return value if isinstance(value, dict) else {}

    def run_status(self, run_id: str) -> RunStatus:
        """How the run stands now (running, complete, partial or interrupted)."""
        stored = self._run_row(run_id)["status"]
        return self._status(stored, run_id, self._live_run_id())

    def host_positions(self, run_id: str) -> dict[str, int]:
        """Each host of the run by name, with the position it was recorded at (`seq`)."""
        self._run_row(run_id, hint=_LIST_HINT)
        found = self._rows("SELECT name, seq FROM hosts WHERE run_id = ?", (run_id,))
        return {row["name"]: row["seq"] for row in found}

    # ---- whole runs

    def load_run(self, run_id: str) -> AuditResult:
        """The whole run as the model, equal to what was recorded.

        A run that is not complete loads with partial=True; its finished_at is when it was
        finished, or else when its last host was recorded (or its start). Read in one
        transaction: a host another process commits meanwhile is seen whole or not at all.
        """
        conn = self._conn
        try:
            if conn.in_transaction:
                return self._load_run(run_id)
            conn.execute("BEGIN")
            try:
                return self._load_run(run_id)
            finally:
                conn.execute("ROLLBACK")  # a read: nothing to keep
        except sqlite3.Error as exc:
            raise explain(self.path, exc, "read") from exc

    def _load_run(self, run_id: str) -> AuditResult:
        run = self._run_row(run_id, hint=_LIST_HINT)
        started, finished = run["started_at"], run["finished_at"]
        if finished is None:  # never finished: its last sign of life
            last = self._rows(
                "SELECT max(recorded_at) AS last FROM hosts WHERE run_id = ?", (run_id,)
            )
            finished = max(started, last[0]["last"] or started, key=parse_dt)
        cert = self._cert_ref(run_id)
        files = self._file_parts(run_id, cert)
        listeners = self._load_listeners(run_id, cert)
        renewal = self._renewal_parts(run_id)
        hosts = tuple(
            rows.host_result_from(
                row,
                {
                    **{
                        name: _in_order(by, row["files_evidence"], row["trust_evidence"])
                        for name, by in files.items()
                    },
                    "listeners": tuple(listeners.get(row["listener_evidence"], ())),
                    **{
                        name: tuple(by.get(row["renewal_evidence"], ()))
                        for name, by in renewal.items()
                    },
                },
            )
            for row in self._rows(
                f"SELECT {HOSTS.select()} FROM hosts WHERE run_id = ? ORDER BY seq, pk", (run_id,)
            )
        )
        findings = tuple(
            rows.finding_from(row)
            for row in self._rows(
                f"SELECT {FINDINGS.select('f')}, {_TEXTS} FROM findings f"
                " JOIN finding_texts t ON t.pk = f.text_pk WHERE f.run_id = ? ORDER BY f.seq",
                (run_id,),
            )
        )
        return AuditResult(
            run_id=run_id,
            started_at=parse_dt(started),
            finished_at=parse_dt(finished),
            inventory=run["inventory"],
            hosts=hosts,
            findings=findings,
            partial=run["status"] != "complete",
        )

    def _file_parts(
        self, run_id: str, cert: rows.CertRef
    ) -> dict[str, dict[int, list[tuple[int, Any]]]]:
        """The rows of the run's file and trust-store evidence, by HostResult field, then
        by evidence pk, each as (seq, model object)."""
        return {
            "certificates": self._per_evidence(
                LOCATIONS, run_id, lambda row: rows.found_cert_from(row, cert)
            ),
            "unparseable": self._per_evidence(UNPARSEABLE, run_id, rows.unparseable_from),
            "key_files": self._per_evidence(KEY_FILES, run_id, rows.key_file_from),
            "issues": self._per_evidence(ISSUES, run_id, rows.issue_from),
            "ca_bundles": self._per_evidence(CA_BUNDLES, run_id, rows.ca_bundle_from),
            "tls_configs": self._per_evidence(TLS_CONFIGS, run_id, rows.tls_config_from),
        }

    def _renewal_parts(self, run_id: str) -> dict[str, dict[int, list[Any]]]:
        """The rows of the run's renewal evidence, by HostResult field, then by evidence pk."""
        return {
            name: self._grouped(
                f"SELECT {table.select('t')} FROM {table.name} t"
                f" WHERE t.evidence_pk IN ({_RENEWAL}) ORDER BY t.evidence_pk, t.seq",
                run_id,
                "evidence_pk",
                make,
            )
            for name, (table, make) in renewal_rows.READS.items()
        }

    def _grouped(
        self, sql: str, run_id: str, key: str, make: Callable[[Row], T]
    ) -> dict[int, list[T]]:
        """The rows of `sql` (with the run id as its parameter) made into model objects,
        grouped by the `key` column, in query order."""
        grouped: dict[int, list[T]] = defaultdict(list)
        for row in self._rows(sql, (run_id,)):
            grouped[row[key]].append(make(row))
        return grouped

    def _per_evidence(
        self, table: Table, run_id: str, make: Callable[[Row], T]
    ) -> dict[int, list[tuple[int, T]]]:
        """A table of file evidence: the rows the run's hosts point at, by evidence pk, in
        `seq` order, each as (seq, model object)."""
        return self._grouped(
            f"SELECT {table.select('t')} FROM {table.name} t WHERE t.evidence_pk IN ({_FILES})"
            " ORDER BY t.evidence_pk, t.seq",
            run_id,
            "evidence_pk",
            lambda row: (row["seq"], make(row)),
        )

    def _cert_ref(self, run_id: str) -> rows.CertRef:
        """Every certificate the run refers to, looked up by (pk, variant)."""
        cursor_rows = fetch(
            self._conn,
            f"SELECT {CERTIFICATES.select()} FROM certificates WHERE pk IN ("
            f" SELECT cert_pk FROM locations WHERE evidence_pk IN ({_FILES})"
            " UNION SELECT c.cert_pk FROM probe_chain c JOIN probes p ON p.pk = c.probe_pk"
            f" JOIN listeners l ON l.pk = p.listener_pk WHERE l.evidence_pk IN ({_LISTENERS}))",
            (run_id,),
            decode=False,  # der must stay bytes
        )
        certs: dict[int, CertInfo] = {
            row["pk"]: rows.cert_from(
                row["sha256"], row["der"], {name: from_sql(row[name]) for name in CERT_PARSED}
            )
            for row in cursor_rows
        }

        def cert(pk: int, variant: str | None) -> CertInfo:
            if variant is None:
                return certs[pk]
            stored = certs[pk]
            return rows.cert_from(stored.sha256, stored.der, rows.variant_columns(variant))

        return cert

    def _load_listeners(self, run_id: str, cert: rows.CertRef) -> dict[int, list[Listener]]:
        """The run's listener evidence by evidence pk: listeners, each with its probes and
        their chains."""
        of_run = f"WHERE l.evidence_pk IN ({_LISTENERS})"
        chains: dict[int, list[CertInfo]] = self._grouped(
            f"SELECT {PROBE_CHAIN.select('c')} FROM probe_chain c"
            f" JOIN probes p ON p.pk = c.probe_pk JOIN listeners l ON l.pk = p.listener_pk"
            f" {of_run} ORDER BY c.probe_pk, c.seq",
            run_id,
            "probe_pk",
            lambda row: cert(row["cert_pk"], row["cert_variant"]),
        )
        probes: dict[int, list[TlsProbe]] = self._grouped(
            f"SELECT {PROBES.select('p')} FROM probes p JOIN listeners l ON l.pk = p.listener_pk"
            f" {of_run} ORDER BY p.listener_pk, p.seq",
            run_id,
            "listener_pk",
            lambda row: rows.probe_from(row, tuple(chains.get(row["pk"], ()))),
        )
        return self._grouped(
            f"SELECT {LISTENERS.select('l')} FROM listeners l {of_run}"
            " ORDER BY l.evidence_pk, l.seq",
            run_id,
            "evidence_pk",
            lambda row: rows.listener_from(row, tuple(probes.get(row["pk"], ()))),
        )


def _in_order(by: dict[int, list[tuple[int, T]]], *pks: int | None) -> tuple[T, ...]:
    """The objects of these evidence bodies, interleaved by `seq` (a host's locations are
    split between its files and its trust store)."""
    found = [item for pk in pks if pk is not None for item in by.get(pk, ())]
    if len([pk for pk in pks if pk is not None and pk in by]) > 1:
        found.sort(key=lambda item: item[0])
    return tuple(obj for _, obj in found)


def _ordered(counts: Counter[str], order: list[str]) -> tuple[tuple[str, int], ...]:
    known = [(k, counts[k]) for k in order if counts.get(k)]
    extra = sorted((k, n) for k, n in counts.items() if k not in order and n)
    return tuple(known + extra)
