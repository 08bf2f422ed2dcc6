"""manifest.json: what a run wrote, so a reports folder can be shown untouched later.

Every run writes `manifest.json` beside its reports, last, once the reports are renamed
into place: the run's id, the tool's version, when the run started and ended, the SHA-256
of the inventory (the file, or every file of the folder) and of the waivers file, every
output file with its SHA-256 and size, and the host coverage. `verify_folder` recomputes
it: an output whose bytes changed, one that is missing, and a file the manifest does not
list are each named. The manifest can be signed with an SSH key (audit.service.signing).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from audit.errors import AuditError
from audit.model import AuditResult
from audit.report.json import iso

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
MANIFEST_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024


class ManifestError(AuditError):
    """A folder without a usable manifest (missing, unreadable, malformed)."""


def tool_version() -> str:
    """The installed certaudit's version ("unknown" when it is not installed)."""
    try:
        return metadata.version("certaudit")
    except metadata.PackageNotFoundError:
        return "unknown"


def digest(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, size in bytes) of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _entry(name: str, path: Path) -> dict[str, Any]:
    sha, size = digest(path)
    return {"path": name, "sha256": sha, "size": size}


def source_digests(path: Path) -> list[dict[str, Any]]:
    """A file's digest, or the digest of every regular file under a folder (sorted,
    relative paths; symbolic links are not followed into other folders)."""
    if not path.is_dir():
        return [_entry(str(path), path)]
    out = []
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root, name)
            if full.is_file():
                out.append(_entry(full.relative_to(path).as_posix(), full))
    return sorted(out, key=lambda e: str(e["path"]))


@dataclass(frozen=True)
class Sources:
    """What a run read, hashed when it read it."""

    inventory: str
    inventory_files: tuple[Mapping[str, Any], ...]
    waivers: Mapping[str, Any] | None = None


def hash_sources(inventory: Path, waivers: Path | None) -> Sources:
    """The inventory's and the waivers file's digests (OSError when unreadable)."""
    return Sources(
        str(inventory),
        tuple(source_digests(inventory)),
        _entry(str(waivers), waivers) if waivers is not None else None,
    )


def build_manifest(
    result: AuditResult, outputs: Iterable[Path], sources: Sources
) -> dict[str, Any]:
    """The manifest document of a run whose reports are `outputs` (all in one folder)."""
    audited = sum(1 for r in result.hosts if r.outcome.audited)
    return {
        "manifest_version": MANIFEST_VERSION,
        "tool": "certaudit",
        "version": tool_version(),
        "run_id": result.run_id,
        "started_at": iso(result.started_at),
        "finished_at": iso(result.finished_at),
        "partial": result.partial,
        "inventory": {"path": sources.inventory, "files": list(sources.inventory_files)},
        "waivers": dict(sources.waivers) if sources.waivers is not None else None,
        "outputs": [_output(p) for p in sorted(outputs, key=lambda p: p.name)],
        "coverage": {"audited": audited, "total": len(result.hosts)},
    }


def _output(path: Path) -> dict[str, Any]:
    sha, size = digest(path)
    return {"name": path.name, "sha256": sha, "size": size}


def write_manifest(out_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Write manifest.json into out_dir (staged, fsynced, renamed). A signature left by
    an earlier run is removed first: it signs another manifest."""
    (out_dir / SIGNATURE).unlink(missing_ok=True)
    data = (json.dumps(manifest, indent=2, ensure_ascii=True) + "\n").encode("ascii")
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_dir / MANIFEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_dir / MANIFEST


@dataclass(frozen=True)
class Claim:
    """One output as the manifest states it."""

    name: str
    sha256: str
    size: int


def _claims(doc: Any, where: Path) -> tuple[Claim, ...]:
    """The manifest's outputs, checked; ManifestError when its shape is wrong."""

    def bad(why: str) -> ManifestError:
        return ManifestError(f"{where}: not a certaudit manifest ({why})")

    if not isinstance(doc, dict) or doc.get("manifest_version") != MANIFEST_VERSION:
        raise bad(f"manifest_version is not {MANIFEST_VERSION}")
    outputs = doc.get("outputs")
    if not isinstance(outputs, list):
        raise bad("no outputs list")
    claims: list[Claim] = []
    for i, item in enumerate(outputs):
        name = item.get("name") if isinstance(item, dict) else None
        sha = item.get("sha256") if isinstance(item, dict) else None
        size = item.get("size") if isinstance(item, dict) else None
        if (
            not isinstance(name, str)
            or name in ("", ".", "..", MANIFEST, SIGNATURE)
            or "/" in name
            or "\\" in name
            or "\0" in name
        ):
            raise bad(f"outputs[{i}] has no usable file name")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise bad(f"outputs[{i}] ({name}) has no SHA-256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad(f"outputs[{i}] ({name}) has no size")
        if any(c.name == name for c in claims):
            raise bad(f"{name} is listed twice")
        claims.append(Claim(name, sha, size))
    return tuple(claims)


def read_manifest(folder: Path) -> tuple[dict[str, Any], tuple[Claim, ...]]:
    """The manifest of a reports folder and its outputs; ManifestError when missing or
    malformed."""
    path = folder / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: no manifest", hint="manifest.json is written by `certaudit run`"
        ) from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from None
    return doc, _claims(doc, path)


@dataclass(frozen=True)
class Verification:
    """What verify_folder found. `ok` when nothing changed, is missing or (unless
    allowed) extra."""

    manifest: Mapping[str, Any]
    checked: tuple[str, ...] = ()
    """Outputs whose bytes match."""
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    """Files in the folder the manifest does not list (besides it and its signature)."""
    allow_extra: bool = False

    @property
    def ok(self) -> bool:
        return not self.changed and not self.missing and (self.allow_extra or not self.extra)


def verify_folder(folder: Path, *, allow_extra: bool = False) -> Verification:
    """Recompute every output's digest against the manifest. Raises ManifestError when the
    manifest is missing or malformed (and when the folder is not one)."""
    if not folder.is_dir():
        raise ManifestError(f"{folder}: not a folder")
    doc, claims = read_manifest(folder)
    checked: list[str] = []
    changed: list[str] = []
    missing: list[str] = []
    for claim in claims:
        path = folder / claim.name
        if not path.is_file():
            missing.append(claim.name)
            continue
        try:
            sha, size = digest(path)
        except OSError:
            changed.append(claim.name)  # unreadable: its bytes cannot be vouched for
            continue
        (checked if (sha, size) == (claim.sha256, claim.size) else changed).append(claim.name)
    listed = {c.name for c in claims} | {MANIFEST, SIGNATURE}
    extra = sorted(p.name for p in folder.iterdir() if p.name not in listed)
    return Verification(
        doc, tuple(checked), tuple(changed), tuple(missing), tuple(extra), allow_extra
    )


def describe(v: Verification) -> Sequence[str]:
    """One line per problem, for the terminal."""
    lines = [f"changed: {name}" for name in v.changed]
    lines += [f"missing: {name}" for name in v.missing]
    lines += [
        f"{'extra (allowed)' if v.allow_extra else 'extra'}: {name} is not in the manifest"
        for name in v.extra
    ]
    return lines
