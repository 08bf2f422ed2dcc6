"""What changed between two runs: findings new, resolved, unchanged or unverified, and
certificates renewed, changed, added or removed, location by location.

Pure logic over two `AuditResult`s (as recorded, or as read back from the history); the
history database is never touched here.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audit.model import AuditResult, CertInfo, CertLocation, Finding, FoundCert


class CertChangeKind(enum.StrEnum):
    """What happened to the certificate at one location between two runs."""

    RENEWED = "renewed"
    """Same subject, names, issuer and key type/size; new validity/serial/key. Routine."""
    CHANGED = "changed"
    """A different issuer, subject, names or key type/size. Material."""
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class CertChange:
    """One certificate change at one location."""

    kind: CertChangeKind
    location: CertLocation
    """The location in the newer run (the older one for `removed`)."""
    old: CertInfo | None
    new: CertInfo | None
    changes: tuple[str, ...] = ()
    """What differs: "subject", "names", "issuer", "key type", "key size" (material) and
    "validity", "serial", "key" (routine)."""


@dataclass(frozen=True)
class RunDiff:
    """What changed from run `old_run` to run `new_run`."""

    old_run: str
    new_run: str
    new: tuple[Finding, ...]
    """Findings in the newer run that the older one did not have (newer run's order)."""
    resolved: tuple[Finding, ...]
    """Findings of the older run gone from the newer one, on hosts audited in both."""
    unchanged: tuple[Finding, ...]
    """Findings in both (as in the newer run)."""
    unverified: tuple[Finding, ...]
    """Findings of the older run on hosts the newer run did not audit: not known resolved."""
    renewed: tuple[CertChange, ...]
    changed: tuple[CertChange, ...]
    added: tuple[CertChange, ...]
    removed: tuple[CertChange, ...]
    hosts_not_compared: tuple[str, ...]
    """Hosts audited in one run but not the other; their certificates are not compared."""


DIFF_IGNORED_KINDS = frozenset({"ca_bundle", "archive"})
"""Location kinds left out of certificate changes: trust stores and certbot's archive
change wholesale and are not deployed certificates."""

_LocKey = tuple[str, str, str, str]


def _audited_hosts(run: AuditResult) -> set[str]:
    return {h.host.name for h in run.hosts if h.outcome.audited}


def _keyed_findings(run: AuditResult) -> list[tuple[Any, ...]]:
    """The matching key of each finding of the run, in order."""
    places: dict[tuple[str, str], list[CertLocation]] = defaultdict(list)
    served: dict[tuple[str, str], set[tuple[str, int, str, int]]] = defaultdict(set)
    for h in run.hosts:
        for fc in h.certificates:
            places[(h.host.name, fc.cert.sha256)].append(fc.location)
        for listener in h.listeners:
            for probe in listener.probes:
                for i, c in enumerate(probe.chain):
                    served[(h.host.name, c.sha256)].add(
                        (probe.address, probe.port, probe.servername or "", i)
                    )
    keys = []
    for f in run.findings:
        ident: Any = None
        if f.cert_sha256 is not None:
            locs = places.get((f.host, f.cert_sha256))
            if locs:
                here = [loc for loc in locs if loc.path == f.subject] or locs
                ident = tuple(
                    sorted({(loc.kind, loc.path, loc.index, loc.servername or "") for loc in here})
                )
            elif (f.host, f.cert_sha256) in served:
                ident = tuple(sorted(served[(f.host, f.cert_sha256)]))
            else:
                ident = ("sha256", f.cert_sha256)
        keys.append((f.id, f.host, f.subject, ident))
    return keys


def _names(c: CertInfo) -> frozenset[str]:
    return frozenset(c.dns_names) | frozenset(c.ip_addresses)


def _differences(old: CertInfo, new: CertInfo) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(material, routine) differences between two certificates."""
    material = []
    if old.subject != new.subject:
        material.append("subject")
    if _names(old) != _names(new):
        material.append("names")
    if old.issuer != new.issuer:
        material.append("issuer")
    if old.key_type != new.key_type:
        material.append("key type")
    elif old.key_bits != new.key_bits:
        material.append("key size")
    routine = []
    if (old.not_before, old.not_after) != (new.not_before, new.not_after):
        routine.append("validity")
    if old.serial != new.serial:
        routine.append("serial")
    if old.public_key_sha256 != new.public_key_sha256:
        routine.append("key")
    return tuple(material), tuple(routine)


def _renewal_identity(c: CertInfo) -> tuple[Any, ...]:
    return (c.subject, _names(c), c.issuer, c.key_type, c.key_bits)


def _located(
    run: AuditResult, hosts: set[str], ignore: frozenset[str]
) -> dict[_LocKey, list[FoundCert]]:
    groups: dict[_LocKey, list[FoundCert]] = defaultdict(list)
    for h in run.hosts:
        if h.host.name not in hosts:
            continue
        for fc in h.certificates:
            loc = fc.location
            if loc.kind in ignore:
                continue
            groups[(h.host.name, loc.kind, loc.path, loc.servername or "")].append(fc)
    return groups


def _pair(
    old: list[FoundCert], new: list[FoundCert], match: Callable[[FoundCert, FoundCert], bool]
) -> list[tuple[FoundCert, FoundCert]]:
    """Greedily pair items that match, removing them from both lists (order kept)."""
    pairs = []
    for o in list(old):
        for n in new:
            if match(o, n):
                pairs.append((o, n))
                old.remove(o)
                new.remove(n)
                break
    return pairs


def diff_runs(
    a: AuditResult, b: AuditResult, *, ignore_kinds: frozenset[str] = DIFF_IGNORED_KINDS
) -> RunDiff:
    """What changed from run `a` (older) to run `b` (newer). Pure.

    Findings are matched on (id, host, subject, certificate identity), where a
    certificate's identity is where it lives (kind, path, index, SNI name), not its sha256,
    so the same problem on a renewed certificate is "unchanged". Certificates are compared
    per location (host, kind, path, SNI name): an identical certificate (even at another
    index) is no change; otherwise pairs with the same subject, names, issuer and key are
    renewals, pairs at the same index are changes, and the rest were added or removed.
    """
    audited_a, audited_b = _audited_hosts(a), _audited_hosts(b)

    old_keyed: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, key in enumerate(_keyed_findings(a)):
        old_keyed[key].append(i)
    new, unchanged = [], []
    for f, key in zip(b.findings, _keyed_findings(b), strict=True):
        bucket = old_keyed.get(key)
        if bucket:
            bucket.pop(0)
            unchanged.append(f)
        else:
            new.append(f)
    inventory_hosts = {h.host.name for h in a.hosts} | {h.host.name for h in b.hosts}
    resolved, unverified = [], []
    for i in sorted(i for left in old_keyed.values() for i in left):
        f = a.findings[i]
        if f.host in inventory_hosts and f.host not in audited_b:
            unverified.append(f)
        else:
            resolved.append(f)

    compared = audited_a & audited_b
    not_compared = sorted(audited_a ^ audited_b)
    old_groups = _located(a, compared, ignore_kinds)
    new_groups = _located(b, compared, ignore_kinds)
    changes: dict[CertChangeKind, list[CertChange]] = defaultdict(list)
    for key in list(old_groups) + [k for k in new_groups if k not in old_groups]:
        olds, news = list(old_groups.get(key, ())), list(new_groups.get(key, ()))
        _pair(olds, news, lambda o, n: o.cert.sha256 == n.cert.sha256)
        for o, n in _pair(
            olds, news, lambda o, n: _renewal_identity(o.cert) == _renewal_identity(n.cert)
        ):
            _, routine = _differences(o.cert, n.cert)
            changes[CertChangeKind.RENEWED].append(
                CertChange(CertChangeKind.RENEWED, n.location, o.cert, n.cert, routine)
            )
        for o, n in _pair(olds, news, lambda o, n: o.location.index == n.location.index):
            material, routine = _differences(o.cert, n.cert)
            changes[CertChangeKind.CHANGED].append(
                CertChange(CertChangeKind.CHANGED, n.location, o.cert, n.cert, material + routine)
            )
        for o in olds:
            changes[CertChangeKind.REMOVED].append(
                CertChange(CertChangeKind.REMOVED, o.location, o.cert, None)
            )
        for n in news:
            changes[CertChangeKind.ADDED].append(
                CertChange(CertChangeKind.ADDED, n.location, None, n.cert)
            )
    return RunDiff(
        old_run=a.run_id,
        new_run=b.run_id,
        new=tuple(new),
        resolved=tuple(resolved),
        unchanged=tuple(unchanged),
        unverified=tuple(unverified),
        renewed=tuple(changes[CertChangeKind.RENEWED]),
        changed=tuple(changes[CertChangeKind.CHANGED]),
        added=tuple(changes[CertChangeKind.ADDED]),
        removed=tuple(changes[CertChangeKind.REMOVED]),
        hosts_not_compared=tuple(not_compared),
    )


def severity_changes(old: AuditResult, diff: RunDiff) -> list[tuple[Finding, str]]:
    """Findings in both runs whose severity moved (an expiring certificate escalating)."""
    before: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for f in old.findings:
        before[(f.id, f.host, f.subject)].add(f.severity.value)
    out = []
    for f in diff.unchanged:
        seen = before.get((f.id, f.host, f.subject), set())
        if seen and f.severity.value not in seen:
            out.append((f, "/".join(sorted(seen))))
    return out
