"""How predictions are scored against observed values: the one definition every table and tuning step uses."""

from __future__ import annotations

import numpy as np

from cnngwp.errors import CnngwpInputError

__all__ = ["member_interval", "prediction_metrics"]


def prediction_metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MSE, Pearson correlation and the slope of the regression of observed on predicted.

    Parameters
    ----------
    observed, predicted
        The trait's values and a model's predictions of the same rows.

    Returns
    -------
    dict
        ``mse``, ``correlation`` and ``slope``.
    """
    observed, predicted = np.asarray(observed, float), np.asarray(predicted, float)
    spread = predicted.var()
    return {
        "mse": float(np.mean((observed - predicted) ** 2)),
        "correlation": float(np.corrcoef(observed, predicted)[0, 1]) if spread > 0 else float("nan"),
        "slope": float(np.cov(observed, predicted, ddof=0)[0, 1] / spread) if spread > 0 else float("nan"),
    }


def member_interval(member_predictions: np.ndarray, *, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper quantiles of members' predictions (S, n): the spread of the averaged model.

    Raises
    ------
    CnngwpInputError
        If `level` is not strictly between 0 and 1.
    """
    if not 0.0 < level < 1.0:
        raise CnngwpInputError(f"interval level must be between 0 and 1 (e.g. 0.9 for 90 %), got {level}")
    alpha = (1 - level) / 2
    return (np.quantile(member_predictions, alpha, axis=0), np.quantile(member_predictions, 1 - alpha, axis=0))
