"""The shells and awks the collection script is run under in tests.

Each name is a (shell, awk) pair as a host could have it: the shell reads the script on
stdin; PATH decides which awk, find, od... it uses.

* ``sh``, ``dash``, ``bash-posix``: that shell with the system tools (awk is whatever
  /usr/bin/awk points at).
* ``busybox``: busybox ash with busybox's own tools and nothing else.
* ``mawk``, ``gawk``, ``busybox-awk``: dash with the system tools, but this awk.

mawk is Debian's base awk and busybox is in the Makefile's DEB_PACKAGES; gawk is the
`gawk` Debian package. A missing one fails the test (a test that skips tests nothing).
"""

from __future__ import annotations

import os
import shutil

import pytest

SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
SHELLS = ["sh", "dash", "bash-posix", "busybox", "mawk", "gawk", "busybox-awk"]
_AWKS = {"mawk": "mawk", "gawk": "gawk", "busybox-awk": "busybox"}


def _awk_folder(name: str, tmp: str) -> str:
    """A folder holding only `awk`, a link to the awk that `name` stands for."""
    binary = shutil.which(_AWKS[name], path=SYSTEM_PATH)
    if binary is None:
        pytest.fail(f"{_AWKS[name]} is not installed (apt-get install {_AWKS[name]})")
    folder = os.path.join(tmp, f"awk-{name}")
    os.makedirs(folder, exist_ok=True)
    link = os.path.join(folder, "awk")
    if not os.path.lexists(link):
        os.symlink(binary, link)
    return folder


def shell(name: str, busybox_path: str, tmp: str) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) that run the script read on stdin under `name`."""
    if name == "busybox":
        return [os.path.join(busybox_path, "sh"), "-s"], {"PATH": busybox_path}
    if name == "bash-posix":
        return ["bash", "--posix", "-s"], {"PATH": SYSTEM_PATH}
    if name in _AWKS:
        return ["dash", "-s"], {"PATH": _awk_folder(name, tmp) + ":" + SYSTEM_PATH}
    if shutil.which(name, path=SYSTEM_PATH) is None:
        pytest.fail(f"{name} is not installed (apt-get install {name})")
    return [name, "-s"], {"PATH": SYSTEM_PATH}
