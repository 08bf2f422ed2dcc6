"""The operator's ssh_config can never make the audit machine run a command or load a
library: `Match exec`, ProxyCommand, LocalCommand, PermitLocalCommand, KnownHostsCommand
and PKCS11Provider are refused with a warning naming file:line, and the run goes on."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from audit.collect.hostkeys import KnownHosts
from audit.collect.ssh import SshOptions, audit_host, jump_hops
from audit.model import Host, HostOutcome
from audit.runner import FleetOptions, Observer, audit_fleet


class Warnings(Observer):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def warning(self, message: str) -> None:
        self.messages.append(message)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def _warnings(tmp_path: Path, ssh: SshOptions) -> list[str]:
    observer = Warnings()
    asyncio.run(audit_fleet([], KnownHosts.load(tmp_path / "kh"), FleetOptions(ssh=ssh), observer))
    return observer.messages


def _connect_refused(tmp_path: Path, ssh: SshOptions) -> str:
    host = Host("gone", "127.0.0.1", port=_closed_port(), user="nobody")
    result = asyncio.run(audit_host(host, ssh, KnownHosts.load(tmp_path / "kh")))
    assert result.outcome is HostOutcome.UNREACHABLE, result.detail
    return result.detail


@pytest.mark.parametrize(
    "match",
    [
        'Match exec "touch {marker}"',
        "  match EXEC 'touch {marker}'",
        'Match host * exec "touch {marker}"',
        'Match all exec "touch {marker}"',
        'Match !exec "touch {marker}"',
        'Match exec="touch {marker}"',
        'Match=exec "touch {marker}"',
        'Match canonical exec "touch {marker}"',
    ],
)
def test_resolving_jump_hosts_never_runs_match_exec(tmp_path, match):
    marker = tmp_path / "match-exec-ran"
    config = tmp_path / "ssh_config"
    config.write_text(match.format(marker=marker) + "\n  ProxyJump root@192.0.2.9\n")
    hops = jump_hops(Host("t", "192.0.2.10"), SshOptions(ssh_config=[str(config)]))
    assert not marker.exists(), "a Match exec command from ssh_config was run"
    assert hops == []  # the block never matches


def test_connecting_never_runs_match_exec_from_the_default_ssh_config(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    marker = tmp_path / "default-config-exec-ran"
    (home / ".ssh" / "config").write_text(f'Match exec "touch {marker}"\n  User nobody\n')
    monkeypatch.setenv("HOME", str(home))
    detail = _connect_refused(tmp_path, SshOptions())  # None: ~/.ssh/config, as asyncssh
    assert "refused" in detail
    assert not marker.exists(), "a Match exec command from ~/.ssh/config was run"


def test_included_files_are_made_safe_too(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh" / "conf.d").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    ran = [tmp_path / f"ran-{n}" for n in range(3)]
    (home / ".ssh" / "conf.d" / "a.conf").write_text(f'Match exec "touch {ran[0]}"\n')
    (home / ".ssh" / "conf.d" / "b.conf").write_text(f"Match final exec 'touch {ran[1]}'\n")
    absolute = tmp_path / "absolute include.conf"
    absolute.write_text(
        f"Host *\n  ProxyCommand touch {ran[2]}\nHost 192.0.2.10\n  ProxyJump hop@192.0.2.9\n"
    )
    config = tmp_path / "ssh_config"
    config.write_text(f"Include conf.d/*.conf\nInclude '{absolute}'\n")
    ssh = SshOptions(ssh_config=[str(config)])
    _connect_refused(tmp_path, ssh)
    # what the included files say otherwise still applies
    [hop] = jump_hops(Host("t", "192.0.2.10"), ssh)
    assert (hop.address, hop.user) == ("192.0.2.9", "hop")
    assert not any(path.exists() for path in ran)
    warnings = _warnings(tmp_path, ssh)
    assert any(w.startswith(f"{home}/.ssh/conf.d/a.conf:1: ") for w in warnings), warnings
    assert any(w.startswith(f"{home}/.ssh/conf.d/b.conf:1: ") for w in warnings), warnings
    assert any(w.startswith(f"{absolute}:2: ") for w in warnings), warnings


def test_refused_lines_are_warned_with_file_and_line(tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host *\n"
        "  PKCS11Provider /usr/lib/evil-pkcs11.so\n"
        "  ProxyCommand nc %h %p\n"
        "  LocalCommand id\n"
        "  PermitLocalCommand yes\n"
        "  KnownHostsCommand /bin/true %H\n"
        "  pkcs11provider=/usr/lib/evil-pkcs11.so\n"
        'Match exec "true"\n'
        "  User nobody\n"
        "Host *\n"
        "  ConnectTimeout 5\n"
        "  SendEnv AWS_SECRET_ACCESS_KEY\n"
        "  SetEnv TOKEN=x\n"
        "  ForwardAgent yes\n"
    )
    warnings = _warnings(tmp_path, SshOptions(ssh_config=[str(config)]))
    expected = [
        (2, "PKCS11Provider"),
        (3, "ProxyCommand"),
        (4, "LocalCommand"),
        (5, "PermitLocalCommand"),
        (6, "KnownHostsCommand"),
        (7, "PKCS11Provider"),
        (8, "Match exec"),
        (12, "SendEnv"),
        (13, "SetEnv"),
        (14, "ForwardAgent"),
    ]
    for line, option in expected:
        assert any(w.startswith(f"{config}:{line}: ") and option in w for w in warnings), (
            line,
            warnings,
        )
    assert len(warnings) == len(expected), warnings


def test_an_include_loop_or_an_unparseable_line_does_not_stop_the_run(tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(f'Include {config}\nHost *\n  IdentityFile "unterminated\n')
    ssh = SshOptions(ssh_config=[str(config)])
    assert "refused" in _connect_refused(tmp_path, ssh)
    warnings = _warnings(tmp_path, ssh)
    assert any(w.startswith(f"{config}:1: ") and "Include" in w for w in warnings), warnings
    assert any(w.startswith(f"{config}:3: ") for w in warnings), warnings


def test_a_missing_ssh_config_is_a_stated_outcome_naming_the_file(tmp_path):
    missing = tmp_path / "no-such-config"
    detail = _connect_refused(tmp_path, SshOptions(ssh_config=[str(missing)]))
    assert str(missing) in detail
