"""How predictions are scored against observed values: the one definition every table and tuning step uses."""

from __future__ import annotations

import numpy as np

__all__ = ["prediction_metrics"]


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
