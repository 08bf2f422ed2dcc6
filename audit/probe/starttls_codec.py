"""Byte formats of the binary STARTTLS preambles: LDAP's BER messages and MySQL's packets.

Pure functions over bytes, no I/O; what does not decode raises ValueError with the
reason. The dialogues that send and read these live in starttls.py.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# --------------------------------------------------------------------------- LDAP (BER)

LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"

LDAP_STARTTLS_REQUEST = (
    bytes([0x30, 7 + len(LDAP_STARTTLS_OID)])  # LDAPMessage SEQUENCE
    + bytes([0x02, 0x01, 0x01])  # messageID 1
    + bytes([0x77, 2 + len(LDAP_STARTTLS_OID)])  # [APPLICATION 23] ExtendedRequest
    + bytes([0x80, len(LDAP_STARTTLS_OID)])  # [0] requestName
    + LDAP_STARTTLS_OID
)
"""The StartTLS ExtendedRequest, message 1."""

LDAP_RESULTS = {
    0: "success",
    1: "operationsError",
    2: "protocolError",
    8: "strongerAuthRequired",
    51: "busy",
    52: "unavailable",
    53: "unwillingToPerform",
    80: "other",
}
"""Names of the LDAP result codes a StartTLS request meets."""


def ber_element(data: bytes, pos: int = 0) -> tuple[int, bytes, int] | None:
    """(tag, content, end) of the BER element at `pos`; None while it is incomplete.
    ValueError for a length form LDAP never uses (indefinite, or over 4 bytes)."""
    if pos + 2 > len(data):
        return None
    tag, size, pos = data[pos], data[pos + 1], pos + 2
    if size & 0x80:
        width = size & 0x7F
        if not 0 < width <= 4:
            raise ValueError("a BER length form LDAP does not use")
        if pos + width > len(data):
            return None
        size, pos = int.from_bytes(data[pos : pos + width], "big"), pos + width
    if pos + size > len(data):
        return None
    return tag, data[pos : pos + size], pos + size


def ber_items(content: bytes) -> list[tuple[int, bytes]]:
    """The elements of a constructed value, as (tag, content); ValueError when cut short."""
    items, pos = [], 0
    while pos < len(content):
        item = ber_element(content, pos)
        if item is None:
            raise ValueError("a truncated BER element")
        items.append(item[:2])
        pos = item[2]
    return items


@dataclass(frozen=True)
class LdapResponse:
    """An ExtendedResponse as far as StartTLS cares."""

    message_id: int
    """0 for an unsolicited notification (a notice of disconnection)."""
    code: int
    """resultCode: 0 is success."""
    diagnostic: bytes
    """diagnosticMessage, as the server sent it."""

    @property
    def code_text(self) -> str:
        named = LDAP_RESULTS.get(self.code)
        return f"resultCode {self.code}" + (f" ({named})" if named else "")


def ldap_message_end(data: bytes) -> int | None:
    """Where the first LDAPMessage in `data` ends; None while it is incomplete.
    ValueError when `data` does not start like an LDAPMessage."""
    if data[:1] not in (b"", b"\x30"):  # an LDAPMessage is a SEQUENCE
        raise ValueError("not an LDAP message")
    element = ber_element(data)
    return None if element is None else element[2]


def ldap_extended_response(data: bytes) -> LdapResponse:
    """The ExtendedResponse in the LDAPMessage `data`; ValueError for anything else."""
    element = ber_element(data)
    if element is None or element[0] != 0x30:
        raise ValueError("not an LDAP message")
    items = ber_items(element[1])
    if len(items) < 2 or items[0][0] != 0x02:
        raise ValueError("no messageID")
    op_tag, op = items[1]
    if op_tag != 0x78:  # [APPLICATION 24] ExtendedResponse
        raise ValueError(f"operation tag 0x{op_tag:02x}, not an ExtendedResponse")
    fields = ber_items(op)
    if len(fields) < 3 or fields[0][0] != 0x0A or fields[2][0] != 0x04:
        raise ValueError("no resultCode and diagnosticMessage")
    return LdapResponse(
        message_id=int.from_bytes(items[0][1], "big"),
        code=int.from_bytes(fields[0][1], "big"),
        diagnostic=fields[2][1],
    )


# --------------------------------------------------------------------------- MySQL

MYSQL_CLIENT_SSL = 0x0800
_CAPABILITIES = (
    0x0001  # CLIENT_LONG_PASSWORD
    | 0x0004  # CLIENT_LONG_FLAG
    | 0x0200  # CLIENT_PROTOCOL_41
    | MYSQL_CLIENT_SSL
    | 0x8000  # CLIENT_SECURE_CONNECTION
)

MYSQL_SSL_REQUEST = (
    struct.pack("<I", 32)[:3]  # payload length
    + b"\x01"  # sequence id: the answer to the greeting
    + struct.pack("<IIB", _CAPABILITIES, 16 * 1024 * 1024, 33)  # caps, max packet, utf8
    + bytes(23)
)
"""The SSLRequest packet: capability flags with CLIENT_SSL, max packet size, character
set, 23 zero bytes."""


@dataclass(frozen=True)
class MysqlGreeting:
    version: bytes
    """The server version string ("8.0.36")."""
    capabilities: int
    """The lower 16 capability flags (CLIENT_SSL is among them)."""


def looks_like_mysql_greeting(first: bytes) -> bool:
    """The first bytes of a protocol 10 greeting: a plausible length, sequence id 0,
    version byte 10, then a NUL-terminated version string."""
    size = int.from_bytes(first[:3], "little")
    return (
        len(first) >= 6
        and 20 <= size <= 1024
        and first[3] == 0
        and first[4] == 10
        and b"\x00" in first[5:64]
    )


def mysql_packet_end(data: bytes, limit: int) -> int | None:
    """Where the packet starting `data` ends (4-byte header + payload); None while the
    header is incomplete. ValueError when the length is over `limit`."""
    if len(data) < 4:
        return None
    size = int.from_bytes(data[:3], "little")
    if size > limit:
        raise ValueError("not a MySQL packet")
    return 4 + size


def mysql_error(payload: bytes) -> tuple[int, bytes] | None:
    """(code, message) of an error packet (0xff, code, "#" and SQLSTATE, message)."""
    if payload[:1] != b"\xff":
        return None
    code = int.from_bytes(payload[1:3], "little")
    return code, payload[9:] if payload[3:4] == b"#" else payload[3:]


def mysql_greeting(payload: bytes) -> MysqlGreeting:
    """A protocol 10 greeting's version and lower capability flags; ValueError else."""
    if payload[:1] != b"\x0a":
        raise ValueError("not a MySQL protocol 10 greeting")
    version, nul, rest = payload[1:].partition(b"\x00")
    # connection id (4), auth-plugin-data part 1 (8), filler (1), capability flags (2)
    if not nul or len(rest) < 15:
        raise ValueError("a truncated MySQL greeting")
    return MysqlGreeting(version, int.from_bytes(rest[13:15], "little"))
