"""The notebooks: executed with papermill on the tiny data set and built into the book (tests/test_install.py
re-executes each alone under nbval)."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from cnngwp.data.catalogue import DatasetSpec
from cnngwp.data.readers import write_dataset
from cnngwp.errors import CnngwpInputError
from cnngwp.reports.book import protocol_benchmark_sentence
from cnngwp.runs.notebooks import (
    CHAPTER_PARAMETERS,
    DATASET_FILE,
    MAX_CHAPTER_PARAMETERS,
    NOTEBOOK_DIR,
    NOTEBOOKS,
    RUN_PARAMETERS,
    STUDY_NOTEBOOK,
    NotebookError,
    NotebookSettings,
    chapter_parameters,
    open_run,
    prepare_for_book,
    run_notebooks,
)
from cnngwp.runs.study import GRIDS, committed_study
from tests.commands import TINY, assert_predicts_the_run, cnngwp


def _outputs(notebook):
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]


def test_every_notebook_runs_clean_and_records_its_parameters(smoke_runs):
    runs, printed = smoke_runs
    assert len(re.findall(rf"^{TINY}/fold-0: \[\d/7\] \w+ done in \d+ s$", printed, flags=re.MULTILINE)) == 7
    assert re.search(rf"^{runs.name}/{TINY}/fold-0/: 7 notebooks executed in \d+ s$", printed, flags=re.MULTILINE)
    folder = runs / TINY / "fold-0"
    for name in NOTEBOOKS:
        notebook = nbformat.read(folder / f"{name}.ipynb", as_version=4)
        parameters = notebook.metadata["papermill"]["parameters"]
        declared = chapter_parameters(NOTEBOOK_DIR / f"{name}.md")
        assert set(parameters) == set(declared) & set(RUN_PARAMETERS), name  # only what the chapter declares
        assert parameters["fold"] == 0 and parameters["dataset"] == TINY
        assert parameters.get("profile", "smoke") == "smoke"
        outputs = _outputs(notebook)
        assert not [o for o in outputs if o.output_type == "error"], name
        assert not [o.text for o in outputs if o.get("name") == "stderr"], f"{name} wrote to stderr"
    text = {name: "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                          for o in _outputs(nbformat.read(folder / f"{name}.ipynb", as_version=4)))
            for name in NOTEBOOKS}
    assert "10 evaluations logged" in text["04_tune_hyperparameters"]  # smoke: 2 replicates x 5 points
    assert "2 members with gamma_MA" in text["05_fit_ensemble"]
    models = ("['BLASSO', 'CNN (best single)', 'CNN ensemble', 'EGBLUP', 'GBLUP', 'GDBLUP', 'GDBLUP + CNN', 'RKHS', "
              "'Stack']")
    assert models in text["06_compare_models"]
    assert "The stack's weights were fitted on" in text["06_compare_models"]
    assert "loaded model = fitted model: True" in text["07_predict_candidates"]
    assert "0 missing, mean-imputed" in text["07_predict_candidates"]
    comparison = pd.read_csv(folder / "comparison.csv")
    assert comparison["model"].tolist()[:5] == ["GBLUP", "GDBLUP", "EGBLUP", "RKHS", "BLASSO"]
    assert np.isfinite(comparison["mse"]).all()
    study = nbformat.read(runs / "study-smoke" / f"{STUDY_NOTEBOOK}.ipynb", as_version=4)
    outputs = _outputs(study)
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    study_text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "2 data sets x 10 models" not in study_text and "4 data sets x 10 models" in study_text
    assert "additive, h² 0.5: best model" in study_text and "dominance, h² 0.5: best model" in study_text
    assert "Best model per scenario (2 scenarios)" in study_text
    # the answer first: four data sets are too few for the pooled model, and the full grid's committed records
    assert study_text.index("This book's smoke grid.") < study_text.index("additive, h² 0.5: best model")
    assert "This book's smoke grid.** Too few data sets for the pooled model of any model" in study_text
    assert "study grid 'full': " in study_text and "The full grid has 53 replicates (636 data sets)" in study_text
    full = committed_study(GRIDS["full"]).table  # its committed records come from 3 populations or more: answered
    assert (f"**CNN ensemble**, pooled over {full['dataset'].nunique()} data sets of {full['replicate'].nunique()} "
            "populations: against the best kernel model") in study_text
    assert "Fitted under the paper protocol" in study_text and "over 4 data sets" in study_text
    table = pd.read_csv(runs / "study-smoke" / "study.csv")
    assert len(table) == 4 * 10 and set(table["model"]) == {"GBLUP", "GDBLUP", "EGBLUP", "RKHS", "BLASSO",
                                                            "CNN ensemble", "Genotypic CNN", "GDBLUP + CNN", "Stack",
                                                            "CNN ensemble, paper protocol"}


def test_cnngwp_predict_reads_the_model_a_run_saved(smoke_runs, tmp_path):
    """`cnngwp predict --model RUN/model` in a fresh process: the predictions the run wrote for its test animals."""
    runs, _ = smoke_runs
    folder = runs / TINY / "fold-0"
    cnngwp("predict", "--model", folder / "model", "--bed", runs / "data" / TINY / "genotypes.bed", "--out", "all.csv",
           cwd=tmp_path)
    assert_predicts_the_run(tmp_path / "all.csv", folder)


def test_book_has_every_chapter_with_its_figures(smoke_runs, smoke_book):
    html = smoke_book
    assert (html / "index.html").exists()
    chapter8 = (html / "book" / "chapters" / f"{STUDY_NOTEBOOK}.html").read_text()
    assert "The verdict, scenario by scenario" in chapter8 and "best model" in chapter8
    assert re.findall(r'<img [^>]*src="([^"]+)"', chapter8)  # the study figure
    for name in NOTEBOOKS:
        page = (html / "book" / "chapters" / f"{name}.html").read_text()
        notebook = nbformat.read(smoke_runs[0] / TINY / "fold-0" / f"{name}.ipynb", as_version=4)
        figures = sum("image/png" in o.get("data", {}) for o in _outputs(notebook))
        images = re.findall(r'<img [^>]*src="([^"]+)"', page)
        assert figures > 0 and len(images) >= figures, name
        for source in images:
            assert (html / "book" / "chapters" / source).resolve().exists(), source
    for page in ("results", "api", "references"):
        assert (html / "book" / f"{page}.html").exists()
    assert "GBLUP" in (html / "book" / "results.html").read_text()


def test_the_book_of_a_runs_folder_without_a_study_says_how_to_add_one(smoke_books):
    html = smoke_books[1]
    runs = html.parents[1] / "runs"
    assert sorted(p.name for p in runs.iterdir()) == [TINY]
    chapter8 = _visible_text((html / "book" / "chapters" / f"{STUDY_NOTEBOOK}.html").read_text())
    assert "no study in this runs folder" in chapter8
    assert f"cnngwp study --runs {runs.resolve()} --grid default" in chapter8
    intro = (html / "book" / "intro.html").read_text()
    # without a study the landing states only what the committed protocol benchmark measured, or that the study would
    assert ("as measured: On the default split" in intro if protocol_benchmark_sentence() else
            "study measures how much such a protocol hides." in intro)
    assert "In chapter 8" not in intro


def test_two_plink_folds_run_in_parallel_and_a_second_call_does_nothing(small_sim, tmp_path):
    write_dataset(small_sim, tmp_path / "plink")
    folds = pd.DataFrame({"id": small_sim.samples.index, "fold": np.arange(small_sim.n_samples) % 3})
    folds.to_csv(tmp_path / "folds.csv", index=False)
    spec = DatasetSpec(key="tiny-plink", kind="genotypes", path=str(tmp_path / "plink" / "genotypes.bed"),
                       phenotypes=str(tmp_path / "plink" / "phenotypes.csv"), folds=str(tmp_path / "folds.csv"))
    chapters = NOTEBOOKS[:2]
    first = run_notebooks(spec, NotebookSettings(profile="smoke"), runs_root=tmp_path / "runs", folds=[0, 1],
                          notebooks=chapters)
    assert [r["skipped"] for r in first] == [False, False]
    stamps = {}
    for fold in (0, 1):
        for name in chapters:
            path = tmp_path / "runs" / "tiny-plink" / f"fold-{fold}" / f"{name}.ipynb"
            notebook = nbformat.read(path, as_version=4)
            assert notebook.metadata["papermill"]["parameters"] == {"dataset": "tiny-plink", "fold": fold, "seed": 1}
            stamps[path] = path.stat().st_mtime_ns
    second = run_notebooks(spec, NotebookSettings(profile="smoke"), runs_root=tmp_path / "runs", folds=[0, 1],
                          notebooks=chapters)
    assert [r["skipped"] for r in second] == [True, True]
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    description = (tmp_path / "runs" / "tiny-plink" / DATASET_FILE).read_text()
    assert '"kind": "genotypes"' in description and str(tmp_path) not in description  # relative to the runs folder
    with pytest.raises(CnngwpInputError, match="started with covariates=\\[\\], now covariates=\\['sex'\\]"):
        run_notebooks(spec, NotebookSettings(profile="smoke", covariates="sex"), runs_root=tmp_path / "runs",
                      folds=[0], notebooks=chapters)


def test_a_chapter_opens_an_example_or_a_data_set_folder_and_names_what_is_wrong(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CnngwpInputError, match="'tiny'.*expected an example data set \\(tiny-sim, qtlmas2010-sim\\)"):
        open_run("tiny")
    with pytest.raises(CnngwpInputError, match="has 1 split\\(s\\) \\(generation-5\\); fold 4 does not exist"):
        open_run("tiny-sim", 4)
    run = open_run("tiny-sim")
    assert run.folder == Path("tiny-sim/fold-0") and run.root == Path(".") and run.covariates is None
    assert (tmp_path / "data" / "tiny-sim" / "phenotypes.csv").exists()  # simulated on first use
    assert open_run("tiny-sim", seed=2).spec.path == str(Path("data/tiny-sim-seed-2"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / DATASET_FILE).write_text('{"key": "mine", "kind": "folder"')
    with pytest.raises(CnngwpInputError, match=f"mine/{DATASET_FILE}: not a data set description"):
        open_run("mine")


def test_every_chapter_declares_few_parameters_from_the_one_list_and_a_bad_cell_is_named(tmp_path):
    for name in NOTEBOOKS:
        declared = chapter_parameters(NOTEBOOK_DIR / f"{name}.md")
        assert {"dataset", "fold", "seed"} <= set(declared) and len(declared) <= MAX_CHAPTER_PARAMETERS, name
        assert all(declared[key] == CHAPTER_PARAMETERS[key][0] for key in declared)
    source = (NOTEBOOK_DIR / "01_simulate_data.md").read_text()
    for cell, message in (('seed: int = 2', "parameter seed is 'int = 2', expected 'int = 1'"),
                          ('runs_root: str = "runs"', "parameter 'runs_root' is not one of"),
                          ('seed = 1', "line 3: expected 'name: type = value'")):
        bad = tmp_path / "bad.md"
        bad.write_text(source.replace("seed: int = 1", cell, 1))
        with pytest.raises(NotebookError, match=re.escape(f"bad.md{'' if 'line' in message else ': '}") + ".*"
                           + re.escape(message)):
            chapter_parameters(bad)


#: The fits each chapter is about, which its visible code cells must show with their arguments.
FITS_IN_VIEW = {
    "02_fit_baselines": ("GBLUP().fit(",),
    "03_train_cnn": ("CNNGWPRegressor(",),
    "04_tune_hyperparameters": ("tune(",),
    "05_fit_ensemble": ("tune(", "fit_ensemble("),
    "06_compare_models": ("fit_ensemble(", "baselines_for_run(", "backbone_for_run(", "stack_for_run("),
}


def test_the_fits_a_chapter_is_about_are_in_visible_cells_and_no_chapter_runs_the_whole_pipeline():
    import jupytext

    for name in NOTEBOOKS:
        notebook = jupytext.read(NOTEBOOK_DIR / f"{name}.md")
        visible = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code"
                             and not {"remove-input", "remove-cell", "hide-input"} & set(cell.metadata.get("tags", [])))
        for call in FITS_IN_VIEW.get(name, ()):
            assert call in visible, f"{name}: {call} is not in a visible cell"
        assert "run_cnngwp(" not in visible, name


def test_checked_outputs_are_tagged_out_of_the_readers_view_and_nbval_compares_them(tmp_path):
    """A chapter marks the outputs nbval compares with the cell tag ``nbval-check-output``, which the book does not
    show (a ``# NBVAL_CHECK_OUTPUT`` comment is printed in the cell); nbval compares a tagged cell: a stale output
    fails."""
    import jupytext

    for name in (*NOTEBOOKS, STUDY_NOTEBOOK):
        cells = [c for c in jupytext.read(NOTEBOOK_DIR / f"{name}.md").cells if c.cell_type == "code"]
        assert not [c.source for c in cells if "NBVAL" in c.source], name
        assert any("nbval-check-output" in c.metadata.get("tags", []) for c in cells), name
    for name, tags in (("tagged", ["nbval-check-output"]), ("untagged", [])):
        stale = nbformat.v4.new_code_cell("print(1 + 1)", metadata={"tags": tags}, execution_count=1,
                                          outputs=[nbformat.v4.new_output("stream", name="stdout", text="3\n")])
        nbformat.write(nbformat.v4.new_notebook(cells=[stale]), tmp_path / f"{name}.ipynb")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                             "--nbval-current-env", "tagged.ipynb", "untagged.ipynb"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert "1 failed, 1 passed" in result.stdout and "FAILED tagged.ipynb" in result.stdout, result.stdout[-2000:]


def _exercises(name: str) -> list[str]:
    source = (NOTEBOOK_DIR / f"{name}.md").read_text()
    return re.findall(r"^```\{exercise\}.*\n:label: (\S+)", source, flags=re.MULTILINE)


def test_every_chapter_ends_with_exercises_whose_solutions_ran(smoke_runs):
    runs, _ = smoke_runs
    executed = {name: runs / TINY / "fold-0" / f"{name}.ipynb" for name in NOTEBOOKS}
    executed[STUDY_NOTEBOOK] = runs / "study-smoke" / f"{STUDY_NOTEBOOK}.ipynb"
    for name, path in executed.items():
        labels = _exercises(name)
        assert len(labels) >= 2, name
        cells = nbformat.read(path, as_version=4).cells
        for label in labels:
            start = next(i for i, c in enumerate(cells) if c.cell_type == "markdown"
                         and f"```{{solution-start}} {label}\n" in c.source)
            solution = cells[start + 1]
            assert solution.cell_type == "code" and cells[start + 2].source.startswith("```{solution-end}"), label
            outputs = solution.get("outputs", [])
            assert outputs and not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"], label


def test_the_book_shows_the_values_a_run_passed_in_the_parameters_cell(smoke_runs, tmp_path):
    executed = nbformat.read(smoke_runs[0] / TINY / "fold-0" / "04_tune_hyperparameters.ipynb", as_version=4)
    executed.metadata["papermill"]["parameters"] = {"dataset": "mine", "fold": 2, "profile": "quick"}
    nbformat.write(executed, tmp_path / "run.ipynb")
    prepare_for_book(tmp_path / "run.ipynb", tmp_path / "page.ipynb")
    cells = nbformat.read(tmp_path / "page.ipynb", as_version=4).cells
    shown = next(c for c in cells if "parameters" in c.metadata.get("tags", [])).source.splitlines()
    assert shown[:4] == ['dataset: str = "mine"  # ' + CHAPTER_PARAMETERS["dataset"][1],
                         "fold: int = 2  # " + CHAPTER_PARAMETERS["fold"][1],
                         "seed: int = 1  # " + CHAPTER_PARAMETERS["seed"][1],
                         'profile: str = "quick"  # ' + CHAPTER_PARAMETERS["profile"][1]]


def _visible_text(page: str, *, code: bool = True) -> str:
    """The page's text outside math elements, scripts and styles (and outside code blocks unless `code`)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.DOTALL)
    page = re.sub(r'<(div|span) class="math[^"]*">.*?</\1>', "", page, flags=re.DOTALL)
    if not code:
        page = re.sub(r"<(pre|code)\b.*?</\1>", "", page, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", "", page)


def test_the_book_reads_well_offline(installed, smoke_runs, smoke_book):
    html = smoke_book
    pages = sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)
    assert len(pages) >= 10
    machine_paths = {str(smoke_runs[0].parent), installed[1]["PYTHONPATH"], str(NOTEBOOK_DIR)}
    for page in pages:
        text = page.read_text()
        visible = _visible_text(text)
        prose = _visible_text(text, code=False)
        for leftover in ("\\[", "\\(", "$$"):
            assert leftover not in prose, f"{page.name}: {leftover} outside a math element"
        for noise in ("absl", "oneDNN", "WARNING:"):
            assert noise not in visible, f"{page.name}: {noise}"
        for path in machine_paths:
            assert path not in text, f"{page.name}: the build machine's path {path}"
        assert not re.search(r"<td>\s*NaN\s*</td>", text), f"{page.name}: a NaN cell"
        assert "cdn.jsdelivr.net" not in text and "mathjax@" not in text, f"{page.name}: MathJax from a CDN"
    chapter5 = (html / "book" / "chapters" / "05_fit_ensemble.html").read_text()
    mathjax = re.search(r'<script[^>]*src="([^"]*mathjax[^"]*)"', chapter5)
    assert mathjax and (html / "book" / "chapters" / mathjax.group(1)).resolve().is_file()
    assert '<div class="math notranslate nohighlight">' in chapter5
    landing = (html / "book" / "intro.html").read_text()  # index.html redirects here
    assert "The headline" in landing and "CNN ensemble minus" in landing
    # what bench_protocol.py's committed record and the study measured of the paper protocol, not a claim
    assert re.search(r"How much such a protocol hides, as measured: On the default split, benchmarks/bench_protocol.py "
                     r"ran .* an optimism of -?\d+\.\d\d MSE points", _visible_text(landing))
    assert re.search(r"In chapter 8.s study: Fitted under the paper protocol .* MSE -?\d+\.\d % lower than "
                     r"under the honest protocol \(95 % t interval", _visible_text(landing))
    assert re.search(r"(The best model on this split is <strong>\w+</strong>|The CNN ensemble has the lowest test MSE)",
                     landing)
    assert re.search(r"<td><p>GBLUP</p></td>\s*<td><p>\d+\.\d\d</p></td>", landing)
    figure = re.search(r'<img [^>]*src="([^"]*headline[^"]*)"', landing)
    assert figure and (html / "book" / figure.group(1)).is_file()
    assert "# Parameters" not in chapter5  # papermill's injected cell is removed from the page
    assert "tag_parameters" in chapter5 and "solution-start" not in chapter5  # the parameters shown; exercises built
    assert 'class="dropdown' in chapter5 or "dropdown" in chapter5
