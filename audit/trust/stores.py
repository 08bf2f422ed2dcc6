"""The trust stores a chain is judged against, and where their certificates come from.

Mozilla's roots come from certifi; a --cafile is a PEM/DER/PKCS#7 file or a folder of them;
a host's OS store is the certificates collected from its CA bundles. Fleet intermediates
(CA certificates deployed anywhere but a CA bundle) are the candidates that may complete a
chain a server sends incomplete.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from audit.certparse import load_pem_or_der
from audit.model import CertInfo, HostResult, LocationKind

STORE_NAMES = {
    "mozilla": "Mozilla's root store",
    "cafile": "the given CA file",
    "host": "the host's OS store",
}
"""Human names of the stores, for verdict details."""

DEFAULT_HOST_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class TrustStores:
    """The trust stores a chain is judged against. An empty store is not in use."""

    mozilla: tuple[CertInfo, ...]
    """Mozilla's root program (certifi): what Firefox/NSS and most language runtimes use."""
    host: tuple[CertInfo, ...] = ()
    """The audited host's OS store (its system CA bundle), when collected."""
    cafile: tuple[CertInfo, ...] = ()
    """Roots the user declared trusted with --cafile (an internal CA)."""
    mozilla_path: str = ""
    """Where the Mozilla bundle is on this machine (for diagnose commands)."""
    host_path: str = ""
    """The host's bundle path (for diagnose commands run on the host)."""
    cafile_path: str = ""
    """The --cafile path (for diagnose commands)."""

    def in_use(self) -> list[tuple[str, tuple[CertInfo, ...]]]:
        """(name, certificates) of every non-empty store, Mozilla first."""
        named = (("mozilla", self.mozilla), ("cafile", self.cafile), ("host", self.host))
        return [(name, certs) for name, certs in named if certs]

    def path_of(self, name: str) -> str:
        """The PEM file to pass as -CAfile for a store ("" when unknown)."""
        if name == "mozilla":
            return self.mozilla_path or _certifi_where()
        if name == "cafile":
            return self.cafile_path
        if name == "host":
            return self.host_path or DEFAULT_HOST_BUNDLE
        return ""


def _certifi_where() -> str:
    import certifi

    return str(certifi.where())


@functools.lru_cache(maxsize=1)
def mozilla_roots() -> tuple[CertInfo, ...]:
    """Mozilla's roots as shipped by certifi (read once per process)."""
    with open(_certifi_where(), "rb") as fh:
        return tuple(load_pem_or_der(fh.read()))


def load_cafile(path: str) -> tuple[CertInfo, ...]:
    """Every certificate in a PEM/DER/PKCS#7 file, or in every file of a directory.

    Raises OSError when the path cannot be read (the CLI turns it into an exit code);
    unparseable blocks are skipped.
    """
    if os.path.isdir(path):
        certs: list[CertInfo] = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                with open(full, "rb") as fh:
                    certs.extend(load_pem_or_der(fh.read()))
        return tuple(certs)
    with open(path, "rb") as fh:
        return tuple(load_pem_or_der(fh.read()))


def default_stores(
    cafile: str | None = None,
    host: Sequence[CertInfo] = (),
    host_path: str = "",
) -> TrustStores:
    """Mozilla's roots, plus a --cafile and a host store when given."""
    return TrustStores(
        mozilla=mozilla_roots(),
        host=tuple(host),
        cafile=load_cafile(cafile) if cafile else (),
        mozilla_path=_certifi_where(),
        host_path=host_path,
        cafile_path=cafile or "",
    )


def host_store(result: HostResult) -> tuple[CertInfo, ...]:
    """The OS store of an audited host: the certificates collected from its CA bundles."""
    return tuple(f.cert for f in result.certificates if f.location.kind is LocationKind.CA_BUNDLE)


def fleet_intermediates(hosts: Iterable[HostResult]) -> tuple[CertInfo, ...]:
    """CA certificates deployed anywhere in the fleet (not in CA bundles), deduplicated.

    These are the candidates that may complete a chain a server sends incomplete (certbot's
    chain.pem, a vendor's intermediate.crt lying beside the leaf).
    """
    seen: dict[str, CertInfo] = {}
    for h in hosts:
        for found in h.certificates:
            cert = found.cert
            if found.location.kind is LocationKind.CA_BUNDLE or not cert.is_ca or cert.self_signed:
                continue
            seen.setdefault(cert.sha256, cert)
    return tuple(seen.values())
