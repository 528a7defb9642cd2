"""The numbers of two commits, compared to the bit: `python benchmarks/same_numbers.py BEFORE [AFTER] [--size ...]`.

A change that only moves code (one home per model, typed records) must leave every number where it was. Each commit
(``AFTER`` default: the working tree, uncommitted changes included) is checked out into a temporary git worktree and
run in a fresh Python process of this checkout's environment, one after the other on the same machine:

- **the default run**: :func:`cnngwp.runs.workflow.finish_run` on fold 0 of the built-in simulated data set with the
  quick profile, what ``make book``'s chapters 4-6 fit (``--size small``: the small simulation, smoke profile);
- **the default study**: :func:`cnngwp.runs.study.run_study` with the default grid, or its first ``--replicates``
  replicates (``--size small``: the smoke grid).

Then ``comparison.csv`` and ``study.csv`` are compared cell by cell: every column but the measured seconds must be
equal, floats to the bit (pandas writes the shortest repr that reads back to the same double). Prints one line per
table and a last line ``identical=<yes|no> comparison_cells=<n> study_cells=<n> differing=<n>``; exits 1 if any cell
differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: Columns that measure time, not a fitted number.
TIMED = ("seconds",)

_FIT = """
import sys
from dataclasses import replace
from pathlib import Path

from cnngwp.runs.notebooks import open_run
from cnngwp.runs.parallel import open_client
from cnngwp.runs.study import GRIDS, run_study
from cnngwp.runs.workflow import finish_run
from cnngwp.tuning.settings import RunSettings

out, size, replicates = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
small = size == "small"
run = open_run("tiny-sim" if small else "qtlmas2010-sim", 0, seed=1)
settings = RunSettings.named(profile="smoke" if small else "quick", protocol="honest", space="qtlmas2010", seed=1)
grid = GRIDS["smoke" if small else "default"]
if replicates:
    grid = replace(grid, replicates=min(replicates, grid.replicates))
with open_client(None) as client:
    finish_run(run.data, run.split, out / "run", settings, client=client, covariates=run.covariates)
    run_study(grid, out, client, progress=False)
"""


def _worktree(commit: str | None, target: Path, made: list[Path]) -> Path:
    """`commit` checked out at `target` (None: this checkout, as it is), added to `made`."""
    if commit is None:
        return ROOT
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(target), commit], check=True)
    made.append(target)
    return target


def _fit(tree: Path, out: Path, size: str, replicates: int) -> float:
    """Run the default run and study of the source `tree` into `out`; its seconds."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", _FIT, str(out), size, str(replicates)], cwd=out, env=env, check=True)
    return time.perf_counter() - start


def differing_cells(before: pd.DataFrame, after: pd.DataFrame, what: str) -> tuple[int, int]:
    """Compare two tables cell by cell, columns of :data:`TIMED` aside; print each difference. The cells compared
    and how many differ."""
    if list(before.columns) != list(after.columns) or before.shape != after.shape:
        print(f"{what}: shapes or columns differ: {before.shape} {list(before.columns)} vs {after.shape} "
              f"{list(after.columns)}")
        return max(before.size, after.size), max(before.size, after.size)
    columns = [c for c in before.columns if c not in TIMED]
    left, right = before[columns], after[columns]
    same = (left == right) | (left.isna() & right.isna())
    keys = [c for c in ("dataset", "model") if c in before.columns]  # what names a row of either table
    for row, column in zip(*(~same.to_numpy()).nonzero(), strict=True):
        print(f"{what}: row {row} ({', '.join(map(str, before.loc[row, keys]))}) {columns[column]}: "
              f"{left.iat[row, column]!r} -> {right.iat[row, column]!r}")
    return int(same.size), int((~same).to_numpy().sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="the commit before the change")
    parser.add_argument("after", nargs="?", help="the commit after it (default: the working tree)")
    parser.add_argument("--size", choices=("default", "small"), default="default",
                        help="default: make book's run and study; small: the smoke run and grid (a minute)")
    parser.add_argument("--replicates", type=int, default=0, help="only the study's first N replicates (0: all)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        outputs, trees = {}, []
        try:
            for name, commit in (("before", arguments.before), ("after", arguments.after)):
                tree = _worktree(commit, folder / f"{name}-tree", trees)
                outputs[name] = folder / name
                outputs[name].mkdir()
                seconds = _fit(tree, outputs[name], arguments.size, arguments.replicates)
                print(f"{name} ({commit or 'working tree'}): {seconds:.0f} s", flush=True)
        finally:
            for tree in trees:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        counts = {}
        for table, path in (("comparison", Path("run") / "comparison.csv"),
                            ("study", next(outputs["before"].glob("study-*")).relative_to(outputs["before"])
                             / "study.csv")):
            cells, differing = differing_cells(pd.read_csv(outputs["before"] / path),
                                               pd.read_csv(outputs["after"] / path), table)
            print(f"{table}.csv: {cells} cells compared, {differing} differ")
            counts[table] = (cells, differing)
    differing = sum(d for _, d in counts.values())
    print(f"identical={'yes' if differing == 0 else 'no'} comparison_cells={counts['comparison'][0]} "
          f"study_cells={counts['study'][0]} differing={differing}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
