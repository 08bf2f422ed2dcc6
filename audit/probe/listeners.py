"""Every listener of one host: `probe_listeners` (collect.listeners plans them).

Listeners are probed through the host's SSH connection and, when asked or when the host's
sshd prohibits forwarding, straight from the runner; under a global and a per-host cap on
handshakes in flight, each with its own overall deadline, all within what is left of the
host's deadline. A listener that completes a handshake is also asked, with the offer
capped at TLS 1.1, whether it still accepts a legacy protocol.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from audit.collect.listeners import (
    ChannelOpener,
    ForwardingProhibited,
    ListenerPlan,
    ProbeReport,
)
from audit.model import (
    CollectionIssue,
    Host,
    IssueReason,
    Listener,
    ProbeRoute,
    ProbeStatus,
    TlsProbe,
)
from audit.probe.handshake import _close, _ssl_reason, client_context, probe_tls
from audit.probe.wire import READ_CHUNK

LEGACY_PROTOCOLS = ("TLSv1", "TLSv1.1")
_SPEAKS_TLS = (ProbeStatus.TLS, ProbeStatus.CLIENT_CERT_REQUIRED, ProbeStatus.HANDSHAKE_FAILED)
"""Outcomes after which the other SNI names are worth a handshake each."""
_COMPLETED = (ProbeStatus.TLS, ProbeStatus.CLIENT_CERT_REQUIRED)
"""Outcomes where the server got as far as choosing a protocol and sending its chain."""
_WHERE = "(listener probing)"
"""The `path` of the collection issues this module raises."""


@dataclass(frozen=True)
class ProbeSettings:
    """How listeners are probed. Built by the CLI (or defaults), passed down."""

    enabled: bool = True
    deadline: float = 5.0
    """Overall seconds for one handshake (connect, STARTTLS, handshake): a tarpit that
    trickles bytes cannot hold a slot longer."""
    per_host: int = 8
    """Handshakes in flight on one host."""
    concurrency: int = 64
    """Handshakes in flight across the fleet (the runner shares one gate)."""
    legacy: bool = True
    """Also ask every TLS listener whether it still accepts TLS 1.0/1.1."""


@functools.lru_cache(maxsize=1)
def legacy_offer_problem() -> str | None:
    """Why this runner cannot offer TLS 1.0/1.1 (None when it can).

    The legacy probe caps the offer at TLS 1.1 with @SECLEVEL=0; some OpenSSL builds have
    the old protocols compiled out, and then a "refused" would be a lie about the server.
    """
    try:
        ctx = client_context((), ssl.TLSVersion.TLSv1_1)
    except (ssl.SSLError, ValueError) as exc:
        return f"this runner's {ssl.OPENSSL_VERSION} cannot build a TLS 1.1 client: {exc}"
    if ctx.maximum_version != ssl.TLSVersion.TLSv1_1:
        return f"this runner's {ssl.OPENSSL_VERSION} cannot cap a client at TLS 1.1"
    obj = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        return None  # a ClientHello went out
    except ssl.SSLError as exc:
        return f"this runner's {ssl.OPENSSL_VERSION} cannot offer TLS 1.0/1.1: {_ssl_reason(exc)}"
    return None


async def _forwarding(opener: ChannelOpener, plan: ListenerPlan, deadline: float) -> str:
    """ "" when sshd opens direct-tcpip channels, else why it refuses."""
    try:
        _, writer = await asyncio.wait_for(
            opener(plan.ssh_targets[0], plan.listener.port), deadline
        )
    except ForwardingProhibited as exc:
        return str(exc) or "administratively prohibited"
    except Exception:  # refused, timed out: the channel itself was allowed
        return ""
    await _close(writer)
    return ""


@dataclass
class _Counters:
    handshakes: int = 0
    """Handshakes started on this host (the legacy question included)."""


class _HostProber:
    """Probes the listeners of one host: which routes, which SNI names, the legacy
    question. `prohibited` is why the host's sshd refuses forwarding ("" when it allows
    it or there is no SSH connection)."""

    def __init__(
        self,
        host: Host,
        opener: ChannelOpener | None,
        settings: ProbeSettings,
        fleet_gate: asyncio.Semaphore,
        prohibited: str,
    ) -> None:
        self.host = host
        self.opener = opener
        self.settings = settings
        self.fleet_gate = fleet_gate
        self.host_gate = asyncio.Semaphore(max(1, settings.per_host))
        self.prohibited = prohibited
        self.through_ssh = opener is not None and not prohibited
        self.legacy_problem = legacy_offer_problem() if settings.legacy else None
        self.counters = _Counters()

    async def listener(self, plan: ListenerPlan) -> Listener:
        """The planned listener with its probes, legacy protocol and notes."""
        routes, notes = self._routes(plan)
        probes: list[TlsProbe] = []
        legacy_route: tuple[ProbeRoute, str] | None = None
        for route in routes:
            got, target = await self._route_probes(plan, route)
            probes += got
            if legacy_route is None and any(p.status in _COMPLETED for p in got):
                legacy_route = (route, target)
        legacy = await self._legacy_protocol(plan, probes, legacy_route, notes)
        return replace(
            plan.listener, probes=tuple(probes), legacy_protocol=legacy, notes=tuple(notes)
        )

    def _routes(self, plan: ListenerPlan) -> tuple[list[ProbeRoute], list[str]]:
        """(SSH and/or DIRECT, the notes saying why a listener goes unprobed)."""
        routes: list[ProbeRoute] = []
        notes: list[str] = []
        if self.through_ssh:
            routes.append(ProbeRoute.SSH)
        if plan.direct_target and (self.host.probe_direct or not self.through_ssh):
            routes.append(ProbeRoute.DIRECT)
        if self.prohibited:
            notes.append(
                "not probed: loopback-only, and the host's sshd prohibits TCP forwarding"
                if plan.loopback_only
                else "probed directly from the runner: the host's sshd prohibits TCP forwarding"
            )
        elif not routes:
            notes.append("not probed: loopback-only, and there is no SSH connection to go through")
        return routes, notes

    async def _route_probes(
        self, plan: ListenerPlan, route: ProbeRoute
    ) -> tuple[list[TlsProbe], str]:
        """The first name on the first target that does not refuse, then (when it speaks
        TLS) every other name on that target; and the target."""
        targets = plan.ssh_targets if route is ProbeRoute.SSH else (plan.direct_target or "",)
        first = None
        target = targets[0]
        for target in targets:
            first = await self._handshake(plan, route, target, plan.names[0])
            if first.status is not ProbeStatus.REFUSED:
                break
        assert first is not None
        probes = [first]
        if first.status in _SPEAKS_TLS and len(plan.names) > 1:
            probes += await asyncio.gather(
                *(self._handshake(plan, route, target, name) for name in plan.names[1:])
            )
        return probes, target

    async def _legacy_protocol(
        self,
        plan: ListenerPlan,
        probes: Sequence[TlsProbe],
        legacy_route: tuple[ProbeRoute, str] | None,
        notes: list[str],
    ) -> str | None:
        """The legacy protocol the listener accepts, if any: seen in a probe already, or
        asked with the offer capped at TLS 1.1 on a route that completed a handshake (that
        probe is not kept). Appends a note when this runner cannot ask."""
        completed = [p for p in probes if p.status in _COMPLETED]
        if any(p.protocol in LEGACY_PROTOCOLS for p in completed):
            return next(p.protocol for p in completed if p.protocol in LEGACY_PROTOCOLS)
        if legacy_route is None or not self.settings.legacy:
            return None
        if self.legacy_problem:
            notes.append(f"TLS 1.0/1.1 not checked: {self.legacy_problem}")
            return None
        route, target = legacy_route
        old = await self._handshake(
            plan, route, target, plan.names[0], max_version=ssl.TLSVersion.TLSv1_1
        )
        if old.status in _COMPLETED and old.protocol in LEGACY_PROTOCOLS:
            return old.protocol
        return None

    async def _handshake(
        self,
        plan: ListenerPlan,
        route: ProbeRoute,
        target: str,
        name: str | None,
        max_version: ssl.TLSVersion | None = None,
    ) -> TlsProbe:
        """One probe of the listener, under the per-host and the fleet-wide cap."""
        port = plan.listener.port
        opener = self.opener

        async def open_stream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            if route is ProbeRoute.SSH:
                assert opener is not None
                return await opener(target, port)
            return await asyncio.open_connection(target, port, limit=READ_CHUNK * 4)

        async with self.host_gate, self.fleet_gate:
            self.counters.handshakes += 1
            return await probe_tls(
                open_stream,
                host=self.host.name,
                address=plan.direct_target or target,
                port=port,
                servername=name,
                via=route,
                deadline=self.settings.deadline,
                max_version=max_version,
                starttls=plan.listener.starttls,
            )


async def _probe_all(
    prober: _HostProber, plans: Sequence[ListenerPlan], budget: float
) -> tuple[list[Listener], bool]:
    """Every planned listener, probed concurrently for at most `budget` seconds; and
    whether the budget cut some short (those carry a note saying so)."""
    tasks = [asyncio.ensure_future(prober.listener(plan)) for plan in plans]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, budget))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    listeners: list[Listener] = []
    for plan, task in zip(plans, tasks, strict=True):
        if task.done() and not task.cancelled() and task.exception() is None:
            listeners.append(task.result())
            continue
        why = (
            f"not probed: the host's deadline was reached ({budget:.0f}s left for probing)"
            if task.cancelled()
            else f"not probed: internal error {type(task.exception()).__name__}"
        )
        listeners.append(replace(plan.listener, notes=plan.listener.notes + (why,)))
    return listeners, any(task.cancelled() for task in tasks)


async def probe_listeners(
    host: Host,
    plans: Sequence[ListenerPlan],
    opener: ChannelOpener | None,
    budget: float,
    *,
    settings: ProbeSettings = ProbeSettings(),
    gate: asyncio.Semaphore | None = None,
) -> ProbeReport:
    """Probe every planned listener of `host` within `budget` seconds. Never raises.

    Through the SSH connection (`opener`) when there is one; straight from the runner when
    the inventory sets certaudit_probe_direct, or as the fallback when the host's sshd
    prohibits forwarding (said as a collection issue and a note on each listener).
    `gate` caps handshakes across the fleet (one per call when not given).
    """
    started = time.monotonic()
    fleet_gate = gate or asyncio.Semaphore(max(1, settings.concurrency))
    issues: list[CollectionIssue] = []
    prohibited = ""
    if opener is not None and plans:
        prohibited = await _forwarding(opener, plans[0], settings.deadline)
        if prohibited:
            issues.append(
                CollectionIssue(
                    host.name,
                    _WHERE,
                    IssueReason.UNSUPPORTED,
                    f"the host's sshd prohibits TCP forwarding ({prohibited}): listeners were "
                    "probed directly from the runner; loopback-only ones could not be probed",
                )
            )
    prober = _HostProber(host, opener, settings, fleet_gate, prohibited)
    listeners, cut_short = await _probe_all(prober, plans, budget)
    if cut_short:
        issues.append(
            CollectionIssue(
                host.name,
                _WHERE,
                IssueReason.TIMEOUT,
                "the host deadline was reached before every listener was probed",
            )
        )
    forwarding = "prohibited" if prohibited else ("yes" if prober.through_ssh else "unused")
    facts = (
        ("probe_ms", f"{(time.monotonic() - started) * 1000:.0f}"),
        ("listeners", str(len(listeners))),
        ("listeners_probed", str(sum(1 for li in listeners if li.probes))),
        ("handshakes", str(prober.counters.handshakes)),
        ("forwarding", forwarding),
    )
    return ProbeReport(tuple(listeners), tuple(issues), facts)
