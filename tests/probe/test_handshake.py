"""audit.probe.handshake against real servers (Python ssl and openssl s_server), no mocks.

Every outcome is data: the probe never raises, and ends within its deadline even when the
server accepts and never answers, or trickles a byte at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from audit.model import ProbeStatus, TlsProbe
from audit.probe import LEGACY_PROTOCOLS, probe_direct, probe_tls
from audit.probe import wire as wire_mod
from audit.probe.handshake import _close
from tests.probe import NAME
from tests.tlsserver import OpenSslServer, TlsServer

CLIENT_CA_NAME = "CN=Client Root CA,O=certaudit test"


def sha(issued) -> str:  # type: ignore[no-untyped-def]
    return hashlib.sha256(issued.der).hexdigest()


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def direct(server, servername: str | None = NAME, deadline: float = 3.0) -> TlsProbe:  # type: ignore[no-untyped-def]
    return run(probe_direct(server.address, server.port, servername, deadline))


@pytest.fixture
def no_message_callback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the probe as on a Python without ssl's message callback."""
    monkeypatch.setattr(wire_mod, "USE_MESSAGE_CALLBACK", False)
    yield


# -- healthy handshakes -------------------------------------------------------------


def test_chain_protocol_cipher_alpn_as_sent(ca, leaf) -> None:  # type: ignore[no-untyped-def]
    with TlsServer([leaf, ca.intermediate], alpn=["h2", "http/1.1"]) as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.TLS, p.error
    assert p.protocol == "TLSv1.3"
    assert p.cipher and p.cipher.startswith("TLS_")
    assert p.alpn == "h2"
    assert [c.sha256 for c in p.chain] == [
        sha(leaf),
        sha(ca.intermediate),
    ]
    assert p.chain[0].dns_names == (NAME,)
    assert p.error == ""
    assert (p.host, p.address, p.port, p.servername, p.via) == (
        "127.0.0.1",
        "127.0.0.1",
        srv.port,
        NAME,
        "direct",
    )
    assert 0 < p.elapsed_ms < 3000


def test_chain_order_is_kept_exactly(ca, leaf) -> None:  # type: ignore[no-untyped-def]
    with TlsServer([leaf, ca.root, ca.intermediate]) as srv:
        p = direct(srv)
    assert [c.subject for c in p.chain] == [
        f"CN={NAME},O=certaudit test",
        "CN=Probe Root CA,O=certaudit test",
        "CN=Probe Intermediate CA,O=certaudit test",
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
        (ssl.TLSVersion.TLSv1_1, "TLSv1.1"),
        (ssl.TLSVersion.TLSv1, "TLSv1"),
    ],
)
def test_older_protocols_are_still_diagnosed(leaf, version, expected) -> None:  # type: ignore[no-untyped-def]
    with TlsServer(
        [leaf], min_version=version, max_version=version, ciphers="DEFAULT:@SECLEVEL=0"
    ) as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.TLS, p.error
    assert p.protocol == expected
    assert len(p.chain) == 1


def test_weak_rsa_1024_server_is_still_seen(now, ca) -> None:  # type: ignore[no-untyped-def]
    weak = ca.leaf(NAME, now=now, key_kind="rsa", key_bits=1024)
    with TlsServer([weak, ca.intermediate], ciphers="DEFAULT:@SECLEVEL=0") as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.TLS, p.error
    assert (p.chain[0].key_type, p.chain[0].key_bits) == ("RSA", 1024)


def test_no_sni_for_ip_or_none(leaf) -> None:  # type: ignore[no-untyped-def]
    with TlsServer([leaf]) as srv:
        p = direct(srv, servername=None)
    assert p.status is ProbeStatus.TLS
    assert p.servername is None


def test_any_stream_pair_works(ca, leaf) -> None:  # type: ignore[no-untyped-def]
    """The probe only needs (reader, writer): the SSH channel path uses the same code."""
    opened = []

    with TlsServer([leaf, ca.intermediate]) as srv:

        async def open_stream():  # type: ignore[no-untyped-def]
            opened.append(1)
            return await asyncio.open_connection(srv.address, srv.port)

        p = run(
            probe_tls(
                open_stream, host="web1", address="10.0.0.5", port=443, servername=NAME, via="ssh"
            )
        )
    assert opened == [1]
    assert p.status is ProbeStatus.TLS
    assert (p.host, p.address, p.port, p.via) == ("web1", "10.0.0.5", 443, "ssh")
    assert len(p.chain) == 2


# -- plaintext ----------------------------------------------------------------------


def test_plaintext_http_answer(leaf) -> None:  # type: ignore[no-untyped-def]
    with TlsServer(mode="plaintext") as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.PLAINTEXT
    assert p.error == "HTTP/1.1 400 Bad Request"
    assert p.chain == ()


@pytest.mark.parametrize(
    ("banner", "shown"),
    [
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "SSH-2.0-OpenSSH_9.2p1 Debian-2"),
        (b"220 mail.example.test ESMTP Postfix\r\n", "220 mail.example.test ESMTP Postfix"),
        (b"\x1b[31mred\x1b[0m </script>\r\nsecond line", "\\x1b[31mred\\x1b[0m </script>"),
    ],
)
def test_plaintext_banner_first_line_escaped(banner: bytes, shown: str) -> None:
    with TlsServer(mode="banner", banner=banner) as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.PLAINTEXT
    assert p.error == shown
    assert "\x1b" not in p.error


# -- failures that are not TLS -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused() -> None:
    p = run(probe_direct("127.0.0.1", _free_port(), NAME, 2.0))
    assert p.status is ProbeStatus.REFUSED
    assert "refused" in p.error


def test_closed_without_answer() -> None:
    with TlsServer(mode="close") as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.CLOSED


@pytest.mark.parametrize("mode", ["tarpit", "trickle"])
def test_overall_deadline(mode: str) -> None:
    """A tarpit, or a server sending a plausible TLS record a byte at a time, cannot hold
    the probe: the deadline covers the whole exchange, not each read."""
    deadline = 1.5
    with TlsServer(mode=mode, trickle_interval=0.3) as srv:
        started = time.monotonic()
        p = direct(srv, deadline=deadline)
        wall = time.monotonic() - started
    assert p.status is ProbeStatus.TIMEOUT
    assert wall < deadline + 1.0, wall
    assert p.elapsed_ms >= deadline * 1000 * 0.9
    assert f"{deadline:g} s" in p.error
    if mode == "trickle":
        assert "bytes received" in p.error


def test_open_stream_errors_are_outcomes() -> None:
    async def prohibited():  # type: ignore[no-untyped-def]
        raise OSError("open failed: administratively prohibited")

    async def refused():  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError(111, "Connection refused")

    async def buggy():  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    kw = dict(host="h", address="10.0.0.1", port=443, servername=NAME, deadline=1.0)
    assert run(probe_tls(prohibited, **kw)).status is ProbeStatus.UNREACHABLE  # type: ignore[arg-type]
    assert run(probe_tls(refused, **kw)).status is ProbeStatus.REFUSED  # type: ignore[arg-type]
    out = run(probe_tls(buggy, **kw))  # type: ignore[arg-type]
    assert out.status is ProbeStatus.UNREACHABLE and "boom" in out.error


def test_handshake_failure_carries_the_reason(leaf) -> None:  # type: ignore[no-untyped-def]
    # TLS 1.3 only, with a cipher suite OpenSSL clients do not offer by default (CCM_8):
    # nothing in common, the server sends an alert.
    with OpenSslServer(
        [leaf], extra_args=["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"]
    ) as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.HANDSHAKE_FAILED
    assert "handshake failure" in p.error or "alert" in p.error, p.error


# -- client certificates -------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_cert_required_python_server(ca, leaf, client_root, version) -> None:  # type: ignore[no-untyped-def]
    cap = ssl.TLSVersion.TLSv1_2 if version == "1.2" else None
    with TlsServer([leaf, ca.intermediate], client_ca=client_root, max_version=cap) as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.CLIENT_CERT_REQUIRED, p.error
    assert p.protocol == f"TLSv{version}"
    assert len(p.chain) == 2, "the server's own chain is still captured"
    # Python's ssl never sets a client CA list: the request names no CA.
    assert p.acceptable_ca_names == ()
    assert "lists no acceptable CA names" in p.error


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_client_cert_required_openssl_server_names(ca, leaf, client_root, version) -> None:  # type: ignore[no-untyped-def]
    with OpenSslServer([leaf, ca.intermediate], client_ca=client_root, tls=version) as srv:
        started = time.monotonic()
        p = direct(srv)
        wall = time.monotonic() - started
    assert p.status is ProbeStatus.CLIENT_CERT_REQUIRED, p.error
    assert p.protocol == f"TLSv{version}"
    assert p.acceptable_ca_names == (CLIENT_CA_NAME,)
    assert [c.sha256 for c in p.chain][:1] == [sha(leaf)]
    assert wall < 1.5


def test_tls12_names_from_raw_records_without_callback(
    ca, leaf, client_root, no_message_callback
) -> None:  # type: ignore[no-untyped-def]
    with OpenSslServer([leaf, ca.intermediate], client_ca=client_root, tls="1.2") as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.CLIENT_CERT_REQUIRED
    assert p.acceptable_ca_names == (CLIENT_CA_NAME,)
    assert len(p.chain) == 2


def test_tls13_alert_read_without_callback(ca, leaf, client_root, no_message_callback) -> None:  # type: ignore[no-untyped-def]
    with OpenSslServer([leaf, ca.intermediate], client_ca=client_root, tls="1.3") as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.CLIENT_CERT_REQUIRED
    assert "certificate required" in p.error
    assert "names were not available" in p.error


def test_optional_client_cert_is_tls_with_a_note(ca, leaf, client_root) -> None:  # type: ignore[no-untyped-def]
    with TlsServer(
        [leaf, ca.intermediate], client_ca=client_root, client_verify=ssl.CERT_OPTIONAL
    ) as srv:
        p = direct(srv)
    assert p.status is ProbeStatus.TLS
    assert "accepts connections without one" in p.error


def test_legacy_protocol_question(leaf) -> None:  # type: ignore[no-untyped-def]
    """max_version=TLS 1.1 asks whether a listener still accepts legacy protocols: a server
    that does, completes a TLS 1.1 handshake; one that does not, fails the handshake
    without settling on a legacy protocol or sending its chain. (The library's wording of
    the refusal varies across OpenSSL builds, so the error text is not pinned.)"""
    legacy = ssl.TLSVersion.TLSv1_1
    with TlsServer([leaf], min_version=ssl.TLSVersion.TLSv1, ciphers="DEFAULT:@SECLEVEL=0") as srv:
        accepts = run(probe_direct(srv.address, srv.port, NAME, 3.0, max_version=legacy))
        modern = direct(srv)
    with TlsServer([leaf]) as srv:
        refuses = run(probe_direct(srv.address, srv.port, NAME, 3.0, max_version=legacy))
    assert (accepts.status, accepts.protocol) == (ProbeStatus.TLS, "TLSv1.1")
    assert modern.protocol == "TLSv1.3"
    assert refuses.status is ProbeStatus.HANDSHAKE_FAILED, refuses.error
    assert refuses.protocol not in LEGACY_PROTOCOLS
    assert refuses.chain == ()
    assert refuses.error


# -- closing -------------------------------------------------------------------------


class _Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


class _StuckWriter:
    """A writer whose wait_closed never returns (a peer that never acknowledges)."""

    def __init__(self) -> None:
        self.transport = _Transport()

    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        await asyncio.Event().wait()


def test_close_gives_up_on_a_stuck_writer_and_aborts() -> None:
    writer = _StuckWriter()
    started = time.monotonic()
    run(_close(writer))  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.0
    assert writer.transport.aborted


def test_cancelling_a_task_blocked_in_close_cancels_it() -> None:
    """Closing is best effort, but it must not swallow the caller's cancellation."""
    writer = _StuckWriter()

    async def scenario() -> asyncio.Task[None]:
        task = asyncio.ensure_future(_close(writer))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)  # now inside wait_closed
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return task

    task = run(scenario())
    assert task.cancelled()
    assert writer.transport.aborted  # the connection is not leaked either
