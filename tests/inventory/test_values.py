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
        ("h ansible_connection=local", "ansible_connection='local'", "SSH only"),
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


@pytest.mark.parametrize(
    ("line", "var", "why"),
    [
        ("h ansible_host='ProxyCommand=nc'", "ansible_host", "ProxyCommand/ProxyJump"),
        ("h ansible_user=proxyjump", "ansible_user", "ProxyCommand/ProxyJump"),
        ("h ansible_host='{{ inventory_hostname }}.lan'", "ansible_host", "Jinja2 template"),
        ("h ansible_port='{{ 2000 + 22 }}'", "ansible_port", "Jinja2 template"),
    ],
)
def test_a_connection_value_certaudit_cannot_use_fails_that_host(
    line: str, var: str, why: str
) -> None:
    inv = ini(f"[g]\n{line}\nok\n")
    assert [h.name for h in inv.hosts] == ["ok"]
    assert inv.unusable[0].reason.startswith(f"inv.ini:2: {var}: ")
    assert warned(inv, "inv.ini:2:", var, why, "not audited")


def test_a_template_in_a_certaudit_variable_is_only_ignored() -> None:
    inv = ini("[g]\nh certaudit_tls_names='{{ x }}'\n")
    assert inv.hosts[0].tls_names == ()
    assert warned(inv, "inv.ini:2:", "certaudit_tls_names ignored", "Jinja2 template")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("h ansible_host=10.0.0.1 ansible_ssh_host=10.0.0.2", ("10.0.0.2", None, None)),
        ("h ansible_ssh_port=2277 ansible_port=2207", ("h", 2277, None)),
        ("h ansible_user=modern", ("h", 2222, "legacy")),
        ("h ansible_host=10.0.0.3", ("10.0.0.9", 2222, "legacy")),
    ],
)
def test_legacy_names_win_whatever_the_level(line: str, expected: tuple[object, ...]) -> None:
    text = f"[g]\n{line}\n[g:vars]\nansible_ssh_port=2222\nansible_ssh_user=legacy\n"
    if "10.0.0.3" in line:
        text += "[all:vars]\nansible_ssh_host=10.0.0.9\n"
    elif "ansible_ssh_port=2277" in line or "ansible_ssh_host" in line:
        text = f"[g]\n{line}\n"
    host = ini(text).hosts[0]
    assert (host.address, host.port, host.user) == expected


def test_legacy_key_file_beats_the_modern_one() -> None:
    line = "h ansible_ssh_private_key_file=/k/legacy ansible_private_key_file=/k/modern"
    assert ini(f"{line}\n").hosts[0].key_file == "/k/legacy"
    inv = ini("[g]\nh ansible_user=host_user\n[g:vars]\nansible_ssh_user=group_user\n")
    assert inv.hosts[0].user == "group_user"
    assert warned(inv, "ansible_ssh_user 'group_user'", "beats ansible_user 'host_user'")


def test_host_named_like_a_group_gives_its_variables_to_the_group() -> None:
    inv = ini("[mail]\nmail ansible_host=192.0.2.25\nmx1\n[web]\nweb1 ansible_user=u\n")
    hosts = by_name(inv)
    assert hosts["mx1"].address == hosts["mail"].address == "192.0.2.25"
    later = by_name(ini("[web]\napi ansible_user=own\nw1\n[api]\na1\n"))
    assert later["api"].user == "own" and later["a1"].user is None


def test_empty_user_key_and_host_are_not_set_as_in_the_ssh_connection() -> None:
    inv = yml(
        "all:\n  vars:\n    ansible_user: group_user\n  hosts:\n    e1:\n"
        '      ansible_user: ""\n      ansible_ssh_private_key_file: ""\n'
        '      ansible_ssh_host: ""\n      ansible_host: 10.0.0.4\n'
    )
    host = inv.hosts[0]
    assert (host.user, host.key_file, host.address) == (None, None, "10.0.0.4")
