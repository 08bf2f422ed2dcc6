"""End-to-end against the lab: real sshd hosts in network namespaces."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest

from audit.collect.hostkeys import KnownHosts
from audit.collect.ssh import SshOptions
from audit.inventory import load_inventory
from audit.model import HostOutcome, HostResult
from audit.runner import FleetOptions, Observer, audit_fleet
from tests.lab.scenarios import (
    LISTENER_FINDINGS,
    RENEWAL_FINDINGS,
    canaries,
    canary_windows,
    find_leaks,
)
from tests.report.test_json_schema import SCHEMA_PATH

pytestmark = pytest.mark.lab


class Recorder(Observer):
    """Keeps every byte received over SSH, per host."""

    def __init__(self) -> None:
        self.data: dict[str, bytearray] = defaultdict(bytearray)

    def received(self, host: str, stream: str, data: bytes) -> None:
        self.data[host].extend(data)

    def everything(self) -> bytes:
        return b"".join(bytes(v) for v in self.data.values())


def audit(
    lab,
    *,
    host_timeout: float = 20.0,
    accept_new: bool = False,
    known_hosts: Path | None = None,
    recorder: Recorder | None = None,
    limit: str | None = None,
) -> dict[str, HostResult]:
    inventory = load_inventory(lab.inventory, limit=limit)
    known = KnownHosts.load(Path(known_hosts or lab.known_hosts), accept_new=accept_new)
    options = FleetOptions(
        ssh=SshOptions(connect_timeout=5.0, host_timeout=host_timeout, ssh_config=[])
    )
    results = asyncio.run(audit_fleet(inventory.hosts, known, options, recorder))
    known.save()
    return {r.host.name: r for r in results}


def assert_no_canary(data: bytes, lab, where: str) -> None:
    """No 24-byte window covering a planted key's secret material appears in `data`.

    Windows over whole key encodings would also match the public key and algorithm
    identifiers that certificates legitimately carry, so the windows cover secret bytes
    (private numbers, ciphertext of encrypted keys) in raw, hex and base64 forms.
    """
    leaks = find_leaks(data, canary_windows(lab))
    assert not leaks, f"planted private key material leaked into {where} at offsets {leaks[:5]}"


def run_cli(
    lab, out: Path, db: Path, *extra: str, executable: list[str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`certaudit run` on the lab as a real process, as an operator would run it."""
    argv = [*(executable or [sys.executable, "-m", "audit"]), "run", str(lab.inventory)]
    argv += ["--known-hosts", str(lab.known_hosts), "--out", str(out), "--db", str(db)]
    argv += ["--host-timeout", "15", "--ssh-config", "/dev/null", *extra]
    return subprocess.run(argv, capture_output=True, timeout=120)


def test_fleet_outcomes_and_findings(lab):
    started = time.monotonic()
    results = audit(lab, host_timeout=15.0)
    elapsed = time.monotonic() - started
    assert results["down1"].outcome is HostOutcome.UNREACHABLE
    assert elapsed < 15.0 + 5.0, "an unreachable host must end within the deadline"
    for name, result in results.items():
        if name == "down1":
            continue
        # db1's sshd prohibits TCP forwarding: its listeners were probed from the runner,
        # and the host says so (partial: a loopback-only listener there would be missed)
        expected = HostOutcome.PARTIAL if name == "db1" else HostOutcome.OK
        assert result.outcome is expected, (name, result.outcome, result.detail, result.issues)
        if name == "db1":
            assert [i.path for i in result.issues] == ["(listener probing)"]
        assert result.certificates, name
        assert result.listeners, name


def test_canary_keys_never_leave_hosts(lab, tmp_path):
    recorder = Recorder()
    results = audit(lab, recorder=recorder)
    received = recorder.everything()
    assert len(received) > 1000  # the recorder really saw the collection output
    assert canaries(lab), "the lab planted canary keys"
    # web-server configuration naming those keys was read, and their public-key digests
    # were computed on the hosts: the keys themselves must still not have travelled
    assert b"KEYPUB " in received and b"WEB nginx " in received
    # inline1's served nginx configuration holds its key inline (data:) and its Apache
    # configuration a PKCS#11 URI with a PIN: both were read, only what they were arrived
    assert b"WEB nginx " in recorder.data["inline1"] and b"WEB apache " in recorder.data["inline1"]
    keys = {(c.server, c.key_file) for c in results["inline1"].tls_configs}
    assert keys == {("nginx", "data:"), ("apache", "pkcs11:")}, keys
    # kubecfg1's kubeconfigs embed client keys (client-key-data) beside their certificates,
    # and the kubelet's client certificate shares its file with its key: the certificates
    # arrived, decoded on the host (KPEM); the keys did not
    kube = recorder.data["kubecfg1"]
    assert b"KPEM " in kube and b"CBLIN " in recorder.data["certok1"]
    combined = {k.path: k.kind for k in results["kubecfg1"].key_files}
    assert combined["/etc/kubernetes/admin.conf"] == "combined"
    assert any(p.startswith("/var/lib/kubelet/pki/kubelet-client-") for p in combined)
    embedded = {
        f.location.path
        for f in results["kubecfg1"].certificates
        if f.location.kind.value == "kubeconfig"
    }
    assert {"/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf"} <= embedded
    assert_no_canary(received, lab, "bytes received over SSH")

    out = tmp_path / "out"
    db = tmp_path / "history.db"
    proc = run_cli(lab, out, db, "-vvv", "--connect-timeout", "5")
    assert proc.returncode in (1, 3), proc.stderr.decode()
    on_disk = proc.stdout + proc.stderr
    for path in [*out.iterdir(), *tmp_path.glob("history.db*")]:
        on_disk += path.read_bytes()
    assert_no_canary(on_disk, lab, "the reports, the database or the logs")


def test_findings_json_ranks_findings_from_every_host(lab, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(lab, out, tmp_path / "h.db", "--cafile", str(lab.cafile))
    assert proc.returncode == 3, proc.stderr.decode()  # down1 is not audited: coverage below 100%
    doc = json.loads((out / "findings.json").read_text())
    assert doc["schema_version"]
    schema = json.loads(SCHEMA_PATH.read_text())
    problems = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
    assert not problems, problems[:5]  # the real lab document honours the committed schema
    risks = [f["risk"] for f in doc["findings"]]
    assert risks == sorted(risks, reverse=True)
    hosts_with_findings = {f["host"] for f in doc["findings"]}
    ids = defaultdict(set)
    for f in doc["findings"]:
        ids[f["host"]].add(f["id"])
    assert "HOST_UNREACHABLE" in ids["down1"]
    assert {"CERT_EXPIRED", "CERT_EXPIRING"} <= ids["web2"]
    assert {"PRIVATE_KEY_EXPOSED", "CERT_UNPARSEABLE", "CERT_NOT_YET_VALID"} <= ids["db1"]
    for host, finding in LISTENER_FINDINGS.items():  # listeners, judged with the lab's CAs
        assert finding in ids[host], (host, ids[host])
    for host, finding in RENEWAL_FINDINGS.items():
        assert finding in ids[host], (host, ids[host])
    assert "web1" not in hosts_with_findings  # the healthy nginx host
    assert "certok1" not in hosts_with_findings  # the healthy certbot host
    listeners = {(li["host"], li["port"]) for li in doc["listeners"]}
    assert {("web1", 443), ("web1", 8443), ("mail1", 25), ("db1", 443)} <= listeners
    assert {h["name"] for h in doc["hosts"]} == hosts_with_findings | {
        h["name"] for h in doc["hosts"]
    }
    formats = {loc["format"] for c in doc["certificates"] for loc in c["locations"]}
    assert {"pem", "der", "pkcs7"} <= formats
    # certbot's live/ names are where users look: they are kept as locations
    paths = {loc["path"] for c in doc["certificates"] for loc in c["locations"]}
    assert any("/etc/letsencrypt/live/" in p for p in paths)


def test_changed_host_key_is_refused_and_runs_nothing(make_lab):
    with make_lab(["victim", "ok1"]) as lab:
        lab.write_file("victim", "/root/.bashrc", b"echo ran > /root/ran-marker\n")
        lab.regenerate_host_key("victim")
        recorder = Recorder()
        results = audit(lab, recorder=recorder)
        assert results["victim"].outcome is HostOutcome.KEY_MISMATCH
        assert results["ok1"].outcome is HostOutcome.OK
        assert not recorder.data.get("victim")
        assert results["victim"].bytes_received == 0
        proc = lab.run_in_host("victim", ["test", "-e", "/root/ran-marker"])
        assert proc.returncode != 0, "a command ran on a host whose key changed"
        # accept-new never overrides a changed key
        results = audit(lab, accept_new=True)
        assert results["victim"].outcome is HostOutcome.KEY_MISMATCH


def test_unknown_host_key_needs_explicit_opt_in(make_lab, tmp_path):
    with make_lab(["fresh"]) as lab:
        known = tmp_path / "known_hosts"
        known.write_text("# empty on purpose\n")
        results = audit(lab, known_hosts=known)
        assert results["fresh"].outcome is HostOutcome.KEY_UNKNOWN
        assert known.read_text() == "# empty on purpose\n"  # never rewritten without the opt-in
        results = audit(lab, known_hosts=known, accept_new=True)
        assert results["fresh"].outcome is HostOutcome.OK
        assert lab.hosts["fresh"].address in known.read_text()
        results = audit(lab, known_hosts=known)  # now known: audited without the opt-in
        assert results["fresh"].outcome is HostOutcome.OK


def test_noisy_shell_changes_nothing(make_lab):
    with make_lab(["quiet", "noisy"], noisy=["noisy"], same_files=True) as lab:
        results = audit(lab)
        quiet, noisy = results["quiet"], results["noisy"]
        assert noisy.outcome is HostOutcome.OK, (noisy.detail, noisy.issues)

        def shape(r: HostResult):
            return sorted(
                (f.cert.sha256, f.location.path, f.location.index) for f in r.certificates
            )

        assert shape(quiet) == shape(noisy)
        assert sorted(k.path for k in quiet.key_files) == sorted(k.path for k in noisy.key_files)


def test_remote_files_unchanged_by_a_run(lab):
    before = {name: lab.snapshot(name) for name in lab.hosts if name != "down1"}
    audit(lab)
    after = {name: lab.snapshot(name) for name in before}
    assert before == after
