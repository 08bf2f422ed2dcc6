"""The diff between two runs: findings matched by where a certificate lives, and
certificate changes per location (renewed, changed, added, removed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from audit.diff import CertChangeKind, diff_runs
from audit.history import History
from audit.model import (
    AuditResult,
    CertInfo,
    CertLocation,
    Finding,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    Severity,
)
from tests.history.sample import NOW, make_pkiset, rich_result, store


@pytest.fixture(scope="module")
def pkiset() -> dict[str, CertInfo]:
    return make_pkiset()


def _host(
    name: str, certs: list[tuple[str, CertInfo, int]], outcome: HostOutcome = HostOutcome.OK
) -> HostResult:
    return HostResult(
        host=Host(name, name),
        outcome=outcome,
        certificates=tuple(
            FoundCert(c, CertLocation(name, path, "file", i)) for path, c, i in certs
        ),
    )


def _finding(id: str, host: str, subject: str, cert: CertInfo | None = None) -> Finding:
    return Finding(id, Severity.HIGH, host, subject, id, "", "", "", cert.sha256 if cert else None)


def _run(run_id: str, hosts: list[HostResult], findings: list[Finding]) -> AuditResult:
    return AuditResult(run_id, NOW, NOW, "inv", tuple(hosts), tuple(findings))


def test_diff_findings_follow_the_location_not_the_sha256(pkiset: dict[str, CertInfo]) -> None:
    c = pkiset
    old = _run(
        "a",
        [
            _host(
                "web", [("/s.pem", c["leaf"], 0), ("/b.pem", c["api"], 0), ("/b.pem", c["mail"], 1)]
            ),
            _host("db", [("/db.pem", c["sha1"], 0)]),
        ],
        [
            _finding("CERT_EXPIRING", "web", "/s.pem", c["leaf"]),
            _finding("CERT_EXPIRING", "web", "/b.pem", c["api"]),
            _finding("CERT_EXPIRING", "web", "/b.pem", c["mail"]),
            _finding("CERT_SHA1", "db", "/db.pem", c["sha1"]),
            _finding("HOST_PARTIAL", "web", "collection"),
        ],
    )
    new = _run(
        "b",
        [
            _host(
                "web",
                [
                    ("/s.pem", c["leaf_renewed"], 0),
                    ("/b.pem", c["api"], 0),
                    ("/b.pem", c["mail"], 1),
                ],
            ),
            _host("db", [], HostOutcome.UNREACHABLE),
        ],
        [
            _finding("CERT_EXPIRING", "web", "/s.pem", c["leaf_renewed"]),  # same place, renewed
            _finding("CERT_EXPIRING", "web", "/b.pem", c["api"]),
            _finding("HOST_UNREACHABLE", "db", "ssh"),
        ],
    )
    d = diff_runs(old, new)
    assert (d.old_run, d.new_run) == ("a", "b")
    assert [f.subject for f in d.unchanged] == ["/s.pem", "/b.pem"]
    assert d.unchanged[0].cert_sha256 == c["leaf_renewed"].sha256
    assert [(f.id, f.host) for f in d.new] == [("HOST_UNREACHABLE", "db")]
    assert [(f.subject, f.cert_sha256) for f in d.resolved] == [
        ("/b.pem", c["mail"].sha256),  # index 1 of the bundle, not index 0
        ("collection", None),
    ]
    assert [f.id for f in d.unverified] == ["CERT_SHA1"]  # db was not audited this time
    assert d.hosts_not_compared == ("db",)
    assert d.removed == ()  # db's certificates are not "removed": it was unreachable
    assert [(x.location.path, x.changes) for x in d.renewed] == [("/s.pem", ("validity", "serial"))]


def test_diff_certificate_changes_per_location(pkiset: dict[str, CertInfo]) -> None:
    c = pkiset
    bundle_old = [("/etc/ssl/certs/ca.pem", c["root"], 0)]
    old = _host(
        "web",
        [("/site.pem", c["leaf"], 0), ("/rsa.pem", c["leaf"], 0), ("/gone.pem", c["api"], 0),
         ("/chain.pem", c["leaf"], 0), ("/chain.pem", c["inter"], 1)],
    )  # fmt: skip
    old = replace(
        old,
        certificates=old.certificates
        + tuple(FoundCert(x, CertLocation("web", p, "ca_bundle", i)) for p, x, i in bundle_old),
    )
    new = _host(
        "web",
        [("/site.pem", c["leaf_other_issuer"], 0), ("/rsa.pem", c["leaf_rsa"], 0),
         ("/new.pem", c["mail"], 0),
         ("/chain.pem", c["inter"], 0), ("/chain.pem", c["leaf_renewed"], 1)],
    )  # fmt: skip
    d = diff_runs(_run("a", [old], []), _run("b", [new], []))
    changed = {x.location.path: x for x in d.changed}
    assert set(changed) == {"/site.pem", "/rsa.pem"}
    assert changed["/site.pem"].changes == ("issuer", "serial")
    assert (
        changed["/site.pem"].old == c["leaf"] and changed["/site.pem"].new == c["leaf_other_issuer"]
    )
    assert changed["/rsa.pem"].changes == ("key type", "serial", "key")
    # the chain file was reordered and its leaf renewed: the intermediate is no change
    assert [(x.location.path, x.location.index, x.old, x.new) for x in d.renewed] == [
        ("/chain.pem", 1, c["leaf"], c["leaf_renewed"])
    ]
    assert [(x.kind, x.location.path) for x in d.added] == [(CertChangeKind.ADDED, "/new.pem")]
    assert [(x.kind, x.location.path, x.new) for x in d.removed] == [
        (CertChangeKind.REMOVED, "/gone.pem", None)
    ]  # the CA bundle (ignored kind) vanished without a word
    assert diff_runs(_run("a", [old], []), _run("a", [old], [])).changed == ()
    every = diff_runs(_run("a", [old], []), _run("b", [new], []), ignore_kinds=frozenset())
    assert "/etc/ssl/certs/ca.pem" in [x.location.path for x in every.removed]


def test_diff_of_runs_read_back_from_history(tmp_path: Path, pkiset: dict[str, CertInfo]) -> None:
    with History.open(tmp_path / "h.db") as h:
        first = store(h, rich_result("", pkiset))
        second = store(h, replace(rich_result("", pkiset), started_at=NOW + dt.timedelta(hours=1)))
        a, b = h.load_run(first), h.load_run(second)
    d = diff_runs(a, b)
    assert d.new == d.resolved == d.unverified == ()
    assert len(d.unchanged) == len(b.findings)
    assert d.renewed == d.changed == d.added == d.removed == ()
