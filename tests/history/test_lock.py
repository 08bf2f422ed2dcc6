"""The run lock, with real subprocesses: two runs at once, kill -9 mid-run; and what may
not stand at `<db>.lock`."""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from audit.errors import HistoryError
from audit.history import History, RunStatus
from audit.model import CertInfo
from tests.history.sample import rich_host

REPO = Path(__file__).resolve().parents[2]

_CHILD = textwrap.dedent(
    """
    import pickle, sys
    from dataclasses import replace
    from audit.history import History, HostWriter
    from audit.errors import HistoryError

    mode, db = sys.argv[1], sys.argv[2]
    with History.open(db) as h:
        if mode == "race":
            sys.stdin.readline()  # wait for "go"
            try:
                run_id = h.begin_run("inv", {})
            except HistoryError as exc:
                print("refused", exc.message, flush=True)
                sys.exit(0)
            print("ok", run_id, flush=True)
            sys.stdin.readline()  # hold the lock until told
            h.finish_run(run_id, partial=False)
        elif mode == "flood":
            template = pickle.load(open(sys.argv[3], "rb"))
            run_id = h.begin_run("inv", {})
            print(run_id, flush=True)
            i = 0
            while True:
                name = f"host{i:06d}"
                h.record_host(run_id, replace(template, host=replace(template.host, name=name)))
                print(i, flush=True)
                i += 1
        elif mode == "flood-queued":  # through the writer thread, as `run` commits hosts
            template = pickle.load(open(sys.argv[3], "rb"))
            run_id = h.begin_run("inv", {})
            print(run_id, flush=True)
            acknowledge = lambda r: print(int(r.host.name[4:]), flush=True)
            with HostWriter(h, run_id, on_commit=acknowledge) as writer:
                i = 0
                while True:
                    name = f"host{i:06d}"
                    writer.put(replace(template, host=replace(template.host, name=name)))
                    i += 1
                    if i - writer.committed > 20:  # a fleet ends hosts at its own pace
                        __import__("time").sleep(0.005)
    """
)


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def test_two_runs_at_once_the_second_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    History.open(db).close()
    children = [_child("race", db), _child("race", db)]
    try:
        for c in children:
            assert c.stdin is not None
            c.stdin.write("go\n")
            c.stdin.flush()
        answers = {c.pid: c.stdout.readline().split(" ", 1) for c in children if c.stdout}
        winners = [pid for pid, a in answers.items() if a[0] == "ok"]
        losers = [pid for pid, a in answers.items() if a[0] == "refused"]
        assert len(winners) == 1 and len(losers) == 1, answers
        message = answers[losers[0]][1]
        assert f"another certaudit run is in progress (pid {winners[0]})" in message

        with History.open(db) as h:  # this process is refused too, and sees it running
            with pytest.raises(HistoryError, match=f"in progress \\(pid {winners[0]}\\)"):
                h.begin_run("inv", {})
            running = answers[winners[0]][1].strip()
            assert h.run_status(running) is RunStatus.RUNNING
    finally:
        for c in children:
            assert c.stdin is not None
            c.stdin.close()
            c.wait(timeout=10)
    with History.open(db) as h:
        assert h.run_status(running) is RunStatus.COMPLETE
        h.finish_run(h.begin_run("inv", {}), partial=False)  # the lock is free again


@pytest.mark.parametrize("mode", ["flood", "flood-queued"], ids=["inline", "writer-thread"])
def test_kill_9_mid_run_leaves_a_sound_partial_run(
    tmp_path: Path, pkiset: dict[str, CertInfo], mode: str
) -> None:
    """Every host acknowledged as committed (by record_host returning, or by the writer
    thread's on_commit) is in the database after kill -9, whole, with no gaps."""
    template = rich_host(pkiset, "template")
    (tmp_path / "template.pickle").write_bytes(pickle.dumps(template))
    db = tmp_path / "h.db"
    child = _child(mode, str(db), str(tmp_path / "template.pickle"))
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    acknowledged = -1
    while acknowledged < 40:
        acknowledged = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
    with History.open(db) as h:
        assert h.run_status(run_id) is RunStatus.INTERRUPTED
        [summary] = h.list_runs()
        assert summary.status is RunStatus.INTERRUPTED and summary.hosts > acknowledged
        run = h.load_run(run_id)
        assert run.partial
        names = [r.host.name for r in run.hosts]
        assert names == [f"host{i:06d}" for i in range(len(names))]  # no gaps
        assert len(names) > acknowledged  # everything acknowledged was committed
        for r in run.hosts:  # every committed host is whole
            assert r == replace(template, host=replace(template.host, name=r.host.name))
        h.finish_run(h.begin_run("inv", {}), partial=False)  # the dead run's lock is gone


# --------------------------------------------------------------------------- the lock file


@pytest.mark.parametrize("target_exists", [True, False], ids=["to-a-file", "dangling"])
def test_a_symlink_at_the_lock_is_refused_and_not_followed(
    tmp_path: Path, target_exists: bool
) -> None:
    db = tmp_path / "h.db"
    lock = tmp_path / "h.db.lock"
    target = tmp_path / "precious.txt"
    if target_exists:
        target.write_text("keep me\n")
        target.chmod(0o640)
        before = target.stat()
    lock.symlink_to(target)
    with History.open(db) as h:
        with pytest.raises(HistoryError, match="symbolic link") as err:
            h.begin_run("inv", {})
        assert str(lock) in err.value.message
        assert h.list_runs() == []  # refused before anything was recorded
    assert lock.is_symlink()
    if target_exists:
        after = target.stat()
        assert target.read_text() == "keep me\n"
        assert (after.st_mode, after.st_size, after.st_mtime_ns) == (
            before.st_mode,
            before.st_size,
            before.st_mtime_ns,
        )
    else:
        assert not target.exists()  # not created through the link


@pytest.mark.timeout(30)
def test_a_fifo_at_the_lock_is_refused_without_hanging(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    lock = tmp_path / "h.db.lock"
    with History.open(db) as h:
        run_id = h.begin_run("inv", {})  # an interrupted run, to resume below
    lock.unlink()
    os.mkfifo(lock)
    with History.open(db) as h:
        with pytest.raises(HistoryError, match="not a regular file") as err:
            h.begin_run("inv", {})
        assert str(lock) in err.value.message
        with pytest.raises(HistoryError, match="not a regular file"):
            h.resume_run(run_id)
        # readers only peek at the lock, and do not hang on it either
        assert h.run_status(run_id) is RunStatus.INTERRUPTED
        assert [r.run_id for r in h.list_runs()] == [run_id]


def test_a_lock_left_by_an_older_version_still_works(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    History.open(db).close()
    lock = tmp_path / "h.db.lock"
    lock.write_text("12345 20000101T000000Z-dead\n")
    lock.chmod(0o644)
    with History.open(db) as h:
        run_id = h.begin_run("inv", {})
        assert lock.read_text() == f"{os.getpid()} {run_id}\n"
        h.finish_run(run_id, partial=False)
