"""audit.inventory.limit: Ansible --limit patterns, through select and load_inventory.

Inventories are given as text to loads_inventory or written into tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import InventoryError
from audit.inventory import load_inventory, select
from tests.inventory.helpers import ini, names, warned, write

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
        ("web:dbb", ["web1", "web2", "web3"]),
        ("~[unclosed", ["web1", "web2", "web3", "db1", "db2"]),
        ("ungrouped:web1", ["web1"]),
        ("~web[12]:!web2", ["web1"]),
        ("prod[2:]", ["web3", "db1", "db2"]),
        ("dc1[0]:staging[1]", ["web1", "db2"]),
        ("!web1,web2", ["web2"]),
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
        ("nosuch", "'nosuch' leaves no host"),
        ("web:&nosuch", "leaves no host"),
        ("web:!web", "leaves no host"),
        ("", "empty"),
        (" , ", "empty"),
        ("~web(", "not a valid pattern"),
        ("web[7]", "no host at index 7"),
        ("web:!web1,", "leaves no host"),  # with a comma, only commas split
        ("!", "names nothing"),
        ("@/nonexistent/limit", "limit file '/nonexistent/limit' not found"),
    ],
)
def test_limit_errors(pattern: str, message: str) -> None:
    with pytest.raises(InventoryError) as err:
        ini(LIMIT_INV, limit=pattern)
    assert err.value.path == "inv.ini" and err.value.line is None
    assert str(err.value).startswith("inv.ini: --limit: ")
    assert message in str(err.value)


def test_select_is_pure_and_host_name_beats_group_name() -> None:
    names_ = ["web", "w1"]
    groups = {"all": ("web", "w1"), "web": ("w1",)}
    assert select(names_, "web", groups) == ["web"]
    assert select(names_, "all:!web", groups) == ["web"]  # !web means the group
    assert select(names_, "w*", groups) == names_
    with pytest.raises(InventoryError) as err:
        select(names_, "nope", groups)
    assert err.value.path == "--limit"


def test_unmatched_terms_warn_and_are_ignored() -> None:
    inv = ini(LIMIT_INV, limit="web,nosuch")
    assert names(inv) == ["web1", "web2", "web3"]
    assert warned(inv, "inv.ini: --limit: 'nosuch' matches no host or group; ignored")


def test_limit_file(tmp_path: Path) -> None:
    path = write(tmp_path, "limit.txt", "web\n!web2\n\ndb1\n")
    assert names(ini(LIMIT_INV, limit=f"@{path}")) == ["web1", "web3", "db1"]
    assert names(ini(LIMIT_INV, limit=f"@{path},db2")) == ["web1", "web3", "db1", "db2"]


def test_subscripts_take_own_hosts_first_then_children() -> None:
    text = "[dc:children]\nweb\n[dc]\nown\n[web]\nw1\nw2\n"
    assert names(ini(text, limit="dc[0]")) == ["own"]
    assert names(ini(text, limit="dc[1:2]")) == ["w1", "w2"]
    assert names(ini(text, limit="all[-1]")) == ["w2"]


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
    with pytest.raises(InventoryError, match=r"hosts\.ini: --limit: 'x' leaves no host"):
        load_inventory(path, limit="x")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_fuzz_limit_only_raises_inventory_error(pattern: str) -> None:
    try:
        ini(LIMIT_INV, limit=pattern)
    except InventoryError:
        pass
