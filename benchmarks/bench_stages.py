"""Where a study data set's time goes, stage by stage: `python benchmarks/bench_stages.py [--grid default|full]`.

Fits the grid's first data set exactly as ``cnngwp study`` does (:func:`cnngwp.runs.study.fit_study_dataset`, in this
process, no Dask) with timers wrapped around the functions that mark a stage, and prints a tree: each stage's own
seconds (its children's time excluded), its share of the whole, the networks it trained and their epochs. The stages:

- the data set: the trait simulated on the replicate's population, its realised variance components, QC, the
  arrays of the split;
- the baselines: every kernel model and the Bayesian LASSO, fitted on every training row, and again without the held-out
  rows of the stack (``held-out``); the backbone's kernel cross-fitted in its folds;
- each CNN (``CNN (lambda grid)``, in the study the CNN ensemble, the genotypic CNN and the backbone's CNN):
  one network per lambda candidate, the other members grown from the winner, their refit on every training row,
  and the paper protocol's CNN again; within each, ``training loop`` is the networks' epochs, the rest is set-up
  (standardisation, building the network) and prediction (``predict``).

The grid's population is simulated first (not counted: a study simulates it once per replicate); what ``cnngwp study``
adds around a data set (its Dask task, the population read from disk, the files written) is not measured here. Last line
``grid=<name> seconds=<s> training_loops=<share> setup_and_other=<share> networks=<n>``, also written with the whole
tree to ``benchmarks/results/stages-<grid>.json`` (:mod:`record`).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import time
from collections import defaultdict

from record import record  # benchmarks/record.py

from cnngwp.data.simulate import simulate_population
from cnngwp.runs.study import GRIDS, fit_study_dataset


class StageClock:
    """Exclusive seconds per stage path: a wrapped call pushes its label; time goes to the innermost open path."""

    def __init__(self):
        self.seconds: dict[tuple[str, ...], float] = defaultdict(float)
        self.networks: dict[tuple[str, ...], int] = defaultdict(int)
        self.epochs: dict[tuple[str, ...], int] = defaultdict(int)
        self.path: tuple[str, ...] = ()
        self.since = time.perf_counter()

    def _switch(self, path: tuple[str, ...]) -> None:
        now = time.perf_counter()
        self.seconds[self.path or ("the study's own code, between the stages",)] += now - self.since
        self.path, self.since = path, now

    def wrap(self, owner, name: str, label) -> None:
        """Replace ``owner.name`` by a timed call; `label(*args, **kwargs)` names the stage (a string)."""
        function = getattr(owner, name)

        @functools.wraps(function)
        def timed(*args, **kwargs):
            outer = self.path
            self._switch((*outer, label(*args, **kwargs)))
            try:
                result = function(*args, **kwargs)
                if name == "_train":  # networks and epochs trained in this stage
                    self.networks[self.path] += len(result)
                    self.epochs[self.path] += sum(len(t.train) for t in result)
                return result
            finally:
                self._switch(outer)

        setattr(owner, name, timed)


def _cnn_stage(model, *args, validation_data=None, **kwargs) -> str:
    if validation_data is not None:
        return "CNN fit on the test rows (paper protocol)"
    if model.warm_start:
        return "members grown from the winning candidate"
    return "lambda candidate" if model.n_members == 1 and not model.refit else "CNN fit"


def instrument(clock: StageClock) -> None:
    """Wrap the functions that mark each stage (see the module's docstring)."""
    study = importlib.import_module("cnngwp.runs.study")
    estimator = importlib.import_module("cnngwp.models.cnn.estimator")
    stack = importlib.import_module("cnngwp.models.stack")
    from cnngwp.data.simulate import Population
    from cnngwp.models.backbone import KernelBackboneCNN
    from cnngwp.models.baselines.registry import baseline_models
    from cnngwp.models.l1_grid import L1GridCNN
    from cnngwp.tuning.problem import TuningProblem

    clock.wrap(Population, "trait", lambda *a, **k: "trait simulated")
    clock.wrap(study, "realised_variance_components", lambda *a, **k: "realised variance components")
    clock.wrap(study, "quality_control", lambda *a, **k: "QC")
    clock.wrap(TuningProblem, "from_split", lambda *a, **k: "split arrays")
    for model in {type(m) for m in baseline_models(seed=1).values()}:
        clock.wrap(model, "fit", lambda self, *a, **k: f"baseline fit ({type(self).__name__})")
    clock.wrap(stack, "held_out_prediction", lambda *a, **k: "held-out predictions")
    clock.wrap(KernelBackboneCNN, "fit", lambda *a, **k: "backbone model (GDBLUP + CNN)")
    clock.wrap(KernelBackboneCNN, "cross_fit_kernel", lambda *a, **k: "backbone kernel cross-fit")
    clock.wrap(L1GridCNN, "fit", lambda self, *a, validation_data=None, **k:
               "CNN (lambda grid)" + (", paper protocol" if validation_data is not None else ""))
    clock.wrap(estimator.CNNGWPRegressor, "fit", _cnn_stage)
    clock.wrap(estimator, "_train_for_epochs", lambda *a, **k: "refit on every training row")
    clock.wrap(estimator, "fit_for_epochs", lambda *a, **k: "networks retrained for their epochs")
    clock.wrap(estimator, "_train", lambda *a, **k: "training loop")
    clock.wrap(estimator.CNNGWPRegressor, "predict_members", lambda *a, **k: "predict")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="default")
    args = parser.parse_args()
    grid = GRIDS[args.grid]
    population = simulate_population(seed=grid.population_seed(0), config=grid.population)
    dataset = grid.datasets()[0]
    clock = StageClock()
    instrument(clock)
    start = clock.since = time.perf_counter()
    rows, _ = fit_study_dataset(population, dataset, grid)
    clock._switch(())
    total = time.perf_counter() - start
    print(f"grid {grid.name}, data set {dataset.key}: {population.genotypes.shape[0]} animals x "
          f"{population.genotypes.shape[1]} SNPs, {total:.1f} s; models: "
          + ", ".join(f"{r.model} {r.seconds:.1f} s" for r in rows.itertuples()))
    tree = []
    for path in sorted(clock.seconds):
        seconds, networks, epochs = clock.seconds[path], clock.networks[path], clock.epochs[path]
        per_epoch = f", {1000 * seconds / epochs:.1f} ms per network-epoch" if epochs else ""
        trained = f"; {networks} networks, {epochs} epochs{per_epoch}" if networks else ""
        print(f"{'  ' * (len(path) - 1)}{path[-1]}: {seconds:.2f} s ({100 * seconds / total:.1f} %){trained}")
        tree.append({"stage": " / ".join(path), "seconds": round(seconds, 3), "share": round(seconds / total, 4),
                     "networks": networks, "epochs": epochs})
    loops = sum(s for p, s in clock.seconds.items() if p[-1] == "training loop")
    networks = sum(clock.networks.values())
    last = (f"grid={grid.name} seconds={total:.1f} training_loops={loops / total:.3f} "
            f"setup_and_other={1 - loops / total:.3f} networks={networks}")
    record(f"stages-{grid.name}", {"seconds per data set": round(total, 1),
                                   "share in the networks' training loops": round(loops / total, 3),
                                   "networks trained per data set": networks},
           last, values={"seconds": round(total, 3), "training_loops": round(loops / total, 4),
                         "networks": networks, "stages": tree})
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
