"""TLS handshakes against one endpoint, directly or through an SSH channel.

Contract: `probe_tls` never raises; how the probe ended is data (model.ProbeStatus).

The handshake runs over an `ssl.SSLObject` fed by two `ssl.MemoryBIO`s, so the same code
drives any (reader, writer) pair of asyncio streams: a plain TCP connection
(`asyncio.open_connection`) or an SSH direct-tcpip channel (asyncssh
`conn.open_connection(host, port)`). The context trusts and verifies nothing: an expired,
self-signed or mismatched certificate is exactly what the audit wants to see. Judging the
chain is trust.py's job, not this module's.

What the handshake itself does not say, the probe reads off the wire:

- the first bytes back are checked for a TLS record header; anything else (`HTTP/1.1 400`,
  `SSH-2.0-...`, `220 mail ESMTP`) is a plaintext answer on a TLS port;
- handshake messages the server sends are tapped twice: from the raw records (plaintext up
  to ChangeCipherSpec, i.e. the whole server flight in TLS <= 1.2), and, where CPython
  offers it, through the context's message callback, which also sees the decrypted TLS 1.3
  flight. A CertificateRequest there means the server asks for a client certificate; its
  certificate_authorities are the acceptable CA names.
- under TLS 1.3 the client finishes its handshake before the server has judged the (empty)
  client certificate; when a CertificateRequest was seen, the probe reads once more, briefly,
  to surface the certificate_required alert that follows.

STARTTLS (`starttls="smtp" | "imap" | "pop3" | "postgres"`) runs the protocol's plaintext
preamble on the same stream, then hands it to the handshake; a server that does not offer
the upgrade is a PLAINTEXT answer with what it said.

`probe_listeners` probes every listener of one host (collect.listeners plans them): through
the host's SSH connection and, when asked or when the host's sshd prohibits forwarding,
straight from the runner; under a global and a per-host cap on handshakes in flight, each
with its own overall deadline, all within what is left of the host's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import re
import ssl
import struct
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from audit.certparse import load_der
from audit.collect.listeners import (
    ChannelOpener,
    ForwardingProhibited,
    ListenerPlan,
    ProbeReport,
)
from audit.model import (
    CertInfo,
    CollectionIssue,
    Host,
    IssueReason,
    Listener,
    ProbeStatus,
    TlsProbe,
)

OpenStream = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
"""An async callable returning a connected (reader, writer) pair of byte streams:
`asyncio.open_connection(...)`, or asyncssh `conn.open_connection(host, port)` (binary,
the default encoding=None). What it raises becomes REFUSED / UNREACHABLE / TIMEOUT."""

MAX_HANDSHAKE_BYTES = 256 * 1024
"""Byte cap on what the server may send before the handshake ends (chains are < 20 KiB)."""

READ_CHUNK = 16 * 1024

USE_MESSAGE_CALLBACK = hasattr(ssl.SSLContext, "_msg_callback")
"""Tap decrypted handshake messages through CPython's (private) TLS message callback.

Without it the probe still reads the plaintext part of the handshake (all of it in TLS
<= 1.2), and under TLS 1.3 spends a short read after every handshake to catch a
certificate_required alert; the acceptable CA names are then unavailable under TLS 1.3.
"""

_TLS_RECORD_TYPES = {20, 21, 22, 23, 24}
_HS_CERTIFICATE = 11
_HS_CERTIFICATE_REQUEST = 13
_HS_SERVER_HELLO = 2
_EXT_SUPPORTED_VERSIONS = 43
_EXT_CERTIFICATE_AUTHORITIES = 47
_VERSIONS = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}

_CLIENT_CERT_REASONS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "TLSV1_ALERT_UNKNOWN_CA",
}
"""Alerts a server sends when the client certificate it asked for is missing."""

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


# ---------------------------------------------------------------------------
# The client context


def client_context(
    alpn: Sequence[str] = ("h2", "http/1.1"), max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A context that sees everything and judges nothing (verification is trust.py's).

    One per probe (about 0.15 ms): the message callback that taps the handshake is a
    property of the context. `max_version` caps the offer, e.g. TLS 1.1 to ask whether a
    listener still accepts legacy protocols (LEGACY_PROTOCOL).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # TLS 1.0 is deprecated: that is what we diagnose
        warnings.simplefilter("ignore", DeprecationWarning)
        with contextlib.suppress(ValueError, ssl.SSLError):
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        if max_version is not None:
            ctx.maximum_version = max_version
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # weak servers must still be diagnosed
    if alpn:
        with contextlib.suppress(NotImplementedError, ssl.SSLError):
            ctx.set_alpn_protocols(list(alpn))
    return ctx


# ---------------------------------------------------------------------------
# Reading handshake messages off the wire


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
            if ctype == 22:
                self._hs += fragment
                self._drain_hs()
            elif ctype == 21 and len(fragment) >= 2 and fragment[0] == 2 and self.alert is None:
                self.alert = fragment[1]
            else:  # ChangeCipherSpec or encrypted data: the plaintext part is over
                self._raw_done = True
                self._raw.clear()

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
            if ctype == 22 and len(data) >= 4:
                tls13 = int(version) == 0x0304 or self.server_version == "TLSv1.3"
                self.message(data[0], bytes(data[4:]), tls13)
            elif ctype == 21 and len(data) >= 2 and data[0] == 2 and self.alert is None:
                self.alert = data[1]
        except Exception:  # a debugging hook must never break the probe
            pass


def _server_hello_version(body: bytes) -> str | None:
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


def _dn_list(data: bytes) -> list[bytes] | None:
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


# ---------------------------------------------------------------------------
# DistinguishedName DER -> RFC 4514 text (cryptography has no Name loader)

_STRING_TAGS = {
    0x0C: "utf-8",
    0x13: "ascii",
    0x16: "ascii",
    0x14: "latin-1",
    0x1A: "ascii",
    0x1E: "utf-16-be",
    0x1C: "utf-32-be",
}


def _der_items(data: bytes) -> list[tuple[int, bytes]]:
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


# ---------------------------------------------------------------------------
# Helpers


def printable(data: bytes, limit: int = 120) -> str:
    """The first line of what a peer sent, escaped so it is inert anywhere."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")[:limit]
    text = line.decode("utf-8", errors="backslashreplace")
    return re.sub(
        r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]",
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def looks_like_tls(first: bytes) -> bool:
    """A TLS record header: a known content type, then major version 3."""
    if not first:
        return True
    if first[0] not in _TLS_RECORD_TYPES:
        return False
    return len(first) < 2 or first[1] == 3


def _ssl_reason(exc: ssl.SSLError) -> str:
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)\s*$", "", text)
    text = re.sub(r"^\[[A-Z0-9_]+: [A-Z0-9_]+\]\s*", "", text)
    reason = getattr(exc, "reason", None)
    return f"{text} ({reason})" if reason and reason not in text else text


def _alert_text(code: int | None) -> str:
    if code is None:
        return ""
    return f"server sent alert {_ALERTS.get(code, 'unknown')}({code})"


def _chain_der(obj: ssl.SSLObject) -> list[bytes]:
    """The peer chain exactly as sent: public API on 3.13+, the _ssl object before."""
    fn = getattr(obj, "get_unverified_chain", None)
    if fn is None:
        fn = getattr(getattr(obj, "_sslobj", None), "get_unverified_chain", None)
    chain: list[bytes] = []
    if fn is not None:
        try:
            for item in fn() or ():
                if isinstance(item, bytes):
                    chain.append(item)
                else:
                    chain.append(item.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
        except Exception:
            chain = []
    if not chain:
        try:
            leaf = obj.getpeercert(binary_form=True)
        except (ValueError, ssl.SSLError):
            leaf = None
        if leaf:
            chain = [leaf]
    return chain


def _parse_chain(ders: Sequence[bytes]) -> tuple[tuple[CertInfo, ...], str]:
    certs, problems = [], []
    for i, der in enumerate(ders):
        try:
            certs.append(load_der(der))
        except ValueError as exc:
            problems.append(f"certificate #{i + 1} sent by the server does not parse: {exc}")
    return tuple(certs), "; ".join(problems)


class _Outcome(Exception):
    """Internal: ends the exchange with a status (never leaves this module)."""

    def __init__(
        self, status: ProbeStatus, error: str, fields: dict[str, object] | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.fields = fields or {}


# ---------------------------------------------------------------------------
# The probe


@dataclass
class _Exchange:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    obj: ssl.SSLObject
    incoming: ssl.MemoryBIO
    outgoing: ssl.MemoryBIO
    tap: _Tap
    received: int = 0
    first: bytes = b""
    rtt: float | None = None
    sent_at: float | None = None

    def _reset(self, exc: OSError) -> _Outcome:
        if not self.received:
            return _Outcome(ProbeStatus.CLOSED, f"connection reset before any answer ({exc})")
        return _Outcome(
            ProbeStatus.HANDSHAKE_FAILED, f"connection reset during the handshake ({exc})"
        )

    async def flush(self) -> None:
        data = self.outgoing.read()
        if data:
            try:
                self.writer.write(data)
                if self.sent_at is None:
                    self.sent_at = time.monotonic()
                await self.writer.drain()
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise self._reset(exc) from None

    async def receive(self) -> bool:
        """Feed the next bytes from the server; False on EOF."""
        try:
            data = await self.reader.read(READ_CHUNK)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise self._reset(exc) from None
        if not data:
            self.incoming.write_eof()
            return False
        if not self.received:
            if self.sent_at is not None:
                self.rtt = time.monotonic() - self.sent_at
            self.first = data
            if not looks_like_tls(data):
                if b"\n" not in data and len(data) < 64:
                    with contextlib.suppress(Exception):
                        more = await asyncio.wait_for(self.reader.read(READ_CHUNK), 0.2)
                        data += more
                raise _Outcome(ProbeStatus.PLAINTEXT, printable(data) or repr(data[:16]))
        self.received += len(data)
        if self.received > MAX_HANDSHAKE_BYTES:
            raise _Outcome(
                ProbeStatus.HANDSHAKE_FAILED,
                f"server sent more than {MAX_HANDSHAKE_BYTES} bytes without finishing "
                "the handshake",
            )
        self.tap.feed_raw(data)
        self.incoming.write(data)
        return True


async def probe_tls(
    open_stream: OpenStream,
    *,
    host: str,
    address: str,
    port: int,
    servername: str | None,
    via: str = "direct",
    deadline: float = 5.0,
    alpn: Sequence[str] = ("h2", "http/1.1"),
    max_version: ssl.TLSVersion | None = None,
    starttls: str | None = None,
) -> TlsProbe:
    """One handshake against address:port with SNI `servername`. Never raises.

    `deadline` bounds the whole probe (connect, STARTTLS preamble, handshake, the
    post-handshake read), so a tarpit or a server trickling a byte at a time cannot hold it
    longer. `starttls` names the plaintext protocol to upgrade first (STARTTLS_PROTOCOLS).
    """
    started = time.monotonic()
    fields: dict[str, object] = {}
    writer: asyncio.StreamWriter | None = None
    phase = ["connecting"]
    try:
        async with asyncio.timeout(deadline):
            try:
                reader, writer = await open_stream()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise _connect_outcome(exc) from None
            if starttls:
                phase[0] = f"{starttls} STARTTLS preamble"
                await _starttls(reader, writer, starttls, started + deadline)
            phase[0] = "waiting for the server's handshake"
            fields = await _handshake(
                reader, writer, servername, alpn, max_version, started + deadline, phase
            )
    except _Outcome as out:
        fields = {**fields, **out.fields, "status": out.status, "error": out.error}
    except TimeoutError:
        fields = {
            **fields,
            "status": ProbeStatus.TIMEOUT,
            "error": f"no complete answer within {deadline:g} s ({phase[0]})",
        }
    except Exception as exc:  # the contract: outcomes are data, never exceptions
        fields = {
            **fields,
            "status": ProbeStatus.HANDSHAKE_FAILED,
            "error": f"{type(exc).__name__}: {exc}"[:300],
        }
    finally:
        elapsed_ms = (time.monotonic() - started) * 1000.0
        if writer is not None:
            await _close(writer)
    tls_fields = {k: v for k, v in fields.items() if k != "status"}
    return TlsProbe(
        host=host,
        address=address,
        port=port,
        servername=servername,
        via=via,
        status=fields.get("status", ProbeStatus.HANDSHAKE_FAILED),  # type: ignore[arg-type]
        elapsed_ms=elapsed_ms,
        **tls_fields,  # type: ignore[arg-type]
    )


def _connect_outcome(exc: BaseException) -> _Outcome:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        return _Outcome(ProbeStatus.REFUSED, f"connection refused ({text})")
    if isinstance(exc, TimeoutError) or getattr(exc, "errno", None) == errno.ETIMEDOUT:
        return _Outcome(ProbeStatus.TIMEOUT, f"connect timed out ({text})")
    return _Outcome(ProbeStatus.UNREACHABLE, f"cannot connect: {text}"[:300])


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 0.2)
    except BaseException:  # closing is best effort; never hold the caller
        transport = getattr(writer, "transport", None)
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.abort()


async def _handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    servername: str | None,
    alpn: Sequence[str],
    max_version: ssl.TLSVersion | None,
    hard_deadline: float,
    phase: list[str],
) -> dict[str, object]:
    tap = _Tap()
    ctx = client_context(alpn, max_version)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    use_callback = USE_MESSAGE_CALLBACK
    if use_callback:
        try:
            ctx._msg_callback = tap.callback  # type: ignore[attr-defined]
        except Exception:
            use_callback = False
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False, server_hostname=servername or None)
    ex = _Exchange(reader, writer, obj, incoming, outgoing, tap)
    result: dict[str, object] = {}

    def partial_fields() -> dict[str, object]:
        out: dict[str, object] = {"protocol": tap.server_version}
        if tap.certificate_body is not None:
            chain, problems = _parse_chain(
                _certificate_message_chain(tap.certificate_body, tap.certificate_tls13)
            )
            out["chain"] = chain
            if problems:
                out["error"] = problems
        return out

    while True:
        try:
            obj.do_handshake()
            await ex.flush()
            break
        except ssl.SSLWantReadError:
            await ex.flush()
            if not await ex.receive():
                if not ex.received:
                    raise _Outcome(
                        ProbeStatus.CLOSED, "the server closed the connection without answering"
                    ) from None
            if ex.received:
                phase[0] = f"handshake in progress, {ex.received} bytes received"
        except ssl.SSLError as exc:
            with contextlib.suppress(Exception):
                await ex.flush()  # our alert, if any
            result = partial_fields()
            status, error = _failure(exc, tap, ex)
            names = _ca_names(tap)
            if names is not None:
                result["acceptable_ca_names"] = names
            if status is ProbeStatus.CLIENT_CERT_REQUIRED:
                error = f"{error}; {_names_note(names)}"
            prior = result.pop("error", "")
            raise _Outcome(status, "; ".join(t for t in (error, str(prior)) if t), result) from None

    cipher = obj.cipher()
    chain, problems = _parse_chain(_chain_der(obj))
    result = {
        "protocol": obj.version() or tap.server_version,
        "cipher": cipher[0] if cipher else None,
        "alpn": obj.selected_alpn_protocol(),
        "chain": chain,
        "status": ProbeStatus.TLS,
    }
    errors = [problems] if problems else []
    names = _ca_names(tap)
    if names is not None:
        result["acceptable_ca_names"] = names
    requested = tap.certificate_request is not None
    if result["protocol"] == "TLSv1.3" and (requested or not use_callback):
        phase[0] = "waiting for the server's verdict on the (empty) client certificate"
        verdict, note = await _after_handshake(ex, hard_deadline, expect_alert=requested)
        if verdict is not None:
            result["status"] = verdict
        if note:
            errors.append(note)
    elif requested:
        errors.append(
            "the server asks for a client certificate but accepts connections without one"
        )
    if result["status"] is ProbeStatus.CLIENT_CERT_REQUIRED:
        errors.append(_names_note(names))
    if errors:
        result["error"] = "; ".join(errors)
    return result


def _names_note(names: tuple[str, ...] | None) -> str:
    if names is None:
        return "the acceptable client CA names were not available"
    if not names:
        return "the server's certificate request lists no acceptable CA names"
    return f"{len(names)} acceptable client CA name(s)"


def _ca_names(tap: _Tap) -> tuple[str, ...] | None:
    if tap.certificate_request is None:
        return None
    ders = _certificate_request_names(tap.certificate_request, tap.certificate_request_tls13)
    if ders is None:
        return None
    return tuple(dn_text(d) for d in ders)


def _failure(exc: ssl.SSLError, tap: _Tap, ex: _Exchange) -> tuple[ProbeStatus, str]:
    reason = getattr(exc, "reason", None) or ""
    text = _ssl_reason(exc)
    alert = _alert_text(tap.alert)
    if alert and alert.split()[-1].split("(")[0] not in text.replace(" ", "_").lower():
        text = f"{text}; {alert}"
    if tap.certificate_request is not None or reason in ("TLSV13_ALERT_CERTIFICATE_REQUIRED",):
        return ProbeStatus.CLIENT_CERT_REQUIRED, text
    if (
        isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError))
        or reason == "UNEXPECTED_EOF_WHILE_READING"
    ):
        if not ex.received:
            return ProbeStatus.CLOSED, "the server closed the connection without answering"
        return (
            ProbeStatus.HANDSHAKE_FAILED,
            f"the server closed the connection during the handshake ({text})",
        )
    if reason == "WRONG_VERSION_NUMBER" and ex.first and not looks_like_tls(ex.first):
        return ProbeStatus.PLAINTEXT, printable(ex.first)
    return ProbeStatus.HANDSHAKE_FAILED, text


async def _after_handshake(
    ex: _Exchange, hard_deadline: float, *, expect_alert: bool
) -> tuple[ProbeStatus | None, str]:
    """Read before writing, briefly, to surface a TLS 1.3 certificate_required alert.

    Only done when a CertificateRequest was seen (or cannot be seen on this Python). The
    wait scales with the measured round trip and never passes the probe's deadline.
    """
    rtt = ex.rtt or 0.05
    wait = min(2.0, max(0.3, 4 * rtt + 0.2)) if expect_alert else min(1.0, max(0.1, 2 * rtt + 0.05))
    until = min(hard_deadline, time.monotonic() + wait)
    while True:
        try:
            ex.obj.read(READ_CHUNK)
            return None, ""  # application data: the server accepted us
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            if expect_alert:
                return (
                    ProbeStatus.CLIENT_CERT_REQUIRED,
                    "the server closed the connection after asking for a client certificate",
                )
            return None, ""
        except ssl.SSLError as exc:
            reason = getattr(exc, "reason", None) or ""
            text = _ssl_reason(exc)
            if reason in _CLIENT_CERT_REASONS or expect_alert:
                return ProbeStatus.CLIENT_CERT_REQUIRED, text
            return ProbeStatus.HANDSHAKE_FAILED, f"after the handshake: {text}"
        remaining = until - time.monotonic()
        if remaining <= 0:
            if expect_alert:
                return (
                    None,
                    "the server asks for a client certificate but accepts connections without one",
                )
            return None, ""
        try:
            got = await asyncio.wait_for(ex.receive(), remaining)
        except TimeoutError:
            continue
        except _Outcome as out:
            return (ProbeStatus.CLIENT_CERT_REQUIRED if expect_alert else None), out.error
        if not got and not expect_alert:
            return None, ""


async def probe_direct(
    address: str,
    port: int,
    servername: str | None,
    deadline: float = 5.0,
    *,
    host: str | None = None,
    alpn: Sequence[str] = ("h2", "http/1.1"),
    max_version: ssl.TLSVersion | None = None,
    starttls: str | None = None,
) -> TlsProbe:
    """Probe address:port over a plain TCP connection from this machine."""

    async def open_stream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(address, port, limit=READ_CHUNK * 4)

    return await probe_tls(
        open_stream,
        host=host if host is not None else address,
        address=address,
        port=port,
        servername=servername,
        via="direct",
        deadline=deadline,
        alpn=alpn,
        max_version=max_version,
        starttls=starttls,
    )


# ---------------------------------------------------------------------------
# STARTTLS: the plaintext preamble that upgrades a connection to TLS

STARTTLS_PROTOCOLS = ("smtp", "imap", "pop3", "postgres")

_POSTGRES_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
_MAX_PREAMBLE = 64 * 1024
_GREETING_WAIT = 3.0
"""Seconds to wait for a greeting before taking the silence as a server that speaks TLS
at once (implicit TLS on a STARTTLS port): the handshake is then tried directly."""


class _Lines:
    """Lines from a stream, with a cap on what a peer may send before TLS."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buffer = bytearray()
        self.total = 0

    async def line(self) -> bytes:
        while b"\n" not in self.buffer:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                said = printable(bytes(self.buffer)) if self.buffer else "nothing"
                raise _Outcome(
                    ProbeStatus.CLOSED if not self.total else ProbeStatus.PLAINTEXT,
                    f"the server closed the connection during STARTTLS (it said {said})",
                )
            self.total += len(data)
            if self.total > _MAX_PREAMBLE:
                raise _Outcome(
                    ProbeStatus.PLAINTEXT, "the server sent too much before STARTTLS completed"
                )
            self.buffer += data
        end = self.buffer.index(b"\n") + 1
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        return line

    async def smtp_reply(self) -> tuple[bytes, bytes]:
        """(code, all lines) of one SMTP reply ("250-..." lines up to "250 ...")."""
        lines = []
        while True:
            line = await self.line()
            lines.append(line)
            if not line[:3].isdigit() or line[3:4] != b"-":  # "250 x" ends it; junk too
                return line[:3], b"".join(lines)


async def _first_bytes_wait(reader: asyncio.StreamReader, lines: _Lines, until: float) -> bool:
    """Wait for the greeting's first bytes; False when the server stays silent."""
    wait = max(0.05, min(_GREETING_WAIT, until - time.monotonic() - 0.5))
    try:
        data = await asyncio.wait_for(reader.read(READ_CHUNK), wait)
    except TimeoutError:
        return False
    if not data:
        raise _Outcome(ProbeStatus.CLOSED, "the server closed the connection without a greeting")
    lines.buffer += data
    lines.total += len(data)
    return True


def _refused(protocol: str, what: str, said: bytes) -> _Outcome:
    return _Outcome(ProbeStatus.PLAINTEXT, f"{protocol.upper()}: {what} ({printable(said)})")


async def _starttls(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: str, until: float
) -> None:
    """Run the plaintext preamble of `protocol`; raises _Outcome when there is no upgrade."""
    lines = _Lines(reader)
    if protocol == "postgres":
        writer.write(_POSTGRES_SSL_REQUEST)
        await writer.drain()
        answer = await reader.read(1)
        if answer == b"S":
            return
        if answer == b"N":
            raise _Outcome(
                ProbeStatus.PLAINTEXT, "PostgreSQL answered the SSLRequest with N: TLS is off"
            )
        if not answer:
            raise _Outcome(ProbeStatus.CLOSED, "the server closed the connection on SSLRequest")
        more = b""
        with contextlib.suppress(Exception):
            more = await asyncio.wait_for(reader.read(READ_CHUNK), 0.2)
        raise _refused(protocol, "not a PostgreSQL SSLRequest answer", answer + more)
    if protocol not in STARTTLS_PROTOCOLS:
        raise _Outcome(ProbeStatus.HANDSHAKE_FAILED, f"unknown STARTTLS protocol {protocol!r}")
    if not await _first_bytes_wait(reader, lines, until):
        return  # silent: perhaps implicit TLS; the handshake will tell
    if lines.buffer[:1] in (b"\x15", b"\x16"):  # an alert or handshake record, unasked
        raise _Outcome(
            ProbeStatus.HANDSHAKE_FAILED, "the server sent TLS records before any ClientHello"
        )
    if protocol == "smtp":
        code, said = await lines.smtp_reply()
        if code != b"220":
            raise _refused(protocol, "unexpected greeting", said)
        writer.write(b"EHLO certaudit.invalid\r\n")
        await writer.drain()
        code, said = await lines.smtp_reply()
        if code != b"250":
            raise _refused(protocol, "EHLO refused", said)
        if not re.search(rb"^250[ -]STARTTLS\b", said.upper(), re.M):
            raise _refused(protocol, "the server does not offer STARTTLS", said)
        writer.write(b"STARTTLS\r\n")
        await writer.drain()
        code, said = await lines.smtp_reply()
        if code != b"220":
            raise _refused(protocol, "STARTTLS refused", said)
    elif protocol == "imap":
        said = await lines.line()
        if not said.upper().startswith((b"* OK", b"* PREAUTH")):
            raise _refused(protocol, "unexpected greeting", said)
        writer.write(b"ca1 STARTTLS\r\n")
        await writer.drain()
        while True:
            said = await lines.line()
            if said.startswith(b"ca1 "):
                break
        if not said.upper().startswith(b"CA1 OK"):
            raise _refused(protocol, "STARTTLS refused", said)
    else:  # pop3
        said = await lines.line()
        if not said.startswith(b"+OK"):
            raise _refused(protocol, "unexpected greeting", said)
        writer.write(b"STLS\r\n")
        await writer.drain()
        said = await lines.line()
        if not said.startswith(b"+OK"):
            raise _refused(protocol, "STLS refused", said)
    if lines.buffer:
        raise _Outcome(
            ProbeStatus.HANDSHAKE_FAILED,
            f"the server sent data after accepting STARTTLS ({printable(bytes(lines.buffer))})",
        )


# ---------------------------------------------------------------------------
# Every listener of one host

LEGACY_PROTOCOLS = ("TLSv1", "TLSv1.1")
_SPEAKS_TLS = (ProbeStatus.TLS, ProbeStatus.CLIENT_CERT_REQUIRED, ProbeStatus.HANDSHAKE_FAILED)
_COMPLETED = (ProbeStatus.TLS, ProbeStatus.CLIENT_CERT_REQUIRED)


@dataclass(frozen=True)
class ProbeSettings:
    """How listeners are probed. Built by the CLI (or defaults), passed down."""

    enabled: bool = True
    deadline: float = 5.0
    """Overall seconds for one handshake (connect, STARTTLS, handshake): a tarpit that
    trickles bytes cannot hold a slot longer."""
    per_host: int = 8
    """Handshakes in flight on one host."""
    concurrency: int = 64
    """Handshakes in flight across the fleet (the runner shares one gate)."""
    legacy: bool = True
    """Also ask every TLS listener whether it still accepts TLS 1.0/1.1."""


@functools.lru_cache(maxsize=1)
def legacy_offer_problem() -> str | None:
    """Why this runner cannot offer TLS 1.0/1.1 (None when it can).

    The legacy probe caps the offer at TLS 1.1 with @SECLEVEL=0; some OpenSSL builds have
    the old protocols compiled out, and then a "refused" would be a lie about the server.
    """
    try:
        ctx = client_context((), ssl.TLSVersion.TLSv1_1)
    except (ssl.SSLError, ValueError) as exc:
        return f"this runner's {ssl.OPENSSL_VERSION} cannot build a TLS 1.1 client: {exc}"
    if ctx.maximum_version != ssl.TLSVersion.TLSv1_1:
        return f"this runner's {ssl.OPENSSL_VERSION} cannot cap a client at TLS 1.1"
    obj = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        return None  # a ClientHello went out
    except ssl.SSLError as exc:
        return f"this runner's {ssl.OPENSSL_VERSION} cannot offer TLS 1.0/1.1: {_ssl_reason(exc)}"
    return None


async def _forwarding(opener: ChannelOpener, plan: ListenerPlan, deadline: float) -> str:
    """ "" when sshd opens direct-tcpip channels, else why it refuses."""
    try:
        _, writer = await asyncio.wait_for(
            opener(plan.ssh_targets[0], plan.listener.port), deadline
        )
    except ForwardingProhibited as exc:
        return str(exc) or "administratively prohibited"
    except Exception:  # refused, timed out: the channel itself was allowed
        return ""
    await _close(writer)
    return ""


async def probe_listeners(
    host: Host,
    plans: Sequence[ListenerPlan],
    opener: ChannelOpener | None,
    budget: float,
    *,
    settings: ProbeSettings = ProbeSettings(),
    gate: asyncio.Semaphore | None = None,
) -> ProbeReport:
    """Probe every planned listener of `host` within `budget` seconds. Never raises.

    Through the SSH connection (`opener`) when there is one; straight from the runner when
    the inventory sets certaudit_probe_direct, or as the fallback when the host's sshd
    prohibits forwarding (said as a collection issue and a note on each listener).
    """
    started = time.monotonic()
    fleet_gate = gate or asyncio.Semaphore(max(1, settings.concurrency))
    host_gate = asyncio.Semaphore(max(1, settings.per_host))
    issues: list[CollectionIssue] = []
    prohibited = ""
    if opener is not None and plans:
        prohibited = await _forwarding(opener, plans[0], settings.deadline)
        if prohibited:
            issues.append(
                CollectionIssue(
                    host.name,
                    "(listener probing)",
                    IssueReason.UNSUPPORTED,
                    f"the host's sshd prohibits TCP forwarding ({prohibited}): listeners were "
                    "probed directly from the runner; loopback-only ones could not be probed",
                )
            )
    through_ssh = opener is not None and not prohibited
    legacy_problem = legacy_offer_problem() if settings.legacy else None
    handshakes = [0]

    async def handshake(
        plan: ListenerPlan,
        route: str,
        target: str,
        name: str | None,
        max_version: ssl.TLSVersion | None = None,
    ) -> TlsProbe:
        port = plan.listener.port

        async def open_stream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            if route == "ssh":
                assert opener is not None
                return await opener(target, port)
            return await asyncio.open_connection(target, port, limit=READ_CHUNK * 4)

        async with host_gate, fleet_gate:
            handshakes[0] += 1
            probe = await probe_tls(
                open_stream,
                host=host.name,
                address=plan.direct_target or target,
                port=port,
                servername=name,
                via=route,
                deadline=settings.deadline,
                max_version=max_version,
                starttls=plan.listener.starttls,
            )
        return probe

    async def route_probes(plan: ListenerPlan, route: str) -> tuple[list[TlsProbe], str]:
        targets = plan.ssh_targets if route == "ssh" else (plan.direct_target or "",)
        first = None
        target = targets[0]
        for target in targets:
            first = await handshake(plan, route, target, plan.names[0])
            if first.status is not ProbeStatus.REFUSED:
                break
        assert first is not None
        probes = [first]
        if first.status in _SPEAKS_TLS and len(plan.names) > 1:
            probes += await asyncio.gather(
                *(handshake(plan, route, target, name) for name in plan.names[1:])
            )
        return probes, target

    async def one(plan: ListenerPlan) -> Listener:
        notes: list[str] = []
        routes: list[str] = []
        if through_ssh:
            routes.append("ssh")
        if plan.direct_target and (host.probe_direct or not through_ssh):
            routes.append("direct")
        if prohibited:
            notes.append(
                "not probed: loopback-only, and the host's sshd prohibits TCP forwarding"
                if plan.loopback_only
                else "probed directly from the runner: the host's sshd prohibits TCP forwarding"
            )
        elif not routes:
            notes.append("not probed: loopback-only, and there is no SSH connection to go through")
        probes: list[TlsProbe] = []
        legacy_route: tuple[str, str] | None = None
        for route in routes:
            got, target = await route_probes(plan, route)
            probes += got
            if legacy_route is None and any(p.status in _COMPLETED for p in got):
                legacy_route = (route, target)
        legacy = None
        completed = [p for p in probes if p.status in _COMPLETED]
        if any(p.protocol in LEGACY_PROTOCOLS for p in completed):
            legacy = next(p.protocol for p in completed if p.protocol in LEGACY_PROTOCOLS)
        elif legacy_route is not None and settings.legacy:
            if legacy_problem:
                notes.append(f"TLS 1.0/1.1 not checked: {legacy_problem}")
            else:
                route, target = legacy_route
                old = await handshake(
                    plan, route, target, plan.names[0], max_version=ssl.TLSVersion.TLSv1_1
                )
                if old.status in _COMPLETED and old.protocol in LEGACY_PROTOCOLS:
                    legacy = old.protocol
        return replace(
            plan.listener, probes=tuple(probes), legacy_protocol=legacy, notes=tuple(notes)
        )

    tasks = [asyncio.ensure_future(one(plan)) for plan in plans]
    listeners: list[Listener] = []
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, budget))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    for plan, task in zip(plans, tasks, strict=True):
        if task.done() and not task.cancelled() and task.exception() is None:
            listeners.append(task.result())
            continue
        why = (
            f"not probed: the host's deadline was reached ({budget:.0f}s left for probing)"
            if task.cancelled()
            else f"not probed: internal error {type(task.exception()).__name__}"
        )
        listeners.append(replace(plan.listener, notes=plan.listener.notes + (why,)))
    if any(task.cancelled() for task in tasks):
        issues.append(
            CollectionIssue(
                host.name,
                "(listener probing)",
                IssueReason.TIMEOUT,
                "the host deadline was reached before every listener was probed",
            )
        )
    elapsed = time.monotonic() - started
    facts = (
        ("probe_ms", f"{elapsed * 1000:.0f}"),
        ("listeners", str(len(listeners))),
        ("listeners_probed", str(sum(1 for li in listeners if li.probes))),
        ("handshakes", str(handshakes[0])),
        ("forwarding", "prohibited" if prohibited else ("yes" if through_ssh else "unused")),
    )
    return ProbeReport(tuple(listeners), tuple(issues), facts)
