"""Importing cnngwp loads no deep-learning framework; the CNN's first import keeps the framework's start-up notices
off standard error, and only those."""

import os
import subprocess
import sys

import pytest


def _stderr(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr


def test_importing_cnngwp_or_fitting_a_kernel_model_loads_no_framework():
    code = ("import sys, numpy as np, cnngwp\n"
            "cnngwp.GDBLUP().fit(np.random.default_rng(0).integers(0, 3, (30, 20)).astype(np.int8), np.arange(30.0))\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax', 'torch'}))\n")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_the_command_line_loads_a_framework_only_for_the_commands_that_train():
    """`cnngwp summary`, `simulate`, `baselines`, `book` and every `--help` read the same module as `tune`: it loads
    no framework until a command trains a network or a saved model predicts."""
    code = ("import sys, cnngwp.commands, cnngwp.models.saved_model, cnngwp.runs.study, cnngwp.models.backbone\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax', 'torch'}))\n")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_a_dask_scheduler_unpickles_every_task_without_loading_a_framework():
    """Dask's scheduler unpickles each task the run, the ensemble, the backbone model and the study submit, which
    imports the module of its function: none may load Keras there (TensorFlow took 5 s of the scheduler's event loop,
    and a scheduler machine need not have it)."""
    import pickle

    from cnngwp.runs import study, workflow
    from cnngwp.tuning import combined, ensemble, search

    tasks = pickle.dumps([ensemble.fit_members, ensemble._members_per_task, search.evaluate_gamma,
                          combined.cross_fitted_part, workflow._timed, study.fit_study_dataset])
    code = ("import pickle, sys\n"
            f"pickle.loads({tasks!r})\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax', 'torch'}))\n")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


@pytest.mark.parametrize("chapter", ["01_simulate_data", "02_fit_baselines", "04_tune_hyperparameters"])
def test_the_chapters_that_build_no_cnn_in_their_kernel_import_no_framework(chapter):
    """Chapters 1 and 2 build no CNN, and chapter 4's networks are built on the Dask workers: their import cell
    loads no Keras, so they start in seconds; nor does any import cell load the machinery that executes chapters
    (jupytext, nbformat, papermill: 2 s of every chapter's start before)."""
    import jupytext

    from cnngwp.runs.notebooks import NOTEBOOK_DIR

    imports = next(c.source for c in jupytext.read(NOTEBOOK_DIR / f"{chapter}.md").cells if c.cell_type == "code")
    loaded = "{'keras', 'tensorflow', 'jupytext', 'nbformat', 'papermill'}"
    code = imports + f"\nimport sys\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & {loaded}))\n"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_the_first_cnn_import_prints_no_framework_notices():
    assert _stderr("from cnngwp import CNNGWPRegressor; import keras; keras.ops.add(1.0, 1.0)") == ""


def test_other_messages_written_during_the_import_still_show():
    code = ("import os, sys\n"
            "class Loud:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'keras':\n"
            "            os.write(2, b'oneDNN custom operations are on (dropped)\\nreal problem (kept)\\n')\n"
            "        return None\n"
            "sys.meta_path.insert(0, Loud())\n"
            "import cnngwp.models.cnn\n")
    assert _stderr(code) == "real problem (kept)\n"


def test_importing_cnngwp_lets_idle_openblas_threads_sleep_before_numpy_loads():
    """`python -m cnngwp` and what it starts (chapter kernels, Dask workers) inherit OPENBLAS_THREAD_TIMEOUT=4, set
    before numpy loads OpenBLAS; a value the user set wins."""
    code = "import os, sys, cnngwp; print('numpy' in sys.modules, os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    for given, expected in ((None, "False 4\n"), ("12", "False 12\n")):
        run_env = env if given is None else {**env, "OPENBLAS_THREAD_TIMEOUT": given}
        printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=run_env)
        assert printed.stdout == expected
