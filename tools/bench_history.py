"""`python -m tools.bench_history`: what a year of nightly runs costs the history database,
and how long recording hosts blocks the event loop.

storage   N synthetic hosts (each ~150 certificates: the system CA bundle, three
          certbot-managed services with fullchain/cert/chain files, a snakeoil
          certificate; 4 listeners with their probes; key files; TLS configuration)
          recorded for M nights with realistic churn (each service renewed every 60
          days, staggered; probe timings and host timings differ every night; findings
          from the real analysis). Measured twice on the same data: with evidence shared
          between runs, and with every run copying its evidence (the baseline, as schema
          3 stored it). Figures: bytes per host per run in steady state (the growth
          after the first night, divided by hosts x nights), per table, and projected to
          365 nightly runs of 1,000 hosts.
loop      how long `on_result` blocks the asyncio event loop per host: committing inline
          (the baseline) vs handing the host to the history writer thread; and how long
          the writer takes to drain after the last host.

Usage: python -m tools.bench_history [--hosts N] [--nights M] [--only storage,loop]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import certifi

from audit.certparse import parse_bytes
from audit.history import History
from audit.model import (
    CertInfo,
    CertLocation,
    CollectionIssue,
    ConfigListen,
    Finding,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    IssueReason,
    KeyFile,
    Listener,
    LocationKind,
    ProbeRoute,
    ProbeStatus,
    TlsConfig,
    TlsProbe,
)
from tests import pki

UTC = dt.UTC
START = dt.datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
SERVICES = ("www", "api", "mail")
RENEW_EVERY_DAYS = 60
YEAR_RUNS, YEAR_HOSTS = 365, 1000


def _info(data: bytes) -> CertInfo:
    cert = parse_bytes(data)[0].cert
    assert cert is not None
    return cert


# ----------------------------------------------------------------------------- the fleet


@dataclass
class Fleet:
    """Synthetic hosts and their certificates; `night(n)` is what run n collects."""

    hosts: int
    roots: list[CertInfo]
    ca: pki.Hierarchy
    inter: CertInfo
    snakeoil: list[CertInfo]
    seed: int = 7
    _leaves: dict[tuple[int, int, int], CertInfo] = field(default_factory=dict)

    @classmethod
    def make(cls, hosts: int) -> Fleet:
        bundle = Path(certifi.where()).read_bytes()
        roots = [i.cert for i in parse_bytes(bundle) if i.cert is not None]
        system = Path("/etc/ssl/certs/ca-certificates.crt")
        if system.is_file():  # certifi's roots plus the distribution's, ~137 in all
            seen = {c.sha256 for c in roots}
            more = [i.cert for i in parse_bytes(system.read_bytes()) if i.cert is not None]
            roots += [c for c in more if c.sha256 not in seen]
        roots = roots[:137]
        ca = pki.hierarchy(START, "Bench")
        snakeoil = [
            _info(pki.issue(f"host{i:04d}", now=START, days_after=3650).pem) for i in range(hosts)
        ]
        return cls(hosts, roots, ca, _info(ca.intermediate.pem), snakeoil)

    def name(self, i: int) -> str:
        return f"host{i:04d}.example.test"

    def leaf(self, i: int, svc: int, night: int) -> CertInfo:
        """The service's certificate on that night: renewed every RENEW_EVERY_DAYS days,
        each host and service at its own phase; on one host in twenty the mail service's
        renewal is broken (its certificate runs into the expiry windows, then expires)."""
        phase = (i * 7 + svc * 23) % RENEW_EVERY_DAYS
        generation = (night + phase) // RENEW_EVERY_DAYS
        if i % 20 == 5 and SERVICES[svc] == "mail":
            generation = 0
        key = (i, svc, generation)
        if key not in self._leaves:
            issued = START + dt.timedelta(days=generation * RENEW_EVERY_DAYS - phase)
            cn = f"{SERVICES[svc]}.{self.name(i)}"
            self._leaves[key] = _info(
                self.ca.leaf(cn, now=issued, days_before=0, days_after=90).pem
            )
        return self._leaves[key]

    def night(self, n: int) -> list[HostResult]:
        rng = random.Random(self.seed * 100_003 + n)
        return [self._host(i, n, rng) for i in range(self.hosts)]

    def _host(self, i: int, n: int, rng: random.Random) -> HostResult:
        name = self.name(i)
        host = Host(
            name,
            f"10.{i // 250}.{i % 250}.10",
            22,
            "audit",
            groups=("web", "prod"),
            source=f"inventories/prod.ini:{i + 3}",
        )
        leaves = [self.leaf(i, s, n) for s in range(len(SERVICES))]
        started = START + dt.timedelta(days=n, seconds=i * 0.7 + rng.random())
        finished = started + dt.timedelta(seconds=2 + rng.random() * 3)
        return HostResult(
            host=host,
            outcome=HostOutcome.OK,
            started_at=started,
            finished_at=finished,
            certificates=self._certificates(name, i, leaves),
            key_files=tuple(
                KeyFile(
                    name, f"/etc/letsencrypt/live/{s}.{name}/privkey.pem", "root", "root", 0o600
                )
                for s in SERVICES
            )
            + (KeyFile(name, "/etc/ssl/private/ssl-cert-snakeoil.key", "root", "root", 0o600),),
            issues=(
                (
                    CollectionIssue(
                        name, "/etc/ssl/private", IssueReason.PERMISSION_DENIED, "stat: denied"
                    ),
                )
                if i % 10 == 0
                else ()
            ),
            ca_bundles=("/etc/ssl/certs/ca-certificates.crt",),
            listeners=self._listeners(name, i, leaves, rng),
            tls_configs=self._configs(name, leaves),
            bytes_received=180_000 + i,
            facts=(
                ("os", "Debian GNU/Linux 12 (bookworm)"),
                ("shell", "dash"),
                ("privilege", "sudo -n"),
                ("ssh_connect_ms", f"{40 + rng.random() * 30:.0f}"),
                ("collect_ms", f"{300 + rng.random() * 200:.0f}"),
                ("probe_ms", f"{80 + rng.random() * 40:.0f}"),
            ),
        )

    def _certificates(self, name: str, i: int, leaves: list[CertInfo]) -> tuple[FoundCert, ...]:
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        found = [
            FoundCert(root, CertLocation(name, bundle, LocationKind.CA_BUNDLE, k))
            for k, root in enumerate(self.roots)
        ]
        for svc, leaf in zip(SERVICES, leaves, strict=True):
            live = f"/etc/letsencrypt/live/{svc}.{name}"
            found += [
                FoundCert(leaf, CertLocation(name, f"{live}/fullchain.pem", index=0)),
                FoundCert(self.inter, CertLocation(name, f"{live}/fullchain.pem", index=1)),
                FoundCert(leaf, CertLocation(name, f"{live}/cert.pem")),
                FoundCert(self.inter, CertLocation(name, f"{live}/chain.pem")),
            ]
        found.append(
            FoundCert(self.snakeoil[i], CertLocation(name, "/etc/ssl/certs/ssl-cert-snakeoil.pem"))
        )
        return tuple(found)

    def _listeners(
        self, name: str, i: int, leaves: list[CertInfo], rng: random.Random
    ) -> tuple[Listener, ...]:
        def probe(
            port: int, sni: str | None, chain: tuple[CertInfo, ...], **kw: object
        ) -> TlsProbe:
            return TlsProbe(
                host=name,
                address=f"10.{i // 250}.{i % 250}.10",
                port=port,
                servername=sni,
                status=kw.pop("status", ProbeStatus.TLS),  # type: ignore[arg-type]
                via=ProbeRoute.SSH,
                protocol=None if not chain else "TLSv1.3",
                cipher=None if not chain else "TLS_AES_256_GCM_SHA384",
                chain=chain,
                elapsed_ms=5 + rng.random() * 20,
                **kw,  # type: ignore[arg-type]
            )

        www, api, mail = leaves
        site = "/etc/nginx/sites-enabled/default"
        return (
            Listener(
                name,
                "0.0.0.0",
                443,
                "nginx",
                True,
                probes=(
                    probe(443, f"www.{name}", (www, self.inter)),
                    probe(443, f"api.{name}", (api, self.inter)),
                ),
                config_file=site,
                config_line=12,
                cert_file=f"/etc/letsencrypt/live/www.{name}/fullchain.pem",
                server="nginx",
                server_names=(f"www.{name}", f"api.{name}"),
            ),
            Listener(
                name,
                "0.0.0.0",
                25,
                "master",
                True,
                probes=(probe(25, f"mail.{name}", (mail, self.inter)),),
                starttls="smtp",
            ),
            Listener(
                name,
                "127.0.0.1",
                8443,
                "java",
                True,
                probes=(probe(8443, None, (self.snakeoil[i],)),),
            ),
            Listener(
                name,
                "0.0.0.0",
                22,
                "sshd",
                False,
                probes=(
                    probe(
                        22, None, (), status=ProbeStatus.PLAINTEXT, error="SSH-2.0-OpenSSH_9.2p1"
                    ),
                ),
            ),
        )

    def _configs(self, name: str, leaves: list[CertInfo]) -> tuple[TlsConfig, ...]:
        site = "/etc/nginx/sites-enabled/default"
        return tuple(
            TlsConfig(
                host=name,
                server="nginx",
                file=site,
                line=3 + 20 * k,
                listens=(ConfigListen("", 443, True, site, 4 + 20 * k),),
                server_names=(f"{svc}.{name}",),
                cert_file=f"/etc/letsencrypt/live/{svc}.{name}/fullchain.pem",
                cert_config_file=site,
                cert_config_line=10 + 20 * k,
                key_file=f"/etc/letsencrypt/live/{svc}.{name}/privkey.pem",
                key_config_file=site,
                key_config_line=11 + 20 * k,
                key_sha256=leaves[k].public_key_sha256,
                key_check="ok",
            )
            for k, svc in enumerate(SERVICES[:2])
        )


def findings_for(fleet: Fleet, hosts: Sequence[HostResult], now: dt.datetime) -> list[Finding]:
    """The real analysis of one night (what `run` records), the fleet's CA trusted as an
    internal CA is (--cafile)."""
    from audit.analyze import analyze, fleet_evidence
    from audit.rules.base import Settings

    with tempfile.NamedTemporaryFile(suffix=".pem") as cafile:
        cafile.write(fleet.ca.root.pem)
        cafile.flush()
        evidence = fleet_evidence(hosts, now=now, cafile=cafile.name)
    return analyze(evidence, Settings(now=now))


# ----------------------------------------------------------------------------- storage


def db_bytes(path: Path) -> int:
    """The database's size with its WAL checkpointed into it."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return int((pages - free) * size)


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes per table, its indexes included (SQLite's dbstat)."""
    conn = sqlite3.connect(path)
    try:
        names = dict(
            conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
            )
        )
        out: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            table = names.get(name, name)
            if table.startswith("sqlite_autoindex_"):
                table = table.removeprefix("sqlite_autoindex_").rsplit("_", 1)[0]
            out[table] = out.get(table, 0) + int(size)
    finally:
        conn.close()
    return out


@dataclass(frozen=True)
class Growth:
    per_host_run: float
    """Bytes per host per run, steady state."""
    first: int
    """Bytes after the first night."""
    tables: dict[str, float]
    """Per table, bytes per host per run, steady state."""
    record_ms: float
    """Median milliseconds to record one host."""


def measure(
    fleet: Fleet, nights: int, share: bool, folder: Path, findings: dict[int, list[Finding]]
) -> Growth:
    db = folder / ("shared.db" if share else "copied.db")
    times: list[float] = []
    first_size, first_tables = 0, {}
    with History.open(db) as history:
        history._evidence.share = share
        for n in range(nights):
            now = START + dt.timedelta(days=n)
            hosts = fleet.night(n)
            if n not in findings:
                findings[n] = findings_for(fleet, hosts, now)
            run = history.begin_run("inventories/prod.ini", {"hosts": len(hosts)}, started_at=now)
            for position, result in enumerate(hosts):
                t0 = time.perf_counter()
                history.record_host(run, result, position=position)
                times.append(time.perf_counter() - t0)
            history.record_findings(run, findings[n])
            history.finish_run(run, partial=False, finished_at=now + dt.timedelta(minutes=9))
            if n == 0:
                first_size, first_tables = db_bytes(db), table_bytes(db)
    size, tables = db_bytes(db), table_bytes(db)
    units = fleet.hosts * (nights - 1)
    times.sort()
    return Growth(
        per_host_run=(size - first_size) / units,
        first=first_size,
        tables={t: (b - first_tables.get(t, 0)) / units for t, b in tables.items()},
        record_ms=1000 * times[len(times) // 2],
    )


def bench_storage(hosts: int, nights: int) -> None:
    fleet = Fleet.make(hosts)
    print(f"storage: {hosts} hosts x {nights} nights, ~{len(fleet.night(0)[0].certificates)} ")
    print("  certificates and 4 listeners per host, services renewed every 60 days")
    with tempfile.TemporaryDirectory() as d:
        findings: dict[int, list[Finding]] = {}
        shared = measure(fleet, nights, True, Path(d), findings)
        copied = measure(fleet, nights, False, Path(d), findings)
    width = 14
    print(f"  {'bytes per host per run':34} {'shared':>{width}} {'copied':>{width}}")
    names = sorted(set(shared.tables) | set(copied.tables), key=lambda t: -copied.tables.get(t, 0))
    for name in names:
        a, b = shared.tables.get(name, 0.0), copied.tables.get(name, 0.0)
        if abs(a) >= 1 or abs(b) >= 1:
            print(f"    {name:32} {a:{width}.0f} {b:{width}.0f}")
    print(f"  {'total':34} {shared.per_host_run:{width}.0f} {copied.per_host_run:{width}.0f}")
    ratio = shared.per_host_run / copied.per_host_run
    print(f"  ratio shared/copied {ratio:.3f}; record one host: {shared.record_ms:.1f} ms shared,")
    print(f"  {copied.record_ms:.1f} ms copied (median, synchronous=FULL)")
    for label, g in (("shared", shared), ("copied", copied)):
        year = g.first / hosts * YEAR_HOSTS + g.per_host_run * YEAR_HOSTS * (YEAR_RUNS - 1)
        print(
            f"  projected after {YEAR_RUNS} runs of {YEAR_HOSTS:,} hosts ({label}): "
            f"{year / 1e9:.2f} GB"
        )


# ----------------------------------------------------------------------------- loop


def _blocking(
    fleet: Fleet, hosts: list[HostResult], folder: Path, queued: bool
) -> tuple[float, float, float]:
    """(total seconds on_result blocked the loop, worst single block, seconds from the last
    host to everything committed)."""
    from audit.history.writer import HostWriter

    db = folder / ("queued.db" if queued else "inline.db")
    blocked: list[float] = []
    with History.open(db) as history:
        run = history.begin_run("inv", {})
        writer = HostWriter(history, run) if queued else None

        def on_result(position: int, result: HostResult) -> None:
            t0 = time.perf_counter()
            if writer is not None:
                writer.put(result, position)
            else:
                history.record_host(run, result, position=position)
            blocked.append(time.perf_counter() - t0)

        async def fleet_run() -> None:
            async def one(position: int, result: HostResult) -> None:
                await asyncio.sleep(0.001 * position)  # hosts end one after another
                on_result(position, result)

            await asyncio.gather(*(one(p, r) for p, r in enumerate(hosts)))

        asyncio.run(fleet_run())
        t_last = time.perf_counter()
        if writer is not None:
            writer.close()
        drain = time.perf_counter() - t_last
        history.finish_run(run, partial=False)
    return sum(blocked), max(blocked), drain


def bench_loop(hosts: int) -> None:
    fleet = Fleet.make(hosts)
    results = fleet.night(0)
    with tempfile.TemporaryDirectory() as d:
        inline = _blocking(fleet, results, Path(d), queued=False)
        queued = _blocking(fleet, results, Path(d), queued=True)
    print(f"loop: {hosts} hosts handed to on_result 1 ms apart")
    for label, (total, worst, drain) in (("inline commit", inline), ("writer thread", queued)):
        print(
            f"  {label:14} loop blocked {total:8.3f} s in total ({1000 * total / hosts:7.3f} ms"
            f"/host, worst {1000 * worst:6.1f} ms); drained {drain:6.3f} s after the last host"
        )
    scale = YEAR_HOSTS / hosts
    print(
        f"  at {YEAR_HOSTS:,} hosts: {inline[0] * scale:.1f} s inline vs "
        f"{queued[0] * scale:.3f} s queued (ratio {queued[0] / inline[0]:.4f})"
    )


BENCHES: dict[str, Callable[[argparse.Namespace], None]] = {
    "storage": lambda a: bench_storage(a.hosts, a.nights),
    "loop": lambda a: bench_loop(a.hosts),
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_history")
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--only", default=",".join(BENCHES))
    args = parser.parse_args(argv)
    for name in args.only.split(","):
        BENCHES[name](args)


if __name__ == "__main__":
    main()
