"""audit.inventory.tomlfile: TOML inventories, read as Ansible's toml plugin reads them.

Inventories are written into tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.errors import InventoryError
from audit.inventory import load_inventory, loads_inventory
from tests.inventory.helpers import by_name, names, warned, write

TOML = """\
[all.vars]
ansible_user = "tomluser"

[web]
children = ["canary"]

[web.hosts]
"web[01:02]" = {}
"web03:2203" = { ansible_ssh_host = "10.8.0.3" }

[web.vars]
ansible_port = 2222

[canary.hosts.c1]
ansible_port = "ssh"

[odd]
note = "x"
"""


def test_toml_groups_hosts_vars_and_children(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts.toml", TOML))
    assert names(inv) == ["web01", "web02", "web03"]
    hosts = by_name(inv)
    assert (hosts["web01"].port, hosts["web01"].user) == (2222, "tomluser")
    assert (hosts["web03"].address, hosts["web03"].port) == ("10.8.0.3", 2203)
    assert hosts["web01"].source == f"{tmp_path / 'hosts.toml'}:8"
    (bad,) = inv.unusable
    assert bad.name == "c1" and bad.groups == ("web", "canary")
    assert bad.reason.startswith(f"{tmp_path / 'hosts.toml'}:14: ansible_port: 'ssh'")
    assert warned(inv, "unexpected key 'note' in group 'odd'")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a = [\nb = 1\n", 2, "TOML: "),
        ("[web]\nhosts = [1]\n", 2, "hosts of group 'web' must be a table"),
        ("[web]\nchildren = 'x'\n", 2, "children of group 'web' must be a list"),
        ('plugin = "constructed"\n', None, "never runs inventory plugins"),
        ("", None, "empty TOML file"),
    ],
)
def test_toml_errors(tmp_path: Path, text: str, line: int | None, message: str) -> None:
    path = write(tmp_path, "hosts.toml", text)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in str(err.value)


TOML_ALPHABET = st.sampled_from(
    list('[]{}=".,:\n abcx019') + ["[web]", "[web.hosts]", "hosts", "vars", "children", "\n"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.lists(TOML_ALPHABET, max_size=80).map("".join)))
def test_fuzz_toml_only_raises_inventory_error(text: str) -> None:
    try:
        loads_inventory(text, source="inv.toml", fmt="toml")
    except InventoryError:
        pass
