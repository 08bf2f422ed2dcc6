"""Renewal rules and renewal in the ranking: what fires, what stays quiet, and why a
certificate nothing renews outranks the same expiry with a healthy renewal."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.analyze import Evidence, cert_contexts
from audit.model import (
    CertLocation,
    CertRenewal,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    LocationKind,
    RenewalMechanism,
    RenewalStatus,
)
from tests.rules import renewal_cases as rc
from tests.rules.kit import NOW, info, run, world

M, S = RenewalMechanism, RenewalStatus


def _ids(evidence: Evidence) -> list[str]:
    return sorted(f.id for f in run(evidence))


# --------------------------------------------------------------------------- ranking


def test_nothing_renews_it_ranks_far_above_a_healthy_renewal() -> None:
    """The same expiry (20 days, a file no listener serves): nothing renews one, the other
    has a healthy certbot timer whose last run was fine."""
    none = rc.renewed(M.NONE, S.NONE, path="/etc/ssl/example/orphan.pem")
    healthy = rc.renewed(
        M.CERTBOT,
        S.AUTOMATED,
        name="www.example.com",
        path="/etc/letsencrypt/live/www.example.com/cert.pem",
    )
    findings = run(Evidence(extra_certs=[none, healthy]))
    expiring = {f.subject: f for f in findings if f.id == "CERT_EXPIRING"}
    orphan = expiring["/etc/ssl/example/orphan.pem"]
    renewed = expiring["/etc/letsencrypt/live/www.example.com/cert.pem"]
    assert orphan.days_left == renewed.days_left
    assert orphan.risk >= 2 * renewed.risk, (orphan.risk, renewed.risk)
    assert "nothing renews it" in orphan.why
    assert "renewal automated, last run ok" in renewed.why
    ranked = [(f.id, f.subject) for f in findings]
    assert ranked.index(("CERT_EXPIRING", orphan.subject)) < ranked.index(
        ("CERT_EXPIRING", renewed.subject)
    )
    not_automated = [f for f in findings if f.id == "RENEWAL_NOT_AUTOMATED"]
    assert [f.subject for f in not_automated] == [orphan.subject]
    assert not_automated[0].risk > renewed.risk


def test_renewal_weights_order_the_states() -> None:
    risks = {}
    for status in S:
        ctx = rc.renewed(M.CERTBOT, status, name="www.example.com")
        risks[status] = next(
            f.risk for f in run(Evidence(extra_certs=[ctx])) if f.id == "CERT_EXPIRING"
        )
    assert risks[S.NONE] > risks[S.UNSCHEDULED] == risks[S.ROTATION_OFF] > risks[S.FAILING]
    assert risks[S.FAILING] > risks[S.MANUAL] > risks[S.AUTOMATED]


def test_analysis_attaches_each_hosts_renewal_to_its_certificates() -> None:
    cert = info(world().public.leaf("www.example.com", now=NOW, days_after=20))[0]
    renewal = CertRenewal("web1", cert.sha256, "/etc/ssl/a.pem", M.NONE, S.NONE)
    other = HostResult(
        host=Host("web2", "10.0.0.6"),
        outcome=HostOutcome.OK,
        certificates=(FoundCert(cert, CertLocation("web2", "/etc/ssl/a.pem")),),
    )
    mine = HostResult(
        host=Host("web1", "10.0.0.5"),
        outcome=HostOutcome.OK,
        certificates=(FoundCert(cert, CertLocation("web1", "/etc/ssl/a.pem")),),
        cert_renewals=(renewal,),
    )
    got = {c.location.host: c.renewal for c in cert_contexts([mine, other])}
    assert got == {"web1": renewal, "web2": None}


# --------------------------------------------------------------------------- quiet cases


@pytest.mark.parametrize(
    ("ctx", "why"),
    [
        (rc.renewed(M.CERTBOT, S.AUTOMATED, name="x"), "automated"),
        (rc.renewed(M.CERTBOT, S.FAILING, name="x"), "failing has its own finding"),
        (rc.renewed(M.KUBEADM, S.MANUAL, name="apiserver"), "kubeadm-managed"),
        (rc.renewed(M.KUBELET, S.AUTOMATED, name="kubelet-client"), "rotation on"),
        (rc.renewed(M.NONE, S.NONE, days_after=45), "outside the window"),
        (rc.renewed(M.NONE, S.NONE, days_after=-2), "already expired"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_renewal_not_automated_stays_quiet(ctx, why) -> None:  # type: ignore[no-untyped-def]
    assert "RENEWAL_NOT_AUTOMATED" not in _ids(Evidence(extra_certs=[ctx])), why


def test_renewal_not_automated_once_per_certificate() -> None:
    """A certificate at several places of its host is judged where its renewal is."""
    ctx = rc.renewed(M.NONE, S.NONE, path="/etc/ssl/example/www.pem")
    copy = ctx.__class__(**{**ctx.__dict__, "location": CertLocation("web1", "/etc/nginx/www.pem")})
    findings = [
        f for f in run(Evidence(extra_certs=[ctx, copy])) if f.id == "RENEWAL_NOT_AUTOMATED"
    ]
    assert [f.subject for f in findings] == ["/etc/ssl/example/www.pem"]


def test_a_working_cron_entry_is_a_schedule() -> None:
    working = rc.debian_cron("active", effective=True)
    ev = rc.certbot_host((rc.timer("disabled", active="inactive"), working), (rc.lineage(),))
    assert "CERTBOT_TIMER_INACTIVE" not in _ids(ev)


def test_no_lineage_no_timer_finding() -> None:
    assert "CERTBOT_TIMER_INACTIVE" not in _ids(rc.certbot_host((), ()))


@pytest.mark.parametrize("outcome", ["success", "not_due", ""])
def test_a_renewal_that_did_not_fail_is_quiet(outcome: str) -> None:
    timer = rc.timer("enabled", active="active", effective=True)
    ev = rc.certbot_host((timer,), (rc.lineage(outcome=outcome),))
    assert "CERTBOT_RENEWAL_FAILING" not in _ids(ev)


def test_failing_renewal_says_what_the_ca_reported() -> None:
    timer = rc.timer("enabled", active="active", effective=True)
    error = "Some challenges have failed. (the CA reported: Detail: 203.0.113.10: refused)"
    ev = rc.certbot_host((timer,), (rc.lineage(outcome="failed", error=error),))
    f = next(f for f in run(ev) if f.id == "CERTBOT_RENEWAL_FAILING")
    assert "203.0.113.10: refused" in f.detail and f.subject == "certbot lineage www.example.com"
    assert f.diagnose == "certbot renew --dry-run --cert-name www.example.com"
    assert f.days_left is not None and 19 < f.days_left <= 20


# --------------------------------------------------------------------------- kubeadm fixes


def test_expiring_kubeadm_certificate_gets_the_kubeadm_fix() -> None:
    ca_after = NOW + dt.timedelta(days=3000)
    ctx = rc.renewed(
        M.KUBEADM,
        S.MANUAL,
        name="etcd-peer",
        path="/etc/kubernetes/pki/etcd/peer.crt",
        ca_not_after=ca_after,
    )
    f = next(f for f in run(Evidence(extra_certs=[ctx])) if f.id == "CERT_EXPIRING")
    assert "kubeadm certs renew etcd-peer" in f.fix
    assert "/etc/kubernetes/manifests/etcd.yaml" in f.fix
    assert "(etcd-ca) is valid until" in f.fix and "certbot" not in f.fix
    assert f.diagnose == "kubeadm certs check-expiration"


def test_expiring_kubeadm_ca_is_rotated_by_hand() -> None:
    from tests import pki

    cert = info(pki.issue("kubernetes", now=NOW, ca=True, days_before=3630, days_after=20))[0]
    path = "/etc/kubernetes/pki/ca.crt"
    renewal = CertRenewal("web1", cert.sha256, path, M.KUBEADM, S.MANUAL, name="ca")
    ctx = rc.CertContext(cert=cert, location=CertLocation("web1", path), renewal=renewal)
    findings = run(Evidence(extra_certs=[ctx]))
    assert [f.id for f in findings] == ["CERT_EXPIRING"]  # a CA is never RENEWAL_NOT_AUTOMATED
    assert "kubeadm never renews its CAs: rotate the CA ca by hand" in findings[0].fix


def test_embedded_client_certificate_is_diagnosed_from_the_kubeconfig() -> None:
    ctx = rc.renewed(
        M.NONE, S.NONE, path="/home/example/.kube/config", kind=LocationKind.KUBECONFIG
    )
    f = next(f for f in run(Evidence(extra_certs=[ctx])) if f.id == "CERT_EXPIRING")
    assert f.diagnose == (
        "sed -n 's/^ *client-certificate-data: *//p' /home/example/.kube/config | base64 -d"
        " | openssl x509 -noout -subject -dates"
    )
