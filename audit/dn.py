"""Distinguished names decoded leniently from DER, the one decoder every output relies on
when a strict parser refuses a name.

Legal but unusual encodings are common in old CAs: a T61String holding Latin-1 bytes, a
BMPString (UTF-16), a UniversalString (UTF-32). Strict parsers (cryptography's included)
refuse some of them; here each string type is decoded by what it holds in practice and an
undecodable byte becomes U+FFFD, so one odd certificate costs at most the exactness of
one character, never the certificate or a report. Contract: never raises; a name that is
not even DER comes back as `DER:<hex>`.
"""

from __future__ import annotations

from dataclasses import dataclass

_STRING_ENCODINGS = {
    0x0C: "utf-8",  # UTF8String
    0x12: "latin-1",  # NumericString
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # T61String (TeletexString): Latin-1 in practice
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1B: "latin-1",  # GeneralString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}

SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
}
"""The attribute types RFC 4514 names (as cryptography prints them); others stay dotted."""

Attribute = tuple[str, str]
"""(short name or dotted OID, value)."""


@dataclass(frozen=True)
class DecodedName:
    """A Name as read: RDNs in DER order, each a tuple of attributes."""

    rdns: tuple[tuple[Attribute, ...], ...]

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        """Every attribute in DER order."""
        return tuple(a for rdn in self.rdns for a in rdn)

    def first(self, short: str) -> str | None:
        """The first value of one attribute type (e.g. "CN"), if any."""
        return next((v for k, v in self.attributes if k == short), None)

    def rfc4514(self) -> str:
        """RFC 4514 text: last RDN first, multi-valued RDNs joined with '+'."""
        return ",".join(
            "+".join(f"{k}={_escape(v)}" for k, v in rdn) for rdn in reversed(self.rdns)
        )


def der_items(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, contents) of consecutive DER items filling `data`; ValueError when they
    do not (truncated, bad length, trailing bytes)."""
    items, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated DER header")
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            n = first & 0x7F
            if n == 0 or n > 4 or pos + n > len(data):
                raise ValueError("bad DER length")
            length = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        if pos + length > len(data):
            raise ValueError("truncated DER")
        items.append((tag, data[pos : pos + length]))
        pos += length
    return items


def oid_text(data: bytes) -> str:
    """A DER OBJECT IDENTIFIER's contents in dotted form; ValueError when empty."""
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


def _value(tag: int, body: bytes) -> str:
    encoding = _STRING_ENCODINGS.get(tag)
    if encoding is None:
        return "#" + body.hex()  # not a string type: RFC 4514's hex form
    return body.decode(encoding, errors="replace")


def _escape(value: str) -> str:
    if value.startswith("#") and all(c in "0123456789abcdef" for c in value[1:]):
        return value
    out = "".join("\\" + c if c in ',+"\\<>;' else ("\\00" if c == "\0" else c) for c in value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" ") and len(out) > 1:
        out = out[:-1] + "\\ "
    return out


def _rdns(body: bytes) -> DecodedName | None:
    """The contents of a Name SEQUENCE, decoded; None when it is not a Name."""
    try:
        rdns = []
        for set_tag, set_body in der_items(body):
            if set_tag != 0x31:
                return None
            attrs = []
            for seq_tag, seq_body in der_items(set_body):
                fields = der_items(seq_body)
                if seq_tag != 0x30 or len(fields) != 2 or fields[0][0] != 0x06:
                    return None
                dotted = oid_text(fields[0][1])
                attrs.append((SHORT_NAMES.get(dotted, dotted), _value(*fields[1])))
            rdns.append(tuple(attrs))
        return DecodedName(tuple(rdns))
    except ValueError:
        return None


def decode_name(der: bytes) -> DecodedName | None:
    """A DER Name (the whole SEQUENCE) decoded leniently; None when it is not one."""
    try:
        ((tag, body),) = der_items(der)
    except ValueError:
        return None
    return _rdns(body) if tag == 0x30 else None


def name_text(der: bytes) -> str:
    """RFC 4514 text of a DER Name; `DER:<hex>` when it is not one."""
    name = decode_name(der)
    return name.rfc4514() if name is not None else "DER:" + der.hex()


def certificate_names(der: bytes) -> tuple[DecodedName, DecodedName] | None:
    """(issuer, subject) of a DER certificate, decoded leniently; None when the
    certificate's structure is not DER (trailing bytes after it are ignored)."""
    try:
        (tag, body), *_trailing = der_items(der[: _outer_length(der)])
        (tbs_tag, tbs), *_rest = der_items(body)
        fields = der_items(tbs)
        if fields and fields[0][0] == 0xA0:  # [0] version
            fields = fields[1:]
        _serial, _algorithm, (issuer_tag, issuer), _validity, (subject_tag, subject) = fields[:5]
    except ValueError:
        return None
    if (tag, tbs_tag, issuer_tag, subject_tag) != (0x30, 0x30, 0x30, 0x30):
        return None
    issuer_name, subject_name = _rdns(issuer), _rdns(subject)
    if issuer_name is None or subject_name is None:
        return None
    return issuer_name, subject_name


def _outer_length(der: bytes) -> int:
    """The length of the leading TLV (header included), or all of `der` if unclear."""
    if len(der) < 2:
        return len(der)
    first = der[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    return min(len(der), 2 + n + int.from_bytes(der[2 : 2 + n], "big"))
