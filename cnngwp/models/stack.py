"""An honest stack across model families: weights on the simplex, fitted on held-out predictions.

A stack combines the predictions of several fitted models, ``sum_m w_m f_m(x)``, with
weights that are non-negative and sum to one (Breiman 1996's constrained stacked
regression). Non-negative weights summing to one keep the combination inside the range of its
members' predictions and make the weights readable as shares; every member already predicts
the trait in its units with its own intercept, so no intercept is added.

The weights are fitted on predictions of rows that the predicting model was *not* trained on
(:func:`cnngwp.tuning.combined.held_out_parts`: the youngest training generation, the rows the
CNN tunes on, or where there are no generations an inner cross-fit of the training rows outside the CNN's
validation rows); then each member is refitted on every training row and combined with those weights.
Fitting weights on in-sample predictions would hand them to the model that overfits most; fitting them on the
test rows (as DeepGS's example does) would make the test error optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

__all__ = ["ModelStack", "simplex_weights"]


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
