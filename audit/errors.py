"""The one root exception. Only for conditions that end the whole run.

Per-host and per-file trouble is data (see model.HostResult, model.Unparseable), never
an exception. Only cli.py turns these into exit codes.
"""

from __future__ import annotations


class AuditError(Exception):
    """A run-fatal problem, with a message fit for the operator."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class InventoryError(AuditError):
    """The inventory is missing, empty or does not parse. Names file and line."""

    def __init__(self, path: str, line: int | None, message: str, *, hint: str = "") -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.line = line


class HistoryError(AuditError):
    """The history database is locked, from a newer schema, or unusable."""


class ConfigError(AuditError):
    """A bad option or a missing file given on the command line."""
