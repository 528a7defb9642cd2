"""An honest stack across model families: weights on the simplex, fitted on held-out predictions.

A stack combines the predictions of several fitted models, ``sum_m w_m f_m(x)``, with
weights that are non-negative and sum to one (Breiman 1996's constrained stacked
regression). Non-negative weights summing to one keep the combination inside the range of its
members' predictions and make the weights readable as shares; every member already predicts
the trait in its units with its own intercept, so no intercept is added.

The weights are fitted on predictions of rows that the predicting model was *not* trained on
(:func:`held_out_parts`: the youngest training generation, the rows the CNN tunes on, or where there are no
generations an inner cross-fit of the training rows outside the CNN's validation rows); then each member is refitted
on every training row and combined with those weights. Fitting weights on in-sample predictions would hand them to
the model that overfits most; fitting them on the test rows (as DeepGS's example does) would make the test error
optimistic.

The one home of the model: :class:`StackRegressor` is the estimator (chapter 8's study and
``benchmarks/bench_models.py`` fit it through :func:`cnngwp.runs.study.fit_every_model`); a run, whose members are
resumable Dask fits, computes the same held-out predictions per part and fits the same weights
(:func:`stack_weights`); :class:`ModelStack` is the fitted weights a saved model and ``cnngwp predict`` read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from cnngwp.data.covariates import as_covariate_matrix
from cnngwp.errors import CnngwpInputError
from cnngwp.models.names import STACK

__all__ = ["STACK_FOLDS", "ModelStack", "StackRegressor", "held_out_parts", "held_out_prediction", "simplex_weights",
           "stack_weights"]

#: The inner folds of the training rows outside the validation rows whose held-out predictions the stack's weights
#: are fitted on, where the data have no generations.
STACK_FOLDS = 5


def simplex_weights(predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The weights w >= 0 with sum(w) = 1 that minimise ||y - P w||^2.

    Solved exactly: the optimum is the equality-constrained least-squares solution on its
    support, so each support (every subset of the k columns, k small) is solved through its
    KKT system and the best non-negative solution is kept. Ties keep the smaller support.

    Parameters
    ----------
    predictions
        n x k: each column one model's predictions of the rows of `y`.
    y
        The observed values (n).

    Returns
    -------
    numpy.ndarray
        k weights, non-negative, summing to one.
    """
    P = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != len(y) or P.shape[1] < 1:
        raise ValueError(f"predictions must be n x k with n = len(y) = {len(y)} and k >= 1; got shape {P.shape}")
    if not (np.isfinite(P).all() and np.isfinite(y).all()):
        raise ValueError("predictions and y must be finite")
    k = P.shape[1]
    gram, cross = P.T @ P, P.T @ y
    best, best_loss = None, np.inf
    for size in range(1, k + 1):
        for support in combinations(range(k), size):
            s = list(support)
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = 2 * gram[np.ix_(s, s)]
            kkt[:size, size] = kkt[size, :size] = 1.0
            solution = np.linalg.lstsq(kkt, np.concatenate([2 * cross[s], [1.0]]), rcond=None)[0][:size]
            if solution.min() < -1e-12:
                continue
            w = np.zeros(k)
            w[s] = np.clip(solution, 0.0, None)
            if w.sum() <= 0:  # every weight clipped to zero: not a convex combination
                continue
            w /= w.sum()
            loss = float(np.sum((y - P @ w) ** 2))
            if loss < best_loss * (1 - 1e-12):
                best, best_loss = w, loss
    return best


@dataclass(frozen=True)
class ModelStack:
    """Fitted stack weights by model name, and the held-out rows they were fitted on.

    Attributes
    ----------
    weights
        Model name -> weight (non-negative, summing to one), in the members' order.
    rows
        How many held-out rows the weights were fitted on.
    rule
        Which rows, in words (what reports say).
    """

    weights: dict[str, float]
    rows: int
    rule: str

    @classmethod
    def fit(cls, held_out: pd.DataFrame, observed: np.ndarray, *, rule: str) -> ModelStack:
        """Weights for the columns of `held_out` (each model's predictions of rows it was not trained on)."""
        w = simplex_weights(held_out.to_numpy(dtype=np.float64), observed)
        return cls({str(name): float(v) for name, v in zip(held_out.columns, w, strict=True)}, len(observed), rule)

    def predict(self, predictions: pd.DataFrame) -> np.ndarray:
        """The weighted sum of the members' predictions (columns named as :attr:`weights`; others ignored)."""
        missing = [name for name in self.weights if name not in predictions.columns]
        if missing:
            raise ValueError(f"the stack needs predictions of {missing}; got columns {list(predictions.columns)}")
        return predictions[list(self.weights)].to_numpy(dtype=np.float64) @ np.array(list(self.weights.values()))

    def describe(self) -> str:
        """The weights in one line, largest first (zero weights left out)."""
        kept = sorted(((v, k) for k, v in self.weights.items() if v > 0), reverse=True)
        return ", ".join(f"{name} {value:.2f}" for value, name in kept)

    def sentence(self) -> str:
        """Which rows the weights were fitted on, and the weights, as a sentence."""
        return (f"The stack's weights were fitted on {self.rows} animals of {self.rule}, each model predicting them "
                f"from a fit without them, then every model was refitted on all training animals: "
                f"{self.describe()}.")

    def to_dict(self) -> dict:
        """The stack as JSON holds it (a saved model's ``model.json``, a run's ``summary.json``)."""
        return {"weights": self.weights, "rows": self.rows, "rule": self.rule}

    @classmethod
    def from_dict(cls, record: dict) -> ModelStack:
        """The stack :meth:`to_dict` wrote."""
        return cls({str(k): float(v) for k, v in record["weights"].items()}, int(record["rows"]), str(record["rule"]))


def held_out_parts(n_rows: int, validation_rows, *, inner_folds: int | None, seed: int) -> list[np.ndarray]:
    """The training rows (positions) a stack's weights are fitted on, in parts, each to be predicted by models
    fitted on every other training row.

    Parameters
    ----------
    n_rows
        How many training rows there are.
    validation_rows
        Positions of the rows the CNNs choose their epochs on.
    inner_folds
        None: one part, the validation rows (where they are the youngest training generation, a later generation
        than every row the models train on). Else the rows outside the validation rows in that many seeded folds;
        the validation rows, which chose the CNNs' epochs, are trained on in every fold and never predicted.
    seed
        Seeds the inner folds.

    Returns
    -------
    list of numpy.ndarray
        The parts, in the order their predictions are concatenated.

    Raises
    ------
    CnngwpInputError
        If the rows outside the validation rows are too few for the inner folds.
    """
    validation = np.asarray(validation_rows, dtype=np.int64)
    if inner_folds is None:
        return [validation]
    rows = np.setdiff1d(np.arange(n_rows), validation)
    if len(rows) < 2 * inner_folds:
        raise CnngwpInputError(f"{len(rows)} training rows outside the validation rows; the stack's {inner_folds} "
                               f"inner folds need at least {2 * inner_folds}")
    fold = np.random.default_rng(seed).permutation(len(rows)) % inner_folds
    return [rows[fold == f] for f in range(inner_folds)]


def held_out_prediction(model, X, y, rows, *, covariates=None, fitted=None) -> np.ndarray:
    """The training rows `rows` predicted by `model` fitted without them.

    Parameters
    ----------
    model
        An unfitted estimator with ``fit(X, y, covariates=...)`` and ``predict(X, covariates=...)``.
    X, y, covariates
        The training rows (covariates: fixed-effect design or None).
    rows
        The positions to predict.
    fitted
        `model` fitted on every training row, or None. Where it has a ``held_out_prediction`` method (the CNN-based
        estimators: their validation predictions, or their networks retrained for their chosen epochs on the other
        rows), that answers; otherwise a clone of `model` is fitted on the other rows.

    Returns
    -------
    numpy.ndarray
        One prediction per position of `rows`.
    """
    if fitted is not None and hasattr(fitted, "held_out_prediction"):
        return fitted.held_out_prediction(X, y, rows, covariates=covariates)
    C = as_covariate_matrix(covariates, len(y))
    C = C if C.shape[1] else None
    kept = np.setdiff1d(np.arange(len(y)), rows)
    part = clone(model).fit(X[kept], y[kept], covariates=None if C is None else C[kept])
    return part.predict(X[rows], covariates=None if C is None else C[rows])


def stack_weights(held_out: pd.DataFrame, y, parts: list[np.ndarray], *, inner_folds: int | None,
                  validation_rule: str) -> ModelStack:
    """The stack's weights on `held_out`.

    Parameters
    ----------
    held_out
        One column per model: its predictions of the rows of `parts` (:func:`held_out_parts`, concatenated in that
        order) by fits without them.
    y
        The trait of every training row.
    parts, inner_folds
        The held-out parts and how they were made (:func:`held_out_parts`).
    validation_rule
        Which rows validate, in words (what reports say).

    Returns
    -------
    ModelStack
        The weights, the number of rows they were fitted on, and which rows, in words.
    """
    rule = (validation_rule if inner_folds is None else
            f"an inner {len(parts)}-fold cross-fit of the training rows outside the validation rows "
            f"({validation_rule})")
    return ModelStack.fit(held_out, np.asarray(y, dtype=np.float64)[np.concatenate(parts)], rule=rule)


class StackRegressor(RegressorMixin, BaseEstimator):
    """Models fitted on every training row, combined with simplex weights fitted on their held-out predictions.

    Parameters
    ----------
    members
        ``(name, unfitted estimator)`` pairs. A CNN-based estimator (one with a ``held_out_prediction`` method:
        :class:`~cnngwp.models.cnn.estimator.CNNGWPRegressor`, :class:`~cnngwp.models.l1_grid.L1GridCNN`,
        :class:`~cnngwp.models.backbone.KernelBackboneCNN`) is fitted with ``validation_rows``, its epochs chosen
        there; the others with ``covariates`` only.
    inner_folds
        None: the weights are fitted on the validation rows (the data's youngest training generation). Else on the
        rows outside them, in that many seeded inner folds (:func:`held_out_parts`).
    seed
        Seeds the inner folds.

    Attributes
    ----------
    members_ : dict
        Name -> the member fitted on every training row.
    stack_ : ModelStack
        The weights.
    fit_seconds_, held_out_seconds_ : dict
        Name -> seconds of its fit on every training row, and of its held-out predictions.
    """

    def __init__(self, members, *, inner_folds: int | None = None, seed: int = 0):
        self.members = members
        self.inner_folds = inner_folds
        self.seed = seed

    def fit(self, X, y, *, validation_rows, covariates=None,
            validation_rule: str = "validation rows carved from the training rows") -> StackRegressor:
        """Fit every member, predict the held-out parts by fits without them and fit the weights.

        Parameters
        ----------
        X, y
            The training rows: int8 genotype codes and the trait.
        validation_rows
            Positions of the rows the CNN-based members choose their epochs on.
        covariates
            Fixed-effect design of the training rows, or None.
        validation_rule
            Which rows validate, in words (the stack's sentence quotes it).

        Returns
        -------
        StackRegressor
            This estimator, fitted.
        """
        X, y = np.asarray(X), np.asarray(y, dtype=np.float64)
        names = [str(name) for name, _ in self.members]
        if len(set(names)) != len(names) or STACK in names:
            raise ValueError(f"members: expected distinct names other than {STACK!r}; got {names}")
        validation = np.unique(np.asarray(validation_rows, dtype=np.int64))
        parts = held_out_parts(len(y), validation, inner_folds=self.inner_folds, seed=self.seed)
        self.members_, self.fit_seconds_, self.held_out_seconds_, held_out = {}, {}, {}, {}
        for name, model in self.members:
            start = time.perf_counter()
            options = {"validation_rows": validation} if hasattr(model, "held_out_prediction") else {}
            self.members_[name] = clone(model).fit(X, y, covariates=covariates, **options)
            self.fit_seconds_[name] = time.perf_counter() - start
            start = time.perf_counter()
            held_out[name] = np.concatenate([held_out_prediction(model, X, y, part, covariates=covariates,
                                                                 fitted=self.members_[name]) for part in parts])
            self.held_out_seconds_[name] = time.perf_counter() - start
        self.stack_ = stack_weights(pd.DataFrame(held_out), y, parts, inner_folds=self.inner_folds,
                                    validation_rule=validation_rule)
        self.n_features_in_ = X.shape[1]
        return self

    def member_predictions(self, X, *, covariates=None) -> pd.DataFrame:
        """Every member's prediction of `X` and the stack's (column :data:`~cnngwp.models.names.STACK`).

        Parameters
        ----------
        X, covariates
            The rows to predict and their fixed-effect design (or None).

        Returns
        -------
        pandas.DataFrame
            One column per member, in the members' order, then the stack's.
        """
        check_is_fitted(self, "stack_")
        table = pd.DataFrame({name: model.predict(X, covariates=covariates) for name, model in self.members_.items()})
        table[STACK] = self.stack_.predict(table)
        return table

    def predict(self, X, *, covariates=None) -> np.ndarray:
        """The weighted sum of the members' predictions."""
        return self.member_predictions(X, covariates=covariates)[STACK].to_numpy()
