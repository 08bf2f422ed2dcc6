"""--shard K/N partitions the inventory stably; `merge` joins the shards' runs into one
run equal to an unsharded run of the same fleet (fleet-wide facts such as blast radius
included), and refuses sources that are not the shards of one audit. The SSH side is a
fake `audit_host`; inventory, runner, history, analysis and reports are real."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit import runner
from audit.certparse import parse_bytes
from audit.cli import app
from audit.errors import ConfigError, HistoryError
from audit.history import History
from audit.model import (
    AuditResult,
    CertInfo,
    CertLocation,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
)
from audit.service.merge import MergeSettings, merge_runs
from audit.service.run import RunSettings, run_audit
from audit.service.shard import Shard, parse_shard, shard_of
from audit.service.stored import StoredSettings
from tests import pki

NAMES = [f"web{i:02d}" for i in range(10)] + ["db1", "mail.example.test", "10.0.0.7"]


# --------------------------------------------------------------------------- partition


def test_the_partition_is_stable_and_covers_every_host_once() -> None:
    # sha256-based: the same on every machine, process and Python version
    assert [shard_of(n, 4) for n in ("web01", "web02", "db1", "mail.example.test")] == [
        0,
        0,
        3,
        3,
    ]
    assert shard_of("host0001.example.test", 7) == 0 and shard_of("na\udcefve", 4) == 2
    names = [f"host{i:04d}.example.test" for i in range(2000)]
    for n in (1, 3, 4, 16):
        shards = [Shard(k, n) for k in range(n)]
        owners = [[s for s in shards if s.holds(name)] for name in names]
        assert all(len(o) == 1 for o in owners)
        sizes = Counter(o[0].index for o in owners)
        assert min(sizes.values()) > 0.8 * len(names) / n  # roughly even


@pytest.mark.parametrize("text", ["4/4", "1/0", "a/b", "-1/4", "1-4", "1/4/2", ""])
def test_a_bad_shard_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)
    assert parse_shard(" 3/4 ") == Shard(3, 4) and str(Shard(0, 1)) == "0/1"


# --------------------------------------------------------------------------- a fake fleet

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _info(data: bytes) -> CertInfo:
    cert = parse_bytes(data)[0].cert
    assert cert is not None
    return cert


@pytest.fixture(scope="module")
def certs() -> dict[str, CertInfo]:
    ca = pki.hierarchy(NOW, "Shard")
    out = {"wildcard": _info(ca.leaf("*.example.test", now=NOW, days_after=5).pem)}
    out["inter"] = _info(ca.intermediate.pem)
    for name in NAMES:
        out[name] = _info(pki.issue(name, now=NOW, days_after=200).pem)
    return out


def _fake_fleet(monkeypatch: pytest.MonkeyPatch, certs: dict[str, CertInfo]) -> list[str]:
    """Every host holds the same expiring wildcard (its blast radius is the fleet) and a
    self-signed certificate of its own; "db1" cannot be reached. Returns the hosts the
    fake was asked to audit."""
    asked: list[str] = []

    async def audit_host(host: Host, *args: Any, **kwargs: Any) -> HostResult:
        asked.append(host.name)
        if host.name == "db1":
            return HostResult(host, HostOutcome.UNREACHABLE, "connection refused", NOW, NOW)
        found = (
            FoundCert(certs["wildcard"], CertLocation(host.name, "/etc/ssl/wild.pem")),
            FoundCert(certs["inter"], CertLocation(host.name, "/etc/ssl/wild.pem", index=1)),
            FoundCert(certs[host.name], CertLocation(host.name, "/etc/ssl/own.pem")),
        )
        return HostResult(host, HostOutcome.OK, "", NOW, NOW, certificates=found)

    monkeypatch.setattr(runner, "audit_host", audit_host)
    return asked


def _settings(tmp_path: Path, name: str, **kw: Any) -> RunSettings:
    inventory = tmp_path / "hosts.ini"
    if not inventory.exists():
        inventory.write_text("[all]\n" + "".join(f"{n} ansible_host=192.0.2.9\n" for n in NAMES))
        (tmp_path / "known_hosts").write_text("")
    return RunSettings(
        inventory=inventory,
        out=tmp_path / f"out-{name}",
        db=tmp_path / f"{name}.db",
        known_hosts=tmp_path / "known_hosts",
        ssh_config=(Path("/dev/null"),),
        min_coverage=0,
        **kw,
    )


def _shards(tmp_path: Path, n: int) -> list[Path]:
    dbs = []
    for k in range(n):
        settings = _settings(tmp_path, f"shard-{k}", shard=Shard(k, n))
        run_audit(settings)
        assert settings.db is not None
        dbs.append(settings.db)
    return dbs


def _shape(result: AuditResult) -> dict[str, Any]:
    return {
        "hosts": [(r.host.name, r.outcome, r.certificates) for r in result.hosts],
        "findings": sorted((f.id, f.host, f.subject, f.severity, f.why) for f in result.findings),
    }


def test_four_shards_merged_equal_one_unsharded_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: dict[str, CertInfo]
) -> None:
    asked = _fake_fleet(monkeypatch, certs)
    whole = run_audit(_settings(tmp_path, "whole")).result
    asked.clear()
    dbs = _shards(tmp_path, 4)
    assert sorted(asked) == sorted(NAMES)  # every host audited once, by its own shard
    with History.open(dbs[0], create=False) as h:
        run_id = h.latest_run_id()
        assert run_id is not None
        assert StoredSettings.from_dict(h.run_settings(run_id)).shard == "0/4"
        mine = [n for n in NAMES if shard_of(n, 4) == 0]
        assert h.host_positions(run_id) == {n: NAMES.index(n) for n in mine}
    out = tmp_path / "merged-out"
    merged = merge_runs(MergeSettings(tuple(dbs), tmp_path / "merged.db", out=out))
    assert merged.status == 0 and not merged.missing and not merged.result.partial
    assert _shape(merged.result) == _shape(whole)
    assert [r.host.name for r in merged.result.hosts] == NAMES  # inventory order
    blast = {f.why for f in merged.result.findings if f.id == "CERT_EXPIRING"}
    assert blast == {f.why for f in whole.findings if f.id == "CERT_EXPIRING"}
    assert all(f"deployed in {len(NAMES) - 1} places" in why for why in blast), blast
    assert sorted(p.name for p in out.iterdir()) == [
        "findings.json",
        "metrics.prom",
        "report.html",
        "report.xlsx",
    ]
    with History.open(tmp_path / "merged.db", create=False) as h:
        assert _shape(h.load_run(merged.result.run_id)) == _shape(whole)
        stored = StoredSettings.from_dict(h.run_settings(merged.result.run_id))
        assert sorted(stored.merged_from) == sorted(s.run_id for s in merged.sources)


def test_merge_refuses_what_is_not_one_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: dict[str, CertInfo]
) -> None:
    _fake_fleet(monkeypatch, certs)
    dbs = _shards(tmp_path, 3)
    into = tmp_path / "merged.db"
    with pytest.raises(ConfigError, match=r"shard\(s\) 2/3 missing"):
        merge_runs(MergeSettings(tuple(dbs[:2]), into))
    with pytest.raises(ConfigError, match="given twice"):
        merge_runs(MergeSettings((dbs[0], dbs[0], dbs[1]), into))
    with pytest.raises(ConfigError, match="is one of the shard databases"):
        merge_runs(MergeSettings(tuple(dbs), dbs[0]))
    run_audit(_settings(tmp_path, "other", shard=Shard(2, 3)))  # 2/3 again, elsewhere
    with pytest.raises(ConfigError, match="shard 2/3 is in"):
        merge_runs(MergeSettings((*dbs, tmp_path / "other.db"), into))
    whole = _settings(tmp_path, "whole")
    run_audit(whole)
    with pytest.raises(ConfigError, match="host web"):
        merge_runs(MergeSettings((dbs[0], whole.db), into))  # type: ignore[arg-type]
    if into.exists():
        with History.open(into) as h:
            assert h.list_runs() == []  # nothing was recorded

    gone = tmp_path / "never-ran.db"  # a shard whose pod never ran has no database
    partial = merge_runs(MergeSettings((*dbs[:2], gone), into, allow_missing=True))
    assert partial.missing == ("2/3",) and partial.result.partial and partial.status == 3
    assert any(str(gone) in n and "no history database" in n for n in partial.notices)
    with pytest.raises(ConfigError, match="already merged"):
        merge_runs(MergeSettings(tuple(dbs), into))
    # shards 0 and 1 did not run since: with --allow-missing they are left out
    rest = merge_runs(MergeSettings(tuple(dbs), into, allow_missing=True))
    assert rest.missing == ("0/3", "1/3") and rest.result.partial
    assert [s.db for s in rest.sources] == [dbs[2]]
    assert sum("already merged" in n for n in rest.notices) == 2


def test_a_running_shard_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: dict[str, CertInfo]
) -> None:
    _fake_fleet(monkeypatch, certs)
    dbs = _shards(tmp_path, 2)
    with History.open(dbs[1]) as h:
        h.begin_run(str(tmp_path / "hosts.ini"), {"shard": "1/2"})
        with pytest.raises(HistoryError, match="still running"):
            merge_runs(MergeSettings(tuple(dbs), tmp_path / "merged.db"))


def test_an_empty_shard_is_a_complete_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: dict[str, CertInfo]
) -> None:
    asked = _fake_fleet(monkeypatch, certs)
    n = 64  # more shards than hosts: some hold none
    empty = next(k for k in range(n) if all(shard_of(name, n) != k for name in NAMES))
    outcome = run_audit(_settings(tmp_path, "empty", shard=Shard(empty, n)))
    assert asked == [] and outcome.result.hosts == () and outcome.status == 0


def test_resume_keeps_to_its_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: dict[str, CertInfo]
) -> None:
    async def interrupted(host: Host, *args: Any, **kwargs: Any) -> HostResult:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "audit_host", interrupted)
    settings = _settings(tmp_path, "s", shard=Shard(0, 2))
    assert run_audit(settings).interrupted
    with pytest.raises(ConfigError, match="audited shard 0/2, not shard 1/2"):
        run_audit(replace(settings, shard=Shard(1, 2), resume=True))
    with pytest.raises(ConfigError, match="not one shard"):
        run_audit(replace(settings, shard=None, resume=True))
    _fake_fleet(monkeypatch, certs)
    done = run_audit(replace(settings, resume=True))
    assert {r.host.name for r in done.result.hosts} == {n for n in NAMES if shard_of(n, 2) == 0}


def test_merge_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: dict[str, CertInfo]
) -> None:
    _fake_fleet(monkeypatch, certs)
    dbs = [str(p) for p in _shards(tmp_path, 2)]
    into, out = tmp_path / "merged.db", tmp_path / "reports"
    runner_ = CliRunner()
    done = runner_.invoke(app, ["merge", *dbs, "--into", str(into), "--out", str(out)])
    assert done.exit_code == 0, done.stderr
    assert "shard 0/2: run" in done.stdout and "shard 1/2: run" in done.stdout
    assert f"{len(NAMES) - 1}/{len(NAMES)} hosts audited" in done.stdout
    assert (out / "findings.json").exists()
    again = runner_.invoke(app, ["merge", *dbs, "--into", str(into)])
    assert again.exit_code == 2 and "already merged" in again.stderr
    assert "Traceback" not in again.stderr
    shard = runner_.invoke(app, ["run", str(tmp_path / "hosts.ini"), "--shard", "2/2"])
    assert shard.exit_code == 2 and "--shard" in shard.stderr
