"""audit.probe.wire: handshake messages read off the wire (byte layouts, no servers)."""

from __future__ import annotations

from audit.probe import looks_like_tls
from audit.probe.wire import (
    _certificate_message_chain,
    _certificate_request_names,
    _server_hello_version,
    _Tap,
)


def test_looks_like_tls() -> None:
    assert looks_like_tls(b"\x16\x03\x03\x00\x10")
    assert looks_like_tls(b"\x15\x03\x01\x00\x02\x02\x28")
    assert not looks_like_tls(b"HTTP/1.1 400 Bad Request\r\n")
    assert not looks_like_tls(b"SSH-2.0-x")
    assert not looks_like_tls(b"\x16\x48")


def test_certificate_request_layouts() -> None:
    name = b"\x30\x00"
    dn_list = b"\x00\x04" + b"\x00\x02" + name
    tls12 = b"\x01\x01" + b"\x00\x02\x04\x03" + dn_list
    tls10 = b"\x01\x01" + dn_list
    extensions = b"\x00\x0d\x00\x02\x04\x03" + b"\x00\x2f\x00\x06" + dn_list
    tls13 = b"\x00" + len(extensions).to_bytes(2, "big") + extensions
    assert _certificate_request_names(tls12, False) == [name]
    assert _certificate_request_names(tls10, False) == [name]
    assert _certificate_request_names(tls13, True) == [name]
    assert _certificate_request_names(b"\x00\x00\x00", True) == []
    assert _certificate_request_names(b"\x05", False) is None


def _server_hello(legacy: int, supported: int | None = None) -> bytes:
    body = legacy.to_bytes(2, "big") + bytes(32) + b"\x00" + b"\x13\x01" + b"\x00"
    if supported is not None:
        ext = b"\x00\x2b\x00\x02" + supported.to_bytes(2, "big")
        body += len(ext).to_bytes(2, "big") + ext
    return body


def test_server_hello_version() -> None:
    assert _server_hello_version(_server_hello(0x0303, 0x0304)) == "TLSv1.3"
    assert _server_hello_version(_server_hello(0x0302)) == "TLSv1.1"
    assert _server_hello_version(b"\x03") is None


def test_certificate_message_chain_both_layouts() -> None:
    a, b = b"\x30\x01\x00", b"\x30\x02\x00\x00"
    entries = b"".join(len(c).to_bytes(3, "big") + c for c in (a, b))
    tls12 = len(entries).to_bytes(3, "big") + entries
    entries13 = b"".join(len(c).to_bytes(3, "big") + c + b"\x00\x00" for c in (a, b))
    tls13 = b"\x00" + len(entries13).to_bytes(3, "big") + entries13
    assert _certificate_message_chain(tls12, False) == [a, b]
    assert _certificate_message_chain(tls13, True) == [a, b]
    assert _certificate_message_chain(b"", False) == []


def _record(ctype: int, fragment: bytes) -> bytes:
    return bytes([ctype, 3, 3]) + len(fragment).to_bytes(2, "big") + fragment


def _handshake_message(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def test_tap_reads_plaintext_records_split_anywhere() -> None:
    request = b"\x01\x01\x00\x00\x00\x00"
    flight = _handshake_message(2, _server_hello(0x0303)) + _handshake_message(13, request)
    wire = _record(22, flight[:10]) + _record(22, flight[10:])
    tap = _Tap()
    for i in range(0, len(wire), 7):  # records arrive in arbitrary pieces
        tap.feed_raw(wire[i : i + 7])
    assert tap.server_version == "TLSv1.2"
    assert tap.certificate_request == request and not tap.certificate_request_tls13


def test_tap_keeps_the_first_fatal_alert_and_stops_at_change_cipher_spec() -> None:
    tap = _Tap()
    tap.feed_raw(_record(21, b"\x02\x28") + _record(21, b"\x02\x50"))
    assert tap.alert == 40  # handshake_failure, not the internal_error after it
    tap = _Tap()
    tap.feed_raw(_record(20, b"\x01") + _record(22, _handshake_message(13, b"\x00")))
    assert tap.certificate_request is None  # after ChangeCipherSpec: encrypted, not read
