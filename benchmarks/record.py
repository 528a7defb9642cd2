"""Writing a benchmark's figures where the book's performance page reads them: ``benchmarks/results/<name>.json``.

Each record holds the figures (name -> number or text), the values the book computes with (identifier -> number,
text, list or table), the script's last line, the command that
produced it, the commit it ran at, the date and the machine. Commit a record when it was measured;
:func:`cnngwp.reports.book.performance_page` renders every committed record, so no figure is typed into prose.
"""

from __future__ import annotations

import json
from pathlib import Path

from cnngwp.atomic import atomic_write
from cnngwp.provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results"


def record(name: str, figures: dict, last_line: str, *, values: dict | None = None) -> Path:
    """Write `figures`, `last_line` and `values` of benchmark `name` to ``results/<name>.json``; returns the path.

    `figures` are what the performance page shows, under readable names; `values` the measurements the book computes
    with, under identifiers (:class:`cnngwp.reports.records.BenchmarkRecord` reads both)."""
    entry = {"name": name, "figures": figures, "last_line": last_line, **provenance(), "values": values or {}}
    path = RESULTS / f"{name}.json"
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(entry, indent=2) + "\n"))
    return path
