"""audit.text.inert: the one definition of inert text, used by the terminal, every
report and the collection's file names."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from audit.text import inert

HOSTILE = {
    "escape sequence": ("\x1b[2J", "\\x1b[2J"),
    "newline forges a line": ("a\nFINDING", "a\\x0aFINDING"),
    "carriage return": ("a\rb", "a\\x0db"),
    "tab hides a formula prefix": ("\t=1+1", "\\x09=1+1"),
    "right-to-left override": ("abc\u202edef", "abc\\u202edef"),
    "bidi isolate": ("\u2066x\u2069", "\\u2066x\\u2069"),
    "zero-width space": ("ex\u200bample", "ex\\u200bample"),
    "line separator": ("a\u2028b", "a\\u2028b"),
    "byte-order mark": ("\ufeffname", "\\ufeffname"),
    "lone surrogate": ("a\udcffb", "a\\udcffb"),
    "C1 control": ("a\x85b", "a\\x85b"),
}


def test_hostile_characters_become_visible_escapes() -> None:
    for name, (raw, shown) in HOSTILE.items():
        assert inert(raw) == shown, name


def test_keep_newlines_keeps_only_line_feeds() -> None:
    assert inert("a\nb\tc\r", keep_newlines=True) == "a\nb\\x09c\\x0d"


def test_none_and_objects() -> None:
    assert inert(None) == ""
    assert inert(42) == "42"


@given(st.text())
def test_nothing_invisible_survives(text: str) -> None:
    out = inert(text)
    for ch in out:
        assert unicodedata.category(ch) not in ("Cc", "Cs", "Zl", "Zp"), repr(ch)
        assert ch not in "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\ufeff"
    out.encode("utf-8")  # every output can encode it


@given(st.text(alphabet=st.characters(categories=("L", "N", "P", "S", "Zs"))))
def test_ordinary_text_is_unchanged(text: str) -> None:
    if any(0x2066 <= ord(c) <= 0x2069 or 0xFFF9 <= ord(c) <= 0xFFFF for c in text):
        return
    assert inert(text) == text
