"""audit.probe.names: what peers send, decoded into inert text."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from audit.dn import oid_text as _oid
from audit.probe import dn_text, printable
from audit.probe.names import _dn_list

CLIENT_CA_NAME = "CN=Client Root CA,O=certaudit test"


def test_printable_is_inert() -> None:
    assert printable(b"a\x1b[2Jb\xe2\x80\xaec\xffd\r\nrest") == "a\\x1b[2Jb\\u202ec\\xffd"


def test_dn_text(client_root) -> None:  # type: ignore[no-untyped-def]
    der = client_root.cert.subject.public_bytes()
    assert dn_text(der) == CLIENT_CA_NAME
    assert dn_text(b"\x30\x03junk").startswith("DER:")


@pytest.mark.parametrize("value", ["Zürich", "東京", "plain"])
def test_dn_text_round_trips_utf8_values(value: str) -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, value),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
        ]
    )
    assert dn_text(name.public_bytes()) == name.rfc4514_string()


def test_oid() -> None:
    assert _oid(bytes.fromhex("550403")) == "2.5.4.3"
    assert _oid(bytes.fromhex("2a864886f70d010901")) == "1.2.840.113549.1.9.1"
    with pytest.raises(ValueError):
        _oid(b"")


def test_dn_list_needs_exact_lengths() -> None:
    assert _dn_list(b"\x00\x04\x00\x02\x30\x00") == [b"\x30\x00"]
    assert _dn_list(b"\x00\x00") == []
    assert _dn_list(b"\x00\x05\x00\x02\x30\x00") is None  # total disagrees
    assert _dn_list(b"\x00\x04\x00\x03\x30\x00") is None  # a name runs past the end
    assert _dn_list(b"\x00") is None
