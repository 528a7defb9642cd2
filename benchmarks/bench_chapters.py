"""How long each chapter takes on its own: `python benchmarks/bench_chapters.py [--profiles smoke quick]`.

Each chapter is copied into an empty folder of its own and executed there in a fresh kernel, on its defaults (the
``tiny-sim`` example) with the profile set, as a student running it alone in JupyterLab would: chapters 1 to 7 at
each profile of `--profiles`, chapter 8 once on its own default grid (``smoke``; it takes no profile). Prints the
seconds of each; last line ``<profile>_minutes=<m> ...`` (every chapter at that profile, one after the other), also
written to ``benchmarks/results/chapters.json`` (:mod:`record`), which the book's page for teachers renders.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from record import record  # benchmarks/record.py

from cnngwp.runs.notebooks import NOTEBOOK_DIR, NOTEBOOKS, STUDY_NOTEBOOK, chapter_parameters, execute_notebook


def _alone(name: str, parameters: dict, root: Path) -> float:
    """Seconds to execute chapter `name` with `parameters` in a new empty folder under `root`."""
    folder = Path(tempfile.mkdtemp(dir=root))
    source = NOTEBOOK_DIR / f"{name}.md"
    start = time.perf_counter()
    execute_notebook(source, folder / f"{name}.ipynb", parameters, cwd=folder)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["smoke", "quick"])
    args = parser.parse_args()
    figures, totals, measured = {}, {}, {}
    with tempfile.TemporaryDirectory() as root:
        study = _alone(STUDY_NOTEBOOK, {}, Path(root))
        print(f"{STUDY_NOTEBOOK} (grid smoke): {study:.0f} s", flush=True)
        for profile in args.profiles:
            seconds = {}
            for name in NOTEBOOKS:
                chosen = {"profile": profile} if "profile" in chapter_parameters(NOTEBOOK_DIR / f"{name}.md") else {}
                seconds[name] = _alone(name, chosen, Path(root))
                print(f"{name} ({profile}): {seconds[name]:.0f} s", flush=True)
            figures.update({f"{name} at {profile} (s)": round(value) for name, value in seconds.items()})
            measured[profile] = {name: round(value) for name, value in seconds.items()}
            totals[profile] = (sum(seconds.values()) + study) / 60
    figures[f"{STUDY_NOTEBOOK} at grid smoke (s)"] = round(study)
    last = " ".join(f"{profile}_minutes={minutes:.1f}" for profile, minutes in totals.items())
    record("chapters", figures, last, values={"seconds": measured, "study_seconds": round(study),
                                              "minutes": {profile: round(m, 1) for profile, m in totals.items()}})
    print(last)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
