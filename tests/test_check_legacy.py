"""`check` against real `openssl s_server`s that speak only TLS 1.0 / 1.1, or also them."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from tests import pki


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[object]:
    leaf = pki.issue("localhost", now=pki.utcnow(), key_kind="rsa", key_bits=2048)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(leaf.pem)
    key.write_bytes(leaf.key_pem())
    procs: list[subprocess.Popen[bytes]] = []

    def start(*versions: str) -> int:
        port = _free_port()
        argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert)]
        argv += ["-key", str(key), *versions, "-cipher", "DEFAULT:@SECLEVEL=0", "-www", "-quiet"]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            time.sleep(0.05)
        raise RuntimeError("openssl s_server did not start")

    start.cafile = cert  # type: ignore[attr-defined]
    yield start
    for p in procs:
        p.kill()
        p.wait()


def _check(port: int, cafile: Path) -> dict:  # type: ignore[type-arg]
    out = CliRunner().invoke(app, ["check", f"localhost:{port}", "--cafile", str(cafile), "--json"])
    return json.loads(out.stdout)


@pytest.mark.parametrize(("flag", "name"), [("-tls1", "TLS 1.0"), ("-tls1_1", "TLS 1.1")])
def test_a_legacy_only_server_is_high(server, flag: str, name: str) -> None:  # type: ignore[no-untyped-def]
    doc = _check(server(flag), server.cafile)
    (f,) = [f for f in doc["findings"] if f["id"] == "LEGACY_PROTOCOL"]
    assert f["severity"] == "high" and f"accepts only {name}" in f["detail"]


def test_a_modern_server_raises_no_legacy_finding(server) -> None:  # type: ignore[no-untyped-def]
    doc = _check(server(), server.cafile)
    assert not [f for f in doc["findings"] if f["id"] == "LEGACY_PROTOCOL"]
