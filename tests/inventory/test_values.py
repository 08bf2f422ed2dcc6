"""audit.inventory.values: which variables are used, converted or refused with a warning.

Inventories are given as text to loads_inventory or written into tmp_path.
"""

from __future__ import annotations

import pytest

from tests.inventory.helpers import by_name, ini, warned, yml


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("True", True),
        ("yes", True),
        ("YES", True),
        ("1", True),
        ("on", True),
        ("false", False),
        ("no", False),
        ("0", False),
        ("False", False),
        ("off", False),
    ],
)
def test_become_booleans(value: str, expected: bool) -> None:
    assert ini(f"h ansible_become={value}\n").hosts[0].become is expected
    yaml_host = yml(f"all:\n  hosts:\n    h:\n      ansible_become: {value}\n").hosts[0]
    assert yaml_host.become is expected


def test_key_file_tilde_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/auditor")
    host = ini("h ansible_ssh_private_key_file=~/.ssh/id_ed25519\n").hosts[0]
    assert host.key_file == "/home/auditor/.ssh/id_ed25519"


@pytest.mark.parametrize(
    ("line", "var", "why"),
    [
        (
            "h ansible_ssh_common_args='-o ProxyCommand=\"nc %h %p\"'",
            "ansible_ssh_common_args",
            "never passes inventory text",
        ),
        ("h ansible_ssh_extra_args=-v", "ansible_ssh_extra_args", "never passes"),
        ("h ansible_ssh_args=-C", "ansible_ssh_args", "never passes"),
        ("h ansible_ssh_executable=/tmp/evil", "ansible_ssh_executable", "never passes"),
        ("h ansible_become_exe=/tmp/evil", "ansible_become_exe", "never passes"),
        ("h ansible_host='ProxyCommand=nc'", "ansible_host", "ProxyCommand/ProxyJump"),
        ("h ansible_user=proxyjump", "ansible_user", "ProxyCommand/ProxyJump"),
        ("h ansible_connection=local", "ansible_connection='local'", "SSH only"),
        ("h ansible_host='{{ inventory_hostname }}.lan'", "ansible_host", "Jinja2 template"),
        (
            "h certaudit_cert_path=/a.pem",
            "certaudit_cert_path",
            "did you mean certaudit_cert_paths",
        ),
        ("h ansible_group_priority=3", "ansible_group_priority", "only takes effect"),
    ],
)
def test_refused_variables_warn_with_file_and_line(line: str, var: str, why: str) -> None:
    inv = ini(f"[g]\n{line}\n")
    assert warned(inv, "inv.ini:2:", var, why), inv.warnings
    host = inv.hosts[0]
    assert (host.address, host.user, host.cert_paths) == ("h", None, ())


def test_harmless_values_are_accepted_silently() -> None:
    inv = ini(
        "h ansible_connection=ssh\n"
        "h2 ansible_connection=paramiko ansible_host=proxyjump01.example.com\n"
        "h3 ansible_python_interpreter=/usr/bin/python3 my_app_password=x\n"
    )
    assert inv.warnings == ()
    assert by_name(inv)["h2"].address == "proxyjump01.example.com"
