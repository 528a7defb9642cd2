"""A benchmark's committed record (``benchmarks/results/<name>.json``), read as typed fields.

A script of ``benchmarks/`` writes one record when it measures (``benchmarks/record.py``): ``figures``, the table the
performance page shows under readable names, and ``values``, the same measurements under identifiers for the code
that computes with them (the teaching page's minutes, the headline's protocol sentence), so no reader looks a number
up by a sentence or splits the script's last line.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from cnngwp.errors import CnngwpInputError

__all__ = ["BenchmarkRecord", "provenance", "read_records"]

#: The checkout this package runs from (where ``git`` finds the commit a record was measured at).
_CHECKOUT = Path(__file__).resolve().parents[2]


def _git(*arguments: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(_CHECKOUT), *arguments], capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:  # no git on this machine
        return ""


def _commit() -> str:
    """The checkout's commit, with ``+changes`` when tracked files differ from it (``unknown`` outside a checkout)."""
    return (_git("rev-parse", "--short", "HEAD") or "unknown") + (
        "+changes" if _git("status", "--porcelain", "--untracked-files=no") else "")


def _machine() -> str:
    """Cores, CPU model and Python version."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor() or platform.machine())
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def _command() -> str:
    """This process's command line as it was typed: ``python -m cnngwp ...`` for a run of the package."""
    program = Path(sys.argv[0])
    first = f"-m {program.parent.name}" if program.name == "__main__.py" else sys.argv[0]
    return " ".join(["python", first, *sys.argv[1:]])


def provenance() -> dict[str, str]:
    """Where a measurement comes from: ``command`` (this process's), ``commit``, ``date`` and ``machine``."""
    return {"command": _command(), "commit": _commit(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": _machine()}


@dataclass(frozen=True)
class BenchmarkRecord:
    """One benchmark's measurement.

    Attributes
    ----------
    name
        The benchmark (the file's stem).
    figures
        Readable name -> number or text: what the performance page shows.
    last_line
        What the script printed last.
    command, commit, date, machine
        How, at which commit, when and on which machine it was measured.
    values
        Identifier -> number, text, list or table: the measurements code reads (empty where no reader needs them).
    """

    name: str
    figures: dict
    last_line: str
    command: str
    commit: str
    date: str
    machine: str
    values: dict = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | os.PathLike) -> BenchmarkRecord:
        """The record in `path`.

        Raises
        ------
        CnngwpInputError
            The file is not JSON, or lacks a field (naming the file and the fields).
        """
        path = Path(path)
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise CnngwpInputError(f"{path}: cannot read a benchmark record ({error})") from None
        names = [f.name for f in fields(cls)]
        missing = [name for name in names[:-1] if not isinstance(entry, dict) or name not in entry]
        if missing:
            raise CnngwpInputError(f"{path}: missing {missing}; expected a record that benchmarks/record.py wrote")
        return cls(**{name: entry[name] for name in names if name in entry})

    def source(self) -> str:
        """Where the figures come from, as a sentence: commit, date, machine and command."""
        return f"Measured at commit `{self.commit}` on {self.date}, {self.machine}, by `{self.command}`."


def read_records(folder: str | os.PathLike) -> list[BenchmarkRecord]:
    """Every record in `folder` (``*.json``), by name; none where the folder is missing."""
    return [BenchmarkRecord.read(path) for path in sorted(Path(folder).glob("*.json"))]
