"""`certaudit export`: one table of a stored run as CSV or JSON Lines.

Tables: certificates (one row per distinct certificate), findings (in rank order),
listeners (one row per probe; a listener never probed has one row), keys (key files, by
metadata), migration (audit.service.migration). The run is read from the history
database as `report` reads it (audit.service.stored).

CSV cells go through the workbook's neutralisation (`audit.report.xlsx.cell_text`):
control characters made visible, and a text a spreadsheet would take for a formula gets
an apostrophe in front. Lists are joined with "; ", dates are ISO 8601 UTC, booleans
"true"/"false", nothing is "". JSON Lines keep types (lists, numbers, booleans, null) and
are written in ASCII (every other character escaped), one object per line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from audit.errors import ConfigError
from audit.model import AuditResult
from audit.report import view
from audit.report.json import iso
from audit.report.xlsx import cell_text
from audit.service import migration
from audit.service.stored import latest_run, load_analysed, open_history

WHATS = ("certificates", "findings", "listeners", "keys", "migration")
FORMATS = ("csv", "jsonl")

Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[Row]


def certificates(result: AuditResult) -> Table:
    columns = (
        "sha256", "common_name", "subject", "issuer", "serial", "not_before", "not_after",
        "days_left", "key_type", "key_bits", "signature_algorithm", "is_ca", "self_signed",
        "deployed", "kinds", "served", "hosts", "locations",
    )  # fmt: skip
    rows = []
    for u in view.certificate_uses(result.hosts, result.finished_at):
        c = u.cert
        rows.append(
            {
                "sha256": c.sha256,
                "common_name": c.common_name,
                "subject": c.subject,
                "issuer": c.issuer,
                "serial": c.serial,
                "not_before": c.not_before,
                "not_after": c.not_after,
                "days_left": u.days_left,
                "key_type": c.key_type,
                "key_bits": c.key_bits,
                "signature_algorithm": c.signature_algorithm,
                "is_ca": c.is_ca,
                "self_signed": c.self_signed,
                "deployed": u.deployed,
                "kinds": sorted({loc.kind.value for loc in u.locations}),
                "served": u.served,
                "hosts": list(u.hosts),
                "locations": u.blast_radius,
            }
        )
    return Table(columns, rows)


def findings(result: AuditResult) -> Table:
    columns = (
        "rank", "id", "severity", "risk", "host", "subject", "title", "detail", "days_left",
        "cert_sha256", "diagnose", "fix", "why",
    )  # fmt: skip
    rows = []
    for rank, f in enumerate(result.findings, 1):
        rows.append(
            {
                "rank": rank,
                "id": f.id,
                "severity": f.severity.value,
                "risk": f.risk,
                "host": f.host,
                "subject": f.subject,
                "title": f.title,
                "detail": f.detail,
                "days_left": f.days_left,
                "cert_sha256": f.cert_sha256,
                "diagnose": f.diagnose,
                "fix": f.fix,
                "why": f.why,
            }
        )
    return Table(columns, rows)


def listeners(result: AuditResult) -> Table:
    columns = (
        "host", "address", "port", "process", "expects_tls", "server", "config_file",
        "config_line", "cert_file", "servername", "via", "status", "protocol", "leaf_sha256",
        "leaf_common_name", "leaf_not_after", "error",
    )  # fmt: skip
    rows = []
    for r in result.hosts:
        for li in r.listeners:
            for p in li.probes or (None,):
                leaf = p.chain[0] if p is not None and p.chain else None
                rows.append(
                    {
                        "host": li.host,
                        "address": li.address,
                        "port": li.port,
                        "process": li.process,
                        "expects_tls": li.expects_tls,
                        "server": li.server,
                        "config_file": li.config_file,
                        "config_line": li.config_line,
                        "cert_file": li.cert_file,
                        "servername": p.servername if p else None,
                        "via": p.via.value if p else None,
                        "status": p.status.value if p else "not probed",
                        "protocol": p.protocol if p else None,
                        "leaf_sha256": leaf.sha256 if leaf else None,
                        "leaf_common_name": leaf.common_name if leaf else None,
                        "leaf_not_after": leaf.not_after if leaf else None,
                        "error": p.error if p else None,
                    }
                )
    return Table(columns, rows)


def keys(result: AuditResult) -> Table:
    columns = ("host", "path", "owner", "group", "mode", "kind", "exposed")
    rows = [
        {
            "host": k.host,
            "path": k.path,
            "owner": k.owner,
            "group": k.group,
            "mode": f"{k.mode & 0o7777:04o}",
            "kind": k.kind,
            "exposed": k.exposed,
        }
        for r in result.hosts
        for k in r.key_files
    ]
    return Table(columns, rows)


def migration_table(result: AuditResult) -> Table:
    from audit.trust import mozilla_roots

    return Table(migration.COLUMNS, migration.migration_rows(result, mozilla_roots()))


TABLES: dict[str, Callable[[AuditResult], Table]] = {
    "certificates": certificates,
    "findings": findings,
    "listeners": listeners,
    "keys": keys,
    "migration": migration_table,
}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def csv_cell(value: Any) -> str:
    """One CSV cell: neutralised text (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return cell_text("; ".join(csv_cell(v) for v in value))
    return cell_text(value)


def render(table: Table, fmt: str) -> bytes:
    """The table as CSV (a header row, then one row each) or JSON Lines."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(table.columns)
        for row in table.rows:
            writer.writerow([csv_cell(row[c]) for c in table.columns])
        return out.getvalue().encode("utf-8")
    if fmt == "jsonl":
        lines = [
            json.dumps({c: _json_value(row[c]) for c in table.columns}, ensure_ascii=True)
            for row in table.rows
        ]
        return "".join(line + "\n" for line in lines).encode("ascii")
    raise ConfigError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class Exported:
    run_id: str
    rows: int
    data: bytes
    written: Path | None = None


def _write(path: Path, data: bytes) -> None:
    """Write the file whole (staged beside it, renamed into place)."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot write there ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"--out {path}: cannot write it ({exc.strerror or exc})") from None


def export_stored(
    db: Path | None, run_id: str | None, what: str, fmt: str, out: Path | None = None
) -> Exported:
    """One table of a stored run (default the latest); written to `out` when given."""
    if what not in TABLES:
        raise ConfigError(f"--what {what}: expected one of {', '.join(WHATS)}")
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    with open_history(db) as history:
        chosen = run_id or latest_run(history)
        result = load_analysed(history, chosen)
    table = TABLES[what](result)
    data = render(table, fmt)
    if out is not None:
        _write(out, data)
    return Exported(result.run_id, len(table.rows), data, out)
