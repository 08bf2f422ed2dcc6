"""An unprivileged account on a host cannot steer the root collection.

The collection runs as root and reads the configuration of running web servers (the file
after -c / -f). On `scenarios.hostile_host`, mallory runs two fake servers named nginx (a
script, and a copy of a harmless binary run as the web server's account) whose
configuration names FIFOs she watches, /proc/kmsg (directly and through a link),
/proc/self/environ, /dev/zero and / as certificate, key and include files, and forges a TLS
server block for the host; a root-owned Apache configuration names the same paths. The
host must be audited in full, in its normal time, without opening any of them.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.collect.hostkeys import KnownHosts
from audit.collect.script import DEFAULT_ROOTS
from audit.collect.ssh import SshOptions
from audit.inventory import load_inventory
from audit.model import HostOutcome, HostResult
from audit.runner import FleetOptions, Observer, audit_fleet
from tests import pki
from tests.conftest import FACTORY_BRIDGE, FACTORY_SUBNET
from tests.lab.netlab import Lab, unavailable_reason
from tests.lab.scenarios import HOSTILE_FIFOS, HOSTILE_PATHS, MALLORY_HOME, hostile_host

pytestmark = pytest.mark.lab

HOST = "hostile1"
DEADLINE = 40.0
NORMAL = 15.0
"""Seconds an audit of this host takes at most when nothing blocks it (about 3 here)."""


class Recorder(Observer):
    """Every byte each host printed on stdout."""

    def __init__(self) -> None:
        self.stdout: dict[str, bytearray] = defaultdict(bytearray)

    def received(self, host: str, stream: str, data: bytes) -> None:
        if stream == "stdout":
            self.stdout[host].extend(data)


def _audit(lab: Lab, recorder: Recorder) -> tuple[HostResult, float]:
    inventory = load_inventory(lab.inventory)
    known = KnownHosts.load(Path(lab.known_hosts))
    ssh = SshOptions(connect_timeout=5.0, host_timeout=DEADLINE, ssh_config=[])
    started = time.monotonic()
    (result,) = asyncio.run(audit_fleet(inventory.hosts, known, FleetOptions(ssh=ssh), recorder))
    return result, time.monotonic() - started


def _records(stdout: bytes, tag: str) -> list[list[str]]:
    """The fields of every `tag` record, hex fields decoded."""
    out = []
    for line in stdout.split(b"\n"):
        words = line.decode("ascii", "replace").split(" ")
        if words[0] == tag and words[-1] == ".":
            out.append([_text(w) for w in words[1:-1]])
    return out


def _text(word: str) -> str:
    try:
        return bytes.fromhex(word).decode("utf-8", "replace") if word != "-" else ""
    except ValueError:
        return word


@pytest.fixture(scope="module")
def hostile_lab() -> Iterator[Lab]:
    """The hostile host alone, built once for this module, on the factory bridge."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"lab unavailable: {reason}")
    spec = hostile_host(pki.utcnow(), HOST)
    with Lab([spec], subnet=FACTORY_SUBNET, bridge=FACTORY_BRIDGE) as lab:
        yield lab


@pytest.fixture(scope="module")
def hostile(hostile_lab: Lab) -> tuple[HostResult, float, bytes, Lab]:
    recorder = Recorder()
    result, elapsed = _audit(hostile_lab, recorder)
    return result, elapsed, bytes(recorder.stdout[HOST]), hostile_lab


def test_the_host_is_audited_in_full_in_its_normal_time(hostile) -> None:
    result, elapsed, _, _ = hostile
    assert result.outcome in (HostOutcome.OK, HostOutcome.PARTIAL), (result.detail, result.issues)
    assert elapsed < NORMAL, f"{elapsed:.1f}s: something blocked the collection"
    paths = {f.location.path for f in result.certificates}
    assert f"/etc/ssl/local/{HOST}.example.test.pem" in paths
    # certificates come from the scan roots only: nothing from a walk of / (/usr, /tmp...)
    assert all(p.startswith(tuple(r + "/" for r in DEFAULT_ROOTS)) for p in paths), sorted(
        p for p in paths if not p.startswith(tuple(r + "/" for r in DEFAULT_ROOTS))
    )[:5]
    # the root nginx, started with a configuration outside the defaults, is still trusted
    site = [c for c in result.tls_configs if c.file == f"/srv/{HOST}/{HOST}.site"]
    assert [c.key_check for c in site] == ["ok"]
    assert 443 in {li.port for li in result.listeners}


def test_the_fake_servers_configuration_is_not_read(hostile) -> None:
    result, _, stdout, _ = hostile
    read = {fields[1] for fields in _records(stdout, "WEBFILE")}
    assert f"/srv/{HOST}/nginx.conf" in read
    assert not [f for f in read if f.startswith(MALLORY_HOME)], read
    assert not [c for c in result.tls_configs if c.file.startswith(MALLORY_HOME)]
    assert "forged.example.test" not in {n for c in result.tls_configs for n in c.server_names}


def test_no_trap_is_opened(hostile) -> None:
    _, _, stdout, lab = hostile
    # certificate files a configuration names are files: never a folder walked, never a
    # special file or a pseudo-filesystem read
    roots = {fields[0]: fields[2] for fields in _records(stdout, "ROOT") if fields[1] == "c"}
    for path in HOSTILE_PATHS:
        assert roots.get(path, "notfile") != "scan", (path, roots)
    # the key digests of the trusted configuration: each trap is seen not to be a regular
    # file (status notfile), never handed to openssl (ok, failed)
    status = {fields[0]: fields[1] for fields in _records(stdout, "KEYPUB")}
    for path in HOSTILE_PATHS:
        assert status.get(path) == "notfile", (path, status)
    for name in HOSTILE_FIFOS:
        opened = lab.host_root(HOST) / MALLORY_HOME.lstrip("/") / f"{name}.opened"
        assert not opened.exists(), f"{name} was opened by the collection"
