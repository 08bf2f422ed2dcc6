"""audit.inventory as a whole: nothing in an inventory executes, no secret leaks, the
example inventories agree.

Inventories are written into tmp_path (or given as text to loads_inventory). Nothing in
an inventory may execute, and a canary password must appear nowhere. The tests of each
module of the package are in tests/inventory/.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from audit.errors import InventoryError
from audit.inventory import Inventory, load_inventory, loads_inventory
from audit.model import Host
from tests.inventory.helpers import by_name, ini, warned, write, yml

REPO = Path(__file__).resolve().parent.parent
CANARY = "CANARY-pw-7f3a9c1e"


def test_command_substitution_is_never_executed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inv = ini(
        "[web]\n"
        "h1 certaudit_cert_paths='/etc/$(touch pwned)'"
        " ansible_ssh_private_key_file='$(touch pwned)'\n"
        "h2 ansible_ssh_common_args='-o ProxyCommand=\"touch pwned\"'\n"
        "[web:vars]\n"
        "ansible_ssh_extra_args = -oProxyCommand=`touch pwned`\n"
    )
    host = by_name(inv)["h1"]
    assert host.cert_paths == ("/etc/$(touch pwned)",)
    assert host.key_file == "$(touch pwned)"
    assert ini("h ansible_host='$(touch pwned)'\nok\n").unusable[0].name == "h"
    with pytest.raises(InventoryError):
        ini("[g]\n$(touch pwned)\n")
    assert not (tmp_path / "pwned").exists()


SECRET_VARS = [
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
    "ansible_ssh_private_key_passphrase",
    "certaudit_api_token",
]


@pytest.mark.parametrize("var", SECRET_VARS)
def test_canary_password_appears_nowhere(tmp_path: Path, var: str) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text(f"{var}: {CANARY}\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "w2.yml").write_text(f"{var}: '{CANARY}'\n")
    path = write(
        tmp_path,
        "hosts.ini",
        f"[web]\nw1 {var}={CANARY}\nw2 {var}='{CANARY} with space'\n[web:vars]\n{var} = {CANARY}\n",
    )
    inv = load_inventory(path)
    dump = repr(inv) + "\n".join(inv.warnings) + str(dataclasses.asdict(inv.hosts[0]))
    assert CANARY not in dump
    assert len(warned(inv, var, "value not shown")) == 5
    yaml_inv = yml(f"all:\n  vars:\n    {var}: {CANARY}\n  hosts:\n    h:\n      {var}: x\n")
    assert CANARY not in repr(yaml_inv)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (f"[web]\nw1 ansible_password={CANARY} stray\n", "ini"),
        (f"[web]\nw1 ansible_password={CANARY} junk more\n", "ini"),
        (f"[web]\nw1 ansible_password='{CANARY}\n", "ini"),
        (f"[web]\nw1\n[web:vars]\nansible_password {CANARY}\n", "ini"),
        (f"[web]\nw1\n[web:vars]\nansible_become_pass: {CANARY}\n", "ini"),
        (f"all:\n  vars:\n    ansible_password: {CANARY}: x\n", "yaml"),
        (f"all:\n  vars:\n    ansible_password: '{CANARY}\n", "yaml"),
        (f'all:\n  vars:\n    ansible_password: "{CANARY}\x07"\n', "yaml"),
        (f"all:\n  vars:\n    ansible_password: {CANARY}\n\t  x: 1\n", "yaml"),
    ],
)
def test_canary_absent_from_errors(text: str, fmt: str) -> None:
    with pytest.raises(InventoryError) as err:
        loads_inventory(text, source="inv", fmt="yaml" if fmt == "yaml" else "ini")
    assert err.value.line is not None
    assert CANARY not in str(err.value) and CANARY not in repr(err.value)
    assert CANARY not in repr(err.value.args)


def test_example_inventories_agree_and_load_cleanly() -> None:
    a = load_inventory(REPO / "inventories" / "example.ini")
    b = load_inventory(REPO / "inventories" / "example.yml")
    assert a.warnings == () and b.warnings == ()

    def key(inv: Inventory) -> list[Host]:
        return [
            dataclasses.replace(h, source="", groups=tuple(sorted(h.groups))) for h in inv.hosts
        ]

    assert key(a) == key(b)
    assert {g: set(m) for g, m in a.groups.items()} == {g: set(m) for g, m in b.groups.items()}
    documented = (REPO / "inventories" / "example.ini").read_text()
    for var in (
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_ssh_private_key_file",
        "ansible_become",
        "certaudit_cert_paths",
        "certaudit_tls_names",
        "certaudit_tls_ports",
        "certaudit_probe_direct",
    ):
        assert var in documented
