"""Certificates and servers shared by the audit.probe tests (real servers, no mocks):
tests/tlsserver.py for TLS, tarpits and banners, tests/lab/starttls_server.py for SMTP,
IMAP, POP3, FTP, PostgreSQL, LDAP, XMPP and MySQL."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pki
from tests.lab import starttls_server
from tests.probe import NAME


@pytest.fixture(scope="module")
def now() -> dt.datetime:
    return pki.utcnow()


@pytest.fixture(scope="module")
def ca(now):  # type: ignore[no-untyped-def]
    return pki.hierarchy(now, name="Probe")


@pytest.fixture(scope="module")
def leaf(ca, now):  # type: ignore[no-untyped-def]
    return ca.leaf(NAME, now=now)


@pytest.fixture(scope="module")
def client_root(now):  # type: ignore[no-untyped-def]
    return pki.issue("Client Root CA", now=now, ca=True, fresh_key=True)


@pytest.fixture(scope="module")
def material(now) -> Iterator[tuple[pki.Hierarchy, pki.Issued, Path]]:  # type: ignore[no-untyped-def]
    """A hierarchy, a leaf for mail.example.test, and a folder with chain.pem and key.pem."""
    h = pki.hierarchy(now, name="Probe")
    leaf = h.leaf("mail.example.test", now=now, fresh_key=True)
    with tempfile.TemporaryDirectory(prefix="certaudit-starttls-") as folder:
        chain = Path(folder, "chain.pem")
        chain.write_bytes(pki.pem_bundle(leaf, h.intermediate))
        Path(folder, "key.pem").write_bytes(leaf.key_pem())
        yield h, leaf, Path(folder)


@pytest.fixture(scope="module")
def starttls_servers(material) -> Iterator[dict[tuple[str, bool], int]]:  # type: ignore[no-untyped-def]
    """Ports of a server per (protocol, offers the upgrade)."""
    _, _, folder = material
    chain, key = str(folder / "chain.pem"), str(folder / "key.pem")
    started = {
        (protocol, offer): starttls_server.start(protocol, chain, key, offer=offer)
        for protocol in starttls_server.PROTOCOLS
        for offer in (True, False)
    }
    yield {key: port for key, (_, port) in started.items()}
    for proc, _ in started.values():
        proc.terminate()
        proc.wait(5)
