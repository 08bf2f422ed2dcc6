"""audit.probe.starttls against real local servers (tests/lab/starttls_server.py for SMTP,
IMAP, POP3, FTP, PostgreSQL, LDAP, XMPP and MySQL; tests/tlsserver.py for TLS and
banners; a few one-shot servers that answer with exactly the bytes a case needs), the
registry, and detection from a server's greeting."""

from __future__ import annotations

import asyncio
import time

import pytest

from audit.collect.listeners import STARTTLS_PORTS
from audit.model import ProbeStatus
from audit.probe import STARTTLS_PROTOCOLS, probe_direct
from audit.probe.handshake import direct_stream, probe_detecting
from audit.probe.starttls import REGISTRY, StartTls, by_name, detect, for_port
from tests.lab import starttls_server
from tests.tlsserver import TlsServer

ALL = ["smtp", "imap", "pop3", "ftp", "postgres", "ldap", "xmpp", "mysql"]


@pytest.mark.parametrize("protocol", ALL)
def test_starttls_upgrades_and_shows_the_chain(protocol: str, starttls_servers, material) -> None:  # type: ignore[no-untyped-def]
    _, leaf, _ = material
    port = starttls_servers[(protocol, True)]
    p = asyncio.run(probe_direct("127.0.0.1", port, "mail.example.test", starttls=protocol))
    assert p.status is ProbeStatus.TLS, p.error
    assert p.chain[0].common_name == "mail.example.test" and len(p.chain) == 2


@pytest.mark.parametrize(
    ("protocol", "said"),
    [
        ("smtp", "SMTP: the server does not offer STARTTLS (250-mail.lab.test)"),
        ("imap", "IMAP: STARTTLS refused (ca1 NO not available)"),
        ("pop3", "POP3: STLS refused (-ERR not available)"),
        ("ftp", "FTP: AUTH TLS refused (502 Command not implemented: TLS is not configured)"),
        ("postgres", "PostgreSQL answered the SSLRequest with N: TLS is off"),
        (
            "ldap",
            "LDAP: StartTLS refused with resultCode 2 (protocolError) (unsupported extended "
            "operation)",
        ),
        ("xmpp", "XMPP: the server does not offer STARTTLS (features: mechanisms)"),
        (
            "mysql",
            "MySQL: the server does not offer TLS (no CLIENT_SSL in its greeting) (server "
            "8.0.36-certaudit-lab)",
        ),
    ],
)
def test_no_upgrade_offered_is_a_plaintext_answer_naming_protocol_and_answer(
    protocol: str, said: str, starttls_servers
) -> None:  # type: ignore[no-untyped-def]
    port = starttls_servers[(protocol, False)]
    p = asyncio.run(probe_direct("127.0.0.1", port, None, starttls=protocol))
    assert p.status is ProbeStatus.PLAINTEXT and p.error == said, p.error
    assert not p.chain


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
    assert STARTTLS_PROTOCOLS == tuple(ALL)
    for name, cls in REGISTRY.items():
        assert issubclass(cls, StartTls) and cls.name == name and cls.default_ports
        assert by_name(name) is cls and cls.label
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


def test_every_well_known_port_has_its_protocol() -> None:
    expected = {25: "smtp", 587: "smtp", 110: "pop3", 143: "imap", 21: "ftp", 389: "ldap"}
    expected |= {5222: "xmpp", 5432: "postgres", 3306: "mysql"}
    assert {port: cls.name for port in expected if (cls := for_port(port))} == expected


# -- detection from the greeting --------------------------------------------------------


@pytest.mark.parametrize(
    ("greeting", "protocol"),
    [
        (b"220 mx.example.com ESMTP Postfix (Debian/GNU)\r\n", "smtp"),
        (b"220-mail.example.com ESMTP Exim 4.96\r\n220 welcome\r\n", "smtp"),
        (b"220 mail.example.com Microsoft ESMTP MAIL Service ready\r\n", "smtp"),
        (b"220 ftp.example.com ESMTP\r\n", "smtp"),  # a host named ftp.* speaking SMTP
        (b"220 (vsFTPd 3.0.3)\r\n", "ftp"),
        (b"220 ProFTPD Server (Debian) [::ffff:10.0.0.5]\r\n", "ftp"),
        (b"220-certaudit-lab FTP server\r\n", "ftp"),
        (b"220 smtp.example.com FTP service ready\r\n", "ftp"),  # and the other way round
        (b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready.\r\n", "imap"),
        (b"* PREAUTH IMAP4rev1 server logged in as alice\r\n", "imap"),
        (b"+OK Dovecot ready.\r\n", "pop3"),
        (b"J\x00\x00\x00\n8.0.36\x00\x08\x00\x00\x00abcdefgh\x00\xff\xff", "mysql"),
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", None),
        (b"HTTP/1.1 400 Bad Request\r\n", None),
        (b"220 hello\r\n", None),  # a 220 that names nothing
        (b"* OK ready\r\n", None),  # IMAP-shaped, but not saying so
        (b"-ERR unknown command\r\n", None),
        (b"\x15\x03\x03\x00\x02\x02\x46", None),  # a TLS alert
        (b"", None),
    ],
)
def test_detect_names_the_protocol_a_greeting_says(greeting: bytes, protocol: str | None) -> None:
    cls = detect(greeting)
    assert (cls.name if cls else None) == protocol


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3", "ftp", "mysql"])
def test_probe_detecting_upgrades_a_greeting_on_any_port(protocol: str, starttls_servers) -> None:  # type: ignore[no-untyped-def]
    port = starttls_servers[(protocol, True)]
    p, spoken = asyncio.run(
        probe_detecting(
            direct_stream("127.0.0.1", port),
            host="h",
            address="127.0.0.1",
            port=port,
            servername="mail.example.test",
        )
    )
    assert (p.status, spoken) == (ProbeStatus.TLS, protocol), p.error
    assert p.chain[0].common_name == "mail.example.test"


def test_probe_detecting_leaves_tls_and_other_banners_alone(material) -> None:  # type: ignore[no-untyped-def]
    h, leaf, _ = material

    def run(port: int) -> tuple[ProbeStatus, str | None, str]:
        p, spoken = asyncio.run(
            probe_detecting(
                direct_stream("127.0.0.1", port),
                host="h",
                address="127.0.0.1",
                port=port,
                servername=None,
            )
        )
        return p.status, spoken, p.error

    with TlsServer([leaf, h.intermediate]) as srv:
        assert run(srv.port)[:2] == (ProbeStatus.TLS, None)
    with TlsServer(mode="banner") as srv:
        status, spoken, error = run(srv.port)
        assert (status, spoken) == (ProbeStatus.PLAINTEXT, None) and "SSH-2.0" in error


def test_a_refusing_server_found_by_its_greeting_is_a_stated_refusal(starttls_servers) -> None:  # type: ignore[no-untyped-def]
    port = starttls_servers[("ftp", False)]
    p, spoken = asyncio.run(
        probe_detecting(
            direct_stream("127.0.0.1", port),
            host="h",
            address="127.0.0.1",
            port=port,
            servername=None,
        )
    )
    assert spoken == "ftp" and p.status is ProbeStatus.PLAINTEXT
    assert p.error.startswith("FTP: AUTH TLS refused (502 ")


# -- XMPP addresses the stream to the server name -----------------------------------------


def test_xmpp_stream_goes_to_the_server_name(material) -> None:  # type: ignore[no-untyped-def]
    _, _, folder = material
    proc, port = starttls_server.start(
        "xmpp", str(folder / "chain.pem"), str(folder / "key.pem"), domain="mail.example.test"
    )
    try:
        good = asyncio.run(probe_direct("127.0.0.1", port, "mail.example.test", starttls="xmpp"))
        other = asyncio.run(probe_direct("127.0.0.1", port, "other.test", starttls="xmpp"))
    finally:
        proc.terminate()
        proc.wait(5)
    assert good.status is ProbeStatus.TLS, good.error
    assert other.status is ProbeStatus.PLAINTEXT
    assert other.error == "XMPP: the server sent a stream error (host-unknown)"


# -- servers that answer with exactly these bytes ------------------------------------------


def _canned(protocol: str, answer: bytes, *, close: bool = True) -> tuple[ProbeStatus, str]:
    """Probe a one-shot server that reads what the client sends first (for client-first
    protocols), then sends `answer` and closes (or stays open)."""

    async def run() -> tuple[ProbeStatus, str]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if protocol in ("ldap", "xmpp", "postgres"):
                await reader.read(4096)
            writer.write(answer)
            await writer.drain()
            if not close:
                await asyncio.sleep(3)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            p = await probe_direct("127.0.0.1", port, "x.test", deadline=2, starttls=protocol)
        return p.status, p.error

    return asyncio.run(run())


def _ber(tag: int, content: bytes) -> bytes:
    return bytes([tag, len(content)]) + content


def _mysql_packet(payload: bytes, sequence: int = 0) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload


@pytest.mark.parametrize(
    ("protocol", "answer", "status", "error"),
    [
        (
            "ldap",
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            ProbeStatus.PLAINTEXT,
            "LDAP: not an LDAP answer (HTTP/1.1 400 Bad Request)",
        ),
        (
            "ldap",  # a notice of disconnection: messageID 0, resultCode 52 unavailable
            _ber(
                0x30,
                _ber(0x02, b"\x00")
                + _ber(
                    0x78,
                    _ber(0x0A, b"\x34")
                    + _ber(0x04, b"")
                    + _ber(0x04, b"shutting down")
                    + _ber(0x8A, b"1.3.6.1.4.1.1466.20036"),
                ),
            ),
            ProbeStatus.PLAINTEXT,
            "LDAP: notice of disconnection, resultCode 52 (unavailable) (shutting down)",
        ),
        (
            "ldap",
            bytes.fromhex("300c02010078070a01340400040a"),
            ProbeStatus.PLAINTEXT,
            "LDAP: not an LDAP ExtendedResponse",
        ),
        (
            "ldap",
            b"",
            ProbeStatus.CLOSED,
            "LDAP: the server closed the connection on the StartTLS request",
        ),
        (
            "xmpp",
            b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>]><stream:stream>",
            ProbeStatus.PLAINTEXT,
            "XMPP: the server sent a document type declaration",
        ),
        (
            "xmpp",
            b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
            b"<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            b"</stream:error></stream:stream>",
            ProbeStatus.PLAINTEXT,
            "XMPP: the server sent a stream error (see-other-host)",
        ),
        ("xmpp", b"not xml at all <<<", ProbeStatus.PLAINTEXT, "XMPP: not an XMPP stream"),
        (
            "mysql",  # an error packet instead of a greeting
            _mysql_packet(b"\xff\x6a\x04#HY000Host '10.0.0.9' is not allowed to connect"),
            ProbeStatus.PLAINTEXT,
            "MySQL: the server refused the connection with error 1130 (Host '10.0.0.9' is",
        ),
        (
            "mysql",
            b"\x05\x00\x00\x00\x09abcd",
            ProbeStatus.PLAINTEXT,
            "MySQL: not a MySQL protocol 10 greeting",
        ),
        ("mysql", b"\xff\xff\xff\x00", ProbeStatus.PLAINTEXT, "MySQL: not a MySQL greeting"),
        (
            "ftp",
            b"421 Too many connections\r\n",
            ProbeStatus.PLAINTEXT,
            "FTP: unexpected greeting (421 Too many connections)",
        ),
        (
            "ftp",
            b"220 ready\r\n",  # then closes instead of answering AUTH TLS
            ProbeStatus.PLAINTEXT,
            "FTP: the server closed the connection during STARTTLS (it said nothing)",
        ),
    ],
)
def test_what_a_server_said_instead_of_upgrading(
    protocol: str, answer: bytes, status: ProbeStatus, error: str
) -> None:
    got_status, got_error = _canned(protocol, answer)
    assert got_status is status and got_error.startswith(error), got_error


def test_a_silent_mysql_port_tries_the_handshake_within_the_deadline() -> None:
    started = time.monotonic()
    status, error = _canned("mysql", b"", close=False)
    assert time.monotonic() - started < 3.5
    assert status in (ProbeStatus.TIMEOUT, ProbeStatus.CLOSED), error
