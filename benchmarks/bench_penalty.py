"""How lambda moves the CNN against GBLUP on a real trait.

`python benchmarks/bench_penalty.py [--fold K] [--gammas ...]`.

Data: the mice of ../shared/data/mice (trait Obesity.BodyLength, the fixed 5-fold partition);
one fold, its validation rows drawn as in a run (seeded random 20 % of the training rows).
For each gamma ``FILTERS:KERNEL:LAMBDA`` an honest 4-member ensemble (lr 2e-3, patience 10,
refit on all training rows) is scored once on the fold's test rows. Prints per gamma the
ensemble's test MSE as a ratio of GBLUP's on the same rows, its correlation, the members'
ratios and best epochs; last line ``best_gamma=<...> best_ratio=<...>``. The ratios and that line are written to
``benchmarks/results/penalty-fold<K>.json`` (:mod:`record`).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from mice import mice_spec  # benchmarks/mice.py
from record import record  # benchmarks/record.py

from cnngwp.data.catalogue import dataset_splits, load_dataset, select_split
from cnngwp.models.baselines import GBLUP
from cnngwp.models.cnn.estimator import CNNGWPRegressor
from cnngwp.tuning.problem import TuningProblem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--gammas", nargs="+", default=["31:25:0.63", "31:25:2", "31:25:5"])
    args = parser.parse_args()
    spec = mice_spec()
    if spec is None:
        return 2
    data = load_dataset(spec)
    problem = TuningProblem.from_split(
        data, select_split(dataset_splits(data, spec), args.fold, spec), seed=1
    )
    gblup = np.mean(
        (GBLUP().fit(problem.X_train, problem.y_train).predict(problem.X_test) - problem.y_test)
        ** 2
    )
    print(f"mice fold {args.fold}: GBLUP test MSE {gblup:.4f}", flush=True)
    ratios = {}
    for text in args.gammas:
        filters, kernel, l1 = text.split(":")
        start = time.perf_counter()
        model = CNNGWPRegressor(
            filters=int(filters),
            kernel_size=int(kernel),
            l1=float(l1),
            learning_rate=2e-3,
            epochs=100,
            patience=10,
            refit=True,
            n_members=4,
            seed=3,
        )
        model.fit(problem.X_train, problem.y_train, validation_rows=problem.validation)
        members = model.predict_members(problem.X_test)
        ensemble = members.mean(axis=0)
        ratios[text] = np.mean((ensemble - problem.y_test) ** 2) / gblup
        print(
            f"gamma {text}: CNN/GBLUP {ratios[text]:.3f}, r {np.corrcoef(ensemble, problem.y_test)[0, 1]:.3f}, "
            f"members {np.round(np.mean((members - problem.y_test) ** 2, axis=1) / gblup, 3).tolist()}, "
            f"best epochs {model.best_epochs_}, {time.perf_counter() - start:.0f} s",
            flush=True,
        )
    best = min(ratios, key=ratios.get)
    last = f"best_gamma={best} best_ratio={ratios[best]:.3f}"
    figures = {"GBLUP test MSE": round(float(gblup), 4)}
    figures |= {f"gamma {text} (filters:kernel:lambda): CNN ensemble / GBLUP test MSE": round(float(ratio), 3)
                for text, ratio in ratios.items()}
    record(f"penalty-fold{args.fold}", figures, last)
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
