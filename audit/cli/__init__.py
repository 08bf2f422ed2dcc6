"""The command line: the only place that prints, prompts or exits.

One module per command group registers its commands on `app`:
run.py (fleet audit), check.py (check / inspect), history.py (report / diff),
prune.py (prune), merge.py (merge),
inventory.py (inventory), evidence.py (verify / sign), export.py (export).
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="certaudit",
    help="Agentless fleet audit of TLS certificates over SSH.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """Agentless fleet audit of TLS certificates over SSH."""
    # A callback keeps `certaudit COMMAND` a group even when only one command is loaded.


COMMAND_MODULES = {
    "run": "run",
    "check": "check",
    "inspect": "check",
    "report": "history",
    "diff": "history",
    "prune": "prune",
    "merge": "merge",
    "inventory": "inventory",
    "verify": "evidence",
    "sign": "evidence",
    "export": "export",
}
"""Command name -> the module under audit.cli that registers it."""


def register(only: str | None = None) -> None:
    """Import command modules so they register on `app`.

    `only` imports just the module a command needs: `certaudit check` at 2 AM should not
    pay for importing SSH, history and report code it never uses.
    """
    import importlib

    names = {COMMAND_MODULES[only]} if only in COMMAND_MODULES else set(COMMAND_MODULES.values())
    for name in sorted(names):
        importlib.import_module(f"audit.cli.{name}")


def main() -> None:
    """Console-script entry point."""
    import sys
    import warnings

    from cryptography.utils import CryptographyDeprecationWarning

    # Library chatter (certifi ships a root with a zero serial) does not belong in cron
    # mail; what matters about a certificate is in CertInfo.warnings and the findings.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
    command = next((a for a in sys.argv[1:2] if not a.startswith("-")), None)
    register(command)
    app()
