"""Inventory variables -> typed Host fields, and which variables are refused.

Variables used: ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file,
ansible_become, their other forms ansible_ssh_host, ansible_ssh_port, ansible_ssh_user,
ansible_private_key_file, and the audit's own certaudit_cert_paths, certaudit_tls_names,
certaudit_tls_ports, certaudit_probe_direct. Other variables are ignored silently, except
those below, which are ignored with a warning naming file:line (never their value):
passwords and other secrets, ssh argument and executable overrides, unsupported
ansible_connection types and unknown certaudit_ variables. Values certaudit cannot use —
vault-encrypted, Jinja2 templates, text mentioning ProxyCommand/ProxyJump — are kept as
refused, with a warning: a host that takes a connection setting from one is not audited.

Each variable is resolved on its own (precedence module); a field then takes the first of
its variables that is defined, in `_FIELD_VARS` order. That is the ssh connection's rule:
`ansible_ssh_host` beats `ansible_host`, `ansible_ssh_port` beats `ansible_port`,
`ansible_ssh_user` beats `ansible_user` and `ansible_ssh_private_key_file` beats
`ansible_private_key_file`, whatever level each is set at. A value that cannot be
converted makes that host unusable (`_Bad`), as Ansible fails only that host.
"""

from __future__ import annotations

import ast
import decimal
import difflib
import ipaddress
import os
import re
from collections.abc import Iterator
from typing import Any

from audit.inventory.builder import _Builder, _fail, _Loc, _Setting, _show

_FIELD_VARS: dict[str, tuple[str, ...]] = {
    "address": ("ansible_ssh_host", "ansible_host"),
    "port": ("ansible_ssh_port", "ansible_port"),
    "user": ("ansible_ssh_user", "ansible_user"),
    "key_file": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    "become": ("ansible_become",),
    "cert_paths": ("certaudit_cert_paths",),
    "tls_names": ("certaudit_tls_names",),
    "tls_ports": ("certaudit_tls_ports",),
    "probe_direct": ("certaudit_probe_direct",),
}
"""Host field -> the variables that set it, the one that wins first."""
_FIELDS = {var: name for name, names in _FIELD_VARS.items() for var in names}
_CONNECTION = frozenset({"address", "port", "user", "key_file", "become"})
_CERTAUDIT_VARS = sorted(k for k in _FIELDS if k.startswith("certaudit_"))
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

_DIGITS = re.compile(r"[0-9]{1,9}")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?")
_HOSTNAME = re.compile(r"\w[\w.-]*")
_USER = re.compile(r"\w[\w.@$\\-]*")


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
    """A whole number, also written as text or as 2222.0 (as Ansible's int options take
    it), that is a TCP port."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Bad(f"{_show(value)} is not a port number (1-65535)")
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and (len(text) > 32 or not _NUMBER.fullmatch(text)):
        raise _Bad(f"{_show(value)} is not a port number (1-65535)")
    try:
        number = decimal.Decimal(text)
        whole = int(number)
    except (decimal.DecimalException, ValueError, OverflowError):
        raise _Bad(f"{_show(value)} is not a port number (1-65535)") from None
    if number != whole or not 1 <= whole <= 65535:
        raise _Bad(f"{_show(value)} is not a port number (1-65535)")
    return whole


def _conv_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
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


def _ip_literal(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
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


def _refusal(key: str, value: object) -> str | None:
    """Why a value of one of our variables cannot be used as written, or None."""
    leaves = list(_walk(value))
    if _is_vaulted(value):
        return "it is vault-encrypted, and certaudit does not decrypt vault values"
    if any(isinstance(leaf, str) and _PROXY_WORD.search(leaf) for leaf in leaves):
        return "it mentions ProxyCommand/ProxyJump, and certaudit never runs proxy commands"
    if any(isinstance(leaf, str) and ("{{" in leaf or "{%" in leaf) for leaf in leaves):
        return "it is a Jinja2 template, and certaudit does not render templates"
    return None


def _accept_var(b: _Builder, key: str, value: object, loc: _Loc, scope: str) -> _Setting | None:
    """One variable definition -> a Setting (value as written), or None (ignored, with a
    warning if it matters).

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
    if key == "ansible_connection":
        if _is_vaulted(value) or not (
            isinstance(value, str) and value.strip().lower() in _SSH_CONNECTIONS
        ):
            b.warn(
                loc, f"ansible_connection={_show(value)} ignored: certaudit connects over SSH only"
            )
        return None
    name = _FIELDS.get(key)
    if name is None:
        if _is_vaulted(value):
            b.warn(loc, f"{key} is vault-encrypted and ignored: certaudit does not decrypt it")
        elif key.startswith("certaudit_"):
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
    refused = _refusal(key, value)
    if refused is not None:
        if name in _CONNECTION:
            b.warn(loc, f"{key}: {refused}; a host that takes its {key} from here is not audited")
        else:
            b.warn(loc, f"{key} ignored: {refused}")
    return _Setting(key, value, loc, scope, refused)


def _convert(field_name: str, value: object) -> Any:
    """A variable's value as the Host field `field_name`; _Bad if it cannot be one."""
    return _CONVERTERS[field_name](value)


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


def _safe_echo(text: str) -> str:
    """Echo inventory text in an error unless it may carry a secret."""
    if _SECRET_WORD.search(text):
        return "(not shown: the line may hold a secret)"
    return _show(text)
