"""Bayesian optimisation of gamma = (filters, kernel size, lambda), as in Waldmann et al. (2020).

A Gaussian-process surrogate with the upper-confidence-bound acquisition (for a
minimised MSE: the lower confidence bound, kappa = 2.576, as the paper's
rBayesianOptimization ``ucb``), 15 random points and 25 guided ones by default, repeated
for S replicates with different seeds. The best gamma of each replicate, averaged
(integers rounded), is gamma_MA.

The objective is the best validation MSE over epochs of one network (no refit), under
the two protocols of :mod:`cnngwp.tuning.settings`: ``honest`` (validation rows carved from the
training rows; the test rows are not touched while tuning) or ``paper`` (the minimum
*test-set* MSE over epochs, as in the published script; optimistic).

lambda is the L1 penalty on the trait rescaled to SD 10 (:class:`cnngwp.models.cnn.estimator.CNNGWPRegressor`),
so one set of bounds serves any trait; the paper's QTLMAS2010 bounds (trait SD about 10)
apply as they are.

References
----------
Waldmann P, Pfeiffer C, Mészáros G (2020). Sparse convolutional neural networks for
genome-wide prediction. Front. Genet. 11:25.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from distributed import Client, as_completed
from skopt import Optimizer
from tqdm import tqdm

from cnngwp.atomic import tie_to_settings
from cnngwp.data.store import read_and_call, store
from cnngwp.seeds import evaluation_seed, optimizer_seed
from cnngwp.tuning.evaluation_log import EvaluationLog
from cnngwp.tuning.problem import PROBLEM_FOLDER, TuningProblem, fit_cnn
from cnngwp.tuning.settings import OPTIMISTIC, RunSettings, TrainingSettings

__all__ = ["KAPPA", "Gamma", "TuningResult", "evaluate_gamma", "gamma_ma", "tune"]

#: Exploration weight of the confidence bound (the paper's kappa).
KAPPA = 2.576


@dataclass(frozen=True)
class Gamma:
    """The tuned hyperparameters: filters, kernel size and the output layer's L1 penalty lambda."""

    filters: int
    kernel_size: int
    l1: float

    def as_dict(self) -> dict:
        return {"filters": int(self.filters), "kernel_size": int(self.kernel_size), "l1": float(self.l1)}


def evaluate_gamma(problem: TuningProblem, gamma: Gamma, training: TrainingSettings, protocol: str, seed: int) -> dict:
    """The BO objective at `gamma`: the best validation (``paper``: test) MSE over epochs.

    Returns
    -------
    dict
        ``validation_mse``, ``best_epoch`` (1-based), ``epochs_trained``, ``seconds``.
    """
    start = time.perf_counter()
    history = fit_cnn(problem, gamma, training, protocol, seed).history_[0]
    best = int(history["validation_mse"].idxmin())
    return {
        "validation_mse": float(history["validation_mse"].iloc[best]),
        "best_epoch": best + 1,
        "epochs_trained": len(history),
        "seconds": time.perf_counter() - start,
    }


def gamma_ma(best: pd.DataFrame) -> Gamma:
    """gamma_MA: the replicates' best gammas averaged, filters and kernel size rounded (half up)."""
    return Gamma(
        math.floor(best["filters"].mean() + 0.5), math.floor(best["kernel_size"].mean() + 0.5), float(best["l1"].mean())
    )


@dataclass
class TuningResult:
    """What a tuning run leaves: every evaluation, each replicate's best and gamma_MA."""

    evaluations: pd.DataFrame
    best: pd.DataFrame
    gamma: Gamma
    protocol: str
    seconds: float

    @property
    def label(self) -> str:
        """``""`` for honest runs, :data:`cnngwp.tuning.settings.OPTIMISTIC` for paper-protocol runs."""
        return OPTIMISTIC if self.protocol == "paper" else ""


class _Replicate:
    """The BO state of one replicate: its optimiser and the batch being evaluated."""

    def __init__(self, replicate: int, settings: RunSettings, logged: pd.DataFrame, bar: tqdm):
        self.replicate = replicate
        self.total = settings.profile.n_points
        self.batch_points = settings.batch_points
        self.optimizer = Optimizer(
            settings.space.dimensions(),
            base_estimator="GP",
            n_initial_points=settings.profile.n_initial,
            initial_point_generator="random",
            acq_func="LCB",
            acq_func_kwargs={"kappa": KAPPA},
            acq_optimizer="lbfgs",
            random_state=optimizer_seed(settings.seed, replicate),
        )
        self.logged = {int(row.iteration): row._asdict() for row in logged.itertuples(index=False)}
        self.next_iteration = 0
        self.batch: dict[int, list] = {}
        self.results: dict[int, dict] = {}
        self.bar = bar

    def ask_batch(self) -> list[tuple[int, list]]:
        """The next batch of (iteration, point); empty when the replicate is done."""
        n = min(self.batch_points, self.total - self.next_iteration)
        if n <= 0:
            return []
        with warnings.catch_warnings():
            # skopt swaps a repeated proposal for a random point and says so; that is the intended behaviour.
            warnings.filterwarnings("ignore", message="The objective has been evaluated at point")
            points = [self.optimizer.ask()] if n == 1 else self.optimizer.ask(n_points=n, strategy="cl_min")
        self.batch = {self.next_iteration + j: [int(p[0]), int(p[1]), float(p[2])] for j, p in enumerate(points)}
        self.next_iteration += n
        return list(self.batch.items())

    def record(self, iteration: int, row: dict) -> None:
        self.results[iteration] = row
        best = min(r["validation_mse"] for r in self.results.values())
        self.bar.set_postfix_str(f"best MSE {best:.3f}")
        self.bar.update(1)

    def batch_complete(self) -> bool:
        return all(it in self.results for it in self.batch)

    def tell_batch(self) -> None:
        rows = [self.results[it] for it in sorted(self.batch)]
        points = [[int(r["filters"]), int(r["kernel_size"]), float(r["l1"])] for r in rows]
        self.optimizer.tell(points, [float(r["validation_mse"]) for r in rows])
        self.batch = {}


def tune(
    problem: TuningProblem,
    client: Client,
    run_dir: str | Path,
    settings: RunSettings,
    *,
    progress: bool = True,
) -> TuningResult:
    """Run (or resume) S replicates of the Bayesian optimisation and average their best gammas.

    Parameters
    ----------
    problem
        The training and test arrays (:meth:`cnngwp.tuning.problem.TuningProblem.from_split`).
    client
        Dask client the evaluations run on (:func:`cnngwp.runs.parallel.open_client`).
    run_dir
        Folder of ``evaluations.csv``; finished evaluations found there are not repeated.
        The workers read `problem` from its ``problem/`` folder (:func:`cnngwp.data.store.store`;
        on a cluster the run folder must be on a file system every worker mounts).
    settings
        The search space, profile, protocol, seed, S and batch size (:class:`~cnngwp.tuning.settings.RunSettings`).
    progress
        Show one tqdm bar per replicate with its best MSE so far.

    Returns
    -------
    TuningResult
    """
    protocol, profile, n_replicates = settings.protocol, settings.profile, settings.replicates
    columns = [
        "replicate",
        "iteration",
        "filters",
        "kernel_size",
        "l1",
        "validation_mse",
        "best_epoch",
        "epochs_trained",
        "seconds",
    ] + (["test_mse"] if protocol == "paper" else [])
    tie_to_settings(
        Path(run_dir) / "tuning.json",
        {
            **settings.record(),
            "problem": problem.name,
            "n_train": len(problem.y_train),
            "n_snps": problem.X_train.shape[1],
        },
    )
    log = EvaluationLog(Path(run_dir) / "evaluations.csv", columns)
    logged = log.read()
    start = time.perf_counter()
    shared = store(problem, Path(run_dir) / PROBLEM_FOLDER)
    states = []
    for r in range(n_replicates):
        mine = logged[logged["replicate"] == r]
        bar = tqdm(
            total=profile.n_points, initial=0, desc=f"replicate {r}", position=r, leave=True, disable=not progress
        )
        states.append(_Replicate(r, settings, mine, bar))
    queue = _Queue(client, shared, settings)
    for state in states:
        queue.advance(state)
    for future in queue.running:
        state, iteration, point = queue.submitted.pop(future.key)
        row = {
            "replicate": state.replicate,
            "iteration": iteration,
            "filters": point[0],
            "kernel_size": point[1],
            "l1": point[2],
            **future.result(),
        }
        if protocol == "paper":
            row["test_mse"] = row["validation_mse"]
        log.append(row)
        state.record(iteration, row)
        if state.batch_complete():
            state.tell_batch()
            queue.advance(state)
    for state in states:
        state.bar.close()
    evaluations = log.read().query("replicate < @n_replicates").sort_values(["replicate", "iteration"])
    evaluations = evaluations.reset_index(drop=True)
    best = evaluations.loc[evaluations.groupby("replicate")["validation_mse"].idxmin()].reset_index(drop=True)
    return TuningResult(evaluations, best, gamma_ma(best), protocol, time.perf_counter() - start)


@dataclass
class _Queue:
    """The evaluations running on Dask for every replicate, and what each future was submitted for."""

    client: Client
    shared: object
    settings: RunSettings
    running: as_completed = field(default_factory=as_completed)
    submitted: dict = field(default_factory=dict)

    def advance(self, state: _Replicate) -> None:
        """Ask `state`'s batches until one needs evaluating (submitted) or the replicate is done; replays logged
        points."""
        settings = self.settings
        while batch := state.ask_batch():
            for iteration, point in batch:
                if iteration in state.logged:
                    state.record(iteration, state.logged[iteration])
                    continue
                future = self.client.submit(
                    read_and_call,
                    evaluate_gamma,
                    self.shared,
                    Gamma(*point),
                    settings.training,
                    settings.protocol,
                    evaluation_seed(settings.seed, state.replicate, iteration),
                    pure=False,
                )
                self.submitted[future.key] = (state, iteration, point)
                self.running.add(future)
            if not state.batch_complete():
                return
            state.tell_batch()
