"""The command line as a user runs it: ``python -m cnngwp ...`` in a fresh interpreter, its output checked for the
deep-learning framework's start-up noise.

An in-process ``main([...])`` shares its imports with every test before it, so a command that works only because
another one had imported a module (the Keras layers a saved model needs, say) passes there; a fresh process does
not hide that.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from cnngwp.startup import STARTUP_NOTICES

#: The tiny simulated data set's name (``cnngwp run --small``): the smoke runs' data set.
TINY = "tiny-sim"

#: What the framework's C++ runtime and absl write when their log levels are not set before it loads: the notices
#: cnngwp.startup filters, absl's Python warnings and glog-style lines such as ``I0000 00:00:... cpu_feature_guard``.
FRAMEWORK_NOISE = re.compile("|".join([*map(re.escape, STARTUP_NOTICES), r"WARNING:absl", r"^[IWEF]\d{4} \d\d:",
                                       r"tensorflow/core/", r"oneDNN"]), flags=re.MULTILINE)


def cnngwp(*args: str | Path, cwd: Path, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``python -m cnngwp ARGS`` in `cwd` (with environment `env`, default this process's); assert it exits 0
    and prints no framework noise on either stream."""
    command = [sys.executable, "-m", "cnngwp", *map(str, args)]
    finished = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
    shown = f"{' '.join(command[2:])}:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}"
    assert finished.returncode == 0, shown
    noise = FRAMEWORK_NOISE.search(finished.stdout + finished.stderr)
    assert noise is None, f"framework log line ({noise.group(0)!r}) in {shown}"
    return finished


def cnngwp_fails(*args: str | Path, cwd: Path) -> str:
    """Run ``python -m cnngwp ARGS`` in `cwd`; assert it exits 2 with one line on standard error and return it."""
    command = [sys.executable, "-m", "cnngwp", *map(str, args)]
    finished = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 2, f"{' '.join(command[2:])}: exit {finished.returncode}\n{finished.stderr[-3000:]}"
    assert finished.stderr.count("\n") == 1 and "Traceback" not in finished.stderr, finished.stderr
    return finished.stderr


def assert_predicts_the_run(predicted: Path, run_folder: Path) -> None:
    """`cnngwp predict`'s CSV `predicted` holds, for the animals of `run_folder`'s ``predictions.csv`` (its test
    animals), the same prediction, interval and every model's prediction as the run wrote."""
    got = pd.read_csv(predicted, dtype={"id": str}).set_index("id")
    written = pd.read_csv(run_folder / "predictions.csv", dtype={"id": str}).set_index("id")
    shared = [c for c in written.columns if c in got.columns]
    assert {"prediction", "lower_90", "upper_90", "GBLUP", "Stack"} <= set(shared)
    pd.testing.assert_frame_equal(got.loc[written.index, shared], written[shared], rtol=1e-6)
