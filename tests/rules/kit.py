"""Shared pieces for the chain, names, crypto and TLS rule tests.

Everything is made relative to NOW (a frozen instant) with tests/pki.py. The PKIs are
built once per session (functools.cache): EC keys are fast, RSA keys come from pki's cache.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from audit.analyze import Evidence, analyze, chain_context, endpoint_context, served_cert_contexts
from audit.certparse import load_der
from audit.model import CertInfo, CertLocation, Finding, ProbeStatus, TlsProbe
from audit.rules.base import AnyRule, CertContext, Settings
from audit.trust import TrustStores
from tests import pki

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SETTINGS = Settings(now=NOW)
MOZILLA_PEM = "/usr/share/certaudit-test/mozilla.pem"
"""A made-up path: diagnose commands must carry whatever path the stores name."""


@dataclass(frozen=True)
class World:
    """Three unrelated PKIs: one "Mozilla" trusts, one only the OS store holds, one nobody."""

    public: pki.Hierarchy
    os_only: pki.Hierarchy
    private: pki.Hierarchy


@functools.cache
def world() -> World:
    return World(
        public=pki.hierarchy(NOW, "Public"),
        os_only=pki.hierarchy(NOW, "OSOnly"),
        private=pki.hierarchy(NOW, "Private"),
    )


def info(*items: pki.Issued) -> tuple[CertInfo, ...]:
    """CertInfo for generated certificates, in the order given."""
    return tuple(load_der(i.der) for i in items)


def stores(*, host: Sequence[pki.Issued] = (), cafile: Sequence[pki.Issued] = ()) -> TrustStores:
    """Mozilla = the public root; optional host store and --cafile."""
    return TrustStores(
        mozilla=info(world().public.root),
        host=info(*host),
        cafile=info(*cafile),
        mozilla_path=MOZILLA_PEM,
        host_path="/etc/ssl/certs/ca-certificates.crt" if host else "",
        cafile_path="/srv/ca/internal-root.pem" if cafile else "",
    )


def probe(
    chain: Sequence[CertInfo] = (),
    *,
    servername: str | None = "www.example.com",
    status: ProbeStatus = ProbeStatus.TLS,
    port: int = 443,
    error: str = "",
    acceptable_ca_names: Sequence[str] = (),
) -> TlsProbe:
    return TlsProbe(
        host="web1",
        address="10.0.0.5",
        port=port,
        servername=servername,
        status=status,
        protocol="TLSv1.3" if status is ProbeStatus.TLS else None,
        chain=tuple(chain),
        error=error,
        acceptable_ca_names=tuple(acceptable_ca_names),
    )


def served(
    chain: Sequence[CertInfo],
    *,
    trust: TrustStores | None = None,
    intermediates: Sequence[CertInfo] = (),
    servername: str | None = "www.example.com",
    expected_name: str | None = None,
) -> Evidence:
    """What `check` builds for one listener: the endpoint plus its served certificates."""
    ep = endpoint_context(
        probe(chain, servername=servername),
        stores=trust or stores(),
        now=NOW,
        expected_name=expected_name,
        intermediates=intermediates,
    )
    return Evidence(endpoints=[ep], extra_certs=served_cert_contexts([ep]))


def bundle(
    chain: Sequence[CertInfo],
    *,
    path: str = "/etc/nginx/tls/fullchain.pem",
    trust: TrustStores | None = None,
    intermediates: Sequence[CertInfo] = (),
    expected_name: str | None = None,
) -> Evidence:
    """What `inspect FILE` builds: the file as a chain, and each certificate in it."""
    ctx = chain_context(
        chain,
        path=path,
        stores=trust or stores(),
        now=NOW,
        expected_name=expected_name,
        intermediates=intermediates,
    )
    certs = [
        CertContext(cert=c, location=CertLocation(host="", path=path, index=i))
        for i, c in enumerate(chain)
    ]
    return Evidence(chains=[ctx], extra_certs=certs)


def run(evidence: Evidence, rules: Iterable[AnyRule] = ()) -> list[Finding]:
    return analyze(evidence, SETTINGS, tuple(rules) or _all())


def _all() -> tuple[AnyRule, ...]:
    from audit.rules import REGISTRY

    return REGISTRY


def ids(findings: Iterable[Finding]) -> set[str]:
    return {f.id for f in findings}


PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def unfilled(finding: Finding) -> list[str]:
    """Template placeholders left in a finding's diagnose or fix (should be none)."""
    return PLACEHOLDER.findall(finding.diagnose) + PLACEHOLDER.findall(finding.fix)
