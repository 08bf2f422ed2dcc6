"""SSH faults that need no lab: peers on loopback that are not (good) SSH servers, and the
run-level errors a cron job must see as one clear line."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from audit.collect.hostkeys import KnownHosts
from audit.collect.listeners import Prober
from audit.collect.ssh import SshOptions, audit_host
from audit.model import Host, HostOutcome, HostResult, IssueReason
from tests import pki


class Peer:
    """A TCP server on 127.0.0.1 that behaves badly in one chosen way."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.mode == "random":
                while not self.stop.is_set():
                    conn.sendall(os.urandom(4096))
                    time.sleep(0.01)
            elif self.mode == "trickle":
                for byte in b"SSH-2.0-slowly-trickling-banner\r\n":
                    if self.stop.wait(1.0):
                        break
                    conn.sendall(bytes([byte]))
            elif self.mode == "tarpit":
                self.stop.wait(30)
            elif self.mode == "http":
                conn.recv(100)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    p = Peer(request.param)
    yield p
    p.close()


@pytest.mark.parametrize(
    "peer, outcome, words",
    [
        ("random", HostOutcome.UNREACHABLE, "not an SSH server"),
        ("http", HostOutcome.UNREACHABLE, ""),
        ("tarpit", HostOutcome.UNREACHABLE, "timed out"),
        ("trickle", HostOutcome.UNREACHABLE, "timed out"),
    ],
    indirect=["peer"],
)
def test_bad_peer_ends_in_a_stated_outcome_within_the_deadline(peer, outcome, words, tmp_path):
    known = KnownHosts.load(tmp_path / "known_hosts")
    options = SshOptions(connect_timeout=2.0, host_timeout=4.0, ssh_config=[])
    host = Host("bad", "127.0.0.1", port=peer.port, user="nobody")
    started = time.monotonic()
    result = asyncio.run(audit_host(host, options, known))
    elapsed = time.monotonic() - started
    assert result.outcome is outcome, result.detail
    assert words in result.detail
    assert elapsed < options.host_timeout + 1.0


def test_refused_port_is_unreachable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = asyncio.run(
        audit_host(
            Host("gone", "127.0.0.1", port=port),
            SshOptions(ssh_config=[]),
            KnownHosts.load(tmp_path / "kh"),
        )
    )
    assert result.outcome is HostOutcome.UNREACHABLE
    assert "refused" in result.detail


def test_dns_failure_is_unreachable(tmp_path):
    result = asyncio.run(
        audit_host(
            Host("nx", "no-such-host.invalid"),
            SshOptions(ssh_config=[], connect_timeout=5),
            KnownHosts.load(tmp_path / "kh"),
        )
    )
    assert result.outcome is HostOutcome.UNREACHABLE
    assert "DNS" in result.detail


def test_corrupt_known_hosts_line_is_skipped_with_file_and_line(tmp_path):
    path = tmp_path / "known_hosts"
    path.write_text(
        "# comment\n"
        "garbage-without-a-key\n"
        "host.example ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIHpEn0F1I0Em9tNf8H1L2q1yKxkC4QqT0vXqBeNNqyWf\n"
    )
    known = KnownHosts.load(path)
    assert any(w.startswith(f"{path}:2:") for w in known.warnings), known.warnings
    assert known.known_keys("host.example", "192.0.2.1", None)


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def test_cron_environment_without_home_is_one_clear_error(tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[web]\nweb1 ansible_host=127.0.0.1\n")
    env = {"PATH": os.environ["PATH"], "LANG": "C"}  # no HOME, no agent, LANG=C
    proc = _cli(
        ["run", str(inventory), "--out", str(tmp_path / "out"), "--db", str(tmp_path / "h.db")],
        env,
        tmp_path,
    )
    assert proc.returncode == 2
    assert "HOME is not set" in proc.stderr and "--known-hosts" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "not found"),
        ("", ""),
        ("[web\nweb1\n", ":1"),
    ],
)
def test_bad_inventory_is_an_error_naming_the_file(tmp_path, content, expected):
    inventory = tmp_path / "hosts.ini"
    if content is not None:
        inventory.write_text(content)
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = _cli(
        ["run", str(inventory), "--out", str(tmp_path / "out"), "--db", str(tmp_path / "h.db")],
        env,
        tmp_path,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert str(inventory) in proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out" / "findings.json").exists()  # never "0 findings"


def test_bracketed_port_entries_match_only_their_port(tmp_path):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpEn0F1I0Em9tNf8H1L2q1yKxkC4QqT0vXqBeNNqyWf"
    path = tmp_path / "known_hosts"
    path.write_text(f"[192.0.2.5]:2222 {key}\n")
    known = KnownHosts.load(path)
    assert known.known_keys("192.0.2.5", "192.0.2.5", 2222)
    assert not known.known_keys("192.0.2.5", "192.0.2.5", 22)
    assert not known.known_keys("192.0.2.5", "192.0.2.5", None)


# --- a real SSH server that fails during the session --------------------------------------

CUT_CERTS = [pki.issue(f"cut{i}.example.test", now=pki.utcnow()) for i in range(3)]


def _pem_record(path: str, der: bytes) -> bytes:
    return f"PEM {path.encode().hex()} 0 CERTIFICATE {base64.b64encode(der).decode()} .\n".encode()


class _EndsAtOnce(asyncssh.SSHServerSession):  # type: ignore[type-arg]
    """A session whose command ends as soon as it starts, as `/bin/false -c ...` does."""

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:  # type: ignore[type-arg]
        self.chan = chan

    def exec_requested(self, command: str) -> bool:
        return True

    def session_started(self) -> None:
        self.chan.exit(1)


class _Server(asyncssh.SSHServer):
    def __init__(self, mode: str) -> None:
        self.mode = mode

    def session_requested(self) -> object:
        return False if self.mode == "refuse" else _EndsAtOnce()


def _cut_after_two_records(mode: str):  # type: ignore[no-untyped-def]
    """Reads the script, prints the frame's start, two whole records and half a third, then
    ends the connection: "abort" drops TCP, "disconnect" sends an SSH disconnect with a
    reason, "close" the plain disconnect of an application closing its end."""

    async def handler(process: asyncssh.SSHServerProcess) -> None:  # type: ignore[type-arg]
        script = await process.stdin.read()
        nonce = re.search(rb"CA_NONCE='([0-9a-f]+)'", script)
        assert nonce is not None
        records = _pem_record("/etc/ssl/a.pem", CUT_CERTS[0].der) + _pem_record(
            "/etc/ssl/b.pem", CUT_CERTS[1].der
        )
        start = b"BEGIN-" + nonce.group(1) + b"\n"
        if mode == "complete":
            process.stdout.write(start + records + b"END-" + nonce.group(1) + b" 2\n")
            process.exit(0)
            return
        process.stdout.write(start + records + _pem_record("/etc/ssl/c.pem", CUT_CERTS[2].der)[:40])
        await process.stdout.drain()
        await asyncio.sleep(0.2)
        conn = process.channel.get_connection()
        if mode == "abort":
            conn.abort()
        elif mode == "disconnect":
            conn.disconnect(asyncssh.DISC_SERVICE_NOT_AVAILABLE, "going down for maintenance")
        else:
            conn.close()

    return handler


def _audit_fake(tmp_path: Path, mode: str, prober: Prober | None = None) -> HostResult:
    """Audit one host served by an in-process asyncssh server that fails in `mode`."""

    async def scenario() -> HostResult:
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key.write_private_key(str(tmp_path / "client_key"))
        authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())
        extra: dict[str, object] = {}
        if mode in ("abort", "disconnect", "close", "complete"):
            extra["process_factory"] = _cut_after_two_records(mode)
        server = await asyncssh.create_server(
            lambda: _Server(mode),
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            authorized_client_keys=authorized,
            encoding=None,
            **extra,  # type: ignore[arg-type]
        )
        port = server.sockets[0].getsockname()[1]
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}")
        host = Host(
            "fake", "127.0.0.1", port=port, user="audit", key_file=str(tmp_path / "client_key")
        )
        try:
            options = SshOptions(ssh_config=[], connect_timeout=5, host_timeout=10)
            return await audit_host(host, options, KnownHosts.load(known), prober=prober)
        finally:
            server.close()

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    "mode, words",
    [
        ("abort", "the connection was lost"),
        ("disconnect", "going down for maintenance"),
        ("close", "the host closed the connection"),
    ],
)
def test_a_connection_cut_mid_output_keeps_the_records_that_arrived(tmp_path, mode, words):
    result = _audit_fake(tmp_path, mode)
    assert result.outcome is HostOutcome.PARTIAL, result.detail
    assert sorted(c.location.path for c in result.certificates) == [
        "/etc/ssl/a.pem",
        "/etc/ssl/b.pem",
    ]
    truncated = [i.detail for i in result.issues if i.reason is IssueReason.TRUNCATED]
    assert any("before the END line" in d for d in truncated), truncated
    assert any(words in d for d in truncated), truncated


def test_a_session_that_ends_before_the_script_is_sent_is_a_stated_failure(tmp_path):
    for attempt in range(5):
        result = _audit_fake(tmp_path, "closed")
        assert result.outcome is HostOutcome.FAILED, (attempt, result.detail)
        assert "no usable output" in result.detail, (attempt, result.detail)
        assert "before the script was sent" in result.detail, (attempt, result.detail)


def test_a_refused_session_channel_is_a_stated_failure(tmp_path):
    result = _audit_fake(tmp_path, "refuse")
    assert result.outcome is HostOutcome.FAILED, result.detail
    assert "logged in" in result.detail and "refused" in result.detail, result.detail


def test_a_connection_lost_while_probing_keeps_the_collection(tmp_path):
    async def prober(*args: object) -> object:
        raise asyncssh.ConnectionLost("Connection lost")

    result = _audit_fake(tmp_path, "complete", prober)  # type: ignore[arg-type]
    assert result.outcome is HostOutcome.PARTIAL, result.detail
    assert len(result.certificates) == 2
    truncated = [i.detail for i in result.issues if i.reason is IssueReason.TRUNCATED]
    assert truncated == ["the connection was lost: Connection lost"]
