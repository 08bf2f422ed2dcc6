"""The renewal records and what the runner makes of them: hostile fields cost their own
record only; certbot's log, `systemctl show` and `kubeadm certs check-expiration` read
from text in their tools' formats (fixtures/: hand-made in those formats); kubeconfigs
given to `inspect` read as YAML, by their real keys only."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.collect import kubeadm, kubeconfig
from audit.collect.certbotlog import outcomes
from audit.collect.mechanism import evidence
from audit.collect.parse import Collected, parse_output
from audit.collect.renewal import Records, systemd_time
from audit.collect.script import script_text
from audit.model import CertLocation, FoundCert, LocationKind, RenewalMechanism, RenewalStatus
from tests import pki
from tests.collect.shells import _awk_folder
from tests.lab import renewal as layouts
from tests.rules.kit import info

NOW = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC)
NONCE = "0123456789abcdef0123456789abcdef"
FIXTURES = Path(__file__).parent / "fixtures"
H = pki.hierarchy(NOW, name="Renewal records")
LEAF = H.leaf("site.example.test", now=NOW, days_after=20)
LE = "/etc/letsencrypt"


def hx(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").hex() or "-"


def frame(records: list[str]) -> bytes:
    body = "".join(r + "\n" for r in records)
    return f"BEGIN-{NONCE}\n{body}END-{NONCE} {len(records)}\n".encode()


def good() -> list[str]:
    live = f"{LE}/live/site.example.test"
    conf = f"{LE}/renewal/site.example.test.conf"
    return [
        f"FACT {hx('systemd')} {hx('no')} .",
        f"PEM {hx(live + '/cert.pem')} 0 CERTIFICATE {base64.b64encode(LEAF.der).decode()} .",
        f"CBLIN {hx(LE)} {hx(conf)} {hx(live + '/cert.pem')} {hx(live + '/fullchain.pem')}"
        f" {hx(LE + '/archive/site.example.test')} {hx('standalone')}"
        f" {hx('https://acme.example.test/dir')} - .",
        f"UNIT {hx('certbot.timer')} {hx('/lib/systemd/system/certbot.timer')} enabled"
        " 1735732800 .",
        f"CRON {hx('/etc/cron.d/certbot')} 17 {hx('0 */12 * * *')} {hx('root')} certbot active"
        " nosystemd - .",
    ]


def parse(records: list[str]) -> Collected:
    return parse_output("h", frame(records), nonce=NONCE)


def assert_good_kept(c: Collected) -> None:
    (lineage,) = c.certbot_lineages
    assert lineage.name == "site.example.test" and lineage.cert_sha256
    names = {s.name for s in c.renewal_schedules}
    assert {"certbot.timer", "/etc/cron.d/certbot line 17"} <= names
    (renewal,) = c.cert_renewals
    assert (renewal.mechanism, renewal.status) == (
        RenewalMechanism.CERTBOT,
        RenewalStatus.AUTOMATED,
    )


def test_good_records() -> None:
    c = parse(good())
    assert c.complete and not c.issues, c.issues
    assert_good_kept(c)
    timer = next(s for s in c.renewal_schedules if s.name == "certbot.timer")
    assert timer.last_trigger == dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert "systemd does not run on this host" in timer.detail


ODD = [
    f"UNIT {hx('certbot.timer')} - enabled {'9' * 5000} .",
    f"UNIT {hx('evil.timer')} - enabled - .",
    f"UNIT {hx('certbot.timer')} - wedged - .",
    f"CRON {hx('/etc/cron.d/x')} ² {hx('* * * * *')} - certbot active - - .",
    f"CRON {hx('/etc/cron.d/x')} 1 {hx('* * * * *; rm -rf /')} - certbot active - - .",
    f"CRON {hx('/etc/cron.d/x')} 1 {hx('* * * * *')} - wget active - - .",
    "CBLIN - - - - - - - - .",
    f"CBLIN {hx('relative')} {hx('x.conf')} - - - - - - .",
    f"CBLOG {hx('/var/log/letsencrypt')} ¹ {hx('x')} .",
    f"SDPROP {hx('evil.service')} {hx('Result')} {hx('success')} .",
    f"SDPROP {hx('certbot.timer')} {hx('Bad Key')} {hx('x')} .",
    f"SDPROP {hx('certbot.timer')} {hx('Result')} {hx(chr(27) + '[31m')} .",
    f"ACME certbot {hx('/x')} - - - .",
    f"KUBELET {hx('/var/lib/kubelet/config.yaml')} {hx('rotateCertificates')} maybe .",
    f"KUBELET {hx('/var/lib/kubelet/config.yaml')} {hx('evil')} true .",
    f"KUBEADM xml {hx('x')} .",
    f"KREF {hx('/etc/kubernetes/kubelet.conf')} key {hx('/x')} .",
    "CRON too few .",
]


def test_each_odd_record_costs_only_itself() -> None:
    for odd in ODD:
        c = parse(good()[:2] + [odd] + good()[2:])
        assert_good_kept(c)
        assert c.issues and "not understood" in c.issues[0].detail, odd


_TAGS = ["SDPROP", "UNIT", "CRON", "CBLIN", "CBLOG", "ACME", "KUBELET", "KUBEADM", "KREF"]
_TOKENS = st.one_of(
    st.sampled_from(
        [
            "-",
            "0",
            "1",
            "active",
            "commented",
            "nosystemd",
            "certbot",
            "acme.sh",
            "lego",
            "caddy",
            "enabled",
            "masked",
            "true",
            "false",
            "json",
            "table",
            "ca",
            "client",
            hx("certbot.timer"),
            hx("certbot.service"),
            hx("Result"),
            hx("/etc/x"),
            hx("0 */12 * * *"),
            hx("Processing /etc/letsencrypt/renewal/a.conf"),
        ]
    ),
    st.text(alphabet="0123456789abcdef", max_size=12),
    st.text(max_size=8),
)
_LINES = st.builds(
    lambda tag, fields: " ".join([tag, *fields, "."]),
    st.sampled_from(_TAGS),
    st.lists(_TOKENS, max_size=9),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINES, max_size=10))
def test_random_renewal_records_never_raise_and_keep_the_good_ones(lines: list[str]) -> None:
    c = parse(good() + lines)
    assert isinstance(c, Collected)
    assert any(lin.name == "site.example.test" for lin in c.certbot_lineages)


# --------------------------------------------------------------------------- certbot's log


def _lines(*runs: list[str]) -> list[tuple[int, str]]:
    return [(0, line) for run in runs for line in run]


def test_log_a_later_success_clears_a_failure() -> None:
    name, full = "a.example.test", {f"{LE}/live/a.example.test/fullchain.pem": "a.example.test"}
    failed = layouts.certbot_run(NOW - dt.timedelta(days=1), {name: "failed"}, ca_detail="timeout")
    renewed = layouts.certbot_run(NOW, {name: "renewed"})
    got = outcomes(_lines(failed, renewed), full)[name]
    assert (got.outcome, got.error, got.attempt) == ("success", "", NOW.replace(tzinfo=dt.UTC))
    again = outcomes(_lines(renewed, failed), full)[name]
    assert again.outcome == "failed" and "Detail: timeout" in again.error


def test_log_rotated_files_are_older() -> None:
    name, full = "a.example.test", {}
    failed = layouts.certbot_run(NOW - dt.timedelta(days=1), {name: "failed"}, ca_detail="x")
    not_due = layouts.certbot_run(NOW, {name: "not_due"})
    lines = [(0, line) for line in not_due] + [(1, line) for line in failed]
    assert outcomes(lines, full)[name].outcome == "not_due"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.text(max_size=80)), max_size=30))
def test_log_never_raises(lines: list[tuple[int, str]]) -> None:
    for outcome in outcomes(lines, {}).values():
        assert outcome.outcome in ("", "success", "failed", "not_due")
        assert len(outcome.error) <= 600


# --------------------------------------------------------------------------- systemctl


@pytest.mark.parametrize("awk", ["mawk", "gawk", "busybox-awk"])
def test_systemctl_show_is_read_under_every_awk(awk: str, tmp_path: Path) -> None:
    """The script's own awk program reads systemctl's `show` output (fixture: hand-made in
    its format, a failed certbot.service) into SDPROP records; the runner reads those."""
    text = script_text().decode()
    lib = text[text.index("CA_AWK_LIB='") + 12 :]
    lib = lib[: lib.index("\n'\n")]
    show = text[text.index("CA_AWK_SDSHOW='") + 15 :]
    show = show[: show.index("\n'\n")]
    env = {"PATH": _awk_folder(awk, str(tmp_path)) + ":/usr/bin:/bin"}
    out = subprocess.run(
        ["awk", lib + show],
        input=(FIXTURES / "systemctl_show_certbot.txt").read_bytes(),
        capture_output=True,
        env=env,
        check=True,
    ).stdout.decode()
    records = [line for line in out.splitlines() if line.startswith("SDPROP ")]
    c = parse([f"FACT {hx('systemd')} {hx('running')} .", *records])
    assert c.complete and not c.issues, c.issues
    (timer,) = [s for s in c.renewal_schedules if s.name == "certbot.timer"]
    assert (timer.source, timer.state, timer.active_state, timer.effective) == (
        "systemctl",
        "enabled",
        "active",
        True,
    )
    assert timer.last_result == "exit-code"
    assert timer.last_trigger == dt.datetime(2025, 1, 8, 23, 58, 47, tzinfo=dt.UTC)
    assert timer.next_trigger == dt.datetime(2025, 1, 9, 11, 47, 2, tzinfo=dt.UTC)


def test_systemd_times() -> None:
    assert systemd_time("n/a") is None and systemd_time("") is None
    assert systemd_time("Thu 2025-01-09 11:47:02 CET") is None  # only UTC is asked for
    assert systemd_time("Thu 2025-01-09 11:47:02 UTC") == dt.datetime(
        2025, 1, 9, 11, 47, 2, tzinfo=dt.UTC
    )


# --------------------------------------------------------------------------- kubeadm


def test_check_expiration_table_and_json_agree() -> None:
    table = kubeadm.parse_check_expiration(
        "table", (FIXTURES / "kubeadm_check_expiration.txt").read_text().splitlines()
    )
    doc = kubeadm.parse_check_expiration(
        "json", (FIXTURES / "kubeadm_check_expiration.json").read_text().splitlines()
    )
    for name in ("admin.conf", "apiserver", "etcd-peer", "front-proxy-client", "ca", "etcd-ca"):
        assert table[name].expires is not None and doc[name].expires is not None, name
        assert abs(table[name].expires - doc[name].expires) < dt.timedelta(minutes=1), name
    assert table["apiserver"].authority == doc["apiserver"].authority == "ca"
    assert table["etcd-peer"].authority == "etcd-ca"
    assert (
        table["front-proxy-client"].externally_managed
        and doc["front-proxy-client"].externally_managed
    )
    assert table["super-admin.conf"].missing and doc["super-admin.conf"].missing
    assert not table["ca"].externally_managed and table["ca"].authority == ""


@pytest.mark.parametrize("kind", ["json", "table"])
def test_check_expiration_never_raises(kind: str) -> None:
    for text in (
        "",
        "{",
        "[]",
        '{"certificates": [1, {"name": "../x"}]}',
        "CERTIFICATE\n!MISSING!",
    ):
        assert isinstance(kubeadm.parse_check_expiration(kind, text.splitlines()), dict)


def test_kubeadm_view_is_reconciled_with_the_files() -> None:
    """kubeadm's own dates beside the files': an externally managed certificate is not
    kubeadm's to renew; a date that differs from the file's is said."""
    kube = "/etc/kubernetes"
    api, proxy = (info(H.leaf(n, now=NOW, days_after=30))[0] for n in ("api", "proxy"))
    certs = [
        FoundCert(api, CertLocation("h", f"{kube}/pki/apiserver.crt", LocationKind.FILE)),
        FoundCert(
            proxy, CertLocation("h", f"{kube}/pki/front-proxy-client.crt", LocationKind.FILE)
        ),
    ]
    r = Records()
    r.kubeadm = [
        ("json", line)
        for line in (FIXTURES / "kubeadm_check_expiration.json").read_text().splitlines()
    ]
    found = evidence("h", r, certs, [("systemd", "no"), ("kubernetes", kube)])
    by = {x.name: x for x in found.renewals}
    assert by["apiserver"].mechanism is RenewalMechanism.KUBEADM
    assert "kubeadm certs check-expiration reports 2025-01-09 08:12 UTC" in by["apiserver"].detail
    assert by["apiserver"].ca_not_after == dt.datetime(2034, 12, 28, 23, 36, 10, tzinfo=dt.UTC)
    assert by["front-proxy-client"].status is RenewalStatus.NONE
    assert "externally managed" in by["front-proxy-client"].detail


# --------------------------------------------------------------------------- inspect


def _kube(style: str) -> tuple[bytes, str, str]:
    client = H.leaf("kubernetes-admin", now=NOW, sans=[])
    data = layouts_kube(style, client)
    return data, info(H.root)[0].sha256, info(client)[0].sha256


def layouts_kube(style: str, client: pki.Issued) -> bytes:
    from tests.lab.kubeadm import kubeconfig as write

    return write("kubernetes-admin", H.root, client, "https://10.0.0.1:6443", style)


@pytest.mark.parametrize("style", ["kubeadm", "quoted", "block", "json"])
def test_inspect_reads_kubeconfig_data_in_every_form(style: str) -> None:
    data, ca, client = _kube(style)
    got = [i.cert.sha256 for i in kubeconfig.certificates(data) if i.cert]
    assert got == [ca, client]


def test_inspect_reads_only_the_real_keys() -> None:
    leaf = H.leaf("elsewhere", now=NOW)
    b64 = base64.b64encode(leaf.pem).decode()
    key = base64.b64encode(LEAF.key_pem()).decode()
    for doc in (
        {"users": [{"user": {"client-certificate-datas": b64}}]},
        {"users": [{"user": {"Client-Certificate-Data": b64}}]},
        {"users": [{"client-certificate-data": b64}]},
        {"preferences": {"client-certificate-data": b64}},
        {
            "users": [
                {"user": {"client-key-data": base64.b64encode(leaf.pem + LEAF.key_pem()).decode()}}
            ]
        },
        {"users": [{"user": {"client-certificate-data": key}}]},
    ):
        assert kubeconfig.certificates(json.dumps(doc).encode()) == [], doc
    assert kubeconfig.certificates(b"\x00\xff not yaml: [") == []


def test_inspect_a_kubeconfig_file(tmp_path: Path) -> None:
    from audit.service.check import read_files

    data, ca, client = _kube("block")
    path = tmp_path / "admin.conf"
    path.write_bytes(data)
    (read,) = read_files([path])
    assert [cert.sha256 for _, _, cert in read.certs] == [ca, client]
    assert [index for index, _, _ in read.certs] == [0, 1]
