"""`certaudit export`: every table of a stored run (the report sample, hostile texts and
all) round-trips through the csv module and through json, CSV cells are neutralised as in
the workbook, and the migration view groups what moves together."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app, register
from audit.errors import AuditError
from audit.history import History
from audit.model import AuditResult, KeyFile
from audit.report.xlsx import FORMULA_PREFIXES
from audit.service.export import TABLES, WHATS, _json_value, csv_cell, export_stored
from audit.service.migration import keys_beside
from audit.service.stored import load_analysed, open_history
from tests.history.sample import store
from tests.report import sample as sample_module


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AuditResult]:
    """The report sample recorded in a history database, and the run as read back."""
    db = tmp_path_factory.mktemp("export") / "history.db"
    with History.open(db) as h:
        run_id = store(h, sample_module.build().result)
    with open_history(db) as h:
        return db, load_analysed(h, run_id)


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def _jsonl(data: bytes) -> list[dict[str, object]]:
    text = data.decode("ascii")
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("what", WHATS)
def test_every_table_round_trips_as_csv_and_jsonl(
    stored: tuple[Path, AuditResult], what: str
) -> None:
    db, result = stored
    table = TABLES[what](result)
    assert table.rows, f"the sample has {what}"
    rows = _csv(export_stored(db, None, what, "csv").data)
    assert rows == [{c: csv_cell(row[c]) for c in table.columns} for row in table.rows]
    assert list(rows[0]) == list(table.columns)
    lines = _jsonl(export_stored(db, None, what, "jsonl").data)
    assert lines == [{c: _json_value(row[c]) for c in table.columns} for row in table.rows]


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_no_csv_cell_is_a_formula_and_hostile_texts_survive_in_jsonl(
    stored: tuple[Path, AuditResult],
) -> None:
    db, _ = stored
    for what in WHATS:
        for row in _csv(export_stored(db, None, what, "csv").data):
            for cell in row.values():
                if _number(cell):  # a negative number is a number, not a formula
                    continue
                assert not cell.lstrip(" ").startswith(FORMULA_PREFIXES), (what, cell)
                assert "\x1b" not in cell and "\u202e" not in cell
    findings = export_stored(db, None, "findings", "jsonl").data.decode("ascii")
    certs = export_stored(db, None, "certificates", "csv").data.decode("utf-8")
    texts = [str(v) for x in findings.splitlines() for v in json.loads(x).values()]
    assert any(sample_module.HYPERLINK in t for t in texts)  # JSON keeps the text exactly
    assert "'" + sample_module.HYPERLINK.replace('"', '""') in certs


def test_the_migration_view_keeps_what_moves_together(stored: tuple[Path, AuditResult]) -> None:
    db, _ = stored
    rows = _jsonl(export_stored(db, None, "migration", "jsonl").data)
    keys = [
        (str(r["issuer"]), str(r["common_name"] or ""), r["cert_sha256"], r["host"]) for r in rows
    ]
    assert keys == sorted(keys)
    wildcard = [r for r in rows if r["common_name"] == "*.example.com"]
    assert [r["host"] for r in wildcard] == ["lb01", "web01", "web02"]
    by_host = {r["host"]: r for r in wildcard}
    web01 = by_host["web01"]
    assert web01["files"] == ["/etc/nginx/tls/wildcard.pem"]
    assert web01["listeners"] == ["10.0.0.11:443 (www.example.com)"]
    assert web01["config_lines"] == ["/etc/nginx/sites-enabled/www:12"]
    assert web01["key_files"] == ["/etc/nginx/tls/wildcard.key"]
    assert web01["key_modes"] == ["0600 root:root"]
    assert by_host["lb01"]["key_files"] == ["/etc/haproxy/certs/example.pem"]  # combined file
    assert all(r["private_ca"] is True for r in wildcard)  # the sample's CA is not Mozilla's
    intermediate = [r for r in rows if r["common_name"] == "Example Intermediate CA"]
    assert intermediate and all(r["key_files"] == [] for r in intermediate)
    assert not any(r["host"] == "db01" and "ca-certificates" in str(r["files"]) for r in rows)


@pytest.mark.parametrize(
    ("cert", "key"),
    [
        ("/etc/ssl/certs/app.pem", "/etc/ssl/private/app.key"),
        ("/etc/ssl/app.crt", "/etc/ssl/private/app.key"),
        ("/etc/pki/tls/app.example.com.crt", "/etc/pki/tls/app.example.com.key"),
        ("/etc/letsencrypt/live/x/fullchain.pem", "/etc/letsencrypt/live/x/privkey.pem"),
        ("/etc/haproxy/site.pem", "/etc/haproxy/site.pem"),
    ],
)
def test_keys_are_found_beside_their_certificate(cert: str, key: str) -> None:
    keys = {
        p: KeyFile("h", p, "root", "root", 0o600)
        for p in (key, "/etc/ssl/private/other.key", "/srv/app.key")
    }
    assert [k.path for k in keys_beside(cert, keys)] == [key]


def test_the_cli_writes_stdout_or_a_file(stored: tuple[Path, AuditResult], tmp_path: Path) -> None:
    db, result = stored
    register("export")
    runner = CliRunner()
    out = runner.invoke(app, ["export", "--db", str(db), "--what", "keys", "--format", "jsonl"])
    assert out.exit_code == 0, out.output
    assert len(_jsonl(out.stdout_bytes)) == sum(len(r.key_files) for r in result.hosts)
    target = tmp_path / "certs.csv"
    args = ["export", "--db", str(db), "--run", result.run_id, "--what", "certificates"]
    out = runner.invoke(app, [*args, "--out", str(target)])
    assert out.exit_code == 0 and f"-> {target}" in out.output
    assert _csv(target.read_bytes())[0].keys() >= {"sha256", "deployed", "kinds"}
    out = runner.invoke(app, ["export", "--db", str(db), "--run", "nope", "--what", "keys"])
    assert out.exit_code == 2
    with pytest.raises(AuditError):
        export_stored(tmp_path / "missing.db", None, "keys", "csv")
