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

A change that retrains the networks differently (``--training-change``: another engine, members trained together)
may move the CNN-based numbers, within a rule set before the change is measured: over the study, each CNN-based model's
mean log test-MSE ratio to GBLUP stays inside the 95 % t interval of the same mean before, and the default run's CNN
ensemble stays within 2 % of its test MSE before; every other model's numbers stay equal to the bit. It prints each
figure before and after, and the last line ``identical=<yes|no> within_rule=<yes|no> ...``; exits 1 if outside the
rule. ``--keep DIR`` keeps the two runs' outputs in DIR; ``--compare BEFORE_DIR AFTER_DIR`` compares two such outputs
without running anything (runs made on another day, with the same machine).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cnngwp.models.names import BASELINE_NAMES, CNN_ENSEMBLE
from cnngwp.reports.tables import CNN_BASED_MODELS, t_interval

ROOT = Path(__file__).resolve().parents[1]
#: Columns that measure time, not a fitted number.
TIMED = ("seconds",)
#: How far a training change may move the default run's CNN ensemble's test MSE (a share of it).
CNN_MSE_TOLERANCE = 0.02

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


def _study_csv(folder: Path) -> Path:
    """The study table in an output of :data:`_FIT`."""
    return next(folder.glob("study-*")) / "study.csv"


def _log_ratios(study: pd.DataFrame, model: str) -> np.ndarray:
    """Per data set, log(test MSE of `model` / test MSE of GBLUP)."""
    mse = study.pivot(index="dataset", columns="model", values="mse")
    return np.log(mse[model] / mse["GBLUP"]).to_numpy()


def training_rule(before: Path, after: Path) -> bool:
    """Print the rule of a training change (module docstring) figure by figure; True if every figure keeps it."""
    kept = True
    old, new = pd.read_csv(_study_csv(before)), pd.read_csv(_study_csv(after))
    for model in CNN_BASED_MODELS:
        mean, lower, upper = t_interval(_log_ratios(old, model))
        moved = float(np.mean(_log_ratios(new, model)))
        inside = lower <= moved <= upper
        kept &= inside
        print(f"study, {model}: mean log MSE ratio to GBLUP {mean:+.4f} (95 % t interval {lower:+.4f} to "
              f"{upper:+.4f}) -> {moved:+.4f}: {'inside' if inside else 'OUTSIDE'}")
    others = list(BASELINE_NAMES)
    columns = ["dataset", "model", "mse", "correlation", "slope"]  # not the data set's lambdas or stack weights
    cells, differing = differing_cells(old[old["model"].isin(others)][columns].reset_index(drop=True),
                                       new[new["model"].isin(others)][columns].reset_index(drop=True),
                                       "study, models without a network")
    kept &= differing == 0
    print(f"study, models without a network ({', '.join(others)}): {cells} cells, {differing} differ")
    runs = [pd.read_csv(folder / "run" / "comparison.csv").set_index("model") for folder in (before, after)]
    metrics = ["mse", "correlation", "slope"]
    cells, differing = differing_cells(*(r.loc[others, metrics].reset_index() for r in runs),
                                       "default run, models without a network")
    kept &= differing == 0
    print(f"default run, models without a network: {cells} cells, {differing} differ")
    mse = [float(r.loc[CNN_ENSEMBLE, "mse"]) for r in runs]
    change = mse[1] / mse[0] - 1
    kept &= abs(change) <= CNN_MSE_TOLERANCE
    print(f"default run, {CNN_ENSEMBLE}: test MSE {mse[0]:.3f} -> {mse[1]:.3f} ({100 * change:+.2f} %, "
          f"rule: within {100 * CNN_MSE_TOLERANCE:.0f} %)")
    return kept


def compare(before: Path, after: Path, *, training_change: bool) -> int:
    """Compare two outputs of :data:`_FIT`; print the figures and the last line; the exit status."""
    counts = {}
    for table, path in (("comparison", Path("run") / "comparison.csv"),
                        ("study", _study_csv(before).relative_to(before))):
        cells, differing = differing_cells(pd.read_csv(before / path), pd.read_csv(after / path), table)
        print(f"{table}.csv: {cells} cells compared, {differing} differ")
        counts[table] = (cells, differing)
    differing = sum(d for _, d in counts.values())
    last = (f"identical={'yes' if differing == 0 else 'no'} comparison_cells={counts['comparison'][0]} "
            f"study_cells={counts['study'][0]} differing={differing}")
    if not training_change:
        print(last)
        return 1 if differing else 0
    kept = differing == 0 or training_rule(before, after)
    print(f"{last} within_rule={'yes' if kept else 'no'}")
    return 0 if kept else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", nargs="?", help="the commit before the change")
    parser.add_argument("after", nargs="?", help="the commit after it (default: the working tree)")
    parser.add_argument("--size", choices=("default", "small"), default="default",
                        help="default: make book's run and study; small: the smoke run and grid (a minute)")
    parser.add_argument("--replicates", type=int, default=0, help="only the study's first N replicates (0: all)")
    parser.add_argument("--training-change", action="store_true",
                        help="the networks are trained differently: check the rule instead of the CNNs' bits")
    parser.add_argument("--keep", type=Path, help="keep the two outputs in this folder (before/, after/)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE_DIR", "AFTER_DIR"),
                        help="compare two kept outputs instead of running")
    arguments = parser.parse_args()
    if arguments.compare:
        return compare(*arguments.compare, training_change=arguments.training_change)
    if arguments.before is None:
        parser.error("give the commit before the change, or --compare")
    with tempfile.TemporaryDirectory() as temporary:
        folder = arguments.keep or Path(temporary)
        outputs, trees = {}, []
        try:
            for name, commit in (("before", arguments.before), ("after", arguments.after)):
                tree = _worktree(commit, Path(temporary) / f"{name}-tree", trees)
                outputs[name] = folder / name
                outputs[name].mkdir(parents=True)
                seconds = _fit(tree, outputs[name], arguments.size, arguments.replicates)
                print(f"{name} ({commit or 'working tree'}): {seconds:.0f} s", flush=True)
        finally:
            for tree in trees:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        return compare(outputs["before"], outputs["after"], training_change=arguments.training_change)


if __name__ == "__main__":
    sys.exit(main())
