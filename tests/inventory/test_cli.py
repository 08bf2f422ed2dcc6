"""`certaudit inventory` and the `inventory` use case: what the audit would contact, as a
table, as JSON, and a bad inventory as one error line with exit status 2.

Inventories are written into tmp_path; the command runs in process (typer's CliRunner).
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from audit.cli import app
from audit.service.inventory import InventorySettings, list_inventory
from tests.inventory.helpers import write

INVENTORY = """\
bastion ansible_host=192.0.2.10 ansible_port=2222
[web]
web1 ansible_host=10.0.0.1 certaudit_tls_ports=443,8443
web2 ansible_port=ssh
[web:vars]
ansible_ssh_user=deploy
ansible_user=ignored
ansible_become=yes
ansible_ssh_private_key_file=/keys/audit
"""


def test_listing_resolves_each_host_as_the_audit_will(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts", INVENTORY)
    listing = list_inventory(InventorySettings(inventory=path))
    assert [p.name for p in listing.hosts] == ["bastion", "web1", "web2"]
    web1 = listing.hosts[1]
    assert (web1.address, web1.port, web1.user, web1.key_file, web1.become) == (
        "10.0.0.1",
        None,
        "deploy",
        "/keys/audit",
        True,
    )
    assert web1.certaudit["certaudit_tls_ports"] == (443, 8443)
    assert listing.hosts[2].error == f"{path}:4: ansible_port: 'ssh' is not a port number (1-65535)"
    limited = list_inventory(InventorySettings(inventory=path, limit="web:!web2"))
    assert [p.name for p in limited.hosts] == ["web1"]


def test_json_output(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts", INVENTORY)
    result = CliRunner().invoke(app, ["inventory", str(path), "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert set(doc) == {"hosts", "groups", "warnings"}
    assert doc["hosts"]["bastion"] == {
        "address": "192.0.2.10",
        "port": 2222,
        "user": None,
        "key_file": None,
        "become": False,
        "groups": ["ungrouped"],
        "certaudit_cert_paths": [],
        "certaudit_tls_names": [],
        "certaudit_tls_ports": [],
        "certaudit_probe_direct": False,
        "source": f"{path}:1",
    }
    assert doc["hosts"]["web2"]["error"].endswith("'ssh' is not a port number (1-65535)")
    assert doc["groups"]["web"] == ["web1", "web2"]
    assert any("host web2 is not audited" in w for w in doc["warnings"])
    assert any("ansible_ssh_user 'deploy'" in w and "beats" in w for w in doc["warnings"])


def test_text_output(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts", INVENTORY)
    result = CliRunner().invoke(app, ["inventory", str(path)], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["HOST", "ADDRESS", "PORT", "USER", "KEY", "BECOME", "GROUPS"]
    assert lines[1].split() == ["bastion", "192.0.2.10", "2222", "(local)", "-", "-", "ungrouped"]
    assert lines[2].split() == ["web1", "10.0.0.1", "(22)", "deploy", "/keys/audit", "sudo", "web"]
    assert lines[3] == "    certaudit_tls_ports = 443, 8443"
    assert "not audited:" in lines[5] and "'ssh' is not a port number" in lines[5]
    assert any(line.startswith("3 host(s), 1 not audited, ") for line in lines)
    assert any(line.startswith("warning: ") for line in lines)


def test_bad_inventory_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts", "[web\nh\n")
    result = CliRunner().invoke(app, ["inventory", str(path)], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"certaudit: error: {path}:1: ")
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["inventory", str(path), "--limit", "x"])
    assert result.exit_code == 2
    missing = CliRunner().invoke(app, ["inventory", str(tmp_path / "nope"), "--limit", "nosuch"])
    assert missing.exit_code == 2 and "not found" in missing.stderr


def test_limit_that_selects_nothing_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts", INVENTORY)
    result = CliRunner().invoke(app, ["inventory", str(path), "--limit", "nosuch"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"certaudit: error: {path}: --limit: 'nosuch' leaves no host")
