"""TLS family: plaintext on a TLS port, mutual TLS, failed handshakes, legacy protocols.

Scope: one probe of one listener with one SNI name (EndpointContext). Refused, timed-out
and unreachable probes are not handshake findings: nothing answered, which is coverage.
"""

from __future__ import annotations

from collections.abc import Iterable

from audit.model import ProbeRoute, ProbeStatus, Severity
from audit.rules.base import (
    EndpointContext,
    Hit,
    Scope,
    Settings,
    connect_address,
    rule,
    shell_quote,
)

_NO_CONFIG = "the service's configuration"


def _values(ctx: EndpointContext) -> dict[str, str]:
    p = ctx.probe
    return {
        "address": connect_address(p.address),
        "port": str(p.port),
        "servername": shell_quote(p.servername or ctx.expected_name or p.address),
        "host": shell_quote(p.host),
    }


def _subject(ctx: EndpointContext) -> str:
    name = ctx.probe.servername
    return f"listener {ctx.probe.port}" + (f" ({name})" if name else "")


def _endpoint(ctx: EndpointContext) -> str:
    p = ctx.probe
    via = " through SSH" if p.via is ProbeRoute.SSH else ""
    sni = f" (SNI {p.servername})" if p.servername else " (no SNI)"
    process = ""
    if ctx.listener is not None and ctx.listener.process:
        process = f", process {ctx.listener.process}"
    return f"{p.address}:{p.port}{sni}{process}{via}"


def _config(ctx: EndpointContext) -> str:
    """The listener's configuration as a fix names it: "'FILE':LINE" (quoted), or prose."""
    listener = ctx.listener
    if listener is not None and listener.config_file:
        line = f":{listener.config_line}" if listener.config_line else ""
        return shell_quote(listener.config_file) + line
    return _NO_CONFIG


@rule(
    "TLS_NOT_SPOKEN",
    family="tls",
    title="Port that should speak TLS answers in plaintext",
    severity=Severity.HIGH,
    scope=Scope.ENDPOINT,
    diagnose=(
        "openssl s_client -connect {address}:{port} -servername {servername} </dev/null "
        "2>&1 | head -5"
    ),
    fix=(
        "Turn TLS on for port {port} in {config} (nginx: listen {port} ssl; with "
        "ssl_certificate and ssl_certificate_key; Apache: SSLEngine on), or, if the port is "
        "meant to be plaintext, send clients to the TLS port and drop {port} from "
        "certaudit_tls_ports."
    ),
)
def tls_not_spoken(ctx: EndpointContext, settings: Settings) -> Iterable[Hit]:
    if not ctx.expects_tls or ctx.probe.status is not ProbeStatus.PLAINTEXT:
        return
    answer = ctx.probe.error or "a non-TLS answer"
    yield Hit(
        subject=_subject(ctx),
        detail=(
            f"{_endpoint(ctx)} answered a TLS ClientHello in plaintext: {answer!s}. TLS "
            "clients fail with 'wrong version number'."
        ),
        values={**_values(ctx), "config": _config(ctx)},
    )


@rule(
    "CLIENT_CERT_REQUIRED",
    family="tls",
    title="Server asks for a client certificate (mutual TLS)",
    severity=Severity.INFO,
    scope=Scope.ENDPOINT,
    diagnose=(
        "echo | openssl s_client -connect {address}:{port} -servername {servername} "
        "2>/dev/null | grep -A10 'Acceptable client certificate CA names'"
    ),
    fix=(
        "Nothing to fix if mutual TLS is intended: clients need a certificate from one of "
        "the acceptable CAs (curl --cert client.crt --key client.key https://{servername}:"
        "{port}/). If it is not, turn client verification off (nginx: ssl_verify_client off; "
        "Apache: SSLVerifyClient none)."
    ),
)
def client_cert_required(ctx: EndpointContext, settings: Settings) -> Iterable[Hit]:
    p = ctx.probe
    required = p.status is ProbeStatus.CLIENT_CERT_REQUIRED
    if not required and not p.acceptable_ca_names:
        return
    names = "; ".join(p.acceptable_ca_names) or "none listed (any CA the server trusts)"
    how = (
        f"refuses the handshake without one ({p.error})"
        if required and p.error
        else "refuses the handshake without one"
        if required
        else "asks for one but completes the handshake without it"
    )
    yield Hit(
        subject=_subject(ctx),
        detail=f"{_endpoint(ctx)} asks for a client certificate and {how}. Acceptable CAs: "
        f"{names}.",
        values=_values(ctx),
    )


_HINTS = (
    (
        "unrecognized_name",
        "The server has no certificate for this SNI name: add a server "
        "block (nginx server_name) or virtual host for {name}.",
    ),
    (
        "protocol_version",
        "No protocol version in common: enable TLS 1.2 and 1.3 "
        "(nginx: ssl_protocols TLSv1.2 TLSv1.3;).",
    ),
    (
        "unsupported_protocol",
        "No protocol version in common: enable TLS 1.2 and 1.3 "
        "(nginx: ssl_protocols TLSv1.2 TLSv1.3;).",
    ),
    (
        "handshake_failure",
        "No cipher suite in common, or no certificate configured for this "
        "name: check ssl_ciphers and the certificate/key directives.",
    ),
    (
        "internal_error",
        "The server failed internally: its certificate or key likely does not load.",
    ),
)


def _key(reason: str) -> str:
    """ "SSLV3_ALERT_HANDSHAKE_FAILURE", "sslv3 alert handshake failure" -> one form."""
    return reason.lower().replace(" ", "_")


@rule(
    "TLS_HANDSHAKE_FAILED",
    family="tls",
    title="TLS handshake fails",
    severity=Severity.MEDIUM,
    scope=Scope.ENDPOINT,
    diagnose=(
        "openssl s_client -connect {address}:{port} -servername {servername} -brief </dev/null"
    ),
    fix=(
        "{hint} Check the service's error log at the time of the audit and its configuration "
        "test (nginx -t, apachectl configtest) for port {port}."
    ),
)
def tls_handshake_failed(ctx: EndpointContext, settings: Settings) -> Iterable[Hit]:
    p = ctx.probe
    closed = p.status is ProbeStatus.CLOSED and ctx.expects_tls
    if p.status is not ProbeStatus.HANDSHAKE_FAILED and not closed:
        return
    reason = p.error or ("the server closed the connection" if closed else "no reason given")
    name = p.servername or ctx.expected_name or p.address
    hint = next(
        (text.format(name=shell_quote(name)) for key, text in _HINTS if key in _key(reason)),
        "The server rejects this client's handshake.",
    )
    yield Hit(
        subject=_subject(ctx),
        detail=f"The TLS handshake with {_endpoint(ctx)} failed: {reason}.",
        values={**_values(ctx), "hint": hint},
    )


_PROTOCOLS_FIX = {
    "nginx": "ssl_protocols TLSv1.2 TLSv1.3;",
    "apache": "SSLProtocol -all +TLSv1.2 +TLSv1.3",
    "haproxy": "ssl-min-ver TLSv1.2 on the bind line (or ssl-default-bind-options in global)",
}


@rule(
    "LEGACY_PROTOCOL",
    family="tls",
    title="Listener still accepts TLS 1.0 or 1.1",
    severity=Severity.MEDIUM,
    scope=Scope.ENDPOINT,
    diagnose=(
        "echo | openssl s_client -connect {address}:{port} -servername {servername} {version} "
        "-cipher 'DEFAULT:@SECLEVEL=0' 2>&1 | grep -E '^ *(Protocol|Cipher) *:'"
    ),
    fix=(
        "Allow TLS 1.2 and 1.3 only in {config} ({setting}) and reload the service; TLS 1.0 "
        "and 1.1 are deprecated (RFC 8996) and refused by current browsers and PCI DSS."
    ),
)
def legacy_protocol(ctx: EndpointContext, settings: Settings) -> Iterable[Hit]:
    listener = ctx.listener
    best = ctx.probe.protocol if ctx.probe.protocol in LEGACY else None
    also = listener.legacy_protocol if listener is not None else None
    if not best and not also:
        return
    if listener is not None and listener.probes and ctx.probe != listener.probes[0]:
        return  # one finding per listener, on its first probe
    server = listener.server or "" if listener is not None else ""
    setting = _PROTOCOLS_FIX.get(
        server, "nginx: ssl_protocols TLSv1.2 TLSv1.3; Apache: SSLProtocol -all +TLSv1.2 +TLSv1.3"
    )
    config = listener.config_file if listener is not None else None
    if best:  # a client offering TLS 1.3 got TLS 1.0/1.1: that is all the server speaks
        detail = (
            f"{_endpoint(ctx)} accepts only {_LEGACY_NAMES[best]}: a client offering TLS 1.3 "
            f"and 1.2 negotiated {best}. Clients with today's defaults (OpenSSL 3, browsers, "
            "Java 17, Go) refuse to connect at all."
        )
    else:
        detail = (
            f"{_endpoint(ctx)} completed a handshake offering nothing newer than TLS 1.1: it "
            f"negotiated {also}. Clients that downgrade, or old clients, get a protocol with "
            "known weaknesses (BEAST, SHA-1 and MD5 in the handshake)."
        )
    yield Hit(
        subject=_subject(ctx),
        detail=detail,
        severity=Severity.HIGH if best else None,
        values={
            **_values(ctx),
            "config": shell_quote(config) if config else _NO_CONFIG,
            "setting": setting,
            "version": "-tls1" if (best or also) == "TLSv1" else "-tls1_1",
        },
    )


LEGACY = ("TLSv1", "TLSv1.1")
"""Protocol names (as Python's ssl reports them) of TLS 1.0 and 1.1."""
_LEGACY_NAMES = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1"}


RULES = (tls_not_spoken, client_cert_required, tls_handshake_failed, legacy_protocol)
