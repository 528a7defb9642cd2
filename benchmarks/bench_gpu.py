"""GPU throughput and the paper profile's wall time: `python benchmarks/bench_gpu.py --data DIR`.

Meant for one GPU with Keras 3 on JAX (``KERAS_BACKEND=jax``; TensorFlow need not be
installed); a few minutes on a data-centre GPU. DIR is the default simulation
(``cnngwp simulate --seed 1 --out DIR``); after QC generations 1-4 train (2,326 x 9,643),
generation 5 is the validation data; gamma is the paper's (64, 27, 0.571), batch 48,
learning rate 2.5e-4. Printed side by side in one run:

1. seconds per epoch, as (T(1 + k epochs) - T(1 epoch)) / k (construction and compilation
   left out), of (a) the published pattern (a plain Sequential model on a standardised
   float32 matrix, the validation set evaluated every epoch, ModelCheckpoint to disk),
   (b) one ``CNNGWPRegressor``, (c) S = 8 and (d) S = 25 members trained together in one
   network, per member;
2. BO evaluations per minute with 1, 2, 4 and 8 Dask workers sharing the GPU (each with
   JAX's preallocation off and a memory fraction of 0.9 / workers): each worker trains
   its own network; an evaluation's time is split into a fixed part (building,
   compiling, validation) and a per-epoch part by timing 1-epoch and (1 + k)-epoch
   evaluations, and the rate is given for the paper profile's 250-epoch evaluations;
3. the projected wall time of the ``paper`` profile (25 replicates x 40 evaluations of
   250 epochs at the best concurrency, then 25 members together for 250 epochs and their
   refit, counted at 250 epochs as an upper bound).

Last line: ``per_member_epoch_ratio=<(a) / (d) per member> paper_profile_hours=<...>``; the figures and that line
are written to ``benchmarks/results/gpu.json`` (:mod:`record`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from published import BATCH, GAMMA, LEARNING_RATE, published_pattern  # benchmarks/published.py
from record import record  # benchmarks/record.py

from cnngwp.data.genotypes import quality_control
from cnngwp.data.readers import read_dataset
from cnngwp.data.splits import split_by_generation
from cnngwp.data.store import read_and_call, store
from cnngwp.models.cnn.device import accelerator_available
from cnngwp.models.cnn.estimator import CNNGWPRegressor
from cnngwp.runs.parallel import worker_environment
from cnngwp.tuning.problem import TuningProblem
from cnngwp.tuning.search import Gamma, evaluate_gamma
from cnngwp.tuning.settings import PROFILES, TrainingSettings


def estimator(x, y, x_val, y_val, epochs: int, members: int) -> float:
    start = time.perf_counter()
    CNNGWPRegressor(**GAMMA, learning_rate=LEARNING_RATE, batch_size=BATCH, epochs=epochs, patience=None,
                    n_members=members, ensemble_mode="together" if members > 1 else "sequential",
                    engine="keras").fit(x, y, validation_data=(x_val, y_val))
    return time.perf_counter() - start


def per_epoch(run, k: int) -> float:
    run(1)  # compile caches warm
    return (run(1 + k) - run(1)) / k


def evaluation_rates(problem: TuningProblem, workers: int, k: int) -> tuple[float, float]:
    """(fixed seconds, seconds per epoch) of one evaluation when `workers` evaluations share the GPU."""
    from distributed import Client, LocalCluster

    env = {**worker_environment(1), "KERAS_BACKEND": keras.backend.backend(), "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
           "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / workers:.3f}"}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", env=env,
                      silence_logs=40) as cluster, Client(cluster) as client, tempfile.TemporaryDirectory() as tmp:
        shared = store(problem, Path(tmp) / "problem")  # the workers read it, as in a run

        def round_of(epochs: int) -> float:
            training = TrainingSettings(LEARNING_RATE, BATCH, epochs, None, False)
            futures = [client.submit(read_and_call, evaluate_gamma, shared, Gamma(**GAMMA), training, "honest", seed,
                                     pure=False) for seed in range(workers)]
            return float(np.mean([f.result()["seconds"] for f in futures]))

        round_of(1)  # every worker imports, initialises the GPU and compiles once
        short, long = round_of(1), round_of(1 + k)
    step = (long - short) / k
    return short - step, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder of the default simulation (cnngwp simulate --seed 1)")
    # k = 5 gave 8 workers sharing an H200 a per-epoch time below 4 workers' (noise); k = 20 ordered them
    parser.add_argument("--timed-epochs", type=int, default=20, help="k in (T(1 + k) - T(1)) / k")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--together", type=int, nargs="+", default=[8, 25], help="ensemble sizes trained together")
    args = parser.parse_args()
    print(f"Keras {keras.__version__} on {keras.backend.backend()}; GPU seen: {accelerator_available()}")
    data = quality_control(read_dataset(args.data))[0]
    split = split_by_generation(data)
    problem = TuningProblem.from_split(data, split, seed=1)
    fit, val = problem.fit_rows, problem.validation
    x, y = problem.X_train[fit], problem.y_train[fit].astype(np.float32)
    x_val, y_val = problem.X_train[val], problem.y_train[val].astype(np.float32)
    print(f"data: {len(y)} fitted, {len(y_val)} validation animals x {data.n_snps} SNPs")
    k = args.timed_epochs
    with tempfile.TemporaryDirectory() as tmp:
        a = per_epoch(lambda e: published_pattern(x, y, x_val, y_val, e, Path(tmp)), k)
    b = per_epoch(lambda e: estimator(x, y, x_val, y_val, e, 1), k)
    together = {s: per_epoch(lambda e, s=s: estimator(x, y, x_val, y_val, e, s), k) for s in args.together}
    largest = max(together)
    member_epoch = together[largest] / largest
    print(f"(a) published pattern        {a:8.4f} s per epoch")
    print(f"(b) CNNGWPRegressor          {b:8.4f} s per epoch             (a/b = {a / b:.1f})")
    for s, seconds in together.items():
        print(f"    S = {s:2d} together          {seconds:8.4f} s per epoch, {seconds / s:.4f} per member "
              f"(a / per member = {a * s / seconds:.1f})")
    paper = PROFILES["paper"]
    epochs = paper.training.epochs
    rates = {}
    for workers in args.workers:
        fixed, step = evaluation_rates(problem, workers, k)
        rates[workers] = 60 * workers / (fixed + epochs * step)
        print(f"{workers} worker(s): an evaluation {fixed:.1f} s fixed + {step:.4f} s per epoch; "
              f"{rates[workers]:.2f} evaluations of {epochs} epochs per minute")
    best = max(rates, key=rates.get)
    evaluations = paper.replicates * paper.n_points
    tuning_hours = evaluations / rates[best] / 60
    ensemble_hours = 2 * epochs * member_epoch * paper.n_members / 3600
    print(f"paper profile: {evaluations} evaluations at {rates[best]:.2f} per minute ({best} workers) = "
          f"{tuning_hours:.2f} h; {paper.n_members} members together, {epochs} epochs + refit (<= {epochs}) = "
          f"{ensemble_hours:.2f} h")
    last = f"per_member_epoch_ratio={a / member_epoch:.1f} paper_profile_hours={tuning_hours + ensemble_hours:.2f}"
    figures = {"Keras, backend, device": f"{keras.__version__}, {keras.backend.backend()}, "
                                         f"{'GPU' if accelerator_available() else 'no GPU'}",
               "timed epochs k": k, "(a) published pattern, s per epoch": round(a, 4),
               "(b) one CNNGWPRegressor, s per epoch": round(b, 4)}
    figures |= {f"S = {s} together, s per member-epoch": round(seconds / s, 4) for s, seconds in together.items()}
    figures |= {f"BO evaluations of {epochs} epochs per minute, {w} worker(s)": round(r, 2) for w, r in rates.items()}
    figures |= {"paper profile, tuning hours": round(tuning_hours, 2),
                "paper profile, ensemble hours (upper bound)": round(ensemble_hours, 2)}
    record("gpu", figures, last)
    print(last)


if __name__ == "__main__":
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    main()
