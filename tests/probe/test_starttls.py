"""audit.probe.starttls against real local servers (tests/lab/starttls_server.py for SMTP,
IMAP, POP3 and PostgreSQL; tests/tlsserver.py for TLS and banners), and the registry."""

from __future__ import annotations

import asyncio
import time

import pytest

from audit.collect.listeners import STARTTLS_PORTS
from audit.model import ProbeStatus
from audit.probe import STARTTLS_PROTOCOLS, probe_direct
from audit.probe.starttls import REGISTRY, StartTls, by_name, for_port
from tests.tlsserver import TlsServer


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3", "postgres"])
def test_starttls_upgrades_and_shows_the_chain(protocol: str, starttls_servers, material) -> None:  # type: ignore[no-untyped-def]
    _, leaf, _ = material
    port = starttls_servers[(protocol, True)]
    p = asyncio.run(probe_direct("127.0.0.1", port, "mail.example.test", starttls=protocol))
    assert p.status is ProbeStatus.TLS, p.error
    assert p.chain[0].common_name == "mail.example.test" and len(p.chain) == 2


@pytest.mark.parametrize(
    ("protocol", "said"),
    [
        ("smtp", "does not offer STARTTLS"),
        ("imap", "STARTTLS refused"),
        ("pop3", "STLS refused"),
        ("postgres", "answered the SSLRequest with N"),
    ],
)
def test_no_upgrade_offered_is_a_plaintext_answer(
    protocol: str, said: str, starttls_servers
) -> None:  # type: ignore[no-untyped-def]
    port = starttls_servers[(protocol, False)]
    p = asyncio.run(probe_direct("127.0.0.1", port, None, starttls=protocol))
    assert p.status is ProbeStatus.PLAINTEXT and said in p.error, p.error


def test_starttls_against_a_silent_tls_server_tries_the_handshake(material) -> None:  # type: ignore[no-untyped-def]
    h, leaf, _ = material
    with TlsServer([leaf, h.intermediate]) as srv:
        started = time.monotonic()
        p = asyncio.run(probe_direct("127.0.0.1", srv.port, None, deadline=6, starttls="smtp"))
    assert p.status is ProbeStatus.TLS and time.monotonic() - started < 5


def test_starttls_against_a_banner_that_is_not_the_protocol(material) -> None:  # type: ignore[no-untyped-def]
    with TlsServer(mode="banner") as srv:
        p = asyncio.run(probe_direct("127.0.0.1", srv.port, None, starttls="smtp"))
    assert p.status is ProbeStatus.PLAINTEXT and "SSH-2.0" in p.error


def test_an_unknown_protocol_is_an_outcome(material) -> None:  # type: ignore[no-untyped-def]
    h, leaf, _ = material
    with TlsServer([leaf, h.intermediate]) as srv:
        p = asyncio.run(probe_direct("127.0.0.1", srv.port, None, starttls="gopher"))
    assert p.status is ProbeStatus.HANDSHAKE_FAILED
    assert p.error == "unknown STARTTLS protocol 'gopher'"


# -- the registry ---------------------------------------------------------------------


def test_registry_names_its_classes() -> None:
    assert STARTTLS_PROTOCOLS == ("smtp", "imap", "pop3", "postgres")
    for name, cls in REGISTRY.items():
        assert issubclass(cls, StartTls) and cls.name == name and cls.default_ports
        assert by_name(name) is cls
    assert by_name("gopher") is None


def test_for_port_agrees_with_the_listener_plan() -> None:
    """collect.listeners (a lower layer, so it cannot import the registry) picks the
    protocol a listener is probed with from the port: the two tables must agree."""
    assert {port: cls.name for cls in REGISTRY.values() for port in cls.default_ports} == (
        STARTTLS_PORTS
    )
    for port, name in STARTTLS_PORTS.items():
        cls = for_port(port)
        assert cls is not None and cls.name == name
    assert for_port(443) is None
