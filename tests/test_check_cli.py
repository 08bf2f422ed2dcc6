"""`certaudit check` and `certaudit inspect` end to end, against real TLS servers.

One listener per case, table-driven through `check --json`: each case asserts its finding
ID is raised and that no other ID is (so a healthy server has no finding at all). Most
cases run in-process (typer's CliRunner); a few run the real `python -m audit check`
subprocess, as an operator would.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.errors import ConfigError
from audit.service.check import Target, parse_target
from tests import pki
from tests.tlsserver import OpenSslServer, TlsServer

NAME = "good.test"
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Pki:
    now: dt.datetime
    ca: pki.Hierarchy
    other: pki.Hierarchy
    client_root: pki.Issued
    cafile: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    now = pki.utcnow()
    ca = pki.hierarchy(now, name="Check")
    folder = tmp_path_factory.mktemp("check")
    cafile = folder / "root.pem"
    cafile.write_bytes(ca.root.pem)
    return Pki(
        now=now,
        ca=ca,
        other=pki.hierarchy(now, name="Unknown"),
        client_root=pki.issue("Client Root CA", now=now, ca=True, fresh_key=True),
        cafile=cafile,
    )


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def check_json(target: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("check", target, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def subprocess_check(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit", "check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def ids(doc: dict[str, Any]) -> set[str]:
    return {f["id"] for f in doc["findings"]}


# ---------------------------------------------------------------------------
# The table: one listener per case


@dataclass(frozen=True)
class Case:
    name: str
    server: Callable[[Pki], TlsServer | OpenSslServer]
    expected: frozenset[str]
    servername: str = NAME
    cafile: bool = True
    exit_code: int = 1
    status: str = "tls"
    extra: dict[str, Any] = field(default_factory=dict)


def _leaf(w: Pki, **kw: Any) -> pki.Issued:
    return w.ca.leaf(NAME, now=w.now, **kw)


WEAK = "DEFAULT:@SECLEVEL=0"
CASES = [
    Case("good", lambda w: TlsServer([_leaf(w), w.ca.intermediate]), frozenset(), exit_code=0),
    Case(
        "expired",
        lambda w: TlsServer([_leaf(w, days_before=400, days_after=-3), w.ca.intermediate]),
        frozenset({"CERT_EXPIRED"}),
        extra={"severity": "critical"},
    ),
    Case(
        "expiring-5-days",
        lambda w: TlsServer([_leaf(w, days_after=5), w.ca.intermediate]),
        frozenset({"CERT_EXPIRING"}),
        extra={"severity": "critical"},
    ),
    Case(
        "not-yet-valid",
        lambda w: TlsServer([_leaf(w, days_before=-5, days_after=90), w.ca.intermediate]),
        frozenset({"CERT_NOT_YET_VALID"}),
    ),
    Case(
        "no-intermediate",
        lambda w: TlsServer([_leaf(w)]),
        frozenset({"CHAIN_INCOMPLETE"}),
    ),
    Case(
        "unknown-root",
        lambda w: TlsServer([w.other.leaf(NAME, now=w.now), w.other.intermediate]),
        frozenset({"CHAIN_UNTRUSTED"}),
    ),
    Case(
        "wrong-name",
        lambda w: TlsServer([_leaf(w), w.ca.intermediate]),
        frozenset({"HOSTNAME_MISMATCH"}),
        servername="api.test",
    ),
    Case(
        "self-signed",
        lambda w: TlsServer([pki.issue(NAME, now=w.now)]),
        frozenset({"CERT_SELF_SIGNED"}),
    ),
    Case(
        "plaintext-http",
        lambda w: TlsServer(mode="plaintext"),
        frozenset({"TLS_NOT_SPOKEN"}),
        status="plaintext",
    ),
    Case(
        "client-cert-tls1.2",
        lambda w: OpenSslServer([_leaf(w), w.ca.intermediate], client_ca=w.client_root, tls="1.2"),
        frozenset({"CLIENT_CERT_REQUIRED"}),
        exit_code=0,
        status="client_cert_required",
        extra={"ca_names": ["CN=Client Root CA,O=certaudit test"]},
    ),
    Case(
        "client-cert-tls1.3",
        lambda w: OpenSslServer([_leaf(w), w.ca.intermediate], client_ca=w.client_root, tls="1.3"),
        frozenset({"CLIENT_CERT_REQUIRED"}),
        exit_code=0,
        status="client_cert_required",
        extra={"ca_names": ["CN=Client Root CA,O=certaudit test"]},
    ),
    Case(
        "client-cert-python-tls1.3",
        lambda w: TlsServer([_leaf(w), w.ca.intermediate], client_ca=w.client_root),
        frozenset({"CLIENT_CERT_REQUIRED"}),
        exit_code=0,
        status="client_cert_required",
        extra={"ca_names": []},
    ),
    Case(
        "cn-only",
        lambda w: TlsServer([_leaf(w, sans=[]), w.ca.intermediate]),
        frozenset({"SAN_MISSING"}),
    ),
    Case(
        "rsa-1024",
        lambda w: TlsServer(
            [_leaf(w, key_kind="rsa", key_bits=1024), w.ca.intermediate], ciphers=WEAK
        ),
        frozenset({"WEAK_KEY"}),
    ),
    Case(
        "sha1-signed",
        lambda w: TlsServer([_leaf(w, hash_name="sha1"), w.ca.intermediate], ciphers=WEAK),
        frozenset({"WEAK_SIGNATURE"}),
    ),
    Case(
        "valid-825-days",
        lambda w: TlsServer([_leaf(w, days_before=1, days_after=824), w.ca.intermediate]),
        frozenset({"VALIDITY_TOO_LONG"}),
        exit_code=0,
    ),
]


def _assert_diagnose(finding: dict[str, Any], port: int, servername: str) -> None:
    """A real command with this case's values filled in, no placeholder left."""
    diagnose = finding["diagnose"]
    assert "{" not in diagnose, diagnose
    assert diagnose.startswith(("openssl", "echo | openssl")), diagnose
    assert f"-connect 127.0.0.1:{port}" in diagnose, diagnose
    assert f"-servername {servername}" in diagnose, diagnose
    assert finding["fix"] and "{" not in finding["fix"], finding["fix"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_case(world: Pki, case: Case) -> None:
    args = ["--servername", case.servername]
    if case.cafile:
        args += ["--cafile", str(world.cafile)]
    with case.server(world) as srv:
        code, doc = check_json(srv.target, *args)
    assert ids(doc) == case.expected, [(f["id"], f["detail"]) for f in doc["findings"]]
    assert code == case.exit_code
    (listener,) = doc["listeners"]
    (probe,) = listener["probes"]
    assert probe["status"] == case.status
    assert doc["schema_version"] and doc["command"] == "check"
    risks = [f["risk"] for f in doc["findings"]]
    assert risks == sorted(risks, reverse=True)
    for finding in doc["findings"]:
        _assert_diagnose(finding, srv.port, case.servername)
        assert finding["host"] == srv.target
        assert finding["detail"]
        if "severity" in case.extra:
            assert finding["severity"] == case.extra["severity"]
    if "ca_names" in case.extra:
        assert probe["acceptable_ca_names"] == case.extra["ca_names"]
    if case.status in ("tls", "client_cert_required"):
        assert probe["chain"] and probe["chain"][0] in {c["sha256"] for c in doc["certificates"]}


# ---------------------------------------------------------------------------
# Through the real command line (a subprocess, as the operator runs it)


def test_subprocess_healthy_no_findings(world: Pki) -> None:
    with TlsServer([_leaf(world), world.ca.intermediate]) as srv:
        proc = subprocess_check(srv.target, "--servername", NAME, "--cafile", str(world.cafile))
    assert proc.returncode == 0, proc.stderr
    assert "no findings" in proc.stdout
    assert "TLSv1.3" in proc.stdout
    assert "CN=good.test,O=certaudit test" in proc.stdout
    assert "CN=Check Intermediate CA,O=certaudit test" in proc.stdout
    assert "notAfter:" in proc.stdout
    assert proc.stderr == ""


def test_subprocess_json_plaintext(world: Pki) -> None:
    with TlsServer(mode="plaintext") as srv:
        proc = subprocess_check(srv.target, "--servername", NAME, "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert ids(doc) == {"TLS_NOT_SPOKEN"}
    assert "HTTP/1.1 400 Bad Request" in doc["findings"][0]["detail"]


def test_subprocess_client_cert_tls13_human(world: Pki) -> None:
    with OpenSslServer(
        [_leaf(world), world.ca.intermediate], client_ca=world.client_root, tls="1.3"
    ) as srv:
        proc = subprocess_check(srv.target, "--servername", NAME, "--cafile", str(world.cafile))
    assert proc.returncode == 0, proc.stderr
    assert "CLIENT_CERT_REQUIRED" in proc.stdout
    assert "acceptable client CA names:" in proc.stdout
    assert "CN=Client Root CA,O=certaudit test" in proc.stdout
    assert "diagnose: echo | openssl s_client" in proc.stdout


# ---------------------------------------------------------------------------
# Human output


def test_human_output_has_diagnose_and_fix(world: Pki) -> None:
    leaf = _leaf(world, days_after=5)
    with TlsServer([leaf]) as srv:
        result = cli("check", srv.target, "--servername", NAME, "--cafile", str(world.cafile))
    out = result.stdout
    assert result.exit_code == 1
    assert "CERT_EXPIRING" in out and "CHAIN_INCOMPLETE" in out
    assert (
        f"diagnose: echo | openssl s_client -connect 127.0.0.1:{srv.port} -servername {NAME}" in out
    )
    assert "fix:      " in out
    assert "chain as sent (1 certificate)" in out


def test_what_a_strict_client_says_is_shown(world: Pki) -> None:
    """Trust is judged leniently (so a wrong name is not called untrusted); the verdict
    still tells the operator what a strict client would answer right now."""
    leaf = _leaf(world)
    with TlsServer([leaf, world.ca.intermediate]) as srv:
        human = cli(
            "check", srv.target, "--servername", "other.test", "--cafile", str(world.cafile)
        )
        code, doc = check_json(
            srv.target, "--servername", "other.test", "--cafile", str(world.cafile)
        )
    assert "HOSTNAME_MISMATCH" in human.stdout
    assert "a strict client says:" in human.stdout
    assert doc["chain_verdict"]["status"] == "ok"
    assert doc["chain_verdict"]["strict_error"]


def test_hostile_subject_is_escaped(world: Pki) -> None:
    hostile = "\x1b[31mevil</script>\u202e"
    leaf = world.ca.leaf(hostile, now=world.now, sans=[NAME])
    with TlsServer([leaf, world.ca.intermediate]) as srv:
        human = cli("check", srv.target, "--servername", NAME, "--cafile", str(world.cafile))
        code, doc = check_json(srv.target, "--servername", NAME, "--cafile", str(world.cafile))
    assert "\x1b" not in human.stdout and "\u202e" not in human.stdout
    # RFC 4514 escapes < and > with a backslash; the terminal escapes the rest.
    assert "CN=\\x1b[31mevil\\</script\\>\\u202e,O=certaudit test" in human.stdout
    # JSON keeps the exact text, as JSON escapes it (the reports escape it for HTML).
    leaf_doc = next(c for c in doc["certificates"] if c["common_name"] == hostile)
    assert leaf_doc["subject"].startswith("CN=\x1b[31mevil")


def test_plaintext_banner_is_escaped_in_human_output() -> None:
    with TlsServer(mode="banner", banner=b"\x1b]0;pwned\x07220 hi\r\n") as srv:
        result = cli("check", srv.target, "--servername", NAME)
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b]0;pwned\\x07220 hi" in result.stdout


# ---------------------------------------------------------------------------
# Deadlines and unreachable endpoints


@pytest.mark.parametrize("mode", ["tarpit", "trickle"])
def test_timeout_within_deadline(mode: str) -> None:
    deadline = 1.5
    with TlsServer(mode=mode, trickle_interval=0.3) as srv:
        started = time.monotonic()
        code, doc = check_json(srv.target, "--servername", NAME, "--timeout", str(deadline))
        wall = time.monotonic() - started
    assert wall < deadline + 1.0, wall
    assert doc["listeners"][0]["probes"][0]["status"] == "timeout"
    assert ids(doc) == {"HOST_UNREACHABLE"}
    finding = doc["findings"][0]
    assert finding["diagnose"].startswith(f"openssl s_client -connect 127.0.0.1:{srv.port}")
    assert "ssh" not in finding["diagnose"]
    assert code == 1


def test_refused_is_reported_not_healthy() -> None:
    srv = TlsServer(mode="close").start()
    port = srv.port
    srv.stop()
    code, doc = check_json(f"127.0.0.1:{port}", "--timeout", "2")
    assert code == 1
    assert doc["listeners"][0]["probes"][0]["status"] == "refused"
    assert ids(doc) == {"HOST_UNREACHABLE"}


def test_ipv6_literal(world: Pki) -> None:
    with TlsServer([_leaf(world), world.ca.intermediate], address="::1") as srv:
        assert srv.target.startswith("[::1]:")
        code, doc = check_json(srv.target, "--servername", NAME, "--cafile", str(world.cafile))
    assert code == 0, doc["findings"]
    assert ids(doc) == set()
    probe = doc["listeners"][0]["probes"][0]
    assert (probe["address"], probe["servername"]) == ("::1", NAME)


# ---------------------------------------------------------------------------
# Usage errors: one line, exit 2, never a traceback


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "example.test:99999"], "port must be a number"),
        (["check", "example.test:https"], "port must be a number"),
        (["check", "[::1"], "missing ']'"),
        (["check", "[example.test]:443"], "not an IPv6 address"),
        (["check", "fe80::1::2:443"], "brackets"),
        (["check", "ftp://example.test"], "https://"),
        (["check", "example.test", "--cafile", "/nonexistent/root.pem"], "/nonexistent/root.pem"),
        (["check", "example.test", "--expiry-windows", "30,soon"], "--expiry-windows"),
        (["check", "example.test", "--timeout", "0"], "--timeout"),
        (["inspect", "/nonexistent/cert.pem"], "/nonexistent/cert.pem: no such file"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_cafile_without_certificates(tmp_path: Path) -> None:
    empty = tmp_path / "notes.txt"
    empty.write_text("not a certificate\n")
    result = cli("check", "example.test", "--cafile", str(empty))
    assert result.exit_code == 2
    assert "contains no certificate" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.test", Target("example.test", 443, False)),
        ("example.test:8443", Target("example.test", 8443, False)),
        ("127.0.0.1", Target("127.0.0.1", 443, True)),
        ("[::1]:8443", Target("::1", 8443, True)),
        ("[2001:db8::5]", Target("2001:db8::5", 443, True)),
        ("2001:db8::5", Target("2001:db8::5", 443, True)),
        ("https://example.test:9443/health", Target("example.test", 9443, False)),
    ],
)
def test_parse_target(text: str, expected: Target) -> None:
    assert parse_target(text) == expected


def test_parse_target_label() -> None:
    assert parse_target("[::1]:8443").label == "[::1]:8443"
    with pytest.raises(ConfigError):
        parse_target("exa mple:443")


# ---------------------------------------------------------------------------
# inspect: the same diagnosis for local files


def _inspect(*args: str) -> tuple[int, dict[str, Any]]:
    result = cli("inspect", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_inspect_healthy_fullchain(world: Pki, tmp_path: Path) -> None:
    fullchain = tmp_path / "fullchain.pem"
    fullchain.write_bytes(pki.pem_bundle(_leaf(world), world.ca.intermediate))
    code, doc = _inspect(str(fullchain), "--cafile", str(world.cafile), "--servername", NAME)
    assert (code, ids(doc)) == (0, set())
    assert doc["chain_verdicts"][str(fullchain)]["status"] == "ok"
    assert len(doc["certificates"]) == 2


def test_inspect_lacking_intermediate_and_expiring(world: Pki, tmp_path: Path) -> None:
    cert = tmp_path / "fullchain.pem"
    cert.write_bytes(_leaf(world, days_after=5).pem)
    code, doc = _inspect(str(cert), "--cafile", str(world.cafile))
    assert code == 1
    assert ids(doc) == {"CHAIN_INCOMPLETE", "CERT_EXPIRING"}
    for finding in doc["findings"]:
        assert str(cert) in finding["diagnose"], finding["diagnose"]
        assert "{" not in finding["diagnose"]
    expiring = next(f for f in doc["findings"] if f["id"] == "CERT_EXPIRING")
    assert "in 5.0 days" in expiring["detail"]


def test_inspect_unparseable_and_mismatch(world: Pki, tmp_path: Path) -> None:
    broken = tmp_path / "broken.crt"
    broken.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    good = tmp_path / "site.pem"
    good.write_bytes(pki.pem_bundle(_leaf(world), world.ca.intermediate))
    code, doc = _inspect(
        str(broken), str(good), "--cafile", str(world.cafile), "--servername", "api.test"
    )
    assert ids(doc) == {"CERT_UNPARSEABLE", "HOSTNAME_MISMATCH"}
    unparseable = next(f for f in doc["findings"] if f["id"] == "CERT_UNPARSEABLE")
    assert unparseable["subject"] == str(broken) and unparseable["host"] == ""
    assert doc["unparseable"][0]["path"] == str(broken)
    assert code == 1


def test_inspect_ca_only_file_is_not_a_chain(world: Pki, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki.pem_bundle(world.ca.root, world.ca.intermediate))
    code, doc = _inspect(str(bundle))
    assert (code, ids(doc), doc["chain_verdicts"]) == (0, set(), {})


def test_inspect_human_and_der(world: Pki, tmp_path: Path) -> None:
    der = tmp_path / "leaf.der"
    der.write_bytes(_leaf(world).der)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(world.ca.intermediate.pem)
    result = cli("inspect", str(der), str(chain), "--cafile", str(world.cafile))
    out = result.stdout
    assert f"{der}: 1 certificate" in out
    assert "CHAIN_INCOMPLETE" in out  # the file alone lacks its intermediate
    assert "with it the chain reaches" in out  # ...which chain.pem provides
    assert "diagnose: openssl verify" in out


def test_inspect_nothing_certificate_like(tmp_path: Path) -> None:
    notes = tmp_path / "key.pem"
    notes.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    result = cli("inspect", str(notes))
    assert result.exit_code == 2
    assert "no certificate found in" in result.stderr


def test_tls12_server_human_output(world: Pki) -> None:
    with TlsServer(
        [_leaf(world), world.ca.intermediate], max_version=ssl.TLSVersion.TLSv1_2
    ) as srv:
        result = cli("check", srv.target, "--servername", NAME, "--cafile", str(world.cafile))
    assert result.exit_code == 0
    assert "TLSv1.2" in result.stdout and "no findings" in result.stdout


def test_documents_match_the_committed_schema(world: Pki, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "audit/report/schema/findings.schema.json").read_text())
    leaf = _leaf(world, days_after=3)
    bundle = tmp_path / "cert.pem"
    bundle.write_bytes(leaf.pem)
    with TlsServer([leaf]) as srv:
        _, served = check_json(srv.target, "--servername", "api.test")
    with TlsServer(mode="plaintext") as srv:
        _, plaintext = check_json(srv.target)
    _, local = _inspect(str(bundle))
    for doc in (served, plaintext, local):
        jsonschema.validate(doc, schema)
    assert ids(served) == {"CERT_EXPIRING", "CHAIN_INCOMPLETE", "HOSTNAME_MISMATCH"}


def test_expired_cross_sign_in_the_served_chain_is_told_apart_from_the_leaf(world: Pki) -> None:
    """A valid leaf + intermediate, plus an expired cross-signed copy of the intermediate
    (same subject and key, an old root as issuer) — the 2021 Let's Encrypt shape. Leaf
    expiry, the served chain's earliest expiry and the verified path are told apart: the
    expired cross-sign is a medium finding that names its position and issuer and says
    to drop it, not a critical "your certificate expired"."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now, ca = world.now, world.ca
    old_root = pki.issue("Old Root CA", now=now, ca=True, days_before=4000, days_after=-30)
    cross_cert = (
        x509.CertificateBuilder()
        .subject_name(ca.intermediate.cert.subject)
        .issuer_name(old_root.cert.subject)
        .public_key(ca.intermediate.key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1000))
        .not_valid_after(now - dt.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(old_root.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cross = pki.Issued(cross_cert, ca.intermediate.key)
    leaf = ca.leaf(NAME, now=now, days_after=200)
    with TlsServer([leaf, ca.intermediate, cross]) as srv:
        code, doc = check_json(srv.target, "--servername", NAME, "--cafile", str(world.cafile))
    expired = [f for f in doc["findings"] if f["id"] == "CERT_EXPIRED"]
    assert len(expired) == 1, doc["findings"]
    [f] = expired
    assert f["severity"] == "medium"
    assert f["cert_sha256"] == cross.cert.fingerprint(hashes.SHA256()).hex()
    assert "position 2" in f["detail"] and "Old Root CA" in f["detail"]
    assert "not on the path clients verify" in f["detail"]
    assert "Remove this certificate from the chain" in f["fix"]
    assert not {"CHAIN_UNTRUSTED", "CHAIN_INCOMPLETE", "CERT_EXPIRING"} & ids(doc)
    [order] = [f for f in doc["findings"] if f["id"] == "CHAIN_ORDER"]
    assert "cross-signed" in order["detail"] and "unrelated" not in order["detail"]
    assert code == 0  # nothing at or above high: the endpoint works for modern clients


def test_inspect_names_a_keystore_instead_of_an_asn1_error(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    blob = pkcs12.serialize_key_and_certificates(
        b"x",
        ec.generate_private_key(ec.SECP256R1()),
        None,
        None,
        serialization.BestAvailableEncryption(b"secret"),
    )
    path = tmp_path / "server.p12"
    path.write_bytes(blob)
    res = cli("inspect", str(path))
    assert res.exit_code == 2
    assert "PKCS#12 keystore" in res.stderr and "unparseable" not in res.stderr
