"""audit.trust.stores: Mozilla's roots, --cafile files and folders, host and fleet stores."""

from __future__ import annotations

import pytest

from audit.model import (
    CertInfo,
    CertLocation,
    FoundCert,
    Host,
    HostOutcome,
    HostResult,
    LocationKind,
)
from audit.trust import fleet_intermediates, host_store, load_cafile, mozilla_roots
from tests import pki
from tests.rules.kit import NOW, info, world


def test_mozilla_roots_and_cafile(tmp_path) -> None:  # type: ignore[no-untyped-def]
    roots = mozilla_roots()
    assert len(roots) > 50 and all(r.is_ca for r in roots[:10])
    assert mozilla_roots() is roots  # cached
    one = tmp_path / "ca.pem"
    one.write_bytes(pki.pem_bundle(world().private.root, world().os_only.root))
    assert [c.common_name for c in load_cafile(str(one))] == ["Private Root CA", "OSOnly Root CA"]
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "a.crt").write_bytes(world().private.root.pem)
    (folder / "b.der").write_bytes(world().os_only.root.der)
    assert len(load_cafile(str(folder))) == 2
    with pytest.raises(OSError):
        load_cafile(str(tmp_path / "missing.pem"))


def test_host_store_and_fleet_intermediates() -> None:
    root, inter = info(world().public.root, world().public.intermediate)
    lf = info(world().public.leaf("www.example.com", now=NOW))[0]

    def found(cert: CertInfo, kind: LocationKind, path: str) -> FoundCert:
        return FoundCert(cert, CertLocation(host="h", path=path, kind=kind))

    result = HostResult(
        host=Host(name="h", address="h"),
        outcome=HostOutcome.OK,
        certificates=(
            found(root, LocationKind.CA_BUNDLE, "/etc/ssl/certs/ca-certificates.crt"),
            found(inter, LocationKind.FILE, "/etc/letsencrypt/live/x/chain.pem"),
            found(lf, LocationKind.FILE, "/etc/letsencrypt/live/x/cert.pem"),
            found(root, LocationKind.FILE, "/srv/root.pem"),
        ),
    )
    assert host_store(result) == (root,)
    assert fleet_intermediates([result, result]) == (inter,)
