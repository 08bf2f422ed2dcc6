"""`make bench` at fleet scale (tools/bench_fleet.py), run at 3 hosts so the machinery does
not rot: the fleet of loopback aliases comes up, the floor and the whole `certaudit run`
are measured and produce numbers, the reports are sized, re-rendered and opened in
Chromium, and everything the bench started is gone afterwards.

Ansible is measured only when the bench's own venv already has it (nothing is installed
here); otherwise the test asserts that the tables say it was skipped.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tools.benchlab import ansible as ansible_mod
from tools.benchlab.measure import chromium_path

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parent.parent


def test_bench_fleet_at_three_hosts(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    installed = ansible_mod.ansible_bin() is not None
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench_fleet", "--hosts", "3", "--ansible", "auto"]
        + ["--json", str(results)],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=REPO,
    )
    shown = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, shown
    data = json.loads(results.read_text())
    (row,) = data["rows"]
    assert row["hosts"] == 3
    floor, ours, ansible = row["floor"], row["certaudit"], row["ansible"]

    for side in (floor, ours):
        assert side["ok"] == 3, shown
        assert side["errors"] == [], shown
        assert side["wall"] > 0 and side["cpu"] > 0 and side["rss_mb"] > 0
        assert side["host_cpu"] > 0  # the sshd's cgroup (or /proc) saw the sessions
        assert side["certs_per_host"] >= 150  # the CA bundle + the hosts' own files
    assert floor["handshakes_per_host"] == 4
    assert ours["probes_per_host"] >= 4
    assert ours["collection_s"] is not None and ours["collection_s"] > 0
    assert set(ours["reports"]) == {"report.html", "findings.json", "report.xlsx", "metrics.prom"}
    assert all(size > 0 for size in ours["reports"].values())
    assert ours["db_bytes"] > 0
    assert ours["rerender_s"] is not None and ours["rerender_s"] > 0
    if chromium_path() is not None:
        assert ours.get("html_s", 0) > 0, ours.get("html_error")
    else:
        assert "not installed" in ours["html_error"]

    if installed:
        assert ansible["ok"] == 3 and ansible["wall"] > 0, shown
    else:  # said, not silently dropped: the tables and the targets name the skip
        assert ansible["skipped"].startswith("skipped"), ansible
        assert "ansible: skipped" in done.stdout
    for heading in ("=== 3 hosts", "=== summary ===", "=== targets at 3 hosts"):
        assert heading in done.stdout, shown
    verdicts = {t[0]: t[2] for t in data["targets"]}
    assert verdicts["peak RSS < 300 MB"] in ("PASS", "MISS")

    # Nothing the bench started is left: its namespace, cgroups and folders are gone.
    netns = re.search(r"in netns (cabench-[0-9.]+-[0-9a-f]+)", done.stdout)
    assert netns, shown
    name = netns.group(1)
    assert not Path("/run/netns", name).exists()
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{name}")) + list(
        Path("/sys/fs/cgroup").glob(name)
    )
    assert not list(Path(tempfile.gettempdir()).glob(f"{name}-*"))
