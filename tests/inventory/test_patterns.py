"""audit.inventory.patterns: host patterns (ranges, host:port, IPv6) in INI and YAML.

Inventories are given as text to loads_inventory or written into tmp_path.
"""

from __future__ import annotations

import pytest

from audit.errors import InventoryError
from tests.inventory.helpers import by_name, ini, names, warned, yml


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


def test_a_range_that_runs_backwards_defines_no_host() -> None:
    inv = ini("[g]\nok\nweb[3:1]\n")
    assert names(inv) == ["ok"]
    assert warned(inv, "inv.ini:3:", "runs backwards")


def test_a_later_host_port_is_ignored_as_in_ansible() -> None:
    inv = ini("[a]\nh1:2201\nh2\n[b]\nh1:2202\nh2:2302\n")
    hosts = by_name(inv)
    assert (hosts["h1"].port, hosts["h2"].port) == (2201, None)
    assert warned(inv, "inv.ini:5:", "port 2202 of h1:2202 ignored", "inv.ini:2")
