"""`certaudit report` and `certaudit diff` over a real history database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.history import History
from audit.model import AuditResult
from tests.report import sample as sample_module


def _store(db: Path, *runs: AuditResult) -> list[str]:
    ids = []
    with History.open(db) as history:
        for run in runs:
            run_id = history.begin_run(
                run.inventory, {"hosts": len(run.hosts)}, started_at=run.started_at
            )
            for r in run.hosts:
                history.record_host(run_id, r)
            history.record_findings(run_id, run.findings)
            history.finish_run(run_id, partial=run.partial, finished_at=run.finished_at)
            ids.append(run_id)
    return ids


@pytest.fixture(scope="module")
def db(
    tmp_path_factory: pytest.TempPathFactory, sample: sample_module.Sample
) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("history") / "history.db"
    return path, _store(path, sample.previous, sample.result)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_one_error(code: int, stderr: str, words: str) -> None:
    assert code == 2
    assert "Traceback" not in stderr
    first = stderr.splitlines()[0]
    assert first.startswith("certaudit: error: ") and words in first, stderr


def test_report_rerenders_the_latest_run(db: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, ids = db
    code, out, _ = run("report", "--db", str(path), "--out", str(tmp_path))
    assert code == 0, out
    assert f"run {ids[1]} (compared with {ids[0]})" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "findings.json",
        "metrics.prom",
        "report.html",
        "report.xlsx",
    ]
    doc = json.loads((tmp_path / "findings.json").read_text())
    assert doc["run_id"] == ids[1] and len(doc["findings"]) == 20
    html = (tmp_path / "report.html").read_text()
    assert html.count('data-new="1"') == 2 and 'class="resolved-row"' in html


def test_report_a_chosen_run_without_comparison(db: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, ids = db
    code, out, _ = run(
        "report", "--db", str(path), "--run", ids[0], "--out", str(tmp_path), "--no-compare"
    )
    assert code == 0 and "compared" not in out
    html = (tmp_path / "report.html").read_text()
    assert 'id="resolved"' not in html and ids[0] in html


def test_report_list(db: tuple[Path, list[str]]) -> None:
    path, ids = db
    code, out, _ = run("report", "--db", str(path), "--list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [ids[1], ids[0]]
    assert "5/8 hosts audited" in lines[0] and "\x1b" not in out


def test_diff_tells_renewal_from_material_change(db: tuple[Path, list[str]]) -> None:
    path, ids = db
    code, out, _ = run("diff", "--db", str(path))
    assert code == 0
    assert f"{ids[0]} " in out.splitlines()[0] and f"-> {ids[1]}" in out.splitlines()[0]
    assert "findings: 2 new, 1 resolved, 1 changed severity" in out
    assert "TLS_NOT_SPOKEN" in out and "CHAIN_ORDER" in out and "(was high)" in out
    assert "1 renewed (routine), 1 changed (material)" in out
    renewed = next(line for line in out.splitlines() if line.strip().startswith("renewed"))
    assert "/etc/ssl/api/fullchain.pem" in renewed and "2025-06-12" in renewed
    changed = next(line for line in out.splitlines() if line.strip().startswith("CHANGED"))
    assert "/etc/ssl/legacy.pem" in changed and "issuer" in changed and "names" in changed


def test_diff_json(db: tuple[Path, list[str]]) -> None:
    path, ids = db
    code, out, _ = run("diff", ids[0], ids[1], "--db", str(path), "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["old_run"], doc["new_run"]) == (ids[0], ids[1])
    assert [f["id"] for f in doc["findings"]["new"]] == ["TLS_NOT_SPOKEN", "CERT_EXPIRING"]
    assert [f["id"] for f in doc["findings"]["resolved"]] == ["CHAIN_ORDER"]
    assert doc["findings"]["changed"][0]["old_severity"] == "high"
    (renewed,) = doc["certificates"]["renewed"]
    assert renewed["routine"] is True and renewed["path"] == "/etc/ssl/api/fullchain.pem"
    (changed,) = doc["certificates"]["changed"]
    assert changed["routine"] is False and {"issuer", "names"} <= set(changed["changes"])
    assert changed["old"]["dns_names"] == ["old-legacy.example.com"]
    assert "\x1b" not in out and "\u202e" not in out  # terminal-safe JSON


def test_diff_same_run_is_empty(db: tuple[Path, list[str]]) -> None:
    path, ids = db
    code, out, _ = run("diff", ids[1], "--db", str(path))
    assert code == 0 and "0 new, 0 resolved" in out and "0 renewed" in out


def test_hostile_texts_are_inert_on_the_terminal(db: tuple[Path, list[str]]) -> None:
    path, ids = db
    code, out, _ = run("diff", "--db", str(path))
    assert "\x1b" not in out and "\u202e" not in out and "\u2028" not in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["report", "--run", "nope"], "no run nope"),
        (["diff", "nope"], "no run nope"),
        (["diff", "nope", "nope2"], "no run"),
    ],
)
def test_unknown_run_is_one_clear_error(
    db: tuple[Path, list[str]], args: list[str], words: str
) -> None:
    path, _ = db
    code, _, err = run(*args, "--db", str(path))
    assert_one_error(code, err, words)


@pytest.mark.parametrize("command", [["report"], ["diff"]])
def test_missing_database_is_one_clear_error(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "none.db"
    code, _, err = run(*command, "--db", str(missing))
    assert_one_error(code, err, "no history database")
    assert not missing.exists()  # reading never creates a database


@pytest.mark.parametrize("command", [["report"], ["diff"]])
def test_empty_history_is_one_clear_error(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "empty.db"
    History.open(path).close()
    code, _, err = run(*command, "--db", str(path))
    assert_one_error(code, err, "no runs stored")


def test_diff_needs_two_runs(tmp_path: Path, sample: sample_module.Sample) -> None:
    path = tmp_path / "one.db"
    (only,) = _store(path, sample.result)
    code, _, err = run("diff", "--db", str(path))
    assert_one_error(code, err, f"run {only} is the first stored run")


def test_unwritable_output_is_one_clear_error(db: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, _ = db
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run("report", "--db", str(path), "--out", str(blocker / "out"))
    assert_one_error(code, err, "cannot write the reports")
