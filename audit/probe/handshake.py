"""One TLS handshake against one endpoint, directly or through an SSH channel.

Contract: `probe_tls` never raises; how the probe ended is data (model.ProbeStatus).

The handshake runs over an `ssl.SSLObject` fed by two `ssl.MemoryBIO`s, so the same code
drives any (reader, writer) pair of asyncio streams: a plain TCP connection
(`asyncio.open_connection`) or an SSH direct-tcpip channel (asyncssh
`conn.open_connection(host, port)`). The context trusts and verifies nothing: an expired,
self-signed or mismatched certificate is exactly what the audit wants to see. Judging the
chain is trust.py's job, not this module's.

What the handshake itself does not say is read off the wire (wire.py): a plaintext answer,
the chain exactly as sent, and a CertificateRequest, which means the server asks for a
client certificate (its certificate_authorities are the acceptable CA names). Under TLS 1.3
the client finishes its handshake before the server has judged the (empty) client
certificate; when a CertificateRequest was seen, the probe reads once more, briefly, to
surface the certificate_required alert that follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from audit.certparse import load_der
from audit.model import CertInfo, ProbeRoute, ProbeStatus, TlsProbe
from audit.probe.names import dn_text, printable
from audit.probe.starttls import StartTlsRefused
from audit.probe.starttls import detect as detect_starttls
from audit.probe.starttls import negotiate as starttls_negotiate
from audit.probe.wire import (
    READ_CHUNK,
    _alert_text,
    _certificate_message_chain,
    _certificate_request_names,
    _Tap,
    looks_like_tls,
)

OpenStream = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
"""An async callable returning a connected (reader, writer) pair of byte streams:
`asyncio.open_connection(...)`, or asyncssh `conn.open_connection(host, port)` (binary,
the default encoding=None). What it raises becomes REFUSED / UNREACHABLE / TIMEOUT."""

MAX_HANDSHAKE_BYTES = 256 * 1024
"""Byte cap on what the server may send before the handshake ends (chains are < 20 KiB)."""

_CLIENT_CERT_REASONS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "TLSV1_ALERT_UNKNOWN_CA",
}
"""Alerts a server sends when the client certificate it asked for is missing."""

_OPTIONAL_CLIENT_CERT = (
    "the server asks for a client certificate but accepts connections without one"
)


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
# Outcomes


class _Outcome(Exception):
    """Ends the exchange with a status and the fields gathered so far (never leaves this
    module: probe_tls turns it into the TlsProbe)."""

    def __init__(
        self,
        status: ProbeStatus,
        error: str,
        fields: dict[str, object] | None = None,
        *,
        banner: bytes = b"",
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.fields = fields or {}
        self.banner = banner  # the raw first bytes of a plaintext answer


@dataclass
class _Progress:
    """Where the probe is, for the TIMEOUT message."""

    phase: str = "connecting"


def _ssl_reason(exc: ssl.SSLError) -> str:
    """An SSLError as text without the _ssl.c location, with OpenSSL's reason code."""
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)\s*$", "", text)
    text = re.sub(r"^\[[A-Z0-9_]+: [A-Z0-9_]+\]\s*", "", text)
    reason = getattr(exc, "reason", None)
    return f"{text} ({reason})" if reason and reason not in text else text


def _connect_outcome(exc: BaseException) -> _Outcome:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        return _Outcome(ProbeStatus.REFUSED, f"connection refused ({text})")
    if isinstance(exc, TimeoutError) or getattr(exc, "errno", None) == errno.ETIMEDOUT:
        return _Outcome(ProbeStatus.TIMEOUT, f"connect timed out ({text})")
    return _Outcome(ProbeStatus.UNREACHABLE, f"cannot connect: {text}"[:300])


def _failure(exc: ssl.SSLError, tap: _Tap, ex: _Exchange) -> tuple[ProbeStatus, str]:
    """Status and message for a handshake that ended in an SSLError."""
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
        return ProbeStatus.PLAINTEXT, printable(ex.first)  # banner: _failed passes ex.first
    return ProbeStatus.HANDSHAKE_FAILED, text


# ---------------------------------------------------------------------------
# Certificates and client CA names


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


def _ca_names(tap: _Tap) -> tuple[str, ...] | None:
    if tap.certificate_request is None:
        return None
    ders = _certificate_request_names(tap.certificate_request, tap.certificate_request_tls13)
    if ders is None:
        return None
    return tuple(dn_text(d) for d in ders)


def _names_note(names: tuple[str, ...] | None) -> str:
    if names is None:
        return "the acceptable client CA names were not available"
    if not names:
        return "the server's certificate request lists no acceptable CA names"
    return f"{len(names)} acceptable client CA name(s)"


# ---------------------------------------------------------------------------
# The exchange


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
                raise _Outcome(
                    ProbeStatus.PLAINTEXT, printable(data) or repr(data[:16]), banner=data
                )
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


# ---------------------------------------------------------------------------
# The probe


async def probe_tls(
    open_stream: OpenStream,
    *,
    host: str,
    address: str,
    port: int,
    servername: str | None,
    via: ProbeRoute | str = ProbeRoute.DIRECT,
    deadline: float = 5.0,
    alpn: Sequence[str] = ("h2", "http/1.1"),
    max_version: ssl.TLSVersion | None = None,
    starttls: str | None = None,
) -> TlsProbe:
    """One handshake against address:port with SNI `servername`. Never raises.

    `deadline` bounds the whole probe (connect, STARTTLS preamble, handshake, the
    post-handshake read), so a tarpit or a server trickling a byte at a time cannot hold it
    longer. `starttls` names the plaintext protocol to upgrade first (a name in
    starttls.REGISTRY).
    """
    probe, _ = await _probe_once(
        open_stream,
        _Target(host, address, port, servername, ProbeRoute(via)),
        deadline=deadline,
        alpn=alpn,
        max_version=max_version,
        starttls=starttls,
    )
    return probe


async def probe_detecting(
    open_stream: OpenStream,
    *,
    host: str,
    address: str,
    port: int,
    servername: str | None,
    via: ProbeRoute | str = ProbeRoute.DIRECT,
    deadline: float = 5.0,
) -> tuple[TlsProbe, str | None]:
    """`probe_tls` without STARTTLS, then, when the server answered with a greeting that
    names a protocol (starttls.detect), once more on a new connection speaking it, within
    the same deadline. Never raises. Returns the probe and the protocol it spoke."""
    target = _Target(host, address, port, servername, ProbeRoute(via))
    started = time.monotonic()
    probe, banner = await _probe_once(open_stream, target, deadline=deadline)
    cls = detect_starttls(banner) if probe.status is ProbeStatus.PLAINTEXT else None
    left = deadline - (time.monotonic() - started)
    if cls is None or left <= 0.05:
        return probe, None
    again, _ = await _probe_once(open_stream, target, deadline=left, starttls=cls.name)
    return replace(again, elapsed_ms=(time.monotonic() - started) * 1000.0), cls.name


@dataclass(frozen=True)
class _Target:
    host: str
    address: str
    port: int
    servername: str | None
    via: ProbeRoute


async def _probe_once(
    open_stream: OpenStream,
    target: _Target,
    *,
    deadline: float,
    alpn: Sequence[str] = ("h2", "http/1.1"),
    max_version: ssl.TLSVersion | None = None,
    starttls: str | None = None,
) -> tuple[TlsProbe, bytes]:
    """The probe, and the raw first bytes of a plaintext answer (b"" otherwise)."""
    started = time.monotonic()
    fields: dict[str, object] = {}
    banner = b""
    writer: asyncio.StreamWriter | None = None
    progress = _Progress()
    try:
        async with asyncio.timeout(deadline):
            try:
                reader, writer = await open_stream()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise _connect_outcome(exc) from None
            if starttls:
                progress.phase = f"{starttls} STARTTLS preamble"
                name, until = target.servername, started + deadline
                await starttls_negotiate(starttls, reader, writer, until, name, target.address)
            progress.phase = "waiting for the server's handshake"
            fields = await _handshake(
                reader, writer, target.servername, alpn, max_version, started + deadline, progress
            )
    except _Outcome as out:
        fields = {**fields, **out.fields, "status": out.status, "error": out.error}
        banner = out.banner
    except StartTlsRefused as refused:
        fields = {**fields, "status": refused.status, "error": refused.error}
    except TimeoutError:
        fields = {
            **fields,
            "status": ProbeStatus.TIMEOUT,
            "error": f"no complete answer within {deadline:g} s ({progress.phase})",
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
    probe = TlsProbe(
        host=target.host,
        address=target.address,
        port=target.port,
        servername=target.servername,
        via=target.via,
        status=fields.get("status", ProbeStatus.HANDSHAKE_FAILED),  # type: ignore[arg-type]
        elapsed_ms=elapsed_ms,
        **tls_fields,  # type: ignore[arg-type]
    )
    return probe, banner


def direct_stream(address: str, port: int) -> OpenStream:
    """An OpenStream for a plain TCP connection from this machine to address:port."""

    async def open_stream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(address, port, limit=READ_CHUNK * 4)

    return open_stream


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
    return await probe_tls(
        direct_stream(address, port),
        host=host if host is not None else address,
        address=address,
        port=port,
        servername=servername,
        via=ProbeRoute.DIRECT,
        deadline=deadline,
        alpn=alpn,
        max_version=max_version,
        starttls=starttls,
    )


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close the stream, waiting briefly; abort it when that fails or takes too long.

    Best effort, so errors are swallowed, but cancellation (and KeyboardInterrupt,
    SystemExit) is not: the transport is aborted and the exception goes on.
    """
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 0.2)
    except BaseException as exc:
        transport = getattr(writer, "transport", None)
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.abort()
        if not isinstance(exc, Exception):
            raise


async def _handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    servername: str | None,
    alpn: Sequence[str],
    max_version: ssl.TLSVersion | None,
    hard_deadline: float,
    progress: _Progress,
) -> dict[str, object]:
    """Drive the handshake to its end: the TlsProbe fields, or _Outcome when it failed."""
    tap = _Tap()
    ctx = client_context(alpn, max_version)
    use_callback = tap.install(ctx)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False, server_hostname=servername or None)
    ex = _Exchange(reader, writer, obj, incoming, outgoing, tap)
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
                progress.phase = f"handshake in progress, {ex.received} bytes received"
        except ssl.SSLError as exc:
            with contextlib.suppress(Exception):
                await ex.flush()  # our alert, if any
            raise _failed(exc, ex) from None
    return await _established(ex, use_callback, hard_deadline, progress)


def _failed(exc: ssl.SSLError, ex: _Exchange) -> _Outcome:
    """The outcome of a failed handshake, with what the tap saw of the server's flight."""
    tap = ex.tap
    result: dict[str, object] = {"protocol": tap.server_version}
    prior = ""
    if tap.certificate_body is not None:
        chain, prior = _parse_chain(
            _certificate_message_chain(tap.certificate_body, tap.certificate_tls13)
        )
        result["chain"] = chain
    status, error = _failure(exc, tap, ex)
    names = _ca_names(tap)
    if names is not None:
        result["acceptable_ca_names"] = names
    if status is ProbeStatus.CLIENT_CERT_REQUIRED:
        error = f"{error}; {_names_note(names)}"
    banner = ex.first if status is ProbeStatus.PLAINTEXT else b""
    return _Outcome(status, "; ".join(t for t in (error, prior) if t), result, banner=banner)


async def _established(
    ex: _Exchange, use_callback: bool, hard_deadline: float, progress: _Progress
) -> dict[str, object]:
    """The TlsProbe fields of a completed handshake, after the TLS 1.3 verdict read."""
    cipher = ex.obj.cipher()
    chain, problems = _parse_chain(_chain_der(ex.obj))
    result: dict[str, object] = {
        "protocol": ex.obj.version() or ex.tap.server_version,
        "cipher": cipher[0] if cipher else None,
        "alpn": ex.obj.selected_alpn_protocol(),
        "chain": chain,
        "status": ProbeStatus.TLS,
    }
    errors = [problems] if problems else []
    names = _ca_names(ex.tap)
    if names is not None:
        result["acceptable_ca_names"] = names
    requested = ex.tap.certificate_request is not None
    if result["protocol"] == "TLSv1.3" and (requested or not use_callback):
        progress.phase = "waiting for the server's verdict on the (empty) client certificate"
        verdict, note = await _after_handshake(ex, hard_deadline, expect_alert=requested)
        if verdict is not None:
            result["status"] = verdict
        if note:
            errors.append(note)
    elif requested:
        errors.append(_OPTIONAL_CLIENT_CERT)
    if result["status"] is ProbeStatus.CLIENT_CERT_REQUIRED:
        errors.append(_names_note(names))
    if errors:
        result["error"] = "; ".join(errors)
    return result


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
            return (None, _OPTIONAL_CLIENT_CERT) if expect_alert else (None, "")
        try:
            got = await asyncio.wait_for(ex.receive(), remaining)
        except TimeoutError:
            continue
        except _Outcome as out:
            return (ProbeStatus.CLIENT_CERT_REQUIRED if expect_alert else None), out.error
        if not got and not expect_alert:
            return None, ""
