"""Fixed-effect covariates on a real trait: `python benchmarks/bench_covariates.py [--folds 0 1 ...]`.

Data: the mice of ../shared/data/mice (trait Obesity.BodyLength, the fixed 5-fold partition).
Per fold, each model is fitted on the training rows without covariates and with ``GENDER``
(categorical) and ``Litter`` (numeric) as fixed effects, and scored once on the fold's test
rows: GBLUP (REML), the Bayesian LASSO (BGLR defaults) and an honest CNN ensemble at a fixed
gamma (default 31 filters, kernel 25, lambda 2: the best of ``bench_penalty.py``; 4 members,
lr 2e-3, patience 10, refit on all training rows). Prints the test MSE per fold and model and
the fixed effects; last line the mean test MSE of each model with and without covariates,
``<model>_mse=<without>/<with>``, also written with the means to ``benchmarks/results/covariates.json``
(:mod:`record`).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from mice import mice_folds  # benchmarks/mice.py
from record import record  # benchmarks/record.py

from cnngwp.data.covariates import covariate_design
from cnngwp.models.baselines import GBLUP, BayesianLasso
from cnngwp.models.cnn.estimator import CNNGWPRegressor
from cnngwp.tuning.problem import TuningProblem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--gamma", default="31:25:2", help="FILTERS:KERNEL:LAMBDA of the CNN")
    parser.add_argument("--members", type=int, default=4)
    args = parser.parse_args()
    mice = mice_folds()
    if mice is None:
        return 2
    data, splits = mice
    filters, kernel, l1 = args.gamma.split(":")
    rows = []
    for fold in args.folds:
        split = splits[fold]
        design = covariate_design(data, split, ("GENDER", "Litter"), ("GENDER",))
        for label, covariates in (("without", None), ("with", design)):
            problem = TuningProblem.from_split(data, split, seed=1, covariates=covariates)
            models = {"GBLUP": GBLUP(), "BLASSO": BayesianLasso(seed=1),
                      "CNN": CNNGWPRegressor(filters=int(filters), kernel_size=int(kernel), l1=float(l1),
                                             learning_rate=2e-3, epochs=100, patience=10, refit=True,
                                             n_members=args.members, seed=3)}
            for name, model in models.items():
                start = time.perf_counter()
                options = {"validation_rows": problem.validation} if name == "CNN" else {}
                model.fit(problem.X_train, problem.y_train, covariates=problem.C_train, **options)
                predicted = model.predict(problem.X_test, covariates=problem.C_test)
                mse = float(np.mean((predicted - problem.y_test) ** 2))
                effects = getattr(model, "fixed_effects_", np.empty(0))
                rows.append({"fold": fold, "covariates": label, "model": name, "test_mse": mse,
                             "correlation": float(np.corrcoef(predicted, problem.y_test)[0, 1]),
                             "seconds": time.perf_counter() - start})
                named = design.names if len(effects) else []
                described = ", ".join(f"{n} {v:+.3f}" for n, v in zip(named, effects, strict=True))
                print(
                    f"fold {fold} {label:>7} covariates  {name:<6} test MSE {mse:.4f}  r {rows[-1]['correlation']:.3f}"
                    f"  {rows[-1]['seconds']:.0f} s" + (f"  fixed effects: {described}" if described else ""),
                    flush=True,
                )
    table = pd.DataFrame(rows).pivot_table(index="model", columns="covariates", values="test_mse", aggfunc="mean")
    print(table[["without", "with"]].round(4).to_string())
    last = " ".join(f"{name}_mse={table.loc[name, 'without']:.4f}/{table.loc[name, 'with']:.4f}"
                    for name in ("GBLUP", "BLASSO", "CNN"))
    figures = {"folds": ", ".join(map(str, args.folds)), "CNN gamma (filters:kernel:lambda)": args.gamma}
    figures |= {f"{name}: mean test MSE {label} covariates": round(float(table.loc[name, label]), 4)
                for name in ("GBLUP", "BLASSO", "CNN") for label in ("without", "with")}
    record("covariates", figures, last)
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
