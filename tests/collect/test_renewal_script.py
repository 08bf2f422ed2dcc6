"""The renewal part of the collection script, run for real under every shell and awk.

One tree stands for a host's "/": certbot (two lineages, relative live/ links into
numbered archive generations, a DNS credentials file and an ACME account id that must not
leave, a log where one lineage failed then succeeded and the other failed with what the
CA reported), certbot's systemd units and cron entries in every state (disabled, masked,
Debian's guarded cron line, a commented line, acme.sh's crontab line), acme.sh's
configuration, a kubeadm control plane whose kubeconfigs are written in every form users
write them (plain, quoted, block scalars, JSON, one-line JSON) plus a kubeconfig with
misspelled and commented keys, and the kubelet's combined certificate+key file with
rotation off. The script reads it through build_script(renewal=RenewalPaths(...)).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from audit.collect.parse import Collected, parse_output
from audit.collect.script import RenewalPaths, build_script, new_nonce
from audit.model import LocationKind, RenewalMechanism, RenewalStatus
from tests import pki
from tests.collect.shells import SHELLS, shell
from tests.lab import kubeadm
from tests.lab import renewal as layouts
from tests.lab.netlab import Dir, File, HostSpec, Symlink
from tests.lab.scenarios import canary_windows, find_leaks

NOW = pki.utcnow()
TOKEN = "cf-token-" + "7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e"
ACCOUNT = "acc0unt1d0000ffff1111eeee2222dddd"
CA_SAYS = (
    "203.0.113.10: Fetching http://fail.example.test/.well-known/acme-challenge/x: "
    "\x1b[31mConnection refused"
)


@dataclass
class Tree:
    root: Path
    paths: RenewalPaths
    layout: layouts.Layout
    odd: dict[str, str] = field(default_factory=dict)
    """Certificates written under misspelled or commented keys: sha256 -> where."""
    json_line: dict[str, str] = field(default_factory=dict)
    """sha256 of the certificates of the one-line JSON kubeconfig -> which."""

    def p(self, path: str) -> str:
        return f"{self.root}{path}"


def _plant(root: Path, layout: layouts.Layout) -> None:
    for e in layout.entries:
        target = Path(e.path)
        assert str(target).startswith(str(root)), e.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(e, Dir):
            target.mkdir(exist_ok=True)
            os.chmod(target, e.mode)
        elif isinstance(e, Symlink):
            os.symlink(e.target, target)
        else:
            target.write_bytes(e.data)
            os.chmod(target, e.mode)


def _odd_kubeconfig(tree: Tree, h: pki.Hierarchy) -> bytes:
    """Keys that are not the real ones (misspelled, another case, commented out) each hold
    a certificate that must not be read; one real key in a one-line JSON document is."""
    parts = []
    for key in (
        "client-certificate-datas",
        "client_certificate_data",
        "Client-Certificate-Data",
        "xclient-certificate-data",
        "# client-certificate-data",
    ):
        leaf = h.leaf(f"{key.strip('# ')}.odd.test", now=NOW, fresh_key=True)
        tree.odd[hashlib.sha256(leaf.der).hexdigest()] = key
        parts.append(f"    {key}: {base64.b64encode(leaf.pem).decode()}\n")
    return (
        "apiVersion: v1\nkind: Config\nusers:\n- name: odd\n  user:\n" + "".join(parts)
    ).encode()


def _one_line_json(tree: Tree, h: pki.Hierarchy) -> bytes:
    ca, client = h.root, h.leaf("json-user", now=NOW, fresh_key=True, sans=[])
    key = base64.b64encode(client.key_pem("traditional")).decode()
    tree.json_line = {
        hashlib.sha256(ca.der).hexdigest(): "ca",
        hashlib.sha256(client.der).hexdigest(): "client",
    }
    tree.layout.canaries.append(client.key_pem("traditional"))
    return (
        '{"kind":"Config","clusters":[{"cluster":{"certificate-authority-data":"'
        + base64.b64encode(ca.pem).decode()
        + '","server":"https://10.0.0.1:6443"},"name":"k"}],"users":[{"name":"j","user":'
        '{"client-key-data":"'
        + key
        + '","client-certificate-data":"'
        + base64.b64encode(client.pem).decode()
        + '"}}]}'
    ).encode()


def _build(root: Path) -> Tree:
    r = str(root)
    paths = RenewalPaths(
        certbot_config=(f"{r}/etc/letsencrypt",),
        certbot_logs=(f"{r}/var/log/letsencrypt",),
        unit_dirs=(f"{r}/etc/systemd/system", f"{r}/lib/systemd/system"),
        timer_stamps=f"{r}/var/lib/systemd/timers",
        cron=(f"{r}/etc/crontab", f"{r}/etc/cron.d", f"{r}/var/spool/cron/crontabs/root"),
        acme_sh=(f"{r}/root/.acme.sh",),
        caddy=(f"{r}/var/lib/caddy/.local/share/caddy",),
        kubernetes=f"{r}/etc/kubernetes",
        kubelet=f"{r}/var/lib/kubelet",
        systemd_runtime=f"{r}/run/systemd/system",
        systemctl=False,
        kubeadm=False,
    )
    acme = pki.hierarchy(NOW, name="Tree ACME")
    out = layouts.Layout()
    out.add(layouts.certbot_lineage(r, "site.example.test", acme, NOW, days_after=70))
    out.add(
        layouts.certbot_lineage(
            r,
            "fail.example.test",
            acme,
            NOW,
            days_after=12,
            authenticator="dns-cloudflare",
            account=ACCOUNT,
            token=TOKEN,
        )
    )
    conf = f"{r}/etc/letsencrypt"
    older = layouts.certbot_run(
        NOW - dt.timedelta(days=2), {"site.example.test": "failed"}, config=conf, ca_detail="old"
    )
    newer = layouts.certbot_run(
        NOW - dt.timedelta(hours=5),
        {"site.example.test": "renewed", "fail.example.test": "failed"},
        config=conf,
        ca_detail=CA_SAYS,
    )
    out.add(layouts.certbot_log(r, "/var/log/letsencrypt", older, newer))
    units, cron = f"{r}/lib/systemd/system", f"{r}/etc"
    out.entries += [
        File(f"{units}/certbot.timer", layouts.CERTBOT_TIMER),
        File(f"{units}/certbot.service", layouts.CERTBOT_SERVICE),
        File(f"{units}/snap.certbot.renew.timer", layouts.CERTBOT_TIMER),
        Dir(f"{r}/etc/systemd/system/timers.target.wants"),
        Symlink(f"{r}/etc/systemd/system/snap.certbot.renew.timer", "/dev/null"),
        File(f"{cron}/cron.d/certbot", layouts.CERTBOT_CRON),
        File(
            f"{cron}/crontab",
            b"SHELL=/bin/sh\n17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n"
            b"#30 3 * * * root certbot renew --config-dir /srv/old-letsencrypt -q\n",
        ),
        File(
            f"{r}/var/spool/cron/crontabs/root",
            f'45 0 * * * "{r}/root/.acme.sh"/acme.sh --cron --home "{r}/root/.acme.sh" > '
            "/dev/null\n".encode(),
            0o600,
        ),
    ]
    app = acme.leaf("app.example.test", now=NOW, days_after=50, fresh_key=True)
    none = acme.leaf("plain.example.test", now=NOW, days_after=20, fresh_key=True)
    home = f"{r}/root/.acme.sh"
    out.entries += [
        File(f"{r}/etc/ssl/acme/app.fullchain.pem", pki.pem_bundle(app, acme.intermediate)),
        File(f"{r}/etc/ssl/plain.pem", none.pem),
        File(
            f"{home}/app.example.test_ecc/app.example.test.conf",
            (
                "Le_Domain='app.example.test'\nLe_Alt='no'\nLe_Webroot='dns_cf'\n"
                f"Le_RealFullChainPath='{r}/etc/ssl/acme/app.fullchain.pem'\n"
                f"Le_NextRenewTime='{int((NOW + dt.timedelta(days=20)).timestamp())}'\n"
            ).encode(),
        ),
        File(f"{home}/account.conf", f"SAVED_CF_Token='{TOKEN}'\n".encode(), 0o600),
    ]
    out.certs["app"], out.certs["plain"] = app, none
    out.add(
        kubeadm.control_plane(
            r,
            NOW,
            node="cp1",
            address="10.0.0.30",
            days={"apiserver": 9, "admin.conf": 15, "kubelet-client": 20},
            styles={
                "super-admin.conf": "json",
                "controller-manager.conf": "quoted",
                "scheduler.conf": "block",
            },
            rotate=False,
        )
    )
    tree = Tree(root, paths, out)
    other = pki.hierarchy(NOW, name="Odd")
    out.entries += [
        File(f"{r}/etc/kubernetes/odd.conf", _odd_kubeconfig(tree, other), 0o600),
        File(f"{r}/etc/kubernetes/one-line.conf", _one_line_json(tree, other), 0o600),
    ]
    _plant(root, out)
    return tree


@pytest.fixture(scope="module")
def tree() -> Iterator[Tree]:
    root = Path(tempfile.mkdtemp(prefix="certaudit-renewal-", dir="/tmp"))  # noqa: S108
    try:
        os.chmod(root, 0o755)
        yield _build(root)
    finally:
        shutil.rmtree(root)


@dataclass
class Run:
    stdout: bytes
    stderr: bytes
    returncode: int
    collected: Collected


def _run(
    tree: Tree, argv: list[str], env: dict[str, str], paths: RenewalPaths | None = None
) -> Run:
    nonce = new_nonce()
    r = str(tree.root)
    roots = [
        f"{r}/etc/letsencrypt",
        f"{r}/etc/kubernetes",
        f"{r}/var/lib/kubelet/pki",
        f"{r}/etc/ssl",
    ]
    script = build_script(
        nonce=nonce, roots=roots, listeners=False, web_configs=(), renewal=paths or tree.paths
    )
    proc = subprocess.run(argv, input=script, capture_output=True, timeout=60, env=env, cwd="/")
    collected = parse_output(
        "h", proc.stdout, nonce=nonce, exit_status=proc.returncode, stderr=proc.stderr
    )
    return Run(proc.stdout, proc.stderr, proc.returncode, collected)


@pytest.fixture(scope="module", params=SHELLS)
def run(request: pytest.FixtureRequest, tree: Tree, busybox_path: str, tmp_path_factory) -> Run:
    argv, env = shell(request.param, busybox_path, str(tmp_path_factory.getbasetemp()))
    return _run(tree, argv, env)


def sha(issued: pki.Issued) -> str:
    return hashlib.sha256(issued.der).hexdigest()


# --------------------------------------------------------------------------- every shell


def test_frame_is_complete_and_nothing_secret_crosses(run: Run, tree: Tree) -> None:
    assert run.returncode == 0, run.stderr
    assert run.stderr == b""
    assert run.collected.complete, run.collected.issues
    assert not run.collected.issues, run.collected.issues
    spec = HostSpec("tree", files=[], canaries=tree.layout.canaries)
    leaks = find_leaks(run.stdout, canary_windows([spec]))
    assert not leaks, f"secret material at offsets {leaks[:5]}"
    for secret in (TOKEN, ACCOUNT, "dns-credentials.ini", "SAVED_CF_Token"):
        assert secret.encode() not in run.stdout
        assert secret.encode().hex().encode() not in run.stdout


def test_certbot_lineages(run: Run, tree: Tree) -> None:
    got = {lin.name: lin for lin in run.collected.certbot_lineages}
    assert set(got) == {"site.example.test", "fail.example.test"}
    site, fail = got["site.example.test"], got["fail.example.test"]
    assert site.cert_sha256 == sha(tree.layout.certs["site.example.test"])
    assert site.cert_path == tree.p("/etc/letsencrypt/live/site.example.test/cert.pem")
    assert site.archive_dir == tree.p("/etc/letsencrypt/archive/site.example.test")
    assert (site.authenticator, fail.authenticator) == ("standalone", "dns-cloudflare")
    assert site.server == "https://acme-v02.api.letsencrypt.org/directory"
    assert site.last_outcome == "success" and site.last_error == ""  # a later success clears it
    assert fail.last_outcome == "failed"
    assert fail.last_error.startswith("Some challenges have failed.")
    assert "203.0.113.10: Fetching http://fail.example.test" in fail.last_error
    assert "\x1b" not in fail.last_error  # the CA's text is made inert
    assert (
        fail.last_attempt is not None
        and abs(fail.last_attempt - (NOW - dt.timedelta(hours=5))).total_seconds() < 2
    )


def test_schedules_from_files(run: Run, tree: Tree) -> None:
    by_name = {s.name: s for s in run.collected.renewal_schedules}
    timer = by_name["certbot.timer"]
    assert (timer.source, timer.state, timer.effective) == ("files", "disabled", False)
    snap = by_name["snap.certbot.renew.timer"]
    assert (snap.state, snap.effective) == ("masked", False)
    debian = by_name[f"{tree.p('/etc/cron.d/certbot')} line 17"]
    assert (debian.client, debian.state, debian.effective) == ("certbot", "active", True)
    old = by_name[f"{tree.p('/etc/crontab')} line 3"]
    assert (old.state, old.effective) == ("commented", False)
    acme_sh = by_name[f"{tree.p('/var/spool/cron/crontabs/root')} line 1"]
    assert (acme_sh.client, acme_sh.effective) == ("acme.sh", True)
    assert dict(run.collected.facts)["systemd"] == "no"


def test_what_renews_each_certificate(run: Run, tree: Tree) -> None:
    certs = tree.layout.certs
    got = {r.cert_sha256: r for r in run.collected.cert_renewals}
    M, S = RenewalMechanism, RenewalStatus

    def check(name: str, mechanism: M, status: S, label: str = "") -> None:
        r = got[sha(certs[name])]
        assert (r.mechanism, r.status) == (mechanism, status), (name, r)
        if label:
            assert r.name == label, (name, r)

    check("site.example.test", M.CERTBOT, S.AUTOMATED, "site.example.test")
    check("fail.example.test", M.CERTBOT, S.FAILING, "fail.example.test")
    assert got[sha(certs["fail.example.test"])].path == tree.p(
        "/etc/letsencrypt/live/fail.example.test/cert.pem"
    )
    check("apiserver", M.KUBEADM, S.MANUAL, "apiserver")
    check("etcd-peer", M.KUBEADM, S.MANUAL, "etcd-peer")
    check("ca", M.KUBEADM, S.MANUAL, "ca")
    check("etcd-ca", M.KUBEADM, S.MANUAL, "etcd-ca")
    for conf in ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        check(conf, M.KUBEADM, S.MANUAL, conf)
        assert got[sha(certs[conf])].path == tree.p(f"/etc/kubernetes/{conf}")
    check("kubelet-client", M.KUBELET, S.ROTATION_OFF, "kubelet-client")
    assert "rotateCertificates: false" in got[sha(certs["kubelet-client"])].detail
    check("app", M.ACME, S.AUTOMATED, "acme.sh")
    check("plain", M.NONE, S.NONE)
    apiserver = got[sha(certs["apiserver"])]
    assert apiserver.ca_not_after == certs["ca"].cert.not_valid_after_utc
    archived = sha(certs["site.example.test (generation 1)"])
    assert archived not in got  # an archived generation is not deployed


def test_kubeconfig_data_in_every_form_and_only_real_keys(run: Run, tree: Tree) -> None:
    found = {
        (f.location.path, f.cert.sha256)
        for f in run.collected.certificates
        if f.location.kind is LocationKind.KUBECONFIG
    }
    certs = tree.layout.certs
    for conf in ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        where = tree.p(f"/etc/kubernetes/{conf}")
        assert (where, sha(certs[conf])) in found, conf
        assert (where, sha(certs["ca"])) in found, conf
    one_line = {s for p, s in found if p == tree.p("/etc/kubernetes/one-line.conf")}
    assert one_line == set(tree.json_line)
    shas = {s for _, s in found}
    assert not shas & set(tree.odd), "a misspelled or commented key was read"
    kubelet = {
        f.location.path
        for f in run.collected.certificates
        if f.cert.sha256 == sha(certs["kubelet-client"])
    }
    assert tree.p("/var/lib/kubelet/pki/kubelet-client-current.pem") in kubelet
    keys = {k.path: k.kind for k in run.collected.key_files}
    assert keys[tree.p("/etc/kubernetes/admin.conf")] == "combined"
    assert keys[tree.p("/etc/kubernetes/super-admin.conf")] == "combined"


# --------------------------------------------------------------------------- one shell


def test_where_systemd_runs_debians_cron_line_does_nothing(tree: Tree) -> None:
    running = tree.root / "run" / "systemd" / "system"
    running.mkdir(parents=True)
    try:
        got = _run(tree, ["dash", "-s"], {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    finally:
        shutil.rmtree(tree.root / "run")
    by_name = {s.name: s for s in got.collected.renewal_schedules}
    debian = by_name[f"{tree.p('/etc/cron.d/certbot')} line 17"]
    assert (debian.state, debian.effective) == ("skipped when systemd runs", False)
    site = next(r for r in got.collected.cert_renewals if r.name == "site.example.test")
    assert site.status is RenewalStatus.UNSCHEDULED
    assert "certbot.timer is disabled" in site.detail


def test_renewal_left_out(tree: Tree) -> None:
    got = _run(tree, ["dash", "-s"], {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}, paths=None)
    assert got.collected.certbot_lineages
    nonce = new_nonce()
    script = build_script(nonce=nonce, roots=[str(tree.root)], listeners=False, renewal=None)
    proc = subprocess.run(["dash", "-s"], input=script, capture_output=True, timeout=60)
    none = parse_output("h", proc.stdout, nonce=nonce, exit_status=proc.returncode)
    assert none.complete and not none.cert_renewals and not none.renewal_schedules
    assert b"CBLIN " not in proc.stdout and b"UNIT " not in proc.stdout
