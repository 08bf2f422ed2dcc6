"""The collection script, run for real (no mocks) and parsed.

One hostile tree is built once: certificates in every format, canary private keys of every
flavour, symlink loops, a link to /dev/zero, a FIFO, a socket, a file too large, a folder
only root may read, and names with `$(touch pwned)`, a newline, a leading dash and invalid
UTF-8; nginx, Apache and HAProxy configuration naming certificates and keys (a matching
pair, a mismatched one, an encrypted key, an include whose file is named `$(touch
pwned).conf`); and a loopback-only listening socket. The script is piped into `sh -s`
exactly as the runner does over SSH, under every shell and awk of tests/collect/shells.py
(dash, bash --posix, busybox with its own find/od/head/ls/awk and no ss or openssl; mawk,
gawk and busybox awk), as root and as nobody.
"""

from __future__ import annotations

import base64
import datetime as dt
import grp
import hashlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from audit.collect.parse import Collected, display, parse_output
from audit.collect.script import DEFAULT_ROOTS, build_script, new_nonce
from audit.model import IssueReason
from tests import pki
from tests.collect.shells import SHELLS, shell

NOW = dt.datetime(2031, 3, 14, 12, 0, tzinfo=dt.UTC)
MAX_FILE_BYTES = 100_000
TIMEOUT = 30
WINDOW = 24
CERT_LABELS = (b"CERTIFICATE", b"TRUSTED CERTIFICATE")


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label.encode(), lines, label.encode())


def _der_seq(content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([0x30, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x30, 0x80 | len(size)]) + size + content


@dataclass
class Tree:
    """The planted files, and what a correct collection must report about them."""

    root: Path
    expected: dict[tuple[bytes, int], tuple[str, str]] = field(default_factory=dict)
    """(path relative to root, index) -> (sha256, format)."""
    keys: dict[bytes, str] = field(default_factory=dict)
    """Relative path -> KeyFile.kind expected."""
    canaries: dict[str, bytes] = field(default_factory=dict)
    """Name -> secret bytes that must never leave the host."""
    public: list[bytes] = field(default_factory=list)
    """Bytes that are legitimately sent (certificates), to tell shared structure apart."""
    pubkeys: dict[str, str] = field(default_factory=dict)
    """Name -> SHA-256 of the SubjectPublicKeyInfo of a key named in web configuration."""
    listen_port: int = 0
    """A loopback-only listening socket held open while the tree exists."""

    def path(self, rel: bytes) -> bytes:
        return os.fsencode(self.root) + b"/" + rel

    def write(self, rel: bytes | str, data: bytes, mode: int = 0o644) -> None:
        rel_b = os.fsencode(rel)
        full = self.path(rel_b)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as fh:
            fh.write(data)
        os.chmod(full, mode)

    def cert(self, rel: bytes | str, index: int, issued: pki.Issued, fmt: str) -> None:
        self.expected[(os.fsencode(rel), index)] = (hashlib.sha256(issued.der).hexdigest(), fmt)
        self.public.append(issued.der)


def _key_der(k: object, fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return k.private_bytes(serialization.Encoding.DER, fmt, enc)  # type: ignore[attr-defined]


def _key_pem(k: object, fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return k.private_bytes(serialization.Encoding.PEM, fmt, enc)  # type: ignore[attr-defined]


def _pem_secret(pem: bytes) -> bytes:
    """The bytes inside a PEM-armoured key (headers such as Proc-Type dropped)."""
    body = [
        line
        for line in pem.splitlines()
        if line and not line.startswith(b"-----") and b":" not in line
    ]
    return base64.b64decode(b"".join(body))


def _spki_sha256(k: object) -> str:
    der = k.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def web_configs(root: Path | str) -> list[tuple[str, str]]:
    """The web-server main configuration files the tree holds (see _build_web)."""
    return [
        ("nginx", f"{root}/web/nginx/nginx.conf"),
        ("apache", f"{root}/web/apache2/apache2.conf"),
        ("haproxy", f"{root}/web/haproxy/haproxy.cfg"),
    ]


def _build_web(t: Tree, h: pki.Hierarchy, combined_key: object) -> None:
    """nginx (http-level default, a glob include, an include inside a server block, a
    hostile file name), Apache (relative Include, continuation line) and HAProxy."""
    r = t.root
    site = h.leaf("site.example.test", now=NOW, fresh_key=True)
    other = h.leaf("other.example.test", now=NOW, fresh_key=True)
    enc = h.leaf("enc.example.test", now=NOW, fresh_key=True)
    t.write("web/certs/site.pem", pki.pem_bundle(site, h.intermediate))
    t.cert("web/certs/site.pem", 0, site, "pem")
    t.cert("web/certs/site.pem", 1, h.intermediate, "pem")
    p8 = serialization.PrivateFormat.PKCS8
    for name, issued in (("site", site), ("other", other)):
        pem = _key_pem(issued.key, p8)
        t.write(f"web/private/{name}.key", pem, 0o600)
        t.keys[f"web/private/{name}.key".encode()] = "pem-key"
        t.canaries[f"web-{name}-key"] = _pem_secret(pem)
        t.pubkeys[name] = _spki_sha256(issued.key)
    pem = _key_pem(enc.key, p8, b"secret")
    t.write("web/private/enc.key", pem, 0o600)
    t.keys[b"web/private/enc.key"] = "pem-key"
    t.canaries["web-encrypted-key"] = _pem_secret(pem)
    t.pubkeys["combined"] = _spki_sha256(combined_key)
    t.write(
        "web/nginx/nginx.conf",
        (
            "# nginx main file\nevents { worker_connections 64; }\nhttp {\n"
            f"    ssl_certificate {r}/web/certs/site.pem;  # default for every server\n"
            f"    include {r}/web/nginx/sites/*.conf;\n"
            "    include /proc/self/environ;  # never read: not a configuration file\n}\n"
        ).encode(),
    )
    t.write(
        "web/nginx/sites/good.conf",
        (
            b"server {\n    listen 443 ssl http2;\n    listen [::]:443 ssl;\n"
            b'    server_name site.example.test "www.site.example.test" _ *.wild.test;\n'
            b"    include snippets/tls.conf;\n    location / { return 200; }\n}\n"
            b"server { listen 80; server_name plain.example.test; }\n"
        ),
    )
    t.write(
        "web/nginx/snippets/tls.conf",
        f"ssl_certificate_key {r}/web/private/site.key;\n".encode(),
    )
    t.write(
        "web/nginx/sites/mismatch.conf",
        (
            "server { listen 127.0.0.1:8443 ssl; server_name mismatch.example.test;\n"
            f"  ssl_certificate_key '{r}/web/private/other.key'; }}\n"
        ).encode(),
    )
    t.write(
        "web/nginx/sites/$(touch pwned).conf",
        (
            "server {\n  listen 9443;\n  ssl on;\n"
            f"  ssl_certificate {r}/web/certs/site.pem;\n"
            f"  ssl_certificate_key {r}/web/private/enc.key;\n}}\n"
        ).encode(),
    )
    t.write("web/nginx/sites/huge.conf", b"# " + b"x" * MAX_FILE_BYTES + b"\n")  # not read
    t.write(
        "web/apache2/apache2.conf",
        b"# Apache main file\nListen 443 https\nIncludeOptional sites-enabled/*.conf\n",
    )
    t.write(
        "web/apache2/sites-enabled/ssl.conf",
        (
            "<IfModule mod_ssl.c>\n<VirtualHost _default_:8444 \\\n    10.9.9.9:8445>\n"
            "  ServerName https://apache.example.test:8444\n  ServerAlias alias.example.test\n"
            "  SSLEngine on\n"
            f"  SSLCertificateFile {r}/web/certs/site.pem\n"
            f'  SSLCertificateKeyFile "{r}/web/private/site.key"\n'
            f"  SSLCertificateChainFile {r}/web/certs/site.pem\n"
            "</VirtualHost>\n</IfModule>\n"
        ).encode(),
    )
    t.write(
        "web/haproxy/haproxy.cfg",
        (
            "global\n    crt-base " + str(r) + "/haproxy\n\nfrontend https # the front\n"
            "    bind :8446,:::8446 ssl crt site.pem alpn h2\n    default_backend app\n"
        ).encode(),
    )


def _build_tree(root: Path) -> Tree:
    t = Tree(root)
    h = pki.hierarchy(NOW, name="Collect")
    leaf = h.leaf("www.example.test", now=NOW)
    api = h.leaf("api.example.test", now=NOW)
    old = h.leaf("old.example.test", now=NOW, days_before=200, days_after=-100)
    ec = serialization.PrivateFormat.TraditionalOpenSSL
    p8 = serialization.PrivateFormat.PKCS8

    # Certificates in every format.
    t.write("certs/leaf.pem", leaf.pem)
    t.cert("certs/leaf.pem", 0, leaf, "pem")
    t.write("certs/chain.crt", pki.pem_bundle(leaf, h.intermediate, h.root))
    for i, item in enumerate((leaf, h.intermediate, h.root)):
        t.cert("certs/chain.crt", i, item, "pem")
    t.write("certs/leaf.der", leaf.der)
    t.cert("certs/leaf.der", 0, leaf, "der")
    t.write("certs/api-cert", api.der)  # DER found by content, no extension
    t.cert("certs/api-cert", 0, api, "der")
    t.write("certs/bundle.p7b", pki.pkcs7_bundle(leaf, api))
    t.cert("certs/bundle.p7b", 0, leaf, "pkcs7")
    t.cert("certs/bundle.p7b", 1, api, "pkcs7")
    t.write("certs/bundle.p7c", pki.pkcs7_bundle(api, leaf, pem=False))
    t.cert("certs/bundle.p7c", 0, api, "pkcs7")
    t.cert("certs/bundle.p7c", 1, leaf, "pkcs7")
    aux = _der_seq(b"\x0c\x05alias")
    t.write("certs/trusted.crt", _pem("TRUSTED CERTIFICATE", old.der + aux))
    t.cert("certs/trusted.crt", 0, old, "pem")
    crlf = (
        b"\xef\xbb\xbf"
        + b"Certificate:\r\n    Data: text before\r\n"
        + api.pem.replace(b"\n", b"\r\n")
    )
    t.write("certs/crlf-bom.cer", crlf)
    t.cert("certs/crlf-bom.cer", 0, api, "pem")
    yaml = b"tls:\n  cert: |\n" + b"".join(b"    " + line + b"\n" for line in old.pem.splitlines())
    t.write("conf/site.yaml", yaml)  # indented PEM inside a config file
    t.cert("conf/site.yaml", 0, old, "pem")

    # Canary keys, one fresh key each, none of them ever certified.
    def canary(name: str, secret: bytes) -> None:
        t.canaries[name] = secret

    rsa = pki.key("rsa", 2048)
    k = [pki.key("ec", 256, fresh=True) for _ in range(12)]
    pem = _key_pem(rsa, ec)
    t.write("keys/rsa-traditional.key", pem, 0o600)
    t.keys[b"keys/rsa-traditional.key"] = "pem-key"
    canary("pkcs1-pem", _pem_secret(pem))
    pem = _key_pem(k[0], p8)
    t.write("keys/pkcs8.pem", pem, 0o640)
    t.keys[b"keys/pkcs8.pem"] = "pem-key"
    canary("pkcs8-pem", _pem_secret(pem))
    pem = _key_pem(k[1], ec)
    t.write("keys/ec.key", pem, 0o644)
    t.keys[b"keys/ec.key"] = "pem-key"
    canary("ec-pem", _pem_secret(pem))
    pem = _key_pem(k[2], p8, b"secret")
    t.write("keys/encrypted.key", pem, 0o600)
    t.keys[b"keys/encrypted.key"] = "pem-key"
    canary("encrypted-pkcs8-pem", _pem_secret(pem))
    pem = _key_pem(rsa, ec, b"secret")
    t.write("keys/encrypted-rsa.pem", pem, 0o600)
    t.keys[b"keys/encrypted-rsa.pem"] = "pem-key"
    canary("encrypted-traditional-pem", _pem_secret(pem))
    pem = _key_pem(k[3], serialization.PrivateFormat.OpenSSH)
    t.write("keys/id_ecdsa", pem, 0o600)
    t.keys[b"keys/id_ecdsa"] = "pem-key"
    canary("openssh", _pem_secret(pem))
    der = _key_der(k[4], p8)
    t.write("keys/pkcs8.der", der, 0o600)
    t.keys[b"keys/pkcs8.der"] = "der-key"
    canary("pkcs8-der", der)
    der = _key_der(rsa, ec)
    t.write("keys/rsa", der, 0o600)  # DER PKCS#1, no extension
    t.keys[b"keys/rsa"] = "der-key"
    canary("pkcs1-der", der)
    der = _key_der(k[5], ec)
    t.write("keys/disguised.crt", der, 0o644)  # DER SEC1 EC key named like a certificate
    t.keys[b"keys/disguised.crt"] = "der-key"
    canary("sec1-der-as-crt", der)
    der = _key_der(k[6], p8, b"secret")
    t.write("keys/encrypted.der", der, 0o600)
    t.keys[b"keys/encrypted.der"] = "der-key"
    canary("encrypted-pkcs8-der", der)
    pem = _key_pem(k[7], p8)
    combined_key = k[7]
    t.write("haproxy/site.pem", leaf.pem + h.intermediate.pem + pem, 0o640)
    t.cert("haproxy/site.pem", 0, leaf, "pem")
    t.cert("haproxy/site.pem", 1, h.intermediate, "pem")
    t.keys[b"haproxy/site.pem"] = "combined"
    canary("combined", _pem_secret(pem))
    pem = _key_pem(k[8], ec)
    half = api.pem.splitlines()
    t.write("keys/no-end.pem", b"\n".join(half[:-6]) + b"\n" + pem, 0o600)  # BEGIN, no END
    t.keys[b"keys/no-end.pem"] = "combined"  # meant to hold both
    canary("no-end-then-key", _pem_secret(pem))
    der = _key_der(k[9], p8)
    t.write("keys/mislabelled.crt", _pem("CERTIFICATE", der), 0o644)  # key in a cert block
    canary("mislabelled", der)
    der = _key_der(k[10], p8)
    t.write("keys/trusted-plus-key.crt", _pem("TRUSTED CERTIFICATE", api.der + der))
    t.cert("keys/trusted-plus-key.crt", 0, api, "pem")
    canary("trusted-with-key", der)
    p12 = pkcs12.serialize_key_and_certificates(
        b"x", k[11], None, None, serialization.NoEncryption()
    )
    t.write("keys/store.p12", p12, 0o600)
    t.keys[b"keys/store.p12"] = "pkcs12"
    canary("pkcs12", p12)
    big = _key_der(rsa, p8) * (MAX_FILE_BYTES // 1000)
    t.write("keys/huge.p12", big, 0o600)  # over the cap: still a key file, never read
    t.keys[b"keys/huge.p12"] = "pkcs12"
    t.write("keys/huge.key", big, 0o600)
    t.keys[b"keys/huge.key"] = "key"
    jks = b"\xfe\xed\xfe\xed" + _key_der(rsa, p8)
    t.write("keys/store.jks", jks, 0o600)
    t.keys[b"keys/store.jks"] = "keystore"
    canary("jks", jks)

    # A kubeconfig with embedded certificates and an embedded key.
    kk = pki.key("ec", 256, fresh=True)
    key_pem = _key_pem(kk, ec)
    kubeconfig = (
        b"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
        b"    certificate-authority-data: " + base64.b64encode(h.root.pem) + b"\n"
        b"    server: https://10.0.0.1:6443\n  name: k\nusers:\n- name: admin\n  user:\n"
        b"    client-certificate-data: " + base64.b64encode(leaf.pem) + b"\n"
        b"    client-key-data: " + base64.b64encode(key_pem) + b"\n"
    )
    t.write("kubernetes/admin.conf", kubeconfig, 0o600)
    t.keys[b"kubernetes/admin.conf"] = "combined"
    t.cert("kubernetes/admin.conf", 0, h.root, "pem")
    t.cert("kubernetes/admin.conf", 1, leaf, "pem")
    t.public += [base64.b64encode(h.root.pem), base64.b64encode(leaf.pem)]
    canary("kubeconfig-key-data", key_pem)
    canary("kubeconfig-key", _pem_secret(key_pem))

    # certbot: live/ links into archive/.
    t.write("letsencrypt/archive/site/cert1.pem", old.pem)
    t.cert("letsencrypt/archive/site/cert1.pem", 0, old, "pem")
    t.write("letsencrypt/archive/site/cert2.pem", leaf.pem)
    t.cert("letsencrypt/archive/site/cert2.pem", 0, leaf, "pem")
    os.makedirs(t.path(b"letsencrypt/live/site"))
    os.symlink("../../archive/site/cert2.pem", t.path(b"letsencrypt/live/site/cert.pem"))

    _build_web(t, h, combined_key)

    # Things that must not hang the walk or be read.
    os.makedirs(t.path(b"traps"))
    os.symlink("loop-b.pem", t.path(b"traps/loop-a.pem"))
    os.symlink("loop-a.pem", t.path(b"traps/loop-b.pem"))
    os.symlink("..", t.path(b"traps/parent"))
    os.symlink("/dev/zero", t.path(b"traps/zero.pem"))
    os.symlink("/dev/urandom", t.path(b"traps/random.der"))
    os.symlink("/proc/self/environ", t.path(b"traps/environ.crt"))
    os.symlink("/nonexistent/x.pem", t.path(b"traps/dangling.pem"))
    os.mkfifo(t.path(b"traps/fifo.pem"))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(t.path(b"traps/socket.pem"))
    sock.close()
    t.write("traps/empty.pem", b"")
    t.write("traps/huge.crt", leaf.pem * (MAX_FILE_BYTES // len(leaf.pem) + 2))

    # Hostile names, each holding a certificate.
    for rel in (b"names/$(touch pwned).pem", b"names/-\n-rf evil.pem", b"names/\xff\xfe bad.pem"):
        t.write(rel, api.pem)
        t.cert(rel, 0, api, "pem")

    if os.geteuid() != 0:
        return t  # the rest needs root to be readable at all

    # Only root may read these.
    t.write("private/denied.pem", leaf.pem, 0o000)
    t.cert("private/denied.pem", 0, leaf, "pem")
    t.write("private/closed/inside.pem", api.pem)
    t.cert("private/closed/inside.pem", 0, api, "pem")
    os.chmod(t.path(b"private/closed"), 0o700)
    return t


def _snapshot(root: Path) -> dict[bytes, tuple[int, str]]:
    """Every entry under root: mode and content hash (or link target). Never opens FIFOs."""
    out: dict[bytes, tuple[int, str]] = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                digest = os.fsdecode(os.readlink(full))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            else:
                digest = ""
            out[full] = (st.st_mode, digest)
    return out


def _windows(data: bytes) -> set[bytes]:
    return {data[i : i + WINDOW] for i in range(len(data) - WINDOW + 1)}


def _encodings(secret: bytes) -> set[bytes]:
    """24-character windows of the secret as hex and as base64 at every byte alignment."""
    out = _windows(secret.hex().encode())
    for shift in range(3):
        out |= _windows(base64.b64encode(secret[shift:]))
    return out


@dataclass
class Run:
    shell: str
    stdout: bytes
    stderr: bytes
    returncode: int
    nonce: str
    elapsed: float
    collected: Collected


def _run(
    argv: list[str],
    root: Path | str,
    *,
    env: dict[str, str] | None = None,
    cwd: str = "/",
    prefix: list[str] | None = None,
    script_edit: tuple[bytes, bytes] | None = None,
    **kwargs: object,
) -> Run:
    nonce = new_nonce()
    kwargs.setdefault("max_file_bytes", MAX_FILE_BYTES)
    kwargs.setdefault("web_configs", web_configs(root))
    script = build_script(nonce=nonce, roots=[str(root)], **kwargs)  # type: ignore[arg-type]
    if script_edit:
        assert script_edit[0] in script
        script = script.replace(*script_edit)
    started = time.monotonic()
    proc = subprocess.run(
        (prefix or []) + argv,
        input=script,
        capture_output=True,
        timeout=TIMEOUT,
        env=env or {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        cwd=cwd,
    )
    elapsed = time.monotonic() - started
    collected = parse_output(
        "h", proc.stdout, nonce=nonce, exit_status=proc.returncode, stderr=proc.stderr
    )
    return Run(argv[0], proc.stdout, proc.stderr, proc.returncode, nonce, elapsed, collected)


@pytest.fixture(scope="module")
def tree() -> Iterator[Tree]:
    root = Path(tempfile.mkdtemp(prefix="certaudit-collect-", dir="/tmp"))  # noqa: S108
    listening = socket.socket()
    try:
        os.chmod(root, 0o755)  # nobody must be able to walk it
        built = _build_tree(root)
        built.before = _snapshot(root)  # type: ignore[attr-defined]
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        built.listen_port = listening.getsockname()[1]
        yield built
    finally:
        listening.close()
        for dirpath, dirnames, _ in os.walk(root):
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), 0o755)
        shutil.rmtree(root)


@pytest.fixture(scope="module", params=SHELLS)
def run(request: pytest.FixtureRequest, tree: Tree, busybox_path: str, tmp_path_factory) -> Run:
    argv, env = shell(request.param, busybox_path, str(tmp_path_factory.getbasetemp()))
    cwd = tempfile.mkdtemp(prefix="certaudit-cwd-")
    try:
        result = _run(argv, tree.root, env=env, cwd=cwd)
        assert os.listdir(cwd) == [], "the script created something in its working folder"
    finally:
        shutil.rmtree(cwd)
    result.shell = request.param
    return result


def _rel(tree: Tree, shown: str) -> bytes:
    prefix = display(os.fsencode(tree.root)) + "/"
    assert shown.startswith(prefix), shown
    return shown[len(prefix) :].encode("utf-8", "surrogateescape")


def _shown(tree: Tree, rel: bytes) -> str:
    return display(tree.path(rel))


# --- every shell -------------------------------------------------------------------------


def test_frame_is_complete(run: Run) -> None:
    assert run.returncode == 0, run.stderr
    assert run.collected.complete, run.collected.issues
    assert run.stderr == b""
    assert run.elapsed < 10
    facts = dict(run.collected.facts)
    assert facts["uid"] == "0"
    assert facts["max_file_bytes"] == str(MAX_FILE_BYTES)


def test_every_certificate_is_found_where_it_is(run: Run, tree: Tree) -> None:
    got = {}
    for found in run.collected.certificates:
        loc = found.location
        got[(loc.path, loc.index)] = (found.cert.sha256, loc.format, loc.kind)
    for (rel, index), (sha, fmt) in tree.expected.items():
        shown = _shown(tree, rel)
        assert (shown, index) in got, f"{shown}#{index} missing"
        want_kind = "kubeconfig" if rel.startswith(b"kubernetes/") else "file"
        if fmt == "pkcs7":  # a SET OF: the encoder may reorder certificates
            in_file = {v for (p, _), v in got.items() if p == shown}
            assert (sha, fmt, want_kind) in in_file, shown
        else:
            assert got[(shown, index)] == (sha, fmt, want_kind), shown
    # certbot's live/ name is attached to the certificate it points at
    live = got[(_shown(tree, b"letsencrypt/live/site/cert.pem"), 0)]
    assert live[0] == tree.expected[(b"letsencrypt/archive/site/cert2.pem", 0)][0]
    # nothing else: no certificate out of a key file, a trap or a mislabelled block
    expected_paths = {_shown(tree, rel) for rel, _ in tree.expected}
    expected_paths.add(_shown(tree, b"letsencrypt/live/site/cert.pem"))
    assert {path for path, _ in got} == expected_paths


def test_no_private_key_byte_leaves_the_host(run: Run, tree: Tree) -> None:
    sent = _windows(run.stdout + run.stderr)
    public: set[bytes] = set()
    for data in tree.public:
        public |= _encodings(data) | _windows(data)
    for name, secret in tree.canaries.items():
        windows = (_encodings(secret) | _windows(secret)) - public
        assert len(windows) > 100, name  # enough that is private to make the check mean something
        leaked = windows & sent
        assert not leaked, f"{name} leaked: {sorted(leaked)[:3]}"


def test_key_files_are_reported_by_metadata(run: Run, tree: Tree) -> None:
    keys = {_rel(tree, k.path): k for k in run.collected.key_files}
    assert {rel: k.kind for rel, k in keys.items()} == tree.keys
    for rel, key in keys.items():
        st = os.stat(tree.path(rel))
        assert key.mode == stat.S_IMODE(st.st_mode), rel
        assert (key.owner, key.group) == (
            pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name,
        )
    assert keys[b"keys/ec.key"].exposed
    assert not keys[b"keys/pkcs8.der"].exposed


def test_partial_reads_are_issues(run: Run, tree: Tree) -> None:
    issues = {(i.reason, i.path) for i in run.collected.issues}
    assert {path for reason, path in issues if reason is IssueReason.TOO_LARGE} == {
        _shown(tree, b"traps/huge.crt"),
        _shown(tree, b"keys/huge.key"),
        _shown(tree, b"web/nginx/sites/huge.conf"),  # a configuration file over the cap
    }
    unparseable = {(_rel(tree, u.path), u.reason.split(";")[0]) for u in run.collected.unparseable}
    assert unparseable == {
        (b"keys/no-end.pem", "BEGIN CERTIFICATE without a matching END line"),
        (b"keys/mislabelled.crt", "block labelled as a certificate does not hold one"),
    }
    others = {(i.reason, i.path) for i in run.collected.issues} - {
        (IssueReason.TOO_LARGE, path) for _, path in issues
    }
    # the encrypted key gives no public key without its passphrase: the pair is not compared
    assert others == {(IssueReason.READ_ERROR, _shown(tree, b"web/private/enc.key"))}


def _configs(run: Run, tree: Tree) -> dict[str, object]:
    return {_rel(tree, c.file).decode(): c for c in run.collected.tls_configs}


def test_web_configuration_maps_listens_to_files_and_lines(run: Run, tree: Tree) -> None:
    got = _configs(run, tree)
    assert set(got) == {
        "web/nginx/sites/good.conf",
        "web/nginx/sites/mismatch.conf",
        "web/nginx/sites/$(touch pwned).conf",
        "web/apache2/sites-enabled/ssl.conf",
        "web/haproxy/haproxy.cfg",
    }  # the plain-HTTP server block is not a TLS configuration
    site = _shown(tree, b"web/certs/site.pem")
    good = got["web/nginx/sites/good.conf"]
    assert [(x.address, x.port, x.tls, x.line) for x in good.listens] == [  # type: ignore[attr-defined]
        ("", 443, True, 2),
        ("::", 443, True, 3),
    ]
    assert good.server_names == ("site.example.test", "www.site.example.test")  # type: ignore[attr-defined]
    # the certificate comes from the http-level default, the key from a snippet
    assert (good.cert_file, good.cert_config_line) == (site, 4)  # type: ignore[attr-defined]
    assert good.cert_config_file == _shown(tree, b"web/nginx/nginx.conf")  # type: ignore[attr-defined]
    assert good.key_config_file == _shown(tree, b"web/nginx/snippets/tls.conf")  # type: ignore[attr-defined]
    assert good.key_file == _shown(tree, b"web/private/site.key")  # type: ignore[attr-defined]
    odd = got["web/nginx/sites/$(touch pwned).conf"]
    assert [(x.port, x.tls) for x in odd.listens] == [(9443, True)]  # `ssl on;`  # type: ignore[attr-defined]
    apache = got["web/apache2/sites-enabled/ssl.conf"]
    assert [(x.address, x.port, x.tls) for x in apache.listens] == [  # type: ignore[attr-defined]
        ("_default_", 8444, True),
        ("10.9.9.9", 8445, True),
    ]
    assert apache.server_names == ("apache.example.test", "alias.example.test")  # type: ignore[attr-defined]
    assert (apache.cert_file, apache.chain_file, apache.cert_config_line) == (site, site, 7)  # type: ignore[attr-defined]
    hap = got["web/haproxy/haproxy.cfg"]
    assert [(x.port, x.tls) for x in hap.listens] == [(8446, True), (8446, True)]  # type: ignore[attr-defined]
    assert hap.cert_file == _shown(tree, b"haproxy/site.pem")  # crt-base applied  # type: ignore[attr-defined]
    files = {_rel(tree, f).decode() for f in run.collected.config_files}
    assert "web/nginx/snippets/tls.conf" in files and "web/apache2/apache2.conf" in files
    assert "web/nginx/sites/huge.conf" not in files
    assert not [f for f in run.collected.config_files if f.startswith("/proc/")]


def test_key_digests_are_computed_on_the_host(run: Run, tree: Tree) -> None:
    got = _configs(run, tree)
    checks = {name: (c.key_check, c.key_sha256) for name, c in got.items()}  # type: ignore[attr-defined]
    assert checks == {
        "web/nginx/sites/good.conf": ("ok", tree.pubkeys["site"]),
        "web/nginx/sites/mismatch.conf": ("ok", tree.pubkeys["other"]),
        "web/nginx/sites/$(touch pwned).conf": ("failed", ""),
        "web/apache2/sites-enabled/ssl.conf": ("ok", tree.pubkeys["site"]),
        "web/haproxy/haproxy.cfg": ("ok", tree.pubkeys["combined"]),
    }
    # compared on the auditor with the certificate the configuration names
    by_path = {f.location.path: f.cert for f in run.collected.certificates if f.location.index == 0}
    site = by_path[_shown(tree, b"web/certs/site.pem")]
    assert site.public_key_sha256 == tree.pubkeys["site"] != tree.pubkeys["other"]


def test_listening_sockets_include_loopback_only_ones(run: Run, tree: Tree) -> None:
    mine = [s for s in run.collected.sockets if s.port == tree.listen_port]
    assert [s.address for s in mine] == ["127.0.0.1"]
    if os.geteuid() == 0:  # the owner is visible with the privilege to see it
        assert mine[0].process, run.collected.sockets
    assert dict(run.collected.facts)["sockets"] == "ss"


@pytest.mark.parametrize("shell_name", ["dash", "busybox"])
def test_without_ss_and_openssl(
    shell_name: str, tree: Tree, busybox_path: str, tmp_path: Path
) -> None:
    """No ss: /proc/net/tcp* and the fd links; no openssl: the pair check says it did not run."""
    argv, env = shell(shell_name, busybox_path, str(tmp_path))
    script_edits = [
        (b"if ca_have ss && out=", b"if false && out="),
        (b"ca_have openssl && ossl=1", b"false && ossl=1"),
    ]
    reference = _run(argv, tree.root, env=env).collected
    nonce = new_nonce()
    script = build_script(
        nonce=nonce,
        roots=[str(tree.root)],
        max_file_bytes=MAX_FILE_BYTES,
        web_configs=web_configs(tree.root),
    )
    for old, new in script_edits:
        assert old in script
        script = script.replace(old, new)
    proc = subprocess.run(argv, input=script, capture_output=True, timeout=TIMEOUT, env=env)
    assert proc.stderr == b""
    c = parse_output("h", proc.stdout, nonce=nonce, exit_status=proc.returncode)
    assert c.complete
    assert dict(c.facts)["sockets"] == "proc" and dict(c.facts)["openssl"] == "no"
    mine = [s for s in c.sockets if s.port == tree.listen_port]
    assert [s.address for s in mine] == ["127.0.0.1"]
    if os.geteuid() == 0:
        assert mine[0].process
    # the same sockets as ss saw (other test sessions' short-lived listeners on ephemeral
    # ports come and go between the two runs)
    stable = {(s.address, s.port) for s in reference.sockets if s.port < 32768}
    assert {(s.address, s.port) for s in c.sockets if s.port < 32768} == stable
    assert {t.key_check for t in c.tls_configs} == {"no_openssl"}
    assert (IssueReason.UNSUPPORTED, "openssl") in {(i.reason, i.path) for i in c.issues}
    assert [t.file for t in c.tls_configs] == [t.file for t in reference.tls_configs]


def test_tree_is_unchanged_and_nothing_ran(run: Run, tree: Tree) -> None:
    assert _snapshot(tree.root) == tree.before  # type: ignore[attr-defined]
    for where in (tree.root, tree.root / "names", Path("/")):
        assert not (where / "pwned").exists()


def test_hostile_names_are_shown_escaped(run: Run, tree: Tree) -> None:
    paths = {f.location.path for f in run.collected.certificates}
    base = display(os.fsencode(tree.root))
    assert f"{base}/names/$(touch pwned).pem" in paths
    assert f"{base}/names/-\\x0a-rf evil.pem" in paths
    assert f"{base}/names/\\xff\\xfe bad.pem" in paths


# --- one shell is enough -----------------------------------------------------------------


def test_permission_denied_is_reported_as_nobody(tree: Tree) -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv")
    prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    result = _run(["dash", "-s"], tree.root, prefix=prefix, cwd="/")
    c = result.collected
    assert c.complete
    denied = {i.path for i in c.issues if i.reason is IssueReason.PERMISSION_DENIED}
    assert _shown(tree, b"private/denied.pem") in denied
    assert _shown(tree, b"private/closed") in denied
    paths = {f.location.path for f in c.certificates}
    assert _shown(tree, b"private/closed/inside.pem") not in paths
    assert _shown(tree, b"certs/leaf.pem") in paths
    keys = {k.path: k for k in c.key_files}
    assert keys[_shown(tree, b"keys/store.p12")].kind == "pkcs12"  # metadata without reading
    assert keys[_shown(tree, b"keys/encrypted.key")].kind == "key"  # unreadable, named as one
    assert _shown(tree, b"keys/encrypted.key") in denied
    assert dict(c.facts)["uid"] != "0"


def test_too_many_files_stops_the_root(tmp_path: Path) -> None:
    leaf = pki.issue("many.example.test", now=NOW)
    for i in range(150):
        (tmp_path / f"{i:03}.pem").write_bytes(leaf.pem)
    result = _run(["dash", "-s"], tmp_path, max_files_per_root=100)
    c = result.collected
    assert c.complete
    too_many = [i for i in c.issues if i.reason is IssueReason.TOO_MANY_FILES]
    assert [i.path for i in too_many] == [str(tmp_path)]
    assert 0 < len(c.certificates) <= 100


def test_fallbacks_hex_encoding_and_exec_semicolon(tree: Tree) -> None:
    reference = _run(["dash", "-s"], tree.root).collected
    no_base64 = _run(
        ["dash", "-s"], tree.root, script_edit=(b"if ca_have base64; then", b"if false; then")
    ).collected
    no_plus = _run(
        ["dash", "-s"],
        tree.root,
        script_edit=(b"if ! probe=$(find /dev/null", b"if ! probe=$(false /dev/null"),
    ).collected
    assert dict(no_base64.facts)["encoding"] == "hex"
    assert dict(no_plus.facts)["find_exec_plus"] == "no"

    def summary(c: Collected) -> set[tuple[str, int, str]]:
        return {(f.location.path, f.location.index, f.cert.sha256) for f in c.certificates}

    assert summary(no_base64) == summary(reference)
    assert summary(no_plus) == summary(reference)
    assert set(no_base64.key_files) == set(reference.key_files)
    assert set(no_plus.key_files) == set(reference.key_files)
    assert set(no_plus.issues) == set(reference.issues)


def test_extra_paths_symlinked_roots_and_quoting(tmp_path: Path) -> None:
    leaf = pki.issue("extra.example.test", now=NOW)
    odd = tmp_path / "it's $(touch pwned) `x`"
    odd.mkdir()
    (odd / "site.crt").write_bytes(leaf.pem)
    (tmp_path / "alias").symlink_to(odd)
    nonce = new_nonce()
    script = build_script(
        nonce=nonce,
        roots=[str(tmp_path / "alias"), str(tmp_path / "absent")],
        extra_paths=[str(tmp_path / "missing.pem"), "relative/x.pem", "/proc/self"],
        listeners=False,  # this machine's servers (other test sessions') are not the point
    )
    proc = subprocess.run(["dash", "-s"], input=script, capture_output=True, timeout=TIMEOUT)
    c = parse_output("h", proc.stdout, nonce=nonce, exit_status=proc.returncode)
    assert c.complete
    paths = {f.location.path for f in c.certificates}
    assert paths == {str(odd / "site.crt"), str(tmp_path / "alias" / "site.crt")}
    assert not (odd / "pwned").exists() and not (tmp_path / "pwned").exists()
    issues = {(i.reason, i.path) for i in c.issues}
    assert issues == {
        (IssueReason.READ_ERROR, str(tmp_path / "missing.pem")),  # asked for, missing
        (IssueReason.UNSUPPORTED, "relative/x.pem"),
        (IssueReason.UNSUPPORTED, "/proc/self"),
    }  # a missing default root is normal and not an issue


def test_noise_and_truncation(tree: Tree) -> None:
    result = _run(["dash", "-s"], tree.root)
    full = result.collected
    assert full.complete
    noisy = b"Welcome to prod!\nBEGIN-fake\nEND-fake 0\n" + result.stdout + b"logout noise\n"
    again = parse_output("h", noisy, nonce=result.nonce)
    assert again == full
    everything = {(f.location.path, f.location.index) for f in full.certificates}
    size = len(result.stdout)
    for cut in sorted({1, 40, size // 7, size // 3, size // 2, size - 200, size - 2, size - 1}):
        part = parse_output("h", result.stdout[:cut], nonce=result.nonce, exit_status=None)
        assert not part.complete, cut
        assert IssueReason.TRUNCATED in {i.reason for i in part.issues}
        assert {(f.location.path, f.location.index) for f in part.certificates} <= everything
    capped = parse_output("h", result.stdout, nonce=result.nonce, truncated=True)
    assert not capped.complete
    assert IssueReason.OUTPUT_CAP in {i.reason for i in capped.issues}


def test_default_roots_build() -> None:
    script = build_script(nonce=new_nonce(), extra_paths=["/srv/tls/site.pem"])
    header = script.split(b"\n# certaudit remote collector")[0]
    for root in DEFAULT_ROOTS:
        assert b"'d" + root.encode() + b"'" in header
    assert b"'x/srv/tls/site.pem'" in header
