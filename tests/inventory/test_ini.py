"""audit.inventory.ini: the INI format (sections, host lines, group vars, CRLF); errors name
file and line.

Inventories are given as text to loads_inventory or written into tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.errors import InventoryError
from audit.inventory import Inventory, load_inventory
from audit.model import Host
from tests.inventory.helpers import by_name, ini, names, warned


def test_ini_groups_children_vars_and_order() -> None:
    inv = ini(
        "# fleet\n"
        "lonely.example.com\n"
        "[web]\n"
        "web1 ansible_host=10.0.0.1\n"
        "web2\n"
        "[db]\n"
        "db1 ansible_port=2222 ansible_user=pg\n"
        "web1\n"
        "[prod:children]\n"
        "web\n"
        "db\n"
        "[prod:vars]\n"
        "ansible_user=ops\n"
    )
    assert names(inv) == ["lonely.example.com", "web1", "web2", "db1"]
    hosts = by_name(inv)
    assert hosts["web1"] == Host(
        name="web1",
        address="10.0.0.1",
        user="ops",
        groups=("web", "db", "prod"),
        source="inv.ini:4",
    )
    assert hosts["db1"].port == 2222 and hosts["db1"].user == "pg"
    assert hosts["lonely.example.com"].groups == ("ungrouped",)
    assert hosts["lonely.example.com"].address == "lonely.example.com"
    assert inv.groups["prod"] == ("web1", "web2", "db1")
    assert inv.groups["all"] == tuple(names(inv))
    assert inv.groups["ungrouped"] == ("lonely.example.com",)
    assert inv.warnings == ()


def test_ini_all_section_and_explicit_ungrouped() -> None:
    inv = ini("[all]\na\n[ungrouped]\nb\n[web]\nb\n[all:vars]\nansible_port=2022\n")
    hosts = by_name(inv)
    assert hosts["a"].groups == ("ungrouped",)
    assert hosts["b"].groups == ("web",)
    assert hosts["a"].port == hosts["b"].port == 2022


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ('h ansible_user="deploy"', "user", "deploy"),
        ("h ansible_user='deploy'", "user", "deploy"),
        ("h ansible_user=\"'deploy'\"", "user", "deploy"),
        ("h ansible_port=2222 # a comment", "port", 2222),
        ("h ansible_port='2222'", "port", 2222),
        ("h ansible_ssh_port=2200", "port", 2200),
        ("h ansible_ssh_host=10.1.1.1", "address", "10.1.1.1"),
        ("h ansible_ssh_user=legacy", "user", "legacy"),
        ("h ansible_private_key_file=/keys/id", "key_file", "/keys/id"),
        ("h:2201", "port", 2201),
        ("h:2201 ansible_port=2202", "port", 2202),
        ("h certaudit_cert_paths='/a b/c.pem'", "cert_paths", ("/a b/c.pem",)),
        ("h certaudit_cert_paths=/a.pem,/b.pem", "cert_paths", ("/a.pem", "/b.pem")),
        ("h certaudit_cert_paths=\"['/a.pem', '/b,c.pem']\"", "cert_paths", ("/a.pem", "/b,c.pem")),
        ("h certaudit_tls_names=a.example,b.example", "tls_names", ("a.example", "b.example")),
        ("h certaudit_tls_ports=443,8443,443", "tls_ports", (443, 8443)),
        ("h certaudit_tls_ports=[443,8443]", "tls_ports", (443, 8443)),
        ("h certaudit_tls_ports=636", "tls_ports", (636,)),
        ("h certaudit_probe_direct=yes", "probe_direct", True),
    ],
)
def test_ini_inline_values(line: str, field: str, expected: object) -> None:
    host = ini(f"[g]\n{line}\n").hosts[0]
    assert getattr(host, field) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/k/id", "/k/id"),
        ("/k/id   # not a comment", "/k/id   # not a comment"),
        ('"/k/my id"', "/k/my id"),
        ("'/k/id' ; not a comment", "'/k/id' ; not a comment"),
        ("'/k/#1'", "/k/#1"),
        ("  /k/id  ", "/k/id"),
    ],
)
def test_ini_group_vars_values(value: str, expected: str) -> None:
    inv = ini(f"[g]\nh\n[g:vars]\nansible_ssh_private_key_file = {value}\n")
    assert inv.hosts[0].key_file == expected


def test_crlf_bom_and_comment_styles() -> None:
    text = (
        "\ufeff# c\r\n; c\r\n[web]\r\nweb1 ansible_port=2222\r\n"
        "\r\n[web:vars]\r\nansible_user=ops\r\n"
    )
    inv = ini(text)
    assert inv.hosts[0] == Host(
        name="web1", address="web1", port=2222, user="ops", groups=("web",), source="inv.ini:4"
    )


def test_crlf_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(b"[web]\r\nweb1 ansible_user=ops\r\nweb2\r\n")
    inv = load_inventory(path)
    assert [(h.name, h.user, h.source) for h in inv.hosts] == [
        ("web1", "ops", f"{path}:2"),
        ("web2", None, f"{path}:3"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("[web\nh\n", 1, "unbalanced brackets"),
        ("[web]\nh\n[web:stuff]\n", 3, "unknown type"),
        ("[we b]\n", 1, "invalid section header"),
        ("[web]\nh stray\n", 2, "expected key=value"),
        ("[web]\nh =value\n", 2, "expected key=value"),
        ("[web]\nh ansible_user='unterminated\n", 2, "cannot read host line"),
        ("[web]\nh\n[web:vars]\njust words\n", 4, "expected key=value"),
        ("[web]\nh\n[web:children]\nbad child\n", 4, "expected a group name"),
        ("[web]\nh\n[web:children]\nghost\n", 4, "which is not defined"),
        ("[web]\nh\n[db:vars]\nx=1\n", 3, "group that is not defined"),
        ("[web] ; comment\nh\n", 1, "neither a section header nor a host"),
        ("[2001:db8::1]\n", 1, "invalid section header"),
        ("[a]\nh\n[a:children]\nb\n[b:children]\na\n", 6, "contain each other"),
        ("[a]\nh\n[a:children]\na\n", 4, "its own child"),
        ("[a]\nh\n[a:children]\nall\n", 4, "cannot be a child"),
        ("[web]\nh\n[web:vars]\nansible_group_priority=high\n", 4, "not a whole number"),
        ("[web]\nh\x00\n", 2, "NUL"),
    ],
)
def test_ini_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(InventoryError) as err:
        ini(text)
    assert (err.value.path, err.value.line) == ("inv.ini", line)
    assert str(err.value).startswith(f"inv.ini:{line}: ")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[web]\nh ansible_port=abc\n", "inv.ini:2: ansible_port: 'abc' is not a port number"),
        ("[web]\nh ansible_port=ssh\n", "inv.ini:2: ansible_port: 'ssh' is not a port number"),
        ("[web]\nh ansible_port=0\n", "0 is not a port number"),
        ("[web]\nh ansible_port=65536\n", "65536 is not a port number"),
        ("[web]\nh:99999\n", "inv.ini:2: ansible_port: 99999 is not a port number"),
        ("[web]\nh\n[web:vars]\nansible_port=-1\n", "inv.ini:4: ansible_port: -1 is not a"),
        ("[web]\nh ansible_become=maybe\n", "not a boolean"),
        ("[web]\nh\n[web:vars]\nansible_become = false  # no sudo\n", "not a boolean"),
        ("[web]\nh\n[web:vars]\nansible_user = deploy  # the account\n", "not a user name"),
        ("[web]\nh\n[web:vars]\nansible_user = 'a' b\n", "not a user name"),
        ("[web]\nh ansible_host=bad/host\n", "not a host name or IP address"),
        ("[web]\nh ansible_host=-oProxy\n", "not a host name or IP address"),
        ("[web]\nh ansible_user=-l\n", "not a user name"),
        ("[web]\nh certaudit_cert_paths=relative/a.pem\n", "not an absolute path"),
        ("[web]\nh certaudit_tls_ports=443,https\n", "not a port number"),
        ("[web]\nh certaudit_tls_ports=[443\n", "not a port number"),
        ("[web]\nh certaudit_tls_names='a b'\n", "not a host name to send as SNI"),
        ("[g]\nweb_01!\n", "no ansible_host is set"),
    ],
)
def test_a_value_that_cannot_be_used_fails_that_host_only(text: str, reason: str) -> None:
    inv = ini(text + "[other]\nok1\n")
    assert names(inv) == ["ok1"]
    (bad,) = inv.unusable
    assert bad.name in ("h", "web_01!") and reason in bad.reason
    where, why = bad.reason.split(": ", 1)
    assert warned(inv, f"{where}: host {bad.name} is not audited: {why}")


def test_an_overridden_bad_value_does_not_matter() -> None:
    inv = ini("[web]\nh ansible_port=2222\n[web:vars]\nansible_port=ssh\n")
    assert inv.hosts[0].port == 2222 and inv.unusable == ()
    assert ini("[g]\nweb_01! ansible_host=10.0.0.1\n").hosts[0].address == "10.0.0.1"


def test_ini_values_are_python_literals_as_in_ansible() -> None:
    hosts = by_name(
        ini(
            "[g]\na ansible_port=2222.0 ansible_become=1.0\nb ansible_port=None\n"
            "c ansible_user=1234\n"
        )
    )
    assert (hosts["a"].port, hosts["a"].become) == (2222, True)
    assert hosts["b"].port is None and hosts["c"].user == "1234"


def test_pending_children_must_be_defined_in_the_same_file(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "10-prod").write_text("[db]\ndb1\n[prod:children]\nweb\n")
    (tmp_path / "inv" / "20-web").write_text("[web]\nweb1\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(tmp_path / "inv")
    assert (err.value.path, err.value.line) == (str(tmp_path / "inv" / "10-prod"), 4)
    assert "Ansible skips this whole file" in str(err.value)
    (tmp_path / "inv" / "05-web").write_text("[web]\n")
    assert by_name(load_inventory(tmp_path / "inv"))["web1"].groups == ("web", "prod")


def test_pending_children_defined_later_is_fine() -> None:
    inv = ini("[prod:children]\nweb\n[web]\nw1\n")
    assert by_name(inv)["w1"].groups == ("prod", "web")


INI_ALPHABET = st.sampled_from(
    list("[]:=#;,\"' \t\n\r\\abcxyz019-._*!&~{}$()%") + ["\r\n", ":vars", ":children", "ansible_"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.lists(INI_ALPHABET, max_size=120).map("".join)))
def test_fuzz_ini_only_raises_inventory_error(text: str) -> None:
    try:
        inv = ini(text)
    except InventoryError:
        return
    assert isinstance(inv, Inventory) and (inv.hosts or inv.unusable)
