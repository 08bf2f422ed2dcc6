"""`certaudit check --from FILE` with many endpoints, beside bare `ssl` handshakes.

    python -m tools.bench_check [--servers 10] [--names 50] [--concurrency 64]
                                [--repeat 3] [--timeout 10]

Starts `--servers` TLS servers on loopback, each its own process (asyncio + `ssl`, a leaf
for *.bench.test under a two-level CA), and lists each `--names` times with a different
SNI name (500 endpoints by default). Then, in this run, alternating and `--repeat` times:

  check      `check_many` in process: the whole `check --from FILE` minus interpreter
             start-up and printing (reading FILE, probes, chain verification, the rules,
             ranking).
  cli        `python -m audit check --from FILE` as a subprocess, as an operator runs it
             (adds interpreter start-up, imports and printing the summary).
  floor      bare concurrent handshakes: asyncio.open_connection(ssl=...) to the same
             endpoints with the same SNI names and the same concurrency, verifying against
             the same root, then close. Nothing else.

Prints the median wall time of each and its ratio to the floor, and the same for the
client's CPU time (steadier on a shared machine: the servers' CPU is not counted).
Target: within 2x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests import pki

DOMAIN = "bench.test"


# --------------------------------------------------------------------------- servers


async def _serve(cert: str, key: str) -> None:
    """One TLS server: handshake, read until the client closes, close."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.read(1024), 30)
        except (OSError, TimeoutError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class Servers:
    """`count` server processes sharing one certificate chain; context manager."""

    def __init__(self, folder: Path, count: int) -> None:
        now = pki.utcnow()
        h = pki.hierarchy(now, name="Bench")
        leaf = h.leaf(f"*.{DOMAIN}", now=now, sans=[f"*.{DOMAIN}"], fresh_key=True)
        self.chain, self.key = folder / "chain.pem", folder / "key.pem"
        self.root = folder / "root.pem"
        self.chain.write_bytes(pki.pem_bundle(leaf, h.intermediate))
        self.key.write_bytes(leaf.key_pem())
        self.root.write_bytes(h.root.pem)
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []

    def __enter__(self) -> Servers:
        argv = [
            sys.executable,
            "-m",
            "tools.bench_check",
            "--serve",
            str(self.chain),
            str(self.key),
        ]
        for _ in range(self.count):
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=_root())
            self.procs.append(proc)
        for proc in self.procs:
            assert proc.stdout is not None
            self.ports.append(int(proc.stdout.readline()))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)


def _root() -> Path:
    return Path(__file__).resolve().parents[1]


def endpoints(ports: list[int], names: int) -> list[tuple[int, str]]:
    return [(port, f"s{i}-n{j}.{DOMAIN}") for i, port in enumerate(ports) for j in range(names)]


# --------------------------------------------------------------------------- the three


async def _floor(targets: list[tuple[int, str]], root: Path, concurrency: int) -> int:
    """Bare handshakes; returns how many completed."""
    ctx = ssl.create_default_context(cafile=str(root))
    gate = asyncio.Semaphore(concurrency)

    async def one(port: int, name: str) -> bool:
        async with gate:
            try:
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname=name
                )
            except (OSError, ssl.SSLError):
                return False
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass
            return True

    done = await asyncio.gather(*(one(port, name) for port, name in targets))
    return sum(done)


def run_floor(targets: list[tuple[int, str]], root: Path, concurrency: int) -> int:
    return asyncio.run(_floor(targets, root, concurrency))


def run_check(listing: Path, root: Path, concurrency: int, timeout: float) -> int:
    """check_many in process; returns how many endpoints had a usable TLS session."""
    from audit.service.check_many import ManySettings, check_many

    outcome = check_many(
        ManySettings(from_file=listing, cafile=root, concurrency=concurrency, timeout=timeout)
    )
    if outcome.findings:
        raise RuntimeError(f"unexpected findings: {[f.id for f in outcome.findings[:5]]}")
    return sum(1 for o in outcome.endpoints if o.usable)


def run_cli(listing: Path, root: Path, concurrency: int, timeout: float) -> int:
    argv = [sys.executable, "-m", "audit", "check", "--from", str(listing), "--cafile", str(root)]
    argv += ["--concurrency", str(concurrency), "--timeout", str(timeout)]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=_root(), check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"check exited {proc.returncode}: {proc.stderr or proc.stdout[-500:]}")
    return proc.stdout.count("\n")


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, client CPU seconds: this process and its finished children, result)."""

    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    started, cpu_started = time.perf_counter(), cpu()
    result = fn()
    return time.perf_counter() - started, cpu() - cpu_started, result


# --------------------------------------------------------------------------- main


def bench(
    servers: int, names: int, concurrency: int, repeat: int, timeout: float
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="certaudit-bench-check-") as d:
        folder = Path(d)
        with Servers(folder, servers) as srv:
            targets = endpoints(srv.ports, names)
            listing = folder / "endpoints.txt"
            listing.write_text(
                f"# {len(targets)} endpoints: {servers} servers x {names} SNI names\n"
                + "".join(f"127.0.0.1:{port} {name}\n" for port, name in targets)
            )
            print(
                f"{len(targets)} endpoints ({servers} servers x {names} names), "
                f"concurrency {concurrency}, {os.cpu_count()} CPUs"
            )
            steps: dict[str, Callable[[], object]] = {
                "floor": lambda: run_floor(targets, srv.root, concurrency),
                "check": lambda: run_check(listing, srv.root, concurrency, timeout),
                "cli": lambda: run_cli(listing, srv.root, concurrency, timeout),
            }
            for fn in steps.values():  # warm-up: imports, page cache, server accept queues
                fn()
            times: dict[str, list[float]] = {name: [] for name in steps}
            cpus: dict[str, list[float]] = {name: [] for name in steps}
            for _ in range(repeat):
                for name, fn in steps.items():
                    elapsed, cpu, result = timed(fn)
                    times[name].append(elapsed)
                    cpus[name].append(cpu)
                    if name != "cli" and result != len(targets):
                        raise RuntimeError(f"{name}: {result} of {len(targets)} completed")
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpus.items()}
    floor, floor_cpu = medians["floor"], cpu_medians["floor"]
    print(f"load average before the last step: {os.getloadavg()[0]:.1f}")
    for name in ("floor", "check", "cli"):
        spread = ", ".join(f"{t:.3f}" for t in times[name])
        print(
            f"{name:6} wall {medians[name]:7.3f} s  ratio {medians[name] / floor:5.2f}   "
            f"client CPU {cpu_medians[name]:6.3f} s  ratio {cpu_medians[name] / floor_cpu:5.2f}"
            f"   (wall: {spread})"
        )
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--names", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--serve", nargs=2, metavar=("CHAIN", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        try:
            asyncio.run(_serve(*args.serve))
        except KeyboardInterrupt:
            pass
        return 0
    bench(args.servers, args.names, args.concurrency, args.repeat, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
