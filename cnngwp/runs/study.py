"""The simulation study the paper asked for: for which architectures and heritabilities does the CNN pay off?

A study is a named grid (``GRIDS``) of data sets: every (architecture, heritability,
replicate). Each replicate is one simulated population (its own seed) carrying a trait per
architecture and heritability (each with its own seed), so the architectures are compared
on the same animals. Every data set is split generations 1-4 -> 5 and every model is fitted
under the honest protocol: GBLUP, GDBLUP, EGBLUP, RKHS and the Bayesian LASSO, the CNN ensemble,
the genotypic CNN (a heterozygote channel beside the codes), the backbone model (GDBLUP + CNN)
and the stack of them all.

How the CNN is tuned in a study: a full Bayesian optimisation per data set would cost the
default grid hours, so the study fixes what transfers between traits of one population and
chooses what does not on the data set's own validation rows. Filters and kernel size are the
paper's γ_MA for QTLMAS2010 (64 and 27), set before any study data existed; the L1 penalty λ,
which depends most on the heritability, is picked per data set from :attr:`StudyGrid.l1_grid`
by the best validation MSE of one network each on the youngest training generation; then
:attr:`StudyGrid.n_members` networks with that λ choose their epochs on the same rows and are
refitted on every training row (the ``quick`` profile's training). The test generation is
predicted once.

Beside the honest models, the data sets of the first :attr:`StudyGrid.paper_replicates` replicates also
fit the CNN ensemble under the paper protocol
(:data:`~cnngwp.models.names.PAPER_PROTOCOL_CNN`): the same λ grid and members, with λ and epochs
chosen on the test generation, so the study measures how much test error that protocol hides
(:func:`cnngwp.reports.study_tables.protocol_optimism`).

A study folder ``<runs_root>/study-<grid>/`` holds ``grid.json`` (the settings it is tied
to), ``datasets/<key>/results.csv`` and ``predictions.csv`` per finished data set (a killed
study resumes without repeating one) and ``study.csv``, the tidy table of every data set and
model.

A grid too large for one machine and one day (``full``) is built up in chunks: ``cnngwp study --grid full
--replicates 0 --records benchmarks/results/study-full`` fits the chosen data sets that no record holds yet and
writes one small record per finished data set (:func:`write_dataset_record`: its rows, seconds, commit and
machine), committed with the code; chapter 8 reads what is committed (:func:`committed_study`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import Client, as_completed

from cnngwp.atomic import atomic_write, differing_setting, tie_to_settings
from cnngwp.data.genotypes import GenotypeData, quality_control
from cnngwp.data.simulate import (
    ARCHITECTURES,
    Population,
    SimulationConfig,
    realised_variance_components,
    simulate_population,
)
from cnngwp.data.splits import Split, split_by_generation
from cnngwp.data.store import discard, read_and_call, store
from cnngwp.errors import CnngwpInputError
from cnngwp.models.backbone import KernelBackboneCNN
from cnngwp.models.baselines.registry import baseline_models
from cnngwp.models.l1_grid import L1GridCNN
from cnngwp.models.metrics import prediction_metrics
from cnngwp.models.names import (
    BACKBONE_KERNEL,
    CNN_ENSEMBLE,
    GENOTYPIC_CNN,
    PAPER_PROTOCOL_CNN,
    STACK,
    backbone_name,
)
from cnngwp.models.paper import PAPER_FILTERS, PAPER_KERNEL_SIZE, PAPER_L1
from cnngwp.models.stack import STACK_FOLDS, ModelStack, StackRegressor
from cnngwp.provenance import provenance
from cnngwp.runs.notebooks import SOURCES
from cnngwp.runs.parallel import open_client
from cnngwp.seeds import seed_from
from cnngwp.tuning.combined import backbone_training
from cnngwp.tuning.problem import TuningProblem, cnn_estimator
from cnngwp.tuning.search import Gamma
from cnngwp.tuning.settings import PROFILES, TrainingSettings

__all__ = ["GRIDS", "RECORDS", "STUDY_COLUMNS", "CommittedStudy", "EveryModelFit", "StudyContext", "StudyDataset",
           "StudyGrid", "committed_study", "fit_every_model", "fit_study_dataset", "run_study", "study_context",
           "study_folder", "write_dataset_record"]

#: Columns of the tidy study table.
STUDY_COLUMNS = ["dataset", "architecture", "h2", "replicate", "model", "mse", "correlation", "slope", "seconds",
                 "stack_weight", "h2_realised", "additive", "dominance", "epistatic", "residual", "cnn_l1",
                 "genotypic_l1", "backbone_l1", "paper_l1", "dataset_seconds"]
#: The folder of the committed records of grids built up in chunks, one ``study-<grid>`` folder each (the
#: checkout's ``benchmarks/results``).
#:
#: :meta hide-value:
RECORDS = SOURCES / "benchmarks"
#: The CNN's filters and kernel size in a study: the paper's gamma_MA for QTLMAS2010.
PAPER_GAMMA = Gamma(PAPER_FILTERS, PAPER_KERNEL_SIZE, PAPER_L1)


@dataclass(frozen=True)
class StudyDataset:
    """One data set of a study: a trait of `architecture` at heritability `h2` on replicate `replicate`'s population."""

    architecture: str
    h2: float
    replicate: int
    trait_seed: int

    @property
    def key(self) -> str:
        return f"{self.architecture}-h2-{self.h2:g}-rep-{self.replicate}"


@dataclass(frozen=True)
class StudyGrid:
    """A named study: the scenarios, the population, and how the CNN is fitted.

    Attributes
    ----------
    name
        ``default`` (``make book``), ``full`` (the paper's population size) or ``smoke`` (tests).
    architectures, heritabilities, replicates
        The grid: every architecture at every heritability, on each replicate's population.
    population
        The simulation settings of each replicate's population (trait settings aside).
    n_members
        CNN ensemble members per data set.
    l1_grid
        The lambdas a data set's CNN chooses from on its validation rows (one value: fixed).
    training
        How each network is trained (a profile's training settings).
    paper_replicates
        How many replicates (the first ones) also fit the CNN ensemble under the paper protocol, for the
        protocol's optimism (None: every replicate).
    seed
        Seeds every population, trait and network of the study.
    description
        What the grid is for, in a sentence.
    """

    name: str
    architectures: tuple[str, ...]
    heritabilities: tuple[float, ...]
    replicates: int
    population: SimulationConfig
    n_members: int
    l1_grid: tuple[float, ...]
    training: TrainingSettings = field(default_factory=lambda: PROFILES["quick"].training)
    paper_replicates: int | None = None
    seed: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.architectures) - set(ARCHITECTURES))
        if unknown:
            raise CnngwpInputError(f"study grid {self.name!r}: unknown architecture(s) {unknown}; "
                                   f"expected some of {list(ARCHITECTURES)}")

    def population_seed(self, replicate: int) -> int:
        """The seed of replicate `replicate`'s population."""
        return seed_from(self.seed, replicate)

    def datasets(self) -> list[StudyDataset]:
        """Every data set of the grid, replicate by replicate, each trait with its own seed."""
        out = []
        for r in range(self.replicates):
            for a, architecture in enumerate(self.architectures):
                for h, h2 in enumerate(self.heritabilities):
                    seed = seed_from(self.seed, r, a, h, 1)
                    out.append(StudyDataset(architecture, h2, r, seed))
        return out

    def select(self, *, replicates: Sequence[int] | None = None, keys: Sequence[str] | None = None
               ) -> list[StudyDataset]:
        """The data sets of the given `replicates` and `keys` (None: any), in the grid's order.

        Raises
        ------
        CnngwpInputError
            A replicate or key the grid does not have (naming the ones it has).
        """
        datasets = self.datasets()
        if replicates is not None and not set(replicates) <= set(range(self.replicates)):
            raise CnngwpInputError(f"study grid {self.name!r}: replicate(s) {sorted(set(replicates))}; expected some "
                                   f"of 0 to {self.replicates - 1}")
        known = [d.key for d in datasets]
        unknown = sorted(set(keys or ()) - set(known))
        if unknown:
            raise CnngwpInputError(f"study grid {self.name!r}: unknown data set(s) {unknown}; expected keys such as "
                                   f"{known[0]!r} (architecture-h2-<h2>-rep-<replicate>)")
        return [d for d in datasets if (replicates is None or d.replicate in replicates)
                and (keys is None or d.key in keys)]

    def trait_config(self, dataset: StudyDataset) -> SimulationConfig:
        return replace(self.population, architecture=dataset.architecture, heritability=dataset.h2)

    def record(self) -> dict:
        """The settings a study folder is tied to."""
        return {"name": self.name, "architectures": list(self.architectures),
                "heritabilities": list(self.heritabilities), "replicates": self.replicates,
                "population": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.population).items()},
                "n_members": self.n_members, "l1_grid": list(self.l1_grid), "filters": PAPER_GAMMA.filters,
                "kernel_size": PAPER_GAMMA.kernel_size, "training": asdict(self.training),
                "paper_replicates": self.paper_replicates, "seed": self.seed}

    def dataset_settings(self) -> dict:
        """What one data set's numbers depend on: :meth:`record` but the number of replicates (a grid can grow)."""
        return {k: v for k, v in self.record().items() if k != "replicates"}


def _study_population() -> SimulationConfig:
    """580 animals (generations of 80 and 160 after the 20 founders) and 500 SNPs on two 12.5 Mb chromosomes:
    the default population's SNP density (so its LD and a kernel of 27 SNPs mean the same) on a twentieth of its
    genome, so that 48 data sets with every model fit ``make book``'s budget on 2 cores."""
    return replace(SimulationConfig(), generation_sizes=(20, 80, 160, 160, 160), n_chromosomes=2,
                   chromosome_length=12_500_000, snps_per_chromosome=250)


#: The named study grids.
GRIDS = {
    "default": StudyGrid("default", ARCHITECTURES, (0.2, 0.6), 6, _study_population(), n_members=2,
                         l1_grid=(0.25, PAPER_L1, 1.5), paper_replicates=3,
                         description="4 architectures x h2 0.2 and 0.6 x 6 replicates on 580 animals x 500 SNPs; "
                                     "2 CNN members; the paper protocol on 3 replicates (make book)"),
    # 53 replicates: planned_replicates of the default grid's pilot (5dc7a89, Intel Xeon) for a 95 % half-width of
    # at most the equivalence margin (2 %) at every scenario, for every CNN-based model; fixed before any full-grid
    # data set was fitted.
    "full": StudyGrid("full", ARCHITECTURES, (0.1, 0.3, 0.6), 53, SimulationConfig(), n_members=8,
                      l1_grid=(0.25, PAPER_L1, 1.5), paper_replicates=3,
                      description="4 architectures x h2 0.1, 0.3 and 0.6 x 53 replicates on the QTLMAS2010 "
                                  "population size (3,226 animals x 10,000 SNPs), built up in chunks (--replicates, "
                                  "--records); 53 populations give each scenario's pooled answer a 95 % half-width "
                                  "of 2 %, the equivalence margin, at the default grid's spread; 8 CNN members; the "
                                  "paper protocol on 3 replicates"),
    "smoke": StudyGrid("smoke", ("additive", "dominance"), (0.5,), 2, SimulationConfig.small(), n_members=1,
                       l1_grid=(0.5,), training=PROFILES["smoke"].training,
                       description="seconds, for tests"),
}


@dataclass(frozen=True)
class StudyContext:
    """What chapter 8 works on: the grid, the runs folder and where its tasks run."""

    grid: StudyGrid
    runs_root: Path
    scheduler: str | None

    def summary(self) -> str:
        """One line on the grid: its scenarios, data sets and population."""
        g = self.grid
        sizes = g.population.generation_sizes
        return (f"study grid {g.name!r}: {len(g.architectures)} architectures x h2 "
                f"{', '.join(f'{h:g}' for h in g.heritabilities)} x {g.replicates} replicates = "
                f"{len(g.datasets())} data sets; each population {sum(sizes)} animals in {len(sizes)} generations, "
                f"{g.population.n_chromosomes * g.population.snps_per_chromosome} SNPs; CNN: filters "
                f"{PAPER_GAMMA.filters}, kernel {PAPER_GAMMA.kernel_size}, lambda from {list(g.l1_grid)}, "
                f"{g.n_members} members; under the paper protocol too on "
                f"{'every replicate' if g.paper_replicates is None else f'the first {g.paper_replicates} replicates'}")

    @contextmanager
    def client(self) -> Iterator[Client]:
        """The Dask client the study's data sets run on."""
        with open_client(self.scheduler) as client:
            yield client


def study_context(*, grid: str, runs_root: str, scheduler: str) -> StudyContext:
    """Check chapter 8's parameters and build its :class:`StudyContext`.

    Parameters
    ----------
    grid
        The name of a grid of :data:`GRIDS`.
    runs_root
        The folder the study folder is made in.
    scheduler
        A Dask scheduler's address, ``"in-process"``, or ``""`` for a local cluster.

    Returns
    -------
    StudyContext
        The grid, the runs folder and the scheduler.

    Raises
    ------
    CnngwpInputError
        An unknown grid (naming the known ones).
    """
    if grid not in GRIDS:
        raise CnngwpInputError(f"study grid {grid!r}: expected one of {sorted(GRIDS)}")
    return StudyContext(GRIDS[grid], Path(runs_root), scheduler or None)


def study_folder(runs_root: str | os.PathLike, grid: StudyGrid) -> Path:
    """``<runs_root>/study-<grid name>``."""
    return Path(runs_root) / f"study-{grid.name}"


@dataclass(frozen=True)
class EveryModelFit:
    """Every model on one split (:func:`fit_every_model`).

    Attributes
    ----------
    table
        Per model: ``model``, ``mse``, ``correlation``, ``slope``, ``seconds`` and ``stack_weight``
        (the model's weight in the stack; NaN on the stack's own row).
    predictions
        The test rows: ``observed`` and one column per model.
    l1
        The lambda each CNN-based model's networks chose (the CNN ensemble, the genotypic CNN, the backbone's CNN).
    stack
        The stack's weights.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    l1: dict[str, float]
    stack: ModelStack


def _l1_grid_cnn(gamma: Gamma, l1_grid: tuple[float, ...], training: TrainingSettings, *, n_members: int, seed: int,
                 protocol: str = "honest") -> L1GridCNN:
    """`n_members` CNNs with `gamma`'s filters and kernel size and the lambda of `l1_grid` whose single network scores
    best on its validation rows (:class:`~cnngwp.models.l1_grid.L1GridCNN`), refitted where `protocol` refits.
    Under ``paper`` those rows are the test rows, as the published script checkpoints every network on them."""
    return L1GridCNN(cnn=cnn_estimator(gamma, training, seed=seed, n_members=n_members,
                                       refit=training.refits(protocol)), l1_grid=l1_grid)


def fit_every_model(data: GenotypeData, split: Split, *, l1_grid: tuple[float, ...], n_members: int,
                    training: TrainingSettings, seed: int, gamma: Gamma = PAPER_GAMMA,
                    paper_protocol: bool = False) -> EveryModelFit:
    """Every baseline, a CNN ensemble, a genotypic CNN, the backbone model and the stack on one split, honestly; the
    test rows scored once.

    Each CNN has the filters and kernel size of `gamma`; its lambda is the value of `l1_grid`
    whose single network has the lowest validation MSE (rows carved from the training rows,
    as in a run), then `n_members` networks with it choose their epochs on those rows and
    are refitted on every training row (:class:`~cnngwp.models.l1_grid.L1GridCNN`): the CNN ensemble with the
    additive encoding, the genotypic CNN with the heterozygote channel, and the backbone model
    (:class:`~cnngwp.models.backbone.KernelBackboneCNN`), whose CNN fits the out-of-fold residual of
    :data:`~cnngwp.models.names.BACKBONE_KERNEL` with :data:`~cnngwp.models.backbone.BACKBONE_ENCODING`.
    Every model but the paper protocol's is a member of the stack (:class:`~cnngwp.models.stack.StackRegressor`),
    whose weights are fitted on every model's predictions of held-out training rows by that model fitted without
    them (:func:`cnngwp.models.stack.held_out_parts`): the validation rows, or without generations an inner
    cross-fit, every CNN retrained per fold for its epochs. A model's seconds are its fit on every training row;
    the stack's are every member's plus their held-out predictions.

    With `paper_protocol`, the CNN ensemble is fitted a second time as the published script
    fits it (:data:`~cnngwp.models.names.PAPER_PROTOCOL_CNN`): lambda chosen by the test MSE, every
    network's epoch checkpointed on the test rows, nothing refitted; the same model and budget, so the two
    rows' difference is what that protocol manufactures. That row is optimistic by construction and stays out
    of the stack.

    Parameters
    ----------
    data, split
        The genotypes and trait, and which rows train and which are scored.
    l1_grid, n_members, training, seed, gamma
        How every CNN is fitted: the lambdas it chooses from, its networks, how each trains, the seed of every
        model, and the filters and kernel size.
    paper_protocol
        Whether to fit the paper protocol's CNN ensemble too.

    Returns
    -------
    EveryModelFit
        The table, the test predictions, each CNN-based model's lambda and the stack.
    """
    problem = TuningProblem.from_split(data, split, seed=seed)
    backbone = backbone_name(BACKBONE_KERNEL)
    members = [*baseline_models(seed=seed).items(),
               *((name, _l1_grid_cnn(gamma, l1_grid, replace(training, encoding=encoding), n_members=n_members,
                                     seed=seed))
                 for name, encoding in ((CNN_ENSEMBLE, "additive"), (GENOTYPIC_CNN, "genotypic"))),
               (backbone, KernelBackboneCNN(cnn=_l1_grid_cnn(gamma, l1_grid, backbone_training(training),
                                                             n_members=n_members, seed=seed), seed=seed))]
    stack = StackRegressor(members, inner_folds=None if problem.by_generation else STACK_FOLDS, seed=seed).fit(
        problem.X_train, problem.y_train, validation_rows=problem.validation, covariates=problem.C_train,
        validation_rule=problem.validation_rule)
    test = stack.member_predictions(problem.X_test, covariates=problem.C_test)
    l1 = {name: stack.members_[name].l1_ for name in (CNN_ENSEMBLE, GENOTYPIC_CNN)}
    l1[backbone] = stack.members_[backbone].cnn_.l1_
    seconds = {**stack.fit_seconds_, STACK: sum(stack.fit_seconds_.values()) + sum(stack.held_out_seconds_.values())}

    if paper_protocol:
        start = time.perf_counter()
        cnn = _l1_grid_cnn(gamma, l1_grid, training, n_members=n_members, seed=seed, protocol="paper")
        cnn.fit(problem.X_train, problem.y_train, validation_data=(problem.X_test, problem.y_test, problem.C_test))
        l1[PAPER_PROTOCOL_CNN], test[PAPER_PROTOCOL_CNN] = cnn.l1_, cnn.predict(problem.X_test)
        seconds[PAPER_PROTOCOL_CNN] = time.perf_counter() - start

    order = [name for name, _ in members] + [PAPER_PROTOCOL_CNN] * paper_protocol + [STACK]
    table = pd.DataFrame({"model": order})
    metrics = pd.DataFrame([prediction_metrics(problem.y_test, test[m]) for m in order])
    table[metrics.columns] = metrics
    table["seconds"] = table["model"].map(seconds)
    table["stack_weight"] = table["model"].map(stack.stack_.weights).astype(float)
    test.index = data.samples.index[split.test]
    predictions = pd.concat([pd.DataFrame({"observed": problem.y_test}, index=test.index), test[order]], axis=1)
    return EveryModelFit(table, predictions, l1, stack.stack_)


def fit_study_dataset(population: Population, dataset: StudyDataset, grid: StudyGrid) -> tuple[pd.DataFrame,
                                                                                               pd.DataFrame]:
    """Simulate one data set's trait and fit every model on generations 1-4 (:func:`fit_every_model`), scoring
    generation 5 once.

    Returns
    -------
    tuple of pandas.DataFrame
        The data set's rows of the study table (:data:`STUDY_COLUMNS`; ``dataset_seconds`` is the wall time of
        this call), and its test predictions (``observed`` and one column per model).
    """
    start = time.perf_counter()
    data = population.trait(grid.trait_config(dataset), seed=dataset.trait_seed)
    realised = realised_variance_components(data)
    data = quality_control(data)[0]
    paper = grid.paper_replicates is None or dataset.replicate < grid.paper_replicates
    fit = fit_every_model(data, split_by_generation(data), l1_grid=grid.l1_grid, n_members=grid.n_members,
                          training=grid.training, seed=dataset.trait_seed % 1_000_000, paper_protocol=paper)
    rows = fit.table.assign(dataset=dataset.key, architecture=dataset.architecture, h2=dataset.h2,
                            replicate=dataset.replicate, h2_realised=realised["h2"],
                            **{k: realised[k] for k in ("additive", "dominance", "epistatic", "residual")},
                            cnn_l1=fit.l1[CNN_ENSEMBLE], genotypic_l1=fit.l1[GENOTYPIC_CNN],
                            backbone_l1=fit.l1[backbone_name(BACKBONE_KERNEL)],
                            paper_l1=fit.l1.get(PAPER_PROTOCOL_CNN, np.nan))
    rows["dataset_seconds"] = time.perf_counter() - start
    return rows[STUDY_COLUMNS], fit.predictions


def _dataset_files(folder: Path, dataset: StudyDataset) -> tuple[Path, Path, Path]:
    """A data set's rows, test predictions and the provenance of the process that fitted it."""
    base = folder / "datasets" / dataset.key
    return base / "results.csv", base / "predictions.csv", base / "source.json"


def _record_file(records: str | os.PathLike, key: str) -> Path:
    return Path(records) / f"{key}.json"


def write_dataset_record(records: str | os.PathLike, grid: StudyGrid, rows: pd.DataFrame, source: dict) -> Path:
    """Write one finished data set's rows of `grid` as a record to commit, ``<records>/<key>.json``; returns its path.

    The record holds the grid's name and the settings its numbers depend on (:meth:`StudyGrid.dataset_settings`),
    the rows (:data:`STUDY_COLUMNS`; a missing value as null), the data set's seconds, and `source`: the commit,
    date, machine and command of the process that fitted it (:func:`cnngwp.provenance.provenance`, taken
    when it started).
    """
    key = str(rows["dataset"].iloc[0])
    seconds = float(rows["dataset_seconds"].iloc[0])
    entry = {"grid": grid.name, "dataset": key, "settings": grid.dataset_settings(),
             "seconds": None if np.isnan(seconds) else round(seconds, 1), **source,
             "rows": rows[STUDY_COLUMNS].astype(object).where(rows[STUDY_COLUMNS].notna(), None).to_dict("records")}
    path = _record_file(records, key)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(entry, indent=1) + "\n"))
    return path


@dataclass(frozen=True)
class CommittedStudy:
    """The data sets of a grid that records hold (:func:`committed_study`).

    Attributes
    ----------
    grid
        The grid.
    table
        The tidy study table (:data:`STUDY_COLUMNS`) of every recorded data set.
    records
        Per recorded data set: ``dataset``, ``seconds``, ``commit``, ``date`` and ``machine``.
    """

    grid: StudyGrid
    table: pd.DataFrame
    records: pd.DataFrame

    def summary(self) -> str:
        """How many of the grid's data sets are in, per scenario, and what they cost on which machines."""
        n, total = len(self.records), len(self.grid.datasets())
        if not n:
            return f"study grid {self.grid.name!r}: none of its {total} data sets is recorded yet"
        per_scenario = self.table.drop_duplicates("dataset").groupby(["architecture", "h2"]).size()
        low, high = per_scenario.min(), per_scenario.max()
        replicates = f"{low}" if low == high else f"{low} to {high}"
        costs = []  # per machine: one median over machines of different speeds would describe none of them
        for machine, seconds in self.records.groupby("machine")["seconds"]:
            seconds = seconds.dropna()
            costs.append(f"{seconds.median():.0f} s per data set (median of {len(seconds)}) on {machine}"
                         if len(seconds) else f"{machine} (seconds not recorded)")
        return (f"study grid {self.grid.name!r}: {n} of its {total} data sets recorded, in "
                f"{len(per_scenario)} of its {len(self.grid.architectures) * len(self.grid.heritabilities)} "
                f"scenarios with {replicates} replicate{'s' if high > 1 else ''} each; " + "; ".join(costs))


def committed_study(grid: StudyGrid, records: str | os.PathLike | None = None) -> CommittedStudy:
    """Every data set of `grid` recorded in `records` (:func:`write_dataset_record`), as one study table.

    Parameters
    ----------
    grid
        The grid the records belong to.
    records
        The folder of records; None: the committed ones, ``benchmarks/results/study-<grid>`` (:data:`RECORDS`).

    Returns
    -------
    CommittedStudy
        The table, and per data set where and when it was fitted.

    Raises
    ------
    CnngwpInputError
        A record that is not JSON, of another grid or data set, or made with other settings (naming the file and
        the first setting that differs).
    """
    records = RECORDS / f"study-{grid.name}" if records is None else records
    keys = {d.key for d in grid.datasets()}
    settings = json.loads(json.dumps(grid.dataset_settings()))
    tables, rows = [], []
    for path in sorted(Path(records).glob("*.json")):
        try:
            entry = json.loads(path.read_text())
            grid_name, key, made_with = entry["grid"], entry["dataset"], entry["settings"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CnngwpInputError(f"{path}: not a study data set's record ({error!r}); expected one that "
                                   "'cnngwp study --records' wrote") from None
        if grid_name != grid.name or key not in keys or path.stem != key:
            raise CnngwpInputError(f"{path}: a record of data set {key!r} of grid {grid_name!r}; expected one of "
                                   f"grid {grid.name!r}'s data sets, in a file named after it")
        differs = differing_setting(made_with, settings)
        if differs is not None:
            raise CnngwpInputError(f"{path}: made with {differs}={made_with.get(differs)!r}, but grid {grid.name!r} "
                                   f"now has {differs}={settings.get(differs)!r}; its numbers belong to another "
                                   "study")
        tables.append(pd.DataFrame(entry["rows"], columns=STUDY_COLUMNS))
        rows.append({"dataset": key, **{k: entry.get(k) for k in ("seconds", "commit", "date", "machine")}})
    table = (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=STUDY_COLUMNS)).astype(
        {"mse": float, "h2": float, "replicate": int})
    return CommittedStudy(grid, table, pd.DataFrame(rows, columns=["dataset", "seconds", "commit", "date",
                                                                   "machine"]))


def run_study(grid: StudyGrid, runs_root: str | os.PathLike, client: Client, *,
              datasets: Sequence[StudyDataset] | None = None, records: str | os.PathLike | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Fit every data set of `grid` (or of `datasets`) not finished yet, one Dask task each, and return the tidy
    study table.

    Each replicate's population is simulated once, in this process, and written once to
    ``populations/`` in the study folder, which the workers read (removed when the study is
    done; on a cluster the folder must be on a file system every worker mounts). A data set's
    files are written as its task finishes, so a killed study resumes where it stopped; the
    folder is tied to the grid's settings (``grid.json``).
    The table is also written to ``study.csv``.

    Parameters
    ----------
    grid
        The study's scenarios, population and CNN settings (:data:`GRIDS`).
    runs_root
        The folder the study folder (:func:`study_folder`) is made in.
    client
        The Dask client the data sets run on, one task each.
    datasets
        A chunk of the grid (:meth:`StudyGrid.select`); None: every data set.
    records
        A folder of committed records (:func:`write_dataset_record`): a data set recorded there is read from its
        record, not fitted, and every other one gets its record as it finishes. None: no records.
    progress
        Print a line as each data set finishes.

    Returns
    -------
    pandas.DataFrame
        The tidy study table (:data:`STUDY_COLUMNS`), one row per data set and model.

    Raises
    ------
    CnngwpInputError
        If the study folder was made with other settings, or a record in `records` was.
    """
    folder = study_folder(runs_root, grid)
    folder.mkdir(parents=True, exist_ok=True)
    tie_to_settings(folder / "grid.json", grid.record())
    chosen = grid.datasets() if datasets is None else list(datasets)
    source = provenance()  # the code as it was when the fits started
    committed = None if records is None else committed_study(grid, records).table
    recorded = set() if committed is None else set(committed["dataset"])
    todo = [d for d in chosen if d.key not in recorded and not _dataset_files(folder, d)[0].exists()]
    start = time.perf_counter()
    futures = {}
    for replicate in sorted({d.replicate for d in todo}):
        population = simulate_population(seed=grid.population_seed(replicate), config=grid.population)
        shared = store(population, folder / "populations" / f"replicate-{replicate}")
        for dataset in (d for d in todo if d.replicate == replicate):
            futures[client.submit(read_and_call, fit_study_dataset, shared, dataset, grid, pure=False)] = dataset
    for number, future in enumerate(as_completed(futures), 1):
        rows, predictions = future.result()
        results, predictions_path, source_path = _dataset_files(folder, futures[future])
        results.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(predictions_path, lambda tmp, frame=predictions: frame.to_csv(tmp))
        atomic_write(source_path, lambda tmp: tmp.write_text(json.dumps(source)))
        atomic_write(results, lambda tmp, frame=rows: frame.to_csv(tmp, index=False))  # last: marks it finished
        if records is not None:
            write_dataset_record(records, grid, rows, source)
        if progress:
            print(f"study {grid.name}: [{number}/{len(todo)}] {futures[future].key} done "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    discard(folder / "populations")
    tables = []
    for dataset in chosen:
        if dataset.key in recorded:
            tables.append(committed[committed["dataset"] == dataset.key])
            continue
        results, _, source_path = _dataset_files(folder, dataset)
        rows = pd.read_csv(results).reindex(columns=STUDY_COLUMNS)  # older: no seconds
        if records is not None and not _record_file(records, dataset.key).exists():  # finished by an earlier run
            fitted_by = json.loads(source_path.read_text()) if source_path.exists() else dict.fromkeys(source,
                                                                                                       "unknown")
            write_dataset_record(records, grid, rows, fitted_by)
        tables.append(rows)
    table = pd.concat(tables, ignore_index=True).astype({"mse": float, "h2": float, "replicate": int})
    atomic_write(folder / "study.csv", lambda tmp: table.to_csv(tmp, index=False))
    return table
