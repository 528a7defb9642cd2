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

The one home of the model: a run (:func:`cnngwp.runs.workflow.backbone_for_run`, which trains its CNN as a resumable
Dask ensemble), chapter 8's study and ``benchmarks/bench_models.py`` (:func:`cnngwp.runs.study.fit_every_model`)
cross-fit its kernel, build its target, and combine and hold out its predictions with this class.
``benchmarks/bench_models.py`` measures the backbone model against its kernel and the CNN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from cnngwp.data.covariates import as_covariate_matrix
from cnngwp.models.baselines.registry import baseline_models
from cnngwp.models.names import BACKBONE_KERNEL
from cnngwp.models.stack import held_out_prediction

if TYPE_CHECKING:
    from cnngwp.models.cnn.estimator import CNNGWPRegressor

__all__ = ["BACKBONE_ENCODING", "BACKBONE_FOLDS", "KernelBackboneCNN", "out_of_fold_predictions"]

#: The folds the backbone's kernel is cross-fitted in on the training rows.
BACKBONE_FOLDS = 5
#: The backbone CNN's input (:data:`cnngwp.models.cnn.network.ENCODINGS`). What a kernel leaves of a trait is what it
#: cannot fit: large non-additive loci among them, which an additive CNN cannot fit either; a heterozygote channel
#: can (``tests/test_combined.py``; ``benchmarks/bench_backbone.py`` compares the two encodings on the default split).
BACKBONE_ENCODING = "genotypic"


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
        The backbone: an unfitted baseline estimator (default: :data:`~cnngwp.models.names.BACKBONE_KERNEL`'s).
        Fixed-effect covariates enter the backbone only.
    cnn
        The network on top: an unfitted estimator with ``fit(X, y, generations=, validation_rows=)`` and
        ``predict(X)``, such as :class:`~cnngwp.models.cnn.estimator.CNNGWPRegressor` (default: its defaults with
        ``refit=True`` and :data:`BACKBONE_ENCODING`) or :class:`~cnngwp.models.l1_grid.L1GridCNN`; its
        validation rows choose its epochs.
    n_folds, seed
        Cross-fitting: the training rows' kernel predictions come from `n_folds` seeded folds.

    Attributes
    ----------
    kernel_ : object
        The backbone (a fitted baseline estimator) refitted on every training row.
    cnn_ : object
        The CNN fitted to ``y - kernel_oof_``.
    kernel_oof_ : numpy.ndarray
        The training rows' out-of-fold kernel predictions.
    """

    def __init__(self, *, kernel=None, cnn: CNNGWPRegressor | None = None, n_folds: int = BACKBONE_FOLDS,
                 seed: int = 0):
        self.kernel = kernel
        self.cnn = cnn
        self.n_folds = n_folds
        self.seed = seed

    def _kernel(self):
        return baseline_models(seed=self.seed)[BACKBONE_KERNEL] if self.kernel is None else self.kernel

    def cross_fit_kernel(self, X, y, *, covariates=None) -> np.ndarray:
        """The training rows' kernel predictions, each by the kernel fitted on the other folds.

        Parameters
        ----------
        X, y, covariates
            The training rows (covariates: fixed-effect design or None).

        Returns
        -------
        numpy.ndarray
            One prediction per row (:func:`out_of_fold_predictions` in `n_folds` folds seeded `seed`).
        """
        return out_of_fold_predictions(self._kernel(), np.asarray(X), np.asarray(y, dtype=np.float64),
                                       covariates=covariates, n_folds=self.n_folds, seed=self.seed)

    def fit(self, X, y, *, covariates=None, generations=None, validation_rows=None) -> KernelBackboneCNN:
        """Cross-fit the kernel, fit the CNN to the out-of-fold residual, refit the kernel on every row.

        Parameters
        ----------
        X, y
            The training rows: int8 genotype codes and the trait.
        covariates
            Fixed-effect design of the training rows, for the kernel only (or None).
        generations, validation_rows
            Which rows choose the CNN's epochs (as :meth:`CNNGWPRegressor.fit
            <cnngwp.models.cnn.estimator.CNNGWPRegressor.fit>` reads them).

        Returns
        -------
        KernelBackboneCNN
            This estimator, fitted.
        """
        X, y = np.asarray(X), np.asarray(y, dtype=np.float64)
        self.kernel_oof_ = self.cross_fit_kernel(X, y, covariates=covariates)
        from cnngwp.models.cnn.estimator import CNNGWPRegressor  # loads Keras: only where a network is built

        cnn = CNNGWPRegressor(refit=True, encoding=BACKBONE_ENCODING) if self.cnn is None else self.cnn
        self.cnn_ = clone(cnn).fit(X, y - self.kernel_oof_, generations=generations, validation_rows=validation_rows)
        self.kernel_ = clone(self._kernel()).fit(X, y, covariates=covariates)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X, *, covariates=None) -> np.ndarray:
        """The kernel's prediction plus the CNN's, in the trait's units (:meth:`combine`)."""
        check_is_fitted(self, "cnn_")
        return self.combine(self.kernel_.predict(X, covariates=covariates), self.cnn_.predict(X))

    def held_out_prediction(self, X, y, rows, *, covariates=None) -> np.ndarray:
        """The training rows `rows` predicted by the model fitted without them (what a stack's weights are fitted
        on).

        Where `rows` are the CNN's validation rows: the kernel out of fold plus the CNN's members at their best
        epochs, before their refit. Otherwise the kernel fitted on the other rows plus the CNN's networks retrained
        for their chosen epochs on those rows' out-of-fold kernel residual (the kernel cross-fitted among them).

        Parameters
        ----------
        X, y, covariates
            The training rows this model was fitted on.
        rows
            Positions of the rows to predict.

        Returns
        -------
        numpy.ndarray
            One prediction per position of `rows`.
        """
        check_is_fitted(self, "cnn_")
        X, y, rows = np.asarray(X), np.asarray(y, dtype=np.float64), np.asarray(rows, dtype=np.int64)
        if np.array_equal(rows, self.cnn_.validation_rows_):
            return self.combine(self.kernel_oof_[rows], self.cnn_.validation_predictions_.mean(axis=0))
        kept = np.setdiff1d(np.arange(len(y)), rows)
        C = as_covariate_matrix(covariates, len(y))
        residual = np.zeros(len(y))
        residual[kept] = y[kept] - self.cross_fit_kernel(X[kept], y[kept], covariates=C[kept] if C.shape[1] else None)
        return self.combine(held_out_prediction(self._kernel(), X, y, rows, covariates=covariates),
                            self.cnn_.held_out_prediction(X, residual, rows))

    @staticmethod
    def combine(kernel_prediction, cnn_prediction) -> np.ndarray:
        """The backbone model's prediction from its kernel's and its CNN's (the CNN's is a residual): their sum.
        The saved model and a run's test predictions combine theirs here too."""
        return np.asarray(kernel_prediction, dtype=np.float64) + np.asarray(cnn_prediction, dtype=np.float64)
