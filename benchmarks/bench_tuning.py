"""Wall time of the Bayesian optimisation with 1 and with 2 Dask workers: `python benchmarks/bench_tuning.py`.

Both runs do the same work on the default simulated data set (seed 1, generations
1-4 -> 5, honest protocol): S replicates of T points, each CNN trained for a fixed
number of epochs (no early stopping, so the work does not depend on timing). One
worker gets all the cores for TensorFlow; two workers get one core each. The same
seed gives the same points, which the script checks. The last line holds
``workers_1_s=… workers_2_s=… speedup=…``, also written to ``benchmarks/results/tuning.json`` (:mod:`record`).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from record import record  # benchmarks/record.py

from cnngwp.data.catalogue import DatasetSpec, load_dataset
from cnngwp.data.splits import split_by_generation
from cnngwp.runs.parallel import open_client
from cnngwp.tuning.problem import TuningProblem
from cnngwp.tuning.search import tune
from cnngwp.tuning.settings import SEARCH_SPACES, Profile, RunSettings, TrainingSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--points", type=int, default=4, help="T per replicate (3 random, the rest guided)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data", default="runs/data/qtlmas2010-sim", help="simulated there first if missing")
    args = parser.parse_args()
    data = load_dataset(DatasetSpec(key="qtlmas2010-sim", kind="simulated", path=args.data, seed=1))
    problem = TuningProblem.from_split(data, split_by_generation(data))
    profile = Profile("bench", min(3, args.points), max(0, args.points - 3), args.replicates, 1,
                      TrainingSettings(4e-3, 48, args.epochs, None))
    print(f"{data.n_samples} animals x {data.n_snps} SNPs; {args.replicates} replicates x {args.points} points x "
          f"{args.epochs} epochs")
    seconds, points = {}, {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as run_dir, open_client(None, n_workers=workers) as client:
            start = time.perf_counter()
            result = tune(problem, client, run_dir, RunSettings(SEARCH_SPACES["qtlmas2010"], profile, seed=1),
                          progress=False)
            seconds[workers] = time.perf_counter() - start
        points[workers] = result.evaluations[["filters", "kernel_size", "l1"]].to_numpy()
        fit_seconds = result.evaluations["seconds"].sum()
        print(f"{workers} worker(s): wall {seconds[workers]:.1f} s; summed fit time {fit_seconds:.1f} s; "
              f"gamma_MA {result.gamma.as_dict()}")
    same = bool(np.allclose(points[1], points[2], rtol=1e-6))
    print(f"same points with 1 and 2 workers: {same}")
    last = f"workers_1_s={seconds[1]:.1f} workers_2_s={seconds[2]:.1f} speedup={seconds[1] / seconds[2]:.2f}"
    record("tuning", {"replicates x points x epochs": f"{args.replicates} x {args.points} x {args.epochs}",
                      "wall seconds, 1 worker": round(seconds[1], 1), "wall seconds, 2 workers": round(seconds[2], 1),
                      "speed-up": round(seconds[1] / seconds[2], 2), "same points": same}, last)
    print(last)


if __name__ == "__main__":
    main()
