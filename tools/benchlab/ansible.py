"""Ansible for the comparison: ansible-core in a bench-only virtual environment.

The environment lives in ``$XDG_CACHE_HOME/certaudit-bench/ansible-venv`` (default
``~/.cache/...``), made with ``python3 -m venv`` + ``pip install ansible-core``; never in the
project's own .venv. It is kept between runs (delete the folder to refresh it).

The collection is one ad-hoc task: ``ansible fleet -i INV -m ansible.builtin.shell -a 'cat
-- FILES' -f 64`` over the same certificate files the floor reads. Settings are the fastest
common ones, to be fair to Ansible: SSH pipelining on (one ssh per host), no compression,
no interpreter discovery (/usr/bin/python3), ControlMaster=no (every alias a connection of
its own; nothing persists after the run), host keys checked against the bench's
known_hosts. The task's output is written to a file, as a collection would keep it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

_RESULT = re.compile(rb"^(\S+) \| (CHANGED|SUCCESS|FAILED|UNREACHABLE!)", re.M)


def venv_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "certaudit-bench" / "ansible-venv"


def ansible_bin() -> Path | None:
    """The ansible executable of the bench venv, when it is installed."""
    path = venv_dir() / "bin" / "ansible"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def install() -> Path:
    """Create the bench-only venv and install ansible-core into it (a few seconds with a
    warm pip cache). Raises RuntimeError with pip's last words on failure."""
    existing = ansible_bin()
    if existing is not None:
        return existing
    python = shutil.which("python3") or "/usr/bin/python3"
    target = venv_dir()
    if target.exists():
        shutil.rmtree(target)  # a half-made venv from an interrupted install
    target.parent.mkdir(parents=True, exist_ok=True)
    for argv in (
        [python, "-m", "venv", str(target)],
        [
            str(target / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "ansible-core",
        ],
    ):
        done = subprocess.run(argv, capture_output=True, timeout=900)
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise RuntimeError(
                f"{' '.join(argv[:3])}: {done.stderr.decode(errors='replace')[-800:]}"
            )
    found = ansible_bin()
    if found is None:
        raise RuntimeError(f"ansible-core installed but {target}/bin/ansible is missing")
    return found


def version(binary: Path) -> str:
    done = subprocess.run([str(binary), "--version"], capture_output=True, timeout=60)
    first = done.stdout.decode(errors="replace").splitlines()[:1]
    return first[0].strip() if first else "?"


def config(work: Path) -> Path:
    """ansible.cfg for the bench (see the module docstring)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "local-tmp").mkdir(exist_ok=True)
    cfg = work / "ansible.cfg"
    cfg.write_text(
        "[defaults]\n"
        "forks = 64\n"
        "host_key_checking = True\n"
        "interpreter_python = /usr/bin/python3\n"
        f"local_tmp = {work / 'local-tmp'}\n"
        "retry_files_enabled = False\n"
        "nocolor = True\n"
        "deprecation_warnings = False\n"
        "[ssh_connection]\n"
        "pipelining = True\n"
        "ssh_args = -F /dev/null -o ControlMaster=no -o ControlPath=none\n"
    )
    return cfg


def env(work: Path, cfg: Path) -> dict[str, str]:
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    keep.update(
        {
            "ANSIBLE_CONFIG": str(cfg),
            "HOME": str(home),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
    )
    return keep


def argv(binary: Path, inventory: Path, shell: str, forks: int) -> list[str]:
    return [
        str(binary),
        "fleet",
        "-i",
        str(inventory),
        "-m",
        "ansible.builtin.shell",
        "-a",
        shell,
        "-f",
        str(forks),
    ]


def outcomes(stdout: Path) -> dict[str, int]:
    """Per-host results in the ad-hoc output: {"ok": n, "failed": n, "unreachable": n}."""
    counts = {"ok": 0, "failed": 0, "unreachable": 0}
    with open(stdout, "rb") as f:
        for line in f:
            m = _RESULT.match(line)
            if not m:
                continue
            state = m.group(2)
            if state in (b"CHANGED", b"SUCCESS"):
                counts["ok"] += 1
            elif state == b"FAILED":
                counts["failed"] += 1
            else:
                counts["unreachable"] += 1
    return counts
