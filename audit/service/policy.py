"""Exit statuses and the fail-on rule, defined once for every command."""

from __future__ import annotations

from collections.abc import Iterable

from audit.model import Finding, Severity

EXIT_OK = 0
"""Nothing at or above the fail-on severity; every host audited."""
EXIT_FINDINGS = 1
"""Findings at or above the fail-on severity (or, for check, an unusable endpoint)."""
EXIT_ERROR = 2
"""A usage or run-fatal error."""
EXIT_COVERAGE = 3
"""Fewer hosts audited than the coverage floor."""
EXIT_INTERRUPTED = 130
"""Interrupted; what was collected is stored as a partial run."""

DEFAULT_EXPIRY_WINDOWS = (30, 14, 7)
"""Warning windows in days, widest first: medium, high, critical."""


def fails(findings: Iterable[Finding], fail_on: Severity = Severity.HIGH) -> bool:
    """True when a finding that is not waived is at least as severe as `fail_on`."""
    return any(f.waiver is None and f.severity.rank >= fail_on.rank for f in findings)


def findings_status(findings: Iterable[Finding], fail_on: Severity = Severity.HIGH) -> int:
    """EXIT_FINDINGS when a finding that is not waived reaches `fail_on`, else EXIT_OK."""
    return EXIT_FINDINGS if fails(findings, fail_on) else EXIT_OK


def parse_windows(text: str) -> tuple[int, ...]:
    """ "30,14,7" -> (30, 14, 7), widest first; ValueError with the reason otherwise."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()}, reverse=True)
    except ValueError:
        raise ValueError(f"expected days like 30,14,7, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"expected positive days like 30,14,7, got {text!r}")
    return tuple(values)
