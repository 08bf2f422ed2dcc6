"""Certificate records of one host -> FoundCert and Unparseable, every place kept.

A file's certificates are found at the file itself and at every name that leads to it
(symlinks, symlinked folders); each place gets its location kind (system bundle, certbot
archive, kubeconfig, file). One odd record costs that record, never the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from audit.certparse import ParsedItem, parse_bytes
from audit.collect.fields import display
from audit.model import CertLocation, FoundCert, LocationKind, Unparseable

KNOWN_BUNDLES = frozenset(
    {
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/pki/tls/certs/ca-bundle.trust.crt",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/ssl/cert.pem",
        "/etc/ssl/ca-bundle.pem",
        "/etc/pki/tls/cacert.pem",
        "/etc/ca-certificates/extracted/tls-ca-bundle.pem",
    }
)
"""System CA bundle files: every certificate in them is a trust anchor."""

CA_FOLDERS = (
    "/etc/ssl/certs/",
    "/etc/pki/ca-trust/",
    "/usr/share/ca-certificates/",
    "/usr/local/share/ca-certificates/",
    "/etc/ca-certificates/",
    "/usr/share/pki/ca-trust-source/",
)
"""Folders of the system trust store. A CA certificate there is kind "ca_bundle"; a leaf
someone stored there (Debian's snakeoil, an admin's server certificate) stays "file"."""

ARCHIVE_FOLDER = "/etc/letsencrypt/archive/"
"""certbot's archive under its default configuration folder (the archive_dir of every
renewal configuration read counts too)."""


@dataclass
class CertRecord:
    """One certificate record (PEM, KPEM, DER) or one that was not sent (BAD, BADDER)."""

    tag: str
    path: bytes
    number: int
    payload: bytes = b""
    label: bytes = b""
    trailing: bool = False
    bad: str = ""


@dataclass
class Files:
    """What the records say about the files of one host."""

    host: str
    records: dict[bytes, list[CertRecord]] = field(default_factory=dict)
    file_links: dict[bytes, list[bytes]] = field(default_factory=dict)
    """Target -> the symlinks that lead to it."""
    dir_links: list[tuple[bytes, bytes]] = field(default_factory=list)
    bundles: list[bytes] = field(default_factory=list)
    archives: list[str] = field(default_factory=list)
    """certbot archive folders renewal configurations name (each ending in "/")."""


def _items(rec: CertRecord) -> list[ParsedItem]:
    if rec.tag == "DER":
        return parse_bytes(rec.payload)
    label = rec.label.replace(b"_", b" ")
    body = rec.payload
    wrapped = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem = b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, wrapped, label)
    return parse_bytes(pem)


def _kind(path: str, is_ca: bool, places: _Places) -> LocationKind:
    bundles, linked = places.bundles, places.linked
    if path in bundles:
        return LocationKind.CA_BUNDLE
    if any(path.startswith(folder) for folder in CA_FOLDERS):
        return LocationKind.CA_BUNDLE if is_ca else LocationKind.FILE
    archived = path.startswith(ARCHIVE_FOLDER) or any(path.startswith(a) for a in places.archives)
    if archived and not linked:
        return LocationKind.ARCHIVE
    return LocationKind.FILE


def _aliases(state: Files, path: bytes) -> Iterable[bytes]:
    yield from state.file_links.get(path, ())
    for link, target in state.dir_links:
        if path.startswith(target.rstrip(b"/") + b"/"):
            yield link.rstrip(b"/") + path[len(target.rstrip(b"/")) :]
        elif path == target:
            yield link


def certificates(state: Files) -> tuple[list[FoundCert], list[Unparseable]]:
    """Every certificate of the host at every place, and what did not parse."""
    bundles = {display(b) for b in state.bundles} | KNOWN_BUNDLES
    found: list[FoundCert] = []
    unparseable: list[Unparseable] = []
    for path, recs in state.records.items():
        shown = display(path)
        places = _Places(path, list(dict.fromkeys(_aliases(state, path))), bundles, state.archives)
        places.linked = path in state.file_links
        index = 0
        for rec in recs:
            try:
                index = _certificates_of(state, rec, places, index, found, unparseable)
            except Exception as exc:  # one odd record costs that record
                reason = f"could not be read ({type(exc).__name__})"
                unparseable.append(Unparseable(state.host, shown, reason, index))
                index += 1
    return found, unparseable


@dataclass
class _Places:
    """Where the certificates of one file are: the file and the names that lead to it."""

    path: bytes
    aliases: list[bytes]
    bundles: set[str]
    archives: list[str]
    linked: bool = False


def _certificates_of(
    state: Files,
    rec: CertRecord,
    places: _Places,
    index: int,
    found: list[FoundCert],
    unparseable: list[Unparseable],
) -> int:
    """Adds what one record holds; returns the index of the next block of its file."""
    shown = display(places.path)
    if rec.bad:
        unparseable.append(Unparseable(state.host, shown, rec.bad, index))
        return index + 1
    items = _items(rec)
    if not items:
        reason = "no certificate in a block that looked like one"
        unparseable.append(Unparseable(state.host, shown, reason, index))
        return index + 1
    new: list[FoundCert] = []
    for item in items:
        if item.cert is None:
            reason = item.error or "does not parse"
            unparseable.append(Unparseable(state.host, shown, reason, index))
            index += 1
            continue
        cert = item.cert
        if rec.trailing:
            note = "trailing bytes after the DER certificate (not collected)"
            cert = replace(cert, warnings=cert.warnings + (note,))
        for where in (places.path, *places.aliases):
            where_shown = display(where)
            if rec.tag == "KPEM":
                kind = LocationKind.KUBECONFIG
            else:
                kind = _kind(where_shown, cert.is_ca, places)
            location = CertLocation(state.host, where_shown, kind, index, item.format)
            new.append(FoundCert(cert, location))
        index += 1
    found.extend(new)
    return index
