"""An append-only CSV log that survives being killed: one evaluation per line, never a half line read."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from cnngwp.atomic import atomic_write
from cnngwp.errors import CnngwpInputError

__all__ = ["EvaluationLog"]


class EvaluationLog:
    """A tidy CSV of finished evaluations keyed by (replicate, iteration).

    Each row is appended with one ``write`` on a file opened for appending and then
    flushed to disk, so a crash can only leave an incomplete *last* line. Opening the
    log repairs that: the partial line is dropped (its evaluation simply runs again)
    and the file is rewritten atomically.

    Parameters
    ----------
    path
        The CSV file; created with a header line if missing.
    columns
        Column names; an existing file must have exactly these.

    Raises
    ------
    CnngwpInputError
        If an existing file has other columns or repeats a (replicate, iteration) key.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        self.repaired_lines = 0
        header = ",".join(self.columns) + "\n"
        if not self.path.exists():
            atomic_write(self.path, lambda tmp: tmp.write_text(header))
            return
        lines = self.path.read_text().splitlines(keepends=True)
        if not lines or lines[0] != header:
            found = lines[0].strip() if lines else "an empty file"
            raise CnngwpInputError(f"{self.path}: expected the header {header.strip()!r}, found {found!r}; "
                                   "this log belongs to another kind of run")
        good = [line for line in lines[1:] if line.endswith("\n") and line.count(",") == len(self.columns) - 1]
        self.repaired_lines = len(lines) - 1 - len(good)
        if self.repaired_lines:
            atomic_write(self.path, lambda tmp: tmp.write_text(header + "".join(good)))
        keys = self.read()[["replicate", "iteration"]]
        repeated = keys[keys.duplicated()]
        if len(repeated):
            first = repeated.iloc[0]
            raise CnngwpInputError(f"{self.path}: replicate {first.replicate} iteration {first.iteration} "
                                   "appears more than once")

    def read(self) -> pd.DataFrame:
        """All logged rows (pandas reads the repr-written floats back exactly)."""
        return pd.read_csv(self.path)

    def append(self, row: dict) -> None:
        """Append one row durably; `row` must have exactly the log's columns."""
        if set(row) != set(self.columns):
            raise ValueError(f"row has columns {sorted(row)}, the log {self.columns}")
        line = ",".join(_format(row[c]) for c in self.columns) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def _format(value) -> str:
    if isinstance(value, float):
        return repr(float(value))
    text = str(value)
    if "," in text or "\n" in text:
        raise ValueError(f"log values cannot contain commas or newlines: {text!r}")
    return text
