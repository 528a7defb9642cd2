"""A benchmark's committed record (``benchmarks/results/<name>.json``), read as typed fields.

A script of ``benchmarks/`` writes one record when it measures (``benchmarks/record.py``): ``figures``, the table the
performance page shows under readable names, and ``values``, the same measurements under identifiers for the code
that computes with them (the teaching page's minutes, the headline's protocol sentence), so no reader looks a number
up by a sentence or splits the script's last line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from cnngwp.errors import CnngwpInputError

__all__ = ["BenchmarkRecord", "read_records"]


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
