"""Which epoch each validation split picks, the refit, and the 8-member ensemble: `python benchmarks/bench_validation.py`.

Data: the default simulated data set (seed 1), generations 1-4 train, 5 test; the
paper's gamma = (64, 27, 0.571), batch 48, honest protocol throughout. Training uses the
``quick`` profile's learning rate (4e-3) for a fixed number of epochs without early
stopping, because the paper's 2.5e-4 needs about 80 epochs per network (about 3 CPU-hours
for this script on 2 cores).

Printed, each with its test MSE on generation 5:
- forward validation (fit on generations 1-3, validate on 4): 8 members with
  independent initialisations, each at its best validation epoch; member 0 alone, the
  average member and the 8-member ensemble;
- a random 20 % validation split of generations 1-4 (the split of related animals that
  rewards fitting family structure): the epoch it picks and its test MSE;
- forward validation followed by a refit on all of generations 1-4 for the chosen epochs;
- GBLUP on generations 1-4.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cnngwp.baselines import GBLUP
from cnngwp.datasets import DatasetSpec, load_dataset
from cnngwp.model import CNNGWPRegressor
from cnngwp.splits import split_by_generation
from cnngwp.tuning import PROFILES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--data", default="runs/data/qtlmas2010-sim", help="simulated there first if missing")
    args = parser.parse_args()
    data = load_dataset(DatasetSpec(key="qtlmas2010-sim", kind="simulated", path=args.data, seed=1))
    split = split_by_generation(data)
    X, y, gen = data.genotypes, data.y, data.generations
    X_train, y_train, X_test, y_test = X[split.train], y[split.train], X[split.test], y[split.test]
    settings = {"filters": 64, "kernel_size": 27, "l1": 0.571, "learning_rate": PROFILES["quick"].training.learning_rate,
                "batch_size": 48, "epochs": args.epochs, "patience": None, "seed": 1}
    print(f"{len(split.train)} training (generations 1-4), {len(split.test)} test animals, {data.n_snps} SNPs; "
          f"lr {settings['learning_rate']}, {args.epochs} epochs")

    def mse(predicted):
        return float(np.mean((predicted - y_test) ** 2))

    start = time.perf_counter()
    forward = CNNGWPRegressor(**settings, n_members=args.members, ensemble_mode="sequential").fit(
        X_train, y_train, generations=gen[split.train])
    members = forward.predict_members(X_test)
    member_mse = [mse(m) for m in members]
    print(f"forward validation: best epochs {forward.best_epochs_}; "
          f"{time.perf_counter() - start:.0f} s for {args.members} members")
    print(f"  one model (member 0) test MSE {member_mse[0]:.2f}; average member {np.mean(member_mse):.2f} "
          f"(range {min(member_mse):.2f}-{max(member_mse):.2f}); {args.members}-member ensemble {mse(members.mean(0)):.2f}")

    random = CNNGWPRegressor(**settings, validation_fraction=0.2).fit(X_train, y_train)
    history = random.history_[0]
    print(f"random 20% validation: best epoch {random.best_epochs_[0]} "
          f"(validation MSE {history['validation_mse'].min():.2f}, train MSE then "
          f"{history['train_mse'].iloc[random.best_epochs_[0] - 1]:.2f}); test MSE {mse(random.predict(X_test)):.2f}")

    refit = CNNGWPRegressor(**settings, refit=True).fit(X_train, y_train, generations=gen[split.train])
    print(f"forward validation + refit on generations 1-4 for {refit.best_epochs_[0]} epochs: "
          f"test MSE {mse(refit.predict(X_test)):.2f}")

    print(f"GBLUP (generations 1-4): test MSE {mse(GBLUP().fit(X_train, y_train).predict(X_test)):.2f}")


if __name__ == "__main__":
    main()
