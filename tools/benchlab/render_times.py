"""Per-report timings of a stored run, in process (the CLI prints none).

    python -m tools.benchlab.render_times DB RUN_ID

Loads the run as `certaudit report` does (audit.service.stored) and times each renderer of
audit.report.renderers() on it, without writing anything. Prints one JSON object:
{"load": s, "renderers": {"report.html": [s, bytes], ...}}. A library change that breaks
this only costs these figures: the bench also times `certaudit report` as a whole.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from audit.report import renderers
    from audit.service.stored import load_with_previous, open_history

    db, run_id = Path(argv[0]), argv[1]
    t0 = time.perf_counter()
    with open_history(db) as history:
        result, previous = load_with_previous(history, run_id)
    out: dict[str, object] = {"load": time.perf_counter() - t0, "renderers": {}}
    timed: dict[str, list[float]] = {}
    for name, render in renderers(previous).items():
        t = time.perf_counter()
        data = render(result)
        timed[name] = [time.perf_counter() - t, len(data)]
    out["renderers"] = timed
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
