"""TLS family over named cases: plaintext on a TLS port, mutual TLS, failed handshakes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from audit.analyze import Evidence
from audit.model import Listener, ProbeStatus, Severity
from audit.rules import tls
from audit.rules.base import EndpointContext
from tests.rules.kit import NOW, ids, info, probe, run, unfilled, world

FAMILY = {r.id for r in tls.RULES}

MTLS_CAS = ("CN=Corp Client CA,O=Example", "CN=Partner CA,O=Partner")


def endpoint(
    status: ProbeStatus,
    *,
    expects_tls: bool = True,
    error: str = "",
    cas: tuple[str, ...] = (),
    chain: bool = False,
) -> Evidence:
    certs = info(world().public.leaf("www.example.com", now=NOW), world().public.intermediate)
    p = probe(certs if chain else (), status=status, error=error, acceptable_ca_names=cas)
    return Evidence(
        endpoints=[
            EndpointContext(probe=p, expects_tls=expects_tls, expected_name="www.example.com")
        ]
    )


CASES: dict[str, tuple[Callable[[], Evidence], set[str]]] = {
    "healthy handshake": (lambda: endpoint(ProbeStatus.TLS, chain=True), set()),
    "plaintext on a TLS port": (
        lambda: endpoint(ProbeStatus.PLAINTEXT, error="HTTP/1.1 400 Bad Request"),
        {"TLS_NOT_SPOKEN"},
    ),
    "plaintext on a port not expected to speak TLS": (
        lambda: endpoint(ProbeStatus.PLAINTEXT, expects_tls=False, error="SSH-2.0-OpenSSH_9.6"),
        set(),
    ),
    "client certificate required": (
        lambda: endpoint(
            ProbeStatus.CLIENT_CERT_REQUIRED,
            cas=MTLS_CAS,
            error="server sent alert certificate_required(116)",
        ),
        {"CLIENT_CERT_REQUIRED"},
    ),
    "client certificate optional (requested, handshake completes)": (
        lambda: endpoint(ProbeStatus.TLS, cas=MTLS_CAS, chain=True),
        {"CLIENT_CERT_REQUIRED"},
    ),
    "handshake failure alert": (
        lambda: endpoint(ProbeStatus.HANDSHAKE_FAILED, error="sslv3 alert handshake failure"),
        {"TLS_HANDSHAKE_FAILED"},
    ),
    "closed during the handshake on a TLS port": (
        lambda: endpoint(ProbeStatus.CLOSED),
        {"TLS_HANDSHAKE_FAILED"},
    ),
    "closed on a port not expected to speak TLS": (
        lambda: endpoint(ProbeStatus.CLOSED, expects_tls=False),
        set(),
    ),
    "connection refused is not a handshake finding": (lambda: endpoint(ProbeStatus.REFUSED), set()),
    "timeout is not a handshake finding": (lambda: endpoint(ProbeStatus.TIMEOUT), set()),
}


@pytest.mark.parametrize("name", list(CASES))
def test_tls_rules(name: str) -> None:
    make, expected = CASES[name]
    findings = run(make())
    assert ids(findings) & FAMILY == expected
    for f in findings:
        assert not unfilled(f), (f.id, f.diagnose, f.fix)


def test_plaintext_texts_name_the_config_line() -> None:
    listener = Listener(
        host="web1",
        address="10.0.0.5",
        port=8443,
        process="nginx",
        expects_tls=True,
        config_file="/etc/nginx/sites-enabled/app",
        config_line=12,
    )
    p = probe(status=ProbeStatus.PLAINTEXT, port=8443, error="HTTP/1.1 400 Bad Request")
    (f,) = run(Evidence(endpoints=[EndpointContext(probe=p, listener=listener)]), tls.RULES)
    assert f.id == "TLS_NOT_SPOKEN" and f.severity is Severity.HIGH
    assert "HTTP/1.1 400 Bad Request" in f.detail and "nginx" in f.detail
    assert f.diagnose.startswith(
        "openssl s_client -connect 10.0.0.5:8443 -servername www.example.com"
    )
    assert "/etc/nginx/sites-enabled/app:12" in f.fix and "listen 8443 ssl" in f.fix


def test_client_cert_lists_acceptable_cas() -> None:
    (f,) = run(endpoint(ProbeStatus.CLIENT_CERT_REQUIRED, cas=MTLS_CAS), tls.RULES)
    assert f.severity is Severity.INFO
    for name in MTLS_CAS:
        assert name in f.detail
    assert "refuses the handshake without one" in f.detail


def test_handshake_failure_carries_the_alert_and_a_hint() -> None:
    (f,) = run(
        endpoint(
            ProbeStatus.HANDSHAKE_FAILED, error="tlsv1 unrecognized name (TLSV1_UNRECOGNIZED_NAME)"
        ),
        tls.RULES,
    )
    assert "TLSV1_UNRECOGNIZED_NAME" in f.detail
    assert "no certificate for this SNI name" in f.fix and "www.example.com" in f.fix
    assert f.diagnose.endswith("-brief </dev/null")


def _legacy(negotiated: str, legacy_probe: str | None) -> list:  # type: ignore[type-arg]
    from dataclasses import replace

    p = replace(probe(), protocol=negotiated)
    listener = Listener(
        host="web1", address="10.0.0.5", port=443, probes=(p,), legacy_protocol=legacy_probe
    )
    return run(Evidence(endpoints=[EndpointContext(probe=p, listener=listener)]), tls.RULES)


@pytest.mark.parametrize(
    ("negotiated", "legacy_probe", "severity", "says", "flag"),
    [
        ("TLSv1", "TLSv1", Severity.HIGH, "accepts only TLS 1.0", "-tls1 "),
        ("TLSv1.1", "TLSv1.1", Severity.HIGH, "accepts only TLS 1.1", "-tls1_1 "),
        ("TLSv1", None, Severity.HIGH, "accepts only TLS 1.0", "-tls1 "),  # `check`: no 2nd probe
        ("TLSv1.3", "TLSv1.1", Severity.MEDIUM, "offering nothing newer", "-tls1_1 "),
        ("TLSv1.2", "TLSv1", Severity.MEDIUM, "offering nothing newer", "-tls1 "),
    ],
)
def test_legacy_only_is_high_and_also_accepts_is_medium(
    negotiated: str, legacy_probe: str | None, severity: Severity, says: str, flag: str
) -> None:
    (f,) = _legacy(negotiated, legacy_probe)
    assert f.id == "LEGACY_PROTOCOL" and f.severity is severity
    assert says in f.detail and flag in f.diagnose


def test_a_modern_only_listener_raises_no_legacy_finding() -> None:
    assert _legacy("TLSv1.3", None) == []
