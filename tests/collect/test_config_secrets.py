"""Secrets written into web-server configuration never leave the host.

nginx takes a private key inline (`ssl_certificate_key "data:-----BEGIN PRIVATE KEY-----..."`,
a quoted string over several lines) and PKCS#11 URIs with a PIN (`engine:pkcs11:...`,
`pkcs11:...?pin-value=`); Apache and HAProxy take PKCS#11 URIs or odd values where a file
is expected. The collection script sends, for a TLS directive argument that is not a plain
absolute path, only a marker of what it was; every other argument that is not known to be
public (a host name, an address, a keyword) is a marker too. The script runs for real,
under every shell and awk, and everything it prints is searched for every secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from audit.collect.parse import Collected, parse_output
from audit.collect.script import build_script, new_nonce
from audit.model import TlsConfig
from tests import pki
from tests.collect.shells import SHELLS, shell

NOW = dt.datetime(2031, 3, 14, 12, 0, tzinfo=dt.UTC)
WINDOW = 16


def _windows(data: bytes) -> set[bytes]:
    return {data[i : i + WINDOW] for i in range(len(data) - WINDOW + 1)}


def _encodings(secret: bytes) -> set[bytes]:
    """Windows of the secret raw, as hex (both cases) and as base64 at every alignment."""
    out = (
        _windows(secret) | _windows(secret.hex().encode()) | _windows(secret.hex().upper().encode())
    )
    for shift in range(3):
        out |= _windows(base64.b64encode(secret[shift:]))
    return out


@dataclass
class Site:
    root: Path
    secrets: dict[str, bytes] = field(default_factory=dict)
    public: list[bytes] = field(default_factory=list)

    def write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def pin(self, name: str) -> str:
        value = secrets.token_hex(16)
        self.secrets[name] = value.encode()
        return value


def _key_body(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(x for x in pem.splitlines() if not x.startswith(b"-----")))


def _nginx(s: Site, leaf: pki.Issued, key_pem: bytes, tail_key: bytes) -> None:
    r = s.root
    s.write("certs/site.pem", leaf.pem)
    s.write(
        "nginx/nginx.conf",
        b"http {\n"
        b"server {\n    listen 443 ssl backlog=" + s.pin("listen-option").encode() + b";\n"
        b"    server_name inline.example.test 'pin-value=" + s.pin("server-name").encode() + b"';\n"
        b'    ssl_certificate "data:' + leaf.pem + tail_key + b'";\n'
        b'    ssl_certificate_key "data:' + key_pem + b'";\n}\n'
        b"server {\n    listen 8443 ssl;\n"
        + f"    ssl_certificate {r}/certs/site.pem;\n".encode()
        + b'    ssl_certificate_key "engine:pkcs11:pkcs11:token=lab;object=web?pin-value='
        + s.pin("engine-pin").encode()
        + b'";\n}\n'
        b"server {\n    listen 8444 ssl;\n"
        + f"    ssl_certificate {r}/certs/site.pem;\n".encode()
        + b'    ssl_certificate_key "pkcs11:token=lab;object=web?pin-value='
        + s.pin("pkcs11-pin").encode()
        + b'";\n'
        b'    include "pkcs11:object=x?pin-value=' + s.pin("include").encode() + b'";\n}\n'
        b"}\n",
    )


def _apache_haproxy(s: Site) -> None:
    r = s.root
    s.write(
        "apache2/apache2.conf",
        (
            f"<VirtualHost *:8445 pin-value={s.pin('virtualhost')}>\n"
            f"  ServerName apache.example.test\n  ServerAlias pin={s.pin('alias')}\n"
            f"  SSLEngine on\n  SSLCertificateFile {r}/certs/site.pem\n"
            f"  SSLCertificateKeyFile pkcs11:token=lab;object=web?pin-value={s.pin('apache')}\n"
            f"  SSLProtocol all -SSLv3 pin={s.pin('protocol')}\n</VirtualHost>\n"
        ).encode(),
    )
    s.write(
        "haproxy/haproxy.cfg",
        (
            f"frontend https pin={s.pin('section')}\n"
            f"    bind :8446 ssl crt pkcs11:object=x?pin-value={s.pin('crt')}"
            f" crt-list pin-value={s.pin('crt-list')} ciphers {s.pin('ciphers')}\n"
        ).encode(),
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("secrets"))
    h = pki.hierarchy(NOW, name="Secrets")
    leaf = h.leaf("inline.example.test", now=NOW, fresh_key=True)
    s.public += [leaf.der, leaf.pem]
    key_pem = leaf.key_pem()
    other = pki.key("ec", 256, fresh=True)
    tail_key = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for name, pem in (("inline-key", key_pem), ("key-after-certificate", tail_key)):
        s.secrets[name] = _key_body(pem)
        s.secrets[name + " (PEM text)"] = b"".join(pem.splitlines()[1:-1])
    _nginx(s, leaf, key_pem, tail_key)
    _apache_haproxy(s)
    yield s


@dataclass
class Result:
    sent: bytes
    collected: Collected


@pytest.fixture(scope="module", params=SHELLS)
def result(
    request: pytest.FixtureRequest,
    site: Site,
    busybox_path: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Result:
    argv, env = shell(request.param, busybox_path, str(tmp_path_factory.getbasetemp()))
    nonce = new_nonce()
    r = site.root
    script = build_script(
        nonce=nonce,
        roots=[str(r / "certs")],
        web_configs=[
            ("nginx", f"{r}/nginx/nginx.conf"),
            ("apache", f"{r}/apache2/apache2.conf"),
            ("haproxy", f"{r}/haproxy/haproxy.cfg"),
        ],
    )
    proc = subprocess.run(argv, input=script, capture_output=True, timeout=60, env=env)
    c = parse_output("h", proc.stdout, nonce=nonce, exit_status=proc.returncode)
    return Result(proc.stdout + proc.stderr, c)


def test_no_secret_of_the_configuration_is_sent(result: Result, site: Site) -> None:
    assert result.collected.complete, result.collected.issues
    sent = _windows(result.sent)
    public: set[bytes] = set()
    for data in site.public:
        public |= _encodings(data)
    for name, secret in site.secrets.items():
        windows = _encodings(secret) - public
        assert len(windows) > 20, name
        leaked = windows & sent
        assert not leaked, f"{name} was sent: {sorted(leaked)[:2]}"


def _by_port(result: Result) -> dict[int, TlsConfig]:
    return {x.port: c for c in result.collected.tls_configs for x in c.listens}


def test_what_the_values_were_is_still_known(result: Result, site: Site) -> None:
    configs = _by_port(result)
    site_pem = f"{site.root}/certs/site.pem"
    inline = configs[443]
    assert (inline.cert_file, inline.key_file, inline.key_check) == ("data:", "data:", "")
    assert inline.server_names == ("inline.example.test",)
    assert [(x.port, x.tls) for x in inline.listens] == [(443, True)]
    engine = configs[8443]
    assert (engine.cert_file, engine.key_file, engine.key_check) == (site_pem, "engine:", "")
    assert (configs[8444].key_file, configs[8444].key_check) == ("pkcs11:", "")
    apache = configs[8445]
    assert (apache.cert_file, apache.key_file) == (site_pem, "pkcs11:")
    assert apache.server_names == ("apache.example.test",)
    haproxy = configs[8446]
    assert haproxy.cert_file == "pkcs11:" and haproxy.key_check == ""
    # the certificate file the configuration names is collected as usual
    assert {f.location.path for f in result.collected.certificates} == {site_pem}
