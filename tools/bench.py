"""`make bench`: throughput and latency figures, each as a ratio against a baseline
measured in the same run on the same machine (these machines are shared and noisy).

Benchmarks:
  fleet     certaudit auditing N lab hosts vs OpenSSH's own client running `true` on the
            same N hosts with the same concurrency (the floor: handshake + login).
  check     `certaudit check` (a fresh process) vs `openssl s_client` against one local
            TLS server; and the in-process probe vs a bare `ssl` handshake.
  parse     certparse over Mozilla's bundle vs cryptography's own PEM loader.
  history   recording a 150-certificate host vs a bare sqlite3 insert of the same rows.
  listeners the lab's default fleet (real nginx, STARTTLS, forwarding refused on one host):
            listeners probed per second, the cost split between SSH (connect + collection)
            and TLS (probing through the connection), and the per-listener probe cost vs a
            bare `ssl` handshake from the runner to the same TLS listeners.

Usage: python -m tools.bench [--hosts N] [--repeat R] [--only NAME,...]
Needs root for the fleet benchmark (network namespaces); the others run anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import certifi

from tests import pki

UTC = dt.UTC


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def report(name: str, ours: float, base: float, unit: str = "s", note: str = "") -> None:
    ratio = ours / base if base else float("inf")
    print(f"{name:44} {ours:9.4f}{unit}  baseline {base:9.4f}{unit}  ratio {ratio:6.2f}  {note}")


# ------------------------------------------------------------------------------ fleet


def bench_fleet(hosts: int, repeat: int) -> None:
    from audit.collect.hostkeys import KnownHosts
    from audit.collect.ssh import SshOptions
    from audit.inventory import load_inventory
    from audit.runner import FleetOptions, audit_fleet
    from tests.lab.netlab import HostSpec, Lab, unavailable_reason
    from tests.lab.scenarios import sample_files

    reason = unavailable_reason()
    if reason:
        print(f"fleet: skipped ({reason})")
        return
    now = pki.utcnow()
    specs = [HostSpec(f"b{i:03d}", files=sample_files(now)) for i in range(hosts)]
    with Lab(specs, subnet="10.250.9.0/24", bridge="calab9-br0") as lab:
        inventory = load_inventory(lab.inventory)
        options = FleetOptions(ssh=SshOptions(ssh_config=[]), concurrency=64)

        def ours() -> None:
            known = KnownHosts.load(Path(lab.known_hosts))
            results = asyncio.run(audit_fleet(inventory.hosts, known, options))
            assert all(r.outcome.audited for r in results), [r.detail for r in results]

        def openssh() -> None:
            procs = [
                subprocess.Popen(
                    lab.ssh_argv(name, "true"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                for name in lab.hosts
            ]
            assert all(p.wait() == 0 for p in procs)

        ours()  # warm caches (imports, page cache on the hosts)
        cpu_before = time.process_time()
        t_ours = median_time(ours, repeat)
        runner_cpu = (time.process_time() - cpu_before) / repeat
        t_base = median_time(openssh, repeat)
        report(f"fleet audit, {hosts} hosts", t_ours, t_base, note="vs OpenSSH `ssh host true`")
        per_host_ms = 1000 * runner_cpu / hosts
        rate = hosts / t_ours
        print(f"{'':44} {rate:9.1f} hosts/s audited; runner CPU {per_host_ms:.0f} ms/host")
        print(f"{'':44} (the lab's hosts share this machine's cores, so their side of the work —")
        print(
            f"{'':44}  the collection script — is in the wall time too; on a real fleet it is not)"
        )


def bench_scale() -> None:
    """Memory as the fleet grows: peak RSS after auditing 10 hosts, then 60, ten at a time
    (the results of both stay in memory, as a run keeps them for its reports). Peak memory
    follows the hosts in flight (--concurrency), not the size of the fleet."""
    import resource

    from audit.collect.hostkeys import KnownHosts
    from audit.collect.ssh import SshOptions
    from audit.inventory import load_inventory
    from audit.runner import FleetOptions, audit_fleet
    from tests.lab.netlab import HostSpec, Lab, unavailable_reason
    from tests.lab.scenarios import sample_files

    reason = unavailable_reason()
    if reason:
        print(f"scale: skipped ({reason})")
        return
    now = pki.utcnow()
    kept = []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for n in (10, 60):
        specs = [HostSpec(f"s{i:03d}", files=sample_files(now)) for i in range(n)]
        with Lab(specs, subnet="10.250.9.0/24", bridge="calab9-br0") as lab:
            inventory = load_inventory(lab.inventory)
            known = KnownHosts.load(Path(lab.known_hosts))
            options = FleetOptions(ssh=SshOptions(ssh_config=[]), concurrency=10)
            started = time.perf_counter()
            results = asyncio.run(audit_fleet(inventory.hosts, known, options))
            elapsed = time.perf_counter() - started
            assert all(r.outcome.audited for r in results)
            kept.append(results)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        received = sum(r.bytes_received for r in results) / 1e6
        print(
            f"{'scale: ' + str(n) + ' hosts':44} {elapsed:9.2f}s  {n / elapsed:6.1f} hosts/s  "
            f"peak RSS {rss:6.1f} MiB (+{rss - before:.1f} since start)  {received:.1f} MB received"
        )


# ------------------------------------------------------------------------------ check


class _Server:
    """`openssl s_server` with a leaf + intermediate, on loopback."""

    def __init__(self, tmp: Path) -> None:
        now = pki.utcnow()
        h = pki.hierarchy(now)
        leaf = h.leaf("bench.example.test", now=now)
        (tmp / "leaf.pem").write_bytes(leaf.pem)
        (tmp / "chain.pem").write_bytes(h.intermediate.pem)
        (tmp / "key.pem").write_bytes(leaf.key_pem())
        (tmp / "root.pem").write_bytes(h.root.pem)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                "openssl",
                "s_server",
                "-quiet",
                "-accept",
                f"127.0.0.1:{self.port}",
                "-cert",
                str(tmp / "leaf.pem"),
                "-cert_chain",
                str(tmp / "chain.pem"),
                "-key",
                str(tmp / "key.pem"),
                "-www",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("openssl s_server did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def bench_check(repeat: int) -> None:
    from audit.probe import probe_direct

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server = _Server(tmp)
        try:
            target = f"127.0.0.1:{server.port}"
            ours_cmd = [
                sys.executable,
                "-m",
                "audit",
                "check",
                target,
                "--servername",
                "bench.example.test",
                "--cafile",
                str(tmp / "root.pem"),
            ]
            base_cmd = [
                "openssl",
                "s_client",
                "-connect",
                target,
                "-servername",
                "bench.example.test",
                "-CAfile",
                str(tmp / "root.pem"),
            ]

            def ours() -> None:
                subprocess.run(
                    ours_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
                )

            def base() -> None:
                subprocess.run(
                    base_cmd, input=b"", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )

            ours()
            report(
                "check (new process)",
                median_time(ours, repeat),
                median_time(base, repeat),
                note="vs `openssl s_client` process",
            )

            def probe() -> None:
                asyncio.run(probe_direct("127.0.0.1", server.port, "bench.example.test"))

            ctx = ssl.create_default_context(cafile=str(tmp / "root.pem"))

            def handshake() -> None:
                with socket.create_connection(("127.0.0.1", server.port)) as raw:
                    with ctx.wrap_socket(raw, server_hostname="bench.example.test"):
                        pass

            report(
                "probe (in process)",
                median_time(probe, repeat * 3),
                median_time(handshake, repeat * 3),
                note="vs a bare ssl handshake",
            )
        finally:
            server.close()


# ------------------------------------------------------------------------------ parse


def bench_parse(repeat: int) -> None:
    from cryptography import x509

    from audit import certparse
    from audit.certparse import parse_bytes

    data = Path(certifi.where()).read_bytes()
    n = len(parse_bytes(data))

    def cold() -> None:
        certparse._CACHE.clear()
        parse_bytes(data)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = median_time(lambda: x509.load_pem_x509_certificates(data), repeat)
    report(
        f"parse Mozilla bundle ({n} certs), cold",
        median_time(cold, repeat),
        base,
        note="vs cryptography's PEM loader (ours also verifies self-signatures)",
    )
    parse_bytes(data)
    report(
        f"parse Mozilla bundle ({n} certs), seen before",
        median_time(lambda: parse_bytes(data), repeat),
        base,
        note="the next host's copy of the same bundle",
    )


# ---------------------------------------------------------------------------- history


def bench_history(repeat: int) -> None:
    from audit.certparse import parse_bytes
    from audit.history import History
    from audit.model import CertLocation, FoundCert, Host, HostOutcome, HostResult

    certs = [i.cert for i in parse_bytes(Path(certifi.where()).read_bytes()) if i.cert][:150]
    now = dt.datetime.now(UTC)
    with tempfile.TemporaryDirectory() as d:
        with History.open(Path(d, "h.db")) as history:
            run = history.begin_run("bench", {})
            counter = [0]

            def ours() -> None:
                counter[0] += 1
                host = Host(f"h{counter[0]}", "10.250.9.1")
                found = tuple(
                    FoundCert(c, CertLocation(host.name, f"/etc/ssl/c{i}.pem"))
                    for i, c in enumerate(certs)
                )
                history.record_host(
                    run, HostResult(host, HostOutcome.OK, "", now, now, certificates=found)
                )

            db = sqlite3.connect(Path(d, "base.db"))
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("CREATE TABLE loc (host TEXT, path TEXT, sha256 TEXT, der BLOB)")

            def base() -> None:
                counter[0] += 1
                with db:
                    db.executemany(
                        "INSERT INTO loc VALUES (?,?,?,?)",
                        [
                            (f"h{counter[0]}", f"/etc/ssl/c{i}.pem", c.sha256, c.der)
                            for i, c in enumerate(certs)
                        ],
                    )

            report(
                "history: record a 150-cert host",
                median_time(ours, repeat * 5),
                median_time(base, repeat * 5),
                note="vs one bare sqlite3 transaction",
            )
            history.finish_run(run, partial=False)


# -------------------------------------------------------------------------- listeners


def bench_listeners(repeat: int) -> None:
    """Listener figures, from the timings each HostResult carries in its facts
    (ssh_connect_ms, collect_ms, probe_ms: measured inside audit_host)."""
    from audit.collect.hostkeys import KnownHosts
    from audit.collect.ssh import SshOptions
    from audit.inventory import load_inventory
    from audit.model import ProbeStatus
    from audit.runner import FleetOptions, audit_fleet
    from tests.lab.netlab import Lab, unavailable_reason
    from tests.lab.scenarios import default_fleet

    reason = unavailable_reason()
    if reason:
        print(f"listeners: skipped ({reason})")
        return
    with Lab(default_fleet(pki.utcnow()), subnet="10.250.8.0/24", bridge="calab8-br0") as lab:
        inventory = load_inventory(lab.inventory)

        def audit(concurrency: int):  # type: ignore[no-untyped-def]
            options = FleetOptions(ssh=SshOptions(ssh_config=[]), concurrency=concurrency)
            known = KnownHosts.load(Path(lab.known_hosts))
            t0 = time.perf_counter()
            results = asyncio.run(audit_fleet(inventory.hosts, known, options))
            return time.perf_counter() - t0, results

        def total(results, key: str) -> float:  # type: ignore[no-untyped-def]
            return sum(float(dict(r.facts).get(key, 0)) for r in results) / 1000

        audit(64)  # warm caches (imports, page cache on the hosts)
        for concurrency, label in ((64, "all hosts at once"), (1, "one host at a time")):
            runs = [audit(concurrency) for _ in range(repeat)]
            wall = statistics.median(w for w, _ in runs)
            results = runs[len(runs) // 2][1]
            listeners = sum(len(r.listeners) for r in results)
            handshakes = sum(int(dict(r.facts).get("handshakes", 0)) for r in results)
            audited = sum(1 for r in results if r.outcome.audited)
            connect = statistics.median(total(rs, "ssh_connect_ms") for _, rs in runs)
            collect = statistics.median(total(rs, "collect_ms") for _, rs in runs)
            probing = statistics.median(total(rs, "probe_ms") for _, rs in runs)
            spent = connect + collect + probing
            print(
                f"listeners, {label}: {audited} hosts, {listeners} listeners, {handshakes} "
                f"handshakes in {wall:.2f}s = {listeners / wall:.1f} listeners/s over the audit, "
                f"{listeners / max(probing, 1e-9):.1f} listeners/s per host-second of probing"
            )
            print(
                f"{'':44} host time: SSH connect {100 * connect / spent:.0f}%, collection "
                f"{100 * collect / spent:.0f}%, TLS probing {100 * probing / spent:.0f}% "
                f"({1000 * probing / max(1, listeners):.0f} ms per listener)"
            )
        targets = [
            (p.address, p.port, p.servername)
            for r in results
            for li in r.listeners
            for p in li.probes[:1]
            if p.status is ProbeStatus.TLS and li.starttls is None and li.address != "127.0.0.1"
        ]

        def bare() -> None:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            for address, port, name in targets:
                with socket.create_connection((address, port), timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname=name):
                        pass

        per_bare = median_time(bare, repeat) / max(1, len(targets))
        report(
            "probe cost per listener (one host at a time)",
            probing / max(1, listeners),
            per_bare,
            note="vs a bare ssl handshake from the runner",
        )


BENCHES = {
    "fleet": lambda a: bench_fleet(a.hosts, a.repeat),
    "check": lambda a: bench_check(a.repeat),
    "parse": lambda a: bench_parse(a.repeat),
    "history": lambda a: bench_history(a.repeat),
    "listeners": lambda a: bench_listeners(a.repeat),
    "scale": lambda a: bench_scale(),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default=",".join(BENCHES))
    args = parser.parse_args()
    print(
        f"certaudit benchmarks, {os.cpu_count()} cores, median of {args.repeat} runs; "
        "ratio = ours / baseline (lower is better)"
    )
    for name in args.only.split(","):
        BENCHES[name.strip()](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
