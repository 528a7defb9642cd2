"""Shared fixtures: a small seeded simulation, the team's shared data folder, and the package installed from its
wheel with the smoke runs and book that the notebook, book and install tests read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cnngwp.data.simulate import SimulationConfig, simulate_qtlmas2010
from cnngwp.runs.parallel import IN_PROCESS
from tests.commands import TINY, cnngwp

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def small_sim():
    """A few hundred animals and SNPs, the same every run."""
    return simulate_qtlmas2010(seed=7, config=SimulationConfig.small())


@pytest.fixture(scope="session")
def mice_dir() -> Path:
    """../shared/data/mice, or skip when this checkout has no shared folder beside it."""
    folder = SHARED_DATA / "mice"
    if not (folder / "mice.bed").is_file():
        pytest.skip(f"shared mice data not found at {folder} (tests read ../shared/data beside the checkout)")
    return folder


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """The package built as a wheel and installed into a folder of its own: the wheel, and the environment whose
    ``python -m cnngwp`` runs that installed copy, not the checkout."""
    root = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]

    def run(*arguments: str) -> None:
        finished = subprocess.run([*pip, *arguments], capture_output=True, text=True, timeout=600, check=False)
        assert finished.returncode == 0, finished.stderr[-3000:]

    run("wheel", "--no-deps", "--wheel-dir", str(root / "wheel"), str(ROOT))
    wheel = next((root / "wheel").glob("cnngwp-*.whl"))
    run("install", "--no-deps", "--target", str(root / "site"), str(wheel))
    return wheel, {**os.environ, "PYTHONPATH": str(root / "site")}


@pytest.fixture(scope="session")
def smoke_runs(installed, tmp_path_factory) -> tuple[Path, str]:
    """The seven chapters executed once on the tiny simulated data set with the smoke profile, and the smoke study,
    as a user runs them from an empty folder with the installed package: `cnngwp run` and `cnngwp study`, each in a
    fresh process, both at once into the same runs folder (on 2 cores 62 s, one after the other 75 s: most of
    their time is single-threaded imports). The runs folder and what `run` printed."""
    root = tmp_path_factory.mktemp("smoke")
    env = installed[1]
    with ThreadPoolExecutor(2) as pool:
        run = pool.submit(cnngwp, "run", "--small", "--profile", "smoke", "--scheduler", IN_PROCESS, cwd=root, env=env)
        study = pool.submit(cnngwp, "study", "--grid", "smoke", "--scheduler", IN_PROCESS, cwd=root, env=env)
        out = run.result().stdout
        study.result()
    return root / "runs", out


@pytest.fixture(scope="session")
def smoke_books(installed, smoke_runs, tmp_path_factory) -> tuple[Path, Path]:
    """`cnngwp book` with the installed package, two books at once (each build is mostly single-threaded): on the
    smoke runs, from their folder; and on a runs folder holding only the smoke run, no study, so that chapter 8 says
    how to add one. Each site's html folder; the second's runs folder is ``<html>/../../runs``."""
    work, bare = smoke_runs[0].parent, tmp_path_factory.mktemp("no-study")
    shutil.copytree(smoke_runs[0] / TINY, bare / "runs" / TINY)
    env = installed[1]
    with ThreadPoolExecutor(2) as pool:
        books = [pool.submit(cnngwp, "book", cwd=work, env=env),
                 pool.submit(cnngwp, "book", "--runs", bare / "runs", "--out", bare, cwd=bare, env=env)]
        printed = [book.result().stdout for book in books]
    sites = (work / "_build" / "html", bare / "_build" / "html")
    for site, out in zip(sites, printed, strict=True):
        assert f"wrote {site / 'index.html'}" in out
    return sites


@pytest.fixture(scope="session")
def smoke_book(smoke_books) -> Path:
    """The smoke runs' book (:func:`smoke_books`): its html folder."""
    return smoke_books[0]
