"""audit.probe.listeners: probing every listener of a host, against real local servers
(tests/tlsserver.py for TLS, tarpits and banners). The SSH channel is stood in for by plain
TCP connections (the lab tests use real sshd)."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from audit.collect.discovery import Socket
from audit.collect.listeners import ForwardingProhibited, StreamPair, plan_listeners
from audit.model import Host, IssueReason, ProbeStatus
from audit.probe import ProbeSettings, legacy_offer_problem, probe_listeners
from tests.tlsserver import TlsServer


async def _tcp(address: str, port: int) -> StreamPair:
    return await asyncio.open_connection(address, port)


async def _prohibited(address: str, port: int) -> StreamPair:
    raise ForwardingProhibited("open failed")


def _probe(host: Host, sockets: list[Socket], opener=_tcp, budget: float = 20.0, **kw):  # type: ignore[no-untyped-def]
    plans = plan_listeners(host, sockets)
    settings = ProbeSettings(**kw)
    return asyncio.run(probe_listeners(host, plans, opener, budget, settings=settings))


def test_through_the_connection_and_from_outside_when_asked(material) -> None:  # type: ignore[no-untyped-def]
    h, leaf, _ = material
    with TlsServer([leaf, h.intermediate]) as srv, TlsServer(mode="banner") as ssh:
        host = Host("h", "127.0.0.1", tls_names=("mail.example.test", "www.example.test"))
        report = _probe(host, [Socket("0.0.0.0", srv.port), Socket("0.0.0.0", ssh.port)])
        outside = Host("h", "127.0.0.1", tls_names=("mail.example.test",), probe_direct=True)
        both = _probe(outside, [Socket("0.0.0.0", srv.port)])
    tls_listener, banner = sorted(report.listeners, key=lambda li: li.port != srv.port)
    assert [(p.via, p.servername, p.status) for p in tls_listener.probes] == [
        ("ssh", "mail.example.test", ProbeStatus.TLS),
        ("ssh", "www.example.test", ProbeStatus.TLS),
    ]
    assert [(p.via, p.status) for p in banner.probes] == [("ssh", ProbeStatus.PLAINTEXT)]
    assert not banner.expects_tls  # not a TLS port: one probe, no other name tried
    assert report.issues == () and dict(report.facts)["forwarding"] == "yes"
    assert [p.via for p in both.listeners[0].probes] == ["ssh", "direct"]


def test_forwarding_prohibited_falls_back_to_direct(material) -> None:  # type: ignore[no-untyped-def]
    h, leaf, _ = material
    with TlsServer([leaf, h.intermediate]) as srv:
        host = Host("h", "127.0.0.1")
        report = _probe(
            host,
            [Socket("0.0.0.0", srv.port), Socket("127.0.0.1", 1)],
            opener=_prohibited,
        )
    outside, loopback = sorted(report.listeners, key=lambda li: li.port != srv.port)
    assert [(p.via, p.status) for p in outside.probes] == [("direct", ProbeStatus.TLS)]
    assert loopback.probes == () and "loopback-only" in loopback.notes[0]
    (issue,) = report.issues
    assert issue.reason is IssueReason.UNSUPPORTED and "open failed" in issue.detail
    assert dict(report.facts)["forwarding"] == "prohibited"


@pytest.mark.skipif(legacy_offer_problem() is not None, reason="runner cannot offer TLS 1.1")
def test_legacy_protocols(material) -> None:  # type: ignore[no-untyped-def]
    h, leaf, _ = material
    host = Host("h", "127.0.0.1")
    old = TlsServer(
        [leaf, h.intermediate], min_version=ssl.TLSVersion.TLSv1, ciphers="DEFAULT:@SECLEVEL=0"
    )
    with old, TlsServer([leaf, h.intermediate], min_version=ssl.TLSVersion.TLSv1_2) as new:
        report = _probe(host, [Socket("127.0.0.1", old.port), Socket("127.0.0.1", new.port)])
        off = _probe(host, [Socket("127.0.0.1", old.port)], legacy=False)
    by_port = {li.port: li for li in report.listeners}
    assert by_port[old.port].legacy_protocol in ("TLSv1", "TLSv1.1")
    assert by_port[old.port].probes[0].protocol == "TLSv1.3"  # the legacy probe is not stored
    assert by_port[new.port].legacy_protocol is None
    assert off.listeners[0].legacy_protocol is None


def test_a_tarpit_holds_a_slot_no_longer_than_the_handshake_deadline() -> None:
    with TlsServer(mode="tarpit") as a, TlsServer(mode="tarpit") as b:
        host = Host("h", "127.0.0.1")
        started = time.monotonic()
        report = _probe(
            host,
            [Socket("127.0.0.1", a.port), Socket("127.0.0.1", b.port)],
            deadline=0.4,
            per_host=1,
        )
        elapsed = time.monotonic() - started
    assert [li.probes[0].status for li in report.listeners] == [ProbeStatus.TIMEOUT] * 2
    assert 0.8 <= elapsed < 2.5  # one at a time (per-host cap 1), 0.4 s each


def test_the_host_deadline_cuts_probing_and_says_so() -> None:
    with TlsServer(mode="tarpit") as srv:
        host = Host("h", "127.0.0.1")
        started = time.monotonic()
        report = _probe(host, [Socket("127.0.0.1", srv.port)], budget=0.3, deadline=5)
        assert time.monotonic() - started < 2
    (listener,) = report.listeners
    assert listener.probes == () and "deadline" in listener.notes[0]
    assert [i.reason for i in report.issues] == [IssueReason.TIMEOUT]
