"""`certaudit verify DIR` and `certaudit sign DIR`: the evidence a run leaves behind.

verify recomputes manifest.json (and, given --allowed-signers and --identity, checks its
SSH signature): exit 0 "verified" for an untouched folder, 1 naming each output that
changed, is missing, or each file the manifest does not list, 2 when there is no usable
manifest (or ssh-keygen cannot be run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.cli import app
from audit.cli.terminal import error_text, safe
from audit.errors import AuditError
from audit.service.evidence import SIGNATURE, Verification, describe, verify_folder
from audit.service.policy import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from audit.service.signing import check_signature, sign


def _verified(folder: Path, allow_extra: bool) -> Verification:
    try:
        return verify_folder(folder, allow_extra=allow_extra)
    except AuditError as exc:
        typer.echo(error_text(exc), err=True)
        raise typer.Exit(EXIT_ERROR) from None


@app.command("verify")
def verify_command(
    folder: Annotated[Path, typer.Argument(help="A reports folder written by `certaudit run`.")],
    allowed_signers: Annotated[
        Path | None,
        typer.Option(
            "--allowed-signers",
            help="ssh-keygen allowed_signers file: also check manifest.json.sig.",
        ),
    ] = None,
    identity: Annotated[
        str | None,
        typer.Option("--identity", help="The signer's identity in the allowed_signers file."),
    ] = None,
    allow_extra: Annotated[
        bool,
        typer.Option("--allow-extra", help="Files the manifest does not list are not an error."),
    ] = False,
) -> None:
    """Check that a reports folder is exactly what its run wrote (manifest.json)."""
    if (allowed_signers is None) != (identity is None):
        typer.echo("certaudit: error: --allowed-signers and --identity go together", err=True)
        raise typer.Exit(EXIT_ERROR)
    v = _verified(folder, allow_extra)
    run = v.manifest.get("run_id")
    for line in describe(v):
        typer.echo(f"{safe(folder)}: {safe(line)}", err=not line.startswith("extra (allowed)"))
    ok = v.ok
    if allowed_signers is not None and identity is not None:
        try:
            signed = check_signature(folder, allowed_signers, identity)
        except AuditError as exc:
            typer.echo(error_text(exc), err=True)
            raise typer.Exit(EXIT_ERROR) from None
        state = "good" if signed.ok else "BAD"
        typer.echo(f"{safe(folder)}: signature {state}: {safe(signed.detail)}", err=not signed.ok)
        ok = ok and signed.ok
    elif (folder / SIGNATURE).is_file():
        typer.echo(
            f"{safe(folder)}: {SIGNATURE} not checked (give --allowed-signers and --identity)"
        )
    if not ok:
        typer.echo(f"{safe(folder)}: NOT verified (run {safe(run)})", err=True)
        raise typer.Exit(EXIT_FINDINGS)
    typer.echo(f"{safe(folder)}: verified: run {safe(run)}, {len(v.checked)} file(s) unchanged")
    raise typer.Exit(EXIT_OK)


@app.command("sign")
def sign_command(
    folder: Annotated[Path, typer.Argument(help="A reports folder written by `certaudit run`.")],
    key: Annotated[Path, typer.Option("--key", help="SSH private key to sign with.")],
) -> None:
    """Sign a reports folder's manifest.json with an SSH key (ssh-keygen -Y sign), after
    checking the folder still matches it."""
    v = _verified(folder, allow_extra=True)
    if v.changed or v.missing:
        for line in describe(v):
            typer.echo(f"{safe(folder)}: {safe(line)}", err=True)
        typer.echo(f"certaudit: error: {safe(folder)} does not match its manifest: not signed")
        raise typer.Exit(EXIT_FINDINGS)
    try:
        signature = sign(folder, key)
    except AuditError as exc:
        typer.echo(error_text(exc), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    typer.echo(f"wrote {safe(signature)}")
