"""Renderers: read the model, write files. Each output is written to a temporary file in
the output folder and renamed into place, so a crash never leaves half a report and the
previous report stays readable.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Written:
    """What write_reports did: the files written, and the outputs that could not be
    rendered (name, reason). A renderer that fails costs only its own output."""

    paths: tuple[Path, ...]
    failed: tuple[tuple[str, str], ...] = ()


def write_reports(
    result: AuditResult,
    out_dir: Path,
    previous: AuditResult | None = None,
    *,
    outputs: dict[str, Renderer] | None = None,
) -> Written:
    """Render every output into out_dir.

    Every output is rendered and written to a temporary file first, and only then are
    they renamed into place: a failure while writing (disk full: OSError, raised) leaves
    all the previous reports as they were, not a mix of two runs. A renderer that raises
    on this run's data costs only its own output: the others are written, the failure is
    returned, and the previous copy of that output is removed so nothing reads last run's
    file as this run's. Renames need no space; only a crash between them can mix runs.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    failed: list[tuple[str, str]] = []
    try:
        for name, render in (outputs or renderers(previous)).items():
            path = out_dir / name
            try:
                data = render(result)
            except Exception as exc:  # a renderer bug: this output only
                failed.append((name, f"{type(exc).__name__}: {exc}"))
                continue
            staged.append((_stage(path, data), path))
        for tmp, path in staged:
            os.replace(tmp, path)
        for name, _ in failed:
            (out_dir / name).unlink(missing_ok=True)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)  # what was not renamed (after a failure)
    return Written(tuple(path for _, path in staged), tuple(failed))
