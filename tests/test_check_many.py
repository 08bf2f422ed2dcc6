"""`certaudit check HOST[:PORT]...` and `check --from FILE`: many endpoints, one summary.

Real servers (tests/tlsserver.py, tests/lab/starttls_server.py); each case asserts what
the table, the JSON document or the reports say about every endpoint.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.errors import ConfigError
from audit.service.check_many import ManySettings, endpoint_specs
from tests import pki
from tests.lab import starttls_server
from tests.tlsserver import TlsServer

NAME = "good.test"
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "audit/report/schema/findings.schema.json"


@dataclass(frozen=True)
class World:
    now: Any
    ca: pki.Hierarchy
    cafile: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    now = pki.utcnow()
    ca = pki.hierarchy(now, name="Many")
    cafile = tmp_path_factory.mktemp("many") / "root.pem"
    cafile.write_bytes(ca.root.pem)
    return World(now, ca, cafile)


@pytest.fixture(scope="module")
def three(world: World) -> Iterator[tuple[TlsServer, TlsServer, TlsServer]]:
    """A healthy server, one whose certificate expired 3 days ago, a plaintext one."""
    good = world.ca.leaf(NAME, now=world.now)
    expired = world.ca.leaf(NAME, now=world.now, days_before=400, days_after=-3)
    with (
        TlsServer([good, world.ca.intermediate]) as a,
        TlsServer([expired, world.ca.intermediate]) as b,
        TlsServer(mode="plaintext") as c,
    ):
        yield a, b, c


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def ids(doc: dict[str, Any]) -> set[str]:
    return {f["id"] for f in doc["findings"]}


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------
# Several targets on the command line


def test_three_targets_one_table(world: World, three: tuple[TlsServer, ...]) -> None:
    a, b, c = three
    result = cli(
        "check", a.target, b.target, c.target, "--servername", NAME, "--cafile", str(world.cafile)
    )
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ENDPOINT", "RESULT", "DAYS", "LEFT", "WORST", "FINDING"]
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert rows[a.target].split()[1:] == ["tls", "TLSv1.3", "60", "-"]
    assert rows[b.target].split()[1:] == ["tls", "TLSv1.3", "-3", "critical", "CERT_EXPIRED"]
    assert rows[c.target].split()[1:] == ["plaintext", "-", "high", "TLS_NOT_SPOKEN"]
    assert "3 endpoints, 2 with a usable TLS session" in result.stdout
    out = result.stdout
    assert "2 findings, highest risk first:" in out
    assert out.index("CERT_EXPIRED  " + b.target) < out.index("TLS_NOT_SPOKEN  " + c.target)


def test_three_targets_json_is_one_document(world: World, three: tuple[TlsServer, ...]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    a, b, c = three
    result = cli(
        "check", a.target, b.target, c.target, "--json", "--servername", NAME,
        "--cafile", str(world.cafile),
    )  # fmt: skip
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc["command"] == "check"
    assert [e["target"] for e in doc["endpoints"]] == [a.target, b.target, c.target]
    assert [e["status"] for e in doc["endpoints"]] == ["tls", "tls", "plaintext"]
    assert [e["worst_finding"] for e in doc["endpoints"]] == [
        None,
        "CERT_EXPIRED",
        "TLS_NOT_SPOKEN",
    ]
    assert doc["endpoints"][1]["days_left"] < 0 and doc["endpoints"][2]["days_left"] is None
    assert [h["name"] for h in doc["hosts"]] == [a.target, b.target, c.target]
    assert len(doc["listeners"]) == 3 and ids(doc) == {"CERT_EXPIRED", "TLS_NOT_SPOKEN"}
    risks = [f["risk"] for f in doc["findings"]]
    assert risks == sorted(risks, reverse=True)


def test_all_healthy_exits_zero_and_unreachable_exits_one(
    world: World, three: tuple[TlsServer, ...]
) -> None:
    a = three[0]
    args = ["--servername", NAME, "--cafile", str(world.cafile)]
    assert cli("check", a.target, a.target.replace("127.0.0.1", "localhost"), *args).exit_code == 0
    dead = f"127.0.0.1:{_refused_port()}"
    result = cli("check", a.target, dead, *args, "--timeout", "2")
    assert result.exit_code == 1
    assert "refused" in result.stdout and "HOST_UNREACHABLE" in result.stdout


def test_one_address_many_names(world: World) -> None:
    leaf = world.ca.leaf(NAME, now=world.now, sans=[NAME, "api.test"])
    with TlsServer([leaf, world.ca.intermediate]) as srv:
        listing = f"{srv.target} {NAME}\n{srv.target} api.test\n{srv.target} other.test\n"
        path = Path(world.cafile.parent, "names.txt")
        path.write_text(listing)
        result = cli("check", "--from", str(path), "--json", "--cafile", str(world.cafile))
    doc = json.loads(result.stdout)
    names = [e["name"] for e in doc["endpoints"]]
    assert names == [f"{srv.target} {NAME}", f"{srv.target} api.test", f"{srv.target} other.test"]
    assert {(f["id"], f["host"]) for f in doc["findings"]} == {
        ("HOSTNAME_MISMATCH", f"{srv.target} other.test")
    }


# ---------------------------------------------------------------------------
# --from FILE


def test_a_bad_line_is_an_error_naming_file_and_line_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    listing = tmp_path / "endpoints.txt"
    listing.write_text(
        f"# endpoints\n127.0.0.1:{port}\n\n127.0.0.1:{port} api.test smtp\nexample.test:99999\n"
    )
    with listener:
        result = cli("check", "--from", str(listing))
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"certaudit check: {listing}:5: 'example.test:99999'")
    assert "port must be a number" in result.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("example.test name.test smtp extra", ":1: expected 'host[:port] [servername] [starttls]'"),
        ("example.test - gopher", ":1: STARTTLS 'gopher': expected one of auto, none, smtp"),
        ("[::1", ":1: '[::1': missing ']'"),
        ("ftp://example.test", ":1: 'ftp://example.test': only https://"),
    ],
)
def test_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    listing = tmp_path / "endpoints.txt"
    listing.write_text(line + "\n")
    with pytest.raises(ConfigError) as caught:
        endpoint_specs(ManySettings(from_file=listing))
    assert caught.value.message.startswith(f"{listing}{message}"), caught.value.message


def test_the_file_format(tmp_path: Path) -> None:
    listing = tmp_path / "endpoints.txt"
    listing.write_text(
        "# a comment\n"
        "\n"
        "   \t\n"
        "web.example.test  # a trailing comment\n"
        "mail.example.test:25 - none\n"
        "10.0.0.5:8443 api.example.test\n"
        "[2001:db8::5]:636 ldap.example.test NONE\n"
        "web.example.test\n"  # an exact repeat is dropped
        "db.example.test:5432 - postgres\n"
        "fragment.example.test/#x\n"  # '#' inside a word is not a comment (and is an error)
    )
    with pytest.raises(ConfigError, match=":10: 'fragment.example.test/#x': not a host"):
        endpoint_specs(ManySettings(from_file=listing))
    listing.write_text("\n".join(listing.read_text().splitlines()[:-1]) + "\n")
    specs = endpoint_specs(ManySettings(from_file=listing, starttls="auto", targets=("x.test",)))
    got = [(s.settings.target.label, s.settings.sni, s.settings.starttls, s.source) for s in specs]
    assert got == [
        ("x.test:443", "x.test", "auto", "argument 1"),
        ("web.example.test:443", "web.example.test", "auto", f"{listing}:4"),
        ("mail.example.test:25", "mail.example.test", "none", f"{listing}:5"),
        ("10.0.0.5:8443", "api.example.test", "auto", f"{listing}:6"),
        ("[2001:db8::5]:636", "ldap.example.test", "none", f"{listing}:7"),
        ("db.example.test:5432", "db.example.test", "postgres", f"{listing}:9"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no endpoint to check"),
        (["--from", "/nonexistent/list.txt"], "--from /nonexistent/list.txt: no such file"),
        (["a.test", "b.test", "--concurrency", "0"], "--concurrency 0: expected 1 to 1024"),
        (["a.test", "b.test", "--starttls", "gopher"], "argument 1: --starttls 'gopher'"),
        (["a.test", "b.test:0"], "argument 2: 'b.test:0': port must be a number"),
        (["a.test", "b.test", "--out", "/proc/version/x"], "--out /proc/version/x"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = cli("check", *args)
    assert result.exit_code == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    listing = tmp_path / "empty.txt"
    listing.write_text("# nothing yet\n\n")
    result = cli("check", "--from", str(listing))
    assert result.exit_code == 2 and f"no endpoint to check in {listing}" in result.stderr


# ---------------------------------------------------------------------------
# --out: the same four reports as `run`; --db: recorded like a run


def test_from_file_with_out_writes_the_four_reports(
    world: World, three: tuple[TlsServer, ...], tmp_path: Path
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    a, b, c = three
    folder = tmp_path / "material"
    folder.mkdir()
    leaf = world.ca.leaf(NAME, now=world.now, days_after=5)
    (folder / "chain.pem").write_bytes(pki.pem_bundle(leaf, world.ca.intermediate))
    (folder / "key.pem").write_bytes(leaf.key_pem())
    smtp, smtp_port = starttls_server.start(
        "smtp", str(folder / "chain.pem"), str(folder / "key.pem")
    )
    listing = tmp_path / "endpoints.txt"
    listing.write_text(
        f"{a.target} {NAME}\n{b.target} {NAME}\n{c.target} -  none\n"
        f"127.0.0.1:{smtp_port} {NAME} smtp\n127.0.0.1:{_refused_port()}\n"
    )
    out = tmp_path / "reports"
    try:
        result = cli(
            "check", "--from", str(listing), "--out", str(out), "--cafile", str(world.cafile),
            "--timeout", "3",
        )  # fmt: skip
    finally:
        smtp.terminate()
        smtp.wait(5)
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "findings.json", "metrics.prom", "report.html", "report.xlsx",
    ]  # fmt: skip
    for name in ("findings.json", "report.html", "report.xlsx", "metrics.prom"):
        assert f"wrote {out / name}" in result.stdout
    doc = json.loads((out / "findings.json").read_text())
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert len(doc["hosts"]) == 5 and doc["inventory"] == f"check --from {listing}"
    by_host = {h["name"]: h for h in doc["hosts"]}
    assert by_host[f"127.0.0.1:{smtp_port}"]["source"] == f"{listing}:4"
    assert [h["outcome"] for h in doc["hosts"]].count("unreachable") == 1
    assert ids(doc) == {"CERT_EXPIRED", "CERT_EXPIRING", "TLS_NOT_SPOKEN", "HOST_UNREACHABLE"}
    expiring = next(f for f in doc["findings"] if f["id"] == "CERT_EXPIRING")
    assert expiring["host"] == f"127.0.0.1:{smtp_port}"
    assert "openssl s_client -starttls smtp -connect" in expiring["diagnose"]
    smtp_listener = next(li for li in doc["listeners"] if li["port"] == smtp_port)
    assert smtp_listener["starttls"] == "smtp"
    assert "CERT_EXPIRED" in (out / "report.html").read_text()
    assert "certaudit" in (out / "metrics.prom").read_text()


def test_db_records_the_check_as_a_run(
    world: World, three: tuple[TlsServer, ...], tmp_path: Path
) -> None:
    a, b, _ = three
    db = tmp_path / "history.db"
    args = ["--servername", NAME, "--cafile", str(world.cafile), "--db", str(db)]
    assert cli("check", a.target, b.target, *args).exit_code == 1
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT status, inventory FROM runs").fetchall()
        hosts = conn.execute("SELECT name FROM hosts ORDER BY seq").fetchall()
    assert runs == [("complete", f"check {a.target} {b.target}")]
    assert [h[0] for h in hosts] == [a.target, b.target]
    listed = cli("report", "--list", "--db", str(db))
    assert listed.exit_code == 0 and f"check {a.target} {b.target}" in listed.stdout


def test_without_db_nothing_is_recorded(
    world: World, three: tuple[TlsServer, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CERTAUDIT_DB", str(tmp_path / "default.db"))
    a, b, _ = three
    cli("check", a.target, b.target, "--servername", NAME, "--out", str(tmp_path / "out"))
    assert not (tmp_path / "default.db").exists()
    assert not (tmp_path / ".local").exists()


def test_hostile_names_in_the_table_are_inert(world: World, tmp_path: Path) -> None:
    with TlsServer(mode="banner", banner=b"\x1b]0;pwned\x07220 hi\r\n") as srv:
        result = cli("check", srv.target, srv.target.replace("127.0.0.1", "localhost"))
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b]0;pwned\\x07220 hi" in result.stdout


def test_db_keeps_an_interrupted_check_as_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import audit.service.check_many as check_many_module

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(check_many_module, "_check_all", interrupted)
    db = tmp_path / "history.db"
    with pytest.raises(KeyboardInterrupt):
        check_many_module.check_many(ManySettings(targets=("a.test", "b.test"), db=db))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("partial",)]
