"""Runs ansible-core beside certaudit on the corpus, and resolves its answers the way the
ssh connection plugin would use them.

ansible-core lives in its own virtual environment (`.venv-ansible/`, made by `make
ansible-venv`, which `make test` depends on); without it the parity tests fail, never
skip. Every call runs with a private ANSIBLE_HOME and ANSIBLE_LOCAL_TEMP in a temporary
folder, an empty configuration file and an empty working folder, so nothing on this
machine (an ansible.cfg, ~/.ansible, a group_vars/ beside the working folder) takes part.
The calls are independent and slow (about a second each, mostly start-up), so they run
in a thread pool, several at once.
"""

from __future__ import annotations

import decimal
import ipaddress
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_BIN = REPO / ".venv-ansible" / "bin"
ANSIBLE_VERSION = "2.19"
"""The ansible-core series the Makefile installs and the corpus was checked against."""

UNUSABLE = "<unusable>"
"""A connection setting the ssh connection would fail on (this host only)."""

_WARNING = re.compile(r"^\[WARNING\]: (.*)$")
_UNPARSED = re.compile(r"Unable to parse (.+) as an inventory source")
_NO_MATCH = re.compile(r"Could not match supplied host pattern, ignoring: (.*)$")
_HOSTNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_BOOL_TRUE = {"y", "yes", "on", "1", "true", "t"}
_BOOL_FALSE = {"n", "no", "off", "0", "false", "f"}


class AnsibleMissing(AssertionError):
    """ansible-core is not installed where the Makefile puts it."""


def check_installed() -> str:
    """The `ansible --version` first line; AnsibleMissing (a test failure) otherwise."""
    tool = ANSIBLE_BIN / "ansible"
    if not tool.exists():
        raise AnsibleMissing(
            f"{tool} is missing: the parity suite needs ansible-core in .venv-ansible/; "
            "run `make ansible-venv` (`make test` does it first)"
        )
    out = subprocess.run(
        [str(tool), "--version"], capture_output=True, text=True, check=False, env=_env(None)
    )
    first = out.stdout.splitlines()[0] if out.stdout else out.stderr
    if f"core {ANSIBLE_VERSION}." not in first:
        raise AnsibleMissing(f"expected ansible-core {ANSIBLE_VERSION}.x, found {first!r}")
    return first


def _env(home: Path | None) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    base = home or Path(tempfile.gettempdir())
    cfg = base / "ansible.cfg"
    if home is not None and not cfg.exists():
        cfg.write_text("")
    keep.update(
        {
            "ANSIBLE_HOME": str(base / "home"),
            "ANSIBLE_LOCAL_TEMP": str(base / "tmp"),
            "ANSIBLE_CONFIG": str(cfg),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "PYTHONHASHSEED": "0",
            "LC_ALL": "C.UTF-8",
        }
    )
    return keep


@dataclass(frozen=True)
class Call:
    """One ansible command and what it printed."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def warnings(self) -> list[str]:
        """Each `[WARNING]: ...` line (continuation lines are left out)."""
        return [m.group(1) for line in self.stderr.splitlines() if (m := _WARNING.match(line))]

    @property
    def unparsed(self) -> list[str]:
        """Sources Ansible could not parse and skipped."""
        return [m.group(1) for w in self.warnings if (m := _UNPARSED.search(w))]

    @property
    def unmatched(self) -> list[str]:
        """Limit terms Ansible warned matched nothing."""
        return [m.group(1).strip() for w in self.warnings if (m := _NO_MATCH.search(w))]


def run(argv: Sequence[str], home: Path) -> Call:
    workdir = home / "cwd"
    workdir.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(ANSIBLE_BIN / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        check=False,
        env=_env(home),
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return Call(tuple(argv), done.returncode, done.stdout, done.stderr)


def run_all(argvs: Iterable[Sequence[str]], home: Path, workers: int = 8) -> list[Call]:
    """Every command, several at once; results in the order given."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda a: run(a, home), argvs))


def list_argv(source: Path) -> tuple[str, ...]:
    return ("ansible-inventory", "-i", str(source), "--list")


def host_argv(source: Path, host: str) -> tuple[str, ...]:
    return ("ansible-inventory", "-i", str(source), "--host", host)


def limit_argv(source: Path, pattern: str) -> tuple[str, ...]:
    """`ansible -i SOURCE PATTERN --list-hosts`; a pattern with an `@file` term goes to
    `all --limit PATTERN` instead, the only place Ansible reads limit files. Both select
    through the same code (terms split, then plain, `&` and `!` terms applied in that
    order); only the order of the listing differs, and hosts are compared as sets."""
    if "@" in pattern:
        return ("ansible", "-i", str(source), "all", "--limit", pattern, "--list-hosts")
    return ("ansible", "-i", str(source), pattern, "--list-hosts")


def listed_hosts(call: Call) -> list[str] | None:
    """The hosts `--list-hosts` printed, or None when Ansible refused."""
    if call.returncode != 0:
        return None
    lines = call.stdout.splitlines()
    if not lines or not lines[0].strip().startswith("hosts ("):
        return None
    return [line.strip() for line in lines[1:] if line.strip()]


@dataclass(frozen=True)
class Listing:
    """`ansible-inventory --list`, read back."""

    hostvars: Mapping[str, Mapping[str, Any]]
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """host -> every group it is in, directly or through children (`all` left out)."""


def read_listing(call: Call) -> Listing:
    doc = json.loads(call.stdout)
    hostvars = doc.get("_meta", {}).get("hostvars", {})
    direct: dict[str, list[str]] = {}
    parents: dict[str, set[str]] = {}
    for group, body in doc.items():
        if group == "_meta" or not isinstance(body, dict):
            continue
        for host in body.get("hosts", []):
            direct.setdefault(host, []).append(group)
        for child in body.get("children", []):
            parents.setdefault(child, set()).add(group)
    names = set(hostvars) | set(direct)

    def ancestors(group: str, seen: set[str]) -> set[str]:
        for parent in parents.get(group, ()):
            if parent not in seen:
                seen.add(parent)
                ancestors(parent, seen)
        return seen

    groups = {}
    for host in names:
        member: set[str] = set()
        for g in direct.get(host, []):
            member |= {g} | ancestors(g, set())
        groups[host] = frozenset(member - {"all"})
    return Listing({h: hostvars.get(h, {}) for h in names}, groups)


def _last(hostvars: Mapping[str, Any], names: Sequence[str]) -> Any:
    """The ssh plugin's rule for an option with several variables: the last one in its
    list that is defined wins (so the legacy ansible_ssh_* names beat the modern ones)."""
    value = None
    for name in names:
        if name in hostvars:
            value = hostvars[name]
    return value


def _port(value: Any) -> object:
    """The plugin's `int` option type (whole numbers, also as text), then ssh's 1-65535."""
    if value is None:
        return None
    if isinstance(value, bool):
        return UNUSABLE
    try:
        number = decimal.Decimal(value) if not isinstance(value, int) else decimal.Decimal(value)
        if number != int(number):
            return UNUSABLE
    except (decimal.DecimalException, TypeError, ValueError):
        return UNUSABLE
    port = int(number)
    return port if 1 <= port <= 65535 else UNUSABLE


def _bool(value: Any) -> object:
    """Ansible's strict boolean (a task fails on anything else)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return {1: True, 0: False}.get(value, UNUSABLE)  # type: ignore[call-overload]
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _BOOL_TRUE:
            return True
        if word in _BOOL_FALSE:
            return False
    return UNUSABLE


def _address(value: Any, name: str) -> object:
    """The host ssh is given, compared as an address: IPv6 compressed, brackets off. Text
    that is neither a host name nor an IP address cannot be connected to."""
    text = name if value is None else value
    if not isinstance(text, (str, int)) or isinstance(text, bool):
        return UNUSABLE
    text = str(text).strip()
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(inner))
    except ValueError:
        pass
    if inner is text and len(text) <= 253 and _HOSTNAME.fullmatch(text):
        return text
    return UNUSABLE


def _user(value: Any) -> object:
    """A user ssh can log in as: text without spaces or control characters, not an option.
    An empty one is not passed to ssh at all."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return UNUSABLE
    text = str(value).strip()
    if not text or text.startswith("-") or any(c.isspace() or not c.isprintable() for c in text):
        return UNUSABLE
    return text


def _key(value: Any) -> object:
    if value is None or value == "":
        return None  # the plugin passes no IdentityFile for an empty one
    if not isinstance(value, str) or not value.strip():
        return UNUSABLE
    return os.path.expanduser(value.strip())


def endpoint(name: str, hostvars: Mapping[str, Any]) -> dict[str, object]:
    """How Ansible's ssh connection would reach this host."""
    return {
        "address": _address(
            _last(
                {k: v for k, v in hostvars.items() if v != ""}, ("ansible_host", "ansible_ssh_host")
            ),
            name,
        ),
        "port": _port(_last(hostvars, ("ansible_port", "ansible_ssh_port"))),
        "user": _user(_last(hostvars, ("ansible_user", "ansible_ssh_user"))),
        "key_file": _key(
            _last(hostvars, ("ansible_private_key_file", "ansible_ssh_private_key_file"))
        ),
        "become": _bool(hostvars.get("ansible_become")),
    }
