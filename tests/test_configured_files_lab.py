"""Files a web server's configuration names, diagnosed in a real fleet run (lab host).

One lab host, conf1, runs nginx on :443 with two server blocks: a healthy full chain for
conf1.example.test, and the leaf of bare.example.test without its intermediate. Once
nginx listens, a new site is planted that it was never reloaded for (so nothing serves
it yet): server blocks on :8443 naming a fullchain.pem that lacks its intermediate, a
self-signed certificate, a CN-only certificate and a chain whose intermediate is not a
CA. The run raises each problem once, located at the file and the configuration line;
the chains nginx serves raise what they serve (the bare leaf: one CHAIN_INCOMPLETE, on the
listener, not again on its file) and the healthy one nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from audit.analyze import analyze, fleet_evidence
from audit.collect.hostkeys import KnownHosts
from audit.collect.ssh import SshOptions
from audit.inventory import load_inventory
from audit.model import Finding, HostOutcome
from audit.rules import chain, names
from audit.rules.base import Settings
from audit.runner import FleetOptions, audit_fleet
from tests import pki
from tests.conftest import MakeLab
from tests.lab.netlab import Dir, File, HostSpec, Lab, Service
from tests.lab.scenarios import NGINX_ARGV, NGINX_MAIN

pytestmark = pytest.mark.lab

FAMILY = {r.id for r in (*chain.RULES, *names.RULES)}
LOCAL = "/etc/ssl/local"
NEXT = "/etc/nginx/sites-enabled/next.conf"


def _block(port: int, name: str, cert: str, key: str) -> str:
    return (
        f"server {{\n    listen {port} ssl;\n    server_name {name};\n"
        f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n}}\n"
    )


def _files(spec: HostSpec, items: list[tuple[str, str, bytes, pki.Issued]], port: int) -> str:
    """Plant each (name, certificate file, its bytes, the leaf) with the leaf's key; the
    server blocks naming them, certificate directive on line 4 of each 6-line block."""
    site = ""
    for name, cert, data, leaf in items:
        key = f"/etc/ssl/private/{name}.key"
        spec.after_start.append(File(cert, data))
        spec.after_start.append(File(key, leaf.key_pem(), 0o600))
        site += _block(port, name, cert, key)
    return site


def conf1(now: dt.datetime) -> tuple[HostSpec, dict[str, str]]:
    """The host, and for each problem the file that has it."""
    h = pki.hierarchy(now, "Conf")
    spec = HostSpec("conf1", trust=[h.root.pem], expect="configured files not served yet")
    good = h.leaf("conf1.example.test", now=now, fresh_key=True)
    bare = h.leaf("bare.example.test", now=now, fresh_key=True)
    served = [
        (
            "conf1.example.test",
            f"{LOCAL}/conf1.fullchain.pem",
            pki.pem_bundle(good, h.intermediate),
        ),
        ("bare.example.test", f"{LOCAL}/bare.crt", bare.pem),
    ]
    site = ""
    for (name, cert, data), leaf in zip(served, (good, bare), strict=True):
        key = f"/etc/ssl/private/{name}.key"
        spec.files += [File(cert, data), File(key, leaf.key_pem(), 0o600)]
        site += _block(443, name, cert, key)
    spec.files += [
        Dir("/srv/nginx", 0o755),
        File("/etc/nginx/nginx.conf", NGINX_MAIN),
        File("/etc/nginx/sites-enabled/conf1.conf", site.encode()),
    ]
    spec.services.append(Service(NGINX_ARGV, port=443))
    not_ca = pki.issue(
        "Conf Misissued CA", now=now, issuer=h.root, ca=True, ca_flag=False, fresh_key=True
    )
    lone = h.leaf("next.example.test", now=now, fresh_key=True)
    selfmade = pki.issue("self.example.test", now=now, fresh_key=True)
    cn_only = h.leaf("cn.example.test", now=now, sans=[], fresh_key=True)
    invalid = pki.issue("broken.example.test", now=now, issuer=not_ca, fresh_key=True)
    problems = {
        "CHAIN_INCOMPLETE": f"{LOCAL}/next.fullchain.pem",
        "CERT_SELF_SIGNED": f"{LOCAL}/self.pem",
        "SAN_MISSING": f"{LOCAL}/cn.fullchain.pem",
        "CHAIN_INVALID": f"{LOCAL}/broken.fullchain.pem",
    }
    later = _files(
        spec,
        [
            ("next.example.test", problems["CHAIN_INCOMPLETE"], lone.pem, lone),
            ("self.example.test", problems["CERT_SELF_SIGNED"], selfmade.pem, selfmade),
            (
                "cn.example.test",
                problems["SAN_MISSING"],
                pki.pem_bundle(cn_only, h.intermediate),
                cn_only,
            ),
            (
                "broken.example.test",
                problems["CHAIN_INVALID"],
                pki.pem_bundle(invalid, not_ca),
                invalid,
            ),
        ],
        8443,
    )
    spec.after_start.append(File(NEXT, later.encode()))
    return spec, problems


def audit(lab: Lab, now: dt.datetime) -> list[Finding]:
    inventory = load_inventory(lab.inventory)
    known = KnownHosts.load(Path(lab.known_hosts))
    options = FleetOptions(ssh=SshOptions(connect_timeout=5.0, host_timeout=30.0, ssh_config=[]))
    results = asyncio.run(audit_fleet(inventory.hosts, known, options))
    assert [r.outcome for r in results] == [HostOutcome.OK], [r.detail for r in results]
    evidence = fleet_evidence(results, now=now, cafile=str(lab.cafile))
    return analyze(evidence, Settings(now=now))


def test_configured_files_are_diagnosed_once_at_file_and_line(make_lab: MakeLab) -> None:
    now = pki.utcnow()
    spec, problems = conf1(now)
    lab = make_lab([spec])
    findings = [f for f in audit(lab, now) if f.id in FAMILY]
    got = sorted((f.id, f.subject) for f in findings)
    expected = sorted(
        [(rule_id, path) for rule_id, path in problems.items()]
        + [("CHAIN_INCOMPLETE", "listener 443 (bare.example.test)")]
    )
    assert got == expected, [(f.id, f.subject, f.detail) for f in findings]
    for f in findings:
        if f.subject.startswith("listener"):
            assert "conf1.conf line 10" in f.fix  # the bare block's ssl_certificate
            continue
        line = 4 + 6 * list(problems.values()).index(f.subject)
        where = f"{NEXT} line {line}"
        assert f"named by ssl_certificate in {where}" in f.detail, f.detail
        assert where in f.fix, f.fix
