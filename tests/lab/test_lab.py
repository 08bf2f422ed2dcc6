"""Tests of the lab itself: real OpenSSH hosts in namespaces, isolated, and always cleaned up."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.conftest import FACTORY_BRIDGE, FACTORY_SUBNET, MakeLab
from tests.lab import netlab
from tests.lab.netlab import (
    LAB_NETWORK,
    File,
    HostSpec,
    Lab,
    Service,
    Symlink,
    diff_snapshots,
)
from tests.lab.scenarios import (
    DEFAULT_HOSTS,
    canaries,
    canary_windows,
    default_fleet,
    find_leaks,
)

REPO = Path(__file__).resolve().parents[2]


def ssh(
    lab: Lab, name: str, command: str, known_hosts: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    argv = lab.ssh_argv(name, command, known_hosts=known_hosts)
    return subprocess.run(argv, capture_output=True, timeout=30)


def refused(address: str, port: int = 22) -> bool:
    try:
        socket.create_connection((address, port), timeout=3).close()
    except ConnectionRefusedError:
        return True
    return False


def live(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return raw[raw.rindex(b")") + 2 :].split()[0] != b"Z"


def leftovers(lab: Lab, pids: list[int]) -> list[str]:
    """What of this lab still exists (namespaces, links, folder, processes)."""
    found = [
        f"netns {h.netns}" for h in lab.hosts.values() if (Path("/run/netns") / h.netns).exists()
    ]
    found += [
        f"link {n}"
        for n in (lab.bridge, *(h.veth for h in lab.hosts.values()))
        if Path(f"/sys/class/net/{n}").exists()
    ]
    found += [f"dir {lab.dir}"] if lab.dir.exists() else []
    found += [f"pid {p}" for p in pids if live(p)]
    return found


def lab_pids(lab: Lab) -> list[int]:
    return [p.pid for h in lab.hosts.values() for p in (h.holder, h.sshd, *h.services) if p]


# ------------------------------------------------------------------- without root


def test_subnet_outside_lab_network_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        Lab([HostSpec("a")], subnet="10.0.0.0/24")
    with pytest.raises(ValueError, match="outside"):
        Lab([HostSpec("a")], subnet="10.249.0.0/16")
    with pytest.raises(ValueError, match="bad host name"):
        Lab([HostSpec("A;rm")])
    with pytest.raises(ValueError, match="do not fit"):
        Lab([HostSpec(f"h{i}") for i in range(130)], subnet="10.250.0.128/25")


def test_diff_snapshots() -> None:
    assert diff_snapshots({"/a": "1", "/b": "2"}, {"/b": "3", "/c": "4"}) == [
        "- /a",
        "+ /c",
        "~ /b",
    ]


# --------------------------------------------------------------------- the fleet


@pytest.mark.lab
def test_every_up_host_answers_real_ssh_with_strict_host_keys(lab: Lab) -> None:
    assert list(lab.hosts) == list(DEFAULT_HOSTS)
    for name, h in lab.hosts.items():
        assert h.address in {str(a) for a in LAB_NETWORK}
        if not h.spec.up:
            continue
        r = ssh(lab, name, "hostname")
        assert r.returncode == 0, r.stderr
        assert r.stdout.endswith(f"{name}\n".encode())


@pytest.mark.lab
def test_files_are_per_host(lab: Lab) -> None:
    path = "/etc/ssl/local/web1.example.test.crt"
    r = ssh(lab, "web1", f"cat {path}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (lab.host_root("web1") / path.lstrip("/")).read_bytes()
    assert r.stdout.startswith(b"-----BEGIN CERTIFICATE-----")
    other = ssh(lab, "mail1", f"cat {path}")
    assert other.returncode != 0 and b"No such file" in other.stderr
    assert not Path(path).exists(), "the real /etc must not see lab files"


@pytest.mark.lab
def test_certbot_links_resolve_on_the_host(lab: Lab) -> None:
    live_dir = "/etc/letsencrypt/live/mail1.example.test"
    r = ssh(lab, "mail1", f"readlink {live_dir}/cert.pem; cat {live_dir}/cert.pem")
    assert r.returncode == 0, r.stderr
    link, _, pem = r.stdout.partition(b"\n")
    assert link == b"../../archive/mail1.example.test/cert2.pem"
    assert pem == lab.read_file("mail1", "/etc/letsencrypt/archive/mail1.example.test/cert2.pem")


@pytest.mark.lab
def test_down_host_refuses_connections(lab: Lab) -> None:
    assert refused(lab.hosts["down1"].address)
    assert ssh(lab, "down1", "true").returncode == 255


@pytest.mark.lab
def test_login_shell_is_quiet_unless_noise_is_asked_for(lab: Lab) -> None:
    quiet = ssh(lab, "web1", "echo marker")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, b"marker\n", b"")
    noisy = ssh(lab, "web2", "echo marker")
    assert noisy.returncode == 0
    assert b"BEGIN-xyz" in noisy.stdout and b"\x00" in noisy.stdout
    assert noisy.stdout.endswith(b"marker\n") and noisy.stdout != b"marker\n"
    assert b"BEGIN-xyz" in noisy.stderr


@pytest.mark.lab
def test_tcp_forwarding_option(lab: Lab) -> None:
    def forward(name: str) -> subprocess.CompletedProcess[bytes]:
        h = lab.hosts[name]
        argv = lab.ssh_argv(name)
        argv[argv.index(f"root@{h.address}") :] = ["-W", "127.0.0.1:22", f"root@{h.address}"]
        return subprocess.run(argv, input=b"", capture_output=True, timeout=30)

    assert forward("web1").stdout.startswith(b"SSH-2.0-OpenSSH")
    denied = forward("db1")
    assert denied.returncode == 255 and b"forwarding failed" in denied.stderr


@pytest.mark.lab
def test_tls_service_on_web1(lab: Lab) -> None:
    r = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{lab.hosts['web1'].address}:443",
            "-servername",
            "web1.example.test",
        ],
        input=b"",
        capture_output=True,
        timeout=30,
    )
    assert b"CN = web1.example.test" in r.stdout


@pytest.mark.lab
def test_inventory_and_known_hosts(lab: Lab) -> None:
    lines = lab.inventory.read_text().splitlines()
    assert "[lab]" in lines
    hosts = {
        ln.split()[0]: dict(f.split("=", 1) for f in ln.split()[1:])
        for ln in lines[lines.index("[lab]") + 1 :]
        if ln.strip()
    }
    assert list(hosts) == list(DEFAULT_HOSTS)
    for name, fields in hosts.items():
        assert fields["ansible_host"] == lab.hosts[name].address
        assert fields["ansible_user"] == "root"
        assert Path(fields["ansible_ssh_private_key_file"]) == lab.client_key
    assert lab.client_key.stat().st_mode & 0o077 == 0
    known = lab.known_hosts.read_text().splitlines()
    assert known == [h.known_hosts_line for h in lab.hosts.values()]
    assert all(line.split()[1] == "ssh-ed25519" for line in known)


@pytest.mark.lab
def test_canaries_cover_every_planted_key(lab: Lab) -> None:
    keys = canaries(lab)
    assert len(keys) > 20
    planted = [e for h in lab.hosts.values() for e in h.spec.files if isinstance(e, File)]
    keyish = [f for f in planted if b"PRIVATE KEY" in f.data]
    assert len(keyish) >= 10
    for f in keyish:  # every PEM key block planted is a canary, byte for byte
        assert any(k in f.data for k in keys if b"PRIVATE KEY" in k), f.path
    der = [k for k in keys if k[:1] == b"\x30"]
    assert der, "DER forms are included"
    assert lab.read_file("db1", "/etc/ssl/private/db1-replication.key") in keys


def test_canary_windows_catch_key_leaks_and_spare_certificates(lab_now: dt.datetime) -> None:
    specs = default_fleet(lab_now)
    windows = canary_windows(specs)
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    public = bundle.read_bytes() if bundle.exists() else b""
    leaks_expected = 0
    for spec in specs:
        for f in spec.files:
            if not isinstance(f, File):
                continue
            for m in re.finditer(
                rb"-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END[^\n]+\n", f.data
            ):
                try:
                    der = x509.load_pem_x509_certificate(m.group(0)).public_bytes(Encoding.DER)
                except ValueError:
                    continue
                public += m.group(0) + der + der.hex().encode()
                public += b"".join(base64.b64encode(b"x" * i + der) for i in range(3))
            if b"PRIVATE KEY" in f.data or f.path.endswith((".key", ".p12")):
                leaks_expected += 1
                for form in (f.data, base64.b64encode(f.data), f.data.hex().encode()):
                    assert find_leaks(b"<" + form + b">", windows), f"{spec.name}:{f.path}"
    assert leaks_expected >= 13
    assert find_leaks(public, windows) == [], "certificates share no window with the keys"


@pytest.mark.lab
def test_snapshot_is_stable_across_a_login_and_reads(lab: Lab) -> None:
    before = lab.snapshot("web1")
    assert "/etc/ssl/local/web1.example.test.crt" in before
    assert "/root/.bashrc" in before and "/var/lib" in before
    r = ssh(
        lab,
        "web1",
        "cat /etc/ssl/private/*.key /etc/passwd >/dev/null; ls -laR /etc /root >/dev/null",
    )
    assert r.returncode == 0, r.stderr
    assert diff_snapshots(before, lab.snapshot("web1")) == []


@pytest.mark.lab
def test_run_in_host_uses_the_host_namespaces(lab: Lab) -> None:
    r = lab.run_in_host(
        "db1", ["sh", "-c", "hostname; ip -4 -o addr show dev eth0; ls /etc/haproxy"]
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.startswith("db1\n") and f"inet {lab.hosts['db1'].address}/" in out
    assert "haproxy.cfg" in out


# ------------------------------------------------------------ changing hosts


@pytest.mark.lab
def test_write_file_is_per_host_and_never_touches_the_real_etc(make_lab: MakeLab) -> None:
    lab = make_lab([HostSpec("one"), HostSpec("two")])
    assert ipaddress.ip_address(lab.hosts["one"].address) in ipaddress.ip_network(FACTORY_SUBNET)
    path = f"/etc/calab-probe-{os.getpid()}/x.pem"
    before = lab.snapshot("two", roots=["/etc"])
    snap_one = lab.snapshot("one", roots=["/etc"])
    lab.write_file("one", path, b"only on one\n", mode=0o600)
    assert ssh(lab, "one", f"cat {path}").stdout == b"only on one\n"
    assert ssh(lab, "one", f"stat -c %a {path}").stdout == b"600\n"
    assert ssh(lab, "two", f"cat {path}").returncode != 0
    assert not Path(path).parent.exists()
    assert (lab.host_root("one") / path.lstrip("/")).read_bytes() == b"only on one\n"
    assert diff_snapshots(before, lab.snapshot("two", roots=["/etc"])) == []
    changes = diff_snapshots(snap_one, lab.snapshot("one", roots=["/etc"]))
    assert f"+ {path}" in changes and "~ /etc" in changes
    lab.symlink("one", "/etc/calab-link", path)
    assert ssh(lab, "one", "cat /etc/calab-link").stdout == b"only on one\n"
    with pytest.raises(ValueError):
        lab.write_file("one", "/usr/bin/evil", b"")  # shared with the real machine
    with pytest.raises(ValueError):
        lab.write_file("one", "/etc/../usr/x", b"")


@pytest.mark.lab
def test_regenerated_host_key_fails_strict_ssh(make_lab: MakeLab, tmp_path: Path) -> None:
    lab = make_lab([HostSpec("rekey")])
    assert ssh(lab, "rekey", "true").returncode == 0
    old = lab.known_hosts.read_bytes()
    new_line = lab.regenerate_host_key("rekey")
    assert lab.known_hosts.read_bytes() == old, "known_hosts is left alone"
    r = ssh(lab, "rekey", "true")
    assert r.returncode == 255 and b"Host key verification failed" in r.stderr
    updated = tmp_path / "known_hosts"
    updated.write_text(new_line + "\n")
    assert ssh(lab, "rekey", "true", known_hosts=updated).returncode == 0


@pytest.mark.lab
def test_stop_and_start_sshd(make_lab: MakeLab) -> None:
    lab = make_lab([HostSpec("flip", port=2222, files=[File("/srv/x", b"kept\n")])])
    assert lab.hosts["flip"].known_hosts_line.startswith(f"[{lab.hosts['flip'].address}]:2222 ")
    assert ssh(lab, "flip", "cat /srv/x").stdout == b"kept\n"
    lab.stop_sshd("flip")
    assert refused(lab.hosts["flip"].address, 2222)
    assert lab.snapshot("flip", roots=["/srv"])  # the host's files outlive sshd
    lab.start_sshd("flip")
    assert ssh(lab, "flip", "cat /srv/x").stdout == b"kept\n"


@pytest.mark.lab
def test_make_lab_accepts_names_noise_and_shared_files(make_lab: MakeLab) -> None:
    with make_lab(["quiet", "noisy"], noisy=["noisy"], same_files=True) as lab:
        assert [h.spec.bashrc_noise for h in lab.hosts.values()] == [False, True]
        path = "/etc/ssl/local/app.example.test.fullchain.pem"
        assert lab.read_file("quiet", path) == lab.read_file("noisy", path)
        assert len(canaries(lab)) == 2 * 3  # two keys: PEM as planted + two DER forms each
        assert ssh(lab, "quiet", "echo marker").stdout == b"marker\n"
    assert leftovers(lab, []) == []


@pytest.mark.lab
def test_inventory_extra_vars_and_port(make_lab: MakeLab) -> None:
    lab = make_lab([HostSpec("vars", port=2222, vars={"site": "eu-1", "note": "two words"})])
    line = lab.inventory.read_text().splitlines()[-1]
    assert shlex.split(line) == [
        "vars",
        f"ansible_host={lab.hosts['vars'].address}",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={lab.client_key}",
        "ansible_port=2222",
        "site=eu-1",
        "note=two words",
    ]


@pytest.mark.lab
def test_login_shell_option(make_lab: MakeLab) -> None:
    lab = make_lab([HostSpec("noshell", login_shell="/bin/false")])
    r = ssh(lab, "noshell", "echo hi")
    assert r.returncode != 0 and r.stdout == b""
    assert not Path("/etc/passwd").read_text().startswith("root:x:0:0:root:/root:/bin/false")


# ---------------------------------------------------------- start-up and clean-up


@pytest.mark.lab
def test_five_hosts_start_fast_and_leave_nothing_behind(make_lab: MakeLab) -> None:
    lab = make_lab([HostSpec(f"fast{i}", files=[Symlink("/etc/calab-l", "x")]) for i in range(5)])
    pids = lab_pids(lab)
    assert len(pids) == 10 and all(live(p) for p in pids)
    assert lab.timings["start"] < 3.0, lab.timings
    lab.close()
    assert lab.timings["stop"] < 3.0, lab.timings
    assert leftovers(lab, pids) == []


@pytest.mark.lab
def test_exception_inside_with_still_cleans_up() -> None:
    lab = Lab([HostSpec("boom")], subnet=FACTORY_SUBNET, bridge=FACTORY_BRIDGE)
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="test failure"):
        with lab:
            pids = lab_pids(lab)
            assert leftovers(lab, pids)
            raise RuntimeError("test failure")
    assert pids and leftovers(lab, pids) == []


@pytest.mark.lab
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (HostSpec("badcfg", sshd_options=["NoSuchOption yes"]), "sshd exited"),
        (HostSpec("badsvc", services=[Service(("false",), port=4433)]), "service on port 4433"),
    ],
)
def test_failed_start_says_why_and_cleans_up(spec: HostSpec, message: str) -> None:
    lab = Lab([HostSpec("fine"), spec], subnet=FACTORY_SUBNET, bridge=FACTORY_BRIDGE)
    with pytest.raises(netlab.LabError, match=message):
        lab.start()
    assert leftovers(lab, []) == []


_CHILD = """
import sys, time
from tests.lab.netlab import HostSpec, Lab
lab = Lab([HostSpec("child1"), HostSpec("child2")], subnet=sys.argv[1], bridge=sys.argv[2])
with lab:
    pids = [p.pid for h in lab.hosts.values() for p in (h.holder, h.sshd)]
    print(lab.dir, *(h.netns for h in lab.hosts.values()), *pids, flush=True)
    time.sleep(120)
"""


def _child_lab() -> tuple[subprocess.Popen[str], Path, list[str], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, FACTORY_SUBNET, FACTORY_BRIDGE],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    fields = proc.stdout.readline().split()
    assert fields, "child lab did not start"
    return proc, Path(fields[0]), fields[1:3], [int(p) for p in fields[3:]]


def _gone(lab_dir: Path, netns: list[str], pids: list[int]) -> list[str]:
    left = [n for n in netns if (Path("/run/netns") / n).exists()]
    left += [str(p) for p in pids if live(p)]
    left += [str(lab_dir)] if lab_dir.exists() else []
    left += [FACTORY_BRIDGE] if Path(f"/sys/class/net/{FACTORY_BRIDGE}").exists() else []
    return left


@pytest.mark.lab
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_takes_the_lab_down(sig: signal.Signals) -> None:
    proc, lab_dir, netns, pids = _child_lab()
    proc.send_signal(sig)
    proc.wait(30)
    assert proc.returncode != 0
    assert _gone(lab_dir, netns, pids) == []


@pytest.mark.lab
def test_leftovers_of_a_killed_lab_are_removed_by_the_next(make_lab: MakeLab) -> None:
    proc, lab_dir, netns, pids = _child_lab()
    proc.kill()
    proc.wait(30)
    time.sleep(0.1)
    assert len(_gone(lab_dir, netns, pids)) == 2 + len(pids) + 2, "SIGKILL leaves everything"
    lab = make_lab([HostSpec("next")])
    assert {f"netns {n}" for n in netns} <= set(lab.stale_removed)
    assert _gone(lab_dir, netns, pids) == [FACTORY_BRIDGE]  # now the new lab's bridge
    assert ssh(lab, "next", "true").returncode == 0


@pytest.mark.lab
def test_a_running_lab_is_not_taken_for_a_stale_one(make_lab: MakeLab) -> None:
    first = make_lab([HostSpec("first")])
    with pytest.raises(netlab.LabError, match="in use by a running lab"):
        Lab([HostSpec("second")], subnet=FACTORY_SUBNET, bridge=FACTORY_BRIDGE).start()
    assert ssh(first, "first", "true").returncode == 0
