"""Every model on the default simulation and the mice folds: `python benchmarks/bench_models.py [--datasets ...]`.

Models (:func:`cnngwp.runs.study.fit_every_model`): GBLUP, GDBLUP, EGBLUP, RKHS, the Bayesian LASSO,
a CNN ensemble, a genotypic CNN ensemble (a heterozygote channel beside the codes), the backbone
model (GDBLUP + a genotypic CNN fitted to its out-of-fold residual) and the
stack of all of them (weights fitted on held-out predictions of the validation rows), each fitted
on the training rows and scoring the test rows once.

Data:

- ``default``: the simulation ``make book`` runs (seed 1, 3,226 animals x 10,000 SNPs), generations
  1-4 -> 5. The CNNs are tuned as in chapter 8's study: filters and kernel size fixed at the
  paper's gamma_MA for QTLMAS2010 (64 and 27), lambda chosen among 0.25, 0.571 and 1.5 on the
  youngest training generation, 4 refitted members (the quick profile's training).
- ``mice``: ../shared/data/mice (trait Obesity.BodyLength, the fixed 5-fold partition). Filters
  and kernel size fixed at the paper's gamma_MA for its real pig trait (25 and 34), lambda chosen
  per fold among 0.5, 1.5 and 4.5 (the paper's bounds for that trait were 0.5-5) on a seeded
  random 20 % of the training rows, 4 refitted members.

Prints each split's test MSE per model with the stack's weights (on the mice folds fitted on an inner
5-fold cross-fit of the training rows outside the validation rows:
:func:`cnngwp.models.stack.held_out_parts`), the mice per-fold table and
means, each model's ratio to GBLUP and to the best kernel model (GBLUP, GDBLUP, EGBLUP, RKHS; mice: mean
ratio with the paired t interval over folds), and a last line
``best_cnn_based_over_best_kernel_default=<r> best_cnn_based_over_best_kernel_mice=<r>``: the
best of the CNN-based models (CNN ensemble, genotypic CNN, backbone, stack) over the best kernel model. The
test MSEs and that line are written to ``benchmarks/results/models.json`` (:mod:`record`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import pandas as pd
from mice import mice_folds  # benchmarks/mice.py
from record import record  # benchmarks/record.py

from cnngwp.data.catalogue import DatasetSpec, load_dataset
from cnngwp.data.splits import split_by_generation
from cnngwp.models.names import KERNEL_MODELS, PAPER_PROTOCOL_CNN, STACK
from cnngwp.models.paper import PAPER_L1
from cnngwp.reports.tables import CNN_BASED_MODELS, t_interval
from cnngwp.runs.study import fit_every_model
from cnngwp.tuning.search import Gamma
from cnngwp.tuning.settings import PROFILES


def _fit(data, split, **options) -> pd.DataFrame:
    fit = fit_every_model(data, split, n_members=4, training=PROFILES["quick"].training, seed=1, **options)
    print(f"{split.name} (lambda {', '.join(f'{m} {v:g}' for m, v in fit.l1.items())}; "
          f"stack {fit.stack.describe()}): "
          + ", ".join(f"{r.model} {r.mse:.4f} ({r.seconds:.0f} s)" for r in fit.table.itertuples()), flush=True)
    return fit.table


def _ratios(means: pd.Series) -> float:
    """Print each model's ratio to GBLUP and to the best kernel model; return the best CNN-based model's."""
    kernel = means[list(KERNEL_MODELS)].idxmin()
    for model, mse in means.items():
        print(f"  {model}: {mse:.4f}, ratio to GBLUP {mse / means['GBLUP']:.3f}, to {kernel} {mse / means[kernel]:.3f}")
    members = means.drop([STACK, PAPER_PROTOCOL_CNN], errors="ignore")
    print(f"  {STACK} over its best member ({members.idxmin()}): {means[STACK] / members.min():.4f}")
    return float(means[[m for m in CNN_BASED_MODELS if m in means]].min() / means[kernel])


def default_split(figures: dict) -> float:
    with tempfile.TemporaryDirectory() as folder:  # written and read back as make book's run reads it
        data = load_dataset(DatasetSpec(key="qtlmas2010-sim", kind="simulated", path=folder, seed=1))
    table = _fit(data, split_by_generation(data), l1_grid=(0.25, PAPER_L1, 1.5))
    print("default split, test MSE:")
    means = table.set_index("model")["mse"]
    figures.update({f"default split: {model} test MSE": round(float(mse), 3) for model, mse in means.items()})
    return _ratios(means)


def mice(folds: list[int], figures: dict) -> float:
    loaded = mice_folds()
    if loaded is None:
        return float("nan")
    data, splits = loaded
    rows = [_fit(data, splits[f], l1_grid=(0.5, 1.5, 4.5), gamma=Gamma(25, 34, 0.5)).assign(fold=f) for f in folds]
    results = pd.concat(rows, ignore_index=True)
    wide = results.pivot(index="fold", columns="model", values="mse")[list(results["model"].unique())]
    print("\nmice, test MSE per fold and mean:\n"
          + pd.concat([wide, wide.mean().to_frame("mean").T]).round(4).to_string())
    for model in wide.columns:
        mean, lower, upper = t_interval(wide[model] / wide["GBLUP"])
        print(f"  {model}: mean ratio to GBLUP over folds {mean:.3f} (95 % t interval {lower:.3f} to {upper:.3f})")
    print("mice, mean test MSE over folds:")
    figures.update({f"mice, mean of folds {folds}: {model} test MSE": round(float(mse), 4)
                    for model, mse in wide.mean().items()})
    return _ratios(wide.mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=("default", "mice"), default=["default", "mice"])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="mice folds")
    args = parser.parse_args()
    figures = {}
    default = default_split(figures) if "default" in args.datasets else float("nan")
    mice_ratio = mice(args.folds, figures) if "mice" in args.datasets else float("nan")
    last = (f"best_cnn_based_over_best_kernel_default={default:.3f} "
            f"best_cnn_based_over_best_kernel_mice={mice_ratio:.3f}")
    record("models", figures, last)
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
