"""`certaudit check HOST[:PORT]` and `certaudit inspect FILE...`: one endpoint, local files.

The 2 AM commands: probe one endpoint (or read a few files), judge the chain against
Mozilla's roots (and --cafile), run the certificate, chain, name, crypto and TLS rules,
and print every finding with the command that shows it and the fix. This module is the
only place here that reads the clock, prints or exits.

Exit status: 0 when no finding is at or above high, 1 when one is, 2 for a usage error
(bad HOST:PORT, unreadable file, bad option). `check` also exits 1 whenever no TLS
session could be had (refused, timeout, plaintext, failed handshake; a server that only
wants a client certificate is fine): an endpoint clients cannot use is not healthy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from audit.cli import app, terminal
from audit.cli.terminal import exit_code_for, format_finding, safe
from audit.errors import ConfigError
from audit.model import (
    CertInfo,
    CertLocation,
    Finding,
    Host,
    HostOutcome,
    HostResult,
    Listener,
    ProbeStatus,
    TlsProbe,
    Unparseable,
)

DEFAULT_PORT = 443
NOT_CONNECTED = frozenset({ProbeStatus.REFUSED, ProbeStatus.TIMEOUT, ProbeStatus.UNREACHABLE})
"""Probe outcomes where nothing answered: coverage, not a handshake finding."""
HEALTHY_STATUSES = frozenset({ProbeStatus.TLS, ProbeStatus.CLIENT_CERT_REQUIRED})
"""Probe outcomes where TLS works (mutual TLS included); anything else exits non-zero."""


# ---------------------------------------------------------------------------
# Arguments


class UsageError(Exception):
    """A bad argument; printed as one line, exit status 2."""


@dataclass(frozen=True)
class Target:
    """HOST[:PORT] as given, split and checked."""

    host: str
    """Name or IP literal (IPv6 without brackets)."""
    port: int
    is_ip: bool

    @property
    def label(self) -> str:
        """host:port, with brackets around an IPv6 literal (as openssl -connect wants)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_target(text: str) -> Target:
    """ "host", "host:port", "[v6]:port", "[v6]", a bare IPv6 literal, or https://host:port/."""
    raw = text.strip()
    if "://" in raw:
        scheme, _, rest = raw.partition("://")
        if scheme.lower() != "https":
            raise UsageError(f"{text!r}: only https:// URLs are understood; give HOST[:PORT]")
        raw = rest.split("/", 1)[0].split("?", 1)[0]
    if not raw:
        raise UsageError("empty HOST[:PORT]")
    port_text: str | None = None
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise UsageError(f"{text!r}: missing ']' after the IPv6 address")
        host, rest = raw[1:end], raw[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"{text!r}: expected [IPv6]:PORT")
            port_text = rest[1:]
        if not _is_ip(host) or ":" not in host:
            raise UsageError(f"{text!r}: {host!r} in brackets is not an IPv6 address")
    elif raw.count(":") > 1:
        if not _is_ip(raw):
            raise UsageError(f"{text!r}: not HOST:PORT; put an IPv6 address in brackets: [::1]:443")
        host = raw
    else:
        host, sep, port_text_ = raw.partition(":")
        port_text = port_text_ if sep else None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"{text!r}: port must be a number from 1 to 65535")
        port = int(port_text)
    else:
        port = DEFAULT_PORT
    if not host:
        raise UsageError(f"{text!r}: missing host")
    if any(c.isspace() or ord(c) < 0x20 or c in "/\\@" for c in host):
        raise UsageError(f"{text!r}: not a host name or address")
    return Target(host=host, port=port, is_ip=_is_ip(host))


def parse_windows(text: str) -> tuple[int, ...]:
    """The shared --expiry-windows parser, with check's usage-error type."""
    try:
        return terminal.parse_windows(text)
    except ConfigError as exc:
        raise UsageError(exc.message) from None


def _fail(command: str, message: str) -> NoReturn:
    typer.echo(f"certaudit {command}: {safe(message)}", err=True)
    raise typer.Exit(2)


def _stores(cafile: Path | None) -> Any:
    """Mozilla's roots plus --cafile; UsageError when the file is unusable."""
    from audit.trust import default_stores

    if cafile is not None:
        if not cafile.exists():
            raise UsageError(f"--cafile {cafile}: no such file or directory")
        try:
            stores = default_stores(cafile=str(cafile))
        except OSError as exc:
            raise UsageError(f"--cafile {cafile}: cannot read it ({exc.strerror or exc})") from None
        if not stores.cafile:
            raise UsageError(f"--cafile {cafile}: contains no certificate")
        return stores
    return default_stores()


# ---------------------------------------------------------------------------
# Human output


def _when(dt: datetime, now: datetime) -> str:
    days = (dt - now).total_seconds() / 86400.0
    rel = f"in {days:.0f} days" if days >= 0 else f"{-days:.0f} days ago"
    return f"{dt:%Y-%m-%d %H:%M} UTC ({rel})"


def _cert_lines(index: int, cert: CertInfo, now: datetime) -> list[str]:
    key = f"{cert.key_type} {cert.key_bits}" if cert.key_bits else cert.key_type
    return [
        f"  #{index} subject:  {safe(cert.subject)}",
        f"     issuer:   {safe(cert.issuer)}",
        f"     notAfter: {_when(cert.not_after, now)}"
        f"   key: {key}, {safe(cert.signature_algorithm)}",
    ]


def _findings_text(findings: Sequence[Finding]) -> list[str]:
    if not findings:
        return ["no findings"]
    n = len(findings)
    lines = [f"{n} finding{'s' if n != 1 else ''}, highest risk first:"]
    for f in findings:
        lines.append(format_finding(f, sys.stdout))
    return lines


def _verdict_line(verdict: Any) -> str | None:
    if verdict is None:
        return None
    text = f"trust: {verdict.status}"
    if verdict.detail:
        text += f": {verdict.detail}"
    if verdict.strict_error:  # what a strict web-PKI client says now, for this name
        text += f"\n  a strict client says: {verdict.strict_error}"
    return "\n".join(safe(line) for line in text.split("\n"))


# ---------------------------------------------------------------------------
# check


async def _probe(target: Target, servername: str | None, deadline: float) -> TlsProbe:
    from audit.probe import probe_direct

    return await probe_direct(target.host, target.port, servername, deadline, host=target.label)


def _unreached_finding(probe: TlsProbe, target: Target, now: datetime) -> list[Finding]:
    """HOST_UNREACHABLE for an endpoint where nothing answered (refused, timeout, no route).

    The tls rules leave these to coverage; for `check` the endpoint is the host, so the
    coverage finding is raised with a TLS command and fix instead of the SSH ones.
    """
    from audit.analyze import Evidence, analyze
    from audit.rules import BY_ID
    from audit.rules.base import Settings, shell_quote

    rule = BY_ID.get("HOST_UNREACHABLE")
    if rule is None:
        return []
    result = HostResult(
        host=Host(name=target.label, address=target.host, port=target.port),
        outcome=HostOutcome.UNREACHABLE,
        detail=f"{probe.status.value}: {probe.error}",
    )
    found = analyze(Evidence(hosts=[result]), Settings(now=now), rules=[rule])
    connect = shell_quote(target.label)
    sni = f" -servername {shell_quote(probe.servername)}" if probe.servername else ""
    return [
        replace(
            f,
            subject=f"listener {target.port}",
            diagnose=f"openssl s_client -connect {connect}{sni} </dev/null",
            fix=(
                f"Check that something listens on {target.label} (ss -tlnp on the host), that "
                "no firewall drops the connection, and that the name resolves to the right "
                "address (dig)."
            ),
        )
        for f in found
    ]


@app.command("check")
def check(
    target: Annotated[
        str,
        typer.Argument(
            metavar="HOST[:PORT]", help="Endpoint; default port 443; IPv6 as [::1]:8443."
        ),
    ],
    servername: Annotated[
        str | None,
        typer.Option(
            "--servername",
            help=(
                "SNI name to send and to check the certificate against "
                "(default: HOST unless it is an IP address)."
            ),
        ),
    ] = None,
    cafile: Annotated[
        Path | None,
        typer.Option(
            "--cafile", help="Also trust these CA certificates (PEM/DER bundle or folder)."
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the JSON contract document instead of text.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Overall deadline for the probe, in seconds.")
    ] = 5.0,
    expiry_windows: Annotated[
        str,
        typer.Option("--expiry-windows", help="Warning windows in days: medium, high, critical."),
    ] = "30,14,7",
) -> None:
    """Diagnose one TLS endpoint: the chain it sends, trust, names, expiry, protocol."""
    try:
        tgt = parse_target(target)
        windows = parse_windows(expiry_windows)
        if not 0 < timeout <= 600:
            raise UsageError(f"--timeout {timeout:g}: expected seconds between 0 and 600")
        sni = servername if servername is not None else (None if tgt.is_ip else tgt.host)
        if sni is not None and (not sni or any(c.isspace() or ord(c) < 0x20 for c in sni)):
            raise UsageError(f"--servername {sni!r}: not a host name")
        stores = _stores(cafile)
    except UsageError as exc:
        _fail("check", str(exc))

    from audit.analyze import Evidence, analyze, endpoint_context, served_cert_contexts
    from audit.rules.base import Settings

    probe = asyncio.run(_probe(tgt, sni, timeout))
    now = datetime.now(UTC)
    listener = Listener(
        host=tgt.label, address=tgt.host, port=tgt.port, expects_tls=True, probes=(probe,)
    )
    endpoint = endpoint_context(probe, stores=stores, now=now, listener=listener, expected_name=sni)
    evidence = Evidence(endpoints=[endpoint], extra_certs=served_cert_contexts([endpoint]))
    settings = Settings(now=now, expiry_windows=windows)
    findings = analyze(evidence, settings)
    if probe.status in NOT_CONNECTED and not findings:
        findings = _unreached_finding(probe, tgt, now)

    if json_out:
        _print_check_json(tgt, sni, probe, listener, endpoint.verdict, findings, now)
    else:
        _print_check_text(tgt, sni, probe, endpoint.verdict, findings, now)
    code = exit_code_for(findings)
    if probe.status not in HEALTHY_STATUSES:
        code = max(code, 1)
    raise typer.Exit(code)


def _print_check_text(
    tgt: Target,
    sni: str | None,
    probe: TlsProbe,
    verdict: Any,
    findings: Sequence[Finding],
    now: datetime,
) -> None:
    lines = [f"{safe(tgt.label)}  (SNI {safe(sni) if sni else 'none'})"]
    status = probe.status.value
    session = ", ".join(
        safe(part)
        for part in (
            probe.protocol,
            probe.cipher,
            f"ALPN {probe.alpn}" if probe.alpn else "no ALPN",
        )
        if part
    )
    lines.append(
        f"  {status} in {probe.elapsed_ms:.0f} ms" + (f": {session}" if probe.protocol else "")
    )
    if probe.error:
        lines.append(f"  {safe(probe.error)}")
    if probe.acceptable_ca_names:
        lines.append("  acceptable client CA names:")
        lines.extend(f"    {safe(name)}" for name in probe.acceptable_ca_names)
    if probe.chain:
        n = len(probe.chain)
        lines.append(f"chain as sent ({n} certificate{'s' if n != 1 else ''}):")
        for i, cert in enumerate(probe.chain):
            lines.extend(_cert_lines(i, cert, now))
    verdict_text = _verdict_line(verdict)
    if verdict_text:
        lines.append(verdict_text)
    lines.append("")
    lines.extend(_findings_text(findings))
    typer.echo("\n".join(lines))


def _print_check_json(
    tgt: Target,
    sni: str | None,
    probe: TlsProbe,
    listener: Listener,
    verdict: Any,
    findings: Sequence[Finding],
    now: datetime,
) -> None:
    from audit.report.json import document, dumps, iso

    extra = [
        (
            cert,
            {
                "host": tgt.label,
                "path": tgt.label,
                "kind": "listener",
                "index": i,
                "format": "tls",
                "servername": sni,
            },
        )
        for i, cert in enumerate(probe.chain)
    ]
    meta: dict[str, Any] = {
        "command": "check",
        "target": tgt.label,
        "servername": sni,
        "started_at": iso(now),
        "finished_at": iso(now),
        "partial": False,
        "chain_verdict": _verdict_doc(verdict),
    }
    doc = document(
        hosts=[],
        findings=findings,
        meta=meta,
        now=now,
        extra_certs=extra,
        extra_listeners=[listener],
    )
    typer.echo(dumps(doc), nl=False)


def _verdict_doc(verdict: Any) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {
        "status": verdict.status,
        "detail": verdict.detail,
        "store": verdict.store,
        "missing_issuer": verdict.missing_issuer,
        "order_problem": verdict.order_problem,
        "verified_chain": [c.sha256 for c in verdict.verified_chain],
        "strict_error": verdict.strict_error,
    }


# ---------------------------------------------------------------------------
# inspect


@dataclass(frozen=True)
class _File:
    path: str
    certs: tuple[tuple[int, str, CertInfo], ...]
    """(index, format, certificate) for every block that parsed."""
    unparseable: tuple[Unparseable, ...]


def _read_files(paths: Sequence[Path]) -> list[_File]:
    from audit.certparse import parse_bytes

    out = []
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise UsageError(f"{path}: is a directory; give certificate files") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        items = parse_bytes(data)
        certs = tuple((i.index, i.format, i.cert) for i in items if i.cert is not None)
        bad = tuple(
            Unparseable(host="", path=str(path), reason=i.error or "does not parse", index=i.index)
            for i in items
            if i.cert is None
        )
        out.append(_File(str(path), certs, bad))
    return out


@app.command("inspect")
def inspect(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE...", help="Certificate files or bundles (PEM, DER, PKCS#7)."),
    ],
    cafile: Annotated[
        Path | None, typer.Option("--cafile", help="Also trust these CA certificates.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the JSON contract document instead of text.")
    ] = False,
    servername: Annotated[
        str | None,
        typer.Option("--servername", help="Check the leaf certificates against this name."),
    ] = None,
    expiry_windows: Annotated[
        str,
        typer.Option("--expiry-windows", help="Warning windows in days: medium, high, critical."),
    ] = "30,14,7",
) -> None:
    """Decode and diagnose local certificate files or bundles (each bundle as a chain)."""
    try:
        windows = parse_windows(expiry_windows)
        read = _read_files(files)
        stores = _stores(cafile)
    except UsageError as exc:
        _fail("inspect", str(exc))
    if not any(f.certs or f.unparseable for f in read):
        _fail("inspect", "no certificate found in " + ", ".join(f.path for f in read))

    from audit.analyze import Evidence, analyze, chain_context
    from audit.rules import REGISTRY
    from audit.rules.base import CertContext, Scope, Settings

    now = datetime.now(UTC)
    cert_ctxs = [
        CertContext(
            cert=cert,
            location=CertLocation(host="", path=f.path, kind="file", index=index, format=fmt),
        )
        for f in read
        for index, fmt, cert in f.certs
    ]
    # Each file is judged as a bundle on its own ("this fullchain.pem lacks its
    # intermediate"); CA certificates from the other files given tell an incomplete
    # chain from an untrusted one. Files holding only CA certificates are not chains.
    cas = [cert for f in read for _, _, cert in f.certs if cert.is_ca]
    chains = []
    for f in read:
        certs = [cert for _, _, cert in f.certs]
        if not certs or all(c.is_ca for c in certs):
            continue
        own = {c.sha256 for c in certs}
        chains.append(
            chain_context(
                certs,
                path=f.path,
                stores=stores,
                now=now,
                expected_name=servername,
                intermediates=[c for c in cas if c.sha256 not in own],
            )
        )
    # Unparseable blocks reach CERT_UNPARSEABLE (a host-scope rule) through an envelope
    # for "this machine"; only that host rule runs, so no SSH/host finding can appear.
    local = HostResult(
        host=Host(name="", address="localhost"),
        outcome=HostOutcome.OK,
        unparseable=tuple(u for f in read for u in f.unparseable),
    )
    rules = [r for r in REGISTRY if r.scope is not Scope.HOST or r.id == "CERT_UNPARSEABLE"]
    evidence = Evidence(hosts=[local], extra_certs=cert_ctxs, chains=chains)
    findings = analyze(evidence, Settings(now=now, expiry_windows=windows), rules=rules)
    verdicts = {c.where: c.verdict for c in chains}

    if json_out:
        _print_inspect_json(read, verdicts, findings, now)
    else:
        _print_inspect_text(read, verdicts, findings, now)
    raise typer.Exit(exit_code_for(findings))


def _print_inspect_text(
    read: Sequence[_File], verdicts: dict[str, Any], findings: Sequence[Finding], now: datetime
) -> None:
    lines: list[str] = []
    for f in read:
        n = len(f.certs)
        what = f"{n} certificate{'s' if n != 1 else ''}"
        if f.unparseable:
            what += f", {len(f.unparseable)} unparseable"
        if not f.certs and not f.unparseable:
            what = "no certificate found"
        lines.append(f"{safe(f.path)}: {what}")
        for index, _fmt, cert in f.certs:
            lines.extend(_cert_lines(index, cert, now))
        for u in f.unparseable:
            lines.append(f"  #{u.index} does not parse: {safe(u.reason)}")
        verdict_text = _verdict_line(verdicts.get(f.path))
        if verdict_text:
            lines.append("  " + verdict_text)
    lines.append("")
    lines.extend(_findings_text(findings))
    typer.echo("\n".join(lines))


def _print_inspect_json(
    read: Sequence[_File], verdicts: dict[str, Any], findings: Sequence[Finding], now: datetime
) -> None:
    from audit.report.json import document, dumps, iso

    extra = [
        (
            cert,
            {
                "host": "",
                "path": f.path,
                "kind": "file",
                "index": index,
                "format": fmt,
                "servername": None,
            },
        )
        for f in read
        for index, fmt, cert in f.certs
    ]
    meta: dict[str, Any] = {
        "command": "inspect",
        "files": [f.path for f in read],
        "started_at": iso(now),
        "finished_at": iso(now),
        "partial": False,
        "unparseable": [
            {"path": u.path, "index": u.index, "reason": u.reason}
            for f in read
            for u in f.unparseable
        ],
        "chain_verdicts": {path: _verdict_doc(v) for path, v in verdicts.items()},
    }
    doc = document(hosts=[], findings=findings, meta=meta, now=now, extra_certs=extra)
    typer.echo(dumps(doc), nl=False)
