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
