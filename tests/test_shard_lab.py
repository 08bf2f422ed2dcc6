"""Scale-out against the lab: `certaudit run --shard K/4` four times (as four runners
would) and `certaudit merge` equal one unsharded `certaudit run` of the same hosts: the
same hosts, certificates (with every location: the blast radius) and findings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from audit.service.shard import shard_of
from tests.lab.netlab import HostSpec
from tests.test_run_lab import run_cli

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = ["sh-a", "sh-b", "sh-c", "sh-d", "sh-e", "sh-f", "sh-g"]


def _doc(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "findings.json").read_text())


def _blast(why: str) -> str:
    m = re.search(r"deployed in \d+ places", why)
    return m.group(0) if m else ""


def _ours(text: str) -> bool:
    """Not under /tmp: the lab hosts share the machine's /tmp and process table, so a web
    server another test session runs there, and the files its configuration names, come
    and go between two runs; what the lab planted is under /etc."""
    return os.path.join(tempfile.gettempdir(), "") not in text


def _shape(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "hosts": [(h["name"], h["outcome"]) for h in doc["hosts"]],
        "certificates": sorted(
            (
                c["sha256"],
                sorted(
                    (loc["host"], loc["path"], loc["index"])
                    for loc in c["locations"]
                    if _ours(loc["path"])
                ),
            )
            for c in doc["certificates"]
            if any(_ours(loc["path"]) for loc in c["locations"])
        ),
        "findings": sorted(
            (f["id"], f["host"], f["subject"], f["severity"], _blast(f["why"]))
            for f in doc["findings"]
            if _ours(f["subject"]) and _ours(f["detail"])
        ),
    }


def test_four_shards_merged_equal_one_unsharded_run(make_lab: Any, tmp_path: Path) -> None:
    assert len({shard_of(h, 4) for h in HOSTS}) >= 3  # the hosts really spread over shards
    specs = [*HOSTS[:-1], HostSpec(HOSTS[-1], allow_tcp_forwarding=False)]
    with make_lab(specs, same_files=True) as lab:
        whole = run_cli(lab, tmp_path / "whole", tmp_path / "whole.db")
        assert whole.returncode == 1, whole.stderr.decode()  # expired certificates
        shards = []
        for k in range(4):
            db = tmp_path / f"shard-{k}.db"
            proc = run_cli(lab, tmp_path / f"out-{k}", db, "--shard", f"{k}/4")
            assert proc.returncode in (0, 1), proc.stderr.decode()
            shards.append(db)
    merged_out = tmp_path / "merged"
    merge = subprocess.run(
        [sys.executable, "-m", "audit", "merge", *map(str, shards)]
        + ["--into", str(tmp_path / "history.db"), "--out", str(merged_out)],
        capture_output=True,
        timeout=120,
    )
    assert merge.returncode == 0, merge.stderr.decode()
    one, merged = _shape(_doc(tmp_path / "whole")), _shape(_doc(merged_out))
    assert merged["hosts"] == one["hosts"]
    assert [h for h, _ in merged["hosts"]] == HOSTS  # inventory order
    assert merged["certificates"] == one["certificates"]
    assert merged["findings"] == one["findings"]
    # the same files are on every host: the blast radius of their certificates is the
    # whole fleet, which no single shard sees
    places = Counter(b for *_, b in merged["findings"] if b)
    assert places and all(int(b.split()[2]) >= len(HOSTS) for b in places), places
    for k in range(4):
        alone = _shape(_doc(tmp_path / f"out-{k}"))
        mine = [h for h in HOSTS if shard_of(h, 4) == k]
        assert [h for h, _ in alone["hosts"]] == mine
