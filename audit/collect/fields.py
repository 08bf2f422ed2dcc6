"""The field encodings of the collection script's records (see remote.sh): hex text, paths,
bounded numbers. Each decoder raises Malformed on a field that does not follow them."""

from __future__ import annotations

import re

from audit.collect.discovery import US
from audit.text import inert

HEX = re.compile(rb"(?:[0-9a-f]{2})+")
DIGITS = re.compile(rb"[0-9]+")
SLASHES = re.compile(rb"/{2,}")


class Malformed(ValueError):
    """One record line does not follow the format."""


def display(raw: bytes) -> str:
    """A file name for people: invalid UTF-8 and control characters shown as \\xNN."""
    return inert(SLASHES.sub(b"/", raw).decode("utf-8", "backslashreplace"))


def unhex(token: bytes) -> bytes:
    """A hex field ("-" for empty)."""
    if token == b"-":
        return b""
    if not HEX.fullmatch(token):
        raise Malformed("bad hex field")
    return bytes.fromhex(token.decode("ascii"))


def path(token: bytes) -> bytes:
    """A hex field holding a path (never empty)."""
    raw = SLASHES.sub(b"/", unhex(token))
    if not raw:
        raise Malformed("empty path")
    return raw


def text(token: bytes) -> str:
    """A hex field holding a name or path, shown as `display` shows names."""
    return display(unhex(token))


def plain(token: bytes) -> str:
    """A hex field holding other text (a URL, a word), made inert."""
    return inert(unhex(token).decode("utf-8", "backslashreplace"))


def parts(token: bytes) -> str:
    """A hex field of US-separated parts, each shown as `display` shows names."""
    return US.join(display(part) for part in unhex(token).split(US.encode()))


def short(data: bytes, limit: int = 300) -> str:
    shown = display(data.strip())
    return shown if len(shown) <= limit else shown[:limit] + "..."


def number(token: bytes) -> int:
    """A count, index, line number, pid or time: ASCII digits, at most 12 of them."""
    if len(token) > 12 or not DIGITS.fullmatch(token):
        raise Malformed("number")
    return int(token)


def choice(token: bytes, allowed: frozenset[bytes] | set[bytes] | tuple[bytes, ...]) -> str:
    """A fixed token out of `allowed`."""
    if token not in allowed:
        raise Malformed("token")
    return token.decode("ascii")
