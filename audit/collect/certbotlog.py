"""certbot's log -> the last outcome of each lineage.

Only lines of known patterns cross the wire (remote.sh CBLOG), newest file first (n = 0 is
letsencrypt.log, n = 1 letsencrypt.log.1, ...); they are read here oldest first, so a later
run overrides an earlier one: a success (or "not yet due") after a failure clears it.

    2024-05-16 12:00:03,141:DEBUG:certbot._internal.display.obj:Notifying user: Processing
        /etc/letsencrypt/renewal/NAME.conf                             (one line in the log)
    2024-05-16 12:00:05,001:ERROR:certbot._internal.renewal:Failed to renew certificate
        NAME with error: Some challenges have failed.
      Domain: example.com            (what the CA reported, on lines of their own)
      Detail: 203.0.113.10: Fetching http://...: Connection refused
    ...:Notifying user:   /etc/letsencrypt/live/NAME/fullchain.pem (success)

Contract: `outcomes` is pure and never raises; a line it does not understand is skipped.
Timestamps are the host's local time (certbot writes no zone); they are kept as UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from audit.text import inert

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),\d{1,6}:[A-Z]+:")
_PROCESSING = re.compile(r"Notifying user: Processing (/\S+?)\s*$")
_FAILED = re.compile(r"Failed to renew certificate (\S+) with error: (.*)$")
_RESULT = re.compile(r"\s(/\S+) \((success|failure|skipped)\)\s*$")
_SKIPPED = re.compile(r"\s(/\S+) expires on \d{4}-\d{2}-\d{2} \(skipped\)\s*$")
_CA_SAYS = re.compile(r"^\s+(Domain|Type|Detail):\s*(.*)$")
_NOT_DUE = "Certificate not yet due for renewal"
_MAX_ERROR = 600


@dataclass
class Outcome:
    """What the log says about one lineage."""

    attempt: datetime | None = None
    outcome: str = ""
    """"success", "failed", "not_due" or "" (processed, no result seen)."""
    error: str = ""


@dataclass
class _Run:
    current: str = ""
    """The lineage being processed."""
    said: dict[str, list[str]] = field(default_factory=dict)
    """What the CA reported while each lineage was processed."""
    when: datetime | None = None


def _stamp(line: str) -> datetime | None:
    m = _STAMP.match(line)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _lineage_of(path: str, by_fullchain: dict[str, str]) -> str:
    """The lineage a live/ path belongs to ("" when unknown)."""
    if path in by_fullchain:
        return by_fullchain[path]
    m = re.search(r"/live/([^/]+)/[^/]+$", path)
    return m.group(1) if m else ""


def outcomes(lines: list[tuple[int, str]], by_fullchain: dict[str, str]) -> dict[str, Outcome]:
    """Per lineage name, its last outcome. `lines` are (rotation number, line) in the order
    they arrived; `by_fullchain` maps each lineage's fullchain path to its name."""
    out: dict[str, Outcome] = {}
    ordered = sorted(enumerate(lines), key=lambda item: (-item[1][0], item[0]))
    run = _Run()
    for _, (_n, line) in ordered:
        try:
            _line(line, run, out, by_fullchain)
        except Exception:  # the contract: an odd line is skipped
            continue
    return out


def _line(line: str, run: _Run, out: dict[str, Outcome], by_fullchain: dict[str, str]) -> None:
    when = _stamp(line)
    if when is not None:
        run.when = when
    m = _PROCESSING.search(line)
    if m:
        name = m.group(1).rsplit("/", 1)[-1].removesuffix(".conf")
        run.current = name
        run.said[name] = []
        entry = out.setdefault(name, Outcome())
        entry.attempt = run.when
        return
    m = _CA_SAYS.match(line)
    if m and run.current:
        run.said.setdefault(run.current, []).append(f"{m.group(1)}: {m.group(2).strip()}")
        return
    if _NOT_DUE in line and run.current:
        _set(out, run.current, "not_due", "", run.when)
        return
    m = _FAILED.search(line)
    if m:
        name = m.group(1)
        said = run.said.get(name, [])
        error = m.group(2).strip()
        if said:
            error += " (the CA reported: " + "; ".join(said) + ")"
        _set(out, name, "failed", error, run.when)
        return
    m = _RESULT.search(line) or _SKIPPED.search(line)
    if m:
        name = _lineage_of(m.group(1), by_fullchain)
        result = m.group(2) if m.re is _RESULT else "skipped"
        if not name:
            return
        if result == "success":
            _set(out, name, "success", "", run.when)
        elif result == "skipped":
            _set(out, name, "not_due", "", run.when)
        elif out.get(name, Outcome()).outcome != "failed":
            _set(out, name, "failed", "certbot reported the renewal as failed", run.when)


def _set(
    out: dict[str, Outcome], name: str, outcome: str, error: str, when: datetime | None
) -> None:
    entry = out.setdefault(name, Outcome())
    entry.outcome = outcome
    entry.error = inert(error)[:_MAX_ERROR]
    if entry.attempt is None:
        entry.attempt = when
