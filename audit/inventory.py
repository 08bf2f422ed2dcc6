"""Ansible inventories (INI, YAML, directories) -> model.Host. Nothing here executes.

Contract: `load_inventory` returns an `Inventory` or raises `InventoryError` naming the
file and, where there is one, the line. It never raises anything else for bad input, never
prints, never runs a program, never decrypts a vault and never keeps a password.

What is read, as Ansible reads it:

- INI: `[group]`, `[group:vars]`, `[group:children]`, hosts before any section (ungrouped),
  inline `key=value` host variables (shell-style quoting), `#`/`;` comment lines, CRLF,
  `host:port`, `[ipv6]:port`, bare IPv6, ranges `web[01:20]`, `[a:c]`, `[1:10:2]`.
- YAML: `all: {hosts: {name: vars-or-null}, vars: {...}, children: {group: {...}}}`,
  nested to any depth; other top-level keys are groups below `all`. `!vault` values are
  ignored with a warning, `!unsafe` is read as plain text.
- A directory: every non-hidden file in sorted order (recursively), except backups and
  docs (`~`, .bak, .orig, .retry, .swp, .md, .rst, .txt, .cfg...). Unlike Ansible, `.ini`
  files in a directory are read. Scripts are skipped with a warning.
- `group_vars/` and `host_vars/` beside the inventory file (or inside the inventory
  directory): `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` (the first that exists) or a
  `NAME/` directory of such files.

Variables used: ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file,
ansible_become, their legacy forms ansible_ssh_host, ansible_ssh_port, ansible_ssh_user,
ansible_private_key_file, and the audit's own certaudit_cert_paths, certaudit_tls_names,
certaudit_tls_ports, certaudit_probe_direct. Other variables are ignored silently, except
those below, which are ignored with a warning naming file:line (never their value):
passwords and other secrets, ssh argument and executable overrides, values mentioning
ProxyCommand/ProxyJump, vault-encrypted values, Jinja2 templates, unsupported
ansible_connection types and unknown certaudit_ variables.

Precedence, lowest first; a later layer overrides an earlier one (Ansible's order):

1. Group variables written in the inventory files, group by group, sorted by
   (depth, ansible_group_priority, name): `all` first (depth 0); a child group is deeper
   than each of its parents so it overrides them; between groups of equal depth the
   higher ansible_group_priority (default 1), then the alphabetically later name, wins.
2. group_vars/all.
3. group_vars/GROUP for the host's other groups, in the same order as 1.
4. Host variables written in the inventory files (inline on host lines, or under a host
   in YAML); when a host is defined more than once, the later definition wins. A port
   written as `host:port` is a host variable of that line.
5. host_vars/HOST.

So group_vars files override group variables written in the inventory file, as in
Ansible. Legacy names (ansible_ssh_host...) are the same setting as their modern names:
whichever is written in the higher layer (or later in the same layer) wins.

When the address, port or user of a host is set to different values by definitions that
do not override each other on purpose (two host definitions, or two groups neither of which
is a parent of the other), the order above still decides, and a warning names every
location and the endpoint that will be audited.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import ipaddress
import itertools
import math
import os
import re
import shlex
import stat
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from audit.errors import InventoryError
from audit.model import Host

MAX_FILE_BYTES = 16 * 1024 * 1024
"""An inventory or vars file larger than this is refused (bounded memory)."""
MAX_HOSTS = 100_000
"""Upper bound on hosts, also on what one range pattern may expand to."""
MAX_DIR_DEPTH = 8
"""How deep an inventory directory is read."""

_YAML_EXTS = frozenset({".yml", ".yaml", ".json"})
_STATIC_EXTS = _YAML_EXTS | {".ini"}
_SCRIPT_EXTS = frozenset({".py", ".sh", ".bash", ".pl", ".rb", ".php", ".js", ".ps1", ".exe"})
_IGNORED_EXTS = frozenset(
    {".orig", ".bak", ".retry", ".pyc", ".pyo", ".swp", ".md", ".rst", ".txt", ".cfg", ".rpm"}
)
_VARS_FILE_EXTS = ("", ".yml", ".yaml", ".json")

_FIELDS = {
    "ansible_host": "address",
    "ansible_ssh_host": "address",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "key_file",
    "ansible_private_key_file": "key_file",
    "ansible_become": "become",
    "certaudit_cert_paths": "cert_paths",
    "certaudit_tls_names": "tls_names",
    "certaudit_tls_ports": "tls_ports",
    "certaudit_probe_direct": "probe_direct",
}
_CERTAUDIT_VARS = sorted(k for k in _FIELDS if k.startswith("certaudit_"))
_CONNECTION_FIELDS = ("address", "port", "user")
_EXEC_VARS = frozenset(
    {
        "ansible_ssh_common_args",
        "ansible_ssh_extra_args",
        "ansible_ssh_args",
        "ansible_sftp_extra_args",
        "ansible_scp_extra_args",
        "ansible_ssh_executable",
        "ansible_ssh_proxy_command",
        "ansible_paramiko_proxy_command",
        "ansible_become_exe",
        "ansible_become_flags",
        "ansible_shell_executable",
    }
)
_SSH_CONNECTIONS = frozenset(
    {"ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh", "ansible.legacy.ssh"}
)
_SECRET_WORD = re.compile(r"pass|secret|token|vault|credential", re.IGNORECASE)
_PROXY_WORD = re.compile(r"proxy_?(?:command|jump)(?=\s*[=\s:'\"]|$)", re.IGNORECASE)
"""ssh's ProxyCommand/ProxyJump used as an option (not a host called proxyjump01)."""
_VAULT_HEADER = "$ANSIBLE_VAULT;"
_TRUE = frozenset({"true", "yes", "y", "on", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "off", "0", "f"})

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:[#;].*)?$")
_BRACKETED_HOSTPORT = re.compile(r"^\[([^\[\]]+)\]:([0-9]+)$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\[\]]*\])+):([0-9]+)$")
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_DIGITS = re.compile(r"[0-9]{1,9}")
_HOSTNAME = re.compile(r"\w[\w.-]*")
_USER = re.compile(r"\w[\w.@$\\-]*")
_LOOKS_LIKE_YAML = re.compile(r"^(?:---|%YAML|\{|[\w.-]+:(?:\s|$))")
_LIMIT_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")


@dataclass(frozen=True)
class Inventory:
    """The hosts an inventory defines, ready to audit, with what was ignored and why."""

    path: str
    """The inventory file or directory, as given."""
    hosts: tuple[Host, ...]
    """Every host (after --limit), in order of first appearance in the inventory."""
    warnings: tuple[str, ...] = ()
    """What was ignored or ambiguous; each begins with "file:line: ". No secret values."""
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """Every group (including `all` and `ungrouped`) -> names of its hosts, direct or via
    child groups, in host order. Groups without hosts are kept."""


# --------------------------------------------------------------------------- locations


@dataclass(frozen=True)
class _Loc:
    """Where something was written."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


def _fail(loc: _Loc, message: str, hint: str = "") -> NoReturn:
    raise InventoryError(loc.path, loc.line, message, hint=hint)


def _show(value: object, limit: int = 60) -> str:
    """A value quoted for a message: control characters escaped, long text cut."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return f"a {type(value).__name__}" if value is not None else "an empty value"
    if isinstance(value, int) and value.bit_length() > 128:
        return "a very large number"
    if isinstance(value, (int, float)):
        return str(value)[:limit]
    text = value
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def _safe_echo(text: str) -> str:
    """Echo inventory text in an error unless it may carry a secret."""
    if _SECRET_WORD.search(text):
        return "(not shown: the line may hold a secret)"
    return _show(text)


# --------------------------------------------------------------------------- the builder


@dataclass(frozen=True)
class _Setting:
    """One accepted value for one Host field, and where it was set."""

    field: str
    value: Any
    var: str
    loc: _Loc
    scope: str
    """What set it, for messages: "[web:vars]", "host line in [db]", "group_vars"..."""

    def where(self) -> str:
        return f"{self.loc} ({self.scope})"


@dataclass
class _Group:
    name: str
    declared: bool = False
    vars_loc: _Loc | None = None
    """First [name:vars] section, to report it if the group is never defined."""
    settings: list[_Setting] = field(default_factory=list)
    file_settings: list[_Setting] = field(default_factory=list)
    priority: int = 1


@dataclass
class _HostEntry:
    name: str
    loc: _Loc
    groups: list[str] = field(default_factory=list)
    settings: list[_Setting] = field(default_factory=list)
    file_settings: list[_Setting] = field(default_factory=list)


class _Builder:
    """Everything read so far, across files, before precedence is applied."""

    def __init__(self) -> None:
        self.groups: dict[str, _Group] = {}
        self.hosts: dict[str, _HostEntry] = {}
        self.edges: dict[tuple[str, str], _Loc] = {}
        self.warnings: dict[str, None] = {}
        for name in ("all", "ungrouped"):
            self.group(name).declared = True

    def warn(self, loc: _Loc, message: str) -> None:
        self.warnings.setdefault(f"{loc}: {message}", None)

    def group(self, name: str) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group(name)
        return self.groups[name]

    def declare(self, name: str, loc: _Loc) -> _Group:
        _check_group_name(name, loc)
        group = self.group(name)
        group.declared = True
        return group

    def add_child(self, parent: str, child: str, loc: _Loc) -> None:
        _check_group_name(child, loc)
        if child == "all":
            _fail(loc, f"group 'all' cannot be a child of {parent!r}: it contains everything")
        if child == parent:
            _fail(loc, f"group {child!r} cannot be its own child")
        self.group(child)
        self.edges.setdefault((parent, child), loc)

    def add_host(self, name: str, loc: _Loc, group: str, settings: list[_Setting]) -> None:
        entry = self.hosts.get(name)
        if entry is None:
            if len(self.hosts) >= MAX_HOSTS:
                _fail(loc, f"more than {MAX_HOSTS} hosts")
            entry = self.hosts[name] = _HostEntry(name, loc)
        if group not in entry.groups:
            entry.groups.append(group)
        entry.settings.extend(settings)


def _check_group_name(name: str, loc: _Loc) -> None:
    if not name or any(c.isspace() or not c.isprintable() for c in name):
        _fail(loc, f"{_show(name)} is not a valid group name")


# --------------------------------------------------------------------------- values


class _Bad(Exception):
    """A value that cannot be used; the message says why (never echoes secrets)."""


def _walk(value: object, limit: int = 10_000) -> Iterator[object]:
    """Every leaf of a YAML value, each container visited once (aliases, cycles)."""
    seen: set[int] = set()
    stack = [value]
    while stack and limit > 0:
        item = stack.pop()
        limit -= 1
        if isinstance(item, (list, tuple, dict)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
        else:
            yield item


class _Vaulted:
    """Stands for a `!vault` value; the ciphertext is not kept."""

    def __repr__(self) -> str:
        return "<vault-encrypted>"


_VAULTED = _Vaulted()


def _is_vaulted(value: object) -> bool:
    return any(
        leaf is _VAULTED or (isinstance(leaf, str) and leaf.lstrip().startswith(_VAULT_HEADER))
        for leaf in _walk(value)
    )


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Bad(f"expected text, got {_show(value)}")
    return str(value).strip()


def _conv_port(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise _Bad(f"{_show(value)} is not a port number (1-65535)")
    if not 1 <= number <= 65535:
        raise _Bad(f"{number} is not a port number (1-65535)")
    return number


def _conv_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _Bad(f"{_show(value)} is not a boolean (use true or false)")


def _normalize_address(text: str) -> str | None:
    """An IP literal (brackets removed, IPv6 compressed) or a host name; None if neither."""
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else None
    try:
        address = ipaddress.ip_address(inner if inner is not None else text)
    except ValueError:
        address = None
    if address is not None:
        if inner is not None and address.version != 6:
            return None
        return str(address)
    if inner is None and len(text) <= 253 and _HOSTNAME.fullmatch(text):
        return text
    return None


def _conv_address(value: object) -> str:
    text = _text(value)
    address = _normalize_address(text)
    if address is None:
        raise _Bad(f"{_show(text)} is not a host name or IP address")
    return address


def _conv_user(value: object) -> str:
    text = _text(value)
    if not text or len(text) > 256 or not _USER.fullmatch(text):
        raise _Bad(f"{_show(text)} is not a user name")
    return text


def _conv_key_file(value: object) -> str:
    text = _text(value)
    if not text or any(c in text for c in "\0\n\r"):
        raise _Bad(f"{_show(text)} is not a file path")
    return os.path.expanduser(text)


def _conv_cert_path(value: object) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{_show(value)} is not a path")
    text = value.strip()
    if not text.startswith("/") or len(text) > 4096 or any(c in text for c in "\0\n\r"):
        raise _Bad(f"{_show(text)} is not an absolute path")
    return text


def _conv_tls_name(value: object) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{_show(value)} is not a host name")
    text = value.strip()
    if len(text) > 253 or not _HOSTNAME.fullmatch(text):
        raise _Bad(f"{_show(text)} is not a host name to send as SNI")
    return text


def _literal_list(text: str) -> list[object]:
    """A Python/JSON list literal written in an INI value, e.g. "['a', 'b']" or "[443]"."""
    if len(text) > 65536:
        raise _Bad("the list is too long")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise _Bad(f"{_show(text)} is not a list") from None
    if not isinstance(value, (list, tuple)):
        raise _Bad(f"{_show(text)} is not a list")
    return list(value)


def _conv_list(value: object, item: Any) -> tuple[Any, ...]:
    """A YAML list, a comma-separated string or a list literal -> unique items, in order."""
    if value is None:
        items: list[object] = []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            items = _literal_list(text)
        else:
            items = [part.strip() for part in text.split(",") if part.strip()]
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise _Bad(f"expected a list or comma-separated text, got {_show(value)}")
    return tuple(dict.fromkeys(item(raw) for raw in items))


_CONVERTERS: dict[str, Any] = {
    "address": _conv_address,
    "port": _conv_port,
    "user": _conv_user,
    "key_file": _conv_key_file,
    "become": _conv_bool,
    "cert_paths": lambda v: _conv_list(v, _conv_cert_path),
    "tls_names": lambda v: _conv_list(v, _conv_tls_name),
    "tls_ports": lambda v: _conv_list(v, _conv_port),
    "probe_direct": _conv_bool,
}


def _accept_var(b: _Builder, key: str, value: object, loc: _Loc, scope: str) -> _Setting | None:
    """One variable definition -> a Setting, or None (ignored, with a warning if it matters).

    Secret values never reach a message: only the variable's name is ever mentioned.
    """
    ours = key.startswith(("ansible_", "certaudit_"))
    if ours and _SECRET_WORD.search(key):
        b.warn(
            loc,
            f"{key} ignored: certaudit never uses passwords or secrets from the "
            "inventory (value not shown); use SSH keys or an agent",
        )
        return None
    if key in _EXEC_VARS:
        b.warn(
            loc,
            f"{key} ignored: certaudit never passes inventory text to ssh or to a "
            "shell (it could run commands on this machine)",
        )
        return None
    if _is_vaulted(value):
        b.warn(
            loc, f"{key} is vault-encrypted and ignored: certaudit does not decrypt vault values"
        )
        return None
    if not ours:
        return None
    if any(isinstance(leaf, str) and _PROXY_WORD.search(leaf) for leaf in _walk(value)):
        b.warn(
            loc,
            f"{key} ignored: it mentions ProxyCommand/ProxyJump, and certaudit never "
            "runs proxy commands from the inventory",
        )
        return None
    if key == "ansible_connection":
        if not (isinstance(value, str) and value.strip().lower() in _SSH_CONNECTIONS):
            b.warn(
                loc, f"ansible_connection={_show(value)} ignored: certaudit connects over SSH only"
            )
        return None
    name = _FIELDS.get(key)
    if name is None:
        if key.startswith("certaudit_"):
            close = difflib.get_close_matches(key, _CERTAUDIT_VARS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            b.warn(loc, f"unknown variable {key} ignored{hint}")
        elif key == "ansible_group_priority":
            b.warn(
                loc,
                "ansible_group_priority ignored: it only takes effect in group "
                "variables written in the inventory file",
            )
        return None
    if any(isinstance(leaf, str) and ("{{" in leaf or "{%" in leaf) for leaf in _walk(value)):
        b.warn(
            loc,
            f"{key} ignored: it is a Jinja2 template, and certaudit does not evaluate templates",
        )
        return None
    try:
        typed = _CONVERTERS[name](value)
    except _Bad as exc:
        _fail(loc, f"{key}: {exc}")
    return _Setting(name, typed, key, loc, scope)


def _group_var(b: _Builder, group: str, key: str, value: object, loc: _Loc, scope: str) -> None:
    """A group variable from an inventory file (where ansible_group_priority counts)."""
    if key == "ansible_group_priority":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            _fail(loc, f"ansible_group_priority: {_show(value)} is not a whole number")
        text = str(value).strip()
        if not re.fullmatch(r"-?[0-9]{1,9}", text):
            _fail(loc, f"ansible_group_priority: {_show(value)} is not a whole number")
        b.group(group).priority = int(text)
        return
    setting = _accept_var(b, key, value, loc, scope)
    if setting is not None:
        b.group(group).settings.append(setting)


# --------------------------------------------------------------------------- host patterns


def _range_items(body: str, pattern: str, loc: _Loc) -> list[str]:
    """`01:20`, `a:c`, `1:10:2` -> the items of one bracketed range."""
    bounds = body.split(":")
    where = f"range [{body}] in {_show(pattern)}"
    if len(bounds) not in (2, 3):
        _fail(loc, f"{where} must be [start:end] or [start:end:step]")
    start, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not _DIGITS.fullmatch(step_text) or int(step_text) == 0:
        _fail(loc, f"{where}: the step must be a positive whole number")
    step = int(step_text)
    letters = string.ascii_letters
    if len(start) == 1 and len(end) == 1 and start in letters and end in letters:
        first, last = letters.index(start), letters.index(end)
        if first > last:
            _fail(loc, f"{where}: the start comes after the end")
        return list(letters[first : last + 1 : step])
    if not (_DIGITS.fullmatch(start) and _DIGITS.fullmatch(end)):
        _fail(loc, f"{where}: the bounds must be both numbers or both single letters")
    first, last = int(start), int(end)
    if first > last:
        _fail(loc, f"{where}: the start comes after the end")
    width = len(start) if start.startswith("0") and len(start) > 1 else 0
    if width and len(end) != width:
        _fail(
            loc,
            f"{where}: a zero-padded range needs a start and an end of the same width",
            hint="write e.g. web[01:50] or web[001:100]",
        )
    numbers = range(first, last + 1, step)
    if len(numbers) > MAX_HOSTS:
        _fail(loc, f"{where} expands to more than {MAX_HOSTS} hosts")
    return [str(n).zfill(width) for n in numbers]


def _expand_ranges(pattern: str, loc: _Loc) -> list[str]:
    parts = _RANGE.split(pattern)
    literals, bodies = parts[0::2], parts[1::2]
    if any("[" in lit or "]" in lit for lit in literals):
        _fail(loc, f"unbalanced brackets in host pattern {_show(pattern)}")
    if not bodies:
        return [pattern]
    choices = [_range_items(body, pattern, loc) for body in bodies]
    if math.prod(len(c) for c in choices) > MAX_HOSTS:
        _fail(loc, f"host pattern {_show(pattern)} expands to more than {MAX_HOSTS} hosts")
    names = []
    for combo in itertools.product(*choices):
        pieces = [literals[0]]
        for item, literal in zip(combo, literals[1:], strict=True):
            pieces += [item, literal]
        names.append("".join(pieces))
    return names


def _ip_literal(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _pattern_port(text: str, pattern: str, loc: _Loc) -> int:
    try:
        return _conv_port(text)
    except _Bad as exc:
        _fail(loc, f"host pattern {_show(pattern)}: {exc}")


def _split_hostpattern(pattern: str, loc: _Loc) -> tuple[list[str], int | None]:
    """`web[01:03].example.com:2222` -> (expanded names, port). IPv6 stays whole."""
    if pattern.strip() == "---":
        _fail(loc, "a line '---' is a sign of YAML", hint="name YAML inventories *.yml")
    if _ip_literal(pattern):
        return [pattern], None
    m = _BRACKETED_HOSTPORT.match(pattern)
    if m and _ip_literal(m.group(1)):
        return [m.group(1)], _pattern_port(m.group(2), pattern, loc)
    if pattern.startswith("[") and pattern.endswith("]") and _ip_literal(pattern[1:-1]):
        return [pattern[1:-1]], None
    port = None
    m = _HOSTPORT.match(pattern)
    if m:
        pattern, port = m.group(1), _pattern_port(m.group(2), pattern, loc)
    elif pattern.endswith(":"):
        _fail(loc, f"host pattern {_show(pattern)} ends in ':' without a port")
    names = _expand_ranges(pattern, loc)
    for name in names:
        bad = any(c.isspace() or not c.isprintable() for c in name)
        if bad or not name or (":" in name and not _ip_literal(name)):
            _fail(
                loc,
                f"{_show(name)} is not a valid host name",
                hint="write host:port, [ipv6]:port, or a bare IPv6 address",
            )
    return names, port


# --------------------------------------------------------------------------- INI


def _lines(text: str) -> list[str]:
    """Split on LF (CRLF and LF both work); other line separators stay inside lines."""
    return text.replace("\r\n", "\n").split("\n")


def _unquote(value: str) -> str:
    """Strip one level of matching quotes, as Ansible's literal_eval of a string does."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value[1:-1]
        return parsed if isinstance(parsed, str) else value[1:-1]
    return value


def _vars_value(raw: str, loc: _Loc) -> str:
    """The value of a `key = value` line: quoted, or cut at a ` #` comment."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote, i = raw[0], 1
        while i < len(raw) and raw[i] != quote:
            i += 2 if raw[i] == "\\" else 1
        if i >= len(raw):
            _fail(loc, "missing closing quote")
        rest = raw[i + 1 :].strip()
        if rest and rest[0] not in "#;":
            _fail(loc, "unexpected text after the closing quote")
        return _unquote(raw[: i + 1])
    return re.split(r"\s#", raw, maxsplit=1)[0].strip()


def _parse_ini_host(b: _Builder, line: str, loc: _Loc, group: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        _fail(loc, f"cannot read host line: {exc}", hint="check the quotes on this line")
    if not tokens:
        return
    secret = _SECRET_WORD.search(line) is not None
    names, port = _split_hostpattern(tokens[0], loc)
    scope = f"host line in [{group}]"
    settings = []
    if port is not None:
        settings.append(_Setting("port", port, "host:port", loc, scope))
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq or not key:
            shown = "(not shown: the line may hold a secret)" if secret else _show(token)
            _fail(
                loc,
                f"expected key=value after the host name, got {shown}",
                hint='quote values that contain spaces: key="a b"',
            )
        setting = _accept_var(b, key, _unquote(value), loc, scope)
        if setting is not None:
            settings.append(setting)
    for name in names:
        b.add_host(name, loc, group, settings)


def _parse_ini_var(b: _Builder, line: str, loc: _Loc, group: str) -> None:
    key, eq, value = line.partition("=")
    key = key.strip()
    if not eq or not key or any(c.isspace() for c in key):
        _fail(loc, f"expected key=value in [{group}:vars], got {_safe_echo(line)}")
    _group_var(b, group, key, _vars_value(value, loc), loc, f"[{group}:vars]")


def _parse_ini(text: str, path: str, b: _Builder) -> None:
    """Ansible's INI inventory; the first lines behave as if under [ungrouped]."""
    group, state = "ungrouped", "hosts"
    for number, raw in enumerate(_lines(text), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        loc = _Loc(path, number)
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "vars", "children"):
                _fail(
                    loc,
                    f"section [{group}:{state}] has an unknown type {state!r}",
                    hint="use [name], [name:vars] or [name:children]",
                )
            if state == "vars":
                _check_group_name(group, loc)
                g = b.group(group)
                g.vars_loc = g.vars_loc or loc
            else:
                b.declare(group, loc)
            continue
        is_ipv6 = line.startswith("[") and _ip_literal(line.split()[0].strip("[]"))
        if line.startswith("[") and not is_ipv6 and line.split("#")[0].rstrip().endswith("]"):
            _fail(
                loc,
                f"invalid section header {_show(line)}",
                hint="write [group], [group:vars] or [group:children], without spaces",
            )
        if state == "hosts":
            _parse_ini_host(b, line, loc, group)
        elif state == "vars":
            _parse_ini_var(b, line, loc, group)
        else:
            m = _GROUP_NAME.match(line)
            if not m:
                _fail(loc, f"expected a group name in [{group}:children], got {_show(line)}")
            b.add_child(group, m.group(1), loc)


# --------------------------------------------------------------------------- YAML


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that knows Ansible's tags: `!vault` (kept opaque), `!unsafe` (text)."""


def _construct_vault(loader: yaml.SafeLoader, node: Node) -> _Vaulted:
    return _VAULTED


def _construct_unsafe(loader: yaml.SafeLoader, node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_sequence(node, deep=True)  # type: ignore[arg-type]


_YamlLoader.add_constructor("!vault", _construct_vault)
_YamlLoader.add_constructor("!vault-encrypted", _construct_vault)
_YamlLoader.add_constructor("!unsafe", _construct_unsafe)


def _yaml_error(path: str, exc: Exception, text: str) -> NoReturn:
    """A YAML error with its line, built from the problem only: PyYAML's own message
    quotes the source line, which may hold a secret."""
    if isinstance(exc, yaml.reader.ReaderError):
        where = text[: max(exc.position, 0)].count("\n") + 1
        _fail(
            _Loc(path, where),
            f"character U+{exc.character:04X} is not allowed in YAML"
            if isinstance(exc.character, int)
            else "invalid character in YAML",
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or "invalid YAML"
    context = getattr(exc, "context", None)
    _fail(_Loc(path, line), f"YAML: {problem}" + (f" ({context})" if context else ""))


_NODE_ERRORS = (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError)


class _YamlReader:
    """Walks the composed YAML nodes (so every name and value has its line)."""

    def __init__(self, loader: _YamlLoader, path: str, b: _Builder, text: str) -> None:
        self.loader, self.path, self.b, self.text = loader, path, b, text
        self.done: set[tuple[str, int]] = set()
        self.own_keys: dict[int, set[int]] = {}
        """Per mapping node, its own key nodes (not those a `<<` merge brought in)."""

    def loc(self, node: Node) -> _Loc:
        return _Loc(self.path, node.start_mark.line + 1)

    def pairs(self, node: MappingNode) -> list[tuple[str, Node, _Loc]]:
        """(key, value node, loc) in order; `<<` merges applied (own keys override merged
        ones silently); a key written twice: the later one wins, as in PyYAML, with a
        warning."""
        if id(node) not in self.own_keys:
            self.own_keys[id(node)] = {id(k) for k, _ in node.value}
            try:
                self.loader.flatten_mapping(node)
            except _NODE_ERRORS as exc:
                _yaml_error(self.path, exc, self.text)
        own = self.own_keys[id(node)]
        out: dict[str, tuple[Node, _Loc]] = {}
        written: set[str] = set()
        for key_node, value_node in node.value:
            loc = self.loc(key_node)
            if not isinstance(key_node, ScalarNode) or not key_node.value.strip():
                _fail(loc, "expected a name as the key")
            key = key_node.value.strip()
            if key in written and id(key_node) in own:
                self.b.warn(
                    loc,
                    f"duplicate key {_show(key)} (also at line "
                    f"{out[key][1].line}); the later one wins",
                )
            out.pop(key, None)
            out[key] = (value_node, loc)
            if id(key_node) in own:
                written.add(key)
        return [(key, value, loc) for key, (value, loc) in out.items()]

    def value(self, node: Node) -> object:
        try:
            data = self.loader.construct_object(node)
            while self.loader.state_generators:  # as BaseConstructor.construct_document
                generators, self.loader.state_generators = self.loader.state_generators, []
                for generator in generators:
                    for _ in generator:
                        pass
            return data
        except yaml.YAMLError as exc:
            _yaml_error(self.path, exc, self.text)
        except (ValueError, TypeError, OverflowError, RecursionError):
            _fail(self.loc(node), "this value cannot be read (bad number, date or nesting)")

    def is_null(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    def top(self, root: Node) -> None:
        if not isinstance(root, MappingNode):
            _fail(
                self.loc(root),
                "the top level must be a mapping of group names",
                hint="start with `all:` and put hosts under `all: hosts:`",
            )
        for name, node, loc in self.pairs(root):
            if name in ("hosts", "vars", "children"):
                self.b.warn(
                    loc,
                    f"top-level key {name!r} is read as a group name; did you mean `all: {name}:`?",
                )
            self.group(name, node, loc, parent=None)

    def group(self, name: str, node: Node, loc: _Loc, parent: str | None) -> None:
        self.b.declare(name, loc)
        if parent is not None:
            self.b.add_child(parent, name, loc)
        if (name, id(node)) in self.done or self.is_null(node):
            return
        self.done.add((name, id(node)))
        if not isinstance(node, MappingNode):
            _fail(loc, f"group {name!r} must be a mapping of hosts, vars and children (or empty)")
        for key, value, key_loc in self.pairs(node):
            if key == "hosts":
                self.hosts(name, value, key_loc)
            elif key == "vars":
                for var, raw, var_loc in self.vars(value, key_loc, f"vars of group {name!r}"):
                    _group_var(self.b, name, var, raw, var_loc, f"vars of group {name}")
            elif key == "children":
                if self.is_null(value):
                    continue
                if not isinstance(value, MappingNode):
                    _fail(key_loc, f"children of group {name!r} must be a mapping of group names")
                for child, child_node, child_loc in self.pairs(value):
                    self.group(child, child_node, child_loc, parent=name)
            else:
                self.b.warn(
                    key_loc,
                    f"unexpected key {_show(key)} in group {name!r} "
                    "ignored: only hosts, vars and children are read",
                )

    def hosts(self, group: str, node: Node, loc: _Loc) -> None:
        if self.is_null(node):
            return
        if not isinstance(node, MappingNode):
            _fail(
                loc,
                f"hosts of group {group!r} must be a mapping of host names",
                hint="write `hosts:` then one `name:` per line (with its variables, or empty)",
            )
        for pattern, host_node, host_loc in self.pairs(node):
            names, port = _split_hostpattern(pattern, host_loc)
            scope = f"host in group {group}"
            settings = (
                [] if port is None else [_Setting("port", port, "host:port", host_loc, scope)]
            )
            for var, raw, var_loc in self.vars(host_node, host_loc, f"host {pattern!r}"):
                setting = _accept_var(self.b, var, raw, var_loc, scope)
                if setting is not None:
                    settings.append(setting)
            for name in names:
                self.b.add_host(name, host_loc, group, settings)

    def vars(self, node: Node, loc: _Loc, what: str) -> list[tuple[str, object, _Loc]]:
        if self.is_null(node):
            return []
        if not isinstance(node, MappingNode):
            _fail(loc, f"the variables of {what} must be a mapping (or empty)")
        return [(key, self.value(value), vloc) for key, value, vloc in self.pairs(node)]


def _compose(text: str, path: str) -> tuple[_YamlLoader, Node | None]:
    try:
        loader = _YamlLoader(text)  # the reader checks every character here
    except yaml.YAMLError as exc:
        _yaml_error(path, exc, text)
    try:
        return loader, loader.get_single_node()
    except yaml.YAMLError as exc:
        loader.dispose()
        _yaml_error(path, exc, text)
    except RecursionError:
        loader.dispose()
        _fail(_Loc(path), "YAML nested too deeply")


def _parse_yaml(text: str, path: str, b: _Builder) -> None:
    loader, root = _compose(text, path)
    try:
        reader = _YamlReader(loader, path, b, text)
        if root is not None and not reader.is_null(root):
            reader.top(root)
    finally:
        loader.dispose()


def _parse_vars_file(text: str, path: str, b: _Builder) -> list[tuple[str, object, _Loc]]:
    """A group_vars/host_vars file: a YAML mapping of variable names to values."""
    loader, root = _compose(text, path)
    try:
        reader = _YamlReader(loader, path, b, text)
        if root is None or reader.is_null(root):
            return []
        if not isinstance(root, MappingNode):
            _fail(reader.loc(root), "a vars file must be a mapping of variable names")
        return reader.vars(root, reader.loc(root), path)
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- files


def _read(path: Path, display: str) -> tuple[bytes, int]:
    """The bytes and mode of a regular file; never blocks on a FIFO or device."""
    loc = _Loc(display)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        _fail(loc, "inventory file not found", hint="give the path to an Ansible inventory")
    except PermissionError:
        _fail(loc, "cannot read the inventory: permission denied")
    except OSError as exc:
        _fail(loc, f"cannot read the inventory: {exc.strerror or exc}")
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            _fail(loc, "not a regular file")
        try:
            data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            _fail(loc, f"cannot read the inventory: {exc.strerror or exc}")
    if len(data) > MAX_FILE_BYTES:
        _fail(loc, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return data, mode


def _decode(data: bytes, display: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        _fail(_Loc(display, line), "not valid UTF-8 text")
    _check_text(text, display)
    return text


def _check_text(text: str, display: str) -> None:
    if "\0" in text:
        _fail(
            _Loc(display, text[: text.index("\0")].count("\n") + 1),
            "a NUL byte: this is not a text inventory",
        )


def _script_reason(path: Path, data: bytes, mode: int) -> str | None:
    """Why this file looks like a dynamic inventory script, or None."""
    ext = path.suffix.lower()
    if data.startswith(b"#!"):
        return "starts with #!"
    if ext in _SCRIPT_EXTS:
        return f"is a {ext} file"
    if mode & 0o111 and ext not in _STATIC_EXTS:
        return "is executable"
    return None


def _format_of(path: Path, text: str) -> Literal["ini", "yaml"]:
    ext = path.suffix.lower()
    if ext in _YAML_EXTS:
        return "yaml"
    if ext == ".ini":
        return "ini"
    for line in _lines(text):
        line = line.strip()
        if line and line[0] not in "#;":
            return "yaml" if _LOOKS_LIKE_YAML.match(line) else "ini"
    return "ini"


def _load_file(path: Path, display: str, b: _Builder, in_dir: bool) -> None:
    loc = _Loc(display)
    data, mode = _read(path, display)
    reason = _script_reason(path, data, mode)
    if reason:
        message = f"looks like a dynamic inventory script ({reason}); scripts are never executed"
        if in_dir:
            b.warn(loc, f"skipped: {message}")
            return
        _fail(
            loc,
            message,
            hint="export its output (ansible-inventory -i SCRIPT --list "
            "--yaml > hosts.yml) and give certaudit that file",
        )
    if mode & 0o111:
        b.warn(loc, "is executable; read as a static inventory, never run")
    text = _decode(data, display)
    if text.lstrip().startswith(_VAULT_HEADER):
        message = "is vault-encrypted; certaudit does not decrypt vault files"
        if in_dir:
            b.warn(loc, f"skipped: {message}")
            return
        _fail(loc, message)
    if _format_of(path, text) == "yaml":
        _parse_yaml(text, display, b)
    else:
        _parse_ini(text, display, b)


def _ignored_name(name: str) -> bool:
    return (
        name.startswith(".") or name.endswith("~") or Path(name).suffix.lower() in (_IGNORED_EXTS)
    )


def _load_dir(path: Path, display: str, b: _Builder, depth: int, seen: set[str]) -> None:
    real = os.path.realpath(path)
    if real in seen or depth > MAX_DIR_DEPTH:
        b.warn(_Loc(display), "skipped: directory loop or nested too deeply")
        return
    seen.add(real)
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        _fail(_Loc(display), f"cannot list the inventory directory: {exc.strerror or exc}")
    for name in names:
        child, child_display = path / name, os.path.join(display, name)
        if _ignored_name(name):
            continue
        if child.is_dir():
            if name not in ("group_vars", "host_vars"):
                _load_dir(child, child_display, b, depth + 1, seen)
        elif child.is_file():
            _load_file(child, child_display, b, in_dir=True)
        else:
            b.warn(_Loc(child_display), "skipped: not a regular file")


def _vars_files(folder: Path, name: str) -> list[Path]:
    """Ansible's lookup: the first of NAME, NAME.yml, NAME.yaml, NAME.json that exists;
    a directory means every vars file inside it, sorted."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return []
    for ext in _VARS_FILE_EXTS:
        candidate = folder / f"{name}{ext}"
        if candidate.is_dir():
            return _dir_vars_files(candidate, 0)
        if candidate.is_file():
            return [candidate]
    return []


def _dir_vars_files(folder: Path, depth: int) -> list[Path]:
    if depth > MAX_DIR_DEPTH:
        return []
    found: list[Path] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    for name in names:
        child = folder / name
        if name.startswith("."):
            continue
        if child.is_dir():
            found += _dir_vars_files(child, depth + 1)
        elif child.is_file() and child.suffix.lower() in _VARS_FILE_EXTS:
            found.append(child)
    return found


def _read_vars_file(path: Path, display: str, b: _Builder) -> list[tuple[str, object, _Loc]]:
    data, _mode = _read(path, display)
    text = _decode(data, display)
    if text.lstrip().startswith(_VAULT_HEADER):
        b.warn(_Loc(display), "skipped: vault-encrypted; certaudit does not decrypt vault files")
        return []
    return _parse_vars_file(text, display, b)


def _load_vars_dirs(base: Path, display: str, b: _Builder) -> None:
    """group_vars/ and host_vars/ beside the inventory, for groups and hosts that exist."""
    group_dir, host_dir = base / "group_vars", base / "host_vars"
    if group_dir.is_dir():
        for group in list(b.groups.values()):
            for path in _vars_files(group_dir, group.name):
                shown = os.path.join(display, os.path.relpath(path, base))
                for key, value, loc in _read_vars_file(path, shown, b):
                    setting = _accept_var(b, key, value, loc, f"group_vars for {group.name}")
                    if setting is not None:
                        group.file_settings.append(setting)
    if host_dir.is_dir():
        for host in b.hosts.values():
            for path in _vars_files(host_dir, host.name):
                shown = os.path.join(display, os.path.relpath(path, base))
                for key, value, loc in _read_vars_file(path, shown, b):
                    setting = _accept_var(b, key, value, loc, "host_vars")
                    if setting is not None:
                        host.file_settings.append(setting)


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class _Graph:
    """Group relations once every file is read."""

    order: tuple[str, ...]
    """Groups in first-appearance order."""
    depth: Mapping[str, int]
    priority: Mapping[str, int]
    ancestors: Mapping[str, frozenset[str]]

    def sort_key(self, name: str) -> tuple[int, int, str]:
        return self.depth[name], self.priority[name], name


def _check_declared(b: _Builder) -> None:
    for (parent, child), loc in b.edges.items():
        if not b.groups[child].declared:
            _fail(
                loc,
                f"[{parent}:children] names group {child!r}, which is never defined",
                hint=f"add a [{child}] section (it may be empty)",
            )
    for group in b.groups.values():
        if group.vars_loc and not group.declared:
            _fail(
                group.vars_loc,
                f"[{group.name}:vars] is for a group that is never defined",
                hint=f"add a [{group.name}] section, or fix the name",
            )


def _graph(b: _Builder) -> _Graph:
    """Depths and ancestors (Kahn's order from `all`); a cycle is an error."""
    parents: dict[str, list[str]] = {name: [] for name in b.groups}
    children: dict[str, list[str]] = {name: [] for name in b.groups}
    for parent, child in b.edges:
        parents[child].append(parent)
        children[parent].append(child)
    for name in b.groups:
        if name != "all" and not parents[name]:
            parents[name].append("all")
            children["all"].append(name)
    waiting = {name: len(parents[name]) for name in b.groups}
    depth: dict[str, int] = {}
    ancestors: dict[str, frozenset[str]] = {}
    ready = ["all"]
    while ready:
        name = ready.pop()
        ps = parents[name]
        depth[name] = max((depth[p] + 1 for p in ps), default=0)
        ancestors[name] = frozenset(ps).union(*(ancestors[p] for p in ps))
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(depth) < len(b.groups):
        _cycle_error(b, parents, depth)
    return _Graph(
        order=tuple(b.groups),
        depth=depth,
        priority={name: g.priority for name, g in b.groups.items()},
        ancestors=ancestors,
    )


def _cycle_error(
    b: _Builder, parents: Mapping[str, list[str]], done: Mapping[str, int]
) -> NoReturn:
    """Name one cycle. Every group left over has a parent that is left over too."""
    path: list[str] = [next(name for name in b.groups if name not in done)]
    while path.count(path[-1]) < 2:
        path.append(next(p for p in parents[path[-1]] if p not in done))
    cycle = path[path.index(path[-1]) :]
    child, parent = cycle[0], cycle[1]
    shown = " -> ".join(reversed(cycle))
    _fail(
        b.edges[(parent, child)],
        f"groups contain each other ({shown}); a group cannot be inside itself",
    )


def _member_of(entry: _HostEntry, graph: _Graph) -> frozenset[str]:
    """Every group the host is in, directly or through a child group; `all` included."""
    direct = [g for g in entry.groups if g not in ("all", "ungrouped")] or ["ungrouped"]
    groups = set(direct) | {"all"}
    for g in direct:
        groups |= graph.ancestors[g]
    return frozenset(groups)


@dataclass(frozen=True)
class _Layered:
    """A setting with its precedence layer (1..5, see the module docstring) and group."""

    layer: int
    group: str | None
    setting: _Setting


def _layers(
    b: _Builder, entry: _HostEntry, member: frozenset[str], graph: _Graph
) -> list[_Layered]:
    ordered = sorted(member, key=graph.sort_key)
    out = [_Layered(1, g, s) for g in ordered for s in b.groups[g].settings]
    out += [_Layered(2, "all", s) for s in b.groups["all"].file_settings]
    out += [_Layered(3, g, s) for g in ordered if g != "all" for s in b.groups[g].file_settings]
    out += [_Layered(4, None, s) for s in entry.settings]
    out += [_Layered(5, None, s) for s in entry.file_settings]
    return out


def _endpoint(address: str, port: int | None, user: str | None) -> str:
    host = f"[{address}]" if ":" in address and port else address
    return f"{user + '@' if user else ''}{host}{f':{port}' if port else ''}"


def _conflict(field_name: str, layered: list[_Layered], graph: _Graph) -> str | None:
    """A message part when one connection field is set to different values by definitions
    that do not deliberately override each other; None otherwise."""
    contenders = [item for item in layered if item.setting.field == field_name]
    if not contenders:
        return None
    winner = contenders[-1]
    if winner.layer == 5:
        return None
    if winner.layer == 4:
        rivals = [c for c in contenders if c.layer == 4]
        reason = "the later host definition wins"
    else:
        assert winner.group is not None
        above = graph.ancestors[winner.group]
        rivals = [
            c
            for c in contenders
            if c.layer < 4 and c.group != winner.group and c.group not in above
        ] + [winner]
        reason = (
            "group precedence: deeper group, then higher ansible_group_priority, "
            "then the alphabetically later name, and group_vars files over the "
            "inventory file"
        )
    values: dict[object, list[str]] = {}
    for item in rivals:
        values.setdefault(item.setting.value, []).append(item.setting.where())
    if len(values) < 2:
        return None
    listed = "; ".join(f"{_show(value)} at {', '.join(wheres)}" for value, wheres in values.items())
    return f"{field_name} {listed} ({reason})"


def _build_host(b: _Builder, entry: _HostEntry, member: frozenset[str], graph: _Graph) -> Host:
    layered = _layers(b, entry, member, graph)
    value: dict[str, Any] = {item.setting.field: item.setting.value for item in layered}
    address = value.get("address")
    if address is None:
        address = _normalize_address(entry.name)
        if address is None:
            _fail(
                entry.loc,
                f"host name {_show(entry.name)} is not a host name or IP "
                "address, and no ansible_host is set",
            )
    host = Host(
        name=entry.name,
        address=address,
        port=value.get("port"),
        user=value.get("user"),
        key_file=value.get("key_file"),
        become=bool(value.get("become", False)),
        groups=tuple(g for g in graph.order if g in member and g != "all"),
        cert_paths=value.get("cert_paths", ()),
        tls_names=value.get("tls_names", ()),
        tls_ports=value.get("tls_ports", ()),
        probe_direct=bool(value.get("probe_direct", False)),
        source=str(entry.loc),
    )
    conflicts = [c for f in _CONNECTION_FIELDS if (c := _conflict(f, layered, graph))]
    if conflicts:
        b.warn(
            entry.loc,
            f"host {entry.name} has conflicting connection settings: "
            f"{' | '.join(conflicts)}; auditing {_endpoint(host.address, host.port, host.user)}",
        )
    return host


def _resolve(b: _Builder, path: str) -> Inventory:
    _check_declared(b)
    graph = _graph(b)
    hosts: list[Host] = []
    members: dict[str, list[str]] = {name: [] for name in graph.order}
    for entry in b.hosts.values():
        if entry.name in b.groups and b.groups[entry.name].declared:
            b.warn(
                entry.loc,
                f"{entry.name!r} is both a host and a group; in --limit it means the host",
            )
        member = _member_of(entry, graph)
        hosts.append(_build_host(b, entry, member, graph))
        for g in member:
            members[g].append(entry.name)
    if not hosts:
        _fail(
            _Loc(path),
            "the inventory defines no hosts",
            hint="an empty inventory would audit nothing; check the path and the file",
        )
    groups = {name: tuple(names) for name, names in members.items()}
    return Inventory(path, tuple(hosts), tuple(b.warnings), MappingProxyType(groups))


# --------------------------------------------------------------------------- --limit


def _limit_terms(pattern: str) -> list[str]:
    """Ansible's split: on commas if there are any, else on colons outside brackets;
    an IP address stays whole."""
    pattern = pattern.strip()
    if "," in pattern:
        parts = pattern.split(",")
    elif _ip_literal(pattern.lstrip("!&")) or pattern.lstrip("!&").startswith("~"):
        parts = [pattern]
    else:
        parts = _LIMIT_TERM.findall(pattern)
    return [part.strip() for part in parts if part.strip()]


_LIMIT_HINT = "host or group names, `a:b` or `a,b`, `&group`, `!group`, `web*`, `~regex`"


class _LimitError(Exception):
    """A --limit pattern that is malformed or selects nothing."""


def _limit_error(message: str) -> NoReturn:
    raise _LimitError(message)


def _match_term(term: str, hosts: Sequence[Host], groups: Mapping[str, Sequence[str]]) -> list[str]:
    """The host names one term selects, in host order."""
    names = [h.name for h in hosts]
    subscript = None
    if not term.startswith("~"):
        m = _SUBSCRIPT.match(term)
        if m:
            term, subscript = m.group(1), m.groups()[1:]
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except (re.error, RecursionError, OverflowError) as exc:
            _limit_error(f"{_show(term)} is not a valid regular expression: {exc}")
        matched_groups = [g for g in groups if regex.match(g)]
        wanted = {n for n in names if regex.match(n)}
    elif term in names:
        matched_groups, wanted = [], {term}
    else:
        matched_groups = [g for g in groups if fnmatch.fnmatchcase(g, term)]
        wanted = set()
        if not matched_groups or any(c in term for c in "*?[."):
            wanted = {n for n in names if fnmatch.fnmatchcase(n, term)}
    for g in matched_groups:
        wanted.update(groups[g])
    selected = [n for n in names if n in wanted]
    if subscript is not None:
        selected = _apply_subscript(selected, subscript)
    return selected


def _apply_subscript(names: list[str], subscript: Sequence[str | None]) -> list[str]:
    """Ansible's `group[0]`, `group[-1]`, `group[1:3]` (inclusive), `group[2:]`."""
    single, start, _sep, end = subscript
    if single is not None:
        index = int(single)
        return [names[index]] if -len(names) <= index < len(names) else []
    first = int(start or 0)
    last = int(end) if end else len(names) - 1
    return names[first : last + 1]


def select(
    hosts: Sequence[Host], pattern: str, groups: Mapping[str, Sequence[str]]
) -> tuple[Host, ...]:
    """The hosts an Ansible `--limit` pattern selects, in inventory order.

    `groups` maps every group name to its hosts' names (`Inventory.groups`). Terms are
    separated by `,` (or `:`); a term is a host or group name, a `*`/`?` wildcard or a
    `~regex` (matched from the start), optionally with a subscript `[0]`, `[-1]`, `[0:2]`.
    Plain terms are united, then `&term`s intersect, then `!term`s remove; with only `&`
    and `!` terms the start is every host. An exact host name means that host, even when
    a group has the same name. Unlike Ansible (which only warns), a plain or `&` term that
    matches no host is an error: an audit that quietly skips hosts is worse than none.
    Raises InventoryError (path "--limit") for an empty or bad pattern and when nothing
    is selected.
    """
    try:
        return _select(hosts, pattern, groups)
    except _LimitError as exc:
        raise InventoryError("--limit", None, str(exc), hint=_LIMIT_HINT) from None


def _select(
    hosts: Sequence[Host], pattern: str, groups: Mapping[str, Sequence[str]]
) -> tuple[Host, ...]:
    terms = _limit_terms(pattern)
    if not terms:
        _limit_error("the pattern is empty")
    plain = [t for t in terms if t[0] not in "&!"]
    selected: set[str] = set() if plain else {h.name for h in hosts}
    for term in plain:
        found = _match_term(term, hosts, groups)
        if not found:
            _limit_error(f"{_show(term)} matches no host or group in the inventory")
        selected.update(found)
    for term in (t for t in terms if t[0] == "&"):
        found = _match_term(term[1:], hosts, groups)
        if not term[1:] or not found:
            _limit_error(f"{_show(term)} matches no host or group in the inventory")
        selected.intersection_update(found)
    for term in (t for t in terms if t[0] == "!"):
        if not term[1:]:
            _limit_error(f"{_show(term)} names nothing to exclude")
        selected.difference_update(_match_term(term[1:], hosts, groups))
    chosen = tuple(h for h in hosts if h.name in selected)
    if not chosen:
        _limit_error(f"{_show(pattern)} leaves no host to audit")
    return chosen


def _apply_limit(inventory: Inventory, limit: str | None) -> Inventory:
    if limit is None:
        return inventory
    try:
        chosen = _select(inventory.hosts, limit, inventory.groups)
    except _LimitError as exc:
        raise InventoryError(inventory.path, None, f"--limit: {exc}", hint=_LIMIT_HINT) from None
    names = {h.name for h in chosen}
    groups = {g: tuple(n for n in members if n in names) for g, members in inventory.groups.items()}
    return Inventory(inventory.path, chosen, inventory.warnings, MappingProxyType(groups))


# --------------------------------------------------------------------------- entry points


def load_inventory(path: str | os.PathLike[str], limit: str | None = None) -> Inventory:
    """Read an Ansible inventory file or directory (plus group_vars/ and host_vars/ beside
    it) and return its hosts, restricted by an Ansible `--limit` pattern if given.

    Raises InventoryError, naming file and line, for a missing, unreadable, binary,
    vault-encrypted or malformed inventory, a dynamic-inventory script (never executed),
    invalid values, an inventory without hosts, and a limit that selects nothing.
    """
    display = os.fspath(path)
    if not display:
        _fail(_Loc("(inventory)"), "no inventory path given")
    top = Path(display)
    b = _Builder()
    if top.is_dir():
        _load_dir(top, display, b, 0, set())
        base, base_display = top, display
    else:
        _load_file(top, display, b, in_dir=False)
        base, base_display = top.parent, os.path.dirname(display)
    _load_vars_dirs(base, base_display, b)
    return _apply_limit(_resolve(b, display), limit)


def loads_inventory(
    text: str,
    *,
    source: str = "<inventory>",
    fmt: Literal["ini", "yaml"] = "ini",
    limit: str | None = None,
) -> Inventory:
    """Like load_inventory, for inventory text already in memory (no group_vars/,
    host_vars/ or directories). `source` names the text in messages and Host.source."""
    if fmt not in ("ini", "yaml"):
        raise ValueError(f"fmt must be 'ini' or 'yaml', not {fmt!r}")
    b = _Builder()
    text = text.removeprefix("\ufeff")
    _check_text(text, source)
    if fmt == "yaml":
        _parse_yaml(text, source, b)
    else:
        _parse_ini(text, source, b)
    return _apply_limit(_resolve(b, source), limit)
