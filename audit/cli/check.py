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

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from audit.cli import app
from audit.cli.terminal import error_text, format_finding, safe, windows_option
from audit.errors import ConfigError
from audit.model import CertInfo, ChainVerdict, Finding
from audit.service.check import (
    CheckOutcome,
    CheckSettings,
    InspectOutcome,
    InspectSettings,
    check_endpoint,
    inspect_files,
    parse_target,
)
from audit.service.policy import EXIT_ERROR


def _fail(command: str, exc: ConfigError) -> NoReturn:
    typer.echo(error_text(exc, prefix=f"certaudit {command}: "), err=True)
    raise typer.Exit(EXIT_ERROR)


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


def _verdict_line(verdict: ChainVerdict | None) -> str | None:
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
        settings = CheckSettings(
            target=parse_target(target),
            servername=servername,
            cafile=cafile,
            timeout=timeout,
            expiry_windows=windows_option(expiry_windows),
        )
        outcome = check_endpoint(settings)
    except ConfigError as exc:
        _fail("check", exc)
    if json_out:
        _print_check_json(outcome)
    else:
        _print_check_text(outcome)
    raise typer.Exit(outcome.status)


def _print_check_text(outcome: CheckOutcome) -> None:
    tgt, sni, probe, now = outcome.target, outcome.sni, outcome.probe, outcome.now
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
    verdict_text = _verdict_line(outcome.verdict)
    if verdict_text:
        lines.append(verdict_text)
    lines.append("")
    lines.extend(_findings_text(outcome.findings))
    typer.echo("\n".join(lines))


def _print_check_json(outcome: CheckOutcome) -> None:
    from audit.report.json import document, dumps, iso, verdict_doc

    tgt, sni, probe, now = outcome.target, outcome.sni, outcome.probe, outcome.now

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
        "chain_verdict": verdict_doc(outcome.verdict),
    }
    doc = document(
        hosts=[],
        findings=outcome.findings,
        meta=meta,
        now=now,
        extra_certs=extra,
        extra_listeners=[outcome.listener],
    )
    typer.echo(dumps(doc), nl=False)


# ---------------------------------------------------------------------------
# inspect


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
        settings = InspectSettings(
            files=tuple(files),
            cafile=cafile,
            servername=servername,
            expiry_windows=windows_option(expiry_windows),
        )
        outcome = inspect_files(settings)
    except ConfigError as exc:
        _fail("inspect", exc)
    if json_out:
        _print_inspect_json(outcome)
    else:
        _print_inspect_text(outcome)
    raise typer.Exit(outcome.status)


def _print_inspect_text(outcome: InspectOutcome) -> None:
    lines: list[str] = []
    now, verdicts = outcome.now, outcome.verdicts
    for f in outcome.files:
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
        for what in f.not_certificates:
            lines.append(f"  not a certificate: {safe(what)}")
        verdict_text = _verdict_line(verdicts.get(f.path))
        if verdict_text:
            lines.append("  " + verdict_text)
    lines.append("")
    lines.extend(_findings_text(outcome.findings))
    typer.echo("\n".join(lines))


def _print_inspect_json(outcome: InspectOutcome) -> None:
    from audit.report.json import document, dumps, iso, verdict_doc

    read, now = outcome.files, outcome.now

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
        "chain_verdicts": {path: verdict_doc(v) for path, v in outcome.verdicts.items()},
    }
    doc = document(hosts=[], findings=outcome.findings, meta=meta, now=now, extra_certs=extra)
    typer.echo(dumps(doc), nl=False)
