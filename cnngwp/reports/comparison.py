"""Tables read from fitted models and predictions: how well predictions rank the animals, and the baselines' fixed
effects and variance components. Nothing here fits a model (the baselines are fitted in
:mod:`cnngwp.models.baselines.on_split`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from cnngwp.data.covariates import CovariateDesign

__all__ = ["fixed_effects_table", "ranking_agreement", "top_rows", "variance_components_table"]


def top_rows(values: np.ndarray, top: float) -> np.ndarray:
    """Positions of the highest `top` fraction of `values` (at least one; ties keep the earlier position)."""
    if not 0.0 < top <= 1.0:
        raise ValueError(f"top must be a fraction in (0, 1], got {top}")
    values = np.asarray(values, dtype=np.float64)
    return np.argsort(-values, kind="stable")[:max(1, round(top * len(values)))]


def ranking_agreement(predictions: pd.DataFrame, truth: np.ndarray, *, top: float = 0.1) -> pd.DataFrame:
    """How well each column of `predictions` ranks the animals by `truth` (higher is better).

    Parameters
    ----------
    predictions
        One column per model, one row per animal.
    truth
        Per animal: the true genetic value (simulated data) or the withheld phenotype.
    top
        The share of the animals a breeder would select.

    Returns
    -------
    pandas.DataFrame
        Per column: ``rank_correlation`` (Spearman) and ``top_overlap``, the share of the
        animals in the true top `top` fraction that the column also puts in its top
        fraction (the selected animals a breeder would keep).
    """
    truth = np.asarray(truth, dtype=np.float64)
    best = set(top_rows(truth, top))
    rows = {}
    for name in predictions.columns:
        predicted = predictions[name].to_numpy(dtype=np.float64)
        chosen = set(top_rows(predicted, top))
        rows[name] = {"rank_correlation": float(spearmanr(predicted, truth).statistic),
                      "top_overlap": len(best & chosen) / len(chosen)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def fixed_effects_table(models: dict, covariates: CovariateDesign | None) -> pd.DataFrame:
    """The intercept and each covariate column's fixed effect (rows) of fitted baselines (columns, by name).

    Parameters
    ----------
    models
        Fitted baselines by name (:attr:`BaselineFits.models <cnngwp.models.baselines.on_split.BaselineFits>`).
    covariates
        The design they were fitted with, or None (the intercept only).

    Returns
    -------
    pandas.DataFrame
        Rows ``intercept`` and each covariate column, one column per model.
    """
    names = ["intercept", *(covariates.names if covariates is not None else [])]
    return pd.DataFrame({name: [model.intercept_, *model.fixed_effects_] for name, model in models.items()},
                        index=names)


def variance_components_table(models: dict) -> pd.DataFrame:
    """Each fitted model's variance components.

    Parameters
    ----------
    models
        Fitted kernel models by name (each with ``variance_components()``).

    Returns
    -------
    pandas.DataFrame
        Rows: the components (additive, dominance, per-kernel, residual); columns: the models.
    """
    return pd.DataFrame({name: model.variance_components() for name, model in models.items()})
