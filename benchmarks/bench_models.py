"""Every model on the mice folds: `python benchmarks/bench_models.py [--folds 0 1 ...]`.

Data: the mice of ../shared/data/mice (trait Obesity.BodyLength, the fixed 5-fold partition).
Per fold, GBLUP, GDBLUP, RKHS, the Bayesian LASSO and a CNN ensemble are fitted on the
training folds and score the test fold once (:func:`cnngwp.runs.study.fit_every_model`). The CNN
is tuned honestly as in chapter 8's study: filters and kernel size fixed at the paper's
gamma_MA for its real pig trait (25 and 34), lambda chosen per fold among 0.5, 1.5 and 4.5
(the paper's bounds for that trait were 0.5-5) by the validation MSE of one network each on a
seeded random 20 % of the training rows, then 4 members refitted on every training row (the
quick profile's training). Prints each fold's test MSE per model, the 5-fold means, each
model's mean ratio to GBLUP with the paired t interval over folds, and a last line
``best=<model> cnn_over_best_kernel=<ratio>``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from mice import mice_folds  # benchmarks/mice.py
from scipy import stats

from cnngwp.reports.study_tables import KERNEL_MODELS
from cnngwp.runs.study import fit_every_model
from cnngwp.tuning.problem import PROFILES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    mice = mice_folds()
    if mice is None:
        return 2
    data, splits = mice
    rows = []
    for fold in args.folds:
        table, _, l1 = fit_every_model(data, splits[fold], l1_grid=(0.5, 1.5, 4.5), n_members=4,
                                       training=PROFILES["quick"].training, seed=1, filters=25, kernel_size=34)
        rows.append(table.assign(fold=fold, cnn_l1=l1))
        print(f"fold {fold} (CNN lambda {l1:g}): " + ", ".join(f"{r.model} {r.mse:.4f} ({r.seconds:.0f} s)"
                                                               for r in table.itertuples()), flush=True)
    results = pd.concat(rows, ignore_index=True)
    wide = results.pivot(index="fold", columns="model", values="mse")[list(results["model"].unique())]
    print("\ntest MSE per fold and mean:\n" + pd.concat([wide, wide.mean().to_frame("mean").T]).round(4).to_string())
    for model in wide.columns:
        ratio = wide[model] / wide["GBLUP"]
        half = (stats.t.ppf(0.975, len(ratio) - 1) * ratio.std(ddof=1) / np.sqrt(len(ratio))
                if len(ratio) > 1 else float("nan"))
        print(f"{model}: mean MSE {wide[model].mean():.4f}, ratio to GBLUP {ratio.mean():.3f} "
              f"(95 % t interval over folds {ratio.mean() - half:.3f} to {ratio.mean() + half:.3f})")
    means = wide.mean()
    kernel = means[list(KERNEL_MODELS)].idxmin()
    print(f"best={means.idxmin()} cnn_over_best_kernel={means['CNN ensemble'] / means[kernel]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
