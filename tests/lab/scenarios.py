"""Lab fleets: host specs with certificates generated at build time (tests/pki.py).

`default_fleet(now)` is the fleet behind the session `lab` fixture and `make demo`:

=======  ====================================================================================
web1     healthy: leaf + intermediate full chain and the CA files under /etc/ssl/local, its key
         (0600) in /etc/ssl/private; real nginx serving it on :443 and on a loopback-only
         admin port 127.0.0.1:8443 (reachable through SSH only).
web2     an expired certificate and one expiring in 5 days (RSA key, PKCS#1); a noisy root
         .bashrc/.profile, sshd Banner and MOTD (output framing).
db1      the messy one: HAProxy cert+chain+key file (served on :443 by openssl s_server), a
         DER certificate, a PKCS#7 bundle, a garbage .crt, a world-readable key (0644), a
         not-yet-valid certificate, and canary keys of every flavour (encrypted PKCS#8, DER
         PKCS#8, PKCS#12, OpenSSH, a truncated certificate followed by a key); sshd has
         AllowTcpForwarding no, so its listeners are probed from the runner.
mail1    certbot layout: live/NAME/{cert,chain,fullchain,privkey}.pem are relative links into
         archive/NAME/*2.pem; archive also holds the expired generation 1; renewal conf;
         postfix main.cf naming the live files; an SMTP server on :25 offering STARTTLS
         with the live certificate.
down1    certificates planted but sshd never runs: connection refused (unreachable).
chain1   nginx on :443 serving the leaf without its intermediate (CHAIN_INCOMPLETE, the fix
         names /etc/nginx/sites-enabled/chain1.conf line 5).
plain1   nginx on :443 without `ssl` on the listen line: plaintext HTTP (TLS_NOT_SPOKEN).
mtls1    nginx on :443 requiring a client certificate from the Lab Client CA.
stale1   nginx started with a certificate expiring in 10 days; the file was then replaced by
         its renewal (new key too) and nginx never reloaded (CERT_NOT_RELOADED).
keymix1  nginx started with a matching pair; the key file was then replaced by another key,
         so the pair on disk no longer matches (KEY_MISMATCH; the next reload would fail).
         What is tested: the pair the configuration names, compared on the host by public-key
         digest; the running nginx still serves the pair it loaded.
legacy1  nginx on :443 still accepting TLS 1.0 and 1.1 (LEGACY_PROTOCOL).
inline1  healthy nginx on :443 whose key is inline in its configuration
         (`ssl_certificate_key "data:-----BEGIN PRIVATE KEY-----..."`, over several lines),
         and an Apache configuration (not running) naming its key by a PKCS#11 URI with a PIN:
         both are canaries, so neither may leave the host.
certok1  healthy certbot (tests/lab/renewal_hosts.py): a lineage valid 60 days served by nginx;
         systemctl (a stand-in answering `show`, found first on sshd's PATH) says
         certbot.timer is enabled and active and certbot.service's last result success; the
         log says the last run found nothing due. Raises nothing.
certoff1 certbot whose timer systemctl reports disabled and inactive; Debian's
         /etc/cron.d/certbot does nothing where systemd runs (CERTBOT_TIMER_INACTIVE).
certfail1 certbot read from files (systemd is not PID 1: the timer never fires, Debian's cron
         line runs certbot); its log (logs-dir in cli.ini) records the last renewal failing
         with what the CA reported (CERTBOT_RENEWAL_FAILING); its certificate expires in 20
         days. (certok1's DNS credentials token and every ACME account id are canaries.)
norenew1 nginx serving a certificate expiring in 12 days that nothing renews
         (RENEWAL_NOT_AUTOMATED).
kubeadm1 a kubeadm control plane (pki, etcd, kubeconfigs with embedded client certificates,
         the kubelet's combined client certificate+key, rotation on); apiserver.crt expires
         in 10 days and is served on :6443 (CERT_EXPIRING, fix `kubeadm certs renew
         apiserver`).
kubecfg1 a control plane whose admin.conf client certificate expires in 15 days
         (`kubeadm certs renew admin.conf`) and whose kubelet client certificate expires in
         20 days with rotation off (RENEWAL_NOT_AUTOMATED); kubeconfigs written plain, as
         JSON, quoted and as block scalars. Every embedded key is a canary.
=======  ====================================================================================

Every nginx is the Debian package's binary, started inside its host as
`nginx -e stderr -c /etc/nginx/nginx.conf -g 'daemon off;'` with a lab-local main file in the
host's own /etc (its pid and temporary files under /srv/nginx, logs on stderr, nothing written
under /etc, /var/lib or /root). The lab's CA roots are every host's `trust`: `Lab.cafile`, which
the demo passes to `certaudit run --cafile`.

Every private key planted is a canary: `canaries(lab)` returns each key's planted bytes and
its DER encodings, for the test that no key byte ever leaves a host; so is every PIN or
passphrase written into a configuration (short text, secret throughout). Those encodings also
hold public material (algorithm identifiers, the public key, which the certificate repeats),
so do not look for every window of them: `canary_windows(lab)` gives only the windows that
encode secret bytes, and `find_leaks(data, windows)` searches for them.

`sample_files(now)` is a small fixed set of certificates and keys for hosts that must hold
the same files (e.g. a quiet and a noisy host compared). `hostile_host(now)` is a host where
an unprivileged user runs fake servers named nginx whose configuration names FIFOs,
/proc/kmsg, /dev/zero and / (not in the default fleet).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import re
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from tests import pki
from tests.lab import renewal_hosts
from tests.lab.netlab import Dir, Entry, File, HostSpec, Lab, Service, Symlink

#: Names of the hosts of `default_fleet`, in inventory order.
DEFAULT_HOSTS = (
    "web1",
    "web2",
    "db1",
    "mail1",
    "down1",
    "chain1",
    "plain1",
    "mtls1",
    "stale1",
    "keymix1",
    "legacy1",
    "inline1",
    "certok1",
    "certoff1",
    "certfail1",
    "norenew1",
    "kubeadm1",
    "kubecfg1",
)
#: The renewal finding each host is built for (certok1, the healthy one, raises none).
RENEWAL_FINDINGS = {
    "certoff1": "CERTBOT_TIMER_INACTIVE",
    "certfail1": "CERTBOT_RENEWAL_FAILING",
    "norenew1": "RENEWAL_NOT_AUTOMATED",
    "kubeadm1": "CERT_EXPIRING",
    "kubecfg1": "RENEWAL_NOT_AUTOMATED",
}
CA_SAYS = renewal_hosts.CA_SAYS
#: The listener finding each host is built for (the healthy web1 must raise none).
LISTENER_FINDINGS = {
    "chain1": "CHAIN_INCOMPLETE",
    "plain1": "TLS_NOT_SPOKEN",
    "mtls1": "CLIENT_CERT_REQUIRED",
    "stale1": "CERT_NOT_RELOADED",
    "keymix1": "KEY_MISMATCH",
    "legacy1": "LEGACY_PROTOCOL",
}
STARTTLS_SERVER = Path(__file__).with_name("starttls_server.py")


def host_python() -> str:
    """A Python that lab hosts can run: root's home is their own (empty) folder, so a
    pyenv interpreter under /root is out of their reach; Debian's python3 is not."""
    import os

    for candidate in ("/usr/bin/python3", os.path.realpath(sys.executable)):
        if os.access(candidate, os.X_OK) and not candidate.startswith("/root/"):
            return candidate
    return "/usr/bin/python3"


NGINX_MAIN = b"""# certaudit lab: this host's own nginx, run in the foreground by the lab
# (nginx -e stderr -c /etc/nginx/nginx.conf -g 'daemon off;'). Its pid file and temporary
# files stay in /srv/nginx and it logs to stderr: it writes nothing under /etc, /var/lib, /root.
worker_processes 1;
pid /srv/nginx/nginx.pid;
error_log stderr;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path /srv/nginx/client_body;
    proxy_temp_path /srv/nginx/proxy;
    fastcgi_temp_path /srv/nginx/fastcgi;
    uwsgi_temp_path /srv/nginx/uwsgi;
    scgi_temp_path /srv/nginx/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    include /etc/nginx/sites-enabled/*.conf;
}
"""
NGINX_ARGV = ("nginx", "-e", "stderr", "-c", "/etc/nginx/nginx.conf", "-g", "daemon off;")
CANARY_PASSPHRASE = b"lab-canary-passphrase"


def _der_forms(key: Any) -> list[bytes]:
    """The DER encodings a leak could take: PKCS#8 and the traditional (PKCS#1 / SEC1)."""
    formats = (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL)
    return [
        key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        for fmt in formats
    ]


def _plant_key(
    spec: HostSpec, path: str, issued: pki.Issued, fmt: str = "pkcs8", mode: int = 0o600
) -> bytes:
    """Write issued's key in one format and record it (and its DER forms) as canaries."""
    data = issued.key_pem(fmt)
    spec.files.append(File(path, data, mode))
    spec.canaries += [data, *_der_forms(issued.key)]
    return data


def _leaf(h: pki.Hierarchy, cn: str, now: dt.datetime, **kw: object) -> pki.Issued:
    return h.leaf(cn, now=now, fresh_key=True, **kw)


def _nginx(spec: HostSpec, site: str, text: bytes, port: int = 443) -> None:
    """The lab-local nginx main file, one site, and nginx as a service of the host."""
    spec.files += [
        Dir("/srv/nginx", 0o755),
        File("/etc/nginx/nginx.conf", NGINX_MAIN),
        File(f"/etc/nginx/sites-enabled/{site}.conf", text),
    ]
    spec.services.append(Service(NGINX_ARGV, port=port))


def _site(
    spec: HostSpec,
    h: pki.Hierarchy,
    now: dt.datetime,
    *,
    chain: bool = True,
    listen: str = "listen 443 ssl;",
    extra: str = "",
    **kw: object,
) -> pki.Issued:
    """An nginx host serving one leaf of `h` for NAME.example.test (NAME = the host).

    The certificate directive is on line 5 of /etc/nginx/sites-enabled/NAME.conf."""
    cn = f"{spec.name}.example.test"
    leaf = _leaf(h, cn, now, **kw)
    cert = f"/etc/ssl/local/{cn}.{'fullchain.pem' if chain else 'crt'}"
    key = f"/etc/ssl/private/{cn}.key"
    spec.files.append(File(cert, pki.pem_bundle(leaf, h.intermediate) if chain else leaf.pem))
    _plant_key(spec, key, leaf)
    site = (
        f"server {{\n    {listen}\n    server_name {cn};\n"
        "    # the certificate clients are sent\n"
        f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n{extra}}}\n"
    )
    _nginx(spec, spec.name, site.encode())
    spec.trust.append(h.root.pem)
    return leaf


def _web1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec(
        "web1",
        expect="healthy nginx: full chain on :443 and loopback-only :8443, key 0600",
        trust=[h.root.pem],
    )
    cn = "web1.example.test"
    leaf = _leaf(
        h, cn, now, days_before=30, days_after=200, sans=[cn, "www.example.test", "10.250.0.10"]
    )
    spec.files += [
        File(f"/etc/ssl/local/{cn}.fullchain.pem", pki.pem_bundle(leaf, h.intermediate)),
        File(f"/etc/ssl/local/{cn}.crt", leaf.pem),
        File("/etc/ssl/local/lab-intermediate-ca.pem", h.intermediate.pem),
        File("/etc/ssl/local/lab-root-ca.pem", h.root.pem),
    ]
    _plant_key(spec, f"/etc/ssl/private/{cn}.key", leaf)
    site = (
        "server {\n    listen 443 ssl;\n"
        "    server_name web1.example.test www.example.test;\n"
        f"    ssl_certificate /etc/ssl/local/{cn}.fullchain.pem;\n"
        f"    ssl_certificate_key /etc/ssl/private/{cn}.key;\n}}\n"
        "# the admin endpoint: loopback only, reachable through SSH alone\n"
        "server {\n    listen 127.0.0.1:8443 ssl;\n    server_name web1.example.test;\n"
        f"    ssl_certificate /etc/ssl/local/{cn}.fullchain.pem;\n"
        f"    ssl_certificate_key /etc/ssl/private/{cn}.key;\n}}\n"
    )
    _nginx(spec, "web1", site.encode())
    return spec


def _web2(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec(
        "web2",
        bashrc_noise=True,
        expect="one expired certificate, one expiring in 5 days; noisy shell",
    )
    old = _leaf(h, "old.web2.example.test", now, days_before=400, days_after=-5)
    soon = h.leaf(
        "web2.example.test",
        now=now,
        days_before=85,
        days_after=5,
        key_kind="rsa",
        key_bits=2048,
        fresh_key=True,
    )
    spec.files += [
        File("/etc/ssl/local/old.web2.example.test.pem", old.pem),
        File(
            "/etc/ssl/local/web2.example.test.fullchain.pem", pki.pem_bundle(soon, h.intermediate)
        ),
    ]
    _plant_key(spec, "/etc/ssl/private/old.web2.example.test.key", old)
    _plant_key(spec, "/etc/ssl/private/web2.example.test.key", soon, fmt="traditional")
    return spec


def _db1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec(
        "db1",
        allow_tcp_forwarding=False,
        expect="combined cert+key, DER, PKCS#7, garbage .crt, world-readable key, "
        "not-yet-valid; AllowTcpForwarding no (listeners probed from the runner)",
    )
    cn = "db1.example.test"
    # HAProxy: leaf, chain and key in one file.
    hap = _leaf(h, cn, now, days_before=10, days_after=120)
    hap_key = hap.key_pem("traditional")  # BEGIN EC PRIVATE KEY
    spec.files.append(Dir("/etc/haproxy/certs", 0o750))
    spec.files.append(
        File(f"/etc/haproxy/certs/{cn}.pem", pki.pem_bundle(hap, h.intermediate) + hap_key, 0o600)
    )
    spec.canaries += [hap_key, *_der_forms(hap.key)]
    spec.files.append(
        File(
            "/etc/haproxy/haproxy.cfg",
            (
                f"frontend https\n    mode tcp\n    bind :443 ssl crt /etc/haproxy/certs/{cn}.pem\n"
            ).encode(),
        )
    )

    # what haproxy.cfg describes, served by openssl s_server (HAProxy is not installed)
    spec.files.append(File("/etc/ssl/local/lab-intermediate-ca.pem", h.intermediate.pem))
    spec.services.append(
        Service(
            (
                "openssl",
                "s_server",
                "-quiet",
                "-www",
                "-4",
                "-accept",
                "443",
                "-cert",
                f"/etc/haproxy/certs/{cn}.pem",
                "-key",
                f"/etc/haproxy/certs/{cn}.pem",
                "-cert_chain",
                "/etc/ssl/local/lab-intermediate-ca.pem",
            ),
            port=443,
        )
    )
    spec.trust.append(h.root.pem)

    client = _leaf(h, "db1-replication", now, days_before=5, days_after=90, sans=[])
    spec.files.append(File("/etc/ssl/local/db1-replication.der", client.der))
    # A DER (PKCS#8) key with the usual .key name.
    spec.files.append(
        File("/etc/ssl/private/db1-replication.key", _der_forms(client.key)[0], 0o600)
    )
    spec.canaries += _der_forms(client.key)

    partner = pki.hierarchy(now, name="Partner")
    spec.files.append(
        File(
            "/etc/ssl/local/partner-chain.p7b", pki.pkcs7_bundle(partner.intermediate, partner.root)
        )
    )
    spec.files.append(
        File(
            "/etc/ssl/local/broken.crt",
            b"-----BEGIN CERTIFICATE-----\nthis is not base64 at all!!\n"
            b"-----END CERTIFICATE-----\n" + hashlib.sha256(b"garbage").digest() * 8,
        )
    )

    legacy = _leaf(h, "legacy.db1.example.test", now, days_before=100, days_after=100)
    spec.files.append(File("/etc/ssl/local/legacy.db1.example.test.pem", legacy.pem))
    _plant_key(spec, "/etc/ssl/local/legacy.db1.example.test.key", legacy, mode=0o644)

    future = _leaf(h, "future.db1.example.test", now, days_before=-10, days_after=365)
    spec.files.append(File("/etc/ssl/local/future.db1.example.test.pem", future.pem))

    # More canary flavours.
    enc = _leaf(h, "enc.db1.example.test", now, days_before=10, days_after=200)
    enc_key: Any = enc.key
    enc_pem = enc_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(CANARY_PASSPHRASE),
    )
    spec.files.append(File("/etc/ssl/private/enc.db1.example.test.key", enc_pem, 0o600))
    spec.files.append(File("/etc/ssl/local/enc.db1.example.test.pem", enc.pem))
    spec.canaries += [enc_pem, *_der_forms(enc.key)]

    p12 = _leaf(h, "p12.db1.example.test", now, days_before=10, days_after=200)
    p12_key: Any = p12.key
    p12_data = pkcs12.serialize_key_and_certificates(
        b"db1", p12_key, p12.cert, [h.intermediate.cert], serialization.NoEncryption()
    )
    spec.files.append(File("/etc/ssl/private/db1.p12", p12_data, 0o600))
    spec.canaries += _der_forms(p12.key)

    ssh_key: Any = pki.key("ec", 256, fresh=True)
    ssh_pem = ssh_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    spec.files.append(Dir("/root/.ssh", 0o700))
    spec.files.append(File("/root/.ssh/id_ecdsa", ssh_pem, 0o600))
    spec.canaries += [ssh_pem, *_der_forms(ssh_key)]

    trunc = _leaf(h, "trunc.db1.example.test", now, days_before=10, days_after=200)
    trunc_key = trunc.key_pem("pkcs8")
    body = trunc.pem.splitlines(keepends=True)
    spec.files.append(
        File("/etc/ssl/local/truncated-then-key.pem", b"".join(body[:4]) + trunc_key, 0o644)
    )
    spec.canaries += [trunc_key, *_der_forms(trunc.key)]
    return spec


def _mail1(now: dt.datetime, acme: pki.Hierarchy) -> HostSpec:
    name = "mail1.example.test"
    spec = HostSpec(
        "mail1",
        expect="certbot: live cert valid 60 days; archive gen 1 expired; SMTP STARTTLS on :25",
        trust=[acme.root.pem],
    )
    le = "/etc/letsencrypt"
    spec.files += [
        Dir(le, 0o755),
        Dir(f"{le}/archive", 0o700),
        Dir(f"{le}/live", 0o700),
        Dir(f"{le}/archive/{name}", 0o755),
        Dir(f"{le}/live/{name}", 0o755),
        Dir(f"{le}/renewal", 0o755),
    ]
    gens = {
        1: _leaf(
            acme, name, now, days_before=120, days_after=-30, sans=[name, "smtp.example.test"]
        ),
        2: _leaf(acme, name, now, days_before=30, days_after=60, sans=[name, "smtp.example.test"]),
    }
    for n, cert in gens.items():
        base = f"{le}/archive/{name}"
        spec.files += [
            File(f"{base}/cert{n}.pem", cert.pem),
            File(f"{base}/chain{n}.pem", acme.intermediate.pem),
            File(f"{base}/fullchain{n}.pem", pki.pem_bundle(cert, acme.intermediate)),
        ]
        _plant_key(spec, f"{base}/privkey{n}.pem", cert)
    for kind in ("cert", "chain", "fullchain", "privkey"):
        spec.files.append(
            Symlink(f"{le}/live/{name}/{kind}.pem", f"../../archive/{name}/{kind}2.pem")
        )
    spec.files.append(
        File(f"{le}/live/{name}/README", b"This directory contains your keys and certificates.\n")
    )
    spec.files.append(
        File(
            f"{le}/renewal/{name}.conf",
            (
                "# renew_before_expiry = 30 days\nversion = 2.1.0\n"
                f"archive_dir = {le}/archive/{name}\n"
                f"cert = {le}/live/{name}/cert.pem\nprivkey = {le}/live/{name}/privkey.pem\n"
                f"chain = {le}/live/{name}/chain.pem\nfullchain = {le}/live/{name}/fullchain.pem\n"
                "\n[renewalparams]\nauthenticator = standalone\nserver = "
                "https://acme.invalid/directory\n"
            ).encode(),
        )
    )
    spec.files.append(
        File(
            "/etc/postfix/main.cf",
            (
                f"smtpd_tls_cert_file = {le}/live/{name}/fullchain.pem\n"
                f"smtpd_tls_key_file = {le}/live/{name}/privkey.pem\n"
            ).encode(),
        )
    )
    spec.services.append(
        Service(
            (
                host_python(),
                str(STARTTLS_SERVER),
                "--protocol",
                "smtp",
                "--port",
                "25",
                "--cert",
                f"{le}/live/{name}/fullchain.pem",
                "--key",
                f"{le}/live/{name}/privkey.pem",
            ),
            port=25,
        )
    )
    return spec


def _down1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec("down1", up=False, expect="unreachable: connection refused")
    cert = _leaf(h, "down1.example.test", now, days_before=10, days_after=3)
    spec.files.append(File("/etc/ssl/local/down1.example.test.pem", cert.pem))
    _plant_key(spec, "/etc/ssl/private/down1.example.test.key", cert)
    return spec


def _chain1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec(
        "chain1",
        expect="nginx :443 sends the leaf without its intermediate (also probed from outside)",
        vars={"certaudit_probe_direct": "true"},
    )
    _site(spec, h, now, chain=False, days_before=20, days_after=300)
    return spec


def _plain1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec("plain1", expect="nginx :443 without `ssl`: plaintext HTTP on a TLS port")
    _site(spec, h, now, listen="listen 443;", days_before=20, days_after=300)
    return spec


def _mtls1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec("mtls1", expect="nginx :443 requires a client certificate (Lab Client CA)")
    client_ca = pki.hierarchy(now, name="Lab Client")
    spec.files.append(File("/etc/ssl/local/lab-client-ca.pem", client_ca.root.pem))
    extra = (
        "    ssl_client_certificate /etc/ssl/local/lab-client-ca.pem;\n    ssl_verify_client on;\n"
    )
    _site(spec, h, now, extra=extra, days_before=20, days_after=300)
    return spec


def _stale1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec(
        "stale1",
        expect="nginx still serves the certificate expiring in 10 days; its renewal sits "
        "in the file (never reloaded)",
    )
    cn = "stale1.example.test"
    _site(spec, h, now, days_before=80, days_after=10)
    renewed = _leaf(h, cn, now, days_before=1, days_after=89)
    spec.after_start += [
        File(f"/etc/ssl/local/{cn}.fullchain.pem", pki.pem_bundle(renewed, h.intermediate)),
        File(f"/etc/ssl/private/{cn}.key", renewed.key_pem(), 0o600),
    ]
    spec.canaries += [renewed.key_pem(), *_der_forms(renewed.key)]
    return spec


def _keymix1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec(
        "keymix1",
        expect="the key file nginx's configuration names was replaced by another key",
    )
    cn = "keymix1.example.test"
    _site(spec, h, now, days_before=20, days_after=300)
    stray = _leaf(h, "stray.keymix1.example.test", now)
    spec.after_start.append(File(f"/etc/ssl/private/{cn}.key", stray.key_pem(), 0o600))
    spec.canaries += [stray.key_pem(), *_der_forms(stray.key)]
    return spec


def _legacy1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec("legacy1", expect="nginx :443 still accepts TLS 1.0 and 1.1")
    extra = "    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;\n    ssl_ciphers DEFAULT:@SECLEVEL=0;\n"
    _site(spec, h, now, extra=extra, days_before=20, days_after=300)
    return spec


def _inline1(now: dt.datetime, h: pki.Hierarchy) -> HostSpec:
    spec = HostSpec(
        "inline1",
        expect="nginx :443 with its key inline in the configuration; a PKCS#11 PIN in Apache's",
        trust=[h.root.pem],
    )
    cn = "inline1.example.test"
    leaf = _leaf(h, cn, now, days_before=20, days_after=300)
    cert = f"/etc/ssl/local/{cn}.fullchain.pem"
    spec.files.append(File(cert, pki.pem_bundle(leaf, h.intermediate)))
    key_pem = leaf.key_pem()
    spec.canaries += [key_pem, *_der_forms(leaf.key)]
    site = (
        f"server {{\n    listen 443 ssl;\n    server_name {cn};\n    ssl_certificate {cert};\n"
        f'    ssl_certificate_key "data:{key_pem.decode()}";\n}}\n'
    )
    _nginx(spec, "inline1", site.encode())
    pin = "labpin" + secrets.token_hex(16)
    spec.canaries.append(pin.encode())
    spec.files.append(
        File(
            "/etc/apache2/apache2.conf",
            (
                f"<VirtualHost *:8443>\n  ServerName {cn}\n  SSLEngine on\n"
                f"  SSLCertificateFile {cert}\n"
                f"  SSLCertificateKeyFile pkcs11:token=lab;object={cn}?pin-value={pin}\n"
                "</VirtualHost>\n"
            ).encode(),
        )
    )
    return spec


def default_fleet(now: dt.datetime, hierarchy: pki.Hierarchy | None = None) -> list[HostSpec]:
    """The fleet of `make demo` (see the module docstring), relative to `now`."""
    h = hierarchy or pki.hierarchy(now, name="Lab")
    acme = pki.hierarchy(now, name="Lab ACME")
    return [
        _web1(now, h),
        _web2(now, h),
        _db1(now, h),
        _mail1(now, acme),
        _down1(now, h),
        _chain1(now, h),
        _plain1(now, h),
        _mtls1(now, h),
        _stale1(now, h),
        _keymix1(now, h),
        _legacy1(now, h),
        _inline1(now, h),
        renewal_hosts.certok1(now, acme),
        renewal_hosts.certoff1(now, acme),
        renewal_hosts.certfail1(now, acme),
        renewal_hosts.norenew1(now, h),
        renewal_hosts.kubeadm1(now),
        renewal_hosts.kubecfg1(now),
    ]


# --------------------------------------------------------------------- a hostile host

#: An unprivileged account on `hostile_host`, and the service account its web server uses.
MALLORY_UID = 1777
WWW_DATA_UID = 33
MALLORY_HOME = "/home/mallory"
#: FIFOs mallory's fake server creates and watches: it writes `<name>.opened` in her home
#: the moment anything opens one of them for reading.
HOSTILE_FIFOS = ("fifo.pem", "fifo.conf")
#: Paths mallory's configuration names as certificate, key and include files.
HOSTILE_PATHS = (
    f"{MALLORY_HOME}/fifo.pem",
    f"{MALLORY_HOME}/kmsg.key",
    "/proc/kmsg",
    "/proc/self/environ",
    "/dev/zero",
    "/",
)
FAKE_SERVER = f"""# A harmless server that calls itself nginx: it listens, never answers, and tells
# on anyone who opens the FIFOs it creates. argv: PORT [-c CONFIG].
import os, socket, sys, threading
home = {MALLORY_HOME!r}

def watch(name):
    while True:
        fd = os.open(os.path.join(home, name), os.O_WRONLY)
        with open(os.path.join(home, name + ".opened"), "w") as out:
            out.write("opened")
        os.close(fd)

if os.getuid() == {MALLORY_UID}:
    for name in {HOSTILE_FIFOS!r}:
        path = os.path.join(home, name)
        if not os.path.exists(path):
            os.mkfifo(path, 0o644)
        threading.Thread(target=watch, args=(name,), daemon=True).start()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
while True:
    s.accept()[0].close()
"""


def _mallory_config() -> bytes:
    """mallory's nginx configuration: every trap as a certificate, key or include file, and
    a forged TLS server block for the host."""
    traps = "".join(
        f"server {{ listen 8{i}43 ssl; ssl_certificate {p}; ssl_certificate_key {p}; }}\n"
        for i, p in enumerate(HOSTILE_PATHS)
    )
    return (
        "events {}\nhttp {\n"
        "server { listen 443 ssl; server_name forged.example.test;\n"
        "    ssl_certificate /etc/ssl/local/forged.pem;\n"
        "    ssl_certificate_key /etc/ssl/forged.key; }\n"
        f"{traps}    include {MALLORY_HOME}/fifo.conf;\n}}\n"
    ).encode()


def _trusted_traps() -> bytes:
    """A root-owned Apache configuration (not running) naming the same traps: even a trusted
    configuration never makes the collection open them."""
    hosts = "".join(
        f"<VirtualHost *:9{i}43>\n  SSLEngine on\n  SSLCertificateFile {p}\n"
        f"  SSLCertificateKeyFile {p}\n</VirtualHost>\n"
        for i, p in enumerate(HOSTILE_PATHS)
    )
    return f"{hosts}Include {MALLORY_HOME}/fifo.conf\n".encode()


def hostile_host(now: dt.datetime, name: str = "hostile1") -> HostSpec:
    """A healthy host (root's nginx on :443, started with -c /srv/NAME/nginx.conf) where
    mallory (uid MALLORY_UID) runs two fake servers named nginx: a Python script
    (/home/mallory/nginx, on :8080, as mallory) and a copy of the Python binary
    (/home/mallory/bin/nginx, on :8081, as www-data), both started with `-c` naming her
    configuration, whose certificate, key and include files are HOSTILE_PATHS (FIFOs she
    watches, /proc/kmsg directly and through a link, /proc/self/environ, /dev/zero, /).
    A root-owned Apache configuration names the same paths."""
    h = pki.hierarchy(now, name="Hostile")
    spec = HostSpec(name, expect="fake servers of an unprivileged user", trust=[h.root.pem])
    cn = f"{name}.example.test"
    leaf = _leaf(h, cn, now, days_before=20, days_after=300)
    cert, key, srv = f"/etc/ssl/local/{cn}.pem", f"/etc/ssl/private/{cn}.key", f"/srv/{name}"
    spec.files.append(File(cert, pki.pem_bundle(leaf, h.intermediate)))
    _plant_key(spec, key, leaf)
    main = NGINX_MAIN.replace(b"/etc/nginx/sites-enabled/*.conf", f"{srv}/*.site".encode())
    site = f"server {{ listen 443 ssl; server_name {cn}; ssl_certificate {cert}; "
    site += f"ssl_certificate_key {key}; }}\n"
    python = Path(host_python()).resolve()
    m = MALLORY_UID
    spec.files += [
        Dir("/srv/nginx", 0o755),
        File(f"{srv}/nginx.conf", main),
        File(f"{srv}/{name}.site", site.encode()),
        File("/etc/apache2/apache2.conf", _trusted_traps()),
        Dir(MALLORY_HOME, 0o755, m, m),
        Dir(f"{MALLORY_HOME}/bin", 0o755, m, m),
        File(f"{MALLORY_HOME}/fake.py", FAKE_SERVER.encode(), 0o644, m, m),
        File(f"{MALLORY_HOME}/nginx", f"#!{python}\n{FAKE_SERVER}".encode(), 0o755, m, m),
        File(f"{MALLORY_HOME}/bin/nginx", python.read_bytes(), 0o755, m, m),
        File(f"{MALLORY_HOME}/nginx.conf", _mallory_config(), 0o644, m, m),
        Symlink(f"{MALLORY_HOME}/kmsg.key", "/proc/kmsg"),
    ]
    conf = f"{MALLORY_HOME}/nginx.conf"
    as_user = ("setpriv", f"--reuid={m}", f"--regid={m}", "--clear-groups")
    as_www = ("setpriv", f"--reuid={WWW_DATA_UID}", f"--regid={WWW_DATA_UID}", "--clear-groups")
    spec.services += [
        Service(("nginx", "-e", "stderr", "-c", f"{srv}/nginx.conf", "-g", "daemon off;"), 443),
        Service((*as_user, f"{MALLORY_HOME}/nginx", "8080", "-c", conf), 8080),
        Service(
            (*as_www, f"{MALLORY_HOME}/bin/nginx", f"{MALLORY_HOME}/fake.py", "8081", "-c", conf),
            8081,
        ),
    ]
    return spec


def canaries(lab: Lab | Iterable[HostSpec]) -> list[bytes]:
    """Every private key planted by the specs, without duplicates: the spec's declared
    canaries (bytes as planted: PEM text, encrypted PEM, OpenSSH; and each key's DER, PKCS#8
    and PKCS#1/SEC1), plus any PEM private-key block or DER private key found in a spec's
    File entries (so keys from `sample_files` or hand-written specs count too). Keys written
    later with `Lab.write_file` are not included.

    These encodings include public parts that certificates repeat: search for
    `canary_windows`, not for every window of these bytes.
    """
    specs = lab.specs if isinstance(lab, Lab) else list(lab)
    seen: dict[bytes, None] = {}
    for spec in specs:
        for c in spec.canaries:
            seen.setdefault(c, None)
        for entry in [*spec.files, *spec.after_start]:
            if not isinstance(entry, File):
                continue
            for m in _PEM_RE.finditer(entry.data):
                if m.group(1).endswith(b"PRIVATE KEY"):
                    seen.setdefault(m.group(0) + b"\n", None)
                    if m.group(1) != b"OPENSSH PRIVATE KEY":
                        with contextlib.suppress(ValueError, TypeError):
                            key = serialization.load_pem_private_key(m.group(0), None)
                            for der in _der_forms(key):
                                seen.setdefault(der, None)
            if entry.data[:1] == b"\x30":
                try:
                    serialization.load_der_private_key(entry.data, None)
                except (ValueError, TypeError):
                    continue
                seen.setdefault(entry.data, None)
    return list(seen)


def sample_files(now: dt.datetime) -> list[Entry]:
    """A few certificates and keys, identical wherever planted: a full chain and its key,
    a DER certificate, an expired certificate, a certificate expiring in 10 days."""
    h = pki.hierarchy(now, name="Sample")
    good = _leaf(h, "app.example.test", now, days_before=30, days_after=200)
    old = _leaf(h, "old.example.test", now, days_before=400, days_after=-3)
    soon = _leaf(h, "soon.example.test", now, days_before=80, days_after=10)
    return [
        File("/etc/ssl/local/app.example.test.fullchain.pem", pki.pem_bundle(good, h.intermediate)),
        File("/etc/ssl/private/app.example.test.key", good.key_pem(), 0o600),
        File("/etc/ssl/local/app.example.test.der", good.der),
        File("/etc/ssl/local/old.example.test.pem", old.pem),
        File("/etc/ssl/local/soon.example.test.pem", soon.pem),
        File("/etc/ssl/private/soon.example.test.key", soon.key_pem("traditional"), 0o600),
    ]


# ----------------------------------------------------------------------- leak detection

_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def _secret_values(key: Any) -> list[bytes]:
    """The private numbers of a key, as minimal big-endian bytes (how DER, SEC1 and OpenSSH
    carry them, give or take leading zeros)."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return [key.private_bytes_raw()]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        values = [key.private_numbers().private_value]
    elif isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        values = [n.d, n.p, n.q, n.dmp1, n.dmq1, n.iqmp]
    else:
        raise TypeError(f"unsupported key type {type(key).__name__}")
    return [v.to_bytes((v.bit_length() + 7) // 8, "big") for v in values]


def _der_content(data: bytes, offset: int) -> tuple[int, int, int]:
    """(content start, content end, next offset) of the DER element at offset."""
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    return start, start + length, start + length


def _secret_ranges(der: bytes, label: bytes | None) -> list[tuple[int, int]]:
    """Byte ranges of der that hold secret material."""
    if label == b"ENCRYPTED PRIVATE KEY":  # SEQUENCE { AlgorithmIdentifier, OCTET STRING }
        body, _, _ = _der_content(der, 0)
        _, _, after_alg = _der_content(der, body)
        start, end, _ = _der_content(der, after_alg)
        return [(start, end)]
    if label == b"OPENSSH PRIVATE KEY":
        key: Any = serialization.load_ssh_private_key(
            b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
            + base64.encodebytes(der)
            + b"-----END OPENSSH PRIVATE KEY-----\n",
            None,
        )
    else:
        key = serialization.load_der_private_key(der, None)
    ranges = []
    for value in _secret_values(key):
        at = der.find(value)
        while at != -1:
            ranges.append((at, at + len(value)))
            at = der.find(value, at + 1)
    if not ranges:
        raise ValueError("secret values not found in the key encoding")
    return ranges


def _is_text_secret(canary: bytes) -> bool:
    """A PIN or passphrase: short printable ASCII, secret in every byte (a key is DER or PEM)."""
    return len(canary) < 256 and canary.isascii() and canary.decode().isprintable()


def _overlap(lo: int, hi: int, ranges: list[tuple[int, int]]) -> int:
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in ranges)


def _windows(data: bytes, ranges: list[tuple[int, int]], size: int, least: int) -> set[bytes]:
    """Windows of data as raw bytes, hex and base64 (at the three alignments) that fully
    cover at least `least` bytes of the secret ranges."""
    out = set()
    for i in range(len(data) - size + 1):
        if _overlap(i, i + size, ranges) >= least:
            out.add(data[i : i + size])
    for text in (data.hex().encode(), data.hex().upper().encode()):
        for i in range(len(text) - size + 1):
            if _overlap((i + 1) // 2, (i + size) // 2, ranges) >= least:
                out.add(text[i : i + size])
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + data)
        first = -(-8 * shift // 6)  # first character with no bit of the padding prefix
        last = 8 * (shift + len(data)) // 6  # characters past this involve '=' padding
        for i in range(first, last - size + 1):
            lo, hi = -(-6 * i // 8) - shift, 6 * (i + size) // 8 - shift
            if _overlap(lo, hi, ranges) >= least:
                out.add(enc[i : i + size])
    return out


def canary_windows(lab: Lab | Iterable[HostSpec], size: int = 24) -> set[bytes]:
    """Every `size`-byte string whose presence would mean a planted private key leaked.

    For each canary: windows of its DER (raw, hex, base64 at each of the three alignments)
    and, for PEM canaries, of the PEM text itself (raw, so a copied PEM block is caught;
    hex; base64), keeping only windows that cover at least 4 bytes of secret material (the
    private numbers, or the ciphertext of an encrypted key). Algorithm identifiers and the
    public key are left out: certificates carry them too.
    """
    out: set[bytes] = set()
    for canary in canaries(lab):
        m = _PEM_RE.search(canary)
        if m is None and _is_text_secret(canary):
            out |= _windows(canary, [(0, len(canary))], size, 4)
            continue
        if m is None:
            out |= _windows(canary, _secret_ranges(canary, None), size, 4)
            continue
        label, body = m.group(1), m.group(2)
        der = binascii.a2b_base64(body)
        ranges = _secret_ranges(der, label)
        out |= _windows(der, ranges, size, 4)
        # Characters of the PEM text that encode secret bits.
        marked: list[tuple[int, int]] = []
        j = 0
        for pos in range(m.start(2), m.end(2)):
            if canary[pos] in b"\r\n=":
                continue
            if _overlap(6 * j // 8, (6 * j + 5) // 8 + 1, ranges):
                if marked and marked[-1][1] == pos:
                    marked[-1] = (marked[-1][0], pos + 1)
                else:
                    marked.append((pos, pos + 1))
            j += 1
        out |= _windows(canary, marked, size, 6)
    return out


def find_leaks(data: bytes, windows: set[bytes], size: int = 24) -> list[int]:
    """Offsets in data where a canary window starts (empty: nothing leaked)."""
    return [i for i in range(len(data) - size + 1) if data[i : i + size] in windows]
