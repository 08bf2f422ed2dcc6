"""Planning the probes of one host's listeners (collect/listeners.py), over named cases."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.certparse import load_der
from audit.collect.discovery import Socket
from audit.collect.listeners import merge, plan_listeners
from audit.model import (
    CertLocation,
    ConfigListen,
    FoundCert,
    Host,
    ProbeStatus,
    TlsConfig,
    TlsProbe,
    config_for_probe,
)
from tests import pki

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
HOST = Host(name="web1", address="10.0.0.5", tls_names=("Shop.Example.com",), tls_ports=(9000,))


def nginx(
    port: int,
    tls: bool = True,
    names: tuple[str, ...] = (),
    cert: str | None = "/c.pem",
    address: str = "",
) -> TlsConfig:
    return TlsConfig(
        host="web1",
        server="nginx",
        file="/etc/nginx/sites-enabled/site",
        line=1,
        listens=(ConfigListen(address, port, tls, "/etc/nginx/sites-enabled/site", 2),),
        server_names=names,
        cert_file=cert,
        cert_config_file="/etc/nginx/sites-enabled/site",
        cert_config_line=7,
    )


def found(path: str, *names: str, days_before: int = 10) -> FoundCert:
    issued = pki.issue(names[0], now=NOW, sans=list(names), days_before=days_before)
    return FoundCert(load_der(issued.der), CertLocation("web1", path))


def test_wildcard_v4_and_v6_are_one_listener_and_cover_loopback() -> None:
    services = merge(
        [
            Socket("0.0.0.0", 443, "nginx"),
            Socket("::", 443, "nginx"),
            Socket("127.0.0.1", 443),
            Socket("127.0.0.1", 8443),
            Socket("::1", 8443),
            Socket("10.0.0.5", 8080),
            Socket("10.0.0.6", 8080),
        ]
    )
    assert [(s.port, s.addresses) for s in services] == [
        (443, ["0.0.0.0", "::"]),
        (8080, ["10.0.0.5"]),
        (8080, ["10.0.0.6"]),
        (8443, ["127.0.0.1", "::1"]),
    ]


@pytest.mark.parametrize(
    ("port", "configs", "expects"),
    [
        (22, [], False),  # ssh
        (6379, [], False),  # redis
        (443, [], True),  # well-known
        (8443, [], True),
        (9000, [], True),  # certaudit_tls_ports
        (8080, [nginx(8080)], True),  # listen 8080 ssl
        (8080, [nginx(8080, tls=False)], False),
        (443, [nginx(443, tls=False)], True),  # still a TLS port: plaintext there is a finding
    ],
)
def test_expects_tls(port: int, configs: list[TlsConfig], expects: bool) -> None:
    (plan,) = plan_listeners(HOST, [Socket("0.0.0.0", port)], configs)
    assert plan.listener.expects_tls is expects


def test_names_declared_first_then_explored_and_bounded() -> None:
    certs = [
        found("/c.pem", "api.example.com", "www.api.example.com"),
        found("/other.pem", "other.example.com", days_before=1),
    ]
    (plan,) = plan_listeners(
        HOST,
        [Socket("0.0.0.0", 443)],
        [nginx(443, names=("api.example.com", "x.example.com"))],
        certs,
    )
    assert plan.names == (
        "shop.example.com",
        "api.example.com",
        "x.example.com",
        "www.api.example.com",
    )
    assert plan.listener.server_names[:4] == plan.names
    # nothing declared: names from certificates on the host, newest first (explore only)
    bare = Host(name="web1", address="10.0.0.5")
    (plan,) = plan_listeners(bare, [Socket("0.0.0.0", 8443)], [], certs)
    assert plan.names == ("other.example.com", "api.example.com", "www.api.example.com")
    assert plan.listener.server_names == ()
    (plan,) = plan_listeners(bare, [Socket("0.0.0.0", 8443)], [], [])
    assert plan.names == (None,)


def test_config_line_is_the_certificate_directive_or_the_listen_line() -> None:
    (tls_on,) = plan_listeners(HOST, [Socket("0.0.0.0", 443, "nginx")], [nginx(443)])
    assert (tls_on.listener.config_file, tls_on.listener.config_line) == (
        "/etc/nginx/sites-enabled/site",
        7,
    )
    assert tls_on.listener.cert_file == "/c.pem" and tls_on.listener.server == "nginx"
    (tls_off,) = plan_listeners(HOST, [Socket("0.0.0.0", 443)], [nginx(443, tls=False)])
    assert tls_off.listener.config_line == 2  # the listen line lacks `ssl`


@pytest.mark.parametrize(
    ("sockets", "ssh", "direct"),
    [
        ([Socket("0.0.0.0", 443)], ("127.0.0.1",), "10.0.0.5"),
        ([Socket("::", 443)], ("127.0.0.1", "::1"), "10.0.0.5"),
        ([Socket("127.0.0.1", 8443)], ("127.0.0.1",), None),
        ([Socket("::1", 5432)], ("::1",), None),
        # a specific address is reached through the host itself; the runner goes only
        # to the host's inventory address, whatever address the host reports
        ([Socket("192.168.1.9", 636)], ("192.168.1.9",), "10.0.0.5"),
        ([Socket("169.254.169.254", 80)], ("169.254.169.254",), "10.0.0.5"),
        ([Socket("10.99.0.1", 443)], ("10.99.0.1",), "10.0.0.5"),
    ],
)
def test_where_to_connect(sockets: list[Socket], ssh: tuple[str, ...], direct: str | None) -> None:
    (plan,) = plan_listeners(HOST, sockets)
    assert plan.ssh_targets == ssh and plan.direct_target == direct
    assert plan.loopback_only is (direct is None)


@pytest.mark.parametrize(
    ("port", "protocol"),
    [
        (25, "smtp"),
        (587, "smtp"),
        (143, "imap"),
        (110, "pop3"),
        (5432, "postgres"),
        (465, None),
        (993, None),
    ],
)
def test_starttls_ports(port: int, protocol: str | None) -> None:
    (plan,) = plan_listeners(HOST, [Socket("0.0.0.0", port)])
    assert plan.listener.starttls == protocol


def test_the_server_block_answering_a_name() -> None:
    a = nginx(443, names=("a.example.com",), cert="/a.pem")
    b = nginx(443, names=("b.example.com",), cert="/b.pem")
    (plan,) = plan_listeners(HOST, [Socket("0.0.0.0", 443)], [a, b])

    def probe(name: str | None) -> TlsProbe:
        return TlsProbe("web1", "10.0.0.5", 443, name, ProbeStatus.TLS)

    assert config_for_probe([a, b], plan.listener, probe("b.example.com")) is b
    assert config_for_probe([a, b], plan.listener, probe("B.EXAMPLE.COM")) is b
    assert config_for_probe([a, b], plan.listener, probe(None)) is a  # the first: default
    other = nginx(443, names=("c.example.com",), address="192.168.7.7")
    assert config_for_probe([other], plan.listener, probe("c.example.com")) is other
