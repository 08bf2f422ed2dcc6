"""Only the certificate crosses: exactly its DER, and PKCS#7 only when it holds nothing else.

* `-----BEGIN TRUSTED CERTIFICATE-----` (OpenSSL's aux format) is the certificate's DER
  followed by trust settings, or by anything at all: the host sends exactly the DER of the
  certificate, not one byte of what follows, whatever the DER length modulo 3.
* PKCS#7 is sent only when it is a certs-only bundle (SignedData with no eContent and no
  signerInfos): a signed message (.p7m) carries its payload, which never leaves the host,
  in PEM or DER; nor does a detached signature or a SignedData holding content and no
  signer.

Run for real under every shell and awk.
"""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from audit.collect.parse import Collected, parse_output
from audit.collect.script import build_script, new_nonce
from tests import pki
from tests.collect.shells import SHELLS, shell

NOW = dt.datetime(2031, 3, 14, 12, 0, tzinfo=dt.UTC)
SECRET = b"the signed payload, which is no certificate: 7f3a9c1e5b2d8046"
TAIL = b"\x30\x0b\x0c\x09not-trust" + b"\xa5\x5a" * 8  # aux-like bytes, then anything


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN %s-----\n%s-----END %s-----\n" % (label.encode(), body, label.encode())


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _signed_data(certs: list[bytes], econtent: bytes | None) -> bytes:
    """ContentInfo(signedData) with these certificates, eContent (when given), no signer."""
    data_oid = bytes.fromhex("06092a864886f70d010701")
    encap = _tlv(0x30, data_oid + (_tlv(0xA0, _tlv(0x04, econtent)) if econtent else b""))
    body = _tlv(0x02, b"\x01") + _tlv(0x31, b"") + encap + _tlv(0xA0, b"".join(sorted(certs)))
    signed = _tlv(0x30, body + _tlv(0x31, b""))
    return _tlv(0x30, bytes.fromhex("06092a864886f70d010702") + _tlv(0xA0, signed))


@dataclass
class Tree:
    root: Path
    trusted: dict[str, bytes]
    """File name -> the DER of the one certificate it holds."""
    bundle: dict[str, set[bytes]]
    """Certs-only PKCS#7 files -> the DER of their certificates."""
    refused: list[str]
    """PKCS#7 files holding something else: nothing of them is sent."""


def _certs_by_length() -> list[pki.Issued]:
    """Certificates whose DER length is 0, 1 and 2 modulo 3 (each at least once)."""
    h = pki.hierarchy(NOW, name="Shapes")
    found: dict[int, pki.Issued] = {}
    for i in range(60):
        leaf = h.leaf("x" * (i + 1) + ".example.test", now=NOW)
        found.setdefault(len(leaf.der) % 3, leaf)
        if len(found) == 3:
            return [found[r] for r in range(3)]
    raise AssertionError("no certificate of every DER length modulo 3")


def _build(root: Path) -> Tree:
    certs = _certs_by_length()
    signer = certs[0]
    t = Tree(root, {}, {}, [])
    for c in certs:
        name = f"trusted-{len(c.der) % 3}.crt"
        (root / name).write_bytes(_pem("TRUSTED CERTIFICATE", c.der + TAIL))
        t.trusted[name] = c.der
    options = [pkcs7.PKCS7Options.Binary]
    builder = pkcs7.PKCS7SignatureBuilder().set_data(SECRET)
    builder = builder.add_signer(signer.cert, signer.key, hashes.SHA256())  # type: ignore[arg-type]
    signed = builder.sign(serialization.Encoding.DER, options)
    detached = builder.sign(
        serialization.Encoding.DER, [*options, pkcs7.PKCS7Options.DetachedSignature]
    )
    odd = {
        "signed.p7m": signed,
        "detached.p7s": detached,
        "content-no-signer.p7b": _signed_data([certs[1].der], SECRET),
    }
    for name, der in odd.items():
        (root / name).write_bytes(der)
        (root / (name + ".pem")).write_bytes(_pem("PKCS7", der))
        t.refused += [name, name + ".pem"]
    good = _signed_data([certs[1].der, certs[2].der], None)
    (root / "bundle.p7b").write_bytes(good)
    (root / "bundle.p7b.pem").write_bytes(_pem("PKCS7", good))
    for name in ("bundle.p7b", "bundle.p7b.pem"):
        t.bundle[name] = {certs[1].der, certs[2].der}
    return t


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tree]:
    yield _build(tmp_path_factory.mktemp("shapes"))


@dataclass
class Run:
    stdout: bytes
    collected: Collected


@pytest.fixture(scope="module", params=SHELLS)
def run(
    request: pytest.FixtureRequest,
    tree: Tree,
    busybox_path: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    argv, env = shell(request.param, busybox_path, str(tmp_path_factory.getbasetemp()))
    nonce = new_nonce()
    script = build_script(nonce=nonce, roots=[str(tree.root)], listeners=False)
    proc = subprocess.run(argv, input=script, capture_output=True, timeout=60, env=env)
    return Run(proc.stdout + proc.stderr, parse_output("h", proc.stdout, nonce=nonce))


def _payloads(run: Run, tree: Tree, name: str) -> list[bytes]:
    """The decoded payload of every PEM or DER record sent for the file `name`."""
    path = str(tree.root / name).encode().hex()
    out = []
    for line in run.stdout.split(b"\n"):
        words = line.split(b" ")
        if words[0] == b"PEM" and words[1].decode() == path:
            out.append(base64.b64decode(words[4], validate=True))
        elif words[0] == b"DER" and words[1].decode() == path:
            data = words[4]
            out.append(
                base64.b64decode(data) if words[3] == b"b64" else bytes.fromhex(data.decode())
            )
    return out


def test_trusted_certificate_sends_exactly_its_der(run: Run, tree: Tree) -> None:
    for name, der in tree.trusted.items():
        assert _payloads(run, tree, name) == [der], name
    found = {f.location.path: f.cert.sha256 for f in run.collected.certificates}
    for name in tree.trusted:
        assert str(tree.root / name) in found


def test_only_certs_only_pkcs7_is_sent(run: Run, tree: Tree) -> None:
    assert run.collected.complete
    for name in tree.refused:
        assert _payloads(run, tree, name) == [], name
    for secret in (SECRET, SECRET.hex().encode(), base64.b64encode(SECRET[1:])[4:40]):
        assert secret not in run.stdout
    for shift in range(3):
        assert base64.b64encode(SECRET[shift:])[2:30] not in run.stdout
    paths = {f.location.path for f in run.collected.certificates}
    assert not [n for n in tree.refused if str(tree.root / n) in paths]
    for name, ders in tree.bundle.items():
        (payload,) = _payloads(run, tree, name)
        got = {
            f.cert.sha256
            for f in run.collected.certificates
            if f.location.path == str(tree.root / name)
        }
        assert len(got) == len(ders) and payload.startswith(b"\x30"), name
