"""Renewal pipelines against the lab (tests/lab/scenarios.py: certok1, certoff1, certfail1,
norenew1, kubeadm1, kubecfg1), through `certaudit run` as an operator runs it: the findings
each host raises, and the Renewal sheet, HTML section and findings.json filled from them."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.lab.netlab import File
from tests.lab.scenarios import CA_SAYS, RENEWAL_FINDINGS, canary_windows, find_leaks
from tests.test_run_lab import run_cli

pytestmark = pytest.mark.lab

RENEWAL_IDS = {"CERTBOT_TIMER_INACTIVE", "CERTBOT_RENEWAL_FAILING", "RENEWAL_NOT_AUTOMATED"}
PACKAGE_FILES = ("/lib/systemd/system/certbot.timer", "/etc/cron.d/certbot")


@pytest.fixture(scope="module")
def reports(lab, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    missing = [p for p in PACKAGE_FILES if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"{missing} missing: the lab hosts see Debian's certbot (apt-get install certbot)"
        )
    out = tmp_path_factory.mktemp("renewal") / "out"
    proc = run_cli(lab, out, out.parent / "h.db", "--cafile", str(lab.cafile))
    assert proc.returncode in (1, 3), proc.stderr.decode()
    return out


@pytest.fixture(scope="module")
def doc(reports: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((reports / "findings.json").read_text())


def _of(doc: dict, host: str, fid: str | None = None) -> list[dict]:  # type: ignore[type-arg]
    return [f for f in doc["findings"] if f["host"] == host and (fid is None or f["id"] == fid)]


def test_each_renewal_host_raises_what_it_is_built_for(doc: dict) -> None:  # type: ignore[type-arg]
    for host, fid in RENEWAL_FINDINGS.items():
        assert _of(doc, host, fid), (host, [f["id"] for f in _of(doc, host)])
    assert _of(doc, "certok1") == []  # the healthy certbot host raises nothing at all
    assert not {f["id"] for f in _of(doc, "kubeadm1")} & RENEWAL_IDS


def test_timer_disabled_and_cron_a_no_op_under_systemd(doc: dict) -> None:  # type: ignore[type-arg]
    (f,) = _of(doc, "certoff1", "CERTBOT_TIMER_INACTIVE")
    assert f["subject"] == "certbot.timer" and f["severity"] == "high"
    assert "certbot.timer is disabled and inactive" in f["detail"]
    assert "does nothing where systemd runs" in f["detail"]
    assert "systemctl enable --now certbot.timer" in f["fix"]
    states = {(s["host"], s["name"]): s for s in doc["renewal_schedules"]}
    timer = states[("certoff1", "certbot.timer")]
    assert (timer["source"], timer["state"], timer["effective"]) == ("systemctl", "disabled", False)


def test_failing_renewal_carries_what_the_ca_said(doc: dict) -> None:  # type: ignore[type-arg]
    (f,) = _of(doc, "certfail1", "CERTBOT_RENEWAL_FAILING")
    assert "Some challenges have failed." in f["detail"] and CA_SAYS in f["detail"]
    assert f["diagnose"] == "certbot renew --dry-run --cert-name certfail1.example.test"
    schedules = {s["name"]: s for s in doc["renewal_schedules"] if s["host"] == "certfail1"}
    # read from files: systemd is not PID 1 in the lab, so Debian's cron line runs certbot
    assert schedules["certbot.timer"]["source"] == "files"
    assert schedules["certbot.timer"]["effective"] is False
    assert schedules["/etc/cron.d/certbot line 17"]["effective"] is True
    expiring = _of(doc, "certfail1", "CERT_EXPIRING")
    assert expiring and all("certbot renew --cert-name" in e["fix"] for e in expiring)


def test_nothing_renews_it(doc: dict) -> None:  # type: ignore[type-arg]
    (f,) = _of(doc, "norenew1", "RENEWAL_NOT_AUTOMATED")
    assert f["subject"] == "/etc/ssl/local/norenew1.example.test.fullchain.pem"
    assert "nothing renews it" in f["why"] and "served on a listener" in f["why"]


def test_kubeadm_certificates_get_the_kubeadm_fix(doc: dict) -> None:  # type: ignore[type-arg]
    (api,) = [f for f in _of(doc, "kubeadm1", "CERT_EXPIRING")]
    assert api["subject"] == "/etc/kubernetes/pki/apiserver.crt"
    assert "kubeadm certs renew apiserver" in api["fix"] and "certbot" not in api["fix"]
    assert api["diagnose"] == "kubeadm certs check-expiration"
    assert "served on a listener" in api["why"]  # kube-apiserver's stand-in on :6443
    admin = [
        f for f in _of(doc, "kubecfg1", "CERT_EXPIRING") if f["subject"].endswith("admin.conf")
    ]
    assert [f["subject"] for f in admin] == ["/etc/kubernetes/admin.conf"]
    assert "kubeadm certs renew admin.conf" in admin[0]["fix"]
    (kubelet,) = _of(doc, "kubecfg1", "RENEWAL_NOT_AUTOMATED")
    assert kubelet["subject"] == "/var/lib/kubelet/pki/kubelet-client-current.pem"
    assert "rotateCertificates: false" in kubelet["detail"]
    assert "rotateCertificates: true" in kubelet["fix"]


def test_findings_json_renewal_list(doc: dict) -> None:  # type: ignore[type-arg]
    got = {(r["host"], r["path"]): r for r in doc["renewal"]}
    ok = got[("certok1", "/etc/letsencrypt/live/certok1.example.test/cert.pem")]
    assert (ok["mechanism"], ok["status"], ok["last_outcome"]) == (
        "certbot",
        "automated",
        "not_due",
    )
    assert ok["next_trigger"] and ok["served_on"] and ok["configured_in"]
    assert ok["configured_in"][0].startswith("/etc/nginx/sites-enabled/certok1.conf line ")
    api = got[("kubeadm1", "/etc/kubernetes/pki/apiserver.crt")]
    assert (api["mechanism"], api["status"], api["name"]) == ("kubeadm", "manual", "apiserver")
    assert api["ca_not_after"] and api["served_on"]
    assert (
        got[("norenew1", "/etc/ssl/local/norenew1.example.test.fullchain.pem")]["status"] == "none"
    )
    statuses = [r["status"] for r in doc["renewal"]]
    assert statuses.index("none") < statuses.index("automated")  # worst first
    lineages = {lin["host"]: lin for lin in doc["certbot_lineages"]}
    assert lineages["certfail1"]["last_outcome"] == "failed"
    assert lineages["certok1"]["authenticator"] == "dns-cloudflare"


def test_renewal_sheet_is_filled(reports: Path) -> None:
    wb = load_workbook(reports / "report.xlsx", read_only=True)
    rows = list(wb["Renewal"].iter_rows(values_only=True))
    header, body = rows[0], [r for r in rows[1:] if any(r)]
    col = {name: i for i, name in enumerate(header)}
    by_host: dict[str, list[tuple]] = {}  # type: ignore[type-arg]
    for r in body:
        by_host.setdefault(r[col["Host"]], []).append(r)
    ok = by_host["certok1"][0]
    assert ok[col["Mechanism"]] == "certbot" and ok[col["Status"]] == "automated"
    assert "certbot.timer is enabled and active" in ok[col["Timer or cron"]]
    assert ok[col["Last result"]] == "not due" and ok[col["Next run (UTC)"]] is not None
    fail = by_host["certfail1"][0]
    assert fail[col["Status"]] == "failing" and CA_SAYS in fail[col["Detail"]]
    kube = {r[col["Renewed by"]]: r for r in by_host["kubeadm1"]}
    assert kube["apiserver"][col["Mechanism"]] == "kubeadm"
    assert kube["apiserver"][col["CA expires (UTC)"]] is not None
    assert by_host["norenew1"][0][col["Status"]] == "none"


def test_html_renewal_section(reports: Path) -> None:
    html = (reports / "report.html").read_text()
    assert 'id="renewal"' in html and 'href="#renewal"' in html
    section = html[html.index('id="renewal"') :]
    section = section[: section.index("</section>")]
    rows = re.findall(r'<tr class="renewal-row (\w+)">', section)
    assert {"automated", "failing", "unscheduled", "manual", "none", "rotation_off"} <= set(rows)
    assert "certok1" in section and "Renewal schedules" in section


def test_no_key_in_a_kubeconfig_or_kubelet_pem_can_slip_past_the_canary_check(lab) -> None:  # type: ignore[no-untyped-def]
    """The leak check covers the forms these keys are planted in: client-key-data values
    (base64 of a PEM key) and the key block of the kubelet's combined file."""
    windows = canary_windows(lab)
    spec = lab.hosts["kubecfg1"].spec
    checked = 0
    for f in spec.files:
        if not isinstance(f, File):
            continue
        for m in re.finditer(rb'client-key-data"?\s*:\s*"?([A-Za-z0-9+/=]{100,})', f.data):
            assert find_leaks(m.group(1), windows), f.path
            assert find_leaks(base64.b64decode(m.group(1)), windows), f.path
            checked += 1
        if f.path.startswith("/var/lib/kubelet/pki/kubelet-client-") and b"PRIVATE KEY" in f.data:
            key = f.data[f.data.index(b"-----BEGIN EC PRIVATE KEY") :]
            assert find_leaks(key, windows), f.path
            checked += 1
    assert checked >= 4  # plain, JSON and quoted kubeconfigs, and the kubelet's file
