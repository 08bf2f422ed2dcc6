"""Fixtures shared by the collection tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def busybox_path() -> Iterator[str]:
    """A folder of links to every busybox applet: a host whose tools are all busybox."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is not installed (apt-get install busybox)")
    folder = tempfile.mkdtemp(prefix="certaudit-busybox-")
    listing = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    for applet in listing.stdout.split():
        os.symlink(busybox, os.path.join(folder, applet))
    yield folder
    shutil.rmtree(folder)
