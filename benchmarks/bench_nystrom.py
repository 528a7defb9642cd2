"""Nystrom RKHS against the exact RKHS on the default simulation: `python benchmarks/bench_nystrom.py --data DIR`.

DIR is the default simulation (``cnngwp simulate --seed 1 --out DIR``); after QC generations 1-4 train and
generation 5 is scored. Prints the seconds and test MSE of the exact RKHS and of Nystrom RKHS with each number of
landmarks, and the last line ``nystrom_excess_mse=<percent at the default number of landmarks>``; the figures
and that line are written to ``benchmarks/results/nystrom.json`` (:mod:`record`).
"""

from __future__ import annotations

import argparse
import inspect
import time

import numpy as np
from record import record  # benchmarks/record.py

from cnngwp.data.genotypes import quality_control
from cnngwp.data.readers import read_dataset
from cnngwp.data.splits import split_by_generation
from cnngwp.models.baselines import RKHS


def main() -> None:
    default = inspect.signature(RKHS).parameters["n_landmarks"].default
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--landmarks", type=int, nargs="+", default=sorted({1000, default, 2000}))
    args = parser.parse_args()
    data = quality_control(read_dataset(args.data))[0]
    split = split_by_generation(data)
    X, y = data.genotypes, data.y
    mse, figures = {}, {}
    for solver, landmarks in [("exact", None)] + [("nystrom", m) for m in args.landmarks]:
        start = time.perf_counter()
        model = RKHS(solver=solver, **({} if landmarks is None else {"n_landmarks": landmarks}))
        predictions = model.fit(X[split.train], y[split.train]).predict(X[split.test])
        mse[landmarks] = float(np.mean((predictions - y[split.test]) ** 2))
        seconds = time.perf_counter() - start
        excess = "" if landmarks is None else f" ({mse[landmarks] / mse[None] - 1:+.2%} against exact)"
        print(f"{solver:<8} {landmarks or '':>5} {seconds:7.1f} s  test MSE {mse[landmarks]:.3f}{excess}", flush=True)
        name = "exact RKHS" if landmarks is None else f"Nystrom RKHS, {landmarks} landmarks"
        figures |= {f"{name}: test MSE": round(mse[landmarks], 3), f"{name}: seconds": round(seconds, 1)}
        if landmarks is not None:
            figures[f"{name}: excess test MSE over exact, %"] = round(100 * (mse[landmarks] / mse[None] - 1), 2)
    if default in mse:
        last = f"nystrom_excess_mse={100 * (mse[default] / mse[None] - 1):.2f}"
        record("nystrom", figures, last)
        print(last)


if __name__ == "__main__":
    main()
