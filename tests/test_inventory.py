"""audit.inventory: Ansible INI/YAML inventories -> hosts; errors name file and line.

Inventories are written into tmp_path (or given as text to loads_inventory). Nothing in
an inventory may execute, and a canary password must appear nowhere.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.errors import InventoryError
from audit.inventory import Inventory, load_inventory, loads_inventory, select
from audit.model import Host

REPO = Path(__file__).resolve().parent.parent
CANARY = "CANARY-pw-7f3a9c1e"


def write(tmp_path: Path, name: str, text: str, mode: int | None = None) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    if mode is not None:
        path.chmod(mode)
    return path


def ini(text: str, limit: str | None = None) -> Inventory:
    return loads_inventory(text, source="inv.ini", limit=limit)


def yml(text: str, limit: str | None = None) -> Inventory:
    return loads_inventory(text, source="inv.yml", fmt="yaml", limit=limit)


def by_name(inv: Inventory) -> dict[str, Host]:
    return {h.name: h for h in inv.hosts}


def names(inv: Inventory) -> list[str]:
    return [h.name for h in inv.hosts]


def warned(inv: Inventory, *fragments: str) -> list[str]:
    return [w for w in inv.warnings if all(f in w for f in fragments)]


# --------------------------------------------------------------------------- INI basics


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
        ("/k/id   # trailing comment", "/k/id"),
        ('"/k/my id"', "/k/my id"),
        ("'/k/id' ; comment", "/k/id"),
        ("'/k/#1'", "/k/#1"),
        ("  /k/id  ", "/k/id"),
    ],
)
def test_ini_group_vars_values(value: str, expected: str) -> None:
    inv = ini(f"[g]\nh\n[g:vars]\nansible_ssh_private_key_file = {value}\n")
    assert inv.hosts[0].key_file == expected


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


def test_key_file_tilde_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/auditor")
    host = ini("h ansible_ssh_private_key_file=~/.ssh/id_ed25519\n").hosts[0]
    assert host.key_file == "/home/auditor/.ssh/id_ed25519"


# --------------------------------------------------------------------------- ranges, IPv6


def test_range_zero_padded_fifty() -> None:
    inv = ini("[web]\nweb[01:50].example.com\n")
    assert len(inv.hosts) == 50
    assert names(inv)[0] == "web01.example.com"
    assert names(inv)[8:10] == ["web09.example.com", "web10.example.com"]
    assert names(inv)[-1] == "web50.example.com"
    assert all(h.source == "inv.ini:2" for h in inv.hosts)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("web[1:3]", ["web1", "web2", "web3"]),
        ("web[a:c]", ["weba", "webb", "webc"]),
        ("web[1:10:4]", ["web1", "web5", "web9"]),
        ("web[01:10:3]", ["web01", "web04", "web07", "web10"]),
        ("db-[a:b]-[1:2]", ["db-a-1", "db-a-2", "db-b-1", "db-b-2"]),
        ("n[:2]", ["n0", "n1", "n2"]),
        ("[a:b]web", ["aweb", "bweb"]),
        ("web[7:7]", ["web7"]),
        ("web[1:2].example.com:2222", ["web1.example.com", "web2.example.com"]),
        ("2001:db8::[1:3]", ["2001:db8::1", "2001:db8::2", "2001:db8::3"]),
        ("10.0.0.[1:2]", ["10.0.0.1", "10.0.0.2"]),
    ],
)
def test_ranges(pattern: str, expected: list[str]) -> None:
    assert names(ini(f"[g]\n{pattern}\n")) == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("web[5:1]", "start comes after the end"),
        ("web[c:a]", "start comes after the end"),
        ("web[01:100]", "same width"),
        ("web[a:5]", "both numbers or both single letters"),
        ("web[1:2:0]", "step must be a positive"),
        ("web[1:2:x]", "step must be a positive"),
        ("web[1:2:3:4]", "must be [start:end]"),
        ("web[1]", "must be [start:end]"),
        ("web[1:]", "both numbers"),
        ("web[1:2", "unbalanced brackets"),
        ("web1:2]", "unbalanced brackets"),
        ("web[0:99999999]", "more than"),
        ("w[0:999]x[0:999]", "more than"),
        ("web1:", "ends in ':'"),
        ("web1:99999", "not a port number"),
        ("web1:abc", "not a valid host name"),
        ("---", "YAML"),
    ],
)
def test_bad_host_patterns_name_file_and_line(pattern: str, message: str) -> None:
    with pytest.raises(InventoryError) as err:
        ini(f"[g]\nok\n{pattern}\n")
    assert err.value.path == "inv.ini" and err.value.line == 3
    assert message in str(err.value)
    assert str(err.value).startswith("inv.ini:3: ")


@pytest.mark.parametrize(
    ("line", "name", "address", "port"),
    [
        ("2001:db8::1", "2001:db8::1", "2001:db8::1", None),
        ("[2001:db8::1]:2222", "2001:db8::1", "2001:db8::1", 2222),
        ("[2001:db8::1]", "2001:db8::1", "2001:db8::1", None),
        ("::1", "::1", "::1", None),
        ("fe80::1%eth0", "fe80::1%eth0", "fe80::1%eth0", None),
        ("v6 ansible_host=2001:DB8:0::10", "v6", "2001:db8::10", None),
        ("v6 ansible_host=[2001:db8::10] ansible_port=22", "v6", "2001:db8::10", 22),
        ("v6 ansible_host='[2001:db8::10]'", "v6", "2001:db8::10", None),
        ("192.0.2.1:2200", "192.0.2.1", "192.0.2.1", 2200),
    ],
)
def test_ipv6_and_ip_literals(line: str, name: str, address: str, port: int | None) -> None:
    host = ini(f"[edge]\n{line}\n").hosts[0]
    assert (host.name, host.address, host.port) == (name, address, port)


def test_ipv6_in_yaml() -> None:
    inv = yml(
        'all:\n  hosts:\n    "[2001:db8::1]:2222":\n    v6:\n      ansible_host: "2001:db8::2"\n'
    )
    assert [(h.name, h.address, h.port) for h in inv.hosts] == [
        ("2001:db8::1", "2001:db8::1", 2222),
        ("v6", "2001:db8::2", None),
    ]


# --------------------------------------------------------------------------- INI errors


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("[web\nh\n", 1, "unbalanced brackets"),
        ("[web]\nh\n[web:stuff]\n", 3, "unknown type"),
        ("[we b]\n", 1, "invalid section header"),
        ("[web]\nh ansible_port=abc\n", 2, "ansible_port: 'abc' is not a port number"),
        ("[web]\nh ansible_port=0\n", 2, "0 is not a port number"),
        ("[web]\nh ansible_port=65536\n", 2, "65536 is not a port number"),
        ("[web]\nh\n[web:vars]\nansible_port=-1\n", 4, "is not a port number"),
        ("[web]\nh ansible_become=maybe\n", 2, "not a boolean"),
        ("[web]\nh stray\n", 2, "expected key=value"),
        ("[web]\nh =value\n", 2, "expected key=value"),
        ("[web]\nh ansible_user='unterminated\n", 2, "cannot read host line"),
        ("[web]\nh\n[web:vars]\njust words\n", 4, "expected key=value"),
        ("[web]\nh\n[web:vars]\nk = 'open\n", 4, "missing closing quote"),
        ("[web]\nh\n[web:vars]\nk = 'a' b\n", 4, "after the closing quote"),
        ("[web]\nh\n[web:children]\nbad child\n", 4, "expected a group name"),
        ("[web]\nh\n[web:children]\nghost\n", 4, "never defined"),
        ("[web]\nh\n[db:vars]\nx=1\n", 3, "never defined"),
        ("[a]\nh\n[a:children]\nb\n[b:children]\na\n", 6, "contain each other"),
        ("[a]\nh\n[a:children]\na\n", 4, "its own child"),
        ("[a]\nh\n[a:children]\nall\n", 4, "cannot be a child"),
        ("[web]\nh ansible_host=bad/host\n", 2, "not a host name or IP address"),
        ("[web]\nh ansible_host=-oProxy\n", 2, "not a host name or IP address"),
        ("[web]\nh ansible_user=-l\n", 2, "not a user name"),
        ("[web]\nh certaudit_cert_paths=relative/a.pem\n", 2, "not an absolute path"),
        ("[web]\nh certaudit_tls_ports=443,https\n", 2, "not a port number"),
        ("[web]\nh certaudit_tls_ports=[443\n", 2, "not a port number"),
        ("[web]\nh certaudit_tls_names='a b'\n", 2, "not a host name to send as SNI"),
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


def test_host_name_that_is_not_an_address_needs_ansible_host() -> None:
    with pytest.raises(InventoryError, match=r"inv.ini:2: .*no ansible_host"):
        ini("[g]\nweb_01!\n")
    assert ini("[g]\nweb_01! ansible_host=10.0.0.1\n").hosts[0].address == "10.0.0.1"


def test_pending_children_defined_later_is_fine() -> None:
    inv = ini("[prod:children]\nweb\n[web]\nw1\n")
    assert by_name(inv)["w1"].groups == ("prod", "web")


# --------------------------------------------------------------------------- file errors


def test_empty_path_is_not_the_current_directory() -> None:
    with pytest.raises(InventoryError, match="no inventory path given"):
        load_inventory("")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as err:
        load_inventory(tmp_path / "nope.ini")
    assert err.value.path == str(tmp_path / "nope.ini") and "not found" in str(err.value)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "hosts.ini", "h\n", mode=0o000)
    real_open = os.open

    def deny(file: Any, *args: Any, **kwargs: Any) -> int:
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)  # root would read it whatever its mode
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.path == str(path) and "permission denied" in str(err.value)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "hosts"
    os.mkfifo(fifo)
    with pytest.raises(InventoryError, match="not a regular file"):
        load_inventory(fifo)


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"", None, "defines no hosts"),
        (b"# only comments\n\n[web]\n[web:vars]\nx=1\n", None, "defines no hosts"),
        (b"a\nb\n\xff\xfe\n", 3, "not valid UTF-8"),
        (b"a\n\x00\x01", 2, "NUL"),
    ],
)
def test_bad_files(tmp_path: Path, data: bytes, line: int | None, message: str) -> None:
    path = tmp_path / "hosts.ini"
    path.write_bytes(data)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in str(err.value)


def test_empty_yaml_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="defines no hosts"):
        load_inventory(write(tmp_path, "hosts.yml", "---\n# nothing\n"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InventoryError, match="defines no hosts"):
        load_inventory(tmp_path / "empty")


@pytest.mark.parametrize(
    ("name", "text", "mode"),
    [
        ("inventory.py", "print('{}')\n", 0o644),
        ("dynamic", "#!/bin/sh\necho '{}'\n", 0o755),
        ("dynamic.ini", "#!/bin/sh\ntouch pwned\n", 0o644),
        ("hosts", "web1\n", 0o755),
    ],
)
def test_dynamic_inventory_script_is_refused_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str, mode: int
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, name, text, mode=mode)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.path == str(path)
    assert "scripts are never executed" in str(err.value)
    assert not (tmp_path / "pwned").exists()


def test_executable_static_file_is_read_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", "web1\n", mode=0o755)
    inv = load_inventory(path)
    assert names(inv) == ["web1"]
    assert warned(inv, str(path), "executable", "never run")


def test_vault_encrypted_inventory_file(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.yml", "$ANSIBLE_VAULT;1.1;AES256\n616263\n")
    with pytest.raises(InventoryError, match="vault-encrypted"):
        load_inventory(path)


def test_format_is_sniffed_without_extension(tmp_path: Path) -> None:
    assert names(load_inventory(write(tmp_path, "a/hosts", "all:\n  hosts:\n    y1:\n"))) == ["y1"]
    assert names(load_inventory(write(tmp_path, "b/hosts", "[g]\ni1:2222\n"))) == ["i1"]


# --------------------------------------------------------------------------- YAML


YAML_FLEET = """\
all:
  vars:
    ansible_user: ops
  hosts:
    bastion:
      ansible_host: 192.0.2.1
  children:
    web:
      vars:
        ansible_port: 2222
        certaudit_tls_ports: [443, "8443"]
      hosts:
        web[1:2]:
        web3: ~
      children:
        canary:
          vars:
            ansible_port: 2200
          hosts:
            web3:
              certaudit_cert_paths: /etc/a.pem, /etc/b.pem
    db:
      hosts:
        db1:
          ansible_become: yes
          certaudit_probe_direct: true
"""


def test_yaml_nesting_and_precedence() -> None:
    inv = yml(YAML_FLEET)
    assert names(inv) == ["bastion", "web1", "web2", "web3", "db1"]
    hosts = by_name(inv)
    assert hosts["bastion"] == Host(
        name="bastion", address="192.0.2.1", user="ops", groups=("ungrouped",), source="inv.yml:5"
    )
    assert hosts["web1"].port == 2222 and hosts["web1"].tls_ports == (443, 8443)
    assert hosts["web3"].port == 2200
    assert hosts["web3"].groups == ("web", "canary")
    assert hosts["web3"].cert_paths == ("/etc/a.pem", "/etc/b.pem")
    assert hosts["web3"].source == "inv.yml:14"
    assert hosts["db1"].become is True and hosts["db1"].probe_direct is True
    assert inv.groups["web"] == ("web1", "web2", "web3")
    assert inv.warnings == ()


def test_yaml_top_level_groups_other_than_all() -> None:
    inv = yml("web:\n  hosts:\n    w1:\ndb:\n  hosts:\n    d1:\n")
    assert [h.groups for h in inv.hosts] == [("web",), ("db",)]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("all:\n  hosts:\n    - a\n    - b\n", 2, "must be a mapping of host names"),
        ("all:\n  hosts:\n    a: 5\n", 3, "must be a mapping"),
        ("all:\n  vars: [1]\n  hosts:\n    a:\n", 2, "must be a mapping"),
        ("all:\n  children: [web]\n", 2, "mapping of group names"),
        ("all: [a, b]\n", 1, "must be a mapping of hosts, vars and children"),
        ("- a\n", 1, "top level must be a mapping"),
        ("all:\n  hosts:\n    a:\n      ansible_port: [22]\n", 4, "not a port number"),
        ("all:\n  hosts:\n    a:\n      ansible_port: true\n", 4, "not a port number"),
        ("all:\n  hosts:\n    a:\n      x: !custom 1\n", 4, "constructor for the tag"),
        ("all:\n  hosts:\n    a:\n      x: 2020-13-45\n", 4, "cannot be read"),
        ("all:\n  hosts:\n    a:\n   b:\n", 4, "YAML"),
        ("all:\n  hosts:\n    a: {\n", 4, "YAML"),
        ("all:\n  hosts:\n    a:\n\tb:\n", 4, "YAML"),
        ("all:\n  hosts:\n    a: *nowhere\n", 3, "undefined alias"),
        ("a: 1\n---\nb: 2\n", 2, "single document"),
        ("all:\n  hosts:\n    'web[1:2':\n", 3, "unbalanced"),
        ("all:\n  hosts:\n    ? [a, b]\n    : 1\n", 3, "expected a name"),
        (
            "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n"
            "            a:\n",
            7,
            "contain each other",
        ),
    ],
)
def test_yaml_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(InventoryError) as err:
        yml(text)
    assert (err.value.path, err.value.line) == ("inv.yml", line)
    assert str(err.value).startswith(f"inv.yml:{line}: ")
    assert message in str(err.value)


def test_yaml_vault_and_unsafe_tags() -> None:
    inv = yml(
        "all:\n"
        "  vars:\n"
        "    db_secret: !vault |\n"
        "      $ANSIBLE_VAULT;1.1;AES256\n"
        "      62313365396662343061393464336163383764373764613633653634306231386433626436623361\n"
        "    ansible_user: !vault |\n"
        "      $ANSIBLE_VAULT;1.1;AES256\n"
        "      3132\n"
        "    certaudit_tls_names: !unsafe 'www.example.com'\n"
        "  hosts:\n"
        "    h:\n"
    )
    host = inv.hosts[0]
    assert host.user is None and host.tls_names == ("www.example.com",)
    assert warned(inv, "inv.yml:3:", "db_secret", "vault-encrypted")
    assert warned(inv, "inv.yml:6:", "ansible_user", "vault-encrypted")
    assert not any("AES256" in w or "6231" in w for w in inv.warnings)


def test_yaml_duplicates_unexpected_keys_and_top_level_hosts() -> None:
    inv = yml(
        "all:\n"
        "  hosts:\n"
        "    a:\n"
        "      ansible_port: 1\n"
        "    a:\n"
        "      ansible_port: 2\n"
        "  web1:\n"
        "hosts:\n"
        "  b:\n"
    )
    assert by_name(inv)["a"].port == 2
    assert warned(inv, "inv.yml:5:", "duplicate key 'a'", "line 3")
    assert warned(inv, "inv.yml:7:", "unexpected key 'web1'")
    assert warned(inv, "inv.yml:8:", "read as a group name")


def test_yaml_anchors_merge_keys_and_recursive_aliases() -> None:
    inv = yml(
        "all:\n"
        "  children:\n"
        "    web:\n"
        "      vars: &common\n"
        "        ansible_user: ops\n"
        "        ansible_port: 2222\n"
        "      hosts:\n"
        "        w1:\n"
        "    db:\n"
        "      vars:\n"
        "        <<: *common\n"
        "        ansible_port: 5432\n"
        "      hosts:\n"
        "        d1:\n"
        "          weird: &loop [*loop]\n"
    )
    assert [(h.user, h.port) for h in inv.hosts] == [("ops", 2222), ("ops", 5432)]
    assert inv.warnings == ()  # an own key overriding a merged one is not a duplicate


def laughs(last: str) -> str:
    lines = ["all:", "  vars:", "    l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*l{i - 1}"] * 10)
        lines.append(f"    l{i}: &l{i} [{refs}]")
    lines += [f"    {last}: *l8", "  hosts:", "    h:"]
    return "\n".join(lines) + "\n"


def test_yaml_billion_laughs_is_bounded() -> None:
    assert names(yml(laughs("unused_var"))) == ["h"]
    assert warned(yml(laughs("ansible_ssh_extra_args")), "ansible_ssh_extra_args")
    with pytest.raises(InventoryError, match="inv.yml:12: certaudit_cert_paths"):
        yml(laughs("certaudit_cert_paths"))


# --------------------------------------------------------------------------- nothing executes


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
    with pytest.raises(InventoryError):
        ini("h ansible_host='$(touch pwned)'\n")
    with pytest.raises(InventoryError):
        ini("[g]\n$(touch pwned)\n")
    assert not (tmp_path / "pwned").exists()


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


# --------------------------------------------------------------------------- secrets


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
        (f"[web]\nw1\n[web:vars]\nansible_password = '{CANARY}' oops\n", "ini"),
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


# --------------------------------------------------------------------------- precedence


PRECEDENCE = """\
[all:vars]
ansible_user=from_all
ansible_port=1001
certaudit_tls_ports=1

[prod:children]
web

[prod:vars]
ansible_user=from_prod
ansible_port=1002

[web]
w1
w2 ansible_user=from_host

[web:vars]
ansible_user=from_web
"""


def test_all_parent_child_host_precedence() -> None:
    hosts = by_name(ini(PRECEDENCE))
    assert (hosts["w1"].user, hosts["w1"].port, hosts["w1"].tls_ports) == ("from_web", 1002, (1,))
    assert hosts["w2"].user == "from_host"
    assert ini(PRECEDENCE).warnings == ()


@pytest.mark.parametrize(
    ("extra", "expected_user"),
    [
        ("", "from_b"),
        ("[a:vars]\nansible_group_priority=5\n", "from_a"),
        ("[b:vars]\nansible_group_priority=0\n", "from_a"),
    ],
)
def test_sibling_groups_alphabetical_then_priority(extra: str, expected_user: str) -> None:
    text = "[b]\nh\n[a]\nh\n[a:vars]\nansible_user=from_a\n[b:vars]\nansible_user=from_b\n"
    inv = ini(text + extra)
    assert inv.hosts[0].user == expected_user
    (warning,) = warned(inv, "host h has conflicting connection settings")
    assert warning.startswith("inv.ini:2: ")
    assert "'from_a' at inv.ini:6 ([a:vars])" in warning
    assert "'from_b' at inv.ini:8 ([b:vars])" in warning
    assert f"auditing {expected_user}@h" in warning


def test_deeper_group_beats_shallower_unrelated_group() -> None:
    inv = ini(
        "[z]\nh\n[z:vars]\nansible_port=1\n"
        "[parent:children]\nchild\n[child]\nh\n[child:vars]\nansible_port=2\n"
    )
    assert inv.hosts[0].port == 2
    assert warned(inv, "conflicting", "port 1 at inv.ini:4", "2 at inv.ini:10", "h:2")


def test_same_host_two_groups_different_endpoint_later_line_wins() -> None:
    inv = ini(
        "[web]\napp1 ansible_host=10.0.0.1 ansible_user=web\n"
        "[db]\napp1 ansible_host=10.0.0.2 ansible_user=db ansible_port=2222\n"
    )
    host = inv.hosts[0]
    assert (host.address, host.port, host.user, host.source) == (
        "10.0.0.2",
        2222,
        "db",
        "inv.ini:2",
    )
    (warning,) = inv.warnings
    assert warning.startswith("inv.ini:2: host app1 has conflicting connection settings")
    assert "'10.0.0.1' at inv.ini:2 (host line in [web])" in warning
    assert "'10.0.0.2' at inv.ini:4 (host line in [db])" in warning
    assert "later host definition wins" in warning
    assert warning.endswith("auditing db@10.0.0.2:2222")


def test_same_host_two_groups_same_endpoint_no_warning() -> None:
    inv = ini("[web]\napp1 ansible_host=10.0.0.1\n[db]\napp1 ansible_host=10.0.0.1\n[lb]\napp1\n")
    assert inv.warnings == () and inv.hosts[0].groups == ("web", "db", "lb")


def test_ipv6_endpoint_in_conflict_warning() -> None:
    inv = ini("[a]\nh ansible_host=2001:db8::1\n[b]\nh ansible_host=2001:db8::2 ansible_port=22\n")
    assert inv.warnings[0].endswith("auditing [2001:db8::2]:22")


def test_yaml_same_host_in_two_groups() -> None:
    inv = yml(
        "all:\n  children:\n    web:\n      hosts:\n        app1:\n          ansible_port: 22\n"
        "    db:\n      hosts:\n        app1:\n          ansible_port: 2222\n"
    )
    assert inv.hosts[0].port == 2222
    assert warned(inv, "inv.yml:5:", "22 at inv.yml:6", "2222 at inv.yml:10", "app1:2222")


def test_group_vars_and_host_vars_files(tmp_path: Path) -> None:
    write(tmp_path, "group_vars/all.yml", "ansible_user: gv_all\n")
    write(tmp_path, "group_vars/web/10-main.yml", "ansible_port: 2022\n")
    write(tmp_path, "group_vars/web/20-tls.yaml", "certaudit_tls_ports: [443]\n")
    write(tmp_path, "group_vars/web.yml", "ansible_port: 9999\n")  # the directory wins
    write(tmp_path, "group_vars/db", "certaudit_tls_names: [db.example.com]\n")
    write(tmp_path, "group_vars/unknown.yml", "ansible_port: [not, read]\n")
    write(tmp_path, "host_vars/w2.yml", "ansible_user: hv_w2\nansible_port: 2\n")
    write(tmp_path, "host_vars/w1.yaml", "---\n")
    write(tmp_path, "group_vars/db.yml.bak", "nonsense: [\n")
    path = write(
        tmp_path,
        "hosts.ini",
        "[web]\nw1 ansible_port=1\nw2 ansible_user=inline\n[db]\nd1\n"
        "[web:vars]\nansible_user=inventory_web\n",
    )
    hosts = by_name(load_inventory(path))
    # group_vars/all beats [web:vars] written in the inventory, as in Ansible.
    assert (hosts["w1"].user, hosts["w1"].port, hosts["w1"].tls_ports) == ("gv_all", 1, (443,))
    assert (hosts["w2"].user, hosts["w2"].port) == ("hv_w2", 2)
    assert (hosts["d1"].user, hosts["d1"].tls_names) == ("gv_all", ("db.example.com",))
    inv = load_inventory(path)
    assert warned(inv, "host w1 has conflicting", "inventory_web", "gv_all")


def test_vars_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "group_vars/web.yml", "ansible_user: ok\nansible_port: nope\n")
    path = write(tmp_path, "hosts.ini", "[web]\nw1\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.path == os.path.join(str(tmp_path), "group_vars", "web.yml")
    assert err.value.line == 2
    write(tmp_path, "group_vars/web.yml", "- a\n")
    with pytest.raises(InventoryError, match="mapping of variable names"):
        load_inventory(path)


def test_vault_encrypted_vars_file_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "group_vars/all/vault.yml", "$ANSIBLE_VAULT;1.1;AES256\n3132\n")
    inv = load_inventory(write(tmp_path, "hosts.ini", "h\n"))
    assert warned(inv, "vault.yml", "vault-encrypted")


# --------------------------------------------------------------------------- directories


def test_inventory_directory(tmp_path: Path) -> None:
    inv_dir = tmp_path / "prod"
    write(inv_dir, "10-web.ini", "[web]\nw1\nw2\n")
    write(inv_dir, "20-db.yml", "all:\n  children:\n    db:\n      hosts:\n        d1:\n")
    write(inv_dir, "30-more/hosts", "[web]\nw3\n[prod:children]\nweb\ndb\n")
    write(inv_dir, ".hidden.ini", "hidden\n")
    write(inv_dir, "README.md", "# not an inventory\n")
    write(inv_dir, "hosts.ini~", "backup\n")
    write(inv_dir, "ec2.py", "print('{}')\n")
    write(inv_dir, "script", "#!/bin/sh\ntouch pwned\n", mode=0o755)
    write(inv_dir, "group_vars/web.yml", "ansible_port: 2222\n")
    write(inv_dir, "host_vars/d1.yml", "ansible_user: dba\n")
    inv = load_inventory(inv_dir)
    assert names(inv) == ["w1", "w2", "d1", "w3"]
    hosts = by_name(inv)
    assert hosts["w3"].port == 2222 and hosts["w3"].groups == ("web", "prod")
    assert hosts["d1"].user == "dba" and hosts["d1"].groups == ("db", "prod")
    assert hosts["w1"].source == os.path.join(str(inv_dir), "10-web.ini") + ":2"
    assert warned(inv, "ec2.py", "skipped", "never executed")
    assert warned(inv, "script", "skipped", "never executed")
    assert not (inv_dir / "pwned").exists()
    assert not any("hidden" in w or "README" in w for w in inv.warnings)


def test_directory_with_a_bad_file_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.ini", "h1\n")
    write(tmp_path, "b.ini", "[web\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(tmp_path)
    assert (err.value.path, err.value.line) == (os.path.join(str(tmp_path), "b.ini"), 1)


# --------------------------------------------------------------------------- --limit


LIMIT_INV = """\
[web]
web1
web2
web3
[db]
db1
db2
[staging]
web3
db2
[prod:children]
web
db
[dc1]
web1
"""


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("web1", ["web1"]),
        ("web", ["web1", "web2", "web3"]),
        ("all", ["web1", "web2", "web3", "db1", "db2"]),
        ("*", ["web1", "web2", "web3", "db1", "db2"]),
        ("web:db", ["web1", "web2", "web3", "db1", "db2"]),
        ("db1,web1", ["web1", "db1"]),
        ("prod:&staging", ["web3", "db2"]),
        ("prod:!staging", ["web1", "web2", "db1"]),
        ("web,!web1", ["web2", "web3"]),
        ("!staging", ["web1", "web2", "db1"]),
        ("&web", ["web1", "web2", "web3"]),
        ("web*", ["web1", "web2", "web3"]),
        ("*1", ["web1", "db1"]),
        ("d?1", ["web1", "db1"]),
        ("~web[12]", ["web1", "web2"]),
        ("~(db|dc)", ["web1", "db1", "db2"]),
        ("web[0]", ["web1"]),
        ("web[-1]", ["web3"]),
        ("web[1:2]", ["web2", "web3"]),
        ("prod[3:]", ["db1", "db2"]),
        ("web, db2 ", ["web1", "web2", "web3", "db2"]),
    ],
)
def test_limit_patterns(pattern: str, expected: list[str]) -> None:
    assert names(ini(LIMIT_INV, limit=pattern)) == expected


def test_limit_keeps_groups_consistent() -> None:
    inv = ini(LIMIT_INV, limit="staging")
    assert inv.groups["web"] == ("web3",) and inv.groups["dc1"] == ()


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("nosuch", "'nosuch' matches no host or group"),
        ("web:dbb", "'dbb' matches no host"),
        ("web:&nosuch", "'&nosuch' matches no host"),
        ("web:!web", "leaves no host"),
        ("", "empty"),
        (" , ", "empty"),
        ("~[unclosed", "not a valid regular expression"),
        ("web[7]", "matches no host"),
        ("ungrouped:web1", "'ungrouped' matches no host"),
        ("web:!web1,", "'web:!web1' matches no host"),  # with a comma, only commas split
        ("!", "names nothing"),
    ],
)
def test_limit_errors(pattern: str, message: str) -> None:
    with pytest.raises(InventoryError) as err:
        ini(LIMIT_INV, limit=pattern)
    assert err.value.path == "inv.ini" and err.value.line is None
    assert str(err.value).startswith("inv.ini: --limit: ")
    assert message in str(err.value)


def test_select_is_pure_and_host_name_beats_group_name() -> None:
    hosts = (Host("web", "web"), Host("w1", "w1", groups=("web",)))
    groups = {"all": ("web", "w1"), "web": ("w1",)}
    assert select(hosts, "web", groups) == (hosts[0],)
    assert select(hosts, "w*", groups) == hosts
    with pytest.raises(InventoryError) as err:
        select(hosts, "nope", groups)
    assert err.value.path == "--limit"


def test_limit_ipv6_host() -> None:
    inv = ini("[g]\n2001:db8::1\n2001:db8::2\n", limit="2001:db8::2")
    assert names(inv) == ["2001:db8::2"]


def test_host_and_group_with_the_same_name_warns() -> None:
    inv = ini("[web]\nweb\nw1\n")
    assert warned(inv, "inv.ini:2:", "both a host and a group")
    assert names(ini("[web]\nweb\nw1\n", limit="web")) == ["web"]


def test_load_inventory_with_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", LIMIT_INV)
    assert names(load_inventory(path, limit="staging")) == ["web3", "db2"]
    with pytest.raises(InventoryError, match=r"hosts\.ini: --limit: 'x' matches no host"):
        load_inventory(path, limit="x")


# --------------------------------------------------------------------------- examples


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


# --------------------------------------------------------------------------- fuzz


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
    assert isinstance(inv, Inventory) and inv.hosts


YAML_ALPHABET = st.sampled_from(
    list(":-[]{}#&*!|>'\" \n\tabcx01?,") + ["all:", "\n  hosts:", "\n    h:", "!vault ", "<<: "]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.lists(YAML_ALPHABET, max_size=80).map("".join)))
def test_fuzz_yaml_only_raises_inventory_error(text: str) -> None:
    try:
        yml(text)
    except InventoryError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_fuzz_limit_only_raises_inventory_error(pattern: str) -> None:
    try:
        ini(LIMIT_INV, limit=pattern)
    except InventoryError:
        pass
