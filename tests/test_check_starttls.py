"""`certaudit check --starttls X` (and its auto-detection) against real STARTTLS servers.

The servers are tests/lab/starttls_server.py, one process per (protocol, certificate):
SMTP, IMAP, POP3, FTP, PostgreSQL, LDAP, XMPP and MySQL, each speaking enough of its
protocol to upgrade (or, with --no-tls, to refuse). Every case asserts the exact set of
finding IDs, so a healthy server has none and a bad one nothing but its own.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit.cli import app
from tests import pki
from tests.lab import starttls_server

NAME = "good.test"
PROTOCOLS = starttls_server.PROTOCOLS


@dataclass(frozen=True)
class World:
    cafile: Path
    folders: dict[str, Path]
    """Certificate kind -> folder with chain.pem and key.pem."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    now = pki.utcnow()
    ca = pki.hierarchy(now, name="StartTLS")
    root = tmp_path_factory.mktemp("starttls")
    cafile = root / "root.pem"
    cafile.write_bytes(ca.root.pem)
    kinds = {
        "good": (ca.leaf(NAME, now=now, fresh_key=True), True),
        "expired": (ca.leaf(NAME, now=now, days_before=400, days_after=-3), True),
        "no-intermediate": (ca.leaf(NAME, now=now), False),
    }
    folders = {}
    for kind, (leaf, with_intermediate) in kinds.items():
        folder = root / kind
        folder.mkdir()
        chain = [leaf, ca.intermediate] if with_intermediate else [leaf]
        (folder / "chain.pem").write_bytes(pki.pem_bundle(*chain))
        (folder / "key.pem").write_bytes(leaf.key_pem())
        folders[kind] = folder
    return World(cafile, folders)


def _start(world: World, protocol: str, kind: str = "good", **kw: Any) -> tuple[Any, int]:
    folder = world.folders[kind]
    return starttls_server.start(protocol, str(folder / "chain.pem"), str(folder / "key.pem"), **kw)


@pytest.fixture(scope="module")
def servers(world: World) -> Iterator[dict[tuple[str, str], int]]:
    """Port per (protocol, kind): kind "good", "expired", "no-intermediate", "refusing"."""
    started: dict[tuple[str, str], tuple[Any, int]] = {}
    try:
        for protocol in PROTOCOLS:
            for kind in ("good", "expired", "no-intermediate"):
                started[(protocol, kind)] = _start(world, protocol, kind)
            started[(protocol, "refusing")] = _start(world, protocol, offer=False)
        yield {key: port for key, (_, port) in started.items()}
    finally:
        for proc, _ in started.values():
            proc.terminate()
            proc.wait(5)


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def check_json(target: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("check", target, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def ids(doc: dict[str, Any]) -> set[str]:
    return {f["id"] for f in doc["findings"]}


# ---------------------------------------------------------------------------
# --starttls X: the certificate, the findings, and no other


@pytest.mark.parametrize(
    ("kind", "expected", "code"),
    [
        ("good", set(), 0),
        ("expired", {"CERT_EXPIRED"}, 1),
        ("no-intermediate", {"CHAIN_INCOMPLETE"}, 1),
    ],
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_starttls_check(
    world: World,
    servers: dict[tuple[str, str], int],
    protocol: str,
    kind: str,
    expected: set[str],
    code: int,
) -> None:
    port = servers[(protocol, kind)]
    args = ["--starttls", protocol, "--servername", NAME, "--cafile", str(world.cafile)]
    exit_code, doc = check_json(f"127.0.0.1:{port}", *args)
    assert ids(doc) == expected, [(f["id"], f["detail"]) for f in doc["findings"]]
    assert exit_code == code
    (listener,) = doc["listeners"]
    (probe,) = listener["probes"]
    assert (probe["status"], listener["starttls"], doc["starttls"]) == ("tls", protocol, protocol)
    leaf = next(c for c in doc["certificates"] if c["sha256"] == probe["chain"][0])
    assert leaf["common_name"] == NAME
    for finding in doc["findings"]:  # the pasted command speaks the protocol first
        assert f"openssl s_client -starttls {protocol} " in finding["diagnose"], finding
        assert f"-connect 127.0.0.1:{port}" in finding["diagnose"]


REFUSALS = {
    "smtp": "SMTP: the server does not offer STARTTLS (250-mail.lab.test)",
    "imap": "IMAP: STARTTLS refused (ca1 NO not available)",
    "pop3": "POP3: STLS refused (-ERR not available)",
    "ftp": "FTP: AUTH TLS refused (502 Command not implemented: TLS is not configured)",
    "postgres": "PostgreSQL answered the SSLRequest with N: TLS is off",
    "ldap": "LDAP: StartTLS refused with resultCode 2 (protocolError) (unsupported "
    "extended operation)",
    "xmpp": "XMPP: the server does not offer STARTTLS (features: mechanisms)",
    "mysql": "MySQL: the server does not offer TLS (no CLIENT_SSL in its greeting) (server "
    "8.0.36-certaudit-lab)",
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_refusing_server_is_a_stated_refusal(
    world: World, servers: dict[tuple[str, str], int], protocol: str
) -> None:
    port = servers[(protocol, "refusing")]
    code, doc = check_json(f"127.0.0.1:{port}", "--starttls", protocol, "--servername", NAME)
    assert code == 1
    assert ids(doc) == {"TLS_NOT_SPOKEN"}
    (probe,) = doc["listeners"][0]["probes"]
    assert probe["status"] == "plaintext" and probe["error"] == REFUSALS[protocol]
    (finding,) = doc["findings"]
    label = REFUSALS[protocol].split(":")[0].split(" ")[0]
    assert f"did not upgrade the connection to TLS with {label} STARTTLS" in finding["detail"]
    assert REFUSALS[protocol] in finding["detail"]
    assert "answered a TLS ClientHello" not in finding["detail"]
    assert f"Turn STARTTLS on in the {label} server" in finding["fix"]
    assert finding["diagnose"].startswith(f"openssl s_client -starttls {protocol} -")
    assert f" -connect 127.0.0.1:{port} " in finding["diagnose"]


def test_refusal_in_human_output(servers: dict[tuple[str, str], int]) -> None:
    port = servers[("ftp", "refusing")]
    result = cli("check", f"127.0.0.1:{port}", "--starttls", "ftp", "--servername", NAME)
    assert result.exit_code == 1
    assert "STARTTLS ftp (--starttls)" in result.stdout
    assert "FTP: AUTH TLS refused (502 Command not implemented" in result.stdout
    assert "TLS_NOT_SPOKEN" in result.stdout


# ---------------------------------------------------------------------------
# auto: the port's protocol, else the server's greeting


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3", "ftp", "mysql"])
def test_the_greeting_names_the_protocol_on_any_port(
    world: World, servers: dict[tuple[str, str], int], protocol: str
) -> None:
    port = servers[(protocol, "good")]
    code, doc = check_json(f"127.0.0.1:{port}", "--servername", NAME, "--cafile", str(world.cafile))
    assert (code, ids(doc)) == (0, set()), doc["findings"]
    assert (doc["starttls"], doc["listeners"][0]["starttls"]) == (protocol, protocol)
    assert doc["listeners"][0]["notes"] == [f"STARTTLS {protocol}: the server's greeting"]
    human = cli("check", f"127.0.0.1:{port}", "--servername", NAME, "--cafile", str(world.cafile))
    assert f"STARTTLS {protocol} (the server's greeting)" in human.stdout


def test_starttls_none_does_not_upgrade(servers: dict[tuple[str, str], int]) -> None:
    port = servers[("smtp", "good")]
    code, doc = check_json(f"127.0.0.1:{port}", "--starttls", "none", "--servername", NAME)
    assert code == 1 and ids(doc) == {"TLS_NOT_SPOKEN"} and doc["starttls"] is None
    assert "220 mail.lab.test ESMTP" in doc["findings"][0]["detail"]


def _private_loopback() -> str:
    """An address of 127/8 that no other test (or session) is likely to use."""
    return f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


@pytest.fixture(scope="module")
def well_known(world: World) -> Iterator[dict[str, tuple[str, int]]]:
    """A server on its protocol's well-known port (on a private loopback address); needs
    the right to bind ports below 1024 for most of them."""
    ports = {"ftp": 21, "ldap": 389, "xmpp": 5222, "mysql": 3306, "smtp": 25}
    started: dict[str, tuple[Any, str, int]] = {}
    try:
        for protocol, port in ports.items():
            address = _private_loopback()
            try:
                proc, _ = _start(world, protocol, address=address, port=port)
            except OSError:
                continue
            started[protocol] = (proc, address, port)
        if not started:
            pytest.skip("cannot listen on well-known ports here (not root?)")
        yield {p: (address, port) for p, (_, address, port) in started.items()}
    finally:
        for proc, _, _ in started.values():
            proc.terminate()
            proc.wait(5)


@pytest.mark.parametrize("protocol", ["ftp", "ldap", "xmpp", "mysql", "smtp"])
def test_the_well_known_port_picks_the_protocol(
    world: World, well_known: dict[str, tuple[str, int]], protocol: str
) -> None:
    if protocol not in well_known:
        pytest.skip(f"cannot listen on the {protocol} port here")
    address, port = well_known[protocol]
    target = f"{address}:{port}"
    code, doc = check_json(target, "--servername", NAME, "--cafile", str(world.cafile))
    assert (code, ids(doc)) == (0, set()), doc["findings"]
    assert doc["starttls"] == protocol
    assert doc["listeners"][0]["notes"] == [f"STARTTLS {protocol}: port {port}"]
    code, doc = check_json(target, "--servername", NAME, "--starttls", "none")
    assert code == 1 and doc["starttls"] is None
    assert doc["listeners"][0]["probes"][0]["status"] != "tls"


# ---------------------------------------------------------------------------
# Usage and the real command line


def test_unknown_starttls_is_a_usage_error() -> None:
    result = cli("check", "example.test:25", "--starttls", "gopher")
    assert result.exit_code == 2
    assert "--starttls 'gopher': expected one of auto, none, smtp" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_subprocess_starttls_xmpp(world: World, servers: dict[tuple[str, str], int]) -> None:
    port = servers[("xmpp", "expired")]
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "audit", "check", f"127.0.0.1:{port}", "--starttls", "xmpp"),
            *("--servername", NAME, "--cafile", str(world.cafile)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 1, proc.stderr
    assert "STARTTLS xmpp (--starttls)" in proc.stdout and "CERT_EXPIRED" in proc.stdout
    assert f"openssl s_client -starttls xmpp -xmpphost {NAME} -connect" in proc.stdout
