"""`certaudit check` against real TLS servers that send chains strict clients refuse.

Each server (Python's `ssl`, tests/tlsserver.py) sends a chain that reaches the test root
given with --cafile, but one certificate breaks a rule: the check raises CHAIN_INVALID
naming that certificate, its position and the rule, and never calls a certificate it was
sent "missing" (no CHAIN_INCOMPLETE, no CHAIN_UNTRUSTED). The healthy chain from the same
root raises nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from audit.cli import app
from tests import pki
from tests.tlsserver import TlsServer

NAME = "invalid.test"


@dataclass(frozen=True)
class Pki:
    now: dt.datetime
    root: pki.Issued
    cafile: Path

    def intermediate(self, cn: str, **kw: Any) -> pki.Issued:
        return _intermediate(self, cn, tuple(sorted(kw.items())))

    def leaf(self, issuer: pki.Issued, **kw: Any) -> pki.Issued:
        return pki.issue(NAME, now=self.now, issuer=issuer, **kw)


_MADE: dict[tuple[str, tuple[tuple[str, Any], ...]], pki.Issued] = {}


def _intermediate(w: Pki, cn: str, kw: tuple[tuple[str, Any], ...]) -> pki.Issued:
    if (cn, kw) not in _MADE:
        shape = {"days_before": 300, "days_after": 1800, **dict(kw)}
        _MADE[(cn, kw)] = pki.issue(
            f"{cn} CA", now=w.now, issuer=w.root, ca=True, fresh_key=True, **shape
        )
    return _MADE[(cn, kw)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    now = pki.utcnow()
    root = pki.issue("Invalid Test Root CA", now=now, ca=True, days_before=365, days_after=3650)
    cafile = tmp_path_factory.mktemp("invalid") / "root.pem"
    cafile.write_bytes(root.pem)
    return Pki(now, root, cafile)


def _too_deep(w: Pki) -> list[pki.Issued]:
    top = w.intermediate("Depth Zero", path_length=0)
    below = pki.issue("Below CA", now=w.now, issuer=top, ca=True, fresh_key=True)
    return [w.leaf(below), below, top]


def _plain(w: Pki, **leaf: Any) -> list[pki.Issued]:
    inter = w.intermediate("Good Intermediate")
    return [w.leaf(inter, **leaf), inter]


def _bad(cn: str, **intermediate: Any) -> Callable[[Pki], list[pki.Issued]]:
    def make(w: Pki) -> list[pki.Issued]:
        inter = w.intermediate(cn, **intermediate)
        return [w.leaf(inter), inter]

    return make


@dataclass(frozen=True)
class Case:
    chain: Callable[[Pki], list[pki.Issued]]
    culprit: str
    """Subject text of the certificate at fault."""
    position: int
    rule: str
    """Words of the rule it breaks, as the finding's detail says them."""
    also: frozenset[str] = frozenset()
    """Other findings the same chain raises for another reason."""


CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
CASES = {
    "intermediate-not-a-ca": Case(
        _bad("Not A", ca_flag=False), "CN=Not A CA", 1, "basicConstraints says CA:FALSE"
    ),
    "intermediate-without-basic-constraints": Case(
        _bad("No BC", basic_constraints=False), "CN=No BC CA", 1, "no basicConstraints"
    ),
    "intermediate-without-keycertsign": Case(
        _bad("No Sign", key_cert_sign=False), "CN=No Sign CA", 1, "does not include keyCertSign"
    ),
    "path-length-exceeded": Case(_too_deep, "CN=Depth Zero CA", 2, "pathLenConstraint is 0"),
    "name-constraints": Case(
        _bad("Corp Only", permitted=("corp.example",)),
        "CN=Corp Only CA",
        1,
        "nameConstraints permits only corp.example",
    ),
    "leaf-client-auth-only": Case(
        lambda w: _plain(w, eku=[CLIENT]), f"CN={NAME}", 0, "does not include serverAuth"
    ),
    "intermediate-client-auth-only": Case(
        _bad("Client Only", eku=(CLIENT,)), "CN=Client Only CA", 1, "does not include serverAuth"
    ),
    "leaf-asserts-ca": Case(
        lambda w: _plain(w, ca_flag=True), f"CN={NAME}", 0, "basicConstraints says CA:TRUE"
    ),
    "intermediate-expired": Case(
        _bad("Expired", days_before=900, days_after=-2),
        "CN=Expired CA",
        1,
        "it expired on",
        also=frozenset({"CERT_EXPIRED"}),
    ),
}


def check(w: Pki, chain: list[pki.Issued], *args: str) -> tuple[int, dict[str, Any], str]:
    runner = CliRunner()
    with TlsServer(chain) as srv:
        base = ["check", srv.target, "--servername", NAME, "--cafile", str(w.cafile)]
        result = runner.invoke(app, [*base, "--json", *args], catch_exceptions=False)
        human = runner.invoke(app, base, catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout), human.stdout


@pytest.mark.parametrize("name", list(CASES))
def test_a_refused_chain_is_chain_invalid(world: Pki, name: str) -> None:
    case = CASES[name]
    code, doc, human = check(world, case.chain(world))
    found = {f["id"] for f in doc["findings"]}
    assert found == {"CHAIN_INVALID"} | case.also, [(f["id"], f["detail"]) for f in doc["findings"]]
    assert code == 1
    (f,) = [f for f in doc["findings"] if f["id"] == "CHAIN_INVALID"]
    assert f["severity"] == "high"
    assert f"{case.culprit},O=certaudit test (position {case.position} of the chain" in f["detail"]
    assert case.rule in f["detail"]
    assert "not in the chain" not in f["detail"]
    assert case.position == 0 or case.culprit in f["fix"], f["fix"]
    assert f["diagnose"].startswith("echo | openssl s_client -connect 127.0.0.1:")
    assert doc["chain_verdict"]["status"] == "invalid"
    assert doc["chain_verdict"]["missing_issuer"] is None
    assert "CHAIN_INVALID" in human and "trust: invalid" in human


def test_the_healthy_chain_from_the_same_root_raises_nothing(world: Pki) -> None:
    code, doc, human = check(world, _plain(world))
    assert (code, doc["findings"]) == (0, [])
    assert doc["chain_verdict"]["status"] == "ok"
    assert "no findings" in human
