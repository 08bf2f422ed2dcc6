"""Served-versus-stored and legacy-protocol rules over named cases, and the config-aware
fix of CHAIN_INCOMPLETE.

Every case is one host: what its listeners served (probes), what its configuration names
(TlsConfig, with the public-key digest the host derived from the key), and the certificate
files collected. Certificates are generated relative to the frozen NOW.
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
    Severity,
    TlsConfig,
    TlsProbe,
)
from audit.rules import served, tls
from audit.rules.base import EndpointContext
from tests.rules.kit import NOW, ids, info, probe, run, stores, unfilled, world

FAMILY = {r.id for r in served.RULES} | {"LEGACY_PROTOCOL"}
HOST = Host(name="web1", address="10.0.0.5")
SITE = "/etc/nginx/sites-enabled/api"
CERT = "/etc/ssl/api.pem"
KEY = "/etc/ssl/private/api.key"


@dataclass(frozen=True)
class Material:
    old: tuple[CertInfo, ...]
    """Served: leaf issued 80 days ago, with its intermediate."""
    new: tuple[CertInfo, ...]
    """Renewed 2 days ago, same names, new key."""
    other_name: tuple[CertInfo, ...]
    """Issued later, for another name."""
    old_key: str
    new_key: str
    stray_key: str


@functools.cache
def material() -> Material:
    w = world().public

    def leaf(cn: str, days_before: float, days_after: float) -> CertInfo:
        return info(
            w.leaf(cn, now=NOW, days_before=days_before, days_after=days_after, fresh_key=True)
        )[0]

    inter = info(w.intermediate)[0]
    old = leaf("api.example.com", 80, 10)
    new = leaf("api.example.com", 2, 88)
    other = leaf("shop.example.com", 1, 89)
    stray = leaf("stray.example.com", 1, 89)
    return Material(
        old=(old, inter),
        new=(new, inter),
        other_name=(other, inter),
        old_key=old.public_key_sha256,
        new_key=new.public_key_sha256,
        stray_key=stray.public_key_sha256,
    )


def files(*entries: tuple[str, Sequence[CertInfo]], kind: str = "file") -> tuple[FoundCert, ...]:
    return tuple(
        FoundCert(cert, CertLocation("web1", path, kind, i))
        for path, chain in entries
        for i, cert in enumerate(chain)
    )


def config(
    key_sha256: str = "",
    *,
    key_check: str = "ok",
    cert_file: str = CERT,
    port: int = 443,
    tls_on: bool = True,
    names: tuple[str, ...] = ("api.example.com",),
    server: str = "nginx",
) -> TlsConfig:
    return TlsConfig(
        host="web1",
        server=server,
        file=SITE,
        line=1,
        listens=(ConfigListen("", port, tls_on, SITE, 2),),
        server_names=names,
        cert_file=cert_file,
        cert_config_file=SITE,
        cert_config_line=12,
        key_file=KEY,
        key_config_file=SITE,
        key_config_line=13,
        key_sha256=key_sha256,
        key_check=key_check,
    )


def served_by(
    chain: Sequence[CertInfo],
    *,
    status: ProbeStatus = ProbeStatus.TLS,
    legacy: str | None = None,
    cert_file: str | None = CERT,
    port: int = 443,
) -> Listener:
    p = TlsProbe(
        host="web1",
        address="10.0.0.5",
        port=port,
        servername="api.example.com",
        status=status,
        via="ssh",
        protocol="TLSv1.3",
        chain=tuple(chain),
    )
    return Listener(
        host="web1",
        address="0.0.0.0",
        port=port,
        process="nginx",
        expects_tls=True,
        probes=(p,),
        config_file=SITE if cert_file else None,
        config_line=12 if cert_file else None,
        cert_file=cert_file,
        server="nginx" if cert_file else None,
        server_names=("api.example.com",),
        legacy_protocol=legacy,
    )


def host(
    *,
    certificates: tuple[FoundCert, ...] = (),
    listeners: tuple[Listener, ...] = (),
    configs: tuple[TlsConfig, ...] = (),
    outcome: HostOutcome = HostOutcome.OK,
) -> Evidence:
    result = HostResult(
        HOST,
        outcome,
        certificates=certificates,
        listeners=listeners,
        tls_configs=configs,
    )
    return Evidence(hosts=[result])


M = material

CASES: dict[str, tuple[Callable[[], Evidence], set[str]]] = {
    "serves what the configured file holds": (
        lambda: host(
            certificates=files((CERT, M().old)),
            listeners=(served_by(M().old),),
            configs=(config(M().old_key),),
        ),
        set(),
    ),
    "renewed on disk, never reloaded": (
        lambda: host(
            certificates=files((CERT, M().new)),
            listeners=(served_by(M().old),),
            configs=(config(M().new_key),),
        ),
        {"CERT_NOT_RELOADED"},
    ),
    "client certificate required still shows the served leaf": (
        lambda: host(
            certificates=files((CERT, M().new)),
            listeners=(served_by(M().old, status=ProbeStatus.CLIENT_CERT_REQUIRED),),
            configs=(config(M().new_key),),
        ),
        {"CERT_NOT_RELOADED"},
    ),
    "the file holds an older certificate than the one served": (
        lambda: host(
            certificates=files((CERT, M().old)),
            listeners=(served_by(M().new),),
            configs=(config(M().old_key),),
        ),
        set(),
    ),
    "the configured file is for another name": (
        lambda: host(
            certificates=files((CERT, M().other_name)),
            listeners=(served_by(M().old),),
        ),
        set(),
    ),
    "no configuration: a newer deployed file for the same names": (
        lambda: host(
            certificates=files(("/srv/app/tls/api.pem", M().new)),
            listeners=(served_by(M().old, cert_file=None),),
        ),
        {"CERT_NOT_RELOADED"},
    ),
    "no configuration: only certbot's archive is newer": (
        lambda: host(
            certificates=files(("/etc/letsencrypt/archive/api/cert2.pem", M().new), kind="archive"),
            listeners=(served_by(M().old, cert_file=None),),
        ),
        set(),
    ),
    "handshake failed: nothing served to compare": (
        lambda: host(
            certificates=files((CERT, M().new)),
            listeners=(served_by((), status=ProbeStatus.HANDSHAKE_FAILED),),
            configs=(config(M().new_key),),
        ),
        set(),
    ),
    "configured key belongs to another certificate": (
        lambda: host(
            certificates=files((CERT, M().new)),
            listeners=(served_by(M().new),),
            configs=(config(M().stray_key),),
        ),
        {"KEY_MISMATCH"},
    ),
    "key check could not run (no openssl)": (
        lambda: host(
            certificates=files((CERT, M().new)),
            configs=(config("", key_check="no_openssl"),),
        ),
        set(),
    ),
    "configured certificate file not collected": (
        lambda: host(configs=(config(M().stray_key, cert_file="/srv/elsewhere.pem"),)),
        set(),
    ),
    "renewed with the wrong key and never reloaded": (
        lambda: host(
            certificates=files((CERT, M().new)),
            listeners=(served_by(M().old),),
            configs=(config(M().old_key),),
        ),
        {"CERT_NOT_RELOADED", "KEY_MISMATCH"},
    ),
    "host not audited": (
        lambda: host(
            certificates=files((CERT, M().new)),
            listeners=(served_by(M().old),),
            configs=(config(M().stray_key),),
            outcome=HostOutcome.UNREACHABLE,
        ),
        set(),
    ),
    "listener accepts TLS 1.1": (
        lambda: host(
            certificates=files((CERT, M().old)),
            listeners=(served_by(M().old, legacy="TLSv1.1"),),
            configs=(config(M().old_key),),
        ),
        {"LEGACY_PROTOCOL"},
    ),
}


def _evidence(make: Callable[[], Evidence]) -> Evidence:
    """The host as the fleet run hands it over: with endpoint contexts for every probe."""
    ev = make()
    return fleet_evidence(list(ev.hosts), now=NOW, stores=stores())


@pytest.mark.parametrize("name", list(CASES))
def test_served_rules(name: str) -> None:
    make, expected = CASES[name]
    findings = run(_evidence(make))
    assert ids(findings) & FAMILY == expected
    for f in findings:
        assert not unfilled(f), (f.id, f.diagnose, f.fix)


def test_not_reloaded_names_both_certificates_and_the_config_line() -> None:
    make, _ = CASES["renewed on disk, never reloaded"]
    (f,) = [f for f in run(_evidence(make)) if f.id == "CERT_NOT_RELOADED"]
    assert f.severity is Severity.HIGH and f.host == "web1"
    assert f.subject == "listener 443 (api.example.com)"
    assert f.cert_sha256 == M().old[0].sha256
    assert M().old[0].sha256[:16] in f.detail and M().new[0].sha256[:16] in f.detail
    assert f"{SITE} line 12" in f.detail and CERT in f.detail
    assert "nginx -t && systemctl reload nginx" in f.fix
    assert f.diagnose.endswith(f"-in {CERT}")


def test_key_mismatch_says_where_and_keeps_the_key_on_the_host() -> None:
    make, _ = CASES["configured key belongs to another certificate"]
    (f,) = [f for f in run(_evidence(make)) if f.id == "KEY_MISMATCH"]
    assert f.subject == CERT and f.cert_sha256 == M().new[0].sha256
    assert M().stray_key[:16] in f.detail and M().new_key[:16] in f.detail
    assert f"ssl_certificate_key in {SITE} line 13" in f.fix and "nginx -t" in f.fix
    assert f.diagnose == (
        f"openssl x509 -noout -pubkey -in {CERT} | openssl sha256; "
        f"openssl pkey -pubout -in {KEY} | openssl sha256"
    )


def test_legacy_protocol_once_per_listener_with_the_config() -> None:
    listener = served_by(M().old, legacy="TLSv1")
    second = TlsProbe(
        host="web1",
        address="10.0.0.5",
        port=443,
        servername="www.api.example.com",
        status=ProbeStatus.TLS,
        chain=M().old,
    )
    listener = Listener(**{**listener.__dict__, "probes": (*listener.probes, second)})
    eps = [EndpointContext(probe=p, listener=listener) for p in listener.probes]
    findings = run(Evidence(endpoints=eps), tls.RULES)
    (f,) = [f for f in findings if f.id == "LEGACY_PROTOCOL"]
    assert f.severity is Severity.MEDIUM
    assert "negotiated TLSv1" in f.detail and "nginx" in f.detail
    assert f"in {SITE} (ssl_protocols TLSv1.2 TLSv1.3;)" in f.fix
    assert "-tls1 " in f.diagnose and "SECLEVEL=0" in f.diagnose


def test_legacy_protocol_needs_the_listener() -> None:
    p = probe(status=ProbeStatus.TLS)
    assert not run(Evidence(endpoints=[EndpointContext(probe=p)]), tls.RULES)


def test_chain_incomplete_fix_names_the_config_file_and_line() -> None:
    leaf_only = M().old[:1]
    ev = host(
        certificates=files((CERT, leaf_only)),
        listeners=(served_by(leaf_only),),
        configs=(config(M().old_key),),
    )
    findings = run(fleet_evidence(list(ev.hosts), now=NOW, stores=stores()))
    (f,) = [f for f in findings if f.id == "CHAIN_INCOMPLETE"]
    assert f"point `ssl_certificate` in {SITE} line 12 at /etc/ssl/api.fullchain.pem" in f.fix
    assert "cat /etc/ssl/api.pem intermediate.crt > /etc/ssl/api.fullchain.pem" in f.fix
    assert "nginx -t && systemctl reload nginx" in f.fix


def test_served_certificates_are_judged_once() -> None:
    """An expired served leaf held in a file: one CERT_EXPIRED (critical, the file, served);
    one no file holds: one CERT_EXPIRED on the listener, however many names were probed."""
    w = world().public
    expired = info(w.leaf("old.example.com", now=NOW, days_before=400, days_after=-2))[0]
    chain = (expired, info(w.intermediate)[0])
    two_names = Listener(
        **{
            **served_by(chain).__dict__,
            "probes": tuple(
                TlsProbe(
                    host="web1",
                    address="10.0.0.5",
                    port=443,
                    servername=name,
                    status=ProbeStatus.TLS,
                    via=via,
                    chain=chain,
                )
                for name in ("a.example.com", "b.example.com")
                for via in ("ssh", "direct")
            ),
        }
    )
    stored = host(certificates=files((CERT, chain)), listeners=(two_names,))
    expired_ids = [
        f
        for f in run(fleet_evidence(list(stored.hosts), now=NOW, stores=stores()))
        if f.id == "CERT_EXPIRED"
    ]
    assert [(f.subject, f.severity) for f in expired_ids] == [(CERT, Severity.CRITICAL)]
    nowhere = host(listeners=(two_names,))
    ev = fleet_evidence(list(nowhere.hosts), now=NOW, stores=stores())
    assert len(ev.endpoints) == 2  # the direct probes saw exactly what the SSH ones saw
    expired_ids = [f for f in run(ev) if f.id == "CERT_EXPIRED"]
    assert [(f.subject, f.severity) for f in expired_ids] == [("10.0.0.5:443", Severity.CRITICAL)]


def test_explored_names_are_not_held_against_the_leaf() -> None:
    """A name taken from some certificate on the host (not declared for the listener) is
    probed, but a leaf that does not cover it is not a HOSTNAME_MISMATCH."""
    listener = served_by(M().old)
    explored = Listener(**{**listener.__dict__, "server_names": ()})
    findings = run(
        fleet_evidence(list(host(listeners=(explored,)).hosts), now=NOW, stores=stores())
    )
    assert "HOSTNAME_MISMATCH" not in ids(findings)
    p = explored.probes[0]
    declared = Listener(
        **{
            **listener.__dict__,
            "server_names": ("shop.example.com",),
            "probes": (TlsProbe(**{**p.__dict__, "servername": "shop.example.com"}),),
        }
    )
    findings = run(
        fleet_evidence(list(host(listeners=(declared,)).hosts), now=NOW, stores=stores())
    )
    assert "HOSTNAME_MISMATCH" in ids(findings)
