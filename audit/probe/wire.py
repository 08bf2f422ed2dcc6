"""Reading what the server sent, byte by byte, where the ssl module does not say it.

- `looks_like_tls`: the first bytes back are checked for a TLS record header; anything
  else (`HTTP/1.1 400`, `SSH-2.0-...`, `220 mail ESMTP`) is a plaintext answer on a TLS
  port.
- `_Tap` records the handshake messages and the first fatal alert the server sent, from
  two sources: the raw records (plaintext up to ChangeCipherSpec, i.e. the whole server
  flight in TLS <= 1.2), and, where CPython offers it, the context's message callback,
  which also sees the decrypted TLS 1.3 flight.
- From the recorded messages: the negotiated version (ServerHello), the chain exactly as
  sent (Certificate) and the acceptable client CA names (CertificateRequest).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from audit.probe.names import _dn_list

READ_CHUNK = 16 * 1024
"""Bytes asked of a stream per read."""

USE_MESSAGE_CALLBACK = hasattr(ssl.SSLContext, "_msg_callback")
"""Tap decrypted handshake messages through CPython's (private) TLS message callback.

Without it the probe still reads the plaintext part of the handshake (all of it in TLS
<= 1.2), and under TLS 1.3 spends a short read after every handshake to catch a
certificate_required alert; the acceptable CA names are then unavailable under TLS 1.3.
Read when a tap is installed (`_Tap.install`), so tests can switch it off here.
"""

_TLS_RECORD_TYPES = {20, 21, 22, 23, 24}
_RECORD_ALERT = 21
_RECORD_HANDSHAKE = 22
_ALERT_FATAL = 2
_HS_SERVER_HELLO = 2
_HS_CERTIFICATE = 11
_HS_CERTIFICATE_REQUEST = 13
_EXT_SUPPORTED_VERSIONS = 43
_EXT_CERTIFICATE_AUTHORITIES = 47
_VERSIONS = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}

_ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    116: "certificate_required",
    120: "no_application_protocol",
}


def looks_like_tls(first: bytes) -> bool:
    """A TLS record header: a known content type, then major version 3."""
    if not first:
        return True
    if first[0] not in _TLS_RECORD_TYPES:
        return False
    return len(first) < 2 or first[1] == 3


def _alert_text(code: int | None) -> str:
    """'server sent alert <name>(<code>)', or "" when no alert was seen."""
    if code is None:
        return ""
    return f"server sent alert {_ALERTS.get(code, 'unknown')}({code})"


@dataclass
class _Tap:
    """Handshake messages and alerts the server sent, from either source."""

    server_version: str | None = None
    certificate_request: bytes | None = None
    """Body of the CertificateRequest (without the 4-byte header)."""
    certificate_request_tls13: bool = False
    certificate_body: bytes | None = None
    certificate_tls13: bool = False
    alert: int | None = None
    """Description code of the first fatal alert the server sent."""
    _raw: bytearray = field(default_factory=bytearray)
    _hs: bytearray = field(default_factory=bytearray)
    _raw_done: bool = False

    def install(self, ctx: ssl.SSLContext) -> bool:
        """Tap `ctx`'s decrypted handshake messages; False where this Python cannot."""
        if not USE_MESSAGE_CALLBACK:
            return False
        try:
            ctx._msg_callback = self.callback  # type: ignore[attr-defined]
        except Exception:
            return False
        return True

    def message(self, msg_type: int, body: bytes, tls13: bool) -> None:
        if msg_type == _HS_SERVER_HELLO:
            self.server_version = _server_hello_version(body) or self.server_version
        elif msg_type == _HS_CERTIFICATE and self.certificate_body is None:
            self.certificate_body = body
            self.certificate_tls13 = tls13
        elif msg_type == _HS_CERTIFICATE_REQUEST and self.certificate_request is None:
            self.certificate_request = body
            self.certificate_request_tls13 = tls13

    def feed_raw(self, data: bytes) -> None:
        """Records from the server; parse plaintext handshake messages until CCS."""
        if self._raw_done:
            return
        self._raw += data
        while len(self._raw) >= 5 and not self._raw_done:
            ctype = self._raw[0]
            length = int.from_bytes(self._raw[3:5], "big")
            if len(self._raw) < 5 + length:
                return
            fragment = bytes(self._raw[5 : 5 + length])
            del self._raw[: 5 + length]
            if ctype == _RECORD_HANDSHAKE:
                self._hs += fragment
                self._drain_hs()
            elif ctype == _RECORD_ALERT and self._first_fatal(fragment):
                self.alert = fragment[1]
            else:  # ChangeCipherSpec or encrypted data: the plaintext part is over
                self._raw_done = True
                self._raw.clear()

    def _first_fatal(self, alert: bytes) -> bool:
        """`alert` is a fatal alert and the first one seen."""
        return len(alert) >= 2 and alert[0] == _ALERT_FATAL and self.alert is None

    def _drain_hs(self) -> None:
        while len(self._hs) >= 4:
            length = int.from_bytes(self._hs[1:4], "big")
            if len(self._hs) < 4 + length:
                return
            msg_type = self._hs[0]
            body = bytes(self._hs[4 : 4 + length])
            del self._hs[: 4 + length]
            tls13 = self.server_version == "TLSv1.3"
            self.message(msg_type, body, tls13)

    def callback(self, conn, direction, version, content_type, msg_type, data) -> None:  # type: ignore[no-untyped-def]
        """SSLContext._msg_callback: sees decrypted handshake messages (TLS 1.3 too)."""
        try:
            if direction != "read":
                return
            ctype = int(content_type)
            if ctype == _RECORD_HANDSHAKE and len(data) >= 4:
                tls13 = int(version) == 0x0304 or self.server_version == "TLSv1.3"
                self.message(data[0], bytes(data[4:]), tls13)
            elif ctype == _RECORD_ALERT and self._first_fatal(data):
                self.alert = data[1]
        except Exception:  # a debugging hook must never break the probe
            pass


def _server_hello_version(body: bytes) -> str | None:
    """The version a ServerHello body settles on: supported_versions, else legacy_version."""
    try:
        legacy = int.from_bytes(body[0:2], "big")
        pos = 2 + 32
        pos += 1 + body[pos]  # session id
        pos += 2 + 1  # cipher suite, compression
        if pos + 2 <= len(body):
            end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
            pos += 2
            while pos + 4 <= end:
                ext = int.from_bytes(body[pos : pos + 2], "big")
                elen = int.from_bytes(body[pos + 2 : pos + 4], "big")
                if ext == _EXT_SUPPORTED_VERSIONS and elen == 2:
                    return _VERSIONS.get(int.from_bytes(body[pos + 4 : pos + 6], "big"))
                pos += 4 + elen
        return _VERSIONS.get(legacy)
    except IndexError:
        return None


def _certificate_message_chain(body: bytes, tls13: bool) -> list[bytes]:
    """DER certificates from a Certificate handshake message body."""
    out: list[bytes] = []
    try:
        pos = 0
        if tls13:
            pos = 1 + body[0]  # certificate_request_context
        end = pos + 3 + int.from_bytes(body[pos : pos + 3], "big")
        pos += 3
        while pos + 3 <= min(end, len(body)):
            clen = int.from_bytes(body[pos : pos + 3], "big")
            out.append(body[pos + 3 : pos + 3 + clen])
            pos += 3 + clen
            if tls13:
                pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    except IndexError:
        pass
    return out


def _certificate_request_names(body: bytes, tls13: bool) -> list[bytes] | None:
    """DER DistinguishedNames from a CertificateRequest, or None if the layout is off."""
    try:
        if tls13:
            pos = 1 + body[0]
            end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
            pos += 2
            while pos + 4 <= end:
                ext = int.from_bytes(body[pos : pos + 2], "big")
                elen = int.from_bytes(body[pos + 2 : pos + 4], "big")
                if ext == _EXT_CERTIFICATE_AUTHORITIES:
                    return _dn_list(body[pos + 4 : pos + 4 + elen])
                pos += 4 + elen
            return []
        pos = 1 + body[0]  # certificate_types
        # TLS 1.2 adds supported_signature_algorithms; 1.0/1.1 go straight to the names.
        # Try the 1.2 layout first and fall back when the lengths do not add up.
        sigalgs = int.from_bytes(body[pos : pos + 2], "big")
        for start in (pos + 2 + sigalgs, pos):
            names = _dn_list(body[start:])
            if names is not None:
                return names
        return None
    except IndexError:
        return None
