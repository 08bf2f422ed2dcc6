"""Decoding what peers send into text: X.501 names and first lines of plaintext answers.

Pure functions over bytes, no I/O. cryptography has no loader for a bare DER Name, so
`dn_text` walks the DER itself and hands the attributes to `x509.Name` for RFC 4514
formatting.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

_STRING_TAGS = {
    0x0C: "utf-8",
    0x13: "ascii",
    0x16: "ascii",
    0x14: "latin-1",
    0x1A: "ascii",
    0x1E: "utf-16-be",
    0x1C: "utf-32-be",
}
"""ASN.1 string types of attribute values and how to decode them; others as latin-1."""

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Control characters, line/paragraph separators and bidi overrides."""


def printable(data: bytes, limit: int = 120) -> str:
    """The first line of what a peer sent, escaped so it is inert anywhere."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")[:limit]
    text = line.decode("utf-8", errors="backslashreplace")
    return _UNSAFE.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def dn_text(der: bytes) -> str:
    """An X.501 Name in DER as RFC 4514 text; a hex dump when it does not decode."""
    try:
        ((tag, body),) = _der_items(der)
        if tag != 0x30:
            raise ValueError("not a SEQUENCE")
        rdns = []
        for set_tag, set_body in _der_items(body):
            if set_tag != 0x31:
                raise ValueError("not a SET")
            attrs = []
            for seq_tag, seq_body in _der_items(set_body):
                (oid_tag, oid_body), (value_tag, value_body) = _der_items(seq_body)[:2]
                if seq_tag != 0x30 or oid_tag != 0x06:
                    raise ValueError("bad attribute")
                encoding = _STRING_TAGS.get(value_tag, "latin-1")
                value = value_body.decode(encoding, errors="replace")
                attrs.append(x509.NameAttribute(ObjectIdentifier(_oid(oid_body)), value))
            rdns.append(x509.RelativeDistinguishedName(attrs))
        return x509.Name(rdns).rfc4514_string()
    except Exception:
        return "DER:" + der.hex()


def _dn_list(data: bytes) -> list[bytes] | None:
    """The DER names of a TLS DistinguishedName list (a 2-byte length, then 2-byte-length
    prefixed names), or None when the lengths do not add up exactly."""
    if len(data) < 2:
        return None
    total = int.from_bytes(data[0:2], "big")
    if total != len(data) - 2:
        return None
    names, pos = [], 2
    while pos + 2 <= len(data):
        n = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + n > len(data):
            return None
        names.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return names


def _der_items(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, contents) of consecutive DER items filling `data`; ValueError (or
    IndexError) when they do not."""
    items, pos = [], 0
    while pos < len(data):
        tag = data[pos]
        first = data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            n = first & 0x7F
            if n == 0 or n > 4:
                raise ValueError("bad DER length")
            length = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        if pos + length > len(data):
            raise ValueError("truncated DER")
        items.append((tag, data[pos : pos + length]))
        pos += length
    return items


def _oid(data: bytes) -> str:
    """A DER OBJECT IDENTIFIER's contents in dotted form."""
    parts, value = [], 0
    for b in data:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        raise ValueError("empty OID")
    first = min(parts[0] // 40, 2)
    return ".".join(str(p) for p in [first, parts[0] - 40 * first, *parts[1:]])
