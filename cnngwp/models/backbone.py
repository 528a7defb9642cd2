"""A kernel backbone with the CNN on top: a kernel model plus a CNN fitted to what the kernel leaves.

The prediction is ``kernel(x) + cnn(x)`` in the trait's units. The CNN's training target is the
kernel's *out-of-fold* residual, ``y - kernel_oof``, where each training row's kernel
prediction comes from a kernel fitted on the other folds of the training rows (cross-fitting,
as in double machine learning). The in-sample residual would be the wrong target: REML's BLUP
shrinks the training rows' residuals towards zero (with a high heritability most of a training
animal's phenotype is absorbed by its own genetic value), while a new animal's residual about
its kernel prediction is not shrunk, so a CNN fitted to in-sample residuals learns a signal
too small by the factor the kernel overfits. Out of fold, every training row's residual is what
the kernel leaves on an animal it did not see, as on the test rows. The CNN then chooses its
epochs on the validation rows of that residual and is refitted on every training row, as
everywhere; the kernel itself is refitted on every training row.

``benchmarks/bench_models.py`` measures the backbone model against its kernel and the CNN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from cnngwp.data.covariates import as_covariate_matrix
from cnngwp.models.baselines import GDBLUP

if TYPE_CHECKING:
    from cnngwp.models.cnn.estimator import CNNGWPRegressor

__all__ = ["KernelBackboneCNN", "out_of_fold_predictions"]


def out_of_fold_predictions(estimator, X, y, *, covariates=None, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Each row's prediction by a clone of `estimator` fitted on the other `n_folds` - 1 folds (seeded folds).

    Parameters
    ----------
    estimator
        An unfitted estimator with ``fit(X, y, covariates=...)`` and ``predict(X, covariates=...)``.
    X, y, covariates
        The training rows (covariates: fixed-effect design or None).
    n_folds, seed
        The number of folds and the seed of the random partition.
    """
    n = len(y)
    if not 2 <= n_folds <= n:
        raise ValueError(f"n_folds must be between 2 and the {n} rows, got {n_folds}")
    C = as_covariate_matrix(covariates, n)
    has_covariates = C.shape[1] > 0
    fold = np.empty(n, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % n_folds
    out = np.empty(n)
    for f in range(n_folds):
        held, kept = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
        model = clone(estimator).fit(X[kept], y[kept], covariates=C[kept] if has_covariates else None)
        out[held] = model.predict(X[held], covariates=C[held] if has_covariates else None)
    return out


class KernelBackboneCNN(RegressorMixin, BaseEstimator):
    """A kernel model (GDBLUP by default) plus a CNN fitted to its out-of-fold residual.

    Parameters
    ----------
    kernel
        The backbone: an unfitted baseline estimator (default :class:`cnngwp.models.baselines.gdblup.GDBLUP`).
        Fixed-effect covariates enter the backbone only.
    cnn
        The network on top: an unfitted :class:`cnngwp.models.cnn.estimator.CNNGWPRegressor` (default:
        its defaults with ``refit=True``); its validation rows choose its epochs.
    n_folds, seed
        Cross-fitting: the training rows' kernel predictions come from `n_folds` seeded folds.

    Attributes
    ----------
    kernel_ : object
        The backbone (a fitted baseline estimator) refitted on every training row.
    cnn_ : cnngwp.models.cnn.estimator.CNNGWPRegressor
        The CNN fitted to ``y - kernel_oof_``.
    kernel_oof_ : numpy.ndarray
        The training rows' out-of-fold kernel predictions.
    """

    def __init__(self, *, kernel=None, cnn: CNNGWPRegressor | None = None, n_folds: int = 5, seed: int = 0):
        self.kernel = kernel
        self.cnn = cnn
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, X, y, *, covariates=None, generations=None, validation_rows=None) -> KernelBackboneCNN:
        """Cross-fit the kernel, fit the CNN to the out-of-fold residual, refit the kernel on every row."""
        X, y = np.asarray(X), np.asarray(y, dtype=np.float64)
        kernel = GDBLUP() if self.kernel is None else self.kernel
        self.kernel_oof_ = out_of_fold_predictions(kernel, X, y, covariates=covariates, n_folds=self.n_folds,
                                                   seed=self.seed)
        from cnngwp.models.cnn.estimator import CNNGWPRegressor  # loads Keras: only where a network is built

        cnn = CNNGWPRegressor(refit=True) if self.cnn is None else self.cnn
        self.cnn_ = clone(cnn).fit(X, y - self.kernel_oof_, generations=generations, validation_rows=validation_rows)
        self.kernel_ = clone(kernel).fit(X, y, covariates=covariates)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X, *, covariates=None) -> np.ndarray:
        """The kernel's prediction plus the CNN's, in the trait's units."""
        check_is_fitted(self, "cnn_")
        return self.kernel_.predict(X, covariates=covariates) + self.cnn_.predict(X)
