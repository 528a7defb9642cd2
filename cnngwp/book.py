"""Building the Jupyter Book from executed runs (execution off, warnings as errors).

The source tree is staged under ``<out>/_build/.source``: ``_config.yml`` and ``book/``
from the project, the six chapters executed on the default run, and the results chapter
(``notebooks/results.md`` executed now over every run folder). Jupyter Book 1 then writes
the site to ``<out>/_build/html``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cnngwp.errors import CnngwpInputError
from cnngwp.runner import NOTEBOOK_DIR, NOTEBOOKS, copy_run_notebooks, execute_notebook

__all__ = ["PROJECT_DIR", "build_book"]

PROJECT_DIR = Path(__file__).resolve().parents[1]


def build_book(runs_root: str | os.PathLike, default_run: str, *, out: str | os.PathLike = ".",
               project_dir: Path = PROJECT_DIR) -> Path:
    """Stage the book source from the runs and build the HTML site.

    Parameters
    ----------
    runs_root
        Folder of the run folders (``<dataset>/fold-<k>/``).
    default_run
        The run whose six executed notebooks become the chapters, e.g. ``"qtlmas2010-sim/fold-0"``.
    out
        The site goes to ``<out>/_build/html``.

    Returns
    -------
    pathlib.Path
        ``<out>/_build/html/index.html``.

    Raises
    ------
    CnngwpInputError
        If the default run is missing a notebook; RuntimeError if the build fails.
    """
    runs_root, out = Path(runs_root).resolve(), Path(out).resolve()
    source = out / "_build" / ".source"
    shutil.rmtree(source, ignore_errors=True)
    (source / "book").mkdir(parents=True)
    shutil.copyfile(project_dir / "_config.yml", source / "_config.yml")
    for item in (project_dir / "book").iterdir():
        if item.is_file():
            shutil.copyfile(item, source / "book" / item.name)
    copy_run_notebooks(runs_root / default_run, source / "book" / "chapters", NOTEBOOKS)
    execute_notebook(NOTEBOOK_DIR / "results.md", source / "book" / "results.ipynb", {"runs_root": str(runs_root)})
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
