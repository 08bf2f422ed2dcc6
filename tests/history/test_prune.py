"""`certaudit prune`: old runs go with what only they used; the runs kept read back,
re-render and diff exactly as before; the newest complete run and the resumable run
always stay; a run in progress blocks it."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.errors import ConfigError, HistoryError
from audit.history import History, RunStatus, RunSummary
from audit.model import AuditResult, CertInfo, FoundCert
from audit.report.json import diff_document
from audit.service.prune import PruneSettings, parse_age, prune_history, runs_to_delete
from audit.service.stored import diff_stored, render_stored
from tests.history.sample import NOW, rich_result, store

DAY = dt.timedelta(days=1)
TEXT_REPORTS = ("findings.json", "report.html", "metrics.prom")


def _night(pkiset: dict[str, CertInfo], n: int) -> AuditResult:
    """Night n of a fleet: web01's leaf is renewed from night 4 on (new file evidence),
    every night's probes take their own time; the rest never changes."""
    base = rich_result("", pkiset)
    web01 = base.hosts[0]
    if n >= 4:
        first = FoundCert(pkiset["leaf_renewed"], web01.certificates[0].location)
        web01 = replace(web01, certificates=(first, *web01.certificates[1:]))
    web01 = replace(
        web01,
        listeners=tuple(
            replace(li, probes=tuple(replace(p, elapsed_ms=n + p.elapsed_ms) for p in li.probes))
            for li in web01.listeners
        ),
    )
    start = NOW + n * 10 * DAY
    return replace(
        base,
        started_at=start,
        finished_at=start + dt.timedelta(minutes=5),
        hosts=(web01, *base.hosts[1:]),
    )


def _snapshot(db: Path, runs: list[str], folder: Path) -> dict[str, object]:
    """Each run read back and re-rendered (without comparison), and the diff of each pair
    of neighbours among `runs`."""
    out: dict[str, object] = {}
    with History.open(db, create=False) as h:
        for run_id in runs:
            out[run_id] = h.load_run(run_id)
    for run_id in runs:
        where = folder / run_id
        render_stored(db, run_id, where, compare=False)
        out[f"{run_id} reports"] = {n: (where / n).read_bytes() for n in TEXT_REPORTS}
    for a, b in zip(runs, runs[1:], strict=False):
        stored = diff_stored(db, a, b)
        out[f"{a}..{b}"] = json.dumps(diff_document(stored.old, stored.new, stored.diff))
    return out


def _count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_prune_keeps_what_diff_and_reports_need(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "h.db"
    with History.open(db) as h:
        ids = [store(h, _night(pkiset, n)) for n in range(8)]  # one run every 10 days
    kept = ids[5:]  # started within 30 days of the last night + 1 day
    before = _snapshot(db, kept, tmp_path / "before")
    certs_before = _count(db, "certificates")

    now = NOW + 71 * DAY
    outcome = prune_history(PruneSettings(db=db, keep=parse_age("30d"), now=now))
    assert [r.run_id for r in outcome.pruned.runs] == list(reversed(ids[:5]))
    assert [r.run_id for r in outcome.kept] == list(reversed(kept))
    assert outcome.pruned.hosts == 5 * 4 and outcome.pruned.findings == 5 * 3
    # the evidence of web01 before its renewal (nights 0-3) is gone; the evidence the
    # kept runs share with deleted ones (web02, every listener) stays
    assert outcome.pruned.evidence == 1
    assert outcome.pruned.certificates == 0  # the old leaf is still in web02's files
    with History.open(db, create=False) as h:
        assert [r.run_id for r in h.list_runs()] == list(reversed(kept))
    assert _snapshot(db, kept, tmp_path / "after") == before
    assert _count(db, "certificates") == certs_before
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_prune_deletes_certificates_and_texts_nothing_uses(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "h.db"
    old = _night(pkiset, 0)
    web01 = old.hosts[0]
    only_here = FoundCert(pkiset["leaf_other_issuer"], web01.certificates[0].location)
    lone = replace(
        old,
        hosts=(replace(web01, certificates=(*web01.certificates, only_here)),),
        findings=(replace(old.findings[0], detail="only in the old run"),),
    )
    with History.open(db) as h:
        first = store(h, lone)
        store(h, replace(_night(pkiset, 5), hosts=_night(pkiset, 5).hosts[1:]))
    outcome = prune_history(PruneSettings(db=db, keep_runs=1, vacuum=True))
    assert [r.run_id for r in outcome.pruned.runs] == [first]
    assert outcome.pruned.certificates == 1 and outcome.pruned.finding_texts == 1
    assert outcome.pruned.vacuumed and outcome.pruned.free_bytes == 0
    assert outcome.pruned.bytes_after <= outcome.pruned.bytes_before
    assert outcome.pruned.evidence == 3  # web01's files, trust store and listeners


def _summary(run_id: str, status: RunStatus, days_ago: float, now: dt.datetime) -> RunSummary:
    return RunSummary(run_id, now - days_ago * DAY, None, status, "inv", 1, 1, (), 0, ())


def test_the_newest_complete_and_the_resumable_run_always_stay() -> None:
    now = NOW
    c, p, i = RunStatus.COMPLETE, RunStatus.PARTIAL, RunStatus.INTERRUPTED
    runs = [  # newest first
        _summary("i2", i, 200, now),
        _summary("c2", c, 300, now),
        _summary("p1", p, 400, now),
        _summary("c1", c, 500, now),
    ]
    doomed = runs_to_delete(runs, keep=dt.timedelta(days=90), keep_runs=None, now=now)
    assert doomed == ["p1", "c1"]  # i2: resumable, c2: newest complete
    assert runs_to_delete(runs, keep=None, keep_runs=1, now=now) == ["p1", "c1"]
    running = [_summary("r", RunStatus.RUNNING, 0, now), *runs]
    assert "r" not in runs_to_delete(running, keep=None, keep_runs=1, now=now)
    # both rules: a run either keeps stays
    assert runs_to_delete(runs, keep=dt.timedelta(days=450), keep_runs=1, now=now) == ["c1"]
    with pytest.raises(ConfigError, match="say what to keep"):
        runs_to_delete(runs, keep=None, keep_runs=None, now=now)
    with pytest.raises(ConfigError, match="keep at least one"):
        runs_to_delete(runs, keep=None, keep_runs=0, now=now)


@pytest.mark.parametrize("text", ["90", "d", "-3d", "0d", "3 months", "12x"])
def test_a_bad_age_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--keep"):
        parse_age(text)
    assert parse_age("12w") == dt.timedelta(days=84) and parse_age("36h") == 1.5 * DAY


def test_a_run_in_progress_blocks_prune(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with History.open(db) as h:
        h.begin_run("inv", {})
        with pytest.raises(HistoryError, match="another certaudit run is in progress"):
            prune_history(PruneSettings(db=db, keep_runs=1))


def test_prune_command_prints_what_it_removed(tmp_path: Path, pkiset: dict[str, CertInfo]) -> None:
    db = tmp_path / "h.db"
    with History.open(db) as h:
        ids = [store(h, _night(pkiset, n)) for n in range(3)]
    runner = CliRunner()
    dry = runner.invoke(app, ["prune", "--db", str(db), "--keep-runs", "1", "--dry-run"])
    assert dry.exit_code == 0, dry.stderr
    assert "would remove 2 run(s)" in dry.stdout and ids[0] in dry.stdout
    assert _count(db, "runs") == 3
    done = runner.invoke(app, ["prune", "--db", str(db), "--keep-runs", "1"])
    assert done.exit_code == 0, done.stderr
    assert "removed 2 run(s)" in done.stdout
    assert ids[0] in done.stdout and ids[1] in done.stdout
    assert "kept 1 run(s)" in done.stdout and f"newest complete {ids[2]}" in done.stdout
    assert _count(db, "runs") == 1
    bad = runner.invoke(app, ["prune", "--db", str(db)])
    assert bad.exit_code == 2 and "say what to keep" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = runner.invoke(app, ["prune", "--db", str(tmp_path / "nope.db"), "--keep", "9d"])
    assert missing.exit_code == 2 and "no history database" in missing.stderr
