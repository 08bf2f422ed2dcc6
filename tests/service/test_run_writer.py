"""run_audit commits each host off the event loop: hosts are in the database while the
fleet is still running, a slow disk does not stall the loop, and a failed commit is a
HistoryError. The SSH side is a fake `audit_host` (the runner, history and reports are
real)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from audit import runner
from audit.errors import HistoryError
from audit.history import History
from audit.model import Host, HostOutcome, HostResult
from audit.service.run import RunSettings, run_audit

FakeHost = Callable[[Host], Coroutine[Any, Any, HostResult]]


def _settings(tmp_path: Path, names: list[str]) -> RunSettings:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[web]\n" + "".join(f"{n} ansible_host=192.0.2.{i + 10}\n" for i, n in enumerate(names))
    )
    known = tmp_path / "known_hosts"
    known.write_text("")
    return RunSettings(
        inventory=inventory,
        out=tmp_path / "out",
        db=tmp_path / "h.db",
        known_hosts=known,
        ssh_config=(Path("/dev/null"),),
    )


def _fake(monkeypatch: pytest.MonkeyPatch, body: FakeHost) -> None:
    async def audit_host(host: Host, *args: Any, **kwargs: Any) -> HostResult:
        return await body(host)

    monkeypatch.setattr(runner, "audit_host", audit_host)


def _ok(host: Host) -> HostResult:
    now = datetime.now(UTC)
    return HostResult(host, HostOutcome.OK, "", now, now, facts=(("os", "fake"),))


def committed(db: Path) -> set[str]:
    """Hosts finished and committed, as another process reading the database sees them."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return {n for (n,) in conn.execute("SELECT name FROM hosts WHERE finished = 1")}
    finally:
        conn.close()


def test_hosts_are_committed_while_the_fleet_is_still_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["fast1", "fast2", "fast3", "slow"]
    settings = _settings(tmp_path, names)
    assert settings.db is not None
    seen: list[set[str]] = []

    async def body(host: Host) -> HostResult:
        if host.name == "slow":  # ends only once the others are in the database
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                found = committed(settings.db)  # type: ignore[arg-type]
                if found >= {"fast1", "fast2", "fast3"}:
                    break
                await asyncio.sleep(0.02)
            seen.append(found)
        return _ok(host)

    _fake(monkeypatch, body)
    outcome = run_audit(settings)
    assert seen == [{"fast1", "fast2", "fast3"}]  # committed before the fleet ended
    assert [r.host.name for r in outcome.result.hosts] == names
    with History.open(settings.db, create=False) as h:
        assert [r.host.name for r in h.load_run(outcome.result.run_id).hosts] == names
        assert all(r.finished for r in h.load_run(outcome.result.run_id).hosts)


def test_a_slow_disk_does_not_stall_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"h{i}" for i in range(6)] + ["ticker"]
    settings = _settings(tmp_path, names)
    record_host = History.record_host

    def slow_record(self: History, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.25)  # a commit waiting for a slow disk
        record_host(self, *args, **kwargs)

    monkeypatch.setattr(History, "record_host", slow_record)
    gaps: list[float] = []

    async def body(host: Host) -> HostResult:
        if host.name == "ticker":  # how late the loop wakes it while the others end
            last = time.monotonic()
            for _ in range(60):
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
        else:
            await asyncio.sleep(0.05)
        return _ok(host)

    _fake(monkeypatch, body)
    started = time.monotonic()
    outcome = run_audit(settings)
    assert [r.host.name for r in outcome.result.hosts] == names
    # inline, six commits of 0.25 s would hold the loop for 1.5 s
    assert max(gaps) < 0.2, max(gaps)
    assert time.monotonic() - started >= 7 * 0.25  # every host was still committed
    with History.open(settings.db, create=False) as h:  # type: ignore[arg-type]
        assert all(r.finished for r in h.load_run(outcome.result.run_id).hosts)


def test_a_failed_commit_is_a_history_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["a", "b", "c"]
    settings = _settings(tmp_path, names)
    record_host = History.record_host

    def failing(self: History, run_id: str, result: HostResult, **kwargs: Any) -> None:
        if result.host.name == "a":
            raise HistoryError(f"cannot record host a in {self.path}: disk I/O error")
        record_host(self, run_id, result, **kwargs)

    monkeypatch.setattr(History, "record_host", failing)

    async def body(host: Host) -> HostResult:
        await asyncio.sleep(0.3 if host.name != "a" else 0)  # a fails before b and c end
        return _ok(host)

    _fake(monkeypatch, body)
    with pytest.raises(HistoryError, match="cannot record host a"):
        run_audit(settings)
    assert committed(settings.db) == set()  # type: ignore[arg-type]


def test_resume_still_commits_through_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["a", "b"]
    settings = _settings(tmp_path, names)

    async def interrupted(host: Host) -> HostResult:
        if host.name == "b":
            raise KeyboardInterrupt
        return _ok(host)

    _fake(monkeypatch, interrupted)
    first = run_audit(settings)
    assert first.interrupted and first.status == 130
    assert committed(settings.db) == {"a"}  # type: ignore[arg-type]

    async def fine(host: Host) -> HostResult:
        return _ok(host)

    _fake(monkeypatch, fine)
    second = run_audit(replace(settings, resume=True))
    assert second.resumed_hosts == 1 and not second.interrupted
    assert committed(settings.db) == {"a", "b"}  # type: ignore[arg-type]
