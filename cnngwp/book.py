"""Building the Jupyter Book from executed runs (execution off, warnings as errors).

The source tree is staged under ``<out>/_build/.source``: ``_config.yml`` and ``book/``
from the project, the seven chapters executed on the default run, and the results chapter
(``notebooks/results.md`` executed now over every run folder). Jupyter Book 1 then writes
the site to ``<out>/_build/html``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from cnngwp.errors import CnngwpInputError
from cnngwp.plots import plot_observed_vs_predicted
from cnngwp.report import bootstrap_mse_difference, read_comparison
from cnngwp.runner import NOTEBOOK_DIR, NOTEBOOKS, copy_run_notebooks, execute_notebook, prepare_for_book
from cnngwp.training import OPTIMISTIC

__all__ = ["PROJECT_DIR", "build_book", "headline_markdown", "write_headline"]

#: Where the generated headline goes in the landing page (``book/intro.md``).
HEADLINE_MARK = "<!-- headline -->"

#: The project folder (``_config.yml``, ``book/``) beside the installed package.
#:
#: :meta hide-value:
PROJECT_DIR = Path(__file__).resolve().parents[1]


def build_book(runs_root: str | os.PathLike, default_run: str, *, out: str | os.PathLike = ".",
               project_dir: Path = PROJECT_DIR) -> Path:
    """Stage the book source from the runs and build the HTML site.

    Parameters
    ----------
    runs_root
        Folder of the run folders (``<dataset>/fold-<k>/``).
    default_run
        The run whose seven executed notebooks become the chapters, e.g. ``"qtlmas2010-sim/fold-0"``.
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
        elif item.name == "_static":
            shutil.copytree(item, source / "book" / item.name)
    copy_run_notebooks(runs_root / default_run, source / "book" / "chapters", NOTEBOOKS)
    write_headline(runs_root / default_run, source / "book")
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


def headline_markdown(run_dir: Path, figure: str) -> str:
    """The landing page's headline: the default run's comparison table, the CNN ensemble minus GBLUP with its
    paired bootstrap interval, and the observed-vs-predicted figure (file name `figure`), all read from the run."""
    comparison = read_comparison(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    predictions = pd.read_csv(run_dir / "predictions.csv")
    difference, lower, upper = bootstrap_mse_difference(predictions["observed"], predictions["prediction"],
                                                        predictions["GBLUP"], seed=summary["seed"])
    rows = "\n".join(f"| {r.model} | {r.mse:.2f} | {r.correlation:.3f} | {r.slope:.3f} |"
                     for r in comparison.itertuples())
    protocol = ("**honest** protocol: γ tuned and epochs chosen on the youngest training generation; the test "
                "animals were predicted once, at the end" if summary["protocol"] == "honest" else
                f"**paper** protocol, {OPTIMISTIC}")
    data = Path(summary["data"]).name
    return f"""## The headline

The default run ({data}, {summary['split']}: trained on the older generations, tested on the youngest;
profile `{summary['profile']}`, {protocol}):

| model | test MSE | correlation | slope |
|---|---|---|---|
{rows}

CNN ensemble minus GBLUP in test MSE on the same animals: **{difference:+.2f}** (95 % paired bootstrap
interval {lower:+.2f} to {upper:+.2f}; negative favours the CNN). The paper reported 62.34 for the CNN
ensemble against 88.42 for GBLUP on the real QTLMAS2010 data, tuned on the test set: optimistic numbers that
this book's honest protocol does not reproduce by design (`--protocol paper` does).

![Observed against predicted test values: GBLUP, Bayesian LASSO and the CNN ensemble]({figure})
"""


def write_headline(run_dir: Path, book_dir: Path) -> None:
    """Put :func:`headline_markdown` of `run_dir` and its figure into the staged ``intro.md`` at its mark."""
    figure = "headline.png"
    fig = plot_observed_vs_predicted(pd.read_csv(run_dir / "predictions.csv"))
    fig.savefig(book_dir / figure, dpi=110, bbox_inches="tight")
    plt.close(fig)
    intro = book_dir / "intro.md"
    text = intro.read_text()
    if HEADLINE_MARK not in text:
        raise CnngwpInputError(f"{intro}: expected the mark {HEADLINE_MARK!r} where the headline goes")
    intro.write_text(text.replace(HEADLINE_MARK, headline_markdown(run_dir, figure)))
