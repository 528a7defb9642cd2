"""Test-set metrics and the baseline comparison on one split."""

from __future__ import annotations

import time
from dataclasses import dataclass

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


@dataclass(frozen=True)
class BaselineFits:
    """GBLUP and the Bayesian LASSO on one split.

    Attributes
    ----------
    table
        Per model: test MSE, correlation, slope, seconds.
    predictions
        Test rows: ``observed`` and one column per model.
    effects
        Per SNP (``snp_index``): each model's effect of the standardised SNP.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    effects: pd.DataFrame


def fit_baselines(data: GenotypeData, split: Split, *, seed: int = 1) -> BaselineFits:
    """Fit GBLUP and the Bayesian LASSO (BGLR defaults) on the training rows; score the test rows once."""
    X, y = data.genotypes, data.y
    rows = []
    predictions = pd.DataFrame({"observed": y[split.test]}, index=data.samples.index[split.test])
    effects = pd.DataFrame({"snp_index": np.arange(data.n_snps)})
    for name, model in (("GBLUP", GBLUP()), ("BLASSO", BayesianLasso(seed=seed))):
        start = time.perf_counter()
        predicted = model.fit(X[split.train], y[split.train]).predict(X[split.test])
        seconds = time.perf_counter() - start
        rows.append({"model": name, "split": split.name, **prediction_metrics(y[split.test], predicted),
                     "seconds": seconds})
        predictions[name] = predicted
        effects[name] = model.coef_
    return BaselineFits(pd.DataFrame(rows), predictions, effects)


def compare_baselines(data: GenotypeData, split: Split, *, seed: int = 1) -> pd.DataFrame:
    """The metrics table of :func:`fit_baselines`."""
    return fit_baselines(data, split, seed=seed).table
