"""Why the backbone's CNN fits the out-of-fold residual, and with which input: `python benchmarks/bench_backbone.py
[--members 2]`.

On the default simulation (generations 1-4 -> 5), GDBLUP + CNN is fitted three times with the same
CNN (the paper's gamma_MA filters 64 and kernel 27, lambda 1.5, the quick profile's training,
`--members` refitted members, the same seeds):

- ``out-of-fold``: on y minus GDBLUP's predictions cross-fitted in 5 folds of the training rows
  (:meth:`cnngwp.models.backbone.KernelBackboneCNN.cross_fit_kernel`, what every run and study does), additive encoding;
- ``in-sample``: on y minus the predictions of the GDBLUP fitted on every training row, which REML's
  BLUP shrinks towards zero on those rows, additive encoding;
- ``out-of-fold genotypic``: the first with the genotypic encoding (the codes and a heterozygote
  channel: :data:`cnngwp.models.backbone.BACKBONE_ENCODING`).

Prints, per fit, the residual's variance on the training rows (against the test rows' residual
variance about GDBLUP's prediction), the CNN's best epochs and the test MSE of GDBLUP + CNN, and a
last line ``in_sample_over_out_of_fold_mse=<r> genotypic_over_additive_mse=<r> gdblup_mse=<m>``, also written with
the test MSEs to ``benchmarks/results/backbone.json`` (:mod:`record`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace

import numpy as np
from record import record  # benchmarks/record.py

from cnngwp.data.catalogue import DatasetSpec, load_dataset
from cnngwp.data.splits import split_by_generation
from cnngwp.models.backbone import KernelBackboneCNN
from cnngwp.models.baselines import GDBLUP
from cnngwp.models.paper import PAPER_FILTERS, PAPER_KERNEL_SIZE
from cnngwp.tuning.combined import residual_problem
from cnngwp.tuning.problem import TuningProblem, fit_cnn
from cnngwp.tuning.search import Gamma
from cnngwp.tuning.settings import PROFILES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = load_dataset(DatasetSpec(key="qtlmas2010-sim", kind="simulated", path=folder, seed=1))
    problem = TuningProblem.from_split(data, split_by_generation(data), seed=1)
    kernel = GDBLUP().fit(problem.X_train, problem.y_train)
    kernel_test = kernel.predict(problem.X_test)
    gdblup_mse = float(np.mean((problem.y_test - kernel_test) ** 2))
    print(f"GDBLUP: test MSE {gdblup_mse:.3f}; test rows' residual variance {np.var(problem.y_test - kernel_test):.2f}")
    out_of_fold = KernelBackboneCNN(seed=1).cross_fit_kernel(problem.X_train, problem.y_train)
    training = PROFILES["quick"].training
    fits = {"out-of-fold": (out_of_fold, training), "in-sample": (kernel.predict(problem.X_train), training),
            "out-of-fold genotypic": (out_of_fold, replace(training, encoding="genotypic"))}
    mse = {}
    for name, (fitted, settings) in fits.items():
        residual = residual_problem(problem, fitted, kernel_test)
        gamma = Gamma(PAPER_FILTERS, PAPER_KERNEL_SIZE, 1.5)
        cnn = fit_cnn(residual, gamma, settings, "honest", 1, refit=True, n_members=args.members)
        mse[name] = float(np.mean((problem.y_test - kernel_test - cnn.predict(problem.X_test)) ** 2))
        print(f"{name}: training residual variance {np.var(residual.y_train):.2f}, CNN best epochs "
              f"{cnn.best_epochs_}, GDBLUP + CNN test MSE {mse[name]:.3f}", flush=True)
    last = (f"in_sample_over_out_of_fold_mse={mse['in-sample'] / mse['out-of-fold']:.3f} "
            f"genotypic_over_additive_mse={mse['out-of-fold genotypic'] / mse['out-of-fold']:.3f} "
            f"gdblup_mse={gdblup_mse:.3f}")
    figures = {"GDBLUP test MSE": round(gdblup_mse, 3)}
    figures |= {f"GDBLUP + CNN ({name} residual) test MSE": round(value, 3) for name, value in mse.items()}
    record("backbone", figures, last)
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
