"""A CNN ensemble whose L1 penalty is chosen from a few values on its validation rows: how chapter 8's study tunes.

A full Bayesian optimisation per data set would cost a study hours; the study fixes the filters and kernel size and
chooses only λ, the setting that depends most on the trait (:mod:`cnngwp.runs.study`). One network per value of the
grid is trained, each the first member its ensemble would train (the same seed); the best one by validation MSE is
grown into the ensemble (``warm_start``) instead of being trained again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from cnngwp.models.paper import PAPER_L1

if TYPE_CHECKING:
    from cnngwp.models.cnn.estimator import CNNGWPRegressor

__all__ = ["L1GridCNN"]


class L1GridCNN(RegressorMixin, BaseEstimator):
    """`cnn` with the λ of `l1_grid` whose single network has the lowest validation MSE.

    Parameters
    ----------
    cnn
        An unfitted :class:`~cnngwp.models.cnn.estimator.CNNGWPRegressor`: everything but its ``l1``, which the grid
        replaces; its ``n_members`` and ``refit`` are the final ensemble's (default: its defaults, refitted).
    l1_grid
        The values of λ to choose from (one value: fixed).

    Attributes
    ----------
    l1_ : float
        The chosen λ.
    validation_mse_ : dict
        Each candidate λ -> its network's best validation MSE.
    cnn_ : cnngwp.models.cnn.estimator.CNNGWPRegressor
        The ensemble with that λ (its first member the winning candidate).
    validation_predictions_, validation_rows_, member_seeds_, best_epochs_
        The ensemble's (:class:`~cnngwp.models.cnn.estimator.CNNGWPRegressor`).
    """

    def __init__(self, *, cnn: CNNGWPRegressor | None = None, l1_grid: tuple[float, ...] = (0.25, PAPER_L1, 1.5)):
        self.cnn = cnn
        self.l1_grid = l1_grid

    def fit(self, X, y, **fit_params) -> L1GridCNN:
        """Train one network per λ, keep the best by validation MSE and grow it into the ensemble.

        Parameters
        ----------
        X, y
            The training rows: int8 genotype codes and the trait.
        **fit_params
            Passed to every :meth:`CNNGWPRegressor.fit <cnngwp.models.cnn.estimator.CNNGWPRegressor.fit>`
            (``validation_rows``, ``generations``, ``covariates`` or, under the paper protocol, ``validation_data``).

        Returns
        -------
        L1GridCNN
            This estimator, fitted.
        """
        if not self.l1_grid:
            raise ValueError("l1_grid: expected at least one value of lambda")
        from cnngwp.models.cnn.estimator import CNNGWPRegressor  # loads Keras: only where a network is built

        cnn = CNNGWPRegressor(refit=True) if self.cnn is None else self.cnn
        candidates = [clone(cnn).set_params(l1=float(v), n_members=1, refit=False).fit(X, y, **fit_params)
                      for v in self.l1_grid]
        scores = [float(c.history_[0]["validation_mse"].min()) for c in candidates]
        best = int(np.argmin(scores))
        self.l1_, self.validation_mse_ = float(self.l1_grid[best]), dict(zip(self.l1_grid, scores, strict=True))
        final = clone(cnn).set_params(l1=self.l1_).get_params()
        self.cnn_ = candidates[best].set_params(**{**final, "warm_start": True}).fit(X, y, **fit_params)
        self.cnn_.set_params(warm_start=False)
        self.validation_predictions_ = self.cnn_.validation_predictions_
        self.validation_rows_ = self.cnn_.validation_rows_
        self.member_seeds_, self.best_epochs_ = self.cnn_.member_seeds_, self.cnn_.best_epochs_
        self.n_features_in_ = self.cnn_.n_features_in_
        return self

    def predict(self, X, **options) -> np.ndarray:
        """The ensemble's mean prediction (`options` as :meth:`CNNGWPRegressor.predict
        <cnngwp.models.cnn.estimator.CNNGWPRegressor.predict>`)."""
        check_is_fitted(self, "cnn_")
        return self.cnn_.predict(X, **options)

    def held_out_prediction(self, X, y, rows, *, covariates=None) -> np.ndarray:
        """The ensemble's prediction of the training rows `rows` by networks not trained on them
        (:meth:`CNNGWPRegressor.held_out_prediction
        <cnngwp.models.cnn.estimator.CNNGWPRegressor.held_out_prediction>`, with the chosen λ)."""
        check_is_fitted(self, "cnn_")
        return self.cnn_.held_out_prediction(X, y, rows, covariates=covariates)
