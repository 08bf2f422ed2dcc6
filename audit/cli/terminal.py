"""Terminal rendering helpers: everything from a host or a certificate is made inert."""

from __future__ import annotations

import sys
from typing import TextIO

from audit.errors import AuditError, ConfigError
from audit.model import Finding, Severity
from audit.service.policy import parse_windows
from audit.text import inert


def safe(text: object) -> str:
    """Text for the terminal: escape sequences, control characters (newline and tab
    included), zero-width and bidi characters shown as visible escapes."""
    return inert(text)


_COLOURS = {
    Severity.CRITICAL: "\033[1;31m",
    Severity.HIGH: "\033[31m",
    Severity.MEDIUM: "\033[33m",
    Severity.LOW: "\033[36m",
    Severity.INFO: "\033[2m",
}


def severity_label(severity: Severity, stream: TextIO = sys.stdout) -> str:
    label = f"{severity.value.upper():8}"
    if stream.isatty():
        return f"{_COLOURS[severity]}{label}\033[0m"
    return label


def format_finding(f: Finding, stream: TextIO = sys.stdout, *, verbose: bool = True) -> str:
    """A finding as a few indented lines: what, where, how to see it, how to fix it."""
    head = f"{severity_label(f.severity, stream)} {safe(f.id)}  {safe(f.host)}  {safe(f.subject)}"
    lines = [head, f"         {safe(f.detail)}"]
    if verbose:
        lines.append(f"         diagnose: {safe(f.diagnose)}")
        lines.append(f"         fix:      {safe(f.fix)}")
    return "\n".join(lines)


def error_text(exc: AuditError, prefix: str = "certaudit: error: ") -> str:
    """A run-fatal error for stderr: the message, then its hint on a line of its own (each
    made inert, so a host's text inside cannot forge a line)."""
    text = f"{prefix}{safe(exc.message)}"
    return f"{text}\n  hint: {safe(exc.hint)}" if exc.hint else text


def windows_option(text: str) -> tuple[int, ...]:
    """--expiry-windows "30,14,7" -> (30, 14, 7), widest first; ConfigError otherwise."""
    try:
        return parse_windows(text)
    except ValueError as exc:
        raise ConfigError(f"--expiry-windows: {exc}") from None
