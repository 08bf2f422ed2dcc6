"""Inventory files and directories on disk, and group_vars/ and host_vars/ beside them.

- A file: at most MAX_FILE_BYTES of UTF-8 text, read as Ansible's plugins try it: `.toml`
  as TOML; no extension, `.yml`, `.yaml` or `.json` as YAML, else as INI; anything else
  as INI. When every reading fails, the error shown is the one of the format the text
  looks like. A file that looks like a dynamic inventory script (a `#!` line, a script
  extension, or executable without a static extension) or is a YAML inventory plugin
  configuration (`plugin:`) is refused and never run; a vault-encrypted file is refused.
- A directory: every non-hidden file in sorted order (recursively, at most MAX_DIR_DEPTH
  deep), except backups and docs (`~`, .bak, .orig, .retry, .swp, .md, .rst, .txt,
  .cfg...), as Ansible reads it (`.ini` files included). Scripts and vault files are
  skipped with a warning.
- `group_vars/` and `host_vars/` beside the inventory file (or inside the inventory
  directory): `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` (the first that exists) or a
  `NAME/` directory, for groups and hosts the inventory defines. In such a directory, as
  in Ansible: files without an extension or ending exactly in .yml, .yaml or .json, and
  subdirectories without an extension, recursively; hidden names and `~` backups skipped.
- A byte order mark at the start of an INI file is removed, with a warning (Ansible
  reads it as part of the first line).

Files are opened without blocking, so a FIFO or a device is refused rather than waited on.
"""

from __future__ import annotations

import codecs
import copy
import os
import re
import stat
from pathlib import Path
from typing import Literal

from audit.errors import InventoryError
from audit.inventory.builder import _Builder, _fail, _Loc, _show
from audit.inventory.ini import _lines, _parse_ini
from audit.inventory.tomlfile import _parse_toml
from audit.inventory.values import _VAULT_HEADER, _accept_var
from audit.inventory.yamlfile import _parse_vars_file, _parse_yaml

MAX_FILE_BYTES = 16 * 1024 * 1024
"""An inventory or vars file larger than this is refused (bounded memory)."""

MAX_DIR_DEPTH = 8
"""How deep an inventory directory is read."""

_YAML_EXTS = frozenset({".yml", ".yaml", ".json"})
_STATIC_EXTS = _YAML_EXTS | {".ini", ".toml"}
_PLUGIN_KEY = re.compile(r"^plugin\s*:\s*(\S.*)$", re.MULTILINE)
_SCRIPT_EXTS = frozenset({".py", ".sh", ".bash", ".pl", ".rb", ".php", ".js", ".ps1", ".exe"})
_IGNORED_EXTS = frozenset(
    {".orig", ".bak", ".retry", ".pyc", ".pyo", ".swp", ".md", ".rst", ".txt", ".cfg", ".rpm"}
)
_VARS_FILE_EXTS = ("", ".yml", ".yaml", ".json")

_LOOKS_LIKE_YAML = re.compile(r"^(?:---|%YAML|\{|[\w.-]+:(?:\s|$))")


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


def _format_of(path: Path, text: str) -> Literal["ini", "yaml", "toml"]:
    ext = path.suffix.lower()
    if ext in _YAML_EXTS:
        return "yaml"
    if ext in (".ini", ".toml"):
        return "ini" if ext == ".ini" else "toml"
    for line in _lines(text):
        line = line.strip()
        if line and line[0] not in "#;":
            return "yaml" if _LOOKS_LIKE_YAML.match(line) else "ini"
    return "ini"


def _parse_text(text: str, fmt: Literal["ini", "yaml", "toml"], display: str, b: _Builder) -> None:
    """Inventory text, already decoded and checked, read in the given format."""
    if fmt == "yaml":
        _parse_yaml(text, display, b)
    elif fmt == "toml":
        _parse_toml(text, display, b)
    else:
        _parse_ini(text, display, b)


def _readings(path: Path) -> tuple[Literal["ini", "yaml", "toml"], ...]:
    """The formats Ansible's plugins try on a file, in their order (by extension, case
    and all)."""
    ext = os.path.splitext(path.name)[1]
    if ext == ".toml":
        return ("toml",)
    if ext in ("", *_YAML_EXTS):
        return ("yaml", "ini")
    return ("ini",)


def _parse_file(text: str, path: Path, display: str, b: _Builder) -> str:
    """Read a file as the first format that takes it (see the module doc); the builder is
    left as it was before each reading that fails. Returns the format that took it."""
    readings = _readings(path)
    if len(readings) == 1:
        _parse_text(text, readings[0], display, b)
        return readings[0]
    snapshot = copy.deepcopy(b.__dict__)
    failures: dict[str, InventoryError] = {}
    for fmt in readings:
        try:
            _parse_text(text, fmt, display, b)
            return fmt
        except InventoryError as exc:
            failures[fmt] = exc
            b.__dict__.update(copy.deepcopy(snapshot))
    raise failures.get(_format_of(path, text)) or failures[readings[0]]


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
    plugin = _PLUGIN_KEY.search(text) if path.suffix in (".yml", ".yaml") else None
    if plugin:
        message = (
            f"is an inventory plugin configuration (plugin: {_show(plugin.group(1))}); "
            "inventory plugins are never run"
        )
        if in_dir:
            b.warn(loc, f"skipped: {message}")
            return
        _fail(loc, message, hint="export its output (ansible-inventory -i FILE --list --yaml)")
    fmt = _parse_file(text, path, display, b)
    if fmt == "ini" and data.startswith(codecs.BOM_UTF8):
        b.warn(
            _Loc(display, 1),
            "byte order mark removed (Ansible reads it as part of the first line, "
            "which then names a host or breaks the first section header)",
        )


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
        if name.startswith(".") or name.endswith("~"):
            continue
        ext = os.path.splitext(name)[1]
        if child.is_dir():
            if not ext:
                found += _dir_vars_files(child, depth + 1)
        elif child.is_file() and ext in _VARS_FILE_EXTS:
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


def _load_path(top: Path, display: str, b: _Builder) -> None:
    """An inventory file or directory, then the group_vars/ and host_vars/ beside the
    file (or inside the directory)."""
    if top.is_dir():
        _load_dir(top, display, b, 0, set())
        base, base_display = top, display
    else:
        _load_file(top, display, b, in_dir=False)
        base, base_display = top.parent, os.path.dirname(display)
    _load_vars_dirs(base, base_display, b)
