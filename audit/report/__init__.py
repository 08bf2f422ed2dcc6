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


def _stage(path: Path, data: bytes) -> Path:
    """Write `data` to a new temporary file beside `path` (fsynced); returns its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def renderers(previous: AuditResult | None = None) -> dict[str, Renderer]:
    """File name -> renderer, for every output this build can produce.

    `previous` (the run before, if any) lets report.html mark findings new or resolved.
    """
    from audit.report import json as json_report
    from audit.report.html import render_html
    from audit.report.prometheus import render_metrics
    from audit.report.xlsx import render_xlsx

    out: dict[str, Renderer] = {
        # backslashreplace: a lone surrogate (an undecodable byte in a remote file name)
        # becomes the JSON escape \udcXX instead of crashing the run at its very end.
        "findings.json": lambda r: json_report.dumps(json_report.run_document(r)).encode(
            "utf-8", "backslashreplace"
        ),
        "report.html": lambda r: render_html(r, previous),
        "report.xlsx": render_xlsx,
        "metrics.prom": render_metrics,
    }
    return out


def write_reports(
    result: AuditResult, out_dir: Path, previous: AuditResult | None = None
) -> list[Path]:
    """Render every output into out_dir; returns the paths written.

    Every output is rendered and written to a temporary file first, and only then are
    they renamed into place: a failure while rendering or writing (disk full, a renderer
    bug) leaves all the previous reports as they were, not a mix of two runs. Renames need
    no space; only a crash between them, or a target that refuses them, can mix runs.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, render in renderers(previous).items():
            path = out_dir / name
            staged.append((_stage(path, render(result)), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)  # what was not renamed (after a failure)
    return [path for _, path in staged]
