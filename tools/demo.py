"""`make demo`: bring up the default lab fleet, audit it, report, take the lab down.

    python -m tools.demo --out reports/demo [--hold]

Needs root (namespaces). The audit runs as a subprocess (`audit_command` is the only place
that knows its command line). Exit status: 0 when the audit exits 0 or 1 ("findings
present" is the normal result on this fleet) and wrote findings.json; 2 when the lab is
unavailable or the audit wrote no findings.json; otherwise the audit's own status
(128+N when it died of signal N); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests import pki
from tests.lab.netlab import Lab, LabError, unavailable_reason
from tests.lab.scenarios import default_fleet


def audit_command(lab: Lab, out: Path) -> list[str]:
    """The audit's command line: the one coupling between the demo and the CLI.

    The fleet has a host that is down on purpose, so the coverage floor is what the fleet can
    reach: one more unreachable host than planned still fails the demo (exit 3). The lab's
    CAs are internal ones, given with --cafile as an operator would.
    """
    reachable = sum(1 for h in lab.hosts.values() if h.spec.up)
    floor = 100.0 * reachable / max(1, len(lab.hosts))
    return [
        sys.executable,
        "-m",
        "audit",
        "run",
        str(lab.inventory),
        "--known-hosts",
        str(lab.known_hosts),
        "--out",
        str(out),
        "--db",
        str(out / "history.db"),
        "--min-coverage",
        f"{floor:.1f}",
        "--cafile",
        str(lab.cafile),
    ]


def _run_audit(cmd: Sequence[str]) -> int:
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:  # interrupted while the audit runs: stop it first
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _hold(lab: Lab) -> None:
    first = next(iter(lab.hosts))
    print(
        f"\nlab is up; try:\n  {' '.join(lab.ssh_argv(first, 'hostname'))}\n"
        "Ctrl-C (or SIGTERM) takes it down.",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            signal.pause()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("reports/demo"),
        help="folder for the reports and the history database",
    )
    parser.add_argument(
        "--hold", action="store_true", help="keep the lab up after the audit until Ctrl-C"
    )
    args = parser.parse_args(argv)

    reason = unavailable_reason()
    if reason:
        print(f"demo: the lab cannot run here: {reason}", file=sys.stderr)
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    specs = default_fleet(pki.utcnow())
    lab = Lab(specs)
    try:
        with lab:
            print(f"lab up: {len(lab.hosts)} hosts in {lab.timings['start']:.2f}s ({lab.dir})")
            for h in lab.hosts.values():
                print(f"  {h.name:<6} {h.address:<12} {h.spec.expect}")
            cmd = audit_command(lab, out)
            print("$ " + " ".join(cmd), flush=True)
            started_wall = time.time()
            t0 = time.monotonic()
            rc = _run_audit(cmd)
            wall = time.monotonic() - t0
            if args.hold:
                _hold(lab)
    except KeyboardInterrupt:
        print("\ndemo: interrupted; the lab was taken down", file=sys.stderr)
        return 130
    except LabError as exc:
        print(f"demo: lab error: {exc}", file=sys.stderr)
        return 2
    print(f"lab down in {lab.timings.get('stop', 0.0):.2f}s")

    print(f"audit: exit {rc}, {wall:.2f}s wall time for {len(specs)} hosts")
    written = sorted(
        p for p in out.iterdir() if p.is_file() and p.stat().st_mtime >= started_wall - 1
    )
    for p in written:
        print(f"  {p}")
    findings = out / "findings.json"
    if rc in (0, 1):
        if not findings.is_file() or findings.stat().st_mtime < started_wall - 1:
            print(f"demo: the audit exited {rc} but did not write {findings}", file=sys.stderr)
            return 2
        print(f"demo: ok (findings in {findings})")
        return 0
    print(f"demo: the audit failed (exit {rc})", file=sys.stderr)
    return 128 - rc if rc < 0 else rc


if __name__ == "__main__":
    sys.exit(main())
