"""What starting cnngwp costs: `python benchmarks/bench_startup.py [--repeats N]`.

Times, each in a fresh interpreter (the median of `--repeats`): ``import cnngwp``, ``cnngwp --help``,
``import cnngwp.models.cnn`` (the first CNN import, which loads Keras and its backend) and
``cnngwp tune --help`` (a command's options, which load the command line's modules: every command's
work but no framework). Prints each median and which deep-learning frameworks each left in
``sys.modules``, both also recorded; last line
``import_seconds=<s> help_seconds=<s> cnn_import_seconds=<s>``, also written to ``benchmarks/results/startup.json``
(:mod:`record`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from record import record  # benchmarks/record.py

FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")
REPORT = f"import sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r})))"


def _command(argv: list[str]) -> list[str]:
    """``cnngwp ARGV`` (which exits) run in-process, then the report."""
    return ["-c", f"from cnngwp.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    {REPORT}"]


CASES = {
    "import cnngwp": ["-c", f"import cnngwp; {REPORT}"],
    "cnngwp --help": _command(["--help"]),
    "import cnngwp.models.cnn": ["-c", f"import cnngwp.models.cnn; {REPORT}"],
    "cnngwp tune --help": _command(["tune", "--help"]),
}


def _timed(arguments: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    finished = subprocess.run([sys.executable, *arguments], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, finished.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    medians, figures = {}, {}
    for name, arguments in CASES.items():
        runs = [_timed(arguments) for _ in range(args.repeats)]
        medians[name] = statistics.median(seconds for seconds, _ in runs)
        figures |= {f"{name} (s, median of {args.repeats})": round(medians[name], 2),
                    f"{name}: frameworks loaded": runs[-1][1].strip("[]").replace("'", "") or "none"}
        print(f"{name}: {medians[name]:.2f} s (median of {args.repeats}); frameworks loaded: {runs[-1][1]}")
    last = (f"import_seconds={medians['import cnngwp']:.2f} help_seconds={medians['cnngwp --help']:.2f} "
            f"cnn_import_seconds={medians['import cnngwp.models.cnn']:.2f}")
    record("startup", figures, last)
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
