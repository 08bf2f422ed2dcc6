"""Decoding what peers send into text: X.501 names and first lines of plaintext answers.

Pure functions over bytes, no I/O. Names are decoded by audit.dn (the lenient decoder
certificates use too) and text is made inert by audit.text, so a peer's bytes read the
same way in every output.
"""

from __future__ import annotations

from audit.dn import name_text
from audit.text import inert


def printable(data: bytes, limit: int = 120) -> str:
    """The first line of what a peer sent, escaped so it is inert anywhere."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")[:limit]
    return inert(line.decode("utf-8", errors="backslashreplace"))


def dn_text(der: bytes) -> str:
    """An X.501 Name in DER as RFC 4514 text; `DER:<hex>` when it does not decode."""
    return name_text(der)


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
