"""What renews each certificate is stored (schema 6) and reads back exactly; it is its own
body of evidence, shared while it does not change, and a new certbot attempt rewrites
only it, never the host's files."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import replace
from pathlib import Path

from audit.history import History, schema
from audit.model import (
    AuditResult,
    CertbotLineage,
    CertInfo,
    CertRenewal,
    HostResult,
    RenewalMechanism,
    RenewalSchedule,
    RenewalStatus,
)
from tests.history.released_schema import RELEASED
from tests.history.sample import rich_result, store

UTC = dt.UTC
ODD = "/etc/ssl/na\udcefve\n$(reboot).pem"


def with_renewal(r: HostResult, c: dict[str, CertInfo], attempt: dt.datetime) -> HostResult:
    name = r.host.name
    return replace(
        r,
        renewal_schedules=(
            RenewalSchedule(
                name,
                "certbot",
                "systemd",
                "certbot.timer",
                "systemctl",
                "enabled",
                "active",
                dt.datetime(2026, 11, 27, 12, 0, 3, tzinfo=UTC),
                dt.datetime(2026, 11, 28, 0, 41, 9, 250000, tzinfo=UTC),
                "success",
                True,
                "certbot.timer is enabled and active",
            ),
            RenewalSchedule(name, "certbot", "cron", ODD + " line 17", "files", "commented"),
        ),
        certbot_lineages=(
            CertbotLineage(
                name,
                "www.example.test",
                "/etc/letsencrypt/renewal/www.example.test.conf",
                "/etc/letsencrypt",
                "/etc/letsencrypt/live/www.example.test/cert.pem",
                "/etc/letsencrypt/live/www.example.test/fullchain.pem",
                "/etc/letsencrypt/archive/www.example.test",
                "dns-cloudflare",
                "https://acme-v02.api.letsencrypt.org/directory",
                "30 days",
                c["leaf"].sha256,
                attempt,
                "failed",
                "Some challenges have failed. \u202e(the CA reported: refused)",
            ),
            CertbotLineage(name, "bare", ODD, "/srv/le"),
        ),
        cert_renewals=(
            CertRenewal(
                name,
                c["leaf"].sha256,
                "/etc/letsencrypt/live/www.example.test/cert.pem",
                RenewalMechanism.CERTBOT,
                RenewalStatus.FAILING,
                "www.example.test",
                "certbot.timer is enabled and active",
                attempt,
                "failed",
                "Some challenges have failed.",
                dt.datetime(2026, 11, 28, 0, 41, 9, tzinfo=UTC),
                "certbot lineage www.example.test",
            ),
            CertRenewal(
                name,
                c["inter"].sha256,
                ODD,
                RenewalMechanism.KUBEADM,
                RenewalStatus.MANUAL,
                "apiserver",
                ca_not_after=dt.datetime(2035, 1, 1, tzinfo=UTC),
            ),
            CertRenewal(
                name, c["api"].sha256, "/etc/ssl/api.pem", RenewalMechanism.NONE, RenewalStatus.NONE
            ),
        ),
    )


def result(run_id: str, c: dict[str, CertInfo], attempt: dt.datetime) -> AuditResult:
    base = rich_result(run_id, c)
    return replace(base, hosts=(with_renewal(base.hosts[0], c, attempt), *base.hosts[1:]))


def _pointers(db: Path) -> list[tuple[str, int, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT run_id, files_evidence, renewal_evidence FROM hosts"
            " WHERE name = 'web01.example.test' ORDER BY started_at, pk"
        ).fetchall()
    finally:
        conn.close()


def test_renewal_round_trips_and_is_shared_until_it_changes(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "h.db"
    first_attempt = dt.datetime(2026, 11, 27, 12, 0, 5, tzinfo=UTC)
    with History.open(db) as h:
        one = store(h, result("", pkiset, first_attempt))
        two = store(h, result("", pkiset, first_attempt))
        three = store(h, result("", pkiset, first_attempt + dt.timedelta(hours=12)))
        for run_id, attempt in (
            (one, first_attempt),
            (three, first_attempt + dt.timedelta(hours=12)),
        ):
            loaded = h.load_run(run_id)
            assert loaded.hosts == result(run_id, pkiset, attempt).hosts
    rows = {run: (files, renewal) for run, files, renewal in _pointers(db)}
    assert rows[one] == rows[two]  # nothing changed: both bodies shared
    assert rows[three][0] == rows[one][0]  # a new certbot attempt: the files stay shared
    assert rows[three][1] != rows[one][1]  # and only the renewal is written again
    other = (
        sqlite3.connect(db)
        .execute("SELECT renewal_evidence FROM hosts WHERE name != 'web01.example.test'")
        .fetchall()
    )
    assert all(pk is None for (pk,) in other)  # nothing to say: no renewal evidence


def test_prune_takes_renewal_evidence_with_its_runs(
    tmp_path: Path, pkiset: dict[str, CertInfo]
) -> None:
    db = tmp_path / "h.db"
    attempt = dt.datetime(2026, 11, 27, 12, 0, 5, tzinfo=UTC)
    with History.open(db) as h:
        old = store(h, result("", pkiset, attempt))
        new = store(h, result("", pkiset, attempt + dt.timedelta(hours=12)))
        h.prune(lambda runs: [r.run_id for r in runs if r.run_id == old])
        assert [r.run_id for r in h.list_runs()] == [new]
    conn = sqlite3.connect(db)
    for table in ("renewal_schedules", "certbot_lineages", "cert_renewals"):
        owners = {pk for (pk,) in conn.execute(f"SELECT DISTINCT evidence_pk FROM {table}")}
        assert owners == {rows[2] for rows in _pointers(db) if rows[0] == new}, table
    assert old != new


def test_a_schema_5_database_upgrades(tmp_path: Path, pkiset: dict[str, CertInfo]) -> None:
    db = tmp_path / "v5.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for n, statements in enumerate(RELEASED[:5], 1):
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {n}")
    conn.close()
    attempt = dt.datetime(2026, 11, 27, 12, 0, 5, tzinfo=UTC)
    with History.open(db) as h:
        run_id = store(h, result("", pkiset, attempt))
        assert h.load_run(run_id).hosts == result(run_id, pkiset, attempt).hosts
    version = sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0]
    assert version == schema.schema_version() >= 6
