"""audit.inventory.yamlfile: the YAML format (nesting, tags, anchors, duplicates); errors
name file and line.

Inventories are given as text to loads_inventory or written into tmp_path.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.errors import InventoryError
from audit.model import Host
from tests.inventory.helpers import by_name, names, warned, yml

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
        ("all:\n  hosts:\n    - a\n    - b\n", 2, "must be a mapping of names"),
        ("all:\n  hosts:\n    a: 5\n", 3, "must be a mapping"),
        ("all:\n  vars: [1]\n  hosts:\n    a:\n", 2, "must be a mapping"),
        ("all:\n  children: [web]\n", 2, "must be a mapping of names"),
        ("all:\n  children:\n    web: [a]\n", 3, "must be a mapping of hosts, vars"),
        ("- a\n", 1, "top level must be a mapping"),
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
    assert inv.hosts == ()
    assert inv.unusable[0].reason.startswith("inv.yml:6: ansible_user: it is vault-encrypted")
    assert warned(inv, "inv.yml:3:", "db_secret", "vault-encrypted")
    unsafe = yml(
        "all:\n  vars:\n    certaudit_tls_names: !unsafe 'www.example.com'\n  hosts:\n    h:\n"
    )
    assert unsafe.hosts[0].tls_names == ("www.example.com",)
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
    (bad,) = yml(laughs("certaudit_cert_paths")).unusable
    assert bad.reason.startswith("inv.yml:12: certaudit_cert_paths")


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


@pytest.mark.parametrize(
    ("value", "reason"),
    [("[22]", "not a port number"), ("true", "not a port number"), ('"ssh"', "not a port")],
)
def test_yaml_bad_value_fails_that_host(value: str, reason: str) -> None:
    inv = yml(f"all:\n  hosts:\n    a:\n      ansible_port: {value}\n    b:\n")
    assert names(inv) == ["b"]
    assert inv.unusable[0].reason.startswith("inv.yml:4: ansible_port: ")
    assert reason in inv.unusable[0].reason


def test_yaml_plain_names_for_hosts_and_children() -> None:
    inv = yml("all:\n  children:\n    web:\n      hosts: web1\n    prod:\n      children: web\n")
    assert by_name(inv)["web1"].groups == ("web", "prod")


def test_yaml_top_level_group_that_is_not_a_mapping_is_skipped() -> None:
    inv = yml("web: [a, b]\ndb:\n  hosts:\n    d1:\n")
    assert names(inv) == ["d1"]
    assert warned(inv, "inv.yml:1:", "'web' skipped")
