"""Renderers: read the model, write files. Each output is written to a temporary file in
the output folder and renamed into place, so a crash never leaves half a report and the
previous report stays readable.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from audit.model import AuditResult

Renderer = Callable[[AuditResult], bytes]


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` via temp file + fsync + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def renderers() -> dict[str, Renderer]:
    """File name -> renderer, for every output this build can produce."""
    from audit.report import json as json_report

    out: dict[str, Renderer] = {
        "findings.json": lambda r: json_report.dumps(json_report.run_document(r)).encode("utf-8"),
    }
    return out


def write_reports(result: AuditResult, out_dir: Path) -> list[Path]:
    """Render every output into out_dir; returns the paths written."""
    written = []
    for name, render in renderers().items():
        path = out_dir / name
        atomic_write(path, render(result))
        written.append(path)
    return written
