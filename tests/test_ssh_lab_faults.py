"""SSH faults against real sshd hosts in the lab: a hostile ssh_config, sudo that is not
available, a remote command that hangs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import asyncssh
import pytest

from audit.collect.hostkeys import KnownHosts
from audit.collect.ssh import SshOptions
from audit.inventory import load_inventory
from audit.model import HostOutcome, HostResult, IssueReason
from audit.runner import FleetOptions, Observer, audit_fleet
from tests import pki
from tests.lab.netlab import File, HostSpec

pytestmark = pytest.mark.lab


class Warnings(Observer):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def warning(self, message: str) -> None:
        self.messages.append(message)


def _audit(
    lab, known_hosts: Path, observer: Observer | None = None, **ssh: object
) -> dict[str, HostResult]:
    inventory = load_inventory(lab.inventory)
    options = FleetOptions(ssh=SshOptions(**{"connect_timeout": 5.0, "host_timeout": 20.0, **ssh}))
    known = KnownHosts.load(known_hosts)
    results = asyncio.run(audit_fleet(inventory.hosts, known, options, observer))
    return {r.host.name: r for r in results}


def test_hostile_ssh_config_cannot_disable_host_keys_or_run_proxy_commands(make_lab, tmp_path):
    marker = tmp_path / "proxy-command-ran"
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host *\n"
        "  UserKnownHostsFile none\n"
        "  StrictHostKeyChecking no\n"
        "  ForwardAgent yes\n"
        "  ForwardX11 yes\n"
        f"  ProxyCommand touch {marker}\n"
    )
    with make_lab(["target"]) as lab:
        empty = tmp_path / "known_hosts"
        empty.write_text("")
        results = _audit(lab, empty, ssh_config=[str(config)])
        assert results["target"].outcome is HostOutcome.KEY_UNKNOWN
        results = _audit(lab, Path(lab.known_hosts), ssh_config=[str(config)])
        assert results["target"].outcome is HostOutcome.OK, results["target"].detail
        assert not marker.exists(), "a ProxyCommand from ssh_config was executed"


def test_ssh_config_match_exec_and_pkcs11_provider_never_run_and_the_host_is_audited(
    make_lab, tmp_path, monkeypatch
):
    ran = tmp_path / "match-exec-ran"
    ran_final = tmp_path / "match-final-exec-ran"
    library = tmp_path / "evil-pkcs11.so"
    loaded: list[object] = []

    def load_pkcs11_keys(provider: str, *args: object, **kwargs: object) -> list[object]:
        loaded.append(provider)
        return []

    # asyncssh loads a PKCS11Provider library through this function, and only through it
    monkeypatch.setattr(asyncssh.connection, "load_pkcs11_keys", load_pkcs11_keys)
    included = tmp_path / "included.conf"
    included.write_text(f'Match final exec "touch {ran_final}"\n  User nobody\n')
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Include {included}\n"
        f'Match exec "touch {ran}"\n'
        "  User nobody\n"
        "Host *\n"
        f"  PKCS11Provider {library}\n"
    )
    with make_lab(["target"]) as lab:
        observer = Warnings()
        result = _audit(lab, Path(lab.known_hosts), observer, ssh_config=[str(config)])["target"]
        assert result.outcome is HostOutcome.OK, result.detail
        assert result.certificates
        assert not ran.exists(), "a Match exec command from ssh_config was run"
        assert not ran_final.exists(), "a Match final exec command from ssh_config was run"
        assert not loaded, "asyncssh was asked to load a PKCS#11 library from ssh_config"
        warned = observer.messages
        assert any(w.startswith(f"{config}:2: ") and "Match exec" in w for w in warned), warned
        assert any(w.startswith(f"{config}:5: ") and "PKCS11Provider" in w for w in warned)
        assert any(w.startswith(f"{included}:1: ") and "Match exec" in w for w in warned)


def test_sudo_wanting_a_password_reports_privilege_unavailable_and_still_collects(
    make_lab, tmp_path
):
    # sudo here wants a password, as it does for an audit user without NOPASSWD
    spec = HostSpec(
        "nosudo",
        vars={"ansible_become": "true"},
        files=[
            File(
                "/opt/bin/sudo",
                b"#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n",
                0o755,
            ),
            File("/root/.bashrc", b"PATH=/opt/bin:$PATH; export PATH\n"),
        ],
    )
    with make_lab([spec], same_files=True) as lab:
        result = _audit(lab, Path(lab.known_hosts))["nosudo"]
        assert result.outcome is HostOutcome.PARTIAL, result.detail
        reasons = {i.reason for i in result.issues}
        assert IssueReason.PRIVILEGE_UNAVAILABLE in reasons
        assert result.certificates, "the unprivileged fallback still collected"


def test_hanging_remote_command_hits_the_deadline_and_leaves_nothing_running(make_lab, tmp_path):
    # `find` on this host never returns, as a stat on a dead network mount would not.
    hang = HostSpec(
        "hangs",
        files=[
            File("/opt/bin/find", b"#!/bin/sh\nexec sleep 299\n", 0o755),
            File("/root/.bashrc", b"PATH=/opt/bin:$PATH; export PATH\n"),
        ],
    )
    with make_lab([hang, "fine"]) as lab:
        started = time.monotonic()
        results = _audit(lab, Path(lab.known_hosts), host_timeout=4.0)
        elapsed = time.monotonic() - started
        assert results["fine"].outcome is HostOutcome.OK
        hung = results["hangs"]
        assert hung.outcome in (HostOutcome.FAILED, HostOutcome.PARTIAL), hung.detail
        assert any(i.reason in (IssueReason.TIMEOUT, IssueReason.TRUNCATED) for i in hung.issues)
        assert elapsed < 4.0 + 3.0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = lab.run_in_host("hangs", ["pgrep", "-f", "sleep 299"])
            if left.returncode != 0:
                break
            time.sleep(0.2)
        assert left.returncode != 0, "the audit left a process running on the host"


def test_login_shell_that_hangs_ends_failed_within_the_deadline(make_lab):
    hang = HostSpec(
        "shellhang",
        files=[File("/opt/hang.sh", b"#!/bin/sh\nexec sleep 298\n", 0o755)],
        login_shell="/opt/hang.sh",
    )
    with make_lab([hang]) as lab:
        started = time.monotonic()
        result = _audit(lab, Path(lab.known_hosts), host_timeout=3.0)["shellhang"]
        assert time.monotonic() - started < 3.0 + 3.0
        assert result.outcome is HostOutcome.FAILED
        assert "logged in" in result.detail


def test_jump_host_from_ssh_config_is_held_to_the_same_policy(make_lab, tmp_path):
    marker = tmp_path / "jump-proxy-command-ran"
    with make_lab(["jump", "inner"]) as lab:
        jump, inner = lab.hosts["jump"], lab.hosts["inner"]
        config = tmp_path / "ssh_config"
        config.write_text(
            f"Host {inner.address}\n"
            f"  ProxyJump root@{jump.address}\n"
            f"Host {jump.address}\n"
            "  UserKnownHostsFile none\n"
            "  StrictHostKeyChecking no\n"
            "  ForwardAgent yes\n"
            f"  ProxyCommand touch {marker}\n"
            f"  IdentityFile {lab.client_key}\n"
        )
        results = _audit(lab, Path(lab.known_hosts), ssh_config=[str(config)])
        assert results["inner"].outcome is HostOutcome.OK, results["inner"].detail
        assert not marker.exists(), "a ProxyCommand for the jump host was executed"
        # the target really went through the jump host: stop the jump host, it fails
        lab.stop_sshd("jump")
        results = _audit(lab, Path(lab.known_hosts), ssh_config=[str(config)])
        assert results["inner"].outcome is HostOutcome.UNREACHABLE
        assert "jump host" in results["inner"].detail
        lab.start_sshd("jump")
        # a changed key on the jump host stops the audit of the host behind it
        lab.regenerate_host_key("jump")
        results = _audit(lab, Path(lab.known_hosts), ssh_config=[str(config)])
        assert results["inner"].outcome is HostOutcome.KEY_MISMATCH
        assert "jump host" in results["inner"].detail


def test_false_login_shell_is_a_stated_failure(make_lab):
    with make_lab([HostSpec("noshell", login_shell="/bin/false"), "fine"]) as lab:
        results = _audit(lab, Path(lab.known_hosts))
        assert results["fine"].outcome is HostOutcome.OK
        assert results["noshell"].outcome is HostOutcome.FAILED
        assert "no usable output" in results["noshell"].detail


def test_false_login_shell_is_a_stated_failure_every_time(make_lab):
    # /bin/false may close the session before or after the script is written to stdin
    with make_lab([HostSpec("noshell", login_shell="/bin/false")]) as lab:
        for attempt in range(20):
            result = _audit(lab, Path(lab.known_hosts))["noshell"]
            assert result.outcome is HostOutcome.FAILED, (attempt, result.detail)
            assert "no usable output" in result.detail, (attempt, result.detail)


def _kill_sessions(lab, name: str) -> list[int]:
    """SIGKILL the sshd processes serving connections to `name` (every sshd below its
    listener), as a crash or a reboot would end them; the listener stays."""
    sshd = lab.hosts[name].sshd
    assert sshd is not None
    children: dict[int, list[tuple[int, str]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append((int(stat.parent.name), comm))
    killed, todo = [], [sshd.pid]
    while todo:
        for pid, comm in children.get(todo.pop(), []):
            if comm.startswith("sshd"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                todo.append(pid)
    return killed


def test_a_session_killed_mid_output_keeps_the_certificates_received_before_the_cut(make_lab):
    now = pki.utcnow()
    planted = {
        f"/etc/ssl/cut/c{i}.pem": pki.issue(f"cut{i}.example.test", now=now) for i in range(40)
    }
    # The walk of /etc/ssl (the first root) streams out; the walk of /etc/letsencrypt stalls,
    # saying so in /root/stalled, as a stat on a dead network mount would.
    stall = (
        b"#!/bin/sh\n"
        b'case "$1" in /etc/letsencrypt*) : > /root/stalled; exec sleep 296 ;; esac\n'
        b'exec /usr/bin/find "$@"\n'
    )
    spec = HostSpec(
        "cut",
        files=[
            *(File(path, issued.pem) for path, issued in planted.items()),
            File("/etc/letsencrypt/live/x/cert.pem", planted["/etc/ssl/cut/c0.pem"].pem),
            File("/opt/bin/find", stall, 0o755),
            File("/root/.bashrc", b"PATH=/opt/bin:$PATH; export PATH\n"),
        ],
    )
    with make_lab([spec]) as lab:
        stalled = lab.host_root("cut") / "root" / "stalled"
        killed: list[int] = []

        def cut_when_stalled() -> None:
            deadline = time.monotonic() + 25
            while not stalled.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            killed.extend(_kill_sessions(lab, "cut"))

        cutter = threading.Thread(target=cut_when_stalled, daemon=True)
        cutter.start()
        result = _audit(lab, Path(lab.known_hosts), host_timeout=40.0)["cut"]
        cutter.join(30)
        assert stalled.exists() and killed, "the collection never stalled, or no sshd to kill"
        assert result.outcome is HostOutcome.PARTIAL, result.detail
        reasons = {i.reason for i in result.issues}
        assert IssueReason.TRUNCATED in reasons and IssueReason.TIMEOUT not in reasons
        assert any("connection was lost" in i.detail for i in result.issues), result.issues
        received = {c.location.path for c in result.certificates} & set(planted)
        assert received, "no certificate received before the cut was kept"
        for found in result.certificates:
            if found.location.path in planted:
                assert (
                    found.cert.sha256
                    == hashlib.sha256(planted[found.location.path].der).hexdigest()
                )


def test_hashed_known_hosts_entries_are_honoured(make_lab, tmp_path):
    import subprocess

    with make_lab(["hashed"]) as lab:
        host = lab.hosts["hashed"]
        hashed = tmp_path / "known_hosts"
        key = host.known_hosts_line.split(None, 1)[1]
        hashed.write_text(f"{host.address} {key}\n")
        subprocess.run(["ssh-keygen", "-H", "-f", str(hashed)], check=True, capture_output=True)
        text = hashed.read_text()
        assert text.startswith("|1|") and host.address not in text
        assert _audit(lab, hashed)["hashed"].outcome is HostOutcome.OK


def test_a_csh_login_shell_still_runs_the_collection(make_lab):
    with make_lab([HostSpec("cshuser", login_shell="/usr/bin/tcsh")], same_files=True) as lab:
        result = _audit(lab, Path(lab.known_hosts))["cshuser"]
        assert result.outcome is HostOutcome.OK, (result.detail, result.issues)
        assert result.certificates
