"""The command line: the only place that prints, prompts or exits.

One module per command group registers its commands on `app`:
run.py (fleet audit), check.py (check / inspect), history.py (report / diff).
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


def _register() -> None:
    import importlib

    for name in ("run", "check", "history"):
        try:
            importlib.import_module(f"audit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"audit.cli.{name}":
                raise


_register()


def main() -> None:
    """Console-script entry point."""
    app()
