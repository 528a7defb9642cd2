"""A wheel installed outside the checkout runs the main job from an empty folder (the notebooks, the book's pages
and its configuration ship inside the package), and each chapter it writes runs alone."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

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
    assert (tmp_path / "chapters" / "05_fit_ensemble.md").read_text() == (
        ROOT / "notebooks" / "05_fit_ensemble.md"
    ).read_text()
    _every_chapter_runs_alone(tmp_path / "chapters", tmp_path / "alone", env)


def _every_chapter_runs_alone(chapters: Path, alone: Path, env: dict) -> None:
    """Each chapter `cnngwp chapters` wrote, copied into an empty folder of its own and executed there on its defaults
    in a fresh kernel, as Run All in JupyterLab does: no cell fails and every exercise's solution prints."""
    sources = sorted(chapters.glob("0*.md"))
    assert len(sources) == 8
    for source in sources:
        folder = alone / source.stem
        folder.mkdir(parents=True)
        shutil.copyfile(source, folder / source.name)
        _run([sys.executable, "-m", "jupytext", "--to", "ipynb", "--execute", source.name], folder, env)
        cells = nbformat.read(folder / f"{source.stem}.ipynb", as_version=4).cells
        outputs = [o for c in cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.output_type == "error"], source.name
        solutions = [cells[i + 1] for i, c in enumerate(cells)
                     if c.cell_type == "markdown" and "```{solution-start}" in c.source]
        assert len(solutions) >= 2 and all(cell.get("outputs") for cell in solutions), source.name
