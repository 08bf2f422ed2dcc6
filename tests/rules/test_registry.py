"""The rule registry against the finding catalogue (../shared/spec/FINDINGS.md).

Every catalogued ID has a registered rule or an explicit deferral; IDs are unique; titles
are short and state a problem; every rule fires on a positive case, and every placeholder
of its diagnose and fix templates is filled by what its hits provide.
"""

from __future__ import annotations

import typing
from collections.abc import Callable

import pytest

from audit.analyze import Evidence
from audit.model import (
    CertLocation,
    CollectionIssue,
    Host,
    HostOutcome,
    HostResult,
    IssueReason,
    KeyFile,
    Listener,
    ProbeStatus,
    Unparseable,
)
from audit.rules import BY_ID, PLANNED, REGISTRY
from audit.rules.base import CONTEXT_OF, AnyRule, CertContext, EndpointContext
from tests import pki
from tests.catalogue import SPEC, catalogue, parse
from tests.rules import renewal_cases
from tests.rules.kit import (
    NOW,
    bundle,
    info,
    probe,
    run,
    served,
    stores,
    unfilled,
    world,
)

IMPERATIVES = {"check", "ensure", "verify", "use", "make", "set", "enable", "disable", "add"}


def test_the_recorded_catalogue_is_the_brief() -> None:
    if not SPEC.is_file():  # the brief lives beside the repository; the copy is in tests/
        pytest.skip(f"the finding catalogue {SPEC} is not beside this checkout")
    assert parse(SPEC.read_text(encoding="utf-8")) == catalogue(), "python -m tests.catalogue"


def test_catalogue_parses() -> None:
    ids = catalogue()
    assert len(ids) >= 30 and "CHAIN_INCOMPLETE" in ids and "CERT_UNPARSEABLE" in ids


def test_every_catalogued_id_has_a_rule_or_a_deferral() -> None:
    missing = sorted(set(catalogue()) - set(BY_ID) - set(PLANNED))
    assert not missing, f"no rule and no deferral for: {missing}"


def test_deferrals_are_current() -> None:
    assert not set(PLANNED) - set(catalogue()), "deferred IDs that are not in FINDINGS.md"
    assert not set(PLANNED) & set(BY_ID), "deferred IDs that now have a rule: drop them"


def test_every_rule_is_catalogued_and_unique() -> None:
    ids = [r.id for r in REGISTRY]
    assert len(ids) == len(set(ids)), "duplicate rule IDs"
    assert not set(ids) - set(catalogue()), "rules whose ID is not in FINDINGS.md"


@pytest.mark.parametrize("rule", REGISTRY, ids=lambda r: r.id)
def test_check_takes_the_context_of_its_scope(rule: AnyRule) -> None:
    hints = typing.get_type_hints(rule.check)
    assert hints["ctx"] is CONTEXT_OF[rule.scope], (
        f"{rule.id}: scope {rule.scope} but ctx: {hints['ctx']}"
    )


@pytest.mark.parametrize("rule", REGISTRY, ids=lambda r: r.id)
def test_metadata(rule: AnyRule) -> None:
    assert 0 < len(rule.title) < 70
    assert rule.title[0].isupper() and not rule.title.endswith((".", "?", "!"))
    assert rule.title.split()[0].lower() not in IMPERATIVES, "a title states the problem"
    assert rule.severity.value in catalogue()[rule.id].lower(), "default severity as catalogued"
    assert rule.diagnose.strip() and rule.fix.strip()
    assert rule.family and rule.check.__name__


# --------------------------------------------------------------------------
# One or more positive cases per rule: evidence on which it must fire.


def _host(outcome: HostOutcome = HostOutcome.OK, **kw) -> HostResult:  # type: ignore[no-untyped-def]
    host = Host(name="db1", address="10.0.0.9", port=2222, user="audit")
    kw.setdefault("ca_bundles", ("/etc/ssl/certs/ca-certificates.crt",))
    return HostResult(host=host, outcome=outcome, detail=f"{outcome.value} (test)", **kw)


def _on_host(outcome: HostOutcome, **kw) -> Callable[[], Evidence]:  # type: ignore[no-untyped-def]
    return lambda: Evidence(hosts=[_host(outcome, **kw)])


def _cert(  # type: ignore[no-untyped-def]
    trusted: bool = False, kind: str = "file", off_path: bool = False, **kw
) -> Callable[[], Evidence]:
    def make() -> Evidence:
        cert = info(world().public.leaf("www.example.com", now=NOW, **kw))[0]
        path = "/etc/ssl/x.pem" if kind == "file" else "10.0.0.5:443"
        loc = CertLocation(
            host="web1", path=path, kind=kind, index=int(off_path), servername="www.example.com"
        )
        return Evidence(
            extra_certs=[
                CertContext(
                    cert=cert,
                    location=loc,
                    served=kind != "file",
                    publicly_trusted=trusted,
                    off_path=off_path,
                )
            ]
        )

    return make


def _leaf(h: pki.Hierarchy | None = None, **kw) -> pki.Issued:  # type: ignore[no-untyped-def]
    return (h or world().public).leaf("www.example.com", now=NOW, **kw)


def _endpoint(  # type: ignore[no-untyped-def]
    status: ProbeStatus, configured: bool = False, **kw
) -> Callable[[], Evidence]:
    """One probe; `configured`: with the listener its configuration file describes."""

    def make() -> Evidence:
        p = probe(status=status, **kw)
        listener = Listener(
            host=p.host,
            address=p.address,
            port=p.port,
            process="nginx",
            expects_tls=True,
            probes=(p,),
            config_file="/etc/nginx/sites-enabled/app",
            config_line=12,
            server="nginx",
        )
        return Evidence(
            endpoints=[EndpointContext(probe=p, listener=listener if configured else None)]
        )

    return make


def _both(make_chain: Callable[[], tuple], **kw) -> list[Callable[[], Evidence]]:  # type: ignore[type-arg, no-untyped-def]
    """The same chain served by a listener and held in a bundle file."""
    return [lambda: served(make_chain(), **kw), lambda: bundle(make_chain(), **kw)]


W = world


def _served_case(name: str) -> Evidence:
    """A named case of tests/rules/test_served.py (one host with listeners and configs)."""
    from tests.rules import test_served

    make, _ = test_served.CASES[name]
    return test_served._evidence(make)


def _configured(name: str) -> Callable[[], Evidence]:
    """A named case of tests/rules/test_configured_files.py: a file a configuration names."""

    def make() -> Evidence:
        from tests.rules import test_configured_files

        return test_configured_files.CASES[name].evidence()

    return make


def _configured_incomplete() -> Evidence:
    """A listener that sends its leaf alone, from the file its configuration names."""
    from tests.rules import test_served as t

    leaf_only = t.M().old[:1]
    ev = t.host(
        certificates=t.files((t.CERT, leaf_only)),
        listeners=(t.served_by(leaf_only),),
        configs=(t.config(t.M().old_key),),
    )
    return t.fleet_evidence(list(ev.hosts), now=NOW, stores=stores())


def _broken(**intermediate: object) -> pki.Hierarchy:
    """A root (`_invalid` puts it in Mozilla's store) and an intermediate breaking a rule."""
    key = tuple(sorted(intermediate.items()))
    if key not in _BROKEN:
        _BROKEN[key] = pki.hierarchy(NOW, "Broken", **intermediate)
    return _BROKEN[key]


_BROKEN: dict[tuple[tuple[str, object], ...], pki.Hierarchy] = {}


def _invalid(leaf_kw: dict[str, object], **intermediate: object) -> list[Callable[[], Evidence]]:
    """A chain that reaches a trusted root but breaks a rule, served and in a bundle file."""

    def chain() -> tuple:  # type: ignore[type-arg]
        h = _broken(**intermediate)
        return info(h.leaf("www.example.com", now=NOW, **leaf_kw), h.intermediate)

    from audit.trust import TrustStores

    trust = TrustStores(
        mozilla=info(_broken(**intermediate).root), mozilla_path="/usr/share/mozilla.pem"
    )
    return _both(chain, trust=trust)


def _configured_invalid() -> Evidence:
    """A listener whose configuration names its certificate file, serving a chain whose
    intermediate is not a CA."""
    from dataclasses import replace

    from audit.trust import TrustStores

    h = _broken(ca_flag=False)
    ev = served(
        info(h.leaf("www.example.com", now=NOW), h.intermediate),
        trust=TrustStores(mozilla=info(h.root)),
    )
    listener = Listener(
        host="web1",
        address="10.0.0.5",
        port=443,
        config_file="/etc/nginx/sites-enabled/app",
        config_line=12,
        cert_file="/etc/nginx/tls/app.pem",
        server="nginx",
    )
    return replace(ev, endpoints=[replace(ev.endpoints[0], listener=listener)])


POSITIVE: dict[str, list[Callable[[], Evidence]]] = {
    "CERT_EXPIRED": [
        _cert(days_before=400, days_after=-3),
        _cert(kind="listener", days_before=400, days_after=-3),
        _cert(kind="listener", off_path=True, days_before=400, days_after=-3),
    ],
    "CERT_EXPIRING": [
        _cert(days_after=5),
        _cert(kind="listener", days_after=20),
        _cert(kind="listener", off_path=True, days_after=20),
    ],
    "CERT_NOT_YET_VALID": [_cert(days_before=-3)],
    "PRIVATE_KEY_EXPOSED": [
        lambda: Evidence(
            hosts=[
                _host(
                    key_files=(KeyFile("db1", "/etc/ssl/private/x.key", "root", "ssl-cert", 0o644),)
                )
            ]
        )
    ],
    "CERT_UNPARSEABLE": [
        lambda: Evidence(
            hosts=[
                _host(
                    unparseable=(
                        Unparseable("db1", "/etc/ssl/bad.pem", "PEM body is not valid base64"),
                    )
                )
            ]
        )
    ],
    "CA_BUNDLE_MISSING": [_on_host(HostOutcome.OK, ca_bundles=())],
    "HOST_UNREACHABLE": [_on_host(HostOutcome.UNREACHABLE)],
    "HOST_AUTH_FAILED": [_on_host(HostOutcome.AUTH_FAILED)],
    "HOST_KEY_MISMATCH": [_on_host(HostOutcome.KEY_MISMATCH)],
    "HOST_KEY_UNKNOWN": [_on_host(HostOutcome.KEY_UNKNOWN)],
    "COLLECTION_PARTIAL": [
        _on_host(
            HostOutcome.PARTIAL,
            issues=(
                CollectionIssue("db1", "/etc/ssl/private", IssueReason.PERMISSION_DENIED, "EACCES"),
            ),
        ),
        _on_host(HostOutcome.FAILED),
    ],
    "CHAIN_INCOMPLETE": [
        *_both(lambda: info(_leaf())),
        lambda: served(info(_leaf(aia_url="http://ca.example.net/i.der"))),
        lambda: served(info(_leaf()), intermediates=info(W().public.intermediate)),
        _configured_incomplete,
        _configured("configured fullchain lacks its intermediate, not served yet"),
    ],
    "CHAIN_UNTRUSTED": [
        *_both(lambda: info(_leaf(W().private), W().private.intermediate)),
        _configured("configured chain to a root no store holds"),
    ],
    "CHAIN_INVALID": [
        *_invalid({}, ca_flag=False),
        *_invalid({"ca_flag": True}),
        *_invalid({"aia_url": "http://ca.example.net/i.der"}, days_before=900, days_after=-2),
        *_invalid({}, permitted=("corp.example",)),
        _configured_invalid,
        _configured("configured chain whose intermediate is not a CA"),
    ],
    "CERT_SELF_SIGNED": [
        *_both(lambda: info(pki.issue("www.example.com", now=NOW))),
        _configured("configured self-signed certificate, not served yet"),
    ],
    "NOT_TRUSTED_BY_MOZILLA": [
        *_both(
            lambda: info(_leaf(W().os_only), W().os_only.intermediate),
            trust=stores(host=[W().os_only.root]),
        ),
        _configured("configured chain to a root only the host's store holds"),
    ],
    "CHAIN_ORDER": _both(lambda: info(_leaf(), W().public.root, W().public.intermediate)),
    "HOSTNAME_MISMATCH": _both(
        lambda: info(_leaf(), W().public.intermediate), expected_name="api.example.org"
    ),
    "SAN_MISSING": [
        *_both(lambda: info(_leaf(sans=[]), W().public.intermediate)),
        _configured("configured CN-only certificate, not served yet"),
    ],
    "WEAK_KEY": [
        _cert(key_kind="rsa", key_bits=1024),
        _cert(kind="listener", key_kind="rsa", key_bits=1024),
    ],
    "WEAK_SIGNATURE": [_cert(hash_name="sha1"), _cert(kind="listener", hash_name="sha1")],
    "VALIDITY_TOO_LONG": [
        _cert(trusted=True, days_after=800),
        _cert(kind="listener", trusted=True, days_after=800),
    ],
    "TLS_NOT_SPOKEN": [
        _endpoint(ProbeStatus.PLAINTEXT, error="HTTP/1.1 400 Bad Request"),
        _endpoint(ProbeStatus.PLAINTEXT, configured=True, error="HTTP/1.1 400 Bad Request"),
    ],
    "CLIENT_CERT_REQUIRED": [
        _endpoint(ProbeStatus.CLIENT_CERT_REQUIRED, acceptable_ca_names=["CN=Client CA"])
    ],
    "TLS_HANDSHAKE_FAILED": [
        _endpoint(ProbeStatus.HANDSHAKE_FAILED, error="sslv3 alert handshake failure"),
        _endpoint(ProbeStatus.HANDSHAKE_FAILED, error="", servername=None),
        _endpoint(ProbeStatus.HANDSHAKE_FAILED, error="tlsv1 unrecognized name"),
    ],
    "LEGACY_PROTOCOL": [lambda: _served_case("listener accepts TLS 1.1")],
    "CERT_NOT_RELOADED": [
        lambda: _served_case("renewed on disk, never reloaded"),
        lambda: _served_case("no configuration: a newer deployed file for the same names"),
    ],
    "KEY_MISMATCH": [lambda: _served_case("configured key belongs to another certificate")],
}

POSITIVE.update(renewal_cases.POSITIVE)
POSITIVE["CERT_EXPIRING"] += renewal_cases.EXPIRING_WITH_RENEWAL


def test_every_rule_has_a_positive_case() -> None:
    assert not {r.id for r in REGISTRY} - set(POSITIVE), "add a positive case"


@pytest.mark.parametrize("rule", REGISTRY, ids=lambda r: r.id)
def test_positive_cases_fill_every_placeholder(rule: AnyRule) -> None:
    for make in POSITIVE.get(rule.id, []):
        findings = run(make(), (rule,))
        assert [f.id for f in findings if f.id != rule.id] == [], "the rule crashed"
        assert findings, f"{rule.id} did not fire on its positive case"
        for f in findings:
            assert not unfilled(f), (f.diagnose, f.fix)
            assert f.detail and f.subject and f.title == rule.title
