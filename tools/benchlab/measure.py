"""Running one side of the comparison and measuring it.

`run_in_netns` starts a command inside the bench fleet's network namespace
(``nsenter --net``, which execs: the measured process is the command itself) in a session
of its own, and reaps it with wait4(2): the rusage it returns covers the process and every
descendant it waited for (Ansible's workers and their ssh clients included), and its
ru_maxrss is the peak RSS of the largest of them. Around it: the host side's CPU
(`BenchFleet.host_cpu`) and the whole machine's busy time from /proc/stat, so that CPU used
by anything else on this shared machine during the run is stated too.

`chromium_dump_dom` times headless Chromium opening a file until it has rendered it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools.benchlab.fleet import BenchFleet


@dataclass
class Measured:
    argv: list[str]
    rc: int
    wall: float
    user: float
    sys: float
    maxrss_mb: float
    host_cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds of the host side during the run: "sshd" (sshd, sessions, remote
    commands) and "tls" (nginx)."""
    machine_cpu: float = 0.0
    """Busy CPU seconds of the whole machine during the run (/proc/stat)."""
    timed_out: bool = False
    settled: bool = True
    """Every session had ended on the host side when the host CPU was read."""
    stdout: Path | None = None
    stderr: Path | None = None

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    @property
    def other_cpu(self) -> float:
        """Machine CPU not spent by this runner or the host side (other load)."""
        return max(0.0, self.machine_cpu - self.cpu - sum(self.host_cpu.values()))

    def stderr_tail(self, limit: int = 1500) -> str:
        if self.stderr is None:
            return ""
        with contextlib.suppress(OSError):
            return self.stderr.read_bytes()[-limit:].decode(errors="replace").strip()
        return ""


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_in_netns(
    fleet: BenchFleet,
    argv: Sequence[str],
    *,
    out_dir: Path,
    label: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600.0,
    cwd: str | Path | None = None,
) -> Measured:
    """Run argv inside the fleet's network namespace; stdout and stderr go to
    out_dir/label.{out,err}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = out_dir / f"{label}.out", out_dir / f"{label}.err"
    full = ["nsenter", f"--net={fleet.netns_path}", "--", *argv]
    host_before = fleet.host_cpu()
    busy_before = machine_busy()
    expired = threading.Event()
    with open(stdout, "wb") as o, open(stderr, "wb") as e:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=o,
            stderr=e,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )

    def expire() -> None:
        expired.set()
        _killpg(proc.pid)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # Ctrl-C: the runner and whatever it started go first
        _killpg(proc.pid)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(proc.pid, 0)
        proc.returncode = -9
        raise
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    _killpg(proc.pid)  # anything it left behind in its session
    settled = fleet.settle()
    busy_after = machine_busy()
    host_after = fleet.host_cpu()
    return Measured(
        argv=list(argv),
        rc=proc.returncode,
        wall=wall,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,
        host_cpu={k: host_after[k] - host_before.get(k, 0.0) for k in host_after},
        machine_cpu=busy_after - busy_before,
        timed_out=expired.is_set(),
        settled=settled,
        stdout=stdout,
        stderr=stderr,
    )


def run_local(
    argv: Sequence[str],
    *,
    out_dir: Path,
    label: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600.0,
) -> tuple[int, float, Path, Path]:
    """Run argv here (not in the namespace) in its own session: (rc, wall, stdout, stderr)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = out_dir / f"{label}.out", out_dir / f"{label}.err"
    with open(stdout, "wb") as o, open(stderr, "wb") as e:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=o,
            stderr=e,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
        try:
            rc = proc.wait(timeout)
        except BaseException:
            _killpg(proc.pid)
            proc.wait()
            raise
        finally:
            _killpg(proc.pid)
    return rc, time.perf_counter() - t0, stdout, stderr


CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    env = os.environ.get("CERTAUDIT_CHROMIUM")
    if env:
        return env
    return next((c for c in CHROMIUM_CANDIDATES if Path(c).is_file()), None)


def chromium_dump_dom(page: Path, work: Path, timeout: float = 180.0) -> tuple[float, int]:
    """Seconds for a fresh headless Chromium to load `page` and print its DOM (the page's
    script has run by then), and the size of that DOM. Raises RuntimeError on failure."""
    binary = chromium_path()
    if binary is None:
        raise RuntimeError("Chromium not installed (apt-get install -y chromium)")
    profile = work / f"chromium-profile-{time.monotonic_ns()}"
    profile.mkdir(parents=True)
    argv = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]
    rc, wall, out, err = run_local(
        argv, out_dir=work, label=f"chromium-{page.stem}", timeout=timeout
    )
    dom = out.read_bytes()
    if rc != 0 or b"</html>" not in dom.lower():
        tail = err.read_bytes()[-300:].decode(errors="replace")
        raise RuntimeError(f"chromium exit {rc}, {len(dom)} bytes of DOM: {tail}")
    return wall, len(dom)
