"""Evidence + rules -> ranked findings.

The framework part of the rules: builds each rule's contexts from the evidence, runs the
rule, fills its templates, and scores every finding for ranking. A rule that crashes is
surfaced as a finding (RULE_ERROR), never reduced to a log line.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from audit.model import (
    CertInfo,
    CertLocation,
    ChainStatus,
    ChainVerdict,
    Finding,
    HostResult,
    Listener,
    LocationKind,
    Severity,
    TlsConfig,
    TlsProbe,
    config_for_probe,
)
from audit.rules import REGISTRY
from audit.rules.base import (
    AnyRule,
    CertContext,
    ChainContext,
    Context,
    EndpointContext,
    Hit,
    HostContext,
    Scope,
    Settings,
    render,
)
from audit.rules.renewal import renewal_weight
from audit.trust import (
    TrustStores,
    assess_chain,
    default_stores,
    fleet_intermediates,
    host_store,
)

_SEVERITY_WEIGHT = {
    Severity.CRITICAL: 10.0,
    Severity.HIGH: 6.0,
    Severity.MEDIUM: 3.0,
    Severity.LOW: 1.0,
    Severity.INFO: 0.2,
}


@dataclass(frozen=True)
class Evidence:
    """Everything the rules see for one run (or one `check`/`inspect`)."""

    hosts: Sequence[HostResult] = ()
    endpoints: Sequence[EndpointContext] = ()
    extra_certs: Sequence[CertContext] = ()
    """Certificate contexts that come from outside a host (inspect's local files)."""
    chains: Sequence[ChainContext] = ()
    """Bundle files judged as chains (inspect; in a run, the files configurations name).
    Served chains come from `endpoints`."""


def cert_contexts(
    hosts: Sequence[HostResult], endpoints: Sequence[EndpointContext] = ()
) -> list[CertContext]:
    """One context per deployed certificate location, with served flag and blast radius
    (the files that hold it plus the listeners that serve it, across the fleet)."""
    served_at = {
        (ep.probe.host, ep.probe.address, ep.probe.port, ep.probe.chain[0].sha256)
        for ep in endpoints
        if ep.probe.chain
    }
    served = {sha for *_, sha in served_at}
    places: Counter[str] = Counter(sha for *_, sha in served_at)
    for h in hosts:
        for found in h.certificates:
            if found.location.kind.deployed:
                places[found.cert.sha256] += 1
    out = []
    for h in hosts:
        renewals = {r.cert_sha256: r for r in h.cert_renewals}
        for found in h.certificates:
            if not found.location.kind.deployed:
                continue
            out.append(
                CertContext(
                    cert=found.cert,
                    location=found.location,
                    served=found.cert.sha256 in served,
                    blast_radius=places[found.cert.sha256],
                    renewal=renewals.get(found.cert.sha256),
                )
            )
    return out


def _contexts(scope: Scope, evidence: Evidence, certs: list[CertContext]) -> Iterable[Context]:
    if scope is Scope.HOST:
        return (HostContext(h) for h in evidence.hosts)
    if scope is Scope.CERT:
        return certs
    if scope is Scope.CHAIN:
        return chain_contexts(evidence)
    return evidence.endpoints


def _host_of(ctx: Context) -> str:
    if isinstance(ctx, HostContext):
        return ctx.result.host.name
    if isinstance(ctx, CertContext):
        return ctx.location.host
    if isinstance(ctx, ChainContext):
        return ctx.host
    return ctx.probe.host


def _exposure(ctx: Context) -> tuple[float, str]:
    if isinstance(ctx, EndpointContext):
        return 1.5, "served on a listener"
    if isinstance(ctx, ChainContext):
        if ctx.kind is LocationKind.LISTENER:
            return 1.5, "served on a listener"
        if ctx.config is not None:
            return 1.0, "file a server's configuration names"
        return 1.0, "bundle file"
    if isinstance(ctx, CertContext):
        if ctx.served or ctx.location.kind is LocationKind.LISTENER:
            return 1.5, "served on a listener"
        return 1.0, "file no listener serves"
    if not ctx.result.outcome.audited:
        return 1.3, "host not audited"
    return 1.0, "host"


def _urgency(days_left: float | None) -> tuple[float, str]:
    if days_left is None:
        return 1.0, ""
    if days_left < 0:
        return 1.5, f"expired {-days_left:.0f} days ago"
    return 1.0 + 0.5 / (1.0 + days_left / 7.0), f"{days_left:.0f} days left"


def _blast(ctx: Context) -> tuple[float, str]:
    n = ctx.blast_radius if isinstance(ctx, CertContext) else 1
    if n <= 1:
        return 1.0, ""
    return 1.0 + 0.25 * math.log2(n), f"deployed in {n} places"


def score(severity: Severity, ctx: Context, days_left: float | None) -> tuple[float, str]:
    """Risk = severity x exposure x urgency x blast radius (x renewal health, for a
    certificate's validity), with the reasons as text."""
    exposure, why_exposure = _exposure(ctx)
    urgency, why_urgency = _urgency(days_left)
    blast, why_blast = _blast(ctx)
    renewal, why_renewal = renewal_weight(
        ctx.renewal if isinstance(ctx, CertContext) and days_left is not None else None
    )
    risk = round(_SEVERITY_WEIGHT[severity] * exposure * urgency * blast * renewal, 2)
    whys = (severity.value, why_exposure, why_urgency, why_renewal, why_blast)
    why = "; ".join(w for w in whys if w)
    return risk, why


def _finding(rule: AnyRule, ctx: Context, hit: Hit) -> Finding:
    severity = hit.severity or rule.severity
    risk, why = score(severity, ctx, hit.days_left)
    return Finding(
        id=rule.id,
        severity=severity,
        host=_host_of(ctx),
        subject=hit.subject,
        title=rule.title,
        detail=hit.detail,
        diagnose=render(hit.diagnose or rule.diagnose, hit.values),
        fix=hit.fix if hit.fix is not None else render(rule.fix, hit.values),
        cert_sha256=hit.cert_sha256,
        risk=risk,
        why=why,
        days_left=None if hit.days_left is None else round(hit.days_left, 2),
    )


def analyze(
    evidence: Evidence, settings: Settings, rules: Sequence[AnyRule] = REGISTRY
) -> list[Finding]:
    """Run every rule over its contexts; return findings ranked by risk, highest first."""
    certs = cert_contexts(evidence.hosts, evidence.endpoints) + list(evidence.extra_certs)
    certs = _mark_publicly_trusted(certs, chain_contexts(evidence))
    findings: list[Finding] = []
    for rule in rules:
        for ctx in _contexts(rule.scope, evidence, certs):
            try:
                hits = list(rule.check(ctx, settings))
            except Exception as exc:  # a crashing rule is a finding, not a log line
                findings.append(_rule_error(rule, ctx, exc))
                continue
            findings.extend(_finding(rule, ctx, hit) for hit in hits)
    return rank(findings)


def rank(findings: Iterable[Finding]) -> list[Finding]:
    """Highest risk first; ties broken deterministically."""
    return sorted(
        findings,
        key=lambda f: (-f.risk, -f.severity.rank, f.host, f.id, f.subject, f.cert_sha256 or ""),
    )


def _rule_error(rule: AnyRule, ctx: Context, exc: Exception) -> Finding:
    return Finding(
        id="RULE_ERROR",
        severity=Severity.LOW,
        host=_host_of(ctx),
        subject=rule.id,
        title=f"Rule {rule.id} failed on this evidence",
        detail=f"{type(exc).__name__}: {exc}",
        diagnose="certaudit run -v (see the rule's traceback)",
        fix="Report this as a certaudit bug with the detail above.",
        risk=0.5,
        why="internal error",
    )


# ---------------------------------------------------------------------------
# Chains: probe results and bundle files -> contexts with a trust verdict.
#
#   stores = trust.default_stores(cafile=opts.cafile)             # Mozilla (+ --cafile)
#   eps = [endpoint_context(p, stores=stores, now=now) for p in probes]
#   ev = Evidence(endpoints=eps, extra_certs=served_cert_contexts(eps))
#   findings = analyze(ev, Settings(now=now))

PUBLIC_STORES = frozenset({"mozilla", "cafile"})
"""Stores whose trust makes a leaf "publicly trusted" for VALIDITY_TOO_LONG."""


def endpoint_context(
    probe: TlsProbe,
    *,
    stores: TrustStores,
    now: datetime,
    listener: Listener | None = None,
    expected_name: str | None = None,
    expects_tls: bool = True,
    intermediates: Sequence[CertInfo] = (),
    check_name: bool = True,
) -> EndpointContext:
    """One probe with its chain verdict (None when no certificate was received).

    expected_name defaults to the SNI name sent; intermediates are fleet-collected CA
    certificates (trust.fleet_intermediates) that tell "incomplete" from "untrusted".
    check_name=False: the name was only explored (taken from some certificate on the host),
    nobody declared that clients use it here, so the leaf is not held to it.
    """
    name = (expected_name or probe.servername) if check_name else None
    verdict = None
    if probe.chain:
        verdict = assess_chain(
            probe.chain,
            now=now,
            stores=stores,
            servername=name,
            intermediates=intermediates,
        )
    return EndpointContext(
        probe=probe,
        listener=listener,
        verdict=verdict,
        expects_tls=listener.expects_tls if listener is not None else expects_tls,
        expected_name=name,
    )


def chain_context(
    chain: Sequence[CertInfo],
    *,
    path: str,
    stores: TrustStores,
    now: datetime,
    host: str = "",
    expected_name: str | None = None,
    intermediates: Sequence[CertInfo] = (),
) -> ChainContext:
    """A bundle file judged as a chain (inspect fullchain.pem): leaf first, then its CAs."""
    chain = tuple(chain)
    verdict = assess_chain(
        chain, now=now, stores=stores, servername=expected_name, intermediates=intermediates
    )
    return ChainContext(
        chain=chain,
        verdict=verdict,
        kind=LocationKind.FILE,
        where=path,
        host=host,
        expected_name=expected_name,
    )


def chain_contexts(evidence: Evidence) -> list[ChainContext]:
    """Every chain to judge: the bundle files, plus each served chain that has a verdict."""
    out = list(evidence.chains)
    for ep in evidence.endpoints:
        if ep.verdict is None or not ep.probe.chain:
            continue
        out.append(
            ChainContext(
                chain=ep.probe.chain,
                verdict=ep.verdict,
                kind=LocationKind.LISTENER,
                where=f"{ep.probe.address}:{ep.probe.port}",
                host=ep.probe.host,
                expected_name=ep.expected_name,
                probe=ep.probe,
                listener=ep.listener,
            )
        )
    return out


def served_cert_contexts(endpoints: Sequence[EndpointContext]) -> list[CertContext]:
    """A CertContext per certificate each endpoint served (for `check`, where no host
    collection records served certificates): location kind "listener", path
    "address:port", index = position in the chain, so the certificate rules see them."""
    out = []
    for ep in endpoints:
        p = ep.probe
        path = {c.sha256 for c in ep.verdict.verified_chain} if ep.verdict else set()
        for i, cert in enumerate(p.chain):
            location = CertLocation(
                host=p.host,
                path=f"{p.address}:{p.port}",
                kind=LocationKind.LISTENER,
                index=i,
                servername=p.servername,
            )
            off_path = bool(path) and i > 0 and cert.sha256 not in path
            out.append(CertContext(cert=cert, location=location, served=True, off_path=off_path))
    return out


def listener_for_probe(result: HostResult, listener: Listener, probe: TlsProbe) -> Listener:
    """The listener as `probe` saw it: when several configured server blocks share the port,
    the one answering the probe's SNI name supplies the config file, line and certificate."""
    config = config_for_probe(result.tls_configs, listener, probe)
    if config is None or config.cert_file is None or config.cert_file == listener.cert_file:
        return listener
    tls = any(x.tls for x in config.listens if x.port == listener.port)
    if not tls or not config.cert_config_file:
        return listener
    return replace(
        listener,
        config_file=config.cert_config_file,
        config_line=config.cert_config_line,
        cert_file=config.cert_file,
        server=config.server,
    )


def _distinct(probes: Sequence[TlsProbe]) -> list[TlsProbe]:
    """A listener's probes without outside-view repeats: a direct probe that saw exactly
    what the SSH probe saw for the same name adds nothing but duplicate findings."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for p in probes:
        key = (p.servername, p.status, p.protocol, tuple(c.sha256 for c in p.chain), p.error)
        if key in seen:
            continue
        seen.add(key)
        out.append(p)
    return out


def fleet_evidence(
    hosts: Sequence[HostResult],
    *,
    now: datetime,
    cafile: str | None = None,
    stores: TrustStores | None = None,
) -> Evidence:
    """What a fleet run hands the rules: every host; an endpoint context per probe of every
    listener, judged against Mozilla's roots, the --cafile and that host's own CA bundle,
    with the fleet's intermediates; a chain context per certificate file a web server's
    configuration names (`configured_chains`), judged the same way; and the certificates
    listeners serve that no host holds in a file (the ones in files are judged there,
    flagged served, never twice).

    `stores` replaces the Mozilla/--cafile part (tests); each host's own store is added.
    Raises OSError when the cafile cannot be read.
    """
    base = stores if stores is not None else default_stores(cafile)
    intermediates = fleet_intermediates(hosts)
    endpoints: list[EndpointContext] = []
    chains: list[ChainContext] = []
    for r in hosts:
        if not r.listeners and not r.tls_configs:
            continue
        stores = replace(
            base,
            host=host_store(r),
            host_path=r.ca_bundles[0] if r.ca_bundles else "",
        )
        own: list[EndpointContext] = []
        for listener in r.listeners:
            for probe in _distinct(listener.probes):
                seen_as = listener_for_probe(r, listener, probe)
                declared = (probe.servername or "").lower() in listener.server_names
                own.append(
                    endpoint_context(
                        probe,
                        stores=stores,
                        now=now,
                        listener=seen_as,
                        intermediates=intermediates,
                        expects_tls=listener.expects_tls,
                        check_name=declared,
                    )
                )
        endpoints.extend(own)
        chains.extend(
            configured_chains(r, own, stores=stores, now=now, intermediates=intermediates)
        )
    stored = {f.cert.sha256 for r in hosts for f in r.certificates}
    extra: dict[tuple[str, str, str], CertContext] = {}
    for ctx in served_cert_contexts(endpoints):
        if ctx.cert.sha256 in stored:
            continue
        extra.setdefault((ctx.location.host, ctx.location.path, ctx.cert.sha256), ctx)
    return Evidence(
        hosts=hosts, endpoints=endpoints, extra_certs=list(extra.values()), chains=chains
    )


def configured_chains(
    result: HostResult,
    endpoints: Sequence[EndpointContext],
    *,
    stores: TrustStores,
    now: datetime,
    intermediates: Sequence[CertInfo] = (),
) -> list[ChainContext]:
    """A chain context for every certificate file the host's web-server configuration
    names (TlsConfig.cert_file, then Apache's chain file), judged like what a listener
    serves: `inspect`'s diagnosis for files that are deployed, or about to be.

    A file is left out when one of the host's `endpoints` serves the same chain, or the
    same leaf with the same verdict: the served finding stands for that problem. One
    context per file, located at the first configuration line that names it.
    """
    files = _files_by_path(result)
    served = [
        (tuple(c.sha256 for c in ep.probe.chain), ep.verdict)
        for ep in endpoints
        if ep.verdict is not None and ep.probe.chain
    ]
    seen: set[tuple[str, str | None]] = set()
    out = []
    for config in sorted(result.tls_configs, key=_config_order):
        if not config.cert_file or (config.cert_file, config.chain_file) in seen:
            continue
        seen.add((config.cert_file, config.chain_file))
        chain = list(files.get(config.cert_file, ()))
        if config.chain_file and config.chain_file != config.cert_file:
            chain += files.get(config.chain_file, ())
        if not chain or all(c.is_ca for c in chain):
            continue
        ctx = chain_context(
            chain,
            path=config.cert_file,
            stores=stores,
            now=now,
            host=result.host.name,
            intermediates=intermediates,
        )
        if _served_alike(ctx, served):
            continue
        out.append(replace(ctx, config=config, verdict=_on_host(ctx.verdict, stores)))
    return out


def _config_order(config: TlsConfig) -> tuple[str, int]:
    return (config.cert_config_file or config.file, config.cert_config_line or config.line)


def _files_by_path(result: HostResult) -> dict[str, list[CertInfo]]:
    """The certificates of every deployed file on the host (links included), in file order."""
    found: dict[str, dict[int, CertInfo]] = {}
    for f in result.certificates:
        kind = f.location.kind
        if not kind.deployed or kind in (LocationKind.LISTENER, LocationKind.KUBECONFIG):
            continue
        found.setdefault(f.location.path, {}).setdefault(f.location.index, f.cert)
    return {path: [certs[i] for i in sorted(certs)] for path, certs in found.items()}


def _served_alike(
    ctx: ChainContext, served: Sequence[tuple[tuple[str, ...], ChainVerdict]]
) -> bool:
    """A listener serves this chain (`served`: each served chain's SHA-256s and verdict),
    or its leaf with the same verdict."""
    shas = tuple(c.sha256 for c in ctx.chain)
    leaf = ctx.verdict.leaf.sha256 if ctx.verdict.leaf else None
    for sent, v in served:
        if sent == shas:
            return True
        if v.leaf is not None and v.leaf.sha256 == leaf and _problem(v) == _problem(ctx.verdict):
            return True
    return False


def _problem(v: ChainVerdict) -> tuple[str, str, bool]:
    return (v.status, v.broken_rule, v.order_problem is None)


def _on_host(verdict: ChainVerdict, stores: TrustStores) -> ChainVerdict:
    """The verdict with the host's own bundle as the diagnose CA file where it stood for
    Mozilla's: the file is on the host, its diagnose commands run there, and the bundle
    of a mainstream distribution carries Mozilla's roots (not so for os_only, whose
    diagnose must fail the way Mozilla-based clients do)."""
    mozilla = stores.path_of("mozilla")
    if verdict.cafile != mozilla or verdict.status is ChainStatus.OS_ONLY or not stores.host:
        return verdict
    return replace(verdict, cafile=stores.path_of("host"))


def _mark_publicly_trusted(
    certs: list[CertContext], chains: Sequence[ChainContext]
) -> list[CertContext]:
    """Set publicly_trusted on every context of a leaf some chain verdict found trusted by
    Mozilla's store or the user's --cafile (trust.assess_chain decided it)."""
    trusted = {
        c.verdict.leaf.sha256
        for c in chains
        if c.verdict.leaf is not None and PUBLIC_STORES & set(c.verdict.trusted_by)
    }
    if not trusted:
        return certs
    return [replace(c, publicly_trusted=True) if c.cert.sha256 in trusted else c for c in certs]
