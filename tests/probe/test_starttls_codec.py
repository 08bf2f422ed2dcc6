"""audit.probe.starttls_codec: LDAP's BER messages and MySQL's packets, byte for byte."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.probe import starttls_codec as codec


def test_ldap_starttls_request_is_the_ber_extended_request() -> None:
    oid = b"1.3.6.1.4.1.1466.20037"
    expected = (
        b"\x30\x1d"  # LDAPMessage, 29 bytes
        b"\x02\x01\x01"  # messageID 1
        b"\x77\x18"  # [APPLICATION 23] ExtendedRequest, 24 bytes
        b"\x80\x16" + oid  # [0] requestName, 22 bytes
    )
    assert codec.LDAP_STARTTLS_REQUEST == expected
    tag, content, end = codec.ber_element(expected) or (0, b"", 0)
    assert (tag, end) == (0x30, len(expected))
    assert codec.ber_items(content) == [(0x02, b"\x01"), (0x77, b"\x80\x16" + oid)]


def _ber(tag: int, content: bytes) -> bytes:
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    return bytes([tag, 0x82]) + len(content).to_bytes(2, "big") + content


def _response(message_id: int, code: int, diagnostic: bytes = b"") -> bytes:
    body = _ber(0x0A, bytes([code])) + _ber(0x04, b"") + _ber(0x04, diagnostic)
    return _ber(0x30, _ber(0x02, bytes([message_id])) + _ber(0x78, body))


def test_ldap_extended_response() -> None:
    ok = codec.ldap_extended_response(_response(1, 0))
    assert (ok.message_id, ok.code, ok.diagnostic, ok.code_text) == (
        1,
        0,
        b"",
        "resultCode 0 (success)",
    )
    refused = codec.ldap_extended_response(_response(1, 53, b"no" * 100))  # long-form length
    assert refused.code_text == "resultCode 53 (unwillingToPerform)"
    assert refused.diagnostic == b"no" * 100
    assert codec.ldap_extended_response(_response(1, 99)).code_text == "resultCode 99"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_ber(0x30, _ber(0x02, b"\x01") + _ber(0x61, b"")), "not an ExtendedResponse"),
        (_ber(0x30, _ber(0x04, b"x")), "no messageID"),
        (_ber(0x30, _ber(0x02, b"\x01") + _ber(0x78, _ber(0x04, b""))), "no resultCode"),
        (b"\x31\x00", "not an LDAP message"),
        (b"\x30\x05\x02\x01", "not an LDAP message"),  # incomplete
    ],
)
def test_ldap_extended_response_refuses_other_messages(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        codec.ldap_extended_response(data)


def test_ldap_message_end() -> None:
    whole = _response(1, 0)
    assert codec.ldap_message_end(b"") is None
    assert codec.ldap_message_end(whole[:5]) is None
    assert codec.ldap_message_end(whole + b"extra") == len(whole)
    with pytest.raises(ValueError):
        codec.ldap_message_end(b"HTTP/1.1 400")
    with pytest.raises(ValueError):
        codec.ldap_message_end(b"\x30\x80")  # indefinite length: LDAP never uses it


@given(st.binary(max_size=64))
def test_ber_never_fails_other_than_value_error(data: bytes) -> None:
    try:
        codec.ldap_message_end(data)
        codec.ldap_extended_response(data)
    except ValueError:
        pass


def test_mysql_ssl_request_layout() -> None:
    packet = codec.MYSQL_SSL_REQUEST
    assert len(packet) == 36
    assert packet[:4] == b"\x20\x00\x00\x01"  # 32-byte payload, sequence id 1
    capabilities, max_packet, charset = struct.unpack("<IIB", packet[4:13])
    assert capabilities & codec.MYSQL_CLIENT_SSL
    assert capabilities & 0x0200  # CLIENT_PROTOCOL_41: the 32-byte form
    assert max_packet > 0 and charset == 33
    assert packet[13:] == bytes(23)


def _greeting(capabilities: int, version: bytes = b"8.0.36") -> bytes:
    return (
        b"\x0a"
        + version
        + b"\x00"
        + struct.pack("<I", 1)
        + b"12345678\x00"
        + struct.pack("<H", capabilities)
        + b"\x21\x02\x00\xff\xc1\x15"
        + bytes(10)
    )


def test_mysql_greeting() -> None:
    greeting = codec.mysql_greeting(_greeting(0xFFFF))
    assert greeting.version == b"8.0.36" and greeting.capabilities & codec.MYSQL_CLIENT_SSL
    assert not codec.mysql_greeting(_greeting(0xF7FF)).capabilities & codec.MYSQL_CLIENT_SSL
    with pytest.raises(ValueError, match="protocol 10"):
        codec.mysql_greeting(b"\x09" + _greeting(0xFFFF)[1:])
    with pytest.raises(ValueError, match="truncated"):
        codec.mysql_greeting(b"\x0a8.0.36\x00\x01")


def test_mysql_packets() -> None:
    packet = len(_greeting(0xFFFF)).to_bytes(3, "little") + b"\x00" + _greeting(0xFFFF)
    assert codec.looks_like_mysql_greeting(packet)
    assert codec.mysql_packet_end(packet[:3], 1024) is None
    assert codec.mysql_packet_end(packet, 1024) == len(packet)
    with pytest.raises(ValueError):
        codec.mysql_packet_end(b"\xff\xff\xff\x00", 1024)
    assert codec.mysql_error(b"\xff\x6a\x04#HY000Host blocked") == (1130, b"Host blocked")
    assert codec.mysql_error(b"\xff\x15\x04no sqlstate") == (1045, b"no sqlstate")
    assert codec.mysql_error(b"\x0a8.0") is None
    assert not codec.looks_like_mysql_greeting(b"SSH-2.0-OpenSSH\r\n")
