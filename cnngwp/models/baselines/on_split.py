"""Every baseline of the comparison (:func:`cnngwp.models.baselines.registry.baseline_models`) fitted on one split's
training rows and scored once on its test rows."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnngwp.data.covariates import CovariateDesign
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.splits import Split
from cnngwp.models.baselines.registry import baseline_models
from cnngwp.models.metrics import prediction_metrics

__all__ = ["BaselineFits", "compare_baselines", "fit_baselines"]


@dataclass(frozen=True)
class BaselineFits:
    """The baselines (:func:`cnngwp.models.baselines.registry.baseline_models`) on one split.

    Attributes
    ----------
    table
        Per model: test MSE, correlation, slope (NaN without test rows), seconds.
    predictions
        Test rows: ``observed`` and one column per model.
    effects
        Per SNP (``snp_index``): each marker-effect model's (additive) effect of the standardised SNP.
    models
        The fitted estimators by name.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    effects: pd.DataFrame
    models: dict


def fit_baselines(data: GenotypeData, split: Split, *, seed: int = 1,
                  covariates: CovariateDesign | None = None) -> BaselineFits:
    """Fit every baseline (GBLUP, GDBLUP, EGBLUP, RKHS, the Bayesian LASSO with BGLR's
    defaults) on the training rows;
    score the test rows once.

    Parameters
    ----------
    data, split
        The genotypes and trait, and which rows train and which are scored.
    seed
        The Bayesian LASSO's seed.
    covariates
        Fixed effects of every baseline (their design fitted on the training rows), or None.

    Returns
    -------
    BaselineFits
        Every baseline's metrics and seconds, test predictions, effects and fitted model.
    """
    X, y = data.genotypes, data.y
    C_train = C_test = None
    if covariates is not None:
        C_train, C_test = covariates.for_rows(data, split.train), covariates.for_rows(data, split.test)
    rows = []
    predictions = pd.DataFrame({"observed": y[split.test]}, index=data.samples.index[split.test])
    effects = pd.DataFrame({"snp_index": np.arange(data.n_snps)})
    models = baseline_models(seed=seed)
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(X[split.train], y[split.train], covariates=C_train)
        held_out = len(split.test) > 0  # a final model (cnngwp fit) holds nothing out
        predicted = model.predict(X[split.test], covariates=C_test) if held_out else np.empty(0)
        seconds = time.perf_counter() - start
        metrics = (prediction_metrics(y[split.test], predicted) if held_out
                   else dict.fromkeys(("mse", "correlation", "slope"), float("nan")))
        rows.append({"model": name, "split": split.name, **metrics, "seconds": seconds})
        predictions[name] = predicted
        if hasattr(model, "coef_"):  # marker-effect models (RKHS has none)
            effects[name] = model.coef_
    return BaselineFits(pd.DataFrame(rows), predictions, effects, models)


def compare_baselines(data: GenotypeData, split: Split, *, seed: int = 1,
                      covariates: CovariateDesign | None = None) -> pd.DataFrame:
    """The metrics table of :func:`fit_baselines`."""
    return fit_baselines(data, split, seed=seed, covariates=covariates).table
