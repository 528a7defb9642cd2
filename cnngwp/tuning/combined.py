"""The models that combine the CNN with the kernel models, on a run's rows: the backbone model and the stack.

Both are honest in the same way as the CNN: nothing they fit reads the test rows.

- **The kernel backbone** (:class:`cnngwp.models.backbone.KernelBackboneCNN`): the kernel's
  out-of-fold predictions of the training rows (:meth:`~cnngwp.models.backbone.KernelBackboneCNN.cross_fit_kernel`,
  :func:`residual_problem`) turn a run's :class:`~cnngwp.tuning.problem.TuningProblem` into the same problem on the
  kernel's residual, which a run's ensemble of CNNs, on Dask, then fits like any other.
- **The stack** (:mod:`cnngwp.models.stack`): a run's members are resumable Dask fits, so a run computes their
  held-out predictions of each part of :func:`held_out_parts` itself, as
  :class:`~cnngwp.models.stack.StackRegressor` does for an estimator: the baselines refitted without the part, and
  where the data have no generations every CNN retrained there for its run's numbers of epochs
  (:func:`cross_fitted_part`). Under the paper protocol there is no stack (:func:`why_no_stack`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from cnngwp.data.splits import Split
from cnngwp.errors import CnngwpInputError
from cnngwp.models.backbone import BACKBONE_ENCODING, KernelBackboneCNN
from cnngwp.models.names import BACKBONE_KERNEL
from cnngwp.models.stack import STACK_FOLDS, ModelStack, stack_weights
from cnngwp.models.stack import held_out_parts as stack_parts
from cnngwp.tuning.problem import TuningProblem, fit_cnn_for_epochs
from cnngwp.tuning.settings import TrainingSettings

__all__ = ["BACKBONE_MEMBERS", "backbone_training", "cross_fitted_part", "fit_stack", "held_out_parts",
           "held_out_splits", "residual_problem", "why_no_stack"]

#: The most networks a run's backbone CNN has, or the run's ensemble size if that is smaller. It fits what the
#: kernel leaves, where ``benchmarks/bench_models.py`` finds little signal, so a run spends its time on its CNN
#: ensemble instead.
BACKBONE_MEMBERS = 2


def held_out_parts(problem: TuningProblem, *, seed: int) -> list[np.ndarray]:
    """The training rows (positions) a run's stack is fitted on, in parts (:func:`cnngwp.models.stack.held_out_parts`:
    the validation rows where they are the youngest training generation, else :data:`~cnngwp.models.stack.STACK_FOLDS`
    inner folds of the other rows)."""
    try:
        return stack_parts(len(problem.y_train), problem.validation,
                           inner_folds=None if problem.by_generation else STACK_FOLDS, seed=seed)
    except CnngwpInputError as error:
        raise CnngwpInputError(f"{problem.name}: {error}") from None


def held_out_splits(split: Split, parts: list[np.ndarray]) -> list[Split]:
    """For each of `parts` (:func:`held_out_parts`): `split`'s other training rows train, that part is held out."""
    every = np.arange(len(split.train))
    names = [f"{split.name} held-out"] if len(parts) == 1 else [f"{split.name} held-out fold {f}"
                                                                 for f in range(len(parts))]
    return [Split(split.train[np.setdiff1d(every, part)], split.train[part], name)
            for part, name in zip(parts, names, strict=True)]


def cross_fitted_part(problem: TuningProblem, gamma, training: TrainingSettings, part: np.ndarray, *,
                      seeds: list[int], epochs: list[int], backbone: KernelBackboneCNN | None = None) -> np.ndarray:
    """The rows of `part` predicted by CNNs fitted on every other training row: the networks seeded `seeds`, each
    trained for its number of `epochs` (a run's members, their refit on other rows).

    With `backbone` (an unfitted :class:`~cnngwp.models.backbone.KernelBackboneCNN`), the networks fit its kernel's
    residual cross-fitted on those rows, without covariates: the backbone's CNN, to which the kernel's own held-out
    prediction is added.
    """
    kept = np.setdiff1d(np.arange(len(problem.y_train)), part)
    y = problem.y_train[kept]
    if backbone is not None:
        C = None if problem.C_train is None else problem.C_train[kept]
        y = y - backbone.cross_fit_kernel(problem.X_train[kept], y, covariates=C)
        problem = replace(problem, C_train=None, C_test=None)
    model = fit_cnn_for_epochs(problem, gamma, training, kept, seeds=seeds, epochs=epochs, y=y)
    return model.predict(problem.X_train[part], covariates=None if problem.C_train is None else problem.C_train[part])


def backbone_training(training: TrainingSettings) -> TrainingSettings:
    """How the backbone's CNN is trained: as `training` says, with
    :data:`~cnngwp.models.backbone.BACKBONE_ENCODING`."""
    return replace(training, encoding=BACKBONE_ENCODING)


def residual_problem(problem: TuningProblem, out_of_fold: np.ndarray, kernel_test: np.ndarray, *,
                     kernel: str = BACKBONE_KERNEL) -> TuningProblem:
    """`problem` on the kernel's residual: training rows ``y - out_of_fold``, test rows ``y - kernel_test``.

    `out_of_fold` is :meth:`KernelBackboneCNN.cross_fit_kernel
    <cnngwp.models.backbone.KernelBackboneCNN.cross_fit_kernel>`; `kernel_test` the test rows' prediction of the
    kernel fitted on every training row. Fixed-effect covariates enter the kernel only, so the
    residual problem has none.
    """
    return replace(problem, y_train=problem.y_train - out_of_fold, y_test=problem.y_test - kernel_test,
                   C_train=None, C_test=None, name=f"{problem.name} residual of {kernel}")


def fit_stack(held_out: pd.DataFrame, problem: TuningProblem, parts: list[np.ndarray]) -> ModelStack:
    """A run's stack weights on `held_out`, its models' predictions of the rows of `parts` (:func:`held_out_parts`)
    (:func:`cnngwp.models.stack.stack_weights`)."""
    return stack_weights(held_out, problem.y_train, parts, inner_folds=None if problem.by_generation else STACK_FOLDS,
                         validation_rule=problem.validation_rule)


def why_no_stack(protocol: str) -> str | None:
    """Why a run under `protocol` gets no stack, in words; None when it gets one.

    A stack's weights need predictions of rows that no model was fitted or selected on; under the paper protocol
    the CNNs validate on the test rows.

    Parameters
    ----------
    protocol
        ``honest`` or ``paper``.

    Returns
    -------
    str or None
        The reason, or None.
    """
    if protocol == "paper":
        return "no stack: under the paper protocol the CNNs validate on the test rows"
    return None
