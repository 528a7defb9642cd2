"""Bayesian optimisation of gamma = (filters, kernel size, lambda), as in Waldmann et al. (2020).

A Gaussian-process surrogate with the upper-confidence-bound acquisition (for a
minimised MSE: the lower confidence bound, kappa = 2.576, as the paper's
rBayesianOptimization ``ucb``), 15 random points and 25 guided ones by default, repeated
for S replicates with different seeds. The best gamma of each replicate, averaged
(integers rounded), is gamma_MA.

The objective is the best validation MSE over epochs of one network (no refit), under
the two protocols of :mod:`cnngwp.tuning.problem`: ``honest`` (validation rows carved from the
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
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from distributed import Client, as_completed
from skopt import Optimizer
from skopt.space import Integer, Real
from tqdm import tqdm

from cnngwp.atomic import tie_to_settings
from cnngwp.data.store import read_and_call, store
from cnngwp.errors import CnngwpInputError
from cnngwp.seeds import evaluation_seed, optimizer_seed
from cnngwp.tuning.evaluation_log import EvaluationLog
from cnngwp.tuning.problem import (
    OPTIMISTIC,
    PROBLEM_FOLDER,
    PROFILES,
    Profile,
    TrainingSettings,
    TuningProblem,
    check_protocol,
    fit_cnn,
)

__all__ = [
    "KAPPA",
    "SEARCH_SPACES",
    "Gamma",
    "RunSettings",
    "SearchSpace",
    "TuningResult",
    "evaluate_gamma",
    "gamma_ma",
    "search_space",
    "tune",
]

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


@dataclass(frozen=True)
class SearchSpace:
    """Closed bounds of gamma: integer filters and kernel size, real lambda (uniform or log-uniform)."""

    filters: tuple[int, int]
    kernel_size: tuple[int, int]
    l1: tuple[float, float]
    l1_prior: str = "uniform"

    def __post_init__(self) -> None:
        for name in ("filters", "kernel_size", "l1"):
            low, high = getattr(self, name)
            if not 0 < low < high:
                raise CnngwpInputError(f"search space {name}: expected 0 < low < high, got ({low}, {high})")
        if self.l1_prior not in ("uniform", "log-uniform"):
            raise CnngwpInputError(f"search space l1_prior: expected 'uniform' or 'log-uniform', got {self.l1_prior!r}")

    def dimensions(self) -> list:
        """The scikit-optimize dimensions."""
        return [
            Integer(*self.filters, name="filters"),
            Integer(*self.kernel_size, name="kernel_size"),
            Real(*self.l1, prior=self.l1_prior, name="l1"),
        ]


#: The named bounds of gamma; ``qtlmas2010`` is the paper's (filters 20-100, kernel 10-50,
#: lambda 0.1-1.0). lambda acts on the trait rescaled to SD 10, about the QTLMAS2010 trait's
#: own SD, so the bounds carry over to any trait's scale; but a less heritable trait wants
#: more shrinkage (on the mice body length, lambda 2 beat 0.63 and 5: benchmarks/bench_penalty.py), and the paper re-set
#: the bounds by hand for its pig data. ``wide`` keeps the filters and kernel bounds and
#: searches lambda over 0.1-10 on a log scale, for data whose heritability is not known;
#: :func:`search_space` takes a data set's own bounds.
SEARCH_SPACES = {
    "qtlmas2010": SearchSpace((20, 100), (10, 50), (0.1, 1.0)),
    "wide": SearchSpace((20, 100), (10, 50), (0.1, 10.0), "log-uniform"),
}


def search_space(text: str) -> SearchSpace:
    """Bounds of gamma from a name of :data:`SEARCH_SPACES` or own bounds, e.g. ``"filters=8:64,l1=0.05:0.5"``.

    Own bounds replace those of ``qtlmas2010`` for the names given (``filters``,
    ``kernel_size``, ``l1``; each ``LOW:HIGH``).

    Raises
    ------
    CnngwpInputError
        Unknown name or malformed bounds, naming the part and what was expected.
    """
    if text in SEARCH_SPACES:
        return SEARCH_SPACES[text]
    bounds = asdict(SEARCH_SPACES["qtlmas2010"])
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        low, _, high = value.partition(":")
        if name not in bounds or not low or not high:
            raise CnngwpInputError(
                f"search space {text!r}: part {part!r}: expected one of {sorted(SEARCH_SPACES)} "
                "or NAME=LOW:HIGH with NAME filters, kernel_size or l1"
            )
        cast = float if name == "l1" else int
        try:
            bounds[name] = (cast(low), cast(high))
        except ValueError as error:
            raise CnngwpInputError(f"search space {text!r}: part {part!r}: {error}") from error
    return SearchSpace(**{name: value if name == "l1_prior" else tuple(value) for name, value in bounds.items()})


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
        """``""`` for honest runs, :data:`cnngwp.tuning.problem.OPTIMISTIC` for paper-protocol runs."""
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


@dataclass(frozen=True)
class RunSettings:
    """One run's settings, passed whole to the tuning, the ensemble and the run: the profile's overrides are
    applied here, once.

    Attributes
    ----------
    space, profile
        Bounds of gamma; BO points, S, ensemble size and training settings.
    protocol
        ``"honest"`` or ``"paper"`` (module docstring).
    seed
        Seeds the optimisers and every CNN (:mod:`cnngwp.seeds`); the same seed gives the same run.
    replicates, n_members
        S and the ensemble size; None on construction means the profile's.
    batch_points
        k points asked at once per replicate (constant liar), so k workers stay busy
        within one replicate; 1 is the paper's sequential BO.
    """

    space: SearchSpace
    profile: Profile
    protocol: str = "honest"
    seed: int = 1
    replicates: int | None = None
    n_members: int | None = None
    batch_points: int = 1

    def __post_init__(self):
        check_protocol(self.protocol)
        if self.batch_points < 1:
            raise CnngwpInputError(f"batch_points must be at least 1, got {self.batch_points}")
        if self.replicates is None:
            object.__setattr__(self, "replicates", self.profile.replicates)
        if self.n_members is None:
            object.__setattr__(self, "n_members", self.profile.n_members)

    @classmethod
    def named(cls, *, profile: str, protocol: str = "honest", space: str = "qtlmas2010", seed: int = 1) -> RunSettings:
        """The settings of a profile (``PROFILES``) and a search space
        (:func:`search_space`), by name, as a chapter's parameters give them.

        Raises
        ------
        CnngwpInputError
            An unknown profile, protocol or search space, naming what was expected.
        """
        if profile not in PROFILES:
            raise CnngwpInputError(f"profile={profile!r}: expected one of {sorted(PROFILES)}")
        return cls(search_space(space), PROFILES[profile], protocol, seed)

    @property
    def training(self) -> TrainingSettings:
        """How each CNN is trained (the profile's)."""
        return self.profile.training

    def record(self) -> dict:
        """The settings a tuning folder is tied to (compared when resuming)."""
        return {
            "space": asdict(self.space),
            "profile": asdict(self.profile),
            "protocol": self.protocol,
            "seed": self.seed,
            "replicates": self.replicates,
            "batch_points": self.batch_points,
        }


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
        The search space, profile, protocol, seed, S and batch size (:class:`RunSettings`).
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
    running, submitted = as_completed(), {}
    for state in states:
        _advance(state, client, (running, submitted), shared, settings)
    for future in running:
        state, iteration, point = submitted.pop(future.key)
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
            _advance(state, client, (running, submitted), shared, settings)
    for state in states:
        state.bar.close()
    evaluations = log.read().query("replicate < @n_replicates").sort_values(["replicate", "iteration"])
    evaluations = evaluations.reset_index(drop=True)
    best = evaluations.loc[evaluations.groupby("replicate")["validation_mse"].idxmin()].reset_index(drop=True)
    return TuningResult(evaluations, best, gamma_ma(best), protocol, time.perf_counter() - start)


def _advance(
    state: _Replicate, client: Client, queue: tuple[as_completed, dict], shared, settings: RunSettings
) -> None:
    """Ask batches until one needs evaluating (submitted) or the replicate is done; replays logged points.

    `queue` is the running futures and what each was submitted for."""
    running, submitted = queue
    while batch := state.ask_batch():
        for iteration, point in batch:
            if iteration in state.logged:
                state.record(iteration, state.logged[iteration])
                continue
            future = client.submit(
                read_and_call,
                evaluate_gamma,
                shared,
                Gamma(*point),
                settings.training,
                settings.protocol,
                evaluation_seed(settings.seed, state.replicate, iteration),
                pure=False,
            )
            submitted[future.key] = (state, iteration, point)
            running.add(future)
        if not state.batch_complete():
            return
        state.tell_batch()
