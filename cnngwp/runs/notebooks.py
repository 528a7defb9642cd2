"""Executing the notebooks per (data set, fold) with papermill, resumably and in parallel on Dask.

Each notebook has one ``parameters`` cell of scalars (:data:`DEFAULT_PARAMETERS`) and
turns them into a :class:`RunContext` with :func:`notebook_context`. ``cnngwp run``
executes the seven notebooks of :data:`NOTEBOOKS` into ``<runs_root>/<dataset>/fold-<k>/``;
a folder whose ``complete.json`` records the same parameters is skipped.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path

import jupytext
import nbformat
import papermill
from dask.system import CPU_COUNT
from distributed import Client

from cnngwp.data.covariates import CovariateDesign, parse_columns
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.catalogue import DatasetSpec, dataset_splits, load_dataset, select_split
from cnngwp.errors import CnngwpInputError
from cnngwp.reports.comparison import BaselineFits
from cnngwp.atomic import atomic_write
from cnngwp.runs.parallel import IN_PROCESS, open_client
from cnngwp.data.splits import Split
from cnngwp.runs.study import GRIDS, study_context, study_folder
from cnngwp.tuning.problem import PROFILES, PROTOCOLS, Profile, TuningProblem
from cnngwp.tuning.search import RunSettings, search_space
from cnngwp.runs.workflow import baselines_for_run, covariate_design

__all__ = [
    "DEFAULT_PARAMETERS",
    "NOTEBOOKS",
    "NOTEBOOK_DIR",
    "NotebookSettings",
    "SOURCES",
    "NotebookError",
    "RunContext",
    "context_from_namespace",
    "copy_run_notebooks",
    "execute_notebook",
    "notebook_context",
    "prepare_for_book",
    "run_folder",
    "run_notebooks",
    "run_study_notebook",
]

#: The chapters, in order; each reads what the ones before it wrote into the run folder.
NOTEBOOKS = ("01_simulate_data", "02_fit_baselines", "03_train_cnn", "04_tune_hyperparameters",
             "05_fit_ensemble", "06_compare_models", "07_predict_candidates")
#: The study chapter: executed once per study grid into ``<runs_root>/study-<grid>/`` (:func:`run_study_notebook`).
STUDY_NOTEBOOK = "08_when_does_the_cnn_win"
#: What ships inside the package (``cnngwp/sources``): ``_config.yml``, ``book/``, ``notebooks/`` and ``benchmarks/``
#: (the benchmark records, ``benchmarks/results``); in a source checkout these are links to the top-level folders, so
#: an edited notebook runs as it is.
#:
#: :meta hide-value:
SOURCES = Path(str(importlib.resources.files("cnngwp") / "sources"))
#: The MyST sources of the chapters.
#:
#: :meta hide-value:
NOTEBOOK_DIR = SOURCES / "notebooks"

#: Kernel options: only errors from the kernel's own log (it warns about local TCP sockets otherwise).
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]

#: The ``parameters`` cell of every notebook: a tiny simulated data set, the smoke profile.
DEFAULT_PARAMETERS = {
    "dataset": "tiny-sim", "kind": "simulated", "data_path": "runs/data/tiny-sim", "phenotypes": "", "trait": "y",
    "folds": "", "k": 5, "fold": 0, "small": True, "dominance_in_file": False, "dosages": False, "protocol": "honest", "profile": "smoke", "space": "qtlmas2010",
    "covariates": "", "categorical": "", "seed": 1, "runs_root": "runs", "scheduler": IN_PROCESS,
}


class NotebookError(RuntimeError):
    """A notebook cell raised; the message names the notebook, the cell and the error."""


@dataclass(frozen=True)
class RunContext:
    """What a notebook works on: the data set, its split, the settings and the run folder."""

    spec: DatasetSpec
    fold: int
    settings: RunSettings
    runs_root: Path
    scheduler: str | None
    covariate_columns: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()

    @property
    def run_dir(self) -> Path:
        return run_folder(self.runs_root, self.spec.key, self.fold)

    @cached_property
    def data(self) -> GenotypeData:
        return load_dataset(self.spec)

    @cached_property
    def split(self) -> Split:
        return select_split(dataset_splits(self.data, self.spec), self.fold, self.spec)

    @cached_property
    def covariates(self) -> CovariateDesign | None:
        """The fixed-effect design fitted on the training rows (None without covariates)."""
        return covariate_design(self.data, self.split, self.covariate_columns, self.categorical)

    @cached_property
    def problem(self) -> TuningProblem:
        return TuningProblem.from_split(self.data, self.split, seed=self.settings.seed, covariates=self.covariates)

    def baselines(self) -> BaselineFits:
        """GBLUP and BLASSO on this split, fitted once per run folder."""
        return baselines_for_run(self.data, self.split, self.run_dir, seed=self.settings.seed,
                                 covariates=self.covariates)

    @contextmanager
    def client(self) -> Iterator[Client]:
        """The Dask client the notebook's CNN fits run on."""
        with open_client(self.scheduler) as client:
            yield client


def run_folder(runs_root: str | os.PathLike, dataset: str, fold: int) -> Path:
    """``<runs_root>/<dataset>/fold-<fold>``."""
    return Path(runs_root) / dataset / f"fold-{fold}"


def notebook_context(**parameters) -> RunContext:
    """Check a notebook's parameters and build its :class:`RunContext`.

    Raises
    ------
    CnngwpInputError
        Unknown or missing parameters, a bad profile, protocol or search space (naming it).
    """
    unknown = sorted(set(parameters) - set(DEFAULT_PARAMETERS))
    missing = sorted(set(DEFAULT_PARAMETERS) - set(parameters))
    if unknown or missing:
        raise CnngwpInputError(f"notebook parameters: unknown {unknown}, missing {missing}")
    p = parameters
    for name, allowed in (("profile", PROFILES), ("protocol", PROTOCOLS)):
        if p[name] not in allowed:
            raise CnngwpInputError(f"notebook parameter {name}={p[name]!r}: expected one of {sorted(allowed)}")
    settings = RunSettings(search_space(p["space"]), PROFILES[p["profile"]], p["protocol"], p["seed"])
    if not isinstance(p["fold"], int) or p["fold"] < 0:
        raise CnngwpInputError(f"notebook parameter fold={p['fold']!r}: expected a non-negative integer")
    spec = DatasetSpec(key=p["dataset"], kind=p["kind"], path=p["data_path"], phenotypes=p["phenotypes"] or None,
                       trait=p["trait"], folds=p["folds"] or None, k=p["k"], seed=p["seed"], small=bool(p["small"]),
                       dominance_in_file=bool(p["dominance_in_file"]), dosages=bool(p["dosages"]))
    return RunContext(spec, p["fold"], settings, Path(p["runs_root"]), p["scheduler"] or None, parse_columns(p["covariates"]),
                      parse_columns(p["categorical"]))


def context_from_namespace(namespace: dict) -> RunContext:
    """:func:`notebook_context` of the parameters defined in a notebook's namespace (``globals()``)."""
    return notebook_context(**{name: namespace[name] for name in DEFAULT_PARAMETERS if name in namespace})


def execute_notebook(source: Path, output: Path, parameters: dict, *, cwd: Path | None = None) -> None:
    """Execute a MyST notebook with papermill; `output` is replaced only when every cell succeeded.

    `cwd` is the kernel's working folder (relative paths among `parameters` are read from there).

    Raises
    ------
    NotebookError
        If a cell fails; the partly executed notebook is left as ``.<name>.failed.ipynb`` beside `output`.
    """
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    try:
        # every output is in the notebook when the last cell ends; a graceful shutdown only gave asyncio the chance
        # to log "Task was destroyed but it is pending!" into the kernel's closed stdout (a traceback in the
        # terminal of `make book`, seen once after chapter 4), so the kernel is stopped at once
        papermill.execute_notebook(jupytext.read(source), str(partial), parameters=parameters, kernel_name="python3",
                                   progress_bar=False, extra_arguments=KERNEL_ARGUMENTS,
                                   cwd=None if cwd is None else str(cwd), shutdown_kernel="immediate")
    except papermill.PapermillExecutionError as error:
        failed = output.with_name(f".{output.stem}.failed.ipynb")
        os.replace(partial, failed)
        raise NotebookError(f"{source.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue} "
                            f"(the partly executed notebook is {failed})") from error
    os.replace(partial, output)


def _execute_run(parameters: dict, notebooks: tuple[str, ...], root: Path) -> dict:
    """Execute the notebooks of one (data set, fold) in order, in the runs folder `root` (the kernels' working
    folder, so the parameters hold paths relative to it); each output replaces its file only when it succeeded."""
    folder = run_folder(root, parameters["dataset"], parameters["fold"])
    folder.mkdir(parents=True, exist_ok=True)
    label = f"{parameters['dataset']}/fold-{parameters['fold']}"
    start = time.perf_counter()
    for number, name in enumerate(notebooks, 1):
        began = time.perf_counter()
        execute_notebook(NOTEBOOK_DIR / f"{name}.md", folder / f"{name}.ipynb", parameters, cwd=root)
        print(f"{label}: [{number}/{len(notebooks)}] {name} done in {time.perf_counter() - began:.0f} s", flush=True)
    record = {"parameters": parameters, "notebooks": list(notebooks), "seconds": time.perf_counter() - start}
    atomic_write(folder / "complete.json", lambda tmp: tmp.write_text(json.dumps(record, indent=2)))
    return record


def is_complete(root: Path, parameters: dict, notebooks: tuple[str, ...]) -> bool:
    """True when the run folder under `root` already holds these notebooks executed with these parameters."""
    marker = run_folder(root, parameters["dataset"], parameters["fold"]) / "complete.json"
    if not marker.exists():
        return False
    record = json.loads(marker.read_text())
    return record["parameters"] == parameters and record["notebooks"] == list(notebooks)


@dataclass(frozen=True)
class NotebookSettings:
    """A run's settings as the notebooks take them (scalar parameters, checked by :func:`notebook_context`):
    profile, protocol and search space by name, the seed, and the covariate columns as comma-separated text."""

    profile: str = "quick"
    protocol: str = "honest"
    space: str = "qtlmas2010"
    seed: int = 1
    covariates: str = ""
    categorical: str = ""


def run_notebooks(spec: DatasetSpec, settings: NotebookSettings = NotebookSettings(), *,
                  runs_root: str | os.PathLike = "runs", scheduler: str | None = None, folds: list[int] | None = None,
                  notebooks: tuple[str, ...] = NOTEBOOKS) -> list[dict]:
    """Execute the notebooks for every fold of `spec` (or the given `folds`) into the run folders.

    One run at a time when there is a single run or a `scheduler` address (each
    notebook's CNN fits then use a local cluster, or that scheduler); otherwise the runs
    are Dask tasks on a local cluster with one worker per core, their CNN fits in-process.
    Complete run folders are skipped.

    Returns
    -------
    list of dict
        Per run: ``parameters``, ``notebooks``, ``seconds`` and ``skipped``.
    """
    root = Path(runs_root).resolve()
    n_folds = len(dataset_splits(load_dataset(spec), spec))
    spec = _relative(spec, root)
    chosen = list(range(n_folds)) if folds is None else folds
    for fold in chosen:
        if not 0 <= fold < n_folds:
            raise CnngwpInputError(f"data set {spec.key!r} has folds 0..{n_folds - 1}; fold {fold} does not exist")
    many = len(chosen) > 1 and scheduler is None
    base = {"dataset": spec.key, "kind": spec.kind, "data_path": spec.path, "phenotypes": spec.phenotypes or "",
            "trait": spec.trait, "folds": spec.folds or "", "k": spec.k, "small": spec.small,
            "dominance_in_file": spec.dominance_in_file, "dosages": spec.dosages,
            **asdict(settings), "runs_root": ".",
            "scheduler": IN_PROCESS if many else (scheduler or "")}
    todo, done = [], []
    for fold in chosen:
        parameters = {**base, "fold": fold}
        notebook_context(**parameters)  # validate before anything runs
        if is_complete(root, parameters, notebooks):
            done.append({**json.loads((run_folder(root, spec.key, fold) / "complete.json").read_text()),
                         "skipped": True})
        else:
            todo.append(parameters)
    if not many:
        return done + [{**_execute_run(p, notebooks, root), "skipped": False} for p in todo]
    with open_client(None, n_workers=min(len(todo), CPU_COUNT)) as client:
        futures = [client.submit(_execute_run, p, notebooks, root, pure=False) for p in todo]
        return done + [{**future.result(), "skipped": False} for future in futures]


def run_study_notebook(grid: str, *, runs_root: str | os.PathLike = "runs", scheduler: str | None = None,
                       notebook_dir: Path = NOTEBOOK_DIR) -> Path:
    """Execute chapter 8 on study grid `grid` into ``<runs_root>/study-<grid>/`` and return the executed notebook.

    The chapter runs the study (:func:`cnngwp.runs.study.run_study`): data sets finished by an
    earlier call are read back, not refitted. `scheduler` as for :func:`run_notebooks` (None:
    a local cluster with one worker per core).

    Raises
    ------
    CnngwpInputError
        An unknown grid; NotebookError if a cell fails.
    """
    root = Path(runs_root).resolve()
    study_context(grid=grid, runs_root=str(root), scheduler=scheduler or "")  # validate before anything runs
    folder = study_folder(root, GRIDS[grid])
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / f"{STUDY_NOTEBOOK}.ipynb"
    execute_notebook(notebook_dir / f"{STUDY_NOTEBOOK}.md", output,
                     {"grid": grid, "runs_root": ".", "scheduler": scheduler or ""}, cwd=root)
    return output


def _relative(spec: DatasetSpec, root: Path) -> DatasetSpec:
    """The spec with its paths relative to the runs folder `root`, where the notebooks run: no page of the book
    then shows a path of the machine it was built on."""
    def relative(path: str | None) -> str | None:
        return None if path is None else os.path.relpath(Path(path).resolve(), root)
    return replace(spec, path=relative(spec.path), phenotypes=relative(spec.phenotypes), folds=relative(spec.folds))


def copy_run_notebooks(run_dir: Path, target: Path, notebooks: tuple[str, ...] = NOTEBOOKS) -> None:
    """Copy the executed notebooks of one run into the book's source tree (:func:`prepare_for_book`)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in notebooks:
        source = run_dir / f"{name}.ipynb"
        if not source.exists():
            command = "cnngwp study" if name == STUDY_NOTEBOOK else "cnngwp run"
            raise CnngwpInputError(f"{source}: executed notebook not found; run '{command}' first")
        prepare_for_book(source, target / source.name)


def prepare_for_book(source: Path, target: Path) -> None:
    """Write the executed notebook `source` to `target` with papermill's injected-parameters cell tagged
    ``remove-cell``: the notebook keeps it, the book's page does not show it."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(notebook, target)
