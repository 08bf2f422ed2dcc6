"""The operator's ssh_config, made safe before asyncssh reads it.

asyncssh runs the command of a `Match exec` condition while it reads ssh_config, and when
it connects it would run a ProxyCommand or load the shared library PKCS11Provider names.
So asyncssh never reads the operator's files: `safe_ssh_config` copies each of them, and
every file they Include, into a private temporary folder, and only the copies are handed
to asyncssh. In a copy

* a `Match` line with an `exec` condition (negated or not) becomes `Match !all`: its block
  never applies, and no command runs to decide it;
* ProxyCommand, LocalCommand, PermitLocalCommand, KnownHostsCommand, PKCS11Provider,
  SecurityKeyProvider, SendEnv, SetEnv, ForwardAgent and ForwardX11 lines are blank
  (asyncssh ignores some of these today; blanking them keeps a later asyncssh from acting
  on them);
* an Include line names the copies of the files it matched (found as asyncssh finds them);
* a line that cannot be split into words is blank (asyncssh would give up on the file).

Every other line is copied unchanged, and lines keep their numbers. Each change is a
warning naming the operator's file and line. Lines are read and split into words exactly as
asyncssh reads and splits them (`_words`), so the line checked here is the line asyncssh
acts on.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shlex
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REFUSED = {
    name.lower(): name
    for name in (
        "ProxyCommand",
        "LocalCommand",
        "PermitLocalCommand",
        "KnownHostsCommand",
        "PKCS11Provider",
        "SecurityKeyProvider",
        "SendEnv",
        "SetEnv",
        "ForwardAgent",
        "ForwardX11",
    )
}
"""Options that run a command or load a library on the audit machine, send the auditor's
environment to the audited hosts, or forward the auditor's agent or display, by
lower-case name."""

NEVER_MATCHES = "Match !all"
"""What a `Match ... exec ...` line becomes: a condition asyncssh decides without running
anything, and that is always false."""

MAX_INCLUDE_DEPTH = 16
"""Nesting limit for Include (OpenSSH's own)."""


@dataclass(frozen=True)
class SafeConfig:
    """The safe copies of the operator's ssh_config, and what was changed to make them."""

    paths: tuple[str, ...] = ()
    """The copies, in the operator's order: what asyncssh is given as `config`."""
    warnings: tuple[str, ...] = ()
    """One line per change, each starting with the operator's file:line."""
    error: str = ""
    """Set when an ssh_config file the operator named cannot be read; no host is then
    contacted, since the options it holds are unknown."""


@contextlib.contextmanager
def safe_ssh_config(paths: Sequence[str] | None) -> Iterator[SafeConfig]:
    """Safe copies of the ssh_config files `paths` (None: ~/.ssh/config when readable, as
    asyncssh's own default), valid until the block ends."""
    with tempfile.TemporaryDirectory(prefix="certaudit-ssh-config-") as folder:
        yield _Copier(Path(folder)).copy_all(paths)


def _words(line: str) -> list[str] | None:
    """The option name and its arguments, split as asyncssh splits a config line (shlex,
    then `option=value` and, for Host and Match, `keyword=value`); None when asyncssh could
    not split it."""
    try:
        split = shlex.split(line)
    except ValueError:
        return None
    words: list[str] = []
    allow_equal = True
    for i, arg in enumerate(split, 1):
        if arg.startswith("="):
            if len(arg) > 1:
                words.append(arg[1:])
        elif not allow_equal:
            words.extend(split[i - 1 :])
            break
        elif arg.endswith("="):
            words.append(arg[:-1])
        elif "=" in arg:
            words.extend(arg.split("=", 1))
        else:
            words.append(arg)
        if i == 1:
            if not words:
                return None
            allow_equal = words[0].lower() in ("host", "match")
    return words or None


class _Copier:
    """Writes the safe copies into `folder`, one per distinct file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.copies: dict[str, Path] = {}
        self.made = 0
        self.reading: list[str] = []
        self.warnings: list[str] = []
        self.include_base = Path("~", ".ssh").expanduser()
        """Where asyncssh looks for an Include pattern that is not absolute."""

    def copy_all(self, paths: Sequence[str] | None) -> SafeConfig:
        if paths is None:
            default = Path("~", ".ssh", "config").expanduser()
            paths = [str(default)] if os.access(default, os.R_OK) else []
        copies: list[str] = []
        for name in paths:
            try:
                copies.append(str(self.copy(Path(name))))
            except OSError as exc:
                error = f"ssh_config {name}: cannot read it ({exc.strerror or exc})"
                return SafeConfig((), tuple(self.warnings), error)
        return SafeConfig(tuple(copies), tuple(self.warnings))

    def copy(self, path: Path) -> Path:
        """The safe copy of one file, made once. Raises OSError when it cannot be read."""
        key = os.path.realpath(path)
        if key in self.copies:
            return self.copies[key]
        # Read as asyncssh reads: the locale's encoding, universal newlines.
        with open(path, encoding="locale", errors="replace") as file:
            lines = [line.rstrip("\n") for line in file]
        self.made += 1
        target = self.folder / f"{self.made}.conf"
        self.reading.append(key)
        try:
            safe = [self._line(f"{path}:{number}", text) for number, text in enumerate(lines, 1)]
        finally:
            self.reading.pop()
        with open(target, "w", encoding="locale", errors="replace") as file:
            file.writelines(line + "\n" for line in safe)
        self.copies[key] = target
        return target

    def _warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}")

    def _line(self, where: str, text: str) -> str:
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            return text
        words = _words(stripped)
        if words is None:
            self._warn(where, "line ignored: it cannot be split into words")
            return ""
        option = words[0].lower()
        if option in REFUSED:
            self._warn(
                where,
                f"{REFUSED[option]} ignored: certaudit never runs a command or loads a library "
                "named in ssh_config",
            )
            return ""
        if option == "match" and any(w.lstrip("!").lower() == "exec" for w in words[1:]):
            self._warn(
                where,
                "Match exec: the block is skipped; certaudit never runs a command from "
                "ssh_config to decide a Match",
            )
            return NEVER_MATCHES
        if option == "include":
            return self._include(where, words[1:])
        return text

    def _include(self, where: str, patterns: list[str]) -> str:
        """The Include line naming the copies of what `patterns` match ("" for none)."""
        copies: list[Path] = []
        for pattern in patterns:
            for found in self._matches(where, pattern):
                if os.path.realpath(found) in self.reading:
                    self._warn(where, f"Include of {found} ignored: it includes itself")
                elif len(self.reading) >= MAX_INCLUDE_DEPTH:
                    self._warn(where, f"Include of {found} ignored: nested too deep")
                else:
                    try:
                        copies.append(self.copy(found))
                    except OSError as exc:
                        reason = exc.strerror or str(exc)
                        self._warn(where, f"Include of {found} ignored: cannot read it ({reason})")
        if not copies:
            return ""
        return "Include " + " ".join(shlex.quote(glob.escape(str(c))) for c in copies)

    def _matches(self, where: str, pattern: str) -> list[Path]:
        """The files an Include pattern names, found as asyncssh finds them."""
        path = Path(pattern).expanduser()
        if path.anchor:
            base, relative = Path(path.anchor), str(Path(*path.parts[1:]))
        else:
            base, relative = self.include_base, pattern
        try:
            return [p for p in base.glob(relative) if p.is_file()]
        except (OSError, ValueError) as exc:
            self._warn(where, f"Include {pattern} ignored: {exc}")
            return []
