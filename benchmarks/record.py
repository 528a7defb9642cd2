"""Writing a benchmark's figures where the book's performance page reads them: ``benchmarks/results/<name>.json``.

Each record holds the figures (name -> number or text), the values the book computes with (identifier -> number,
text, list or table), the script's last line, the command that
produced it, the commit it ran at, the date and the machine. Commit a record when it was measured;
:func:`cnngwp.reports.book.performance_page` renders every committed record, so no figure is typed into prose.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from cnngwp.atomic import atomic_write

RESULTS = Path(__file__).resolve().parent / "results"


def _git(*arguments: str) -> str:
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(["git", "-C", str(root), *arguments], capture_output=True, text=True,
                          check=False).stdout.strip()


def _commit() -> str:
    """The checkout's commit, with ``+changes`` when tracked files differ from it."""
    return (_git("rev-parse", "--short", "HEAD") or "unknown") + (
        "+changes" if _git("status", "--porcelain", "--untracked-files=no") else "")


def _machine() -> str:
    """Cores, CPU model and Python version."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor() or platform.machine())
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def record(name: str, figures: dict, last_line: str, *, values: dict | None = None) -> Path:
    """Write `figures`, `last_line` and `values` of benchmark `name` to ``results/<name>.json``; returns the path.

    `figures` are what the performance page shows, under readable names; `values` the measurements the book computes
    with, under identifiers (:class:`cnngwp.reports.records.BenchmarkRecord` reads both)."""
    entry = {"name": name, "figures": figures, "last_line": last_line,
             "command": " ".join(["python", *sys.argv]), "commit": _commit(),
             "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": _machine(), "values": values or {}}
    path = RESULTS / f"{name}.json"
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(entry, indent=2) + "\n"))
    return path
