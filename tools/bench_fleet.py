"""`make bench` at fleet scale: the whole `certaudit run` beside a bare floor and Ansible.

    python -m tools.bench_fleet [--hosts 100 300 1000] [--concurrency 64]
                                [--ansible install|auto|skip] [--no-browser]
                                [--json FILE] [--keep DIR] [--timeout SECONDS]

One fleet (tools/benchlab/fleet.py): ONE sshd and one nginx in a private network, mount
and PID namespace; host i is the loopback alias 127.0.x.y with its own known_hosts line and
inventory entry; each host holds ~160 certificates (the machine's CA bundle, four nginx
sites, three certificates of its own) and four TLS listeners. For each size, in this order,
all at the same concurrency:

  floor      tools/benchlab/floor.py: asyncssh connect + one `cat` of the host's certificate
             files + cryptography's PEM loader + one TLS handshake per TLS listener through
             the connection. Nothing else.
  certaudit  `python -m audit run INVENTORY --out DIR --db FILE --cafile ROOT ...` as a
             subprocess: collection, probes, analysis, history, every report.
  ansible    ansible-core from a bench-only venv (tools/benchlab/ansible.py): one ad-hoc
             `shell: cat -- <the same files>` task, forks = concurrency.

Measured from outside for each: wall time; user+sys CPU and peak RSS of the process tree
(wait4); host-side CPU (the sshd's cgroup: sshd, sessions, remote commands; nginx apart);
the machine's other load during the run. Every host shares this machine's cores with the
runner, so wall time here is bounded by runner + host-side CPU together ("(runner+host
CPU) ÷ cores" is that bound); on a real fleet the host side runs on the hosts.
For certaudit also: its own collection time (its summary line), each report's size,
the history database's size, a re-render of the stored run (`certaudit report --run ID`,
a fresh process: wall time of all four reports), each renderer timed in process
(tools/benchlab/render_times.py; certaudit prints no per-report timings), and report.html
opened in headless Chromium (`--dump-dom` wall time, beside the same for a blank page:
the browser's own start-up).

Ansible: `--ansible install` makes the venv when missing (needs pip's registry), `auto` uses
it only when already installed, `skip` never. A skipped part says so in every table.
Needs root (namespaces, a local user `certaudit-bench`). Everything started is stopped on
exit, also on Ctrl-C; the user is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tools.benchlab import ansible as ansible_mod
from tools.benchlab.fleet import SITES, BenchError, BenchFleet
from tools.benchlab.measure import Measured, chromium_dump_dom, run_in_netns, run_local

REPO = Path(__file__).resolve().parent.parent
REPORTS = ("report.html", "findings.json", "report.xlsx", "metrics.prom")
TARGET_SIZE = 1000

Row = dict[str, Any]


# ----------------------------------------------------------------------------- running


def _side(m: Measured, hosts: int) -> Row:
    return {
        "rc": m.rc,
        "timed_out": m.timed_out,
        "wall": m.wall,
        "cpu": m.cpu,
        "cpu_ms_per_host": 1000 * m.cpu / hosts,
        "rss_mb": m.maxrss_mb,
        "host_cpu": m.host_cpu.get("sshd", 0.0),
        "host_ms_per_host": 1000 * m.host_cpu.get("sshd", 0.0) / hosts,
        "tls_ms_per_host": 1000 * m.host_cpu.get("tls", 0.0) / hosts,
        "other_cpu": m.other_cpu,
        "cpu_bound_s": (m.cpu + sum(m.host_cpu.values())) / (os.cpu_count() or 1),
        "settled": m.settled,
    }


def _runner_env(fleet: BenchFleet) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTAUDIT_", "SSH_"))}
    env["HOME"] = str(fleet.dir / "home")
    return env


def run_floor(
    fleet: BenchFleet, spec: Path, n: int, concurrency: int, work: Path, timeout: float
) -> Row:
    argv = [
        sys.executable,
        "-m",
        "tools.benchlab.floor",
        str(spec),
        "--concurrency",
        str(concurrency),
    ]
    m = run_in_netns(
        fleet, argv, out_dir=work, label="floor", env=_runner_env(fleet), cwd=REPO, timeout=timeout
    )
    row = _side(m, n)
    try:
        totals = json.loads(m.stdout.read_text()) if m.stdout else {}
    except ValueError:
        totals = {}
    row.update(
        ok=totals.get("ok", 0),
        certs_per_host=totals.get("certs", 0) / max(1, totals.get("ok", 0)),
        handshakes_per_host=totals.get("handshakes", 0) / max(1, totals.get("ok", 0)),
        kb_per_host=totals.get("bytes", 0) / 1024 / max(1, totals.get("ok", 0)),
        errors=totals.get("errors", []) or ([m.stderr_tail()] if m.rc else []),
    )
    return row


_SUMMARY = re.compile(r"certaudit run (\S+): (\d+)/(\d+) hosts audited in ([\d.]+)s")


def certaudit_argv(
    fleet: BenchFleet, inventory: Path, out: Path, db: Path, concurrency: int
) -> list[str]:
    """The audit's command line (the one coupling between this bench and the CLI)."""
    return [
        sys.executable,
        "-m",
        "audit",
        "run",
        str(inventory),
        "--out",
        str(out),
        "--db",
        str(db),
        "--known-hosts",
        str(fleet.known_hosts),
        "--ssh-config",
        str(fleet.dir / "empty_ssh_config"),
        "--cafile",
        str(fleet.cafile),
        "--concurrency",
        str(concurrency),
    ]


def run_certaudit(
    fleet: BenchFleet, inventory: Path, n: int, concurrency: int, work: Path, timeout: float
) -> Row:
    out, db = work / "report", work / "history.db"
    argv = certaudit_argv(fleet, inventory, out, db, concurrency)
    m = run_in_netns(
        fleet,
        argv,
        out_dir=work,
        label="certaudit",
        env=_runner_env(fleet),
        cwd=REPO,
        timeout=timeout,
    )
    row = _side(m, n)
    text = m.stdout.read_text(errors="replace") if m.stdout else ""
    found = _SUMMARY.search(text)
    row.update(
        run_id=found.group(1) if found else None,
        ok=int(found.group(2)) if found else 0,
        collection_s=float(found.group(4)) if found else None,
        errors=[] if m.rc in (0, 1) else [f"exit {m.rc}: {m.stderr_tail() or text[-800:]}"],
        reports={name: (out / name).stat().st_size for name in REPORTS if (out / name).is_file()},
        db_bytes=sum(p.stat().st_size for p in work.glob("history.db*") if p.is_file()),
    )
    findings = out / "findings.json"
    if findings.is_file():
        doc = json.loads(findings.read_bytes())
        hosts = doc.get("hosts", [])
        audited = [h for h in hosts if h.get("audited")]
        k = max(1, len(audited))
        probes = sum(len(li.get("probes", [])) for li in doc.get("listeners", []))
        legacy = sum(
            1
            for li in doc.get("listeners", [])
            if li.get("legacy_protocol") is None
            and any(
                p.get("status") in ("tls", "client_cert_required") for p in li.get("probes", [])
            )
        )
        row.update(
            ok=len(audited),
            certs_per_host=sum(h.get("certificates", 0) for h in audited) / k,
            kb_per_host=sum(h.get("bytes_received", 0) for h in audited) / 1024 / k,
            probes_per_host=probes / k,
            legacy_per_host=legacy / k,
            distinct_certs=len(doc.get("certificates", [])),
            findings=doc.get("summary", {}).get("findings"),
            outcomes=sorted({h.get("outcome") for h in hosts}),
        )
    return row


def rerender(row: Row, work: Path, timeout: float) -> None:
    """`certaudit report --run ID` (a fresh process, all four reports) and each renderer
    in process."""
    if not row.get("run_id"):
        return
    db = work / "history.db"
    argv = [sys.executable, "-m", "audit", "report", "--run", row["run_id"], "--db", str(db)]
    argv += ["--out", str(work / "rerendered")]
    rc, wall, _, err = run_local(argv, out_dir=work, label="rerender", timeout=timeout)
    row["rerender_s"] = wall if rc == 0 else None
    if rc != 0:
        row["errors"].append(
            f"certaudit report exit {rc}: {err.read_text(errors='replace')[-300:]}"
        )
    argv = [sys.executable, "-m", "tools.benchlab.render_times", str(db), row["run_id"]]
    rc, _, out, err = run_local(argv, out_dir=work, label="render_times", timeout=timeout)
    try:
        row["render_times"] = json.loads(out.read_text()) if rc == 0 else None
    except ValueError:
        row["render_times"] = None
    if row["render_times"] is None:
        row["render_error"] = err.read_text(errors="replace").strip().splitlines()[-1:] or ["?"]


def run_ansible(
    fleet: BenchFleet, binary: Path, inventory: Path, n: int, forks: int, work: Path, timeout: float
) -> Row:
    cfg = ansible_mod.config(work / "ansible")
    argv = ansible_mod.argv(binary, inventory, fleet.ansible_command_text(), forks)
    m = run_in_netns(
        fleet,
        argv,
        out_dir=work,
        label="ansible",
        env=ansible_mod.env(work / "ansible", cfg),
        timeout=timeout,
    )
    row = _side(m, n)
    counts = ansible_mod.outcomes(m.stdout) if m.stdout else {"ok": 0}
    row.update(
        ok=counts["ok"],
        kb_per_host=(m.stdout.stat().st_size / 1024 / n) if m.stdout else 0,
        errors=[] if counts["ok"] == n else [f"exit {m.rc}: {counts}; {m.stderr_tail(400)}"],
    )
    if m.stdout:
        m.stdout.unlink()  # hundreds of MB at 1,000 hosts; counted above
    return row


def html_time(row: Row, work: Path, enabled: bool) -> None:
    page = work / "report" / "report.html"
    if not enabled:
        row["html_error"] = "not measured (--no-browser)"
        return
    if not page.is_file():
        row["html_error"] = "no report.html"
        return
    try:
        row["html_s"], row["html_dom_bytes"] = chromium_dump_dom(page, work / "chromium")
    except (RuntimeError, OSError) as exc:
        row["html_error"] = str(exc)
    finally:
        shutil.rmtree(work / "chromium", ignore_errors=True)


# ----------------------------------------------------------------------------- printing


def _f(value: Any, spec: str, width: int = 11) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{format(value, spec):>{width}}"


def _ratio(a: Any, b: Any) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} MB"


def print_size(row: Row, concurrency: int) -> None:
    n = row["hosts"]
    floor, ours, ans = row["floor"], row["certaudit"], row["ansible"]
    sides = [floor, ours, ans if "wall" in ans else None]
    print(f"\n=== {n} hosts · concurrency {concurrency} · one sshd, {n} loopback aliases ===")
    print(f"{'':34}{'floor':>11}{'certaudit':>11}{'ansible':>11}")

    def line(label: str, unit: str, key: str, spec: str) -> None:
        cells = "".join(_f(s.get(key) if s else None, spec) for s in sides)
        print(f"{label:28}{unit:>6}{cells}")

    line("wall time", "s", "wall", ".2f")
    line("(runner+host CPU) ÷ cores", "s", "cpu_bound_s", ".2f")
    done = "".join(f"{str(s.get('ok', 0)) + '/' + str(n) if s else '-':>11}" for s in sides)
    print(f"{'hosts done':34}{done}")
    line("runner CPU (user+sys)", "s", "cpu", ".2f")
    line("runner CPU per host", "ms", "cpu_ms_per_host", ".1f")
    line("runner peak RSS", "MB", "rss_mb", ".1f")
    line("host-side CPU per host (sshd)", "ms", "host_ms_per_host", ".1f")
    line("TLS server CPU per host", "ms", "tls_ms_per_host", ".2f")
    line("other load on the machine", "CPU-s", "other_cpu", ".1f")
    line("certificates per host", "", "certs_per_host", ".0f")
    hs = [floor.get("handshakes_per_host"), None, None]
    if ours.get("probes_per_host") is not None:
        hs[1] = ours["probes_per_host"] + ours.get("legacy_per_host", 0)
    print(f"{'TLS handshakes per host':34}" + "".join(_f(v, ".1f") for v in hs))
    line("bytes received per host", "KB", "kb_per_host", ".0f")
    if "wall" not in ans:
        print(f"  ansible: {ans.get('skipped', 'not run')}")
    for name, side in (("floor", floor), ("certaudit", ours), ("ansible", ans)):
        if side.get("settled") is False:
            print(f"  {name}: sessions still open on the host side 5 s after it exited")
        for err in side.get("errors", [])[:3]:
            print(f"  {name} PROBLEM: {err}")
    if ours.get("probes_per_host") is not None:
        print(
            f"  certaudit handshakes = {ours['probes_per_host']:.1f} probes kept in findings.json"
            " (SNI names × listeners, the sshd port included) + "
            f"{ours.get('legacy_per_host', 0):.1f} TLS 1.1 questions; the floor does one per"
            " TLS listener"
        )
    ratios = [
        ("certaudit ÷ floor, wall", _ratio(ours.get("wall"), floor.get("wall"))),
        ("runner CPU/host", _ratio(ours.get("cpu_ms_per_host"), floor.get("cpu_ms_per_host"))),
        ("host CPU/host", _ratio(ours.get("host_ms_per_host"), floor.get("host_ms_per_host"))),
        ("ansible ÷ certaudit, wall", _ratio(ans.get("wall"), ours.get("wall"))),
    ]
    print("  ratios: " + "; ".join(f"{k} {'-' if v is None else f'{v:.2f}×'}" for k, v in ratios))
    coll = ours.get("collection_s")
    if coll is not None:
        print(
            f"  certaudit phases: collection + probes {coll:.1f} s (its own summary line), "
            f"the rest (start-up, analysis, history, reports) {ours['wall'] - coll:.1f} s"
        )
    reps = ours.get("reports", {})
    print(
        "  report sizes: "
        + " · ".join(f"{k} {_mb(reps.get(k))}" for k in REPORTS)
        + (
            f" · {ours.get('findings')} findings, {ours.get('distinct_certs')} distinct certs"
            if ours.get("findings") is not None
            else ""
        )
    )
    if ours.get("db_bytes"):
        print(
            f"  history: {_mb(ours['db_bytes'])} after one run = "
            f"{ours['db_bytes'] / n / 1024:.1f} KB per host per run"
        )
    rt = ours.get("render_times")
    per = ""
    if rt:
        per = "; in process: load from history {:.2f} s, ".format(rt["load"]) + ", ".join(
            f"{k} {v[0]:.2f} s" for k, v in rt["renderers"].items()
        )
    elif ours.get("render_error"):
        per = f"; per renderer: n/a ({ours['render_error'][0]})"
    if ours.get("rerender_s") is not None or per:
        print(
            f"  report time (re-rendered from history, not from -v timings): "
            f"`certaudit report --run ID` {_f(ours.get('rerender_s'), '.2f', 0)} s wall{per}"
        )
    if ours.get("html_s") is not None:
        blank = row.get("blank_page_s")
        print(
            f"  HTML interactive: {ours['html_s']:.2f} s (headless chromium --dump-dom, "
            f"DOM {ours['html_dom_bytes'] / 1e6:.2f} MB; a blank page takes "
            f"{_f(blank, '.2f', 0)} s)"
        )
    else:
        print(f"  HTML interactive: n/a ({ours.get('html_error', '?')})")


def print_summary(rows: Sequence[Row]) -> None:
    print("\n=== summary ===")
    head = (
        f"{'hosts':>6}{'floor s':>9}{'certaudit s':>13}{'ansible s':>11}{'ca÷floor':>10}"
        f"{'ans÷ca':>8}{'RSS MB':>8}{'CPU ms/host ca/floor':>22}{'host ms/host ca/floor':>23}"
        f"{'html MB':>9}{'html s':>8}"
    )
    print(head)
    for r in rows:
        fl, ca, an = r["floor"], r["certaudit"], r["ansible"]
        cpu = f"{_f(ca.get('cpu_ms_per_host'), '.1f', 0)}/{_f(fl.get('cpu_ms_per_host'), '.1f', 0)}"
        host = (
            f"{_f(ca.get('host_ms_per_host'), '.1f', 0)}/{_f(fl.get('host_ms_per_host'), '.1f', 0)}"
        )
        html = ca.get("reports", {}).get("report.html")
        ca_floor = _ratio(ca.get("wall"), fl.get("wall"))
        ans_ca = _ratio(an.get("wall"), ca.get("wall"))
        print(
            f"{r['hosts']:>6}{_f(fl.get('wall'), '.2f', 9)}{_f(ca.get('wall'), '.2f', 13)}"
            f"{_f(an.get('wall'), '.2f', 11)}{_f(ca_floor, '.2f', 10)}{_f(ans_ca, '.1f', 8)}"
            f"{_f(ca.get('rss_mb'), '.0f', 8)}{cpu:>22}{host:>23}"
            f"{_f(html / 1e6 if html else None, '.2f', 9)}{_f(ca.get('html_s'), '.2f', 8)}"
        )


def targets(rows: Sequence[Row]) -> list[tuple[str, str, str]]:
    """(target, measured, PASS/MISS/n/a) at the largest size run."""
    r = max(rows, key=lambda x: x["hosts"])
    fl, ca, an = r["floor"], r["certaudit"], r["ansible"]

    def check(value: float | None, ok: Callable[[float], bool], text: str) -> tuple[str, str]:
        if value is None:
            return "n/a", "n/a"
        return text.format(value), "PASS" if ok(value) else "MISS"

    out = []
    v = _ratio(ca.get("wall"), fl.get("wall"))
    out.append(("whole run ≤ 1.5× the floor", *check(v, lambda x: x <= 1.5, "{:.2f}×")))
    v = _ratio(ca.get("cpu_ms_per_host"), fl.get("cpu_ms_per_host"))
    out.append(("runner CPU per host ≤ 2× floor", *check(v, lambda x: x <= 2, "{:.2f}×")))
    v = _ratio(ca.get("host_ms_per_host"), fl.get("host_ms_per_host"))
    out.append(("host-side CPU per host ≤ 2× floor", *check(v, lambda x: x <= 2, "{:.2f}×")))
    v = _ratio(an.get("wall"), ca.get("wall"))
    if v is None:
        out.append(("≥ 10× faster than Ansible", an.get("skipped", "not run"), "n/a"))
    else:
        out.append(("≥ 10× faster than Ansible", *check(v, lambda x: x >= 10, "{:.1f}×")))
    out.append(("peak RSS < 300 MB", *check(ca.get("rss_mb"), lambda x: x < 300, "{:.0f} MB")))
    rss = [x["certaudit"].get("rss_mb") for x in rows if x["certaudit"].get("rss_mb")]
    if len(rss) >= 2:
        smallest = min(rows, key=lambda x: x["hosts"])["certaudit"].get("rss_mb")
        v = _ratio(ca.get("rss_mb"), smallest)
        out.append(
            (
                f"peak RSS flat from {min(x['hosts'] for x in rows)} to {r['hosts']} (≤ 1.25×)",
                *check(v, lambda x: x <= 1.25, "{:.2f}×"),
            )
        )
    else:
        out.append(("peak RSS flat across sizes (≤ 1.25×)", "one size only", "n/a"))
    html = ca.get("reports", {}).get("report.html")
    out.append(
        ("report.html < 15 MB", *check(html / 1e6 if html else None, lambda x: x < 15, "{:.2f} MB"))
    )
    out.append(
        ("report.html interactive < 3 s", *check(ca.get("html_s"), lambda x: x < 3, "{:.2f} s"))
    )
    return out


def print_targets(rows: Sequence[Row]) -> None:
    size = max(r["hosts"] for r in rows)
    note = (
        ""
        if size == TARGET_SIZE
        else f" (the largest size run; the targets are stated at {TARGET_SIZE})"
    )
    print(f"\n=== targets at {size} hosts{note} ===")
    for target, value, verdict in targets(rows):
        print(f"  {target:44} {value:>16}  {verdict}")


# -------------------------------------------------------------------------------- main


def _versions(binary: Path | None) -> str:
    import subprocess

    import asyncssh

    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip().split(",")[0]
    nginx = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip()
    parts = [f"Python {sys.version.split()[0]}", f"asyncssh {asyncssh.__version__}", ssh, nginx]
    if binary is not None:
        parts.append(ansible_mod.version(binary))
    return "; ".join(parts)


def bench(args: argparse.Namespace) -> list[Row]:
    sizes = sorted(set(args.hosts))
    binary: Path | None = None
    skipped = ""
    if args.ansible == "skip":
        skipped = "skipped (--ansible skip)"
    else:
        binary = ansible_mod.ansible_bin()
        if binary is None and args.ansible == "install":
            print(f"installing ansible-core into {ansible_mod.venv_dir()} ...", flush=True)
            binary = ansible_mod.install()
        if binary is None:
            skipped = (
                f"skipped: not installed in {ansible_mod.venv_dir()} (--ansible install makes it)"
            )
    keep = Path(args.keep).resolve() if args.keep else None
    work = keep or Path(tempfile.mkdtemp(prefix="cabench-results-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    try:
        t0 = time.monotonic()
        with BenchFleet(max(sizes)) as fleet:
            print(
                f"certaudit fleet bench: {os.cpu_count()} cores; {_versions(binary)}\n"
                f"fleet up in {time.monotonic() - t0:.1f}s: one sshd + nginx in netns "
                f"{fleet.netns}; {fleet.size} aliases 127.0.1.1..; "
                f"{len(fleet.shared_cert_files) + 3} certificate files per host; TLS listeners "
                f"{', '.join(str(s.port) for s in SITES)}; "
                f"host-side CPU from {fleet.cpu_source}\n"
                "every host shares this machine's cores with the runner: wall time here is "
                "bounded by runner + host-side CPU together (on a real fleet the host side "
                'runs on the hosts), and by whatever else runs here ("other load")',
                flush=True,
            )
            blank_s = None
            if not args.no_browser:
                blank = work / "blank.html"
                blank.write_text("<!doctype html><html><body>blank</body></html>\n")
                try:
                    chromium_dump_dom(blank, work / "chromium")
                    blank_s = statistics.median(
                        chromium_dump_dom(blank, work / "chromium")[0] for _ in range(2)
                    )
                except (RuntimeError, OSError) as exc:
                    print(f"chromium: {exc}", flush=True)
            # Warm-up (not reported): imports, page cache, sshd's first logins.
            warm = work / "warmup"
            paths = fleet.write_inventories(min(3, fleet.size), warm)
            run_floor(fleet, paths["floor"], 3, args.concurrency, warm, args.timeout)
            run_certaudit(fleet, paths["certaudit"], 3, args.concurrency, warm, args.timeout)
            for n in sizes:
                d = work / f"n{n}"
                paths = fleet.write_inventories(n, d)
                row: Row = {"hosts": n, "blank_page_s": blank_s}
                print(f"\n[{n} hosts] floor ...", flush=True)
                row["floor"] = run_floor(
                    fleet, paths["floor"], n, args.concurrency, d, args.timeout
                )
                print(f"[{n} hosts] certaudit ...", flush=True)
                row["certaudit"] = run_certaudit(
                    fleet, paths["certaudit"], n, args.concurrency, d, args.timeout
                )
                rerender(row["certaudit"], d, args.timeout)
                html_time(row["certaudit"], d, not args.no_browser)
                if binary is not None:
                    print(f"[{n} hosts] ansible ...", flush=True)
                    row["ansible"] = run_ansible(
                        fleet, binary, paths["ansible"], n, args.concurrency, d, args.timeout
                    )
                else:
                    row["ansible"] = {"skipped": skipped}
                rows.append(row)
                print_size(row, args.concurrency)
                sys.stdout.flush()
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"\noutputs kept in {keep}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench_fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    default_sizes = [int(x) for x in os.environ.get("BENCH_HOSTS", "100 300 1000").split()]
    parser.add_argument("--hosts", type=int, nargs="+", default=default_sizes)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ansible", choices=("install", "auto", "skip"), default="auto")
    parser.add_argument("--no-browser", action="store_true", help="do not time report.html")
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--keep", help="keep inventories, reports and logs in this folder")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measured run")
    args = parser.parse_args(argv)
    if min(args.hosts) < 1:
        parser.error("--hosts: sizes must be positive")
    # Ctrl-C stops the bench and everything it started, even when started in the
    # background of a shell that ignores SIGINT (SIGTERM/SIGHUP: see BenchFleet).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rows = bench(args)
    except KeyboardInterrupt:
        print("\nbench_fleet: interrupted; everything it started was stopped", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench_fleet: {exc}", file=sys.stderr)
        return 2
    print_summary(rows)
    print_targets(rows)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "targets": targets(rows)}, indent=1, default=str)
        )
    failed = any(
        r[side].get("ok", 0) != r["hosts"] for r in rows for side in ("floor", "certaudit")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
