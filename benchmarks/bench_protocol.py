"""What the paper's protocol manufactures on the default split: `python benchmarks/bench_protocol.py
[--seeds 1 2 3] [--profile quick] [--data DIR] [--runs DIR]`.

For each seed the same model and budget, the profile's Bayesian optimisation (S replicates of T
points) and its ensemble, is fitted twice on the default simulation (generations 1-4 -> 5):

- under the honest protocol: BO scored and every network's epochs chosen on the youngest training
  generation, the members then refitted on every training row; the test generation predicted once;
- under the paper's protocol, as the published script does it: BO scored on the test MSE and every
  network's best epoch checkpointed on the test generation.

Per seed it prints both test MSEs and the paper protocol's optimism (the honest MSE minus the
paper's: the part of the paper protocol's gain that its tuning on the test set manufactures), then
the mean optimism with its paired 95 % t interval over seeds, and writes them to
``benchmarks/results/protocol.json`` for the book (chapter 8 and the landing page read it). `--data`
reads the default data set where a run simulated it (``runs/data/qtlmas2010-sim``; by default it is
simulated into a temporary folder); `--runs` keeps each fit's run folder (``<protocol>-seed-<s>``), so a
killed benchmark resumes, and a copy of ``make book``'s run folder there as ``honest-seed-1`` (with
`--data` as that run named it) is honest seed 1 already fitted. Last line:
``honest_mse=<m> paper_mse=<m> optimism=<d> optimism_low=<l> optimism_high=<h> seeds=<n>``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from record import record  # benchmarks/record.py

from cnngwp.data.catalogue import DatasetSpec, load_dataset
from cnngwp.data.splits import split_by_generation
from cnngwp.reports.tables import t_interval
from cnngwp.runs.parallel import open_client
from cnngwp.tuning.ensemble import fit_ensemble
from cnngwp.tuning.problem import TuningProblem
from cnngwp.tuning.search import tune
from cnngwp.tuning.settings import PROFILES, PROTOCOLS, RunSettings


def write_record(profile: str, seeds: list[int], mse: dict[str, list[float]]) -> str:
    """Record the seeds measured so far (``results/protocol.json``) and return the last line."""
    honest, paper = np.array(mse["honest"]), np.array(mse["paper"])
    points = t_interval(honest - paper)
    log_ratio = t_interval(np.log(paper / honest))  # percent as chapter 8's study reports it
    percent = [float(-100 * np.expm1(v)) for v in (log_ratio[0], log_ratio[2], log_ratio[1])]
    figures = {"profile": profile, "seeds": ", ".join(map(str, seeds)),
               "test MSE, honest (per seed)": ", ".join(f"{v:.2f}" for v in honest),
               "test MSE, paper protocol (per seed)": ", ".join(f"{v:.2f}" for v in paper),
               "mean test MSE, honest": round(float(honest.mean()), 2),
               "mean test MSE, paper protocol": round(float(paper.mean()), 2),
               "optimism (honest - paper), MSE points": round(points[0], 2),
               "optimism, 95 % t interval": f"{points[1]:.2f} to {points[2]:.2f}",
               "optimism, % lower test MSE": round(percent[0], 1),
               "optimism %, 95 % t interval": f"{percent[1]:.1f} to {percent[2]:.1f}"}
    last = (f"honest_mse={honest.mean():.2f} paper_mse={paper.mean():.2f} optimism={points[0]:.2f} "
            f"optimism_low={points[1]:.2f} optimism_high={points[2]:.2f} seeds={len(seeds)}")
    values = {"profile": profile, "seeds": list(seeds), "honest_mse": float(honest.mean()),
              "paper_mse": float(paper.mean()), "optimism": points[0], "optimism_interval": [points[1], points[2]],
              "optimism_percent": percent[0], "optimism_percent_interval": [percent[1], percent[2]]}
    record("protocol", figures, last, values=values)
    return last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    parser.add_argument("--data", help="the default data set's folder (default: simulated into a temporary one)")
    parser.add_argument("--runs", help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--scheduler", default="", help="Dask: '' (a local cluster) or tcp://host:8786")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = load_dataset(DatasetSpec(key="qtlmas2010-sim", kind="simulated", path=args.data or scratch, seed=1))
        runs = Path(args.runs or scratch)
        mse = {protocol: [] for protocol in PROTOCOLS}
        with open_client(args.scheduler) as client:
            for seed in args.seeds:
                problem = TuningProblem.from_split(data, split_by_generation(data), seed=seed)
                for protocol in PROTOCOLS:
                    settings = RunSettings.named(profile=args.profile, protocol=protocol, seed=seed)
                    folder = runs / f"{protocol}-seed-{seed}"
                    folder.mkdir(parents=True, exist_ok=True)
                    tuning = tune(problem, client, folder, settings, progress=False)
                    ensemble = fit_ensemble(problem, tuning.gamma, client, folder, settings, progress=False)
                    mse[protocol].append(float(np.mean((problem.y_test - ensemble.predict()) ** 2)))
                print(f"seed {seed}: test MSE honest {mse['honest'][-1]:.2f}, paper protocol {mse['paper'][-1]:.2f}, "
                      f"optimism {mse['honest'][-1] - mse['paper'][-1]:+.2f}", flush=True)
                last = write_record(args.profile, args.seeds[: len(mse["honest"])], mse)  # kept if killed later
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
