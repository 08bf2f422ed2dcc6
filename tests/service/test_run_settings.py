"""run_audit refuses bad settings with a clear error before any host is contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.errors import ConfigError
from audit.runner import Observer
from audit.service.run import RunSettings, run_audit


class Contacts(Observer):
    def __init__(self) -> None:
        self.started: list[str] = []

    def host_started(self, host) -> None:  # type: ignore[no-untyped-def]
        self.started.append(host.name)


@pytest.fixture
def settings(tmp_path: Path) -> RunSettings:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[web]\n192.0.2.10\n")
    known = tmp_path / "known_hosts"
    known.write_text("")
    return RunSettings(
        inventory=inventory, out=tmp_path / "out", db=tmp_path / "h.db", known_hosts=known
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ssh_config": (Path("/nonexistent/ssh_config"),)}, "--ssh-config /nonexistent"),
        ({"identities": (Path("/nonexistent/id_ed25519"),)}, "--identity /nonexistent"),
        ({"cafile": Path("/nonexistent/ca.pem")}, "--cafile /nonexistent"),
    ],
)
def test_bad_settings_fail_before_any_host(settings, change, message) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    contacts = Contacts()
    with pytest.raises(ConfigError, match=message):
        run_audit(replace(settings, **change), contacts)
    assert contacts.started == []
    assert not settings.db.exists() if settings.db else True


def test_a_host_the_inventory_makes_unusable_is_reported_and_counts_against_coverage(
    tmp_path: Path,
) -> None:
    import json

    from audit.model import HostOutcome
    from audit.service.policy import EXIT_COVERAGE

    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[web]\nbad ansible_port=ssh\nrefused ansible_host=127.0.0.1 ansible_port=1\n"
    )
    known = tmp_path / "known_hosts"
    known.write_text("")
    settings = RunSettings(
        inventory=inventory,
        out=tmp_path / "out",
        db=tmp_path / "h.db",
        known_hosts=known,
        ssh_config=(Path("/dev/null"),),
        connect_timeout=2,
        min_coverage=100,
    )
    outcome = run_audit(settings)
    by_name = {r.host.name: r for r in outcome.result.hosts}
    assert [r.host.name for r in outcome.result.hosts] == ["bad", "refused"]  # inventory order
    assert by_name["bad"].outcome is HostOutcome.INVENTORY_ERROR
    assert "hosts.ini:2" in by_name["bad"].detail and "ansible_port" in by_name["bad"].detail
    assert outcome.status == EXIT_COVERAGE
    doc = json.loads((tmp_path / "out" / "findings.json").read_text())
    (finding,) = [f for f in doc["findings"] if f["host"] == "bad"]
    assert finding["id"] == "COLLECTION_PARTIAL" and "inventory" in finding["fix"]
    assert {h["name"]: h["outcome"] for h in doc["hosts"]}["bad"] == "inventory_error"
