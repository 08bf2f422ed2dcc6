"""STARTTLS: the plaintext preamble that upgrades a connection to TLS.

One class per protocol, each registered under its name in `REGISTRY`. A class negotiates
on the (reader, writer) pair the probe opened, then returns with the stream ready for the
ClientHello; when the server does not upgrade it raises `StartTlsRefused`, whose status
says how the exchange ended (a server that does not offer the upgrade is a PLAINTEXT
answer with what it said).

Adding a protocol is one class and one registry line::

    class Ftp(ServerSpeaksFirst):
        name = "ftp"
        default_ports = (21,)

        async def dialogue(self, lines, writer):
            ...

    REGISTRY = _registry(Smtp, Imap, Pop3, Postgres, Ftp)

Line-based protocols where the server greets first (SMTP, IMAP, POP3) derive from
`ServerSpeaksFirst`, which also handles a silent server (perhaps implicit TLS on a STARTTLS
port: the handshake is then tried directly) and checks that nothing is left unread once
the server agreed to upgrade. Other protocols derive from `StartTls` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import time
from abc import ABC, abstractmethod
from typing import ClassVar

from audit.model import ProbeStatus
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
    """One protocol's plaintext preamble. A fresh instance serves one connection."""

    name: ClassVar[str]
    """What `starttls=` and Listener.starttls call the protocol."""
    default_ports: ClassVar[tuple[int, ...]]
    """Ports where the protocol is expected."""

    @abstractmethod
    async def negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        """Run the preamble; return when the stream is ready for the ClientHello.

        `deadline` is the time.monotonic() by which the whole probe must end (the caller
        enforces it; a class may use it to size its own waits). Raises StartTlsRefused.
        """

    def refused(self, what: str, said: bytes) -> StartTlsRefused:
        """The server answered, but not with an upgrade: a PLAINTEXT outcome."""
        return StartTlsRefused(
            ProbeStatus.PLAINTEXT, f"{self.name.upper()}: {what} ({printable(said)})"
        )


class _Lines:
    """Lines from a stream, with a cap on what a peer may send before TLS."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
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
                    f"the server closed the connection during STARTTLS (it said {said})",
                )
            self.total += len(data)
            if self.total > MAX_PREAMBLE:
                raise StartTlsRefused(
                    ProbeStatus.PLAINTEXT, "the server sent too much before STARTTLS completed"
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


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


class ServerSpeaksFirst(StartTls):
    """A line-based protocol where the server greets first: wait for the greeting, run
    `dialogue`, then insist that nothing arrived after the server agreed to upgrade."""

    async def negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        lines = _Lines(reader)
        if not await self._greeting_starts(lines, deadline):
            return  # silent: perhaps implicit TLS; the handshake will tell
        if lines.buffer[:1] in (b"\x15", b"\x16"):  # an alert or handshake record, unasked
            raise StartTlsRefused(
                ProbeStatus.HANDSHAKE_FAILED, "the server sent TLS records before any ClientHello"
            )
        await self.dialogue(lines, writer)
        if lines.buffer:
            raise StartTlsRefused(
                ProbeStatus.HANDSHAKE_FAILED,
                f"the server sent data after accepting STARTTLS ({printable(bytes(lines.buffer))})",
            )

    @abstractmethod
    async def dialogue(self, lines: _Lines, writer: asyncio.StreamWriter) -> None:
        """From the greeting (its first bytes are in `lines`) to the server's yes."""

    @staticmethod
    async def _greeting_starts(lines: _Lines, deadline: float) -> bool:
        """Wait for the greeting's first bytes; False when the server stays silent."""
        wait = max(0.05, min(GREETING_WAIT, deadline - time.monotonic() - 0.5))
        try:
            data = await asyncio.wait_for(lines.reader.read(READ_CHUNK), wait)
        except TimeoutError:
            return False
        if not data:
            raise StartTlsRefused(
                ProbeStatus.CLOSED, "the server closed the connection without a greeting"
            )
        lines.add(data)
        return True


class Smtp(ServerSpeaksFirst):
    """SMTP (RFC 3207): 220 greeting, EHLO listing STARTTLS, STARTTLS answered 220."""

    name = "smtp"
    default_ports = (25, 587)

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
    default_ports = (143,)

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
    default_ports = (110,)

    async def dialogue(self, lines: _Lines, writer: asyncio.StreamWriter) -> None:
        said = await lines.line()
        if not said.startswith(b"+OK"):
            raise self.refused("unexpected greeting", said)
        await _send(writer, b"STLS\r\n")
        said = await lines.line()
        if not said.startswith(b"+OK"):
            raise self.refused("STLS refused", said)


class Postgres(StartTls):
    """PostgreSQL: the client speaks first, an SSLRequest packet answered by one byte,
    S (go ahead) or N (TLS is off)."""

    name = "postgres"
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
            raise StartTlsRefused(
                ProbeStatus.CLOSED, "the server closed the connection on SSLRequest"
            )
        more = b""
        with contextlib.suppress(Exception):
            more = await asyncio.wait_for(reader.read(READ_CHUNK), 0.2)
        raise self.refused("not a PostgreSQL SSLRequest answer", answer + more)


def _registry(*classes: type[StartTls]) -> dict[str, type[StartTls]]:
    registry: dict[str, type[StartTls]] = {}
    for cls in classes:
        if cls.name in registry:
            raise ValueError(f"two STARTTLS classes named {cls.name!r}")
        registry[cls.name] = cls
    return registry


REGISTRY: dict[str, type[StartTls]] = _registry(Smtp, Imap, Pop3, Postgres)
"""Every STARTTLS protocol the probe speaks, by name."""

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


async def negotiate(
    protocol: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
) -> None:
    """Run `protocol`'s preamble on the stream; StartTlsRefused when there is no upgrade
    (an unknown protocol is a HANDSHAKE_FAILED refusal)."""
    cls = by_name(protocol)
    if cls is None:
        raise StartTlsRefused(
            ProbeStatus.HANDSHAKE_FAILED, f"unknown STARTTLS protocol {protocol!r}"
        )
    await cls().negotiate(reader, writer, deadline)
