"""`check HOST[:PORT]...` and `check --from FILE`: many endpoints at once, one summary.

Every endpoint is read and checked before anything is sent (a bad line of FILE is an error
naming FILE:LINE), then probed concurrently under a bound, judged exactly as a single
`check` judges one, and ranked together. With `out` the same four reports as `run` are
written, from an AuditResult whose hosts are the endpoints' envelopes; with `db` the
check is recorded in the history database like a run. Nothing is logged into over SSH.

A FILE line is `host[:port] [servername] [starttls]`: `-` for servername keeps the default
(the host unless it is an IP address); starttls is one of STARTTLS_CHOICES. `#` starts a
comment; blank lines are skipped.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from audit.analyze import rank
from audit.errors import AuditError, ConfigError
from audit.model import AuditResult, Finding, Host, HostOutcome, HostResult
from audit.service.check import (
    NOT_CONNECTED,
    STARTTLS_CHOICES,
    CheckOutcome,
    CheckSettings,
    Probed,
    check_options,
    judge,
    parse_target,
    probe_endpoint,
    trust_stores,
)
from audit.service.policy import DEFAULT_EXPIRY_WINDOWS, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from audit.trust import TrustStores

MAX_CONCURRENCY = 1024
MAX_ENDPOINTS = 100_000
"""More lines than this in --from is taken for the wrong file."""


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint to check, as given."""

    settings: CheckSettings
    source: str
    """Where it was given: "FILE:LINE" or "argument N"."""


@dataclass(frozen=True)
class ManySettings:
    """Several endpoints to diagnose, and what to do with the result."""

    targets: tuple[str, ...] = ()
    """HOST[:PORT] arguments."""
    from_file: Path | None = None
    servername: str | None = None
    """Default SNI name for every endpoint that does not name one."""
    starttls: str = "auto"
    """Default STARTTLS choice for every endpoint that does not name one."""
    cafile: Path | None = None
    timeout: float = 5.0
    """Deadline of each endpoint's probe, in seconds."""
    expiry_windows: tuple[int, ...] = DEFAULT_EXPIRY_WINDOWS
    concurrency: int = 64
    out: Path | None = None
    """Write findings.json, report.html, report.xlsx and metrics.prom here."""
    db: Path | None = None
    """Record the check in this history database."""


@dataclass(frozen=True)
class ManyOutcome:
    """Every endpoint judged, and the findings of all ranked together."""

    endpoints: tuple[CheckOutcome, ...]
    """In the order given."""
    findings: tuple[Finding, ...]
    """All endpoints' findings, highest risk first."""
    result: AuditResult
    """The check as a run: one host envelope per endpoint (what the reports render)."""
    status: int
    """1 when an endpoint has a finding at high or above or could not be used; 2 when a
    report could not be rendered; else 0."""
    written: tuple[Path, ...] = ()
    report_failures: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------- endpoints


def endpoint_specs(settings: ManySettings) -> list[EndpointSpec]:
    """Every endpoint from the arguments and FILE, checked; ConfigError (naming the
    argument or FILE:LINE) for the first one that is wrong. Exact repeats are dropped."""
    base = CheckSettings(
        target=parse_target("localhost"),
        cafile=settings.cafile,
        timeout=settings.timeout,
        expiry_windows=settings.expiry_windows,
        starttls=settings.starttls,
    )
    specs: list[EndpointSpec] = []
    for i, text in enumerate(settings.targets, 1):
        specs.append(_spec(base, settings.servername, text, None, None, f"argument {i}"))
    if settings.from_file is not None:
        specs.extend(_file_specs(base, settings.servername, settings.from_file))
    if not specs:
        where = f" in {settings.from_file}" if settings.from_file is not None else ""
        raise ConfigError(f"no endpoint to check{where}", hint="give HOST[:PORT] or --from FILE")
    seen: set[tuple[object, ...]] = set()
    unique = []
    for spec in specs:
        s = spec.settings
        key = (s.target, s.sni, s.starttls)
        if key not in seen:
            seen.add(key)
            unique.append(spec)
    return unique


def _spec(
    base: CheckSettings,
    default_name: str | None,
    text: str,
    name: str | None,
    starttls: str | None,
    source: str,
) -> EndpointSpec:
    try:
        settings = replace(
            base,
            target=parse_target(text),
            servername=name if name is not None else default_name,
            starttls=starttls if starttls is not None else base.starttls,
        )
        check_options(settings)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}", hint=exc.hint) from None
    return EndpointSpec(settings, source)


def _file_specs(base: CheckSettings, default_name: str | None, path: Path) -> list[EndpointSpec]:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise ConfigError(f"--from {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"--from {path}: is a directory") from None
    except OSError as exc:
        raise ConfigError(f"--from {path}: cannot read it ({exc.strerror or exc})") from None
    specs = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = _strip_comment(raw).split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) > 3:
            raise ConfigError(
                f"{where}: expected 'host[:port] [servername] [starttls]', got {len(fields)} fields"
            )
        name = fields[1] if len(fields) > 1 and fields[1] != "-" else None
        starttls = fields[2].lower() if len(fields) > 2 else None
        if starttls is not None and starttls not in STARTTLS_CHOICES:
            raise ConfigError(
                f"{where}: STARTTLS {fields[2]!r}: expected one of {', '.join(STARTTLS_CHOICES)}"
            )
        specs.append(_spec(base, default_name, fields[0], name, starttls, where))
        if len(specs) > MAX_ENDPOINTS:
            raise ConfigError(f"--from {path}: more than {MAX_ENDPOINTS} endpoints")
    return specs


def _strip_comment(line: str) -> str:
    """The line without a comment: '#' at its start or after a blank."""
    if line.lstrip().startswith("#"):
        return ""
    for i, ch in enumerate(line):
        if ch == "#" and line[i - 1].isspace():
            return line[:i]
    return line


def _names(specs: Sequence[EndpointSpec]) -> list[str]:
    """What each endpoint is called in findings and reports: host:port, with the SNI name
    (and STARTTLS choice) added when several endpoints share the address."""
    labels = Counter(s.settings.target.label for s in specs)
    both = Counter((s.settings.target.label, s.settings.sni) for s in specs)
    names = []
    for s in specs:
        label, sni = s.settings.target.label, s.settings.sni
        name = label if labels[label] == 1 else f"{label} {sni or '(no SNI)'}"
        if both[(label, sni)] > 1:
            name += f" {s.settings.starttls}"
        names.append(name)
    return names


# --------------------------------------------------------------------------- checking


def check_many(settings: ManySettings) -> ManyOutcome:
    """Check every endpoint, rank all findings, and write or record what was asked.

    Raises ConfigError (or HistoryError for --db) before anything is sent."""
    if not 0 < settings.concurrency <= MAX_CONCURRENCY:
        raise ConfigError(f"--concurrency {settings.concurrency}: expected 1 to {MAX_CONCURRENCY}")
    specs = endpoint_specs(settings)
    stores = trust_stores(settings.cafile)
    if settings.out is not None:
        _writable_folder(settings.out)
    started = datetime.now(UTC)
    if settings.db is None:
        outcomes = _check_all(specs, stores, settings.concurrency)
        return _written(
            settings, _outcome(settings, specs, outcomes, started, _local_run_id(started))
        )
    from audit.history import History

    with History.open(settings.db) as history:
        run_id = history.begin_run(
            _inventory(settings), _stored(settings, specs), started_at=started
        )
        recorded = False
        try:
            outcomes = _check_all(specs, stores, settings.concurrency)
            done = _outcome(settings, specs, outcomes, started, run_id)
            for position, envelope in enumerate(done.result.hosts):
                history.record_host(run_id, envelope, position=position)
            history.record_findings(run_id, done.findings)
            recorded = True
        finally:  # interrupted: the run is kept, and reads as partial
            history.finish_run(run_id, partial=not recorded, finished_at=datetime.now(UTC))
    return _written(settings, done)


def _check_all(
    specs: Sequence[EndpointSpec], stores: TrustStores, concurrency: int
) -> list[CheckOutcome]:
    """Probe every endpoint (at most `concurrency` at once), then judge each at one
    instant: the network phase is not slowed by analysis, and every endpoint's days left
    are counted from the same moment."""
    probed = asyncio.run(_probe_all(specs, concurrency))
    now = datetime.now(UTC)
    return [judge(s.settings, p, stores, now) for s, p in zip(specs, probed, strict=True)]


async def _probe_all(specs: Sequence[EndpointSpec], concurrency: int) -> list[Probed]:
    gate = asyncio.Semaphore(concurrency)

    async def one(spec: EndpointSpec, name: str) -> Probed:
        async with gate:
            return await probe_endpoint(spec.settings, host=name)

    names = _names(specs)
    return list(await asyncio.gather(*(one(s, n) for s, n in zip(specs, names, strict=True))))


def _outcome(
    settings: ManySettings,
    specs: Sequence[EndpointSpec],
    outcomes: Sequence[CheckOutcome],
    started: datetime,
    run_id: str,
) -> ManyOutcome:
    finished = datetime.now(UTC)
    findings = tuple(rank(f for o in outcomes for f in o.findings))
    envelopes = tuple(_envelope(s, o, started) for s, o in zip(specs, outcomes, strict=True))
    result = AuditResult(run_id, started, finished, _inventory(settings), envelopes, findings)
    status = EXIT_FINDINGS if any(o.status != EXIT_OK for o in outcomes) else EXIT_OK
    return ManyOutcome(tuple(outcomes), findings, result, status)


def _written(settings: ManySettings, done: ManyOutcome) -> ManyOutcome:
    """`done` with the reports written into --out, when it is given."""
    if settings.out is None:
        return done
    from audit.report import write_reports

    try:
        written = write_reports(done.result, settings.out)
    except OSError as exc:
        raise AuditError(
            f"--out {settings.out}: cannot write the reports ({exc.strerror or exc})"
        ) from None
    return replace(
        done,
        written=written.paths,
        report_failures=written.failed,
        status=EXIT_ERROR if written.failed else done.status,
    )


def _envelope(spec: EndpointSpec, outcome: CheckOutcome, started: datetime) -> HostResult:
    """The endpoint as a host of a run: reached or not, with its one listener."""
    probe, tgt = outcome.probe, outcome.target
    reached = probe.status not in NOT_CONNECTED
    return HostResult(
        host=Host(name=probe.host, address=tgt.host, port=tgt.port, source=spec.source),
        outcome=HostOutcome.OK if reached else HostOutcome.UNREACHABLE,
        detail="" if reached else f"{probe.status.value}: {probe.error}",
        started_at=started,
        finished_at=outcome.now,
        listeners=(outcome.listener,),
    )


def _inventory(settings: ManySettings) -> str:
    """What the run is named after in reports and history."""
    if settings.from_file is not None:
        return f"check --from {settings.from_file}"
    return "check " + " ".join(settings.targets[:3]) + (" ..." if len(settings.targets) > 3 else "")


def _stored(settings: ManySettings, specs: Sequence[EndpointSpec]) -> dict[str, object]:
    from audit.service.stored import StoredSettings  # history code only when --db is given

    cafile = str(settings.cafile.resolve()) if settings.cafile is not None else None
    stored = StoredSettings(expiry_windows=settings.expiry_windows, hosts=len(specs), cafile=cafile)
    return {**stored.to_dict(), "command": "check"}


def _local_run_id(started: datetime) -> str:
    return f"{started:%Y%m%dT%H%M%SZ}-check"


def _writable_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"--out {out}: the folder is not writable")
