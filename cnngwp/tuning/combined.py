"""The models that combine the CNN with the kernel models, on a run's rows: the backbone model and the stack.

Both are honest in the same way as the CNN: nothing they fit reads the test rows.

- **The kernel backbone** (:class:`cnngwp.models.backbone.KernelBackboneCNN`): the kernel's
  out-of-fold predictions of the training rows (:func:`kernel_out_of_fold`, :func:`residual_problem`) turn a run's
  :class:`~cnngwp.tuning.problem.TuningProblem` into the same problem on the kernel's
  residual, which the CNN (or an ensemble of CNNs, on Dask) then fits like any other.
- **The stack** (:mod:`cnngwp.models.stack`): its weights are fitted on every model's
  predictions of the run's validation rows, the youngest training generation (the rows the CNN
  tunes on), by that model fitted on the other training rows (:func:`held_out_split`): the
  baselines refitted without the validation rows, each CNN at its best epoch before its refit,
  the backbone's kernel out of fold. Where the data have no generations there is no stack
  (:func:`why_no_stack`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from cnngwp.data.splits import Split
from cnngwp.models.backbone import out_of_fold_predictions
from cnngwp.models.baselines import baseline_models
from cnngwp.models.stack import ModelStack
from cnngwp.tuning.problem import TrainingSettings, TuningProblem

__all__ = ["BACKBONE_ENCODING", "BACKBONE_FOLDS", "BACKBONE_KERNEL", "BACKBONE_MEMBERS", "backbone_training",
           "fit_stack", "held_out_split", "kernel_out_of_fold",
           "residual_problem", "why_no_stack"]

#: The backbone's kernel model (a baseline's name).
BACKBONE_KERNEL = "GDBLUP"
#: The folds the backbone's kernel is cross-fitted in on the training rows.
BACKBONE_FOLDS = 5
#: The most networks a run's backbone CNN has, or the run's ensemble size if that is smaller. It fits what the
#: kernel leaves, where ``benchmarks/bench_models.py`` finds little signal, so a run spends its time on its CNN
#: ensemble instead.
BACKBONE_MEMBERS = 2
#: The backbone CNN's input (:data:`cnngwp.models.cnn.network.ENCODINGS`). What a kernel leaves of a trait is what it
#: cannot fit: large non-additive loci among them, which an additive CNN cannot fit either; a heterozygote channel
#: can (``tests/test_combined.py``; ``benchmarks/bench_backbone.py`` compares the two encodings on the default split).
BACKBONE_ENCODING = "genotypic"


def held_out_split(split: Split, problem: TuningProblem) -> Split:
    """The training rows of `split` divided as the CNN tunes: its fit rows train, its validation rows are held out."""
    return Split(split.train[problem.fit_rows], split.train[problem.validation], f"{split.name} held-out")


def kernel_out_of_fold(problem: TuningProblem, *, seed: int, kernel: str = BACKBONE_KERNEL) -> np.ndarray:
    """The training rows' predictions by `kernel` (a baseline's name) cross-fitted in :data:`BACKBONE_FOLDS` folds."""
    return out_of_fold_predictions(baseline_models(seed=seed)[kernel], problem.X_train, problem.y_train,
                                   covariates=problem.C_train, n_folds=BACKBONE_FOLDS, seed=seed)


def backbone_training(training: TrainingSettings) -> TrainingSettings:
    """How the backbone's CNN is trained: as `training` says, with :data:`BACKBONE_ENCODING`."""
    return replace(training, encoding=BACKBONE_ENCODING)


def residual_problem(problem: TuningProblem, out_of_fold: np.ndarray, kernel_test: np.ndarray, *,
                     kernel: str = BACKBONE_KERNEL) -> TuningProblem:
    """`problem` on the kernel's residual: training rows ``y - out_of_fold``, test rows ``y - kernel_test``.

    `out_of_fold` is :func:`kernel_out_of_fold`; `kernel_test` the test rows' prediction of the
    kernel fitted on every training row. Fixed-effect covariates enter the kernel only, so the
    residual problem has none.
    """
    return replace(problem, y_train=problem.y_train - out_of_fold, y_test=problem.y_test - kernel_test,
                   C_train=None, C_test=None, name=f"{problem.name} residual of {kernel}")


def fit_stack(held_out: pd.DataFrame, problem: TuningProblem) -> ModelStack:
    """The stack's weights on `held_out` (one column per model: its predictions of `problem`'s validation rows)."""
    return ModelStack.fit(held_out, problem.y_train[problem.validation], rule=problem.validation_rule)



def why_no_stack(problem: TuningProblem, protocol: str) -> str | None:
    """Why `problem` gets no stack under `protocol`, in words; None when it gets one.

    A stack's weights need predictions of rows that no model was fitted or selected on. Under
    the paper protocol the CNNs validate on the test rows. Without generations the CNN's
    validation rows are a random fraction that chose its epochs (and, in a run, gamma), so its
    predictions there flatter it: on the mice folds (``benchmarks/bench_models.py``) a stack
    fitted on them gave the CNN the largest weight and scored worse than its best member. An inner
    k-fold, with every CNN refitted per fold, is what such data need, at k times the CNNs' cost,
    and is not built.
    """
    if protocol == "paper":
        return "no stack: under the paper protocol the CNNs validate on the test rows"
    if not problem.by_generation:
        return ("no stack: the data have no generations, and the CNN's random validation rows, which chose its "
                "epochs, would flatter its weight")
    return None
