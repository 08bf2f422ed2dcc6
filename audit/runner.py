"""The fleet audit: every host concurrently (bounded), each to a stated outcome.

Core never prints: progress goes to an Observer the CLI injects. Results are handed to
`on_result` as each host finishes, so the caller can commit them to history at once.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from audit.collect.hostkeys import KnownHosts
from audit.collect.listeners import Prober
from audit.collect.ssh import SshOptions, audit_host, with_safe_config
from audit.model import Host, HostOutcome, HostResult
from audit.probe import ProbeSettings, probe_listeners


class Observer:
    """Hooks for progress and debugging. The default does nothing."""

    def fleet_started(self, total: int) -> None:
        """The fleet audit begins with `total` hosts to audit."""

    def host_started(self, host: Host) -> None:
        """A host's connection attempt begins."""

    def host_finished(self, result: HostResult) -> None:
        """A host reached its outcome (already handed to on_result)."""

    def received(self, host: str, stream: str, data: bytes) -> None:
        """Every byte received over SSH, as it arrives."""

    def warning(self, message: str) -> None:
        """Something the operator should know before trusting the result (an inventory
        entry ignored, a corrupt known_hosts line). Text may come from input files."""

    def notice(self, message: str) -> None:
        """A step of the run worth telling (a resumed run, host keys recorded)."""


@dataclass(frozen=True)
class FleetOptions:
    """Run-wide knobs."""

    ssh: SshOptions = SshOptions()
    concurrency: int = 64
    """Hosts in flight at once. Sized for hundreds of hosts on a small runner."""
    probe: ProbeSettings = ProbeSettings()
    """Listener probing: per-handshake deadline, per-host and fleet-wide caps."""


async def audit_fleet(
    hosts: Sequence[Host],
    known: KnownHosts,
    options: FleetOptions = FleetOptions(),
    observer: Observer | None = None,
    on_result: Callable[[HostResult], None] | None = None,
) -> list[HostResult]:
    """Audit every host; results come back in inventory order, one per host."""
    obs = observer or Observer()
    with with_safe_config(options.ssh) as ssh:
        assert ssh.safe_config is not None
        for warning in ssh.safe_config.warnings:  # ssh_config lines refused, by file:line
            obs.warning(warning)
        return await _audit_fleet(hosts, known, replace(options, ssh=ssh), obs, on_result)


async def _audit_fleet(
    hosts: Sequence[Host],
    known: KnownHosts,
    options: FleetOptions,
    obs: Observer,
    on_result: Callable[[HostResult], None] | None,
) -> list[HostResult]:
    obs.fleet_started(len(hosts))
    gate = asyncio.Semaphore(max(1, options.concurrency))
    prober: Prober | None = None
    if options.probe.enabled:
        handshakes = asyncio.Semaphore(max(1, options.probe.concurrency))
        prober = functools.partial(probe_listeners, settings=options.probe, gate=handshakes)

    async def one(host: Host) -> HostResult:
        async with gate:
            obs.host_started(host)
            try:
                result = await audit_host(
                    host, options.ssh, known, hook=obs.received, prober=prober
                )
            except Exception as exc:  # a bug must not stop the fleet: the host says so
                now = datetime.now(UTC)
                result = HostResult(
                    host,
                    HostOutcome.FAILED,
                    f"internal error: {type(exc).__name__}: {exc}",
                    now,
                    now,
                )
            if on_result:
                on_result(result)
            obs.host_finished(result)
            return result

    return list(await asyncio.gather(*(one(h) for h in hosts)))
