"""Where the database lives, and its files: missing, unwritable folders, private modes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from audit.errors import HistoryError
from audit.history import History, default_db_path
from audit.model import CertInfo
from tests.history.sample import rich_host


def test_default_db_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("CERTAUDIT_DB", "XDG_STATE_HOME", "HOME"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(HistoryError, match="HOME is not set") as err:
        default_db_path()
    assert "--db" in str(err.value)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path() == tmp_path / ".local/state/certaudit/history.db"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    assert default_db_path() == tmp_path / ".local/state/certaudit/history.db"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_db_path() == tmp_path / "state/certaudit/history.db"
    monkeypatch.setenv("CERTAUDIT_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"


def test_missing_file_refused_when_only_reading(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no history database"):
        History.open(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    immutable = os.geteuid() == 0
    if immutable:  # root ignores permission bits; the immutable attribute still binds
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i")
    else:
        folder.chmod(0o555)
    try:
        db = folder / "history.db"
        with pytest.raises(HistoryError) as err:
            History.open(db)
        assert str(db) in err.value.message
        assert "writable" in str(err.value)
        with pytest.raises(HistoryError) as err:
            History.open(folder / "sub" / "history.db")
        assert str(folder / "sub" / "history.db") in err.value.message
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o755)


def test_a_new_database_and_its_files_are_private(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "h.db"
    names = [db, tmp_path / "h.db-wal", tmp_path / "h.db-shm", tmp_path / "h.db.lock"]
    old_umask = os.umask(0o022)
    try:
        with History.open(db) as h:
            run_id = h.begin_run("inv", {})
            h.record_host(run_id, rich_host(pkiset))
            h.finish_run(run_id, partial=False)
            assert all(p.exists() for p in names)  # WAL: -wal and -shm live while it is open
            assert {p.name: oct(p.stat().st_mode & 0o777) for p in names} == {
                p.name: "0o600" for p in names
            }
        present = [p for p in names if p.exists()]
        assert db in present
        assert {p.name: oct(p.stat().st_mode & 0o777) for p in present} == {
            p.name: "0o600" for p in present
        }
    finally:
        os.umask(old_umask)


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    History.open(db).close()
    db.chmod(0o640)  # the owner's choice (a group that reads reports, say)
    with History.open(db) as h:
        h.finish_run(h.begin_run("inv", {}), partial=False)
    assert db.stat().st_mode & 0o777 == 0o640
