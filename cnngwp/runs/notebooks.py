"""The chapters: what they open, which parameters they take, and executing them per (data set, fold) with papermill.

Each chapter starts from :func:`open_run` (an example data set by name, or a data set folder
that ``cnngwp run`` wrote) and has one ``parameters`` cell of scalars, each one of
:data:`CHAPTER_PARAMETERS` with its default there. ``cnngwp run`` executes the seven chapters
of :data:`NOTEBOOKS` into ``<runs_root>/<dataset>/fold-<k>/``, passing each the run's values of
the :data:`RUN_PARAMETERS` it declares; a folder whose ``complete.json`` records the same
parameters is skipped.
"""

from __future__ import annotations

import ast
import importlib.resources
import json
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from dask.system import CPU_COUNT

from cnngwp.atomic import atomic_write, tie_to_settings
from cnngwp.data.catalogue import DatasetSpec, dataset_splits, load_dataset, select_split
from cnngwp.data.covariates import CovariateDesign, covariate_design, parse_columns
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.splits import Split
from cnngwp.errors import CnngwpInputError
from cnngwp.models.paper import PAPER_FILTERS, PAPER_KERNEL_SIZE, PAPER_L1
from cnngwp.runs.parallel import IN_PROCESS, open_client
from cnngwp.tuning.settings import (
    CHAPTER_PROFILE,
    DEFAULT_PROFILE,
    DEFAULT_PROTOCOL,
    DEFAULT_SEED,
    DEFAULT_SPACE,
    RunSettings,
)

__all__ = [
    "CHAPTER_PARAMETERS",
    "DATASET_FILE",
    "EXAMPLES",
    "MAX_CHAPTER_PARAMETERS",
    "NOTEBOOKS",
    "NOTEBOOK_DIR",
    "RUN_PARAMETERS",
    "SOURCES",
    "ChapterRun",
    "NotebookError",
    "NotebookSettings",
    "chapter_parameters",
    "copy_run_notebooks",
    "example",
    "execute_notebook",
    "open_run",
    "prepare_for_book",
    "run_folder",
    "run_notebooks",
    "run_study_notebook",
]

#: The chapters, in order; each runs on its own, reading what it needs from an earlier one from the run folder
#: by a call that computes it when the file is not there.
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

#: Every parameter a chapter (1-7) may declare in its ``parameters`` cell, with its default and its meaning. A
#: chapter declares the ones it uses, with these defaults and types (:func:`chapter_parameters` checks): on its
#: defaults it runs on the tiny example in seconds to minutes.
CHAPTER_PARAMETERS = {
    "dataset": ("tiny-sim", "an example's name or a data set folder of 'cnngwp run'"),
    "fold": (0, "which split (0: generations 1-4 -> 5)"),
    "seed": (DEFAULT_SEED, "seeds the simulation, folds, optimisers, networks"),
    "profile": (CHAPTER_PROFILE, "smoke | quick | paper: BO points, S, epochs"),
    "protocol": (DEFAULT_PROTOCOL, "honest | paper (tuned on the test set: optimistic)"),
    "space": (DEFAULT_SPACE, "bounds of gamma: qtlmas2010 | wide | own (search_space)"),
    "scheduler": (IN_PROCESS, "Dask: in-process | '' (local cluster) | tcp://host:8786"),
    "filters": (PAPER_FILTERS, "the network's filters F"),
    "kernel_size": (PAPER_KERNEL_SIZE, "the convolution's kernel size K"),
    "l1": (PAPER_L1, "the output layer's L1 penalty lambda"),
}
#: The parameters ``cnngwp run`` sets, in every chapter that declares them; the others keep their defaults.
RUN_PARAMETERS = ("dataset", "fold", "seed", "profile", "protocol", "space", "scheduler")
#: The most parameters a chapter declares.
MAX_CHAPTER_PARAMETERS = 8

#: The description of a data set that ``cnngwp run`` writes beside its fold folders (``<runs_root>/<key>/``): where
#: the data come from and which columns are covariates (:func:`open_run` reads it).
DATASET_FILE = "dataset.json"
#: The built-in data sets a chapter opens by name, simulated into ``data/<name>`` of the working folder on first use:
#: ``tiny-sim`` (seconds) and the default QTLMAS2010-like population of ``make book``.
EXAMPLES = {"tiny-sim": True, "qtlmas2010-sim": False}


class NotebookError(RuntimeError):
    """A notebook cell raised, or its parameters cell is not what :data:`CHAPTER_PARAMETERS` says; the message names
    the notebook."""


@dataclass(frozen=True)
class ChapterRun:
    """What a chapter works on (:func:`open_run`).

    Attributes
    ----------
    spec
        Where the data come from and how they are split.
    data, split
        The data set and the split number `fold`.
    covariates
        The fixed-effect design fitted on the training rows (None without covariates).
    folder
        Where the chapter's results go: ``<dataset>/fold-<fold>/``, the run folder of ``cnngwp run``.
    """

    spec: DatasetSpec
    data: GenotypeData
    split: Split
    covariates: CovariateDesign | None
    folder: Path

    @property
    def root(self) -> Path:
        """The folder holding every data set's folder (the runs folder of ``cnngwp run``)."""
        return self.folder.parent.parent


def example(name: str, *, seed: int = 1) -> DatasetSpec:
    """The built-in data set `name` of :data:`EXAMPLES`, simulated with `seed` into ``data/<name>`` (``-seed-<seed>``
    for another seed than 1) of the working folder."""
    if name not in EXAMPLES:
        raise CnngwpInputError(f"{name!r}: expected an example data set ({', '.join(EXAMPLES)}) or a data set folder "
                               f"written by 'cnngwp run' (holding {DATASET_FILE})")
    path = Path("data") / (name if seed == 1 else f"{name}-seed-{seed}")
    return DatasetSpec(key=name, kind="simulated", path=str(path), seed=seed, small=EXAMPLES[name])


def open_run(dataset: str, fold: int = 0, *, seed: int = 1) -> ChapterRun:
    """The data set, its split number `fold` and its covariates, with the folder the chapter's results go to.

    `dataset` is a data set folder that ``cnngwp run`` wrote (its :data:`DATASET_FILE` says where the data are and
    which columns are covariates; relative paths are read from the folder above it), or an example of
    :data:`EXAMPLES` (simulated with `seed` on first use: :func:`example`).

    Parameters
    ----------
    dataset
        A data set folder ``cnngwp run`` wrote, or the name of an example.
    fold
        Which of the data set's splits (0-based).
    seed
        The seed an example is simulated with.

    Returns
    -------
    ChapterRun
        The data set, its split, its covariate design and the chapter's run folder.

    Raises
    ------
    CnngwpInputError
        Neither a data set folder nor an example, a damaged description (naming the file), or a fold that does not
        exist.
    """
    if not isinstance(fold, int) or fold < 0:
        raise CnngwpInputError(f"fold={fold!r}: expected a non-negative integer")
    description = Path(dataset) / DATASET_FILE
    if description.exists():
        spec, covariates, categorical = _read_description(description)
    else:
        spec, covariates, categorical = example(dataset, seed=seed), (), ()
    data = load_dataset(spec)
    split = select_split(dataset_splits(data, spec), fold, spec)
    return ChapterRun(spec, data, split, covariate_design(data, split, covariates, categorical),
                      Path(dataset) / f"fold-{fold}")


def _description(spec: DatasetSpec, covariates: str, categorical: str) -> dict:
    return {**asdict(spec), "covariates": list(parse_columns(covariates)),
            "categorical": list(parse_columns(categorical))}


def _read_description(path: Path) -> tuple[DatasetSpec, tuple[str, ...], tuple[str, ...]]:
    """The spec (its paths read from the folder above `path`'s) and the covariate columns a :data:`DATASET_FILE`
    holds."""
    names = {f.name for f in fields(DatasetSpec)}
    try:
        record = json.loads(path.read_text())
        spec = DatasetSpec(**{name: record[name] for name in names if name in record})
        covariates, categorical = tuple(record.get("covariates", ())), tuple(record.get("categorical", ()))
    except (ValueError, TypeError, KeyError) as error:
        raise CnngwpInputError(f"{path}: not a data set description written by 'cnngwp run' ({error}); expected a JSON "
                               f"object with {', '.join(sorted(names))}") from error

    def located(value: str | None) -> str | None:
        return None if value is None or Path(value).is_absolute() else os.path.normpath(path.parent.parent / value)
    spec = replace(spec, path=located(spec.path), phenotypes=located(spec.phenotypes), folds=located(spec.folds))
    return spec, covariates, categorical


def run_folder(runs_root: str | os.PathLike, dataset: str, fold: int) -> Path:
    """``<runs_root>/<dataset>/fold-<fold>``."""
    return Path(runs_root) / dataset / f"fold-{fold}"


def chapter_parameters(source: Path) -> dict:
    """The parameters a chapter's MyST source declares (its cell tagged ``parameters``), by name with their values.

    Raises
    ------
    NotebookError
        No parameters cell, an entry that is not ``name: type = literal``, a name that :data:`CHAPTER_PARAMETERS`
        does not know, another default or type than it gives, or more than :data:`MAX_CHAPTER_PARAMETERS` entries.
    """
    import jupytext  # here, not at the top: a chapter's kernel imports this module for open_run (1.5 s less each)

    cells = [cell for cell in jupytext.read(source).cells if "parameters" in cell.metadata.get("tags", [])]
    if len(cells) != 1:
        raise NotebookError(f"{source.name}: expected one cell tagged 'parameters', found {len(cells)}")
    declared = {}
    for node in ast.parse(cells[0].source).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            raise NotebookError(f"{source.name}, parameters cell line {node.lineno}: expected 'name: type = value'")
        name, value = node.target.id, ast.literal_eval(node.value)
        if name not in CHAPTER_PARAMETERS:
            raise NotebookError(f"{source.name}: parameter {name!r} is not one of {sorted(CHAPTER_PARAMETERS)}")
        default = CHAPTER_PARAMETERS[name][0]
        if value != default or ast.unparse(node.annotation) != type(default).__name__:
            raise NotebookError(f"{source.name}: parameter {name} is '{ast.unparse(node.annotation)} = {value!r}', "
                                f"expected '{type(default).__name__} = {default!r}' (CHAPTER_PARAMETERS)")
        declared[name] = value
    if len(declared) > MAX_CHAPTER_PARAMETERS:
        raise NotebookError(f"{source.name}: {len(declared)} parameters; a chapter takes at most "
                            f"{MAX_CHAPTER_PARAMETERS}")
    return declared


def execute_notebook(source: Path, output: Path, parameters: dict, *, cwd: Path | None = None) -> None:
    """Execute a MyST notebook with papermill; `output` is replaced only when every cell succeeded.

    `cwd` is the kernel's working folder (relative paths among `parameters` are read from there).

    Raises
    ------
    NotebookError
        If a cell fails; the partly executed notebook is left as ``.<name>.failed.ipynb`` beside `output`.
    """
    import jupytext
    import papermill

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
    folder), each with the ones of `parameters` it declares; each output replaces its file only when it
    succeeded."""
    folder = run_folder(root, parameters["dataset"], parameters["fold"])
    folder.mkdir(parents=True, exist_ok=True)
    label = f"{parameters['dataset']}/fold-{parameters['fold']}"
    start = time.perf_counter()
    for number, name in enumerate(notebooks, 1):
        began, source = time.perf_counter(), NOTEBOOK_DIR / f"{name}.md"
        declared = chapter_parameters(source)
        execute_notebook(source, folder / f"{name}.ipynb",
                         {key: value for key, value in parameters.items() if key in declared}, cwd=root)
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
    """A run's settings: profile, protocol and search space by name and the seed (the chapters' parameters of
    :data:`RUN_PARAMETERS`), and the covariate columns as comma-separated text (in the data set's
    :data:`DATASET_FILE`)."""

    profile: str = DEFAULT_PROFILE
    protocol: str = DEFAULT_PROTOCOL
    space: str = DEFAULT_SPACE
    seed: int = DEFAULT_SEED
    covariates: str = ""
    categorical: str = ""


def run_notebooks(spec: DatasetSpec, settings: NotebookSettings = NotebookSettings(), *,
                  runs_root: str | os.PathLike = "runs", scheduler: str | None = None, folds: list[int] | None = None,
                  notebooks: tuple[str, ...] = NOTEBOOKS) -> list[dict]:
    """Execute the notebooks for every fold of `spec` (or the given `folds`) into the run folders.

    The data set's description goes to ``<runs_root>/<key>/`` (:data:`DATASET_FILE`; a later run must describe it
    the same way). One run at a time when there is a single run or a `scheduler` address (each
    notebook's CNN fits then use a local cluster, or that scheduler); otherwise the runs
    are Dask tasks on a local cluster with one worker per core, their CNN fits in-process.
    Complete run folders are skipped.

    Returns
    -------
    list of dict
        Per run: ``parameters``, ``notebooks``, ``seconds`` and ``skipped``.
    """
    root = Path(runs_root).resolve()
    data = load_dataset(spec)
    splits = dataset_splits(data, spec)
    n_folds = len(splits)
    chosen = list(range(n_folds)) if folds is None else folds
    for fold in chosen:
        if not 0 <= fold < n_folds:
            raise CnngwpInputError(f"data set {spec.key!r} has folds 0..{n_folds - 1}; fold {fold} does not exist")
    RunSettings.named(profile=settings.profile, protocol=settings.protocol, space=settings.space)  # checked first
    for fold in chosen:  # so are the covariates, on every split
        covariate_design(data, splits[fold], parse_columns(settings.covariates), parse_columns(settings.categorical))
    (root / spec.key).mkdir(parents=True, exist_ok=True)
    tie_to_settings(root / spec.key / DATASET_FILE,
                    _description(_relative(spec, root), settings.covariates, settings.categorical))
    many = len(chosen) > 1 and scheduler is None
    base = {"dataset": spec.key, "seed": settings.seed, "profile": settings.profile, "protocol": settings.protocol,
            "space": settings.space, "scheduler": IN_PROCESS if many else (scheduler or "")}
    todo, done = [], []
    for fold in chosen:
        parameters = {**base, "fold": fold}
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
    from cnngwp.runs.study import GRIDS, study_context, study_folder  # the study's models load Keras: here only

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
    ``remove-cell`` (the notebook keeps it, the book's page does not show it) and the values it injected written
    into the chapter's own parameters cell, so the page shows what the run used beside what each parameter means."""
    import nbformat

    notebook = nbformat.read(source, as_version=4)
    injected = notebook.metadata.get("papermill", {}).get("parameters", {})
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
        elif "parameters" in tags and cell.cell_type == "code":
            cell.source = "\n".join(_with_value(line, injected) for line in cell.source.splitlines())
    nbformat.write(notebook, target)


def _with_value(line: str, values: dict) -> str:
    """A parameters cell's line ``name: type = default  # help`` with the value `values` gives `name`, if any."""
    name, colon, rest = line.partition(":")
    if not colon or name.strip() not in values:
        return line
    annotation, _, tail = rest.partition("=")
    comment = tail.partition("  #")[2]
    value = values[name.strip()]
    shown = json.dumps(value) if isinstance(value, str) else repr(value)
    return f"{name}:{annotation}= {shown}" + (f"  #{comment}" if comment else "")
