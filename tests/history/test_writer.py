"""HostWriter: hosts queued from one thread, committed by another, in order; a failure
stops it and is raised where the caller will see it."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from audit.errors import HistoryError
from audit.history import History, HostWriter
from audit.model import CertInfo, Host, HostOutcome, HostResult
from tests.history.sample import rich_host


def test_hosts_are_committed_in_order_from_another_thread(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    template = rich_host(pkiset, "template")
    hosts = [replace(template, host=replace(template.host, name=f"h{i}")) for i in range(8)]
    threads: set[str] = set()
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        with HostWriter(
            h, run_id, on_commit=lambda r: threads.add(threading.current_thread().name)
        ) as writer:
            for i in reversed(range(8)):
                writer.put(hosts[i], i)
        assert writer.committed == 8
        h.finish_run(run_id, partial=False)
        assert h.load_run(run_id).hosts == tuple(hosts)
    assert threads == {"certaudit-history-writer"}


def test_a_failed_commit_stops_the_writer_and_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_host = History.record_host

    def failing(self: History, run_id: str, result: HostResult, **kw: Any) -> None:
        if result.host.name == "b":
            raise HistoryError("cannot record host b: database or disk is full")
        record_host(self, run_id, result, **kw)

    monkeypatch.setattr(History, "record_host", failing)
    hosts = [HostResult(Host(n, n), HostOutcome.OK) for n in "abcd"]
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        writer = HostWriter(h, run_id)
        for r in hosts[:3]:
            writer.put(r)
        with pytest.raises(HistoryError, match="disk is full"):
            writer.close()
        with pytest.raises(HistoryError, match="disk is full"):
            writer.put(hosts[3])  # a stopped writer takes nothing more
        with pytest.raises(HistoryError, match="disk is full"):
            writer.close()  # closing again raises the same error
        assert [r.host.name for r in h.load_run(run_id).hosts] == ["a"]  # c was not written


def test_an_unexpected_error_becomes_a_history_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: History, run_id: str, result: HostResult, **kw: Any) -> None:
        raise ValueError("listeners: row lacks ['port']")

    monkeypatch.setattr(History, "record_host", broken)
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        writer = HostWriter(h, run_id)
        writer.put(HostResult(Host("a", "a"), HostOutcome.OK))
        with pytest.raises(HistoryError, match="cannot record host a in .*ValueError"):
            writer.close()


def test_an_exception_in_the_block_still_commits_what_was_queued(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.db") as h:
        run_id = h.begin_run("inv", {})
        with pytest.raises(KeyboardInterrupt), HostWriter(h, run_id) as writer:
            writer.put(HostResult(Host("a", "a"), HostOutcome.OK))
            raise KeyboardInterrupt
        assert [r.host.name for r in h.load_run(run_id).hosts] == ["a"]
        with pytest.raises(HistoryError, match="closed"):
            writer.put(HostResult(Host("b", "b"), HostOutcome.OK))
