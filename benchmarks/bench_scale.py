"""Every model at growing numbers of animals: `python benchmarks/bench_scale.py [--sizes 2000 5000 ...] [--snps P]`.

Simulates one random-mating population per size with msprime (p biallelic SNPs with MAF >= 0.01
along one 40 Mb chromosome, an additive trait of heritability 0.5 on 500 of them), writes it as
PLINK 1 and runs each stage in a fresh process, printing its seconds and peak memory (the
process's peak resident memory, data included; the driver simulates in a process of its own):

  read        the PLINK fileset into int8 codes (cnngwp.read_dataset)
  standardise training-row statistics and one standardised pass over every SNP block
  cnn_epoch   one epoch of the CNN (the paper's gamma, its estimator's defaults; the fused numba engine)
  gblup       GBLUP, solver "auto" (exact eigendecomposition up to ITERATIVE_FROM animals, else iterative)
  gblup_iter  GBLUP, solver "iterative" (REML by stochastic block Lanczos quadrature, BLUP by conjugate gradients)
  gdblup      dominance GBLUP, solver "auto" (exact REML on dense kernels up to ITERATIVE_FROM animals, else
              variances by moments and the BLUP by conjugate gradients)
  gdblup_iter dominance GBLUP, solver "iterative"
  rkhs        Gaussian-kernel RKHS, solver "auto" (exact dense kernels up to ITERATIVE_FROM, else Nystrom; the exact
              path is skipped where its kernels cannot fit)
  rkhs_nystrom  RKHS, solver "nystrom" (1,500 landmark animals)
  blasso      Bayesian LASSO, 100 Gibbs iterations

then the fitted exponent of each stage's cost in n (a log-log line through the sizes; above 10,000 animals where
there are two such sizes), the iterative GBLUP and GDBLUP against the exact ones where both ran (prediction
correlation, variance ratio, test MSE), and the last line
``max_n_in_24GB=<n> gblup_exponent=<b> cnn_epoch_exponent=<b>``, where max_n extrapolates the largest peak memory
of a stage that must run (all but the "_iter" and "_nystrom" ones) to 24 GB along a straight line in n (the
genotypes and every vector the models keep grow linearly in n). The figures and that line are written to
``benchmarks/results/scale-<sizes>.json`` (:mod:`record`), one record per set of sizes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import msprime
import numpy as np
import pandas as pd
from record import record  # benchmarks/record.py

from cnngwp.models.baselines import ITERATIVE_FROM

STAGES = ("read", "standardise", "cnn_epoch", "gblup", "gblup_iter", "gdblup", "gdblup_iter", "rkhs", "rkhs_nystrom",
          "blasso")
REQUIRED = ("read", "standardise", "cnn_epoch", "gblup", "gdblup", "rkhs", "blasso")
DENSE = ("gdblup", "rkhs")  # dense n x n kernels up to ITERATIVE_FROM animals


def simulate(n: int, p: int, seed: int, folder: Path) -> None:
    """A random-mating population of `n` diploids with `p` SNPs (MAF >= 0.01) and an additive trait, as PLINK."""
    from cnngwp.data.genotypes import GenotypeData
    from cnngwp.data.readers import write_dataset

    ts = msprime.sim_ancestry(samples=n, population_size=10_000, sequence_length=40e6, recombination_rate=1e-8,
                              random_seed=seed)
    ts = msprime.sim_mutations(ts, rate=1e-8, random_seed=seed, model=msprime.BinaryMutationModel())
    frequency = np.array([v.genotypes.mean() for v in ts.variants()]) if ts.num_sites < 4 * p else None
    keep = np.flatnonzero(np.minimum(frequency, 1 - frequency) >= 0.01) if frequency is not None else None
    if keep is None:  # many sites: thin first, then filter
        sites = np.linspace(0, ts.num_sites - 1, 4 * p).astype(int)
        ts = ts.delete_sites(np.setdiff1d(np.arange(ts.num_sites), sites))
        frequency = np.array([v.genotypes.mean() for v in ts.variants()])
        keep = np.flatnonzero(np.minimum(frequency, 1 - frequency) >= 0.01)
    chosen = keep[np.linspace(0, len(keep) - 1, min(p, len(keep))).astype(int)]
    ts = ts.delete_sites(np.setdiff1d(np.arange(ts.num_sites), chosen))
    genotypes = np.empty((n, ts.num_sites), dtype=np.int8)
    for j, variant in enumerate(ts.variants()):
        genotypes[:, j] = variant.genotypes[0::2] + variant.genotypes[1::2]
    rng = np.random.default_rng(seed)
    qtl = rng.choice(ts.num_sites, 500, replace=False)
    value = (genotypes[:, qtl] - genotypes[:, qtl].mean(axis=0)) @ rng.normal(0, 1, 500)
    y = 100 + value / value.std() * np.sqrt(50) + rng.normal(0, np.sqrt(50), n)
    samples = pd.DataFrame({"y": y, "sex": rng.integers(1, 3, n), "generation": 1},
                           index=pd.Index([f"a{i}" for i in range(n)], name="id"))
    snps = pd.DataFrame({"snp_id": [f"s{j}" for j in range(ts.num_sites)], "chromosome": "1",
                         "position": np.asarray(ts.sites_position, dtype=np.int64) + 1, "allele_1": "A",
                         "allele_2": "G"})
    write_dataset(GenotypeData(genotypes, samples, snps, trait="y"), folder)


def _stage(name: str, folder: str, queue) -> None:
    """Run one stage in this (fresh) process; put (seconds, peak GB, extra) on `queue`."""
    from cnngwp.data.genotypes import Standardizer
    from cnngwp.data.readers import read_dataset
    from cnngwp.models.baselines import GBLUP, GDBLUP, RKHS, BayesianLasso
    from cnngwp.models.cnn.estimator import CNNGWPRegressor

    start = time.perf_counter()
    data = read_dataset(folder)
    X, y = data.genotypes, data.y
    train, test = np.arange(len(y) * 4 // 5), np.arange(len(y) * 4 // 5, len(y))
    extra = {}
    if name != "read":
        start = time.perf_counter()
    if name == "standardise":
        scaler = Standardizer().fit(X, train)
        for columns in range(0, X.shape[1], 4096):
            scaler.select_columns(slice(columns, columns + 4096)).transform(X[:, columns:columns + 4096])
    elif name == "cnn_epoch":
        CNNGWPRegressor(epochs=1, patience=None, engine="numba").fit(
            X[train], y[train], validation_rows=np.arange(len(train) // 10))
    elif name in ("gblup", "gblup_iter"):
        model = GBLUP(solver="auto" if name == "gblup" else "iterative").fit(X[train], y[train])
        extra = {"solver": model.solver_, "delta": model.sigma2_e_ / model.sigma2_g_,
                 "predictions": model.predict(X[test])}
        if model.solver_ == "iterative":
            extra["steps"] = model.reml_.steps
    elif name in ("gdblup", "gdblup_iter"):
        model = GDBLUP(solver="auto" if name == "gdblup" else "iterative").fit(X[train], y[train])
        predictions = model.predict(X[test])
        extra = {"solver": model.solver_, "delta": model.sigma2_e_ / (model.sigma2_g_ + model.sigma2_d_),
                 "predictions": predictions, "mse": float(np.mean((predictions - y[test]) ** 2))}
    elif name in ("rkhs", "rkhs_nystrom"):
        model = RKHS(solver="auto" if name == "rkhs" else "nystrom").fit(X[train], y[train])
        extra = {"solver": model.solver_, "mse": float(np.mean((model.predict(X[test]) - y[test]) ** 2))}
    elif name == "blasso":
        BayesianLasso(n_iter=100, burn_in=0, thin=1).fit(X[train], y[train])
    seconds = time.perf_counter() - start
    queue.put((seconds, peak_memory_gb(), extra))


def peak_memory_gb() -> float:
    """This process's peak resident memory since it started (VmHWM). Not getrusage's ru_maxrss: Linux carries that
    across fork and exec, so a spawned stage would report at least its parent's resident memory at the fork."""
    with open("/proc/self/status") as status:
        kilobytes = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kilobytes / 2**20


def _simulate(n: int, p: int, folder: str, queue) -> None:
    simulate(n, p, seed=n, folder=Path(folder))
    queue.put(None)


def in_fresh_process(target, *args):
    """`target(*args, queue)` run in a spawned process (so that the driver never grows); what it put on the queue."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def exponent(sizes: list[int], values: list[float]) -> float:
    """Slope of log(value) on log(n), over the sizes above 10,000 where there are two, else all."""
    sizes, values = np.asarray(sizes, float), np.asarray(values, float)
    ok = np.isfinite(values)
    big = ok & (sizes > 10_000)
    use = big if big.sum() >= 2 else ok
    return float(np.polyfit(np.log(sizes[use]), np.log(values[use]), 1)[0]) if use.sum() >= 2 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10_000, 20_000, 50_000])
    parser.add_argument("--snps", type=int, default=50_000)
    parser.add_argument("--memory-gb", type=float, default=16.0, help="the memory a stage may use")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--largest-only", nargs="+", choices=STAGES, default=[], metavar="STAGE",
                        help="stages of --stages run at the largest size only (memory counted there; no exponent)")
    args = parser.parse_args()
    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for n in args.sizes:
            folder = Path(scratch) / f"n{n}"
            start = time.perf_counter()
            in_fresh_process(_simulate, n, args.snps, str(folder))
            print(f"n={n}: simulated {args.snps} SNPs in {time.perf_counter() - start:.0f} s", flush=True)
            results = {}
            for name in args.stages:
                if name in args.largest_only and n != max(args.sizes):
                    continue
                dense_gb = 4 * (0.8 * n) ** 2 * 8 / 2**30  # GDBLUP and RKHS hold a few n x n float64 matrices
                exact_path = 0.8 * n <= ITERATIVE_FROM
                if name in DENSE and exact_path and dense_gb > args.memory_gb:
                    print(f"  {name:<11} skipped: its dense n x n kernels need about {dense_gb:.0f} GB", flush=True)
                    rows.append({"n": n, "stage": name, "seconds": np.nan, "peak_gb": np.nan})
                    continue
                seconds, peak, extra = in_fresh_process(_stage, name, str(folder))
                results[name] = extra
                note = f" ({extra['solver']})" if "solver" in extra else ""
                note += f", {extra['steps']} block Lanczos steps" if "steps" in extra else ""
                print(f"  {name:<11} {seconds:9.1f} s {peak:7.2f} GB{note}", flush=True)
                rows.append({"n": n, "stage": name, "seconds": seconds, "peak_gb": peak})
            for model in ("gblup", "gdblup"):
                if {model, f"{model}_iter"} <= set(results) and results[model]["solver"] == "exact":
                    exact, iterative = results[model], results[f"{model}_iter"]
                    mse = f", test MSE {iterative['mse']:.3f} against {exact['mse']:.3f}" if "mse" in exact else ""
                    correlation = np.corrcoef(exact["predictions"], iterative["predictions"])[0, 1]
                    ratio = iterative["delta"] / exact["delta"]
                    print(f"  iterative vs exact {model.upper()}: prediction correlation {correlation:.6f}, "
                          f"variance ratio {ratio:.4f}{mse}", flush=True)
                    against = f"n={n}: iterative vs exact {model.upper()}"
                    figures[f"{against}, prediction correlation"] = round(correlation, 6)
                    figures[f"{against}, variance ratio"] = round(ratio, 4)
            if {"rkhs", "rkhs_nystrom"} <= set(results) and results["rkhs"]["solver"] == "exact":
                nystrom, exact = results["rkhs_nystrom"]["mse"], results["rkhs"]["mse"]
                print(f"  Nystrom vs exact RKHS: test MSE {nystrom:.3f} against {exact:.3f} "
                      f"({nystrom / exact - 1:+.2%})", flush=True)
                figures[f"n={n}: Nystrom over exact RKHS test MSE"] = round(nystrom / exact, 4)
    table = pd.DataFrame(rows)
    seconds = table.pivot(index="n", columns="stage", values="seconds")
    peaks = table.pivot(index="n", columns="stage", values="peak_gb")
    print("\nseconds\n" + seconds.round(1).to_string())
    print("\npeak memory (GB)\n" + peaks.round(2).to_string())
    exponents = {s: exponent(list(seconds.index), seconds[s].tolist()) for s in seconds.columns}
    print("\nexponent of seconds in n: " + ", ".join(f"{s} {b:.2f}" for s, b in exponents.items()))
    sizes = np.asarray(peaks.index, float)
    worst = peaks[[s for s in REQUIRED if s in peaks.columns]].max(axis=1).to_numpy()
    per_animal, base = np.polyfit(sizes, worst, 1) if len(sizes) >= 2 else (worst[-1] / sizes[-1], 0.0)
    max_n = int((24.0 - base) / per_animal) if per_animal > 0 else -1  # -1: memory did not grow with n here
    last = (f"max_n_in_24GB={max_n} gblup_exponent={exponents.get('gblup', float('nan')):.2f} "
            f"cnn_epoch_exponent={exponents.get('cnn_epoch', float('nan')):.2f}")
    for (n, stage), row in table.dropna().set_index(["n", "stage"]).iterrows():
        figures[f"n={n}: {stage}, seconds"] = round(float(row["seconds"]), 1)
        figures[f"n={n}: {stage}, peak GB"] = round(float(row["peak_gb"]), 2)
    figures |= {f"exponent of seconds in n: {stage}": round(b, 2) for stage, b in exponents.items() if np.isfinite(b)}
    figures["SNPs; training share"] = f"{args.snps}; 80 %"
    record("scale-" + "-".join(map(str, args.sizes)), figures, last)
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
