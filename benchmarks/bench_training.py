"""Which learning rate converges: `python benchmarks/bench_training.py [--rates ...] [--patience N] [--cap N]`.

Data: the default simulated data set (seed 1) after QC; generations 1-4 train, 5 test.
gamma: the paper's (64 filters, kernel 27, lambda 0.571); the networks fit the trait
rescaled to SD 10, about this trait's own SD, so the paper's values carry over.
For each learning rate one honest member (the estimator's default
engine): fitted on generations 1-3 with the best epoch chosen on generation 4 (patience
stops it), then refitted on generations 1-4 for that many epochs and scored once on
generation 5. Prints epochs to the best validation MSE, that MSE, the test MSE after
refit, seconds, GBLUP's test MSE, and last
``epochs_ratio=<epochs to best at 2.5e-4 (the paper's rate) / at the chosen lr> test_mse_chosen=<...>``, also
written with the table to ``benchmarks/results/training.json`` (:mod:`record`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from record import record  # benchmarks/record.py

from cnngwp.data.genotypes import quality_control
from cnngwp.data.simulate import simulate_qtlmas2010
from cnngwp.data.splits import split_by_generation
from cnngwp.models.baselines import GBLUP
from cnngwp.models.cnn.estimator import CNNGWPRegressor
from cnngwp.models.paper import PAPER_FILTERS, PAPER_KERNEL_SIZE, PAPER_L1, PAPER_LEARNING_RATE
from cnngwp.tuning.settings import PROFILES

GAMMA = {"filters": PAPER_FILTERS, "kernel_size": PAPER_KERNEL_SIZE, "l1": PAPER_L1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[PAPER_LEARNING_RATE, 5e-4, 1e-3, 2e-3, 4e-3])
    parser.add_argument("--patience", type=int, default=10, help="early-stopping patience (epochs)")
    parser.add_argument("--cap", type=int, default=250, help="epoch cap")
    parser.add_argument("--chosen", type=float, default=PROFILES["quick"].training.learning_rate,
                        help="the rate compared with 2.5e-4 on the last line (default: the quick profile's)")
    args = parser.parse_args()
    data, _ = quality_control(simulate_qtlmas2010(seed=1))
    split = split_by_generation(data)
    X, y = data.genotypes[split.train], data.y[split.train]
    generations = data.generations[split.train]
    X_test, y_test = data.genotypes[split.test], data.y[split.test]
    gblup = float(np.mean((GBLUP().fit(X, y).predict(X_test) - y_test) ** 2))
    rows = []
    for rate in args.rates:
        start = time.perf_counter()
        model = CNNGWPRegressor(**GAMMA, learning_rate=rate, epochs=args.cap, patience=args.patience, refit=True,
                                seed=1).fit(X, y, generations=generations)
        history = model.history_[0]
        rows.append({"learning_rate": rate, "epochs_run": len(history), "epochs_to_best": model.best_epochs_[0],
                     "best_validation_mse": float(history["validation_mse"].min()),
                     "test_mse_after_refit": float(np.mean((model.predict(X_test) - y_test) ** 2)),
                     "seconds": time.perf_counter() - start, "engine": model.engine_})
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1, float_format="%.4g"), flush=True)
    table = pd.DataFrame(rows).set_index("learning_rate")
    print(f"\n{data.source}: {len(y)} training (validation: generation {generations.max()}), {len(y_test)} test "
          f"animals, {data.n_snps} SNPs; patience {args.patience}, cap {args.cap}; GBLUP test MSE {gblup:.3f}")
    print(table.to_string(float_format="%.4g"))
    slow, chosen = table.loc[PAPER_LEARNING_RATE], table.loc[args.chosen]
    last = (f"epochs_ratio={slow['epochs_to_best'] / chosen['epochs_to_best']:.2f} "
            f"test_mse_chosen={chosen['test_mse_after_refit']:.3f}")
    figures = {"GBLUP test MSE": round(gblup, 3), "patience; epoch cap": f"{args.patience}; {args.cap}"}
    for rate, row in table.iterrows():
        figures |= {f"lr {rate:g}: epochs to the best validation MSE": int(row["epochs_to_best"]),
                    f"lr {rate:g}: test MSE after refit": round(row["test_mse_after_refit"], 3),
                    f"lr {rate:g}: seconds": round(row["seconds"], 1)}
    record("training", figures, last)
    print(last)


if __name__ == "__main__":
    main()
