"""The cost of a study grid: `python benchmarks/bench_study.py [--grid full] [--datasets 1]`.

Simulates the grid's first replicate population and fits its first data set(s) in this
process exactly as ``cnngwp study`` does (:func:`cnngwp.runs.study.fit_study_dataset`, every
model, on all cores of this machine), prints the seconds of each model and of the
population, and projects the whole grid: data sets x seconds per data set, on this
machine (tasks one after another on all cores) and on a Dask cluster of W such machines
(the data sets are independent tasks). Last line ``grid=<name> seconds_per_dataset=<s>
projected_hours_here=<h>``, also written with each model's seconds to ``benchmarks/results/study-<grid>.json``
(:mod:`record`).
"""

from __future__ import annotations

import argparse
import sys
import time

from record import record  # benchmarks/record.py

from cnngwp.data.simulate import simulate_population
from cnngwp.runs.study import GRIDS, fit_study_dataset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full")
    parser.add_argument("--datasets", type=int, default=1, help="how many of the grid's data sets to time")
    args = parser.parse_args()
    grid = GRIDS[args.grid]
    start = time.perf_counter()
    population = simulate_population(seed=grid.population_seed(0), config=grid.population)
    population_seconds = time.perf_counter() - start
    print(f"grid {grid.name}: {grid.description}; population {population.genotypes.shape} in "
          f"{population_seconds:.0f} s", flush=True)
    per_dataset, figures = [], {"population (animals x SNPs)": " x ".join(map(str, population.genotypes.shape)),
                                "population, seconds": round(population_seconds)}
    for dataset in grid.datasets()[: args.datasets]:
        start = time.perf_counter()
        rows, _ = fit_study_dataset(population, dataset, grid)
        per_dataset.append(time.perf_counter() - start)
        print(f"{dataset.key}: {per_dataset[-1]:.0f} s; " + ", ".join(f"{r.model} {r.seconds:.1f} s (MSE {r.mse:.2f})"
                                                                   for r in rows.itertuples()), flush=True)
        figures |= {f"{dataset.key}: {r.model}, seconds": round(r.seconds, 1) for r in rows.itertuples()}
    seconds = sum(per_dataset) / len(per_dataset)
    total = len(grid.datasets()) * seconds + grid.replicates * population_seconds
    print(f"projected: {len(grid.datasets())} data sets x {seconds:.0f} s + {grid.replicates} populations = "
          f"{total / 3600:.1f} h on this machine; on a Dask cluster of W such machines about {total / 3600:.1f} / W h "
          "(one task per data set)")
    last = f"grid={grid.name} seconds_per_dataset={seconds:.0f} projected_hours_here={total / 3600:.2f}"
    figures |= {"data sets in the grid": len(grid.datasets()), "seconds per data set": round(seconds),
                "projected hours on this machine": round(total / 3600, 2),
                "projected hours on W such machines (Dask)": f"{total / 3600:.2f} / W"}
    record(f"study-{grid.name}", figures, last)
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
