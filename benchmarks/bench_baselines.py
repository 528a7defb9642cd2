"""Baselines against BGLR: `python benchmarks/bench_baselines.py`.

For the mice data (`../shared/data/mice`, trait Obesity.BodyLength, its 5 folds) and
the default simulated data set (generations 1-4 -> 5, after the run's QC) prints test MSE,
test correlation and seconds of GBLUP, GDBLUP, EGBLUP, RKHS and the Bayesian LASSO (BGLR defaults),
the 5-fold mean MSE of GBLUP and BLASSO against the BGLR 1.1.5 reference (issue 3) as a
relative difference, and each model's 5-fold mean. The last line gives the simulation's
``gdblup_mse`` and ``egblup_mse`` and each model's seconds as a ratio of GBLUP's
(``gdblup_over_gblup_seconds``, ``egblup_over_gblup_seconds``, ``rkhs_over_gblup_seconds``), measured
side by side in this run; the figures and that line are written to ``benchmarks/results/baselines.json``
(:mod:`record`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from record import record  # benchmarks/record.py

from cnngwp.data.genotypes import quality_control
from cnngwp.data.readers import read_genotypes
from cnngwp.data.simulate import simulate_qtlmas2010
from cnngwp.data.splits import fold_column_splits, split_by_generation
from cnngwp.models.baselines import BASELINE_MODELS, BayesianLasso
from cnngwp.models.baselines.on_split import compare_baselines

MICE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mice"
#: BGLR 1.1.5, nIter 1500, burnIn 500 (GBLUP as RKHS on ZZ'/p, BL on Z): per-fold test MSE.
BGLR_REFERENCE = {
    "GBLUP": [0.281567, 0.227504, 0.259086, 0.312735, 0.263631],
    "BLASSO": [0.283071, 0.227069, 0.260715, 0.311906, 0.263602],
}
BGLR_SECONDS = {"GBLUP": 18.0, "BLASSO": 36.0}


def main() -> None:
    warm_up = np.array([[0, 1], [1, 2], [2, 0]], dtype=np.int8)
    BayesianLasso(n_iter=10, burn_in=0).fit(warm_up, [1.0, 2.0, 3.0])  # numba compilation outside the timings
    figures = {}
    print(f"{'data':<16}{'split':<15}{'model':<8}{'MSE':>10}{'corr':>8}{'slope':>8}{'seconds':>9}")
    if (MICE / "mice.bed").is_file():
        mice = read_genotypes(MICE / "mice.bed", MICE / "mice_pheno.csv", trait="Obesity.BodyLength",
                          id_column="SUBJECT.NAME", folds=MICE / "mice_folds.csv")
        results = pd.concat([compare_baselines(mice, split) for split in fold_column_splits(mice)])
        for r in results.itertuples():
            print(f"{'mice':<16}{r.split:<15}{r.model:<8}{r.mse:>10.6f}{r.correlation:>8.3f}{r.slope:>8.3f}{r.seconds:>9.1f}")
        for name in BASELINE_MODELS:
            chosen = results["model"] == name
            print(f"mice 5-fold mean {name}: MSE {results.loc[chosen, 'mse'].mean():.6f}, "
                  f"{results.loc[chosen, 'seconds'].mean():.1f} s per fold")
            figures[f"mice, 5-fold mean test MSE: {name}"] = round(float(results.loc[chosen, "mse"].mean()), 5)
        for name, reference in BGLR_REFERENCE.items():
            mean = results.loc[results["model"] == name, "mse"].mean()
            seconds = results.loc[results["model"] == name, "seconds"].mean()
            print(f"mice 5-fold mean {name}: MSE {mean:.6f} vs BGLR {np.mean(reference):.6f} "
                  f"(relative difference {100 * (mean / np.mean(reference) - 1):+.2f}%); "
                  f"{seconds:.1f} s per fold vs BGLR {BGLR_SECONDS[name]:.0f} s "
                  f"(speed ratio {BGLR_SECONDS[name] / seconds:.1f}x)")
            figures[f"mice, {name} against BGLR 1.1.5: relative difference of the mean test MSE, %"] = round(
                100 * (mean / np.mean(reference) - 1), 2)
    else:
        print(f"mice data not found at {MICE}: skipped")
    sim = quality_control(simulate_qtlmas2010(seed=1))[0]
    table = compare_baselines(sim, split_by_generation(sim))
    for r in table.itertuples():
        print(f"{'qtlmas2010-sim':<16}{r.split:<15}{r.model:<8}{r.mse:>10.3f}{r.correlation:>8.3f}{r.slope:>8.3f}{r.seconds:>9.1f}")
    seconds = table.set_index("model")["seconds"]
    mse = table.set_index("model")["mse"]
    last = (f"gdblup_mse={mse['GDBLUP']:.3f} egblup_mse={mse['EGBLUP']:.3f} "
            f"gdblup_over_gblup_seconds={seconds['GDBLUP'] / seconds['GBLUP']:.2f} "
            f"egblup_over_gblup_seconds={seconds['EGBLUP'] / seconds['GBLUP']:.2f} "
            f"rkhs_over_gblup_seconds={seconds['RKHS'] / seconds['GBLUP']:.2f}")
    figures |= {f"default simulation, test MSE: {name}": round(float(value), 3) for name, value in mse.items()}
    figures |= {f"default simulation, seconds over GBLUP's: {name}": round(float(value / seconds["GBLUP"]), 2)
                for name, value in seconds.items()}
    record("baselines", figures, last)
    print(last)


if __name__ == "__main__":
    main()
