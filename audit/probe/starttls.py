"""STARTTLS: the plaintext preamble that upgrades a connection to TLS.

One class per protocol, each registered under its name in `REGISTRY`. A class negotiates
on the (reader, writer) pair the probe opened, then returns with the stream ready for the
ClientHello; when the server does not upgrade it raises `StartTlsRefused`, whose status
says how the exchange ended and whose error names the protocol and what the server said
(a server that does not offer the upgrade is a PLAINTEXT answer).

Adding a protocol is one class and one registry line::

    class Nntp(ServerSpeaksFirst):
        name = "nntp"
        default_ports = (119,)

        async def dialogue(self, lines, writer):
            ...

    REGISTRY = _registry(Smtp, Imap, Pop3, Ftp, Postgres, Ldap, Xmpp, Mysql, Nntp)

Line-based protocols where the server greets first (SMTP, IMAP, POP3, FTP) derive from
`ServerSpeaksFirst`, which also handles a silent server (perhaps implicit TLS on a STARTTLS
port: the handshake is then tried directly) and checks that nothing is left unread once
the server agreed to upgrade. Other protocols derive from `StartTls` directly.

A class whose server speaks first may also recognise its greeting (`recognises`): `detect`
names the protocol from the first bytes a server sent, so that an SMTP server on an
unusual port is upgraded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import time
from abc import ABC, abstractmethod
from typing import ClassVar, cast
from xml.etree.ElementTree import Element, ParseError, XMLPullParser
from xml.sax.saxutils import escape as xml_escape

from audit.model import ProbeStatus
from audit.probe import starttls_codec as codec
from audit.probe.names import printable
from audit.probe.wire import READ_CHUNK

MAX_PREAMBLE = 64 * 1024
"""Bytes a server may send before the upgrade completes."""

GREETING_WAIT = 3.0
"""Seconds to wait for a greeting before taking the silence as a server that speaks TLS
at once (implicit TLS on a STARTTLS port): the handshake is then tried directly."""


class StartTlsRefused(Exception):
    """The preamble did not end in an upgrade; `status` says how it ended."""

    def __init__(self, status: ProbeStatus, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class StartTls(ABC):
    """One protocol's plaintext preamble. A fresh instance serves one connection.

    `servername` is the name the client asks for (XMPP's stream `to`); None when the
    probe sends no SNI, in which case `address` stands in.
    """

    name: ClassVar[str]
    """What `starttls=` and Listener.starttls call the protocol."""
    label: ClassVar[str]
    """How messages name the protocol ("SMTP")."""
    default_ports: ClassVar[tuple[int, ...]]
    """Ports where the protocol is expected."""

    def __init__(self, servername: str | None = None, address: str = "") -> None:
        self.servername = servername
        self.address = address

    @abstractmethod
    async def negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        """Run the preamble; return when the stream is ready for the ClientHello.

        `deadline` is the time.monotonic() by which the whole probe must end (the caller
        enforces it; a class may use it to size its own waits). Raises StartTlsRefused.
        """

    @classmethod
    def recognises(cls, first: bytes) -> bool:
        """True when `first` (what a server sent unasked) is this protocol's greeting."""
        return False

    def refused(self, what: str, said: bytes) -> StartTlsRefused:
        """The server answered, but not with an upgrade: a PLAINTEXT outcome."""
        return StartTlsRefused(ProbeStatus.PLAINTEXT, f"{self.label}: {what} ({printable(said)})")

    def closed(self, when: str, said: bytes = b"") -> StartTlsRefused:
        """The server closed the connection before the upgrade."""
        text = f" (it said {printable(said)})" if said else ""
        return StartTlsRefused(
            ProbeStatus.PLAINTEXT if said else ProbeStatus.CLOSED,
            f"{self.label}: the server closed the connection {when}{text}",
        )


async def _first_bytes(reader: asyncio.StreamReader, deadline: float) -> bytes | None:
    """The first bytes of a greeting; None when the server stays silent (perhaps implicit
    TLS), b"" when it closes the connection."""
    wait = max(0.05, min(GREETING_WAIT, deadline - time.monotonic() - 0.5))
    try:
        return await asyncio.wait_for(reader.read(READ_CHUNK), wait)
    except TimeoutError:
        return None


def _tls_first(data: bytes) -> StartTlsRefused | None:
    if data[:1] in (b"\x15", b"\x16"):  # an alert or handshake record, unasked
        return StartTlsRefused(
            ProbeStatus.HANDSHAKE_FAILED, "the server sent TLS records before any ClientHello"
        )
    return None


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def _first_line(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def _words(line: bytes) -> list[bytes]:
    """The words of a greeting, upper-cased, stripped of punctuation around them."""
    return [w.strip(b"()[];,:<>\"'") for w in line.upper().split()]


# --------------------------------------------------------------------------- line protocols


class _Lines:
    """Lines from a stream, with a cap on what a peer may send before TLS."""

    def __init__(self, reader: asyncio.StreamReader, label: str) -> None:
        self.reader = reader
        self.label = label
        self.buffer = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.buffer += data
        self.total += len(data)

    async def line(self) -> bytes:
        while b"\n" not in self.buffer:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                said = printable(bytes(self.buffer)) if self.buffer else "nothing"
                raise StartTlsRefused(
                    ProbeStatus.CLOSED if not self.total else ProbeStatus.PLAINTEXT,
                    f"{self.label}: the server closed the connection during STARTTLS "
                    f"(it said {said})",
                )
            self.total += len(data)
            if self.total > MAX_PREAMBLE:
                raise StartTlsRefused(
                    ProbeStatus.PLAINTEXT,
                    f"{self.label}: the server sent too much before STARTTLS completed",
                )
            self.buffer += data
        end = self.buffer.index(b"\n") + 1
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        return line

    async def smtp_reply(self) -> tuple[bytes, bytes]:
        """(code, all lines) of one SMTP reply ("250-..." lines up to "250 ...")."""
        lines = []
        while True:
            line = await self.line()
            lines.append(line)
            if not line[:3].isdigit() or line[3:4] != b"-":  # "250 x" ends it; junk too
                return line[:3], b"".join(lines)

    async def ftp_reply(self) -> tuple[bytes, bytes]:
        """(code, last line) of one FTP reply: "220-" opens a multi-line reply that the
        first line starting "220 " closes; the lines between may say anything."""
        line = await self.line()
        code = line[:3]
        if not code.isdigit() or line[3:4] != b"-":
            return code, line
        while True:
            last = await self.line()
            if last[:3] == code and last[3:4] == b" ":
                return code, last


class ServerSpeaksFirst(StartTls):
    """A line-based protocol where the server greets first: wait for the greeting, run
    `dialogue`, then insist that nothing arrived after the server agreed to upgrade."""

    async def negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        first = await _first_bytes(reader, deadline)
        if first is None:
            return  # silent: perhaps implicit TLS; the handshake will tell
        if not first:
            raise self.closed("without a greeting")
        if (tls := _tls_first(first)) is not None:
            raise tls
        lines = _Lines(reader, self.label)
        lines.add(first)
        await self.dialogue(lines, writer)
        if lines.buffer:
            raise StartTlsRefused(
                ProbeStatus.HANDSHAKE_FAILED,
                f"{self.label}: the server sent data after accepting STARTTLS "
                f"({printable(bytes(lines.buffer))})",
            )

    @abstractmethod
    async def dialogue(self, lines: _Lines, writer: asyncio.StreamWriter) -> None:
        """From the greeting (its first bytes are in `lines`) to the server's yes."""


class Smtp(ServerSpeaksFirst):
    """SMTP (RFC 3207): 220 greeting, EHLO listing STARTTLS, STARTTLS answered 220."""

    name = "smtp"
    label = "SMTP"
    default_ports = (25, 587)

    @classmethod
    def recognises(cls, first: bytes) -> bool:
        line = _first_line(first)
        return line[:4] in (b"220 ", b"220-") and bool({b"ESMTP", b"SMTP"} & set(_words(line)))

    async def dialogue(self, lines: _Lines, writer: asyncio.StreamWriter) -> None:
        code, said = await lines.smtp_reply()
        if code != b"220":
            raise self.refused("unexpected greeting", said)
        await _send(writer, b"EHLO certaudit.invalid\r\n")
        code, said = await lines.smtp_reply()
        if code != b"250":
            raise self.refused("EHLO refused", said)
        if not re.search(rb"^250[ -]STARTTLS\b", said.upper(), re.M):
            raise self.refused("the server does not offer STARTTLS", said)
        await _send(writer, b"STARTTLS\r\n")
        code, said = await lines.smtp_reply()
        if code != b"220":
            raise self.refused("STARTTLS refused", said)


class Imap(ServerSpeaksFirst):
    """IMAP (RFC 2595): * OK (or PREAUTH) greeting, then a tagged STARTTLS answered OK."""

    name = "imap"
    label = "IMAP"
    default_ports = (143,)

    @classmethod
    def recognises(cls, first: bytes) -> bool:
        line = _first_line(first).upper()
        return line.startswith((b"* OK", b"* PREAUTH")) and b"IMAP" in line

    async def dialogue(self, lines: _Lines, writer: asyncio.StreamWriter) -> None:
        said = await lines.line()
        if not said.upper().startswith((b"* OK", b"* PREAUTH")):
            raise self.refused("unexpected greeting", said)
        await _send(writer, b"ca1 STARTTLS\r\n")
        while True:  # untagged lines may come first
            said = await lines.line()
            if said.startswith(b"ca1 "):
                break
        if not said.upper().startswith(b"CA1 OK"):
            raise self.refused("STARTTLS refused", said)


class Pop3(ServerSpeaksFirst):
    """POP3 (RFC 2595): +OK greeting, then STLS answered +OK."""

    name = "pop3"
    label = "POP3"
    default_ports = (110,)

    @classmethod
    def recognises(cls, first: bytes) -> bool:
        return first.startswith(b"+OK")

    async def dialogue(self, lines: _Lines, writer: asyncio.StreamWriter) -> None:
        said = await lines.line()
        if not said.startswith(b"+OK"):
            raise self.refused("unexpected greeting", said)
        await _send(writer, b"STLS\r\n")
        said = await lines.line()
        if not said.startswith(b"+OK"):
            raise self.refused("STLS refused", said)


class Ftp(ServerSpeaksFirst):
    """FTP: 220 greeting (possibly multi-line), AUTH TLS answered 234."""

    name = "ftp"
    label = "FTP"
    default_ports = (21,)

    @classmethod
    def recognises(cls, first: bytes) -> bool:
        line = _first_line(first)
        # FTP in a word of its own ("vsFTPd", "ProFTPD", "FTP"), not in a dotted host name
        return line[:4] in (b"220 ", b"220-") and any(
            b"FTP" in w and b"." not in w for w in _words(line)
        )

    async def dialogue(self, lines: _Lines, writer: asyncio.StreamWriter) -> None:
        code, said = await lines.ftp_reply()
        if code != b"220":
            raise self.refused("unexpected greeting", said)
        await _send(writer, b"AUTH TLS\r\n")
        code, said = await lines.ftp_reply()
        if code != b"234":
            raise self.refused("AUTH TLS refused", said)


# --------------------------------------------------------------------------- PostgreSQL


class Postgres(StartTls):
    """PostgreSQL: the client speaks first, an SSLRequest packet answered by one byte,
    S (go ahead) or N (TLS is off)."""

    name = "postgres"
    label = "PostgreSQL"
    default_ports = (5432,)
    SSL_REQUEST = struct.pack("!ii", 8, 80877103)

    async def negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        await _send(writer, self.SSL_REQUEST)
        answer = await reader.read(1)
        if answer == b"S":
            return
        if answer == b"N":
            raise StartTlsRefused(
                ProbeStatus.PLAINTEXT, "PostgreSQL answered the SSLRequest with N: TLS is off"
            )
        if not answer:
            raise self.closed("on SSLRequest")
        more = b""
        with contextlib.suppress(Exception):
            more = await asyncio.wait_for(reader.read(READ_CHUNK), 0.2)
        raise self.refused("not a PostgreSQL SSLRequest answer", answer + more)


# --------------------------------------------------------------------------- LDAP


class Ldap(StartTls):
    """LDAP StartTLS: the client sends an ExtendedRequest naming OID
    1.3.6.1.4.1.1466.20037; resultCode 0 in the ExtendedResponse means go ahead."""

    name = "ldap"
    label = "LDAP"
    default_ports = (389,)

    async def negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        await _send(writer, codec.LDAP_STARTTLS_REQUEST)
        data = b""
        while True:
            try:
                end = codec.ldap_message_end(data)
            except ValueError:
                raise self.refused("not an LDAP answer", data) from None
            if end is not None:
                break
            more = await reader.read(READ_CHUNK)
            if not more:
                raise self.closed("on the StartTLS request", data)
            data += more
            if len(data) > MAX_PREAMBLE:
                raise self.refused("the server sent too much before StartTLS completed", data)
        try:
            answer = codec.ldap_extended_response(data[:end])
        except ValueError as exc:
            raise self.refused(f"not an LDAP ExtendedResponse: {exc}", data) from None
        said = answer.diagnostic or b"no diagnostic message"
        if answer.message_id == 0:
            raise self.refused(f"notice of disconnection, {answer.code_text}", said)
        if answer.code != 0:
            raise self.refused(f"StartTLS refused with {answer.code_text}", said)
        if end != len(data):
            raise StartTlsRefused(
                ProbeStatus.HANDSHAKE_FAILED,
                f"LDAP: the server sent data after accepting StartTLS ({printable(data[end:])})",
            )


# --------------------------------------------------------------------------- XMPP

_STREAMS = "{http://etherx.jabber.org/streams}"
_XMPP_TLS = "{urn:ietf:params:xml:ns:xmpp-tls}"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class Xmpp(StartTls):
    """XMPP: a client stream header to the server's domain, <starttls/> in
    the stream features, the client's <starttls/> answered <proceed/>."""

    name = "xmpp"
    label = "XMPP"
    default_ports = (5222,)

    async def negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        domain = xml_escape(self.servername or self.address, {"'": "&apos;"})
        await _send(
            writer,
            b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='"
            + domain.encode("utf-8", "replace")
            + b"'>",
        )
        parser: XMLPullParser = XMLPullParser(events=("end",))
        self.received = 0
        features = await self._element(reader, parser, {f"{_STREAMS}features"})
        offered = features.find(f"{_XMPP_TLS}starttls")
        if offered is None:
            names = ", ".join(_local(child.tag) for child in features) or "none"
            raise self.refused("the server does not offer STARTTLS", f"features: {names}".encode())
        await _send(writer, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        answer = await self._element(reader, parser, {f"{_XMPP_TLS}proceed", f"{_XMPP_TLS}failure"})
        if answer.tag != f"{_XMPP_TLS}proceed":
            raise self.refused("STARTTLS refused", b"<failure/>")

    async def _element(
        self, reader: asyncio.StreamReader, parser: XMLPullParser, wanted: set[str]
    ) -> Element:
        """The next complete element named in `wanted`; a stream error or the end of the
        stream is a refusal naming what the server said."""
        tail = b""
        while True:
            data = await reader.read(READ_CHUNK)
            if not data:
                raise self.closed("during STARTTLS")
            self.received += len(data)
            if self.received > MAX_PREAMBLE:
                raise self.refused("the server sent too much before STARTTLS completed", data)
            if b"<!" in tail + data:  # a DTD (entities) or CDATA: XMPP forbids them
                raise self.refused("the server sent a document type declaration", data)
            tail = data[-1:]
            try:
                parser.feed(data)
                events = list(parser.read_events())
            except ParseError:
                raise self.refused("not an XMPP stream", data) from None
            for event in events:
                element = cast(Element, event[-1])
                if element.tag in wanted:
                    return element
                if element.tag == f"{_STREAMS}error":
                    said = ", ".join(_local(c.tag) for c in element) or "no condition"
                    raise self.refused("the server sent a stream error", said.encode())


# --------------------------------------------------------------------------- MySQL


class Mysql(StartTls):
    """MySQL and MariaDB: the server's protocol 10 greeting must list CLIENT_SSL among its
    capabilities; the client then sends an SSLRequest (sequence id 1) and starts TLS
    without waiting for an answer."""

    name = "mysql"
    label = "MySQL"
    default_ports = (3306,)

    @classmethod
    def recognises(cls, first: bytes) -> bool:
        return codec.looks_like_mysql_greeting(first)

    async def negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        data = await _first_bytes(reader, deadline)
        if data is None:
            return  # silent: perhaps TLS at once; the handshake will tell
        if not data:
            raise self.closed("without a greeting")
        if (tls := _tls_first(data)) is not None:
            raise tls
        while True:
            try:
                end = codec.mysql_packet_end(data, MAX_PREAMBLE)
            except ValueError:
                raise self.refused("not a MySQL greeting", data) from None
            if end is not None and len(data) >= end:
                break
            more = await reader.read(READ_CHUNK)
            if not more:
                raise self.closed("during the greeting", data)
            data += more
        payload = data[4:end]
        if (error := codec.mysql_error(payload)) is not None:
            raise self.refused(f"the server refused the connection with error {error[0]}", error[1])
        try:
            greeting = codec.mysql_greeting(payload)
        except ValueError as exc:
            raise self.refused(str(exc), data) from None
        if not greeting.capabilities & codec.MYSQL_CLIENT_SSL:
            raise self.refused(
                "the server does not offer TLS (no CLIENT_SSL in its greeting)",
                b"server " + greeting.version,
            )
        await _send(writer, codec.MYSQL_SSL_REQUEST)


# --------------------------------------------------------------------------- the registry


def _registry(*classes: type[StartTls]) -> dict[str, type[StartTls]]:
    registry: dict[str, type[StartTls]] = {}
    for cls in classes:
        if cls.name in registry:
            raise ValueError(f"two STARTTLS classes named {cls.name!r}")
        registry[cls.name] = cls
    return registry


REGISTRY: dict[str, type[StartTls]] = _registry(Smtp, Imap, Pop3, Ftp, Postgres, Ldap, Xmpp, Mysql)
"""Every STARTTLS protocol the probe speaks, by name. Order matters to `detect`: SMTP
is asked before FTP whether a "220" greeting is its own."""

STARTTLS_PROTOCOLS = tuple(REGISTRY)
"""The names `starttls=` accepts."""


def by_name(name: str) -> type[StartTls] | None:
    """The class for protocol `name`, or None when there is none."""
    return REGISTRY.get(name)


def for_port(port: int) -> type[StartTls] | None:
    """The protocol expected on `port` (first registered wins), or None."""
    for cls in REGISTRY.values():
        if port in cls.default_ports:
            return cls
    return None


def detect(first: bytes) -> type[StartTls] | None:
    """The protocol whose greeting `first` is (what a server sent before being asked
    anything), or None when no class recognises it."""
    for cls in REGISTRY.values():
        if cls.recognises(first):
            return cls
    return None


async def negotiate(
    protocol: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    deadline: float,
    servername: str | None = None,
    address: str = "",
) -> None:
    """Run `protocol`'s preamble on the stream; StartTlsRefused when there is no upgrade
    (an unknown protocol is a HANDSHAKE_FAILED refusal)."""
    cls = by_name(protocol)
    if cls is None:
        raise StartTlsRefused(
            ProbeStatus.HANDSHAKE_FAILED, f"unknown STARTTLS protocol {protocol!r}"
        )
    await cls(servername, address).negotiate(reader, writer, deadline)
