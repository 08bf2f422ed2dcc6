"""The remote collection script: a fixed, reviewed text plus quoted parameters.

The runner sends the bytes of `build_script()` on the stdin of `sh -s` (or `sudo -n sh -s`);
nothing from the inventory ever goes on a command line. Parameters are prepended as
single-quoted shell words, so a path such as `$(reboot)` stays a literal string.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DEFAULT_ROOTS: tuple[str, ...] = (
    "/etc/ssl",
    "/etc/pki",
    "/etc/letsencrypt",
    "/etc/nginx",
    "/etc/apache2",
    "/etc/httpd",
    "/etc/haproxy",
    "/etc/kubernetes",
    "/var/lib/kubelet/pki",
    "/usr/local/share/ca-certificates",
)
"""Folders walked on every host unless the caller passes its own `roots`."""

DEFAULT_WEB_CONFIGS: tuple[tuple[str, str], ...] = (
    ("nginx", "/etc/nginx/nginx.conf"),
    ("nginx", "/usr/local/nginx/conf/nginx.conf"),
    ("nginx", "/usr/local/etc/nginx/nginx.conf"),
    ("apache", "/etc/apache2/apache2.conf"),
    ("apache", "/etc/httpd/conf/httpd.conf"),
    ("apache", "/usr/local/apache2/conf/httpd.conf"),
    ("apache", "/usr/local/etc/apache24/httpd.conf"),
    ("haproxy", "/etc/haproxy/haproxy.cfg"),
    ("haproxy", "/usr/local/etc/haproxy/haproxy.cfg"),
)
"""Main configuration files read for TLS directives (with what they include), in addition
to the -c/-f files of running servers. Missing ones are skipped silently."""


@dataclass(frozen=True)
class RenewalPaths:
    """Where the renewal pipelines are read on a host (tests point them at a tree)."""

    certbot_config: tuple[str, ...] = ("/etc/letsencrypt",)
    """certbot configuration folders; units, cron lines and cli.ini may name more."""
    certbot_logs: tuple[str, ...] = ("/var/log/letsencrypt",)
    unit_dirs: tuple[str, ...] = (
        "/etc/systemd/system",
        "/run/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
    )
    """systemd unit folders, highest precedence first."""
    timer_stamps: str = "/var/lib/systemd/timers"
    cron: tuple[str, ...] = (
        "/etc/crontab",
        "/etc/cron.d",
        "/var/spool/cron/crontabs/root",
        "/var/spool/cron/root",
    )
    acme_sh: tuple[str, ...] = ("/root/.acme.sh",)
    caddy: tuple[str, ...] = (
        "/var/lib/caddy/.local/share/caddy",
        "/root/.local/share/caddy",
    )
    kubernetes: str = "/etc/kubernetes"
    kubelet: str = "/var/lib/kubelet"
    systemd_runtime: str = "/run/systemd/system"
    """Exists when systemd is PID 1 (Debian's certbot cron line tests it)."""
    systemctl: bool = True
    """Ask `systemctl show` (it answers only where systemd runs)."""
    kubeadm: bool = True
    """Run `kubeadm certs check-expiration` where kubeadm is installed (read-only)."""


def _renewal_header(paths: RenewalPaths | None) -> bytes:
    if paths is None:
        return b"CA_RENEW=\n"
    lists = {
        "CA_RN_CONF": paths.certbot_config,
        "CA_RN_LOGS": paths.certbot_logs,
        "CA_RN_UNITS": paths.unit_dirs,
        "CA_RN_STAMPS": (paths.timer_stamps,),
        "CA_RN_CRON": paths.cron,
        "CA_RN_ACME": paths.acme_sh,
        "CA_RN_CADDY": paths.caddy,
        "CA_RN_KUBE": (paths.kubernetes,),
        "CA_RN_KUBELET": (paths.kubelet,),
        "CA_RN_SDRUN": (paths.systemd_runtime,),
    }
    out = [b"CA_RENEW=1\n"]
    for name, values in lists.items():
        if any("\n" in v for v in values):
            raise ValueError(f"{name}: a newline in a path")
        out.append(name.encode() + b"=" + shell_quote("\n".join(_normalise(v) for v in values)))
        out.append(b"\n")
    out.append(b"CA_RN_SYSTEMCTL=%s\n" % (b"1" if paths.systemctl else b""))
    out.append(b"CA_RN_KUBEADM=%s\n" % (b"1" if paths.kubeadm else b""))
    return b"".join(out)


_WEB_TAGS = {"nginx": "n", "apache": "a", "haproxy": "h"}

_NONCE = re.compile(r"[A-Za-z0-9]{16,64}")


def new_nonce() -> str:
    """A fresh random frame marker (32 hex characters) for one run of the script."""
    return secrets.token_hex(16)


@lru_cache(maxsize=1)
def script_text() -> bytes:
    """The fixed part of the script, as shipped in the package: the renewal pipelines'
    definitions (renewal.sh), then the collector that uses them (remote.sh)."""
    folder = resources.files("audit.collect")
    return folder.joinpath("renewal.sh").read_bytes() + folder.joinpath("remote.sh").read_bytes()


def shell_quote(value: str | bytes) -> bytes:
    """One single-quoted shell word with exactly these bytes. Raises ValueError on NUL."""
    raw = os.fsencode(value) if isinstance(value, str) else bytes(value)
    if b"\x00" in raw:
        raise ValueError("a NUL byte cannot be passed to a shell")
    return b"'" + raw.replace(b"'", b"'\\''") + b"'"


def _normalise(path: str) -> str:
    stripped = path.rstrip("/")
    return stripped if stripped else path[:1]


def build_script(
    *,
    nonce: str,
    extra_paths: Sequence[str] = (),
    roots: Sequence[str] | None = None,
    max_file_bytes: int = 1_000_000,
    max_files_per_root: int = 20_000,
    listeners: bool = True,
    web_configs: Sequence[tuple[str, str]] | None = None,
    renewal: RenewalPaths | None = RenewalPaths(),  # noqa: B008 - frozen, never mutated
) -> bytes:
    """The complete script for one host.

    `roots=None` walks DEFAULT_ROOTS. `extra_paths` (files or folders, e.g. from
    certaudit_cert_paths) are walked too; one that does not exist is reported, while a
    missing default root is not. Paths that are not absolute are reported and skipped on
    the host. `listeners` adds the listening sockets, the web servers' TLS configuration
    (`web_configs`, (server, main file) pairs; None = DEFAULT_WEB_CONFIGS plus the files
    running servers were started with, `-c`/`-f`) and the public-key digests of the keys
    it names. `renewal` reads the renewal pipelines there (certbot, its timers and cron
    entries, other ACME clients, the kubelet's rotation, kubeadm); None leaves them out.
    Raises ValueError for a malformed nonce, a NUL in a path, a bad limit or an
    unknown server.
    """
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise ValueError("nonce must be 16-64 ASCII letters or digits")
    for name, limit in (
        ("max_file_bytes", max_file_bytes),
        ("max_files_per_root", max_files_per_root),
    ):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"{name} must be a positive integer")
    base = DEFAULT_ROOTS if roots is None else tuple(roots)
    words = [shell_quote("d" + _normalise(p)) for p in base]
    words += [shell_quote("x" + _normalise(p)) for p in extra_paths]
    for server, path in DEFAULT_WEB_CONFIGS if web_configs is None else web_configs:
        if server not in _WEB_TAGS:
            raise ValueError(f"unknown web server {server!r}")
        words.append(shell_quote(_WEB_TAGS[server] + path))
    header = b"".join(
        (
            b"# certaudit collection script; parameters first, then the fixed text.\n",
            b"CA_NONCE=" + shell_quote(nonce) + b"\n",
            b"CA_MAXB=%d\n" % max_file_bytes,
            b"CA_MAXF=%d\n" % max_files_per_root,
            b"CA_LISTEN=%s\n" % (b"1" if listeners else b""),
            b"CA_PROCCONF=%s\n" % (b"1" if web_configs is None else b""),
            _renewal_header(renewal),
            b"set -- " + b" ".join(words) + b"\n",
        )
    )
    return header + script_text()
