"""Listeners end to end against the lab: discovery in the collection round trip,
probing through each host's SSH connection (or from the runner where sshd prohibits
forwarding, or where the inventory asks for the outside view), classification, config
mapping, served versus stored.

The session fleet (tests/lab/scenarios.py) has one host per broken setup, built with real
nginx, and a healthy nginx host (web1) that must raise nothing at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from audit.analyze import analyze, fleet_evidence
from audit.collect.hostkeys import KnownHosts
from audit.collect.ssh import SshOptions
from audit.inventory import load_inventory
from audit.model import Finding, HostOutcome, HostResult, IssueReason, Listener, ProbeStatus
from audit.rules.base import Settings
from audit.runner import FleetOptions, audit_fleet
from tests.lab.netlab import Lab
from tests.lab.scenarios import LISTENER_FINDINGS

pytestmark = pytest.mark.lab

LISTENER_IDS = set(LISTENER_FINDINGS.values()) | {"TLS_HANDSHAKE_FAILED", "HOSTNAME_MISMATCH"}


@dataclass(frozen=True)
class Audit:
    results: dict[str, HostResult]
    findings: list[Finding]

    def ids(self, host: str) -> set[str]:
        return {f.id for f in self.findings if f.host == host}

    def listener(self, host: str, port: int, address: str | None = None) -> Listener:
        (found,) = [
            li
            for li in self.results[host].listeners
            if li.port == port and (address is None or li.address == address)
        ]
        return found


def run_audit(lab: Lab, now: dt.datetime) -> Audit:
    inventory = load_inventory(lab.inventory)
    known = KnownHosts.load(Path(lab.known_hosts))
    options = FleetOptions(ssh=SshOptions(connect_timeout=5.0, host_timeout=30.0, ssh_config=[]))
    results = asyncio.run(audit_fleet(inventory.hosts, known, options))
    evidence = fleet_evidence(results, now=now, cafile=str(lab.cafile))
    findings = analyze(evidence, Settings(now=now))
    return Audit({r.host.name: r for r in results}, findings)


@pytest.fixture(scope="module")
def audited(lab: Lab, lab_now: dt.datetime) -> Audit:
    return run_audit(lab, lab_now)


def test_each_listener_finding_on_the_host_built_for_it(audited: Audit) -> None:
    where: dict[str, set[str]] = defaultdict(set)
    for f in audited.findings:
        if f.id in LISTENER_IDS:
            where[f.id].add(f.host)
    for host, finding in LISTENER_FINDINGS.items():
        assert finding in audited.ids(host), (host, audited.ids(host))
        assert where[finding] == {host}, f"{finding} raised elsewhere too: {where[finding]}"
    assert not where["TLS_HANDSHAKE_FAILED"] and not where["HOSTNAME_MISMATCH"]


def test_the_healthy_nginx_host_raises_nothing(audited: Audit) -> None:
    web1 = audited.results["web1"]
    assert web1.outcome is HostOutcome.OK, web1.issues
    assert [f"{f.id}: {f.detail}" for f in audited.findings if f.host == "web1"] == []
    https = audited.listener("web1", 443)
    assert https.process == "nginx" and https.expects_tls
    assert https.config_file == "/etc/nginx/sites-enabled/web1.conf" and https.config_line == 4
    assert {p.servername for p in https.probes} == {"web1.example.test", "www.example.test"}
    assert all(p.status is ProbeStatus.TLS and p.via == "ssh" for p in https.probes)
    assert https.legacy_protocol is None  # asked, and refused


def test_chain_incomplete_fix_names_the_nginx_file_and_line(audited: Audit) -> None:
    (f,) = [f for f in audited.findings if f.id == "CHAIN_INCOMPLETE"]
    assert f.host == "chain1" and f.subject == "listener 443 (chain1.example.test)"
    assert "point `ssl_certificate` in /etc/nginx/sites-enabled/chain1.conf line 5" in f.fix
    assert "/etc/ssl/local/chain1.example.test.crt" in f.fix
    assert "already deployed elsewhere in the fleet" in f.fix  # web1 holds the intermediate
    assert "nginx -t && systemctl reload nginx" in f.fix


def test_outside_view_when_the_inventory_asks_for_it(audited: Audit) -> None:
    https = audited.listener("chain1", 443)
    assert {p.via for p in https.probes} == {"ssh", "direct"}
    assert {p.address for p in https.probes} == {audited.results["chain1"].host.address}
    # both views saw the same chain: one finding, not two
    assert [f.id for f in audited.findings if f.host == "chain1"].count("CHAIN_INCOMPLETE") == 1


def test_loopback_only_listener_is_probed_through_ssh(audited: Audit) -> None:
    admin = audited.listener("web1", 8443)
    assert admin.address == "127.0.0.1" and admin.expects_tls
    assert admin.probes and all(p.via == "ssh" for p in admin.probes)
    assert all(p.status is ProbeStatus.TLS and p.address == "127.0.0.1" for p in admin.probes)
    assert admin.probes[0].chain[0].common_name == "web1.example.test"
    assert admin.config_line == 11  # its own server block


def test_forwarding_prohibited_falls_back_to_direct_probing(audited: Audit) -> None:
    db1 = audited.results["db1"]
    (issue,) = [i for i in db1.issues if i.path == "(listener probing)"]
    assert issue.reason is IssueReason.UNSUPPORTED and "prohibits TCP forwarding" in issue.detail
    assert dict(db1.facts)["forwarding"] == "prohibited"
    https = audited.listener("db1", 443)
    assert [(p.via, p.status) for p in https.probes] == [("direct", ProbeStatus.TLS)]
    assert any("prohibits TCP forwarding" in n for n in https.notes)
    # mapped to haproxy.cfg even though HAProxy itself is not what serves it here
    assert https.config_file == "/etc/haproxy/haproxy.cfg" and https.server == "haproxy"
    partial = [f for f in audited.findings if f.host == "db1" and f.id == "COLLECTION_PARTIAL"]
    assert partial and "prohibits TCP forwarding" in partial[0].detail


def test_smtp_starttls_is_probed(audited: Audit) -> None:
    smtp = audited.listener("mail1", 25)
    assert smtp.starttls == "smtp" and not smtp.expects_tls
    assert smtp.probes and all(p.status is ProbeStatus.TLS for p in smtp.probes)
    live = {
        f.cert.sha256
        for f in audited.results["mail1"].certificates
        if f.location.path == "/etc/letsencrypt/live/mail1.example.test/cert.pem"
    }
    assert {p.chain[0].sha256 for p in smtp.probes} == live
    assert not LISTENER_IDS & audited.ids("mail1")


def test_ssh_ports_raise_nothing(audited: Audit) -> None:
    for name, r in audited.results.items():
        if not r.outcome.audited:
            continue
        ssh = audited.listener(name, 22)
        assert ssh.process == "sshd" and not ssh.expects_tls
        assert ssh.probes[0].status is ProbeStatus.PLAINTEXT
        assert ssh.probes[0].error.startswith("SSH-2.0-")
        assert len(ssh.probes) == len({p.via for p in ssh.probes})  # one name: not TLS
        assert ssh.legacy_protocol is None
    assert not [f for f in audited.findings if f.subject.startswith("listener 22")]


def test_the_findings_say_what_happened(audited: Audit) -> None:
    by_id = {f.id: f for f in audited.findings if f.id in LISTENER_FINDINGS.values()}
    plain = by_id["TLS_NOT_SPOKEN"]
    assert "HTTP/1.1 400 Bad Request" in plain.detail
    assert "/etc/nginx/sites-enabled/plain1.conf:2" in plain.fix
    stale = by_id["CERT_NOT_RELOADED"]
    assert "/etc/ssl/local/stale1.example.test.fullchain.pem" in stale.detail
    assert "/etc/nginx/sites-enabled/stale1.conf line 5" in stale.detail
    mismatch = by_id["KEY_MISMATCH"]
    assert mismatch.subject == "/etc/ssl/local/keymix1.example.test.fullchain.pem"
    assert "ssl_certificate_key in /etc/nginx/sites-enabled/keymix1.conf line 6" in mismatch.fix
    legacy = by_id["LEGACY_PROTOCOL"]
    assert "negotiated TLSv1" in legacy.detail
    mtls = by_id["CLIENT_CERT_REQUIRED"]
    assert "CN=Lab Client Root CA" in mtls.detail
    # the old certificate stale1 still serves expires in 10 days, and no file holds it now
    expiring = [f for f in audited.findings if f.host == "stale1" and f.id == "CERT_EXPIRING"]
    assert [f.cert_sha256 for f in expiring] == [stale.cert_sha256]


def test_probing_is_timed_inside_the_host_result(audited: Audit) -> None:
    for r in audited.results.values():
        if not r.outcome.audited:
            continue
        facts = dict(r.facts)
        for key in ("ssh_connect_ms", "collect_ms", "probe_ms", "handshakes"):
            assert facts[key].isdigit(), (r.host.name, key, facts)
        assert int(facts["listeners"]) == len(r.listeners) >= 1
