"""analyze's framework: contexts, served flags and blast radius, ranking."""

from __future__ import annotations

from dataclasses import replace

from audit.analyze import Evidence, analyze, cert_contexts
from audit.model import CertLocation, FoundCert, Host, HostOutcome, HostResult
from audit.rules.base import EndpointContext, Settings
from tests.rules.kit import NOW, info, probe, world


def _host(name: str, *found: FoundCert) -> HostResult:
    return HostResult(
        Host(name, "10.0.0.9"),
        HostOutcome.OK,
        certificates=found,
        ca_bundles=("/etc/ssl/certs/ca-certificates.crt",),
    )


def test_blast_radius_counts_files_and_the_listeners_that_serve_the_certificate() -> None:
    [leaf] = info(world().public.leaf("www.example.com", now=NOW, days_after=3))
    web1 = _host("web1", FoundCert(leaf, CertLocation("web1", "/etc/ssl/www.pem")))
    web2 = _host("web2", FoundCert(leaf, CertLocation("web2", "/etc/ssl/www.pem")))
    root_only = _host(
        "db1", FoundCert(leaf, CertLocation("db1", "/etc/ssl/certs/b.crt", "ca_bundle"))
    )
    served = [
        EndpointContext(probe=replace(probe([leaf]), host="web1", port=443)),
        EndpointContext(probe=replace(probe([leaf]), host="web1", port=8443)),
        EndpointContext(probe=replace(probe([leaf], servername="other"), host="web1", port=8443)),
    ]
    contexts = cert_contexts([web1, web2, root_only], served)
    # two files + two listening sockets (two SNI names on one socket count once);
    # a copy in a trust-store bundle is not a deployment
    assert {c.location.host: c.blast_radius for c in contexts} == {"web1": 4, "web2": 4}
    assert all(c.served for c in contexts)
    findings = analyze(Evidence(hosts=[web1, web2, root_only], endpoints=served), Settings(now=NOW))
    expiring = [f for f in findings if f.id == "CERT_EXPIRING"]
    assert expiring and all("deployed in 4 places" in f.why for f in expiring)


def test_findings_are_ranked_by_risk_then_deterministically() -> None:
    [soon] = info(world().public.leaf("a.example.com", now=NOW, days_after=3))
    [later] = info(world().public.leaf("b.example.com", now=NOW, days_after=25))
    hosts = [
        _host("web1", FoundCert(later, CertLocation("web1", "/etc/ssl/b.pem"))),
        _host("web2", FoundCert(soon, CertLocation("web2", "/etc/ssl/a.pem"))),
        HostResult(Host("down1", "10.0.0.10"), HostOutcome.UNREACHABLE, "connection refused"),
    ]
    findings = analyze(Evidence(hosts=hosts), Settings(now=NOW))
    risks = [f.risk for f in findings]
    assert risks == sorted(risks, reverse=True)
    order = [(f.id, f.host) for f in findings]
    assert order.index(("CERT_EXPIRING", "web2")) < order.index(("CERT_EXPIRING", "web1"))
    assert order.index(("HOST_UNREACHABLE", "down1")) < order.index(("CERT_EXPIRING", "web1"))
