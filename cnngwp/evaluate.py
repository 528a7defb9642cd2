"""Test-set metrics and the baseline comparison on one split."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from cnngwp.baselines import GBLUP, BayesianLasso
from cnngwp.data import GenotypeData
from cnngwp.splits import Split


def prediction_metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MSE, Pearson correlation and the slope of the regression of observed on predicted."""
    observed, predicted = np.asarray(observed, float), np.asarray(predicted, float)
    spread = predicted.var()
    return {
        "mse": float(np.mean((observed - predicted) ** 2)),
        "correlation": float(np.corrcoef(observed, predicted)[0, 1]) if spread > 0 else float("nan"),
        "slope": float(np.cov(observed, predicted, ddof=0)[0, 1] / spread) if spread > 0 else float("nan"),
    }


def compare_baselines(data: GenotypeData, split: Split, *, seed: int = 1) -> pd.DataFrame:
    """Fit GBLUP and the Bayesian LASSO (BGLR defaults) on the training rows; score the test rows once."""
    X, y = data.genotypes, data.y
    rows = []
    for name, model in (("GBLUP", GBLUP()), ("BLASSO", BayesianLasso(seed=seed))):
        start = time.perf_counter()
        predicted = model.fit(X[split.train], y[split.train]).predict(X[split.test])
        seconds = time.perf_counter() - start
        rows.append({"model": name, "split": split.name, **prediction_metrics(y[split.test], predicted),
                     "seconds": seconds})
    return pd.DataFrame(rows)
