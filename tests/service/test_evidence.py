"""manifest.json: written last by every run; `certaudit verify` accepts an untouched folder
and names what changed, is missing or was added; an SSH signature made by `run --sign-key`
or `certaudit sign` verifies with the real `ssh-keygen -Y verify` and fails after a change.
The SSH side of the run is a fake; runner, analysis, history and reports are real."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit import runner
from audit.certparse import parse_bytes
from audit.cli import app, register
from audit.errors import ConfigError
from audit.model import CertLocation, FoundCert, Host, HostOutcome, HostResult
from audit.service.evidence import MANIFEST, SIGNATURE, tool_version
from audit.service.run import RunOutcome, RunSettings, run_audit
from tests import pki

REPORTS = ["findings.json", "metrics.prom", "report.html", "report.xlsx"]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunSettings:
    now = datetime.now(UTC)
    cert = parse_bytes(pki.issue("app.example.test", now=now).pem)[0].cert
    assert cert is not None

    async def audit_host(host: Host, *args: Any, **kwargs: Any) -> HostResult:
        if host.name == "down01":
            return HostResult(host, HostOutcome.UNREACHABLE, "refused", now, now)
        loc = CertLocation(host.name, "/etc/ssl/app.pem")
        return HostResult(host, HostOutcome.OK, "", now, now, certificates=(FoundCert(cert, loc),))

    monkeypatch.setattr(runner, "audit_host", audit_host)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[web]\nweb01 ansible_host=192.0.2.10\ndown01 ansible_host=192.0.2.11\n")
    known = tmp_path / "known_hosts"
    known.write_text("")
    return RunSettings(
        inventory=inventory,
        out=tmp_path / "out",
        db=tmp_path / "h.db",
        known_hosts=known,
        ssh_config=(Path("/dev/null"),),
        min_coverage=0.0,
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verify(*args: str) -> tuple[int, str]:
    register("verify")
    result = CliRunner().invoke(app, ["verify", *args])
    return result.exit_code, result.output


def test_every_run_writes_a_manifest_of_its_reports(settings: RunSettings) -> None:
    outcome = run_audit(settings)
    assert outcome.manifest == settings.out / MANIFEST and outcome.signature is None
    doc = json.loads(outcome.manifest.read_text())
    assert doc["run_id"] == outcome.result.run_id and doc["version"] == tool_version()
    assert doc["started_at"].endswith("Z") and doc["finished_at"].endswith("Z")
    assert doc["coverage"] == {"audited": 1, "total": 2}
    assert doc["inventory"]["files"] == [
        {
            "path": str(settings.inventory),
            "sha256": _sha(settings.inventory),
            "size": settings.inventory.stat().st_size,
        }
    ]
    assert doc["waivers"] is None
    assert [o["name"] for o in doc["outputs"]] == REPORTS
    for o in doc["outputs"]:
        path = settings.out / o["name"]
        assert o["sha256"] == _sha(path) and o["size"] == path.stat().st_size


def test_a_folder_inventory_and_the_waivers_file_are_hashed(settings: RunSettings) -> None:
    folder = settings.inventory.parent / "inv"
    (folder / "group_vars").mkdir(parents=True)
    shutil.move(settings.inventory, folder / "hosts.ini")
    (folder / "group_vars" / "web.yml").write_text("certaudit_tls_ports: [443]\n")
    waivers = settings.inventory.parent / "certaudit-waivers.yml"
    waivers.write_text("")
    outcome = run_audit(replace(settings, inventory=folder))
    assert outcome.manifest is not None
    doc = json.loads(outcome.manifest.read_text())
    assert [f["path"] for f in doc["inventory"]["files"]] == ["group_vars/web.yml", "hosts.ini"]
    assert doc["waivers"] == {"path": str(waivers), "sha256": _sha(waivers), "size": 0}


def test_verify_accepts_an_untouched_folder_and_names_each_change(settings: RunSettings) -> None:
    out = settings.out
    run_audit(settings)
    code, text = _verify(str(out))
    assert code == 0 and "verified" in text and "4 file(s) unchanged" in text

    html = out / "report.html"
    original = html.read_bytes()
    html.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    (out / "metrics.prom").unlink()
    (out / "report-v2.html").write_text("<p>also from this run</p>")
    code, text = _verify(str(out))
    assert code == 1 and "NOT verified" in text
    assert "changed: report.html" in text and "missing: metrics.prom" in text
    assert "extra: report-v2.html is not in the manifest" in text
    assert "findings.json" not in text

    html.write_bytes(original)
    run_audit(settings)  # a new run rewrites the reports and the manifest
    code, text = _verify(str(out))
    assert code == 1 and "extra: report-v2.html" in text
    code, text = _verify(str(out), "--allow-extra")
    assert code == 0 and "verified" in text


@pytest.mark.parametrize(
    "manifest",
    [
        None,
        "{not json",
        json.dumps({"manifest_version": 1, "outputs": [{"name": "../h.db", "sha256": "0" * 64}]}),
        json.dumps({"manifest_version": 99, "outputs": []}),
        json.dumps([1, 2]),
    ],
)
def test_a_missing_or_malformed_manifest_is_exit_2(tmp_path: Path, manifest: str | None) -> None:
    if manifest is not None:
        (tmp_path / MANIFEST).write_text(manifest)
    code, text = _verify(str(tmp_path))
    assert code == 2 and str(tmp_path / MANIFEST) in text


def _keygen(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A fresh ed25519 key and an allowed_signers file naming it for the namespace."""
    key = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        capture_output=True,
    )
    public = key.with_suffix(".pub").read_text().split()
    signers = tmp_path / f"{name}.allowed_signers"
    signers.write_text(
        f'{name}@example.test namespaces="certaudit-manifest" {public[0]} {public[1]}\n'
    )
    return key, signers


needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) is not installed"
)


@needs_ssh_keygen
def test_a_signed_manifest_verifies_with_ssh_keygen(settings: RunSettings, tmp_path: Path) -> None:
    key, signers = _keygen(tmp_path, "auditor")
    _, other = _keygen(tmp_path, "intruder")
    outcome: RunOutcome = run_audit(replace(settings, sign_key=key))
    out = settings.out
    assert outcome.signature == out / SIGNATURE and not outcome.report_failures
    assert (out / SIGNATURE).read_text().startswith("-----BEGIN SSH SIGNATURE-----")

    good = ["--allowed-signers", str(signers), "--identity", "auditor@example.test"]
    code, text = _verify(str(out), *good)
    assert code == 0 and "signature good" in text and "verified" in text
    code, text = _verify(
        str(out), "--allowed-signers", str(other), "--identity", "auditor@example.test"
    )
    assert code == 1 and "signature BAD" in text
    code, text = _verify(str(out))
    assert code == 0 and f"{SIGNATURE} not checked" in text

    manifest = out / MANIFEST
    doc = json.loads(manifest.read_text())
    doc["coverage"]["audited"] = 2  # a forged claim: the reports still match their digests
    manifest.write_text(json.dumps(doc, indent=2) + "\n")
    code, text = _verify(str(out), *good)
    assert code == 1 and "signature BAD" in text and "changed:" not in text


@needs_ssh_keygen
def test_certaudit_sign_signs_an_untouched_folder_only(
    settings: RunSettings, tmp_path: Path
) -> None:
    key, signers = _keygen(tmp_path, "auditor")
    run_audit(settings)
    out = settings.out
    register("sign")
    result = CliRunner().invoke(app, ["sign", str(out), "--key", str(key)])
    assert result.exit_code == 0 and f"wrote {out / SIGNATURE}" in result.output
    good = ["--allowed-signers", str(signers), "--identity", "auditor@example.test"]
    assert _verify(str(out), *good)[0] == 0

    (out / "findings.json").write_text("{}")
    code, text = _verify(str(out), *good)
    assert code == 1 and "changed: findings.json" in text and "signature good" in text
    result = CliRunner().invoke(app, ["sign", str(out), "--key", str(key)])
    assert result.exit_code == 1 and "not signed" in result.output


def test_a_missing_signing_key_fails_before_any_host(settings: RunSettings) -> None:
    with pytest.raises(ConfigError, match="--sign-key"):
        run_audit(replace(settings, sign_key=settings.inventory.parent / "nope"))
    assert not settings.db.exists()  # type: ignore[union-attr]
