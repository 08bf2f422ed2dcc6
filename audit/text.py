"""The one definition of "inert text": what every output does to a text that came from a
host, a certificate, a peer or an input file before showing it.

Control characters (tab and newline included), zero-width and line/paragraph separators,
bidi overrides and isolates, the BOM, noncharacters and lone surrogates (undecodable
bytes kept by surrogateescape) become visible escapes: `\\x1b` becomes the four characters
`\\x1b`, U+202E becomes `\\u202e`. So a hostile name can neither drive a terminal, forge a
line of output, reorder the text around it, hide part of itself, nor make an encoder fail.
"""

from __future__ import annotations

import re

_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\ufff9-\ufffb\ufffe\uffff\ud800-\udfff]"
)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: object, *, keep_newlines: bool = False) -> str:
    """`text` with every invisible or control character escaped; `keep_newlines` keeps
    line feeds (multi-line details in a report), nothing else."""
    s = "" if text is None else str(text)
    if keep_newlines:
        return _INVISIBLE.sub(lambda m: m.group() if m.group() == "\n" else _escape(m.group()), s)
    return _INVISIBLE.sub(lambda m: _escape(m.group()), s)
