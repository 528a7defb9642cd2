"""CNN training cost: `python benchmarks/bench_cnn.py [--part epoch-cost|early-stopping|all]`.

Data: the default simulated data set (seed 1) after QC, generations 1-4 (2,326 animals)
for training, generation 5 for testing; gamma = (64, 27, 0.571), batch 48.

epoch-cost
    Seconds per model-epoch, measured side by side in this run, each configuration in a
    fresh process (TensorFlow's idle thread pools would otherwise slow numba's threads), as
    (T(1 + k epochs) - T(1 epoch)) / k so that model construction, tracing and compilation
    are left out, for
    (a) the published code's pattern: a plain Keras model on a standardised float32
        matrix, the test set evaluated every epoch, ModelCheckpoint(save_best_only=True)
        writing to disk;
    (b) the cnngwp estimator on the Keras engine (int8 input standardised inside the
        model, best weights kept in memory), same validation rows;
    (c) the cnngwp estimator on the fused numba engine (``engine="numba"``), whose convolution and kernel gradient
        are matrix products by scipy's BLAS (its kernels use the widest FMA the CPU has);
    (d) the numba engine with twice the filters: what S members fused into one pass over
        the input would cost per member (they would share only the input windows).
    Also the GFLOP/s of each (2 K F positions per sample, forward + kernel gradient), the
    measured FMA peak of this machine's cores (a register-only FMA loop in C with the widest
    vectors the CPU has, AVX-512 or AVX2, compiled with the machine's C compiler, one thread
    per core) and each engine's share of it.
early-stopping
    One honest 250-epoch run (fit on generations 1-3, validate on generation 4). Its
    validation curve gives, for each patience, the epoch at which early stopping ends
    training and the best validation MSE reached by then (the run is deterministic, so
    this is what a run with that patience does). The test MSE of the model restored to
    its best epoch is printed next to GBLUP's on the same split.

Last line: ``per_epoch_ratio=<(a) / (c)> peak_share=<(c)'s share of the FMA peak> epoch_ratio=<...>``; the figures
and that line are written to ``benchmarks/results/cnn-<part>.json`` (:mod:`record`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from published import GAMMA, published_pattern  # benchmarks/published.py
from record import record  # benchmarks/record.py

from cnngwp.data.genotypes import quality_control
from cnngwp.data.simulate import simulate_qtlmas2010
from cnngwp.data.splits import split_by_generation
from cnngwp.models.baselines import GBLUP
from cnngwp.models.cnn.estimator import CNNGWPRegressor

# 12 independent accumulators kept in registers: enough FMAs in flight to hide the latency on two FMA ports. LANES
# float32 lanes per vector: 16 (AVX-512) or 8 (AVX2), chosen at compile time.
FMA_PEAK_C = r"""
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>
#if LANES == 16
typedef __m512 vec;
#define SET _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#else
typedef __m256 vec;
#define SET _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#endif
#define STEP(a) a = FMA(a, m, c)
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    double start = omp_get_wtime();
    float total = 0;
    #pragma omp parallel reduction(+:total)
    {
        vec m = SET(0.999999f), c = SET(1e-7f);
        vec a0 = SET(0), a1 = SET(1), a2 = SET(2), a3 = SET(3), a4 = SET(4), a5 = SET(5), a6 = SET(6), a7 = SET(7),
            a8 = SET(8), a9 = SET(9), a10 = SET(10), a11 = SET(11);
        for (long i = 0; i < n; i++) {
            STEP(a0); STEP(a1); STEP(a2); STEP(a3); STEP(a4); STEP(a5);
            STEP(a6); STEP(a7); STEP(a8); STEP(a9); STEP(a10); STEP(a11);
        }
        vec s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
        s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));
        float out[LANES];
        STORE(out, s);
        total += out[0];
    }
    printf("%f %d %f\n", omp_get_wtime() - start, omp_get_max_threads(), total);
    return 0;
}
"""
#: The FMA loops to try, widest first: (name, float32 lanes, compiler flags, the /proc/cpuinfo flag it needs).
FMA_LOOPS = (("AVX-512", 16, ["-mavx512f"], "avx512f"), ("AVX2", 8, ["-mavx2", "-mfma"], "fma"))


def load():
    data, _ = quality_control(simulate_qtlmas2010(seed=1))
    return data, split_by_generation(data)


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


def fma_peak_gflops() -> tuple[float, str]:
    """GFLOP/s of float32 FMAs on every core with the widest vectors this CPU has (AVX-512 where /proc/cpuinfo lists
    avx512f, else AVX2), and that width's name; (nan, "none") without a C compiler with FMA and OpenMP."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    flags = _cpu_flags()
    for name, lanes, options, needs in FMA_LOOPS:
        if compiler is None or needs not in flags:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            source, binary = Path(tmp) / "peak.c", Path(tmp) / "peak"
            source.write_text(FMA_PEAK_C)
            built = subprocess.run([compiler, "-O2", f"-DLANES={lanes}", *options, "-fopenmp", str(source), "-o",
                                    str(binary)], check=False, capture_output=True)
            if built.returncode != 0:
                continue
            n = 200_000_000
            env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
            seconds, threads, _ = subprocess.run([str(binary), str(n)], capture_output=True, text=True, env=env,
                                                 check=True).stdout.split()
            return 2 * lanes * 12 * n * int(threads) / float(seconds) / 1e9, name
    return float("nan"), "none"


def cnngwp_model(X_train, y_train, X_test, y_test, epochs: int, engine: str, filters: int) -> float:
    start = time.perf_counter()
    CNNGWPRegressor(**dict(GAMMA, filters=filters), epochs=epochs, patience=None, engine=engine).fit(
        X_train, y_train, validation_data=(X_test, y_test))
    return time.perf_counter() - start


def _seconds_per_epoch(arrays: str, which: str, k: int) -> float:
    """(T(1 + k) - T(1)) / k of one configuration, in a fresh process (no other engine's threads around)."""
    with np.load(arrays) as f:
        args = (f["X_train"], f["y_train"], f["X_test"], f["y_test"])
    if which == "a":
        with tempfile.TemporaryDirectory() as tmp:
            return (published_pattern(*args, 1 + k, Path(tmp)) - published_pattern(*args, 1, Path(tmp))) / k
    engine, filters = {"b": ("keras", 64), "c": ("numba", 64), "d": ("numba", 128)}[which]
    cnngwp_model(*args, 1, engine, filters)  # compilation and caches warm
    return (cnngwp_model(*args, 1 + k, engine, filters) - cnngwp_model(*args, 1, engine, filters)) / k


def epoch_cost(data, split, k: int, figures: dict) -> tuple[float, float]:
    """(a / c, (c)'s share of the FMA peak); each configuration's seconds per model-epoch go into `figures`."""
    X, y = data.genotypes, (data.y - data.y[split.train].mean()).astype(np.float32)
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        arrays = str(Path(tmp) / "arrays.npz")
        np.savez(arrays, X_train=X[split.train], y_train=y[split.train], X_test=X[split.test], y_test=y[split.test])
        for which in "abcd":
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                seconds[which] = pool.submit(_seconds_per_epoch, arrays, which, k).result()
    a, b, c, d = seconds["a"], seconds["b"], seconds["c"], seconds["d"] / 2
    n, p = len(split.train), data.n_snps
    conv_flop = 2 * 2 * n * ((p + 1) // 2) * GAMMA["kernel_size"] * GAMMA["filters"]  # forward + kernel gradient
    peak, width = fma_peak_gflops()
    print(f"(a) published pattern        {a:7.3f} s per model-epoch  {conv_flop / a / 1e9:6.1f} GFLOP/s")
    print(f"(b) cnngwp, Keras engine     {b:7.3f} s per model-epoch  {conv_flop / b / 1e9:6.1f} GFLOP/s  "
          f"(a/b = {a / b:.2f})")
    print(
        f"(c) cnngwp, numba engine     {c:7.3f} s per model-epoch  {conv_flop / c / 1e9:6.1f} GFLOP/s  "
        f"(a/c = {a / c:.2f})"
    )
    print(
        f"(d) numba, 2 x 64 filters    {d:7.3f} s per member-epoch (d/c = {d / c:.2f}: members fused into one pass "
        f"{'would' if d < 0.9 * c else 'would not'} pay)"
    )
    print(
        f"FMA peak (register-only {width} FMA loop, the widest this CPU has, {os.cpu_count()} threads): "
        f"{peak:.1f} GFLOP/s; share of it: "
        f"(a) {conv_flop / a / 1e9 / peak:.2f} (b) {conv_flop / b / 1e9 / peak:.2f} "
        f"(c) {conv_flop / c / 1e9 / peak:.2f}"
    )
    figures |= {"(a) published pattern, s per model-epoch": round(a, 3),
                "(b) Keras engine, s per model-epoch": round(b, 3),
                "(c) numba engine, s per model-epoch": round(c, 3),
                "(d) numba, 2 x 64 filters, s per member-epoch": round(d, 3),
                f"FMA peak, {os.cpu_count()} threads, GFLOP/s": round(peak, 1), "FMA peak's vector width": width,
                "(c)'s share of the FMA peak": round(conv_flop / c / 1e9 / peak, 2)}
    return a / c, conv_flop / c / 1e9 / peak


def early_stopping(data, split, epochs: int, patiences: list[int], figures: dict) -> float:
    """Epochs of the full run over epochs at the default patience; each patience's stop goes into `figures`."""
    X, y = data.genotypes, data.y
    start = time.perf_counter()
    model = CNNGWPRegressor(**GAMMA, epochs=epochs, patience=None).fit(
        X[split.train], y[split.train], generations=data.generations[split.train]
    )
    seconds = time.perf_counter() - start
    curve = model.history_[0]["validation_mse"].to_numpy()
    full_best = curve.min()
    print(
        f"full run: {epochs} epochs in {seconds:.0f} s, best validation MSE {full_best:.3f} "
        f"at epoch {int(curve.argmin()) + 1}"
    )
    ratio = float("nan")
    for patience in patiences:
        best_epoch, stop = 0, len(curve)
        for epoch in range(len(curve)):
            if curve[epoch] < curve[best_epoch]:
                best_epoch = epoch
            elif epoch - best_epoch >= patience:
                stop = epoch + 1
                break
        reached = curve[:stop].min()
        print(
            f"patience {patience:>3}: stops after {stop:>3} epochs ({epochs / stop:.2f}x fewer), "
            f"best validation MSE {reached:.3f} ({100 * (reached / full_best - 1):+.2f}%)"
        )
        figures[f"patience {patience}: epochs run; best validation MSE against the full run's, %"] = (
            f"{stop}; {100 * (reached / full_best - 1):+.2f}")
        if patience == CNNGWPRegressor().patience:
            ratio = epochs / stop
    test_mse = np.mean((model.predict(X[split.test]) - y[split.test]) ** 2)
    gblup = np.mean((GBLUP().fit(X[split.train], y[split.train]).predict(X[split.test]) - y[split.test]) ** 2)
    print(f"test MSE (generation 5): one CNN at its best validation epoch {test_mse:.2f}; GBLUP {gblup:.2f}")
    figures |= {"test MSE, one CNN at its best validation epoch": round(float(test_mse), 2),
                "test MSE, GBLUP": round(float(gblup), 2)}
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["epoch-cost", "early-stopping", "all"], default="all")
    parser.add_argument("--timed-epochs", type=int, default=3, help="k in (T(1 + k) - T(1)) / k")
    parser.add_argument(
        "--epochs", type=int, default=250, help="length of the full early-stopping run"
    )
    parser.add_argument("--patience", type=int, nargs="+", default=[10, 20, 30, 50])
    args = parser.parse_args()
    data, split = load()
    print(f"data: {len(split.train)} training x {data.n_snps} SNPs, {len(split.test)} test")
    nan, figures = float("nan"), {}
    per_epoch, share = (
        epoch_cost(data, split, args.timed_epochs, figures) if args.part != "early-stopping" else (nan, nan)
    )
    epoch_ratio = early_stopping(data, split, args.epochs, args.patience, figures) if args.part != "epoch-cost" else nan
    last = f"per_epoch_ratio={per_epoch:.2f} peak_share={share:.2f} epoch_ratio={epoch_ratio:.2f}"
    record(f"cnn-{args.part}", figures, last)
    print(last)


if __name__ == "__main__":
    main()
