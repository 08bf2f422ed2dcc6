"""Schema versions: newer databases and foreign files refused, migrations appendable, and
the declared tables exactly what released versions created."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest

from audit import history
from audit.errors import HistoryError
from audit.history import History, RunStatus, schema
from audit.model import AuditResult, Finding, Host, HostOutcome, HostResult, Listener, Severity
from tests.history.released_schema import RELEASED


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    History.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {history.schema_version() + 1}")
    conn.close()
    with pytest.raises(HistoryError, match="created by a newer certaudit") as err:
        History.open(db)
    assert str(db) in str(err.value)


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database, it is a report " * 50,
        os.urandom(4096),
        b"SQLite format 3\x00" + b"\xff" * 200,
    ],
)
def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "report.html"
    db.write_bytes(content)
    with pytest.raises(HistoryError) as err:
        History.open(db)
    assert str(db) in err.value.message
    assert db.read_bytes() == content  # untouched


def test_someone_elses_sqlite_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE runs (x)")
    conn.close()
    with pytest.raises(HistoryError, match="not a certaudit history"):
        History.open(db)


def test_migrations_apply_to_an_empty_file_and_are_appendable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "h.db"
    db.touch()  # version 0: an empty file
    with History.open(db):
        pass
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == history.schema_version()
    assert conn.execute("PRAGMA application_id").fetchone()[0] == history.APPLICATION_ID
    conn.close()

    def backfill(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE runs SET note = 'migrated'")

    known = history.schema_version()
    migrations = [*schema.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN note TEXT",), backfill]
    monkeypatch.setattr(schema, "MIGRATIONS", migrations)
    with History.open(db) as h:
        run_id = h.begin_run("inv", {})
        h.finish_run(run_id, partial=False)
    monkeypatch.setattr(schema, "MIGRATIONS", migrations[: known + 1])
    db2 = tmp_path / "h2.db"
    with History.open(db2) as h:  # created with the first added migration
        run_id = h.begin_run("inv", {})
        h.finish_run(run_id, partial=False)
    monkeypatch.setattr(schema, "MIGRATIONS", migrations)
    with History.open(db2) as h:
        assert h._conn.execute("PRAGMA user_version").fetchone()[0] == known + 2
        assert h._conn.execute("SELECT note FROM runs").fetchall() == [("migrated",)]
    monkeypatch.undo()
    with pytest.raises(HistoryError, match="newer certaudit"):
        History.open(db2)


# --------------------------------------------------------------------------- declarations


def _released_db(path: Path, version: int) -> None:
    """A database as the released migrations 1..version left it (no certaudit code)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for n, statements in enumerate(RELEASED[:version], 1):
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {n}")
    conn.close()


def _master(path: Path) -> list[tuple[str, str, str, str]]:
    conn = sqlite3.connect(path)
    found = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    conn.close()
    return found


def test_migrations_generated_from_the_declarations_are_the_released_ones() -> None:
    assert schema.MIGRATIONS == list(RELEASED)
    assert schema.schema_version() == len(RELEASED)


def test_a_new_database_has_exactly_the_released_schema(tmp_path: Path) -> None:
    released = tmp_path / "released.db"
    _released_db(released, len(RELEASED))
    fresh = tmp_path / "fresh.db"
    History.open(fresh).close()
    assert _master(fresh) == _master(released)
    conn = sqlite3.connect(fresh)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(RELEASED)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == history.APPLICATION_ID
    for table in schema.TABLES:  # every declared column, in the declared order
        info = conn.execute(f"PRAGMA table_info({table.name})").fetchall()
        assert tuple(column[1] for column in info) == table.names, table.name
    tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert sorted(name for (name,) in tables) == sorted(t.name for t in schema.TABLES)
    conn.close()


def test_a_schema_1_database_is_upgraded_and_reads_back(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    _released_db(db, 1)
    run_id = "20260101T000000Z-abcd"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(
        "INSERT INTO runs (id, started_at, finished_at, status, inventory, settings, pid)"
        " VALUES (?, '2026-01-01T00:00:00Z', '2026-01-01T00:01:00.250000Z', 'complete',"
        " 'inv.ini', '{\"workers\": 4}', 42)",
        (run_id,),
    )
    conn.execute(
        "INSERT INTO hosts (pk, run_id, seq, name, address, ssh_port, ssh_user, key_file,"
        " become, host_groups, cert_paths, tls_names, tls_ports, probe_direct, source,"
        " outcome, detail, started_at, finished_at, bytes_received, facts, recorded_at)"
        " VALUES (7, ?, 0, 'web', '10.0.0.1', 22, 'ops', NULL, 1, '[\"prod\"]', '[]', '[]',"
        " '[8443]', 0, 'inv.ini:3', 'ok', '', '2026-01-01T00:00:01Z', NULL, 1234,"
        " '[[\"os\",\"Debian 12\"]]', '2026-01-01T00:00:02Z')",
        (run_id,),
    )
    conn.execute(
        "INSERT INTO listeners (host_pk, seq, host, address, port, process, expects_tls,"
        " config_file, config_line, cert_file) VALUES (7, 0, 'web', '0.0.0.0', 443, 'nginx', 1,"
        " '/etc/nginx/site', 12, '/etc/ssl/site.pem')"
    )
    conn.execute(
        "INSERT INTO findings (run_id, seq, finding_id, severity, host, subject, title, detail,"
        " diagnose, fix, cert_sha256, risk, why, days_left) VALUES (?, 0, 'HOST_PARTIAL', 'low',"
        " 'web', 'collection', 'Collection was partial', '', '', '', NULL, 0.5, '', NULL)",
        (run_id,),
    )
    conn.close()

    with History.open(db) as h:
        assert h._conn.execute("PRAGMA user_version").fetchone()[0] == len(RELEASED)
        run = h.load_run(run_id)
        assert h.run_settings(run_id) == {"workers": 4}
        assert h.run_status(run_id) is RunStatus.COMPLETE
    fresh = tmp_path / "fresh.db"
    History.open(fresh).close()
    assert _master(db) == _master(fresh)
    assert run == AuditResult(
        run_id=run_id,
        started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        finished_at=dt.datetime(2026, 1, 1, 0, 1, 0, 250000, tzinfo=dt.UTC),
        inventory="inv.ini",
        hosts=(
            HostResult(
                host=Host(
                    "web", "10.0.0.1", 22, "ops", become=True, groups=("prod",),
                    tls_ports=(8443,), source="inv.ini:3",
                ),
                outcome=HostOutcome.OK,
                started_at=dt.datetime(2026, 1, 1, 0, 0, 1, tzinfo=dt.UTC),
                listeners=(
                    Listener(
                        "web", "0.0.0.0", 443, "nginx", True, config_file="/etc/nginx/site",
                        config_line=12, cert_file="/etc/ssl/site.pem",
                    ),
                ),  # the columns schema 2 added read as their defaults
                bytes_received=1234,
                facts=(("os", "Debian 12"),),
            ),
        ),
        findings=(
            Finding(
                "HOST_PARTIAL", Severity.LOW, "web", "collection", "Collection was partial",
                "", "", "", risk=0.5,
            ),
        ),
    )  # fmt: skip


def test_placeholders_of_an_earlier_version_are_known_unfinished_after_upgrade(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.db"
    _released_db(db, 2)  # no `finished` column yet
    run = "20260101T000000Z-abcd"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(
        "INSERT INTO runs (id, started_at, status, inventory) VALUES"
        " (?, '2026-01-01T00:00:00Z', 'running', 'inv.ini')",
        (run,),
    )
    for seq, (name, detail) in enumerate(
        [("a", "sudo refused"), ("b", "run interrupted before this host finished")]
    ):
        conn.execute(
            "INSERT INTO hosts (run_id, seq, name, address, become, host_groups, cert_paths,"
            " tls_names, tls_ports, probe_direct, source, outcome, detail, bytes_received,"
            " facts, recorded_at) VALUES (?, ?, ?, ?, 0, '[]', '[]', '[]', '[]', 0, '',"
            " 'failed', ?, 0, '[]', '2026-01-01T00:00:01Z')",
            (run, seq, name, name, detail),
        )
    conn.close()
    with History.open(db) as h:
        hosts = {r.host.name: r.finished for r in h.load_run(run).hosts}
    assert hosts == {"a": True, "b": False}
