"""Building the Jupyter Book from executed runs (execution off, warnings as errors).

The source tree is staged under ``<out>/_build/.source``: ``_config.yml`` and ``book/``
from the project, the seven chapters executed on the default run, and the results chapter
(``notebooks/results.md`` executed now over every run folder), and the performance page
(:func:`performance_page`) and the page for teachers (:func:`teaching_page`) from the committed benchmark
records. Jupyter Book 1 then writes
the site to ``<out>/_build/html``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cnngwp.errors import CnngwpInputError
from cnngwp.models.names import KERNEL_MODELS, shown_name
from cnngwp.reports.plots import plot_observed_vs_predicted
from cnngwp.reports.records import BenchmarkRecord, read_records
from cnngwp.reports.study_tables import protocol_optimism, protocol_sentence
from cnngwp.reports.tables import (
    CNN_BASED_MODELS,
    PREDICTION_COLUMNS,
    bootstrap_mse_difference,
    read_comparison,
    stack_sentence,
)
from cnngwp.runs.notebooks import (
    NOTEBOOK_DIR,
    NOTEBOOKS,
    SOURCES,
    STUDY_NOTEBOOK,
    copy_run_notebooks,
    execute_notebook,
    prepare_for_book,
)
from cnngwp.runs.study import GRIDS, study_folder
from cnngwp.runs.summary import RunSummary
from cnngwp.tuning.settings import OPTIMISTIC

__all__ = [
    "CHAPTER_TOPICS",
    "CLASS_MINUTES",
    "COMPUTE_SHARE",
    "book_inputs",
    "build_book",
    "headline_markdown",
    "headline_sentence",
    "no_study_page",
    "performance_page",
    "protocol_benchmark_sentence",
    "teaching_page",
    "write_headline",
]

#: Where the generated headline goes in the landing page (``book/intro.md``).
HEADLINE_MARK = "<!-- headline -->"


def build_book(runs_root: str | os.PathLike, default_run: str, *, study: str | None = "default",
               out: str | os.PathLike = ".", project_dir: Path = SOURCES) -> Path:
    """Stage the book source from the runs and build the HTML site.

    Parameters
    ----------
    runs_root
        Folder of the run folders (``<dataset>/fold-<k>/``).
    default_run
        The run whose seven executed notebooks become the chapters, e.g. ``"qtlmas2010-sim/fold-0"``.
    study
        The study grid whose executed chapter 8 (``cnngwp study``) the book shows; None: the runs folder has no
        study, and chapter 8 says how to add one (:func:`no_study_page`).
    out
        The site goes to ``<out>/_build/html``.

    Returns
    -------
    pathlib.Path
        ``<out>/_build/html/index.html``.

    Raises
    ------
    CnngwpInputError
        If the default run or the study is missing a notebook; RuntimeError if the build fails.
    """
    runs_root, out = Path(runs_root).resolve(), Path(out).resolve()
    source = out / "_build" / ".source"
    shutil.rmtree(source, ignore_errors=True)
    (source / "book").mkdir(parents=True)
    shutil.copyfile(project_dir / "_config.yml", source / "_config.yml")
    for item in (project_dir / "book").iterdir():
        if item.is_file():
            shutil.copyfile(item, source / "book" / item.name)
        elif item.name == "_static":
            shutil.copytree(item, source / "book" / item.name)
    copy_run_notebooks(runs_root / default_run, source / "book" / "chapters", NOTEBOOKS)
    protocol_measured = ""
    if study is None:
        (source / "book" / "chapters" / f"{STUDY_NOTEBOOK}.md").write_text(no_study_page(runs_root))
    elif study not in GRIDS:
        raise CnngwpInputError(f"study grid {study!r}: expected one of {sorted(GRIDS)}")
    else:
        copy_run_notebooks(study_folder(runs_root, GRIDS[study]), source / "book" / "chapters", (STUDY_NOTEBOOK,))
        study_table = study_folder(runs_root, GRIDS[study]) / "study.csv"
        if study_table.exists():
            in_study = protocol_sentence(protocol_optimism(pd.read_csv(study_table)))
            protocol_measured = f"In chapter 8's study: {in_study}" if in_study else ""
    protocol_measured = " ".join(filter(None, (protocol_benchmark_sentence(project_dir / "benchmarks"),
                                               protocol_measured)))
    write_headline(runs_root / default_run, source / "book", protocol_measured)
    (source / "book" / "performance.md").write_text(performance_page(project_dir / "benchmarks"))
    (source / "book" / "teaching.md").write_text(teaching_page(project_dir / "benchmarks" / "chapters.json"))
    executed = out / "_build" / "results.ipynb"
    execute_notebook(NOTEBOOK_DIR / "results.md", executed, {"runs_root": "."}, cwd=runs_root)
    prepare_for_book(executed, source / "book" / "results.ipynb")
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(source), "--path-output", str(out),
               "--toc", str(source / "book" / "_toc.yml"), "--config", str(source / "_config.yml"),
               "-W", "-n", "--keep-going"]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed:\n{finished.stdout[-4000:]}\n{finished.stderr[-4000:]}")
    index = out / "_build" / "html" / "index.html"
    if not index.exists():
        raise CnngwpInputError(f"{index}: the build finished but wrote no index page")
    return index


def book_inputs(runs_root: str | os.PathLike, *, default_run: str | None = None,
                study: str | None = None) -> tuple[str, str | None]:
    """The default run and study grid a book is built from, where not given: ``qtlmas2010-sim/fold-0`` and
    ``default`` (what ``make book`` runs), else the only complete run folder and the only study under `runs_root`;
    the study is None where `runs_root` holds none (chapter 8 then says how to add one).

    Raises
    ------
    CnngwpInputError
        If there is no complete run folder, or several run folders or studies to choose from (naming them and the
        option that chooses).
    """
    root = Path(runs_root)
    if default_run is None:
        complete = sorted(str(p.parent.relative_to(root)) for p in root.glob("*/fold-*/complete.json"))
        default_run = _one_of(complete, "qtlmas2010-sim/fold-0", f"{root}: complete run folders",
                              "run 'cnngwp run' first, or choose one with --default-run")
    if study is None:
        studies = sorted(name for name in GRIDS if study_folder(root, GRIDS[name]).joinpath(
            f"{STUDY_NOTEBOOK}.ipynb").exists())
        if studies:
            study = _one_of(studies, "default", f"{root}: executed studies", "choose one with --study")
    return default_run, study


def performance_page(results: Path) -> str:
    """The book's performance page: every benchmark record in `results` (``benchmarks/results/*.json``, written by
    the scripts of ``benchmarks/`` when they measure) as a table with the commit, date, machine and command it
    came from."""
    records = read_records(results)
    lead = ("Every figure on this page was written by a script of `benchmarks/` when it ran "
            "(`benchmarks/results/<name>.json`, committed with the code it measured); nothing here is typed.")
    parts = ["# Performance", "", lead, ""]
    if not records:
        parts += ["No benchmark records are committed yet: run a script of `benchmarks/` and commit its record.", ""]
    for entry in records:
        rows = "\n".join(f"| `{name}` | {value} |" for name, value in entry.figures.items())
        parts += [f"## {entry.name}", "", entry.source(), "", "| figure | value |", "|---|---|", rows, "",
                  f"Last line: `{entry.last_line}`", ""]
    return "\n".join(parts)


def protocol_benchmark_sentence(results: Path = SOURCES / "benchmarks") -> str:
    """What ``benchmarks/bench_protocol.py`` measured of the paper protocol on the default split, in one sentence.

    Parameters
    ----------
    results
        The folder of committed benchmark records (its ``protocol.json`` is read).

    Returns
    -------
    str
        The sentence, generated from the record; "" when none is committed.
    """
    path = Path(results) / "protocol.json"
    if not path.exists():
        return ""
    entry = BenchmarkRecord.read(path)
    v = entry.values
    (low, high), (percent_low, percent_high) = v["optimism_interval"], v["optimism_percent_interval"]
    return (f"On the default split, `benchmarks/bench_protocol.py` ran the same Bayesian optimisation and ensemble "
            f"(profile `{v['profile']}`) under both protocols with seeds {', '.join(map(str, v['seeds']))}: a mean "
            f"test MSE of {v['honest_mse']:.2f} under the honest protocol against {v['paper_mse']:.2f} under the "
            f"paper's, an optimism of {v['optimism']:.2f} MSE points (95 % t interval {low:.2f} to {high:.2f} over "
            f"the seeds; {v['optimism_percent']:.1f} % lower, {percent_low:.1f} to {percent_high:.1f} %), measured "
            f"at commit `{entry.commit}` on {entry.date}.")


#: What each chapter teaches, in the book's order.
CHAPTER_TOPICS = {
    "01_simulate_data": "the data: a QTLMAS2010-like pedigree, LD, the causal loci and the paper's dominance loci",
    "02_fit_baselines": "GBLUP, GDBLUP, EGBLUP, RKHS and the Bayesian LASSO, fitted as scikit-learn estimators",
    "03_train_cnn": "the CNN's layers (Table 1), training, early stopping on validation rows, max-pooling",
    "04_tune_hyperparameters": "Bayesian optimisation of gamma with a Gaussian process and the LCB; gamma_MA",
    "05_fit_ensemble": "the model-averaged ensemble, refitting, prediction intervals and the weight map (Figure 1)",
    "06_compare_models": "the comparison (Table 2), the kernel backbone, the honest stack and paired intervals",
    "07_predict_candidates": "a saved model predicting and ranking selection candidates from a PLINK file",
    "08_when_does_the_cnn_win": "the simulation study: verdicts over replicates and what the paper's protocol hides",
}
#: A class's length, and the share of it the chapters' computing may take (the rest is for teaching).
CLASS_MINUTES, COMPUTE_SHARE = 90, 1 / 3


def teaching_page(record: Path) -> str:
    """The page for teachers: what each chapter teaches and in which order, how long each takes alone at each profile
    (the record of ``benchmarks/bench_chapters.py``: measured, never typed), which profile fits a class, and how
    students get the chapters."""
    rows = []
    entry = BenchmarkRecord.read(record) if Path(record).exists() else None
    measured = {} if entry is None else entry.values  # seconds per profile and chapter, the study's, minutes
    profiles = sorted(measured.get("minutes", {}), key=["smoke", "quick", "paper"].index)
    for number, (name, topic) in enumerate(CHAPTER_TOPICS.items(), 1):
        if name == STUDY_NOTEBOOK:  # no profile: its own default grid
            value = measured.get("study_seconds")
            seconds = ["" if value is None else f"{value} (grid `smoke`)"] * len(profiles)
        else:
            seconds = [str(measured["seconds"][profile].get(name, "")) for profile in profiles]
        rows.append(f"| {number} | {topic} | " + " | ".join(seconds) + " |")
    budget = CLASS_MINUTES * COMPUTE_SHARE
    if entry is None:
        timing = ("No timings are recorded yet: run `python benchmarks/bench_chapters.py` and commit "
                  "`benchmarks/results/chapters.json`.")
        fits = ""
    else:
        minutes = measured["minutes"]
        fitting = [profile for profile in profiles if minutes[profile] <= budget]
        timing = (f"Seconds for each chapter run alone in a fresh kernel on its defaults (the `tiny-sim` example), "
                  f"measured by `{entry.command}` at commit `{entry.commit}` on {entry.date}, {entry.machine}.")
        together = ", ".join(f"`{profile}` {minutes[profile]:.1f} min" for profile in profiles)
        fits = (f"All eight chapters one after the other: {together}. A {CLASS_MINUTES}-minute class that runs every "
                f"chapter and leaves two thirds of its time for teaching (at most {budget:.0f} minutes of computing) "
                + (f"fits the `{fitting[-1]}` profile." if fitting else "fits none of them: run fewer chapters.")
                + " A class on one chapter fits any of them.")
    header = " | ".join(f"`{profile}` (s)" for profile in profiles)
    return f"""# For teachers

The chapters are course material: each opens its data in its first cells, fits its models in view
and ends with at least two exercises whose solutions sit behind a dropdown. Every chapter runs on its
own, in a fresh kernel, so a class can start at any of them.

## What each chapter teaches

Taught in this order; each chapter can also be taught alone (it computes what it needs from an earlier
one, or reads it from the run folder when a run is there).

{timing}

| chapter | what it teaches | {header} |
|---|---|{"---|" * len(profiles)}
{chr(10).join(rows)}

{fits}

The profile is a parameter of chapters 3 to 7 (`profile` in their parameters cell): `smoke` trains a
handful of small searches in seconds, `quick` is what `make book` runs, `paper` the published
settings (for a GPU or a cluster).

## How students get the chapters

- With pip: `pip install cnngwp` (or the wheel you hand out), then `cnngwp chapters --out chapters`
  and `jupyter lab chapters`; open a chapter with Open With, Notebook, and Run All.
- With conda: `conda env create -f environment.yml` from a copy of the repository, then the same two
  commands.
- Each chapter's parameters cell lists what a student may change: the data set (an example by name,
  or a folder that `cnngwp run` wrote for their own data), the fold, the seed, the profile and the
  chapter's own knobs.
"""


def no_study_page(runs_root: Path) -> str:
    """Chapter 8 of a runs folder without a study: what the study is and the command that adds it."""
    grids = "\n".join(f"- `{name}`: {grid.description}" for name, grid in GRIDS.items())
    return f"""# 8. When does the CNN win? (no study in this runs folder)

This chapter is the simulation study the paper asked for: for which genetic architectures and
heritabilities does the CNN pay off against the kernel models? It fits every model of chapter 6
on simulated data sets of known architecture, each split generations 1-4 -> 5 under the honest
protocol, and judges each CNN-based model against the best kernel model with intervals over
replicates.

The runs folder this book was built from holds no study. Add one, then build the book again:

```bash
cnngwp study --runs {runs_root} --grid default
cnngwp book --runs {runs_root}
```

The grids:

{grids}
"""


def _one_of(found: list[str], preferred: str, what: str, advice: str) -> str:
    if preferred in found or len(found) == 1:
        return preferred if preferred in found else found[0]
    raise CnngwpInputError(f"{what}: {found or 'none'}; expected {preferred!r} or exactly one ({advice})")


def _model_column(comparison: pd.DataFrame) -> dict[str, str]:
    """The run's models that predictions.csv has a column for (the baselines and the CNN ensemble), by table name."""
    return {name: PREDICTION_COLUMNS[name] for name in comparison["model"] if name in PREDICTION_COLUMNS}


def headline_sentence(comparison: pd.DataFrame, predictions: pd.DataFrame, *, seed: int) -> str:
    """The best model of the run by test MSE, and the CNN ensemble against it (or, where the ensemble is best,
    against the next best) and against GBLUP, each with its paired bootstrap interval: generated, never typed."""
    columns = _model_column(comparison)
    mse = comparison.set_index("model")["mse"]
    ranked = sorted(columns, key=lambda model: mse[model])
    ensemble = next(model for model in columns if columns[model] == "prediction")
    best = ranked[0]
    rival = ranked[1] if best == ensemble else best

    def against(other: str) -> str:
        difference, lower, upper = bootstrap_mse_difference(predictions["observed"], predictions["prediction"],
                                                            predictions[columns[other]], seed=seed)
        return (f"CNN ensemble minus {other}: **{difference:+.2f}** (95 % paired bootstrap interval {lower:+.2f} "
                f"to {upper:+.2f})")

    opening = (f"The CNN ensemble has the lowest test MSE ({mse[ensemble]:.2f}); the next best is {rival} "
               f"({mse[rival]:.2f})." if best == ensemble else
               f"The best model on this split is **{best}** (test MSE {mse[best]:.2f}; CNN ensemble "
               f"{mse[ensemble]:.2f}).")
    comparisons = [against(rival)] + ([against("GBLUP")] if rival != "GBLUP" else [])
    cnn_based = _cnn_based_sentence(columns, mse, predictions, seed=seed)
    return f"{opening} {'; '.join(comparisons)}; negative differences favour the CNN.{cnn_based}"


def _cnn_based_sentence(columns: dict[str, str], mse: pd.Series, predictions: pd.DataFrame, *, seed: int) -> str:
    """The best model containing a CNN against the best kernel model, with its paired bootstrap interval ("" when
    the run has no backbone model or stack)."""
    cnn_based = [m for m in columns if m in CNN_BASED_MODELS[1:]]
    kernels = [m for m in columns if m in KERNEL_MODELS]
    if not cnn_based or not kernels:
        return ""
    ensemble = next(model for model in columns if columns[model] == "prediction")
    best = min([ensemble, *cnn_based], key=lambda m: mse[m])
    kernel = min(kernels, key=lambda m: mse[m])
    difference, lower, upper = bootstrap_mse_difference(predictions["observed"], predictions[columns[best]],
                                                        predictions[columns[kernel]], seed=seed)
    return (f" Of the models that contain a CNN (the ensemble, {', '.join(cnn_based)}) the best is {best}: "
            f"test MSE {mse[best] / mse[kernel]:.3f} × {kernel}'s, the best kernel model's; {best} minus {kernel}: "
            f"**{difference:+.2f}** (95 % paired bootstrap interval {lower:+.2f} to {upper:+.2f}).")


def headline_markdown(run_dir: Path, figure: str, protocol_measured: str = "") -> str:
    """The landing page's headline: the default run's comparison table, the generated sentence of
    :func:`headline_sentence`, and the observed-vs-predicted figure (file name `figure`), all read from the run;
    `protocol_measured` is what was measured of the paper protocol (:func:`protocol_benchmark_sentence` on the
    default split, :func:`cnngwp.reports.study_tables.protocol_sentence` in the study; "": neither)."""
    comparison = read_comparison(run_dir)
    summary = RunSummary.read(run_dir)
    predictions = pd.read_csv(run_dir / "predictions.csv")
    rows = "\n".join(f"| {shown_name(r.model, None if pd.isna(r.members) else r.members)} | {r.mse:.2f} | "
                     f"{r.correlation:.3f} | {r.slope:.3f} | "
                     f"{'' if np.isnan(r.stack_weight) else f'{r.stack_weight:.2f}'} |"
                     for r in comparison.itertuples())
    stacked = f"{stack_sentence(run_dir).rstrip('.')}. "
    protocol = (f"**honest** protocol: γ tuned and epochs chosen on {summary.validation}; the test "
                "animals were predicted once, at the end" if summary.protocol == "honest" else
                f"**paper** protocol, {OPTIMISTIC}")
    data = Path(summary.data).name
    measured = (f"How much such a protocol hides, as measured: {protocol_measured}"
                if protocol_measured else "Chapter 8's study measures how much such a protocol hides.")
    return f"""## The headline

The default run ({data}, {summary.split}: {split_in_words(summary.split, summary.n_train, summary.n_test)};
profile `{summary.profile}`, {protocol}):

| model | test MSE | correlation | slope | stack weight |
|---|---|---|---|---|
{rows}

{headline_sentence(comparison, predictions, seed=summary.seed)} {stacked}GDBLUP, EGBLUP and RKHS are the
non-additive kernel models of chapter 2 (GDBLUP + CNN and the stack combine them with the CNN: chapter 6); whether the
CNN pays off on other architectures and heritabilities is the
study of chapter 8. The paper reported 62.34 for the CNN ensemble against 88.42 for GBLUP on the real
QTLMAS2010 data, tuned on the test set, which makes test errors optimistic; this book's honest protocol does not
reproduce them by design (`--protocol paper` runs the paper's protocol). {measured}

![Observed against predicted test values: every baseline and the CNN ensemble]({figure})
"""


def split_in_words(split: str, n_train: int, n_test: int) -> str:
    """What a split name means, for any split kind (``generation-5``, ``fold-2``, ...)."""
    if split.startswith("generation-"):
        return (f"{n_train} animals of the other generations trained on, {n_test} of generation(s) "
                f"{split.removeprefix('generation-').replace('-', ', ')} tested on")
    return f"{n_train} animals trained on, {n_test} held out and tested on"


def write_headline(run_dir: Path, book_dir: Path, protocol_measured: str = "") -> None:
    """Put :func:`headline_markdown` of `run_dir` (and `protocol_measured`) and its figure into the staged
    ``intro.md`` at its mark."""
    figure = "headline.png"
    fig = plot_observed_vs_predicted(pd.read_csv(run_dir / "predictions.csv"))
    fig.savefig(book_dir / figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    intro = book_dir / "intro.md"
    text = intro.read_text()
    if HEADLINE_MARK not in text:
        raise CnngwpInputError(f"{intro}: expected the mark {HEADLINE_MARK!r} where the headline goes")
    intro.write_text(text.replace(HEADLINE_MARK, headline_markdown(run_dir, figure, protocol_measured)))
