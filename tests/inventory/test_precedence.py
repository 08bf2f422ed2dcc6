"""audit.inventory.precedence: which definition wins, and conflict warnings.

Inventories are given as text to loads_inventory or written into tmp_path.
"""

from __future__ import annotations

import pytest

from tests.inventory.helpers import by_name, ini, warned, yml

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
