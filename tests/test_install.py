"""A wheel installed outside the checkout runs the main job from an empty folder (the notebooks, the book's pages
and its configuration ship inside the package), and each chapter it writes runs alone."""

import os
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
def test_the_wheel_runs_the_smoke_path_and_builds_the_book_from_an_empty_folder(tmp_path):
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*pip, "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "wheel"), str(ROOT)], tmp_path, dict(os.environ))
    wheel = next((tmp_path / "wheel").glob("cnngwp-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("cnngwp/sources/_config.yml", "cnngwp/sources/book/_toc.yml", "cnngwp/sources/book/intro.md",
                    "cnngwp/sources/notebooks/01_simulate_data.md", "cnngwp/sources/notebooks/results.md"):
        assert shipped in names
    site = tmp_path / "site"
    _run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], tmp_path, dict(os.environ))
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = _run([sys.executable, "-c", "import cnngwp; print(cnngwp.__file__)"], work, env)
    assert Path(where.strip()).is_relative_to(site)  # the installed copy, not the checkout
    cnngwp = [sys.executable, "-m", "cnngwp"]
    _run([*cnngwp, "run", "--small", "--profile", "smoke"], work, env)
    _run([*cnngwp, "study", "--grid", "smoke"], work, env)
    out = _run([*cnngwp, "book"], work, env)
    index = work / "_build" / "html" / "index.html"
    assert f"wrote {index}" in out
    chapters = sorted(p.name for p in (work / "_build" / "html" / "book" / "chapters").glob("*.html"))
    assert chapters == [f"{n}.html" for n in ("01_simulate_data", "02_fit_baselines", "03_train_cnn",
                                              "04_tune_hyperparameters", "05_fit_ensemble", "06_compare_models",
                                              "07_predict_candidates", "08_when_does_the_cnn_win")]
    assert "The headline" in (work / "_build" / "html" / "book" / "intro.html").read_text()  # index.html redirects
    _run([*cnngwp, "chapters", "--out", "chapters"], work, env)
    assert (work / "chapters" / "05_fit_ensemble.md").read_text() == (
        ROOT / "notebooks" / "05_fit_ensemble.md"
    ).read_text()
    _every_chapter_runs_alone(work / "chapters", tmp_path / "alone", env)


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
