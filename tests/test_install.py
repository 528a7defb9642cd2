"""A wheel installed outside the checkout runs the main job from an empty folder (the notebooks, the book's pages
and its configuration ship inside the package), and each chapter it writes runs alone and reproduces the run's checked
outputs under nbval."""

import re
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jupytext
import nbformat
import pytest

from cnngwp.runs.notebooks import NOTEBOOKS, STUDY_NOTEBOOK
from tests.commands import TINY

ROOT = Path(__file__).resolve().parents[1]


def _run(command: list[str], cwd: Path, env: dict) -> str:
    finished = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert finished.returncode == 0, f"{' '.join(command)}:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}"
    return finished.stdout


@pytest.mark.slow
def test_the_wheel_runs_the_smoke_path_and_builds_the_book_from_an_empty_folder(installed, smoke_runs, smoke_book,
                                                                                tmp_path):
    """The smoke runs and their book (tests/conftest.py) came from the installed wheel in an empty folder; here its
    contents, the book's chapters, and `cnngwp chapters` whose every chapter runs alone."""
    wheel, env = installed
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("cnngwp/sources/_config.yml", "cnngwp/sources/book/_toc.yml", "cnngwp/sources/book/intro.md",
                    "cnngwp/sources/notebooks/01_simulate_data.md", "cnngwp/sources/notebooks/results.md"):
        assert shipped in names
    where = _run([sys.executable, "-c", "import cnngwp; print(cnngwp.__file__)"], tmp_path, env)
    assert Path(where.strip()).is_relative_to(env["PYTHONPATH"])  # the installed copy, not the checkout
    chapters = sorted(p.name for p in (smoke_book / "book" / "chapters").glob("*.html"))
    assert chapters == [f"{n}.html" for n in ("01_simulate_data", "02_fit_baselines", "03_train_cnn",
                                              "04_tune_hyperparameters", "05_fit_ensemble", "06_compare_models",
                                              "07_predict_candidates", "08_when_does_the_cnn_win")]
    assert "The headline" in (smoke_book / "book" / "intro.html").read_text()  # index.html redirects
    _run([sys.executable, "-m", "cnngwp", "chapters", "--out", "chapters"], tmp_path, env)
    for name in (*NOTEBOOKS, STUDY_NOTEBOOK):
        assert (tmp_path / "chapters" / f"{name}.md").read_text() == (ROOT / "notebooks" / f"{name}.md").read_text()
    _every_chapter_runs_alone_and_reproduces_the_run(tmp_path / "chapters", smoke_runs[0], tmp_path / "alone", env)


def _every_chapter_runs_alone_and_reproduces_the_run(chapters: Path, runs: Path, alone: Path, env: dict) -> None:
    """Each chapter `cnngwp chapters` wrote runs alone, as Run All in JupyterLab does, and gives the run's outputs:
    the smoke run's executed copy of it (its cells the written chapter's) loses the parameters the run injected, so
    the chapter's own defaults apply, and is re-executed by nbval in a fresh kernel in an empty folder of its own. No
    cell may fail, and every output the chapter tags ``nbval-check-output`` must be the run's: one execution checks
    that a chapter runs on its own and that its outputs reproduce (the solutions' outputs in the run are checked in
    tests/test_notebooks.py)."""
    executed = {name: runs / TINY / "fold-0" / f"{name}.ipynb" for name in NOTEBOOKS}
    executed[STUDY_NOTEBOOK] = runs / "study-smoke" / f"{STUDY_NOTEBOOK}.ipynb"
    sources = sorted(chapters.glob("0*.md"))
    assert [source.stem for source in sources] == sorted(executed)
    for source in sources:
        notebook = nbformat.read(executed[source.stem], as_version=4)
        notebook.cells = [c for c in notebook.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        assert [c.source for c in notebook.cells] == [c.source for c in jupytext.read(source).cells], source.name
        folder = alone / source.stem
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{source.stem}.ipynb")
    names = sorted(executed)
    halves = (names[3:7], [*names[:3], names[7]])  # chapters 4-7, and 1-3 with 8: about 60 s of kernels each
    with ThreadPoolExecutor(2) as pool:  # chapters' start-ups are single-threaded imports: 2 cores, 2 at once
        printed = pool.map(lambda names: _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                               "--nbval-lax", "--nbval-current-env",
                                               *[f"{name}/{name}.ipynb" for name in names]], alone, env), halves)
        for text in printed:
            assert re.search(r"\b\d+ passed", text) and "failed" not in text
