"""The rule framework: metadata, contexts, hits. Rules are pure: no I/O, no clock.

A rule is one function plus its metadata (`Rule`). The framework (analyze.py) decides
which contexts a rule sees (`scope`), fills the `diagnose` and `fix` templates from the
values a hit carries, and turns hits into model.Finding. Registration is explicit:
rules/__init__.py lists every rule.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from audit.model import (  # ChainVerdict lives in the model: trust.py (a lower layer) builds it
    CertInfo,
    CertLocation,
    CertRenewal,
    ChainVerdict,
    HostResult,
    Listener,
    LocationKind,
    Severity,
    TlsConfig,
    TlsProbe,
)


class Scope(enum.StrEnum):
    """What a rule looks at."""

    CERT = "cert"
    """One certificate at one location (file or served chain position)."""
    HOST = "host"
    """One host's collection envelope (coverage, key files, bundles)."""
    ENDPOINT = "endpoint"
    """One TLS probe of one listener with one SNI name, with its chain verdict."""
    CHAIN = "chain"
    """One chain with its trust verdict: served by a listener, or a deployed bundle file."""


@dataclass(frozen=True)
class Settings:
    """What the rules may depend on besides the evidence. `now` is passed in, never read."""

    now: datetime
    expiry_windows: tuple[int, ...] = (30, 14, 7)
    """Warning windows in days, widest first: medium, high, critical."""
    max_leaf_validity_days: int = 398


@dataclass(frozen=True)
class CertContext:
    """A certificate at one location, with what the fleet knows about it."""

    cert: CertInfo
    location: CertLocation
    served: bool = False
    """The same certificate is served by some listener in this run."""
    blast_radius: int = 1
    """How many locations (files and listeners) across the fleet hold it."""
    publicly_trusted: bool = False
    """It chains to Mozilla's roots (decided by trust.py)."""
    off_path: bool = False
    """Sent in a served chain but not on the path a verifier builds from it (an extra or
    stale cross-signed certificate): modern clients ignore it, old ones may not."""
    renewal: CertRenewal | None = None
    """What renews it on its host (None: unknown, e.g. only served, or an older run)."""


@dataclass(frozen=True)
class EndpointContext:
    """One probe of one listener with one SNI name."""

    probe: TlsProbe
    listener: Listener | None = None
    verdict: ChainVerdict | None = None
    expects_tls: bool = True
    """Only then is a plaintext answer a finding."""
    expected_name: str | None = None
    """The name clients use (SNI or the inventory name), checked against SANs."""


@dataclass(frozen=True)
class ChainContext:
    """A chain and its verdict: what a listener served, or what a bundle file holds.

    analyze.py derives one from every EndpointContext that has a verdict, and one from
    every certificate file a web server's configuration names (analyze.configured_chains);
    `inspect` builds one per file (analyze.chain_context).
    """

    chain: tuple[CertInfo, ...]
    """As sent or as stored, in that order."""
    verdict: ChainVerdict
    kind: LocationKind = LocationKind.FILE
    """LISTENER (served) or FILE (a deployed bundle)."""
    where: str = ""
    """The file path, or "address:port" for a listener."""
    host: str = ""
    """Inventory host ("" for local files)."""
    expected_name: str | None = None
    """The name clients use, checked against the leaf's SANs (None: not checked)."""
    probe: TlsProbe | None = None
    """The probe that received the chain (listener chains only)."""
    listener: Listener | None = None
    """What the host said about the listener (config file, certificate file), if known."""
    config: TlsConfig | None = None
    """For a file: the server block whose configuration names it (file and line of the
    certificate directive), when one does."""


@dataclass(frozen=True)
class HostContext:
    """One host's envelope."""

    result: HostResult


Context = CertContext | HostContext | EndpointContext | ChainContext


@dataclass(frozen=True)
class Hit:
    """A rule's answer for one context: what happened, in this case."""

    subject: str
    detail: str
    values: Mapping[str, str] = field(default_factory=dict)
    """Fills the {placeholders} of the rule's diagnose and fix templates."""
    severity: Severity | None = None
    """Overrides the rule's default severity (e.g. by days left)."""
    cert_sha256: str | None = None
    days_left: float | None = None
    fix: str | None = None
    """Replaces the rule's fix entirely when the case knows better (a config line)."""
    diagnose: str | None = None
    """Replaces the rule's diagnose template (filled from `values`) when the case needs
    another command, e.g. a bundle file instead of a listener."""


C = TypeVar("C", CertContext, HostContext, EndpointContext, ChainContext)
"""The context type of one rule: the check function declares it, the scope matches it."""

CONTEXT_OF: dict[Scope, type] = {
    Scope.CERT: CertContext,
    Scope.HOST: HostContext,
    Scope.ENDPOINT: EndpointContext,
    Scope.CHAIN: ChainContext,
}
"""The context type each scope hands its rules (tests check every rule agrees)."""


@dataclass(frozen=True)
class Rule(Generic[C]):
    """Metadata plus the check. One Rule per finding ID."""

    id: str
    family: str
    title: str
    severity: Severity
    scope: Scope
    diagnose: str
    """A command template, e.g. "openssl x509 -noout -dates -in {path}"."""
    fix: str
    check: Callable[[C, Settings], Iterable[Hit]]


AnyRule = Rule[Any]
"""A rule of any scope, as the registry holds them."""


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill a template; an unknown placeholder stays visible rather than raising."""
    return template.format_map(_Blank(values))


def rule(
    id: str,
    *,
    family: str,
    title: str,
    severity: Severity,
    scope: Scope,
    diagnose: str,
    fix: str,
) -> Callable[[Callable[[C, Settings], Iterable[Hit]]], Rule[C]]:
    """Decorator: turn a check function into a Rule (registration stays explicit). The
    function's `ctx` annotation names the context type of `scope`."""

    def wrap(fn: Callable[[C, Settings], Iterable[Hit]]) -> Rule[C]:
        return Rule(id, family, title, severity, scope, diagnose, fix, fn)

    return wrap


def days_between(later: datetime, earlier: datetime) -> float:
    """Days from `earlier` to `later` (negative when later is in the past)."""
    return (later - earlier).total_seconds() / 86400.0


def shell_quote(text: str) -> str:
    """Quote for pasting into a POSIX shell. Every value that comes from a host, a
    certificate, a peer or the inventory goes through this (or a builder below that calls
    it) exactly once before it reaches a diagnose or fix text, prose included."""
    import shlex

    return shlex.quote(text)


def shell_words(texts: Iterable[str], sep: str = ", ") -> str:
    """Several values, each quoted on its own, joined by `sep` (prose: "a, b")."""
    return sep.join(shell_quote(t) for t in texts)


def file_line(path: str, line: int | None) -> str:
    """Where a configuration says something, for a fix text: "'PATH' line N" (quoted path)."""
    return shell_quote(path) + (f" line {line}" if line is not None else "")


def connect_address(address: str) -> str:
    """An address as `openssl s_client -connect` wants it before ":port" (IPv6 in brackets),
    quoted."""
    bare = address.strip("[]")
    return shell_quote(f"[{bare}]" if ":" in bare else bare)


def cert_values(ctx: CertContext) -> dict[str, str]:
    """Template values for a certificate at its location, all shell-quoted: `path`,
    `target` (what a fix should name), `host`, `subject`, and for a served certificate
    `address`, `port`, `servername`."""
    loc = ctx.location
    values = {
        "path": shell_quote(loc.path),
        "host": shell_quote(loc.host),
        "subject": shell_quote(ctx.cert.subject),
        "target": shell_quote(loc.path),
    }
    if loc.kind is LocationKind.LISTENER:
        address, _, port = loc.path.rpartition(":")
        values.update(
            target=f"the certificate file of the service listening on {shell_quote(loc.path)}",
            address=connect_address(address or loc.host),
            port=shell_quote(port),
            servername=shell_quote(loc.servername or address or loc.host),
        )
    return values
