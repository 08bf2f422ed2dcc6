"""The migration view of a run: per deployed certificate and host, everything that moves
with it when it is replaced or re-issued by another CA.

One row per (certificate, host): the files, listeners and configuration lines that carry
it, its issuer and whether that issuer is a private CA (`private_ca`: false when its chain,
followed through the run's own certificates, reaches one of Mozilla's roots; true when it
ends at a CA the run holds that is not one; null when the issuer is nowhere in the run),
and its private key's location and mode: the key the configuration names beside it, else
key files on the same host found by the certificate file's name (`app.pem` -> `app.key`,
`private/app.key`; certbot's `cert.pem` / `fullchain.pem` -> `privkey.pem`), best effort.
Rows are sorted so that what moves together is together: by issuer, then certificate,
then host.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from audit.model import AuditResult, CertInfo, HostResult, KeyFile, LocationKind
from audit.report.view import host_locations

_CERTBOT_CERTS = ("cert.pem", "fullchain.pem", "chain.pem")
_KEY_SUFFIXES = (".key", ".pem", ".key.pem", "-key.pem", "_key.pem")


def public_issuers(roots: Iterable[CertInfo], certs: Iterable[CertInfo]) -> frozenset[str]:
    """Issuer names whose chain reaches a public root: the roots' subjects, then (until
    nothing changes) the subjects of the run's CA certificates issued under one."""
    public = {r.subject for r in roots}
    cas = [c for c in certs if c.is_ca and not c.self_issued]
    grew = True
    while grew:
        grew = False
        for c in cas:
            if c.subject not in public and c.issuer in public:
                public.add(c.subject)
                grew = True
    return frozenset(public)


@dataclass
class _Place:
    """What one host holds of one certificate."""

    files: set[str] = field(default_factory=set)
    listeners: set[str] = field(default_factory=set)
    config_lines: set[str] = field(default_factory=set)
    keys: dict[str, str] = field(default_factory=dict)
    """Key path -> "mode owner:group" (or "not collected" when only configured)."""


def _key_text(k: KeyFile) -> str:
    return f"{k.mode & 0o7777:04o} {k.owner}:{k.group}"


def _stem(name: str) -> str:
    for suffix in (".fullchain.pem", ".crt.pem", ".cert.pem", ".crt", ".cer", ".pem", ".der"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return posixpath.splitext(name)[0]


def keys_beside(path: str, keys: Mapping[str, KeyFile]) -> list[KeyFile]:
    """Key files that belong to the certificate file at `path`, by name (best effort):
    the file itself (a certificate and key in one file), certbot's privkey.pem, and the
    same name with a key suffix beside it or in a private/ folder beside it or its folder."""
    folder, name = posixpath.split(path)
    candidates = [path]
    if name in _CERTBOT_CERTS:
        candidates.append(posixpath.join(folder, "privkey.pem"))
    stem = _stem(name)
    private = (
        posixpath.join(folder, "private"),
        posixpath.join(posixpath.dirname(folder), "private"),
    )
    for where in (folder, *private):
        candidates += [posixpath.join(where, stem + suffix) for suffix in _KEY_SUFFIXES]
    return [keys[c] for c in dict.fromkeys(candidates) if c in keys]


def _host_places(r: HostResult) -> dict[str, _Place]:
    """Certificate SHA-256 -> what this host holds of it (deployed locations only)."""
    places: dict[str, _Place] = {}
    keys = {k.path: k for k in r.key_files}
    for cert, loc in host_locations(r):
        if not loc.kind.deployed:
            continue
        place = places.setdefault(cert.sha256, _Place())
        if loc.kind is LocationKind.LISTENER:
            sni = f" ({loc.servername})" if loc.servername else ""
            place.listeners.add(f"{loc.path}{sni}")
            continue
        place.files.add(loc.path)
        if loc.index == 0 and not cert.is_ca:  # a key belongs to the first certificate
            for k in keys_beside(loc.path, keys):
                place.keys.setdefault(k.path, _key_text(k))
    leaves = {
        loc.path: cert.sha256
        for cert, loc in host_locations(r)
        if loc.index == 0 and loc.kind.deployed and not cert.is_ca
    }
    for sha, place in places.items():
        for c in r.tls_configs:
            if c.cert_file not in place.files:
                continue
            if c.cert_config_file and c.cert_config_line:
                place.config_lines.add(f"{c.cert_config_file}:{c.cert_config_line}")
            else:
                place.config_lines.add(f"{c.file}:{c.line}")
            if c.key_file and leaves.get(c.cert_file) == sha:
                known = keys.get(c.key_file)
                place.keys[c.key_file] = _key_text(known) if known else "not collected"
        for li in r.listeners:
            if li.cert_file in place.files and li.config_file and li.config_line:
                place.config_lines.add(f"{li.config_file}:{li.config_line}")
    return places


def _private(cert: CertInfo, public: frozenset[str], seen: set[str]) -> bool | None:
    if cert.issuer in public:
        return False
    return True if cert.issuer in seen else None


COLUMNS = (
    "issuer",
    "private_ca",
    "cert_sha256",
    "common_name",
    "dns_names",
    "not_after",
    "host",
    "files",
    "listeners",
    "config_lines",
    "key_files",
    "key_modes",
)


def migration_rows(result: AuditResult, roots: Sequence[CertInfo]) -> list[dict[str, object]]:
    """One row per deployed certificate and host, sorted by issuer, certificate, host."""
    certs: dict[str, CertInfo] = {}
    for r in result.hosts:
        for cert, _loc in host_locations(r):
            certs.setdefault(cert.sha256, cert)
    public = public_issuers(roots, certs.values())
    seen = {c.subject for c in certs.values()}
    rows: list[dict[str, object]] = []
    for r in result.hosts:
        for sha, place in _host_places(r).items():
            cert = certs[sha]
            keys = sorted(place.keys.items())
            rows.append(
                {
                    "issuer": cert.issuer,
                    "private_ca": _private(cert, public, seen),
                    "cert_sha256": sha,
                    "common_name": cert.common_name,
                    "dns_names": list(cert.dns_names),
                    "not_after": cert.not_after,
                    "host": r.host.name,
                    "files": sorted(place.files),
                    "listeners": sorted(place.listeners),
                    "config_lines": sorted(place.config_lines),
                    "key_files": [path for path, _ in keys],
                    "key_modes": [mode for _, mode in keys],
                }
            )
    return sorted(
        rows,
        key=lambda row: (
            str(row["issuer"]),
            str(row["common_name"] or ""),
            str(row["cert_sha256"]),
            str(row["host"]),
        ),
    )
