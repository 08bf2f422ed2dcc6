"""`certaudit check HOST[:PORT]...` and `certaudit inspect FILE...`: endpoints, local files.

The 2 AM commands: probe one endpoint (or many: several targets, or --from FILE), speaking
a STARTTLS preamble first where the port or the server's greeting calls for one, judge each
chain against Mozilla's roots (and --cafile), run the certificate, chain, name, crypto and
TLS rules, and print every finding with the command that shows it and the fix. Or read a
few files. The work is audit.service.check (one endpoint, files) and
audit.service.check_many (many endpoints, reports, history); this module parses options,
prints and exits.

Exit status: 0 when no finding is at or above high, 1 when one is, 2 for a usage error
(bad HOST:PORT or FILE line, unreadable file, bad option). `check` also exits 1 whenever
an endpoint gave no TLS session (refused, timeout, plaintext, refused STARTTLS, failed
handshake; a server that only wants a client certificate is fine): an endpoint clients
cannot use is not healthy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from audit.cli import app
from audit.cli.terminal import error_text, format_finding, safe, windows_option
from audit.errors import AuditError, ConfigError
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
from audit.service.x509text import X509Text

if TYPE_CHECKING:
    from audit.service.check_many import ManyOutcome


def _fail(command: str, exc: AuditError) -> NoReturn:
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
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="HOST[:PORT]...",
            help="Endpoints; default port 443; IPv6 as [::1]:8443.",
            show_default=False,
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Endpoints, one 'host[:port] [servername] [starttls]' per line "
            "('-' keeps the default servername; # comments).",
        ),
    ] = None,
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
    starttls: Annotated[
        str,
        typer.Option(
            "--starttls",
            help="Upgrade a plaintext protocol first: smtp, imap, pop3, ftp, ldap, xmpp, "
            "postgres, mysql; none for TLS at once; auto: the port's usual protocol, else "
            "the one the server's greeting names.",
        ),
    ] = "auto",
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
        float, typer.Option("--timeout", help="Deadline for each endpoint's probe, in seconds.")
    ] = 5.0,
    expiry_windows: Annotated[
        str,
        typer.Option("--expiry-windows", help="Warning windows in days: medium, high, critical."),
    ] = "30,14,7",
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Endpoints probed at once.")
    ] = 64,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Also write findings.json, report.html, report.xlsx, metrics.prom."
        ),
    ] = None,
    db: Annotated[
        Path | None, typer.Option("--db", help="Record the check in this history database.")
    ] = None,
) -> None:
    """Diagnose TLS endpoints: the chain each sends, trust, names, expiry, protocol."""
    given = list(targets or [])
    if len(given) == 1 and from_file is None and out is None and db is None:
        _check_one(given[0], servername, starttls, cafile, json_out, timeout, expiry_windows)
    from audit.service.check_many import ManySettings, check_many

    try:
        outcome = check_many(
            ManySettings(
                targets=tuple(given),
                from_file=from_file,
                servername=servername,
                starttls=starttls.lower(),
                cafile=cafile,
                timeout=timeout,
                expiry_windows=windows_option(expiry_windows),
                concurrency=concurrency,
                out=out,
                db=db,
            )
        )
    except AuditError as exc:
        _fail("check", exc)
    if json_out:
        _print_many_json(outcome)
    else:
        _print_many_text(outcome)
    for name, reason in outcome.report_failures:
        typer.echo(
            f"certaudit check: error: {name} could not be rendered: {safe(reason)}", err=True
        )
    raise typer.Exit(outcome.status)


def _check_one(
    target: str,
    servername: str | None,
    starttls: str,
    cafile: Path | None,
    json_out: bool,
    timeout: float,
    expiry_windows: str,
) -> NoReturn:
    try:
        settings = CheckSettings(
            target=parse_target(target),
            servername=servername,
            cafile=cafile,
            timeout=timeout,
            expiry_windows=windows_option(expiry_windows),
            starttls=starttls.lower(),
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
    if outcome.starttls:
        lines.append(f"  STARTTLS {outcome.starttls} ({safe(outcome.starttls_reason)})")
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
        "starttls": outcome.starttls,
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
# check: many endpoints


def _result_text(outcome: CheckOutcome) -> str:
    probe = outcome.probe
    text = probe.status.value
    if probe.protocol and outcome.usable:
        text += f" {probe.protocol}"
    if outcome.starttls:
        text += f" (STARTTLS {outcome.starttls})"
    return safe(text)


def _leaf_days(outcome: CheckOutcome) -> float | None:
    """Days until the served leaf's notAfter (negative once expired); None: no chain."""
    chain = outcome.probe.chain
    if not chain:
        return None
    return round((chain[0].not_after - outcome.now).total_seconds() / 86400.0, 2)


def _days_left(outcome: CheckOutcome) -> str:
    days = _leaf_days(outcome)
    return "-" if days is None else f"{days:.0f}"


def _worst(outcome: CheckOutcome) -> str:
    if not outcome.findings:
        return "-"
    f = outcome.findings[0]
    return f"{f.severity.value} {safe(f.id)}"


def _print_many_text(outcome: ManyOutcome) -> None:
    rows = [("ENDPOINT", "RESULT", "DAYS LEFT", "WORST FINDING")]
    rows += [
        (safe(o.probe.host), _result_text(o), _days_left(o), _worst(o)) for o in outcome.endpoints
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]])
        for row in rows
    ]
    n, usable = len(outcome.endpoints), sum(1 for o in outcome.endpoints if o.usable)
    lines += ["", f"{n} endpoint{'s' if n != 1 else ''}, {usable} with a usable TLS session", ""]
    lines.extend(_findings_text(outcome.findings))
    lines.extend(f"wrote {safe(path)}" for path in outcome.written)
    typer.echo("\n".join(lines))


def _print_many_json(outcome: ManyOutcome) -> None:
    from audit.report.json import document, dumps, iso, verdict_doc

    result = outcome.result
    endpoints = [
        {
            "name": o.probe.host,
            "target": o.target.label,
            "servername": o.sni,
            "starttls": o.starttls,
            "starttls_reason": o.starttls_reason,
            "status": o.probe.status.value,
            "usable": o.usable,
            "days_left": _leaf_days(o),
            "worst_finding": o.findings[0].id if o.findings else None,
            "chain_verdict": verdict_doc(o.verdict),
            "source": envelope.host.source,
        }
        for o, envelope in zip(outcome.endpoints, result.hosts, strict=True)
    ]
    meta: dict[str, Any] = {
        "command": "check",
        "run_id": result.run_id,
        "inventory": result.inventory,
        "started_at": iso(result.started_at),
        "finished_at": iso(result.finished_at),
        "partial": False,
        "endpoints": endpoints,
    }
    doc = document(hosts=result.hosts, findings=outcome.findings, meta=meta, now=result.finished_at)
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
            details = outcome.details.get(cert.sha256)
            if details is not None:
                lines.extend(_detail_lines(details, now))
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


def _detail_lines(d: X509Text, now: datetime) -> list[str]:
    """What `openssl x509 -text` readers look for first, one line each."""

    def listed(items: Sequence[str]) -> str:
        return ", ".join(safe(i) for i in items) if items else "none"

    usage = listed(d.key_usage) + (" (critical)" if d.key_usage_critical else "")
    lines = [
        f"     notBefore:      {_when(d.not_before, now)}",
        f"     SANs:           {listed(d.sans)}",
        f"     key usage:      {usage}",
        f"     ext. key usage: {listed(d.extended_key_usage)}",
        f"     OCSP:           {listed(d.ocsp)}",
        f"     CA issuers:     {listed(d.ca_issuers)}",
        f"     CRL:            {listed(d.crl)}",
        f"     SHA-256:        {d.fingerprint}",
    ]
    lines.extend(f"     unreadable:     {safe(problem)}" for problem in d.problems)
    return lines


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
