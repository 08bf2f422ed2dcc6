"""Signing manifest.json with an SSH key, and checking such a signature, by ssh-keygen.

`ssh-keygen -Y sign -f KEY -n certaudit-manifest manifest.json` writes
manifest.json.sig; `ssh-keygen -Y verify -f ALLOWED_SIGNERS -I IDENTITY -n
certaudit-manifest -s manifest.json.sig` reads the manifest on stdin. ssh-keygen runs
with a fixed argument vector (no shell), no stdin of its own when signing, in a session
of its own (so it cannot prompt on the terminal for a passphrase) and under a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from audit.errors import AuditError, ConfigError
from audit.service.evidence import MANIFEST, SIGNATURE

NAMESPACE = "certaudit-manifest"
"""The signature namespace: a signature made for anything else does not verify here."""
TIMEOUT = 60.0
_OUTPUT_CAP = 2000


class SigningError(AuditError):
    """ssh-keygen is missing, failed, or did not finish in time."""


def ssh_keygen() -> str:
    """The ssh-keygen on PATH; ConfigError when there is none."""
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ConfigError(
            "ssh-keygen not found on PATH: needed to sign or check manifest signatures",
            hint="install OpenSSH's client tools (Debian: openssh-client)",
        )
    return found


def check_key(key: Path) -> None:
    """Before a run: the signing key is a readable file and ssh-keygen is there."""
    if not key.is_file() or not os.access(key, os.R_OK):
        raise ConfigError(f"--sign-key {key}: no such file, or not readable")
    ssh_keygen()


def _run(argv: list[str], stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(  # noqa: S603 - fixed argument vector, no shell
            argv,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            timeout=TIMEOUT,
            start_new_session=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SigningError(f"ssh-keygen did not finish within {TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise SigningError(f"cannot run ssh-keygen ({exc.strerror or exc})") from None


def _said(done: subprocess.CompletedProcess[bytes]) -> str:
    text = (done.stderr or done.stdout or b"").decode("utf-8", "replace").strip()
    return text[:_OUTPUT_CAP] or f"exit status {done.returncode}"


def sign(folder: Path, key: Path) -> Path:
    """Sign folder/manifest.json with the SSH private key; returns manifest.json.sig."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise SigningError(f"{manifest}: no manifest to sign")
    signature = folder / SIGNATURE
    signature.unlink(missing_ok=True)  # ssh-keygen asks before overwriting
    argv = [ssh_keygen(), "-q", "-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(manifest)]
    done = _run(argv, None)
    if done.returncode != 0 or not signature.is_file():
        signature.unlink(missing_ok=True)
        raise SigningError(f"ssh-keygen could not sign {manifest} with {key}: {_said(done)}")
    return signature


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    detail: str
    """What ssh-keygen said (the signer on success, the reason otherwise)."""


def check_signature(folder: Path, allowed_signers: Path, identity: str) -> SignatureCheck:
    """Whether manifest.json.sig is a good signature of manifest.json by `identity` as
    allowed_signers lists it. SigningError when ssh-keygen cannot be run."""
    manifest, signature = folder / MANIFEST, folder / SIGNATURE
    if not signature.is_file():
        return SignatureCheck(False, f"{signature}: no signature")
    if not allowed_signers.is_file():
        raise ConfigError(f"--allowed-signers {allowed_signers}: no such file")
    argv = [
        ssh_keygen(),
        "-Y",
        "verify",
        "-f",
        str(allowed_signers),
        "-I",
        identity,
        "-n",
        NAMESPACE,
        "-s",
        str(signature),
    ]
    done = _run(argv, manifest.read_bytes())
    return SignatureCheck(done.returncode == 0, _said(done))
