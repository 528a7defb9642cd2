"""Nystrom RKHS against the exact RKHS on the default simulation: `python benchmarks/bench_nystrom.py --data DIR`.

DIR is the default simulation (``cnngwp simulate --seed 1 --out DIR``); after QC generations 1-4 train and
generation 5 is scored. Prints the seconds and test MSE of the exact RKHS and of Nystrom RKHS with each number of
landmarks, and the last line ``nystrom_excess_mse=<percent at the default number of landmarks>``.
"""

from __future__ import annotations

import argparse
import inspect
import time

import numpy as np

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
    mse = {}
    for solver, landmarks in [("exact", None)] + [("nystrom", m) for m in args.landmarks]:
        start = time.perf_counter()
        model = RKHS(solver=solver, **({} if landmarks is None else {"n_landmarks": landmarks}))
        predictions = model.fit(X[split.train], y[split.train]).predict(X[split.test])
        mse[landmarks] = float(np.mean((predictions - y[split.test]) ** 2))
        excess = "" if landmarks is None else f" ({mse[landmarks] / mse[None] - 1:+.2%} against exact)"
        print(f"{solver:<8} {landmarks or '':>5} {time.perf_counter() - start:7.1f} s  test MSE {mse[landmarks]:.3f}"
              f"{excess}", flush=True)
    if default in mse:
        print(f"nystrom_excess_mse={100 * (mse[default] / mse[None] - 1):.2f}")


if __name__ == "__main__":
    main()
