"""Certificate files a web server's configuration names, diagnosed in the fleet run.

Every case is one host as `run` collects it: the server blocks its configuration holds
(TlsConfig: certificate directive with file and line), the certificate files collected
(FoundCert), its CA bundle, and what its listeners served. A file the configuration names
is judged like a served chain (`inspect`'s diagnosis for files about to be deployed),
against the host's own store, Mozilla's and --cafile, located at the file and the
configuration line; a file whose chain (or whose leaf, with the same verdict) a listener
serves is not reported again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from audit.analyze import Evidence, fleet_evidence
from audit.model import (
    CertInfo,
    CertLocation,
    ConfigListen,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    Listener,
    ProbeStatus,
    TlsConfig,
    TlsProbe,
)
from audit.rules import chain, names
from audit.trust import TrustStores
from tests import pki
from tests.rules.kit import NOW, info, run, stores, unfilled, world

FAMILY = {r.id for r in (*chain.RULES, *names.RULES)}
SITE = "/etc/nginx/sites-enabled/shop"
CERT = "/etc/ssl/local/shop.fullchain.pem"
CHAIN = "/etc/ssl/local/shop.chain.pem"
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
NAME = "shop.example.com"


@functools.cache
def not_ca() -> pki.Hierarchy:
    return pki.hierarchy(NOW, "NotCA", ca_flag=False)


def leaf(h: pki.Hierarchy | None = None, **kw: object) -> pki.Issued:
    return (h or world().public).leaf(NAME, now=NOW, **kw)


def nginx(
    cert_file: str = CERT, *, chain_file: str | None = None, server: str = "nginx"
) -> TlsConfig:
    """A server block for NAME on :443 whose certificate directive is on line 7."""
    return TlsConfig(
        host="web1",
        server=server,
        file=SITE,
        line=1,
        listens=(ConfigListen("", 443, True, SITE, 2),),
        server_names=(NAME,),
        cert_file=cert_file,
        cert_config_file=SITE,
        cert_config_line=7,
        chain_file=chain_file,
    )


def serving(chain: Sequence[CertInfo]) -> Listener:
    p = TlsProbe(
        host="web1",
        address="10.0.0.5",
        port=443,
        servername=NAME,
        status=ProbeStatus.TLS,
        via="ssh",
        protocol="TLSv1.3",
        chain=tuple(chain),
    )
    return Listener(
        host="web1",
        address="0.0.0.0",
        port=443,
        process="nginx",
        expects_tls=True,
        probes=(p,),
        config_file=SITE,
        config_line=7,
        cert_file=CERT,
        server="nginx",
        server_names=(NAME,),
    )


def on_host(
    *held: tuple[str, Sequence[CertInfo]],
    configs: Sequence[TlsConfig] = (nginx(),),
    served: Sequence[CertInfo] = (),
    serves: bool = False,
    host_roots: Sequence[pki.Issued] = (),
    trust: TrustStores | None = None,
) -> Evidence:
    """One host holding files (`held`), its configuration, its CA bundle (Mozilla's public
    root plus `host_roots`) and a listener serving `served`, or (`serves`) the chain of
    the first file held."""
    if serves:
        served = held[0][1]
    roots = info(world().public.root, *host_roots)
    found = [
        FoundCert(c, CertLocation("web1", BUNDLE, "ca_bundle", i)) for i, c in enumerate(roots)
    ]
    for path, certs in held:
        found += [FoundCert(c, CertLocation("web1", path, "file", i)) for i, c in enumerate(certs)]
    result = HostResult(
        Host(name="web1", address="10.0.0.5"),
        HostOutcome.OK,
        certificates=tuple(found),
        ca_bundles=(BUNDLE,),
        listeners=(serving(served),) if served else (),
        tls_configs=tuple(configs),
    )
    return fleet_evidence([result], now=NOW, stores=trust or stores())


W = world


@functools.cache
def _lone() -> tuple[CertInfo, ...]:
    """One leaf with its intermediate (the same certificates on every call)."""
    return info(leaf(), W().public.intermediate)


@dataclass(frozen=True)
class Case:
    evidence: Callable[[], Evidence]
    expected: dict[str, int]
    """Finding ID -> how many (chain and name families)."""


CASES: dict[str, Case] = {
    "configured healthy fullchain, not served yet": Case(
        lambda: on_host((CERT, info(leaf(), W().public.intermediate))), {}
    ),
    "configured fullchain lacks its intermediate, not served yet": Case(
        lambda: on_host((CERT, info(leaf()))), {"CHAIN_INCOMPLETE": 1}
    ),
    "configured self-signed certificate, not served yet": Case(
        lambda: on_host((CERT, info(pki.issue(NAME, now=NOW)))), {"CERT_SELF_SIGNED": 1}
    ),
    "configured CN-only certificate, not served yet": Case(
        lambda: on_host((CERT, info(leaf(sans=[]), W().public.intermediate))),
        {"SAN_MISSING": 1},
    ),
    "configured chain whose intermediate is not a CA": Case(
        lambda: on_host(
            (CERT, info(leaf(not_ca()), not_ca().intermediate)), host_roots=[not_ca().root]
        ),
        {"CHAIN_INVALID": 1},
    ),
    "configured chain to a root no store holds": Case(
        lambda: on_host((CERT, info(leaf(W().private), W().private.intermediate))),
        {"CHAIN_UNTRUSTED": 1},
    ),
    "configured chain to a root only the host's store holds": Case(
        lambda: on_host(
            (CERT, info(leaf(W().os_only), W().os_only.intermediate)),
            host_roots=[W().os_only.root],
        ),
        {"NOT_TRUSTED_BY_MOZILLA": 1},
    ),
    "configured chain to the internal CA given with --cafile": Case(
        lambda: on_host(
            (CERT, info(leaf(W().private), W().private.intermediate)),
            trust=stores(cafile=[W().private.root]),
        ),
        {},
    ),
    "Apache: the certificate and its chain in two files": Case(
        lambda: on_host(
            (CERT, info(leaf())),
            (CHAIN, info(W().public.intermediate)),
            configs=[nginx(chain_file=CHAIN, server="apache")],
        ),
        {},
    ),
    "a configuration naming a file of CA certificates only": Case(
        lambda: on_host((CERT, info(W().public.intermediate, W().public.root))), {}
    ),
    "two server blocks naming the same incomplete file": Case(
        lambda: on_host((CERT, info(leaf())), configs=[nginx(), nginx()]),
        {"CHAIN_INCOMPLETE": 1},
    ),
    # A listener serves the chain: the served finding stands, the file is not reported.
    "served leaf without its intermediate, from the configured file": Case(
        lambda: on_host((CERT, info(leaf())), serves=True), {"CHAIN_INCOMPLETE": 1}
    ),
    "served self-signed certificate, from the configured file": Case(
        lambda: on_host((CERT, info(pki.issue(NAME, now=NOW))), serves=True),
        {"CERT_SELF_SIGNED": 1},
    ),
    "served CN-only certificate, from the configured file": Case(
        lambda: on_host((CERT, info(leaf(sans=[]), W().public.intermediate)), serves=True),
        {"SAN_MISSING": 1},
    ),
    "served with its intermediate, the file lacks it: another problem": Case(
        lambda: on_host((CERT, _lone()[:1]), served=_lone()), {"CHAIN_INCOMPLETE": 1}
    ),
    "served without its intermediate, the file holds it: another problem": Case(
        lambda: on_host((CERT, _lone()), served=_lone()[:1]), {"CHAIN_INCOMPLETE": 1}
    ),
    "served invalid chain, from the configured file": Case(
        lambda: on_host(
            (CERT, info(leaf(not_ca()), not_ca().intermediate)),
            serves=True,
            host_roots=[not_ca().root],
        ),
        {"CHAIN_INVALID": 1},
    ),
}


def _counts(evidence: Evidence) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in run(evidence):
        if f.id in FAMILY:
            counts[f.id] = counts.get(f.id, 0) + 1
        assert not unfilled(f), (f.id, f.diagnose, f.fix)
    return counts


@pytest.mark.parametrize("name", list(CASES))
def test_configured_files(name: str) -> None:
    case = CASES[name]
    assert _counts(case.evidence()) == case.expected


def _finding(evidence: Evidence, rule_id: str):  # type: ignore[no-untyped-def]
    (f,) = [f for f in run(evidence) if f.id == rule_id]
    return f


def test_an_incomplete_configured_file_is_located_at_the_file_and_the_line() -> None:
    f = _finding(on_host((CERT, info(leaf()))), "CHAIN_INCOMPLETE")
    assert (f.host, f.subject) == ("web1", CERT)
    assert f"in {CERT} (named by ssl_certificate in {SITE} line 7)" in f.detail
    assert "this file lacks its intermediate" in f.detail
    assert f.why == "high; file a server's configuration names"
    assert (
        f"point `ssl_certificate` in {SITE} line 7 at /etc/ssl/local/shop.fullchain.complete.pem"
        in f.fix
    )
    assert "nginx -t && systemctl reload nginx" in f.fix
    # run on the host, against the host's own bundle
    assert f.diagnose == f"openssl verify -CAfile {BUNDLE} -untrusted {CERT} {CERT}"


def test_a_self_signed_configured_file_names_the_configuration_in_its_fix() -> None:
    f = _finding(on_host((CERT, info(pki.issue(NAME, now=NOW)))), "CERT_SELF_SIGNED")
    assert f.subject == CERT
    assert f.fix.startswith(f"Replace {CERT} (named by `ssl_certificate` in {SITE} line 7) with")
    assert f.diagnose == f"openssl x509 -noout -subject -issuer -in {CERT}"


def test_a_cn_only_configured_file() -> None:
    f = _finding(on_host((CERT, info(leaf(sans=[]), W().public.intermediate))), "SAN_MISSING")
    assert f.subject == CERT and f"named by ssl_certificate in {SITE} line 7" in f.detail
    assert f"replace {CERT} (named by `ssl_certificate` in {SITE} line 7)" in f.fix


def test_an_invalid_configured_file_names_certificate_position_rule_and_line() -> None:
    f = _finding(
        on_host((CERT, info(leaf(not_ca()), not_ca().intermediate)), host_roots=[not_ca().root]),
        "CHAIN_INVALID",
    )
    assert f.subject == CERT
    assert "The intermediate CN=NotCA Intermediate CA,O=certaudit test (position 1" in f.detail
    assert "basicConstraints says CA:FALSE" in f.detail and "the host's OS store" in f.detail
    assert f"(`ssl_certificate` in {SITE} line 7 names it) and reload nginx" in f.fix
    assert (
        f.diagnose == f"openssl verify -purpose sslserver -CAfile {BUNDLE} -untrusted {CERT} {CERT}"
    )


def test_a_served_chain_is_reported_once_as_served() -> None:
    found = run(on_host((CERT, info(leaf())), serves=True))
    (f,) = [f for f in found if f.id == "CHAIN_INCOMPLETE"]
    assert f.subject == "listener 443 (shop.example.com)"
    assert f"point `ssl_certificate` in {SITE} line 7" in f.fix


def test_the_renewed_file_not_yet_served_is_judged_on_its_own() -> None:
    """The listener still serves last month's healthy chain; the renewal on disk lacks its
    intermediate: reloading would break clients. Both are said."""
    old = info(leaf(days_before=80, days_after=10, fresh_key=True), W().public.intermediate)
    new = info(leaf(days_before=1, days_after=89, fresh_key=True))
    found = run(on_host((CERT, new), served=old))
    by_id = {f.id: f for f in found}
    assert {"CHAIN_INCOMPLETE", "CERT_NOT_RELOADED"} <= set(by_id)
    assert by_id["CHAIN_INCOMPLETE"].subject == CERT
    assert by_id["CHAIN_INCOMPLETE"].cert_sha256 == new[0].sha256
