"""Test-set metrics and the baseline comparison on one split."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from cnngwp.atomic import atomic_write, tie_to_settings
from cnngwp.data.covariates import CovariateDesign
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.splits import Split
from cnngwp.models.baselines import BASELINE_MODELS, baseline_models

__all__ = ["BaselineFits", "baselines_for_run", "compare_baselines", "fit_baselines", "fixed_effects_table",
           "prediction_metrics", "ranking_agreement", "top_rows", "variance_components_table"]


def prediction_metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MSE, Pearson correlation and the slope of the regression of observed on predicted."""
    observed, predicted = np.asarray(observed, float), np.asarray(predicted, float)
    spread = predicted.var()
    return {
        "mse": float(np.mean((observed - predicted) ** 2)),
        "correlation": float(np.corrcoef(observed, predicted)[0, 1]) if spread > 0 else float("nan"),
        "slope": float(np.cov(observed, predicted, ddof=0)[0, 1] / spread) if spread > 0 else float("nan"),
    }


def top_rows(values: np.ndarray, top: float) -> np.ndarray:
    """Positions of the highest `top` fraction of `values` (at least one; ties keep the earlier position)."""
    if not 0.0 < top <= 1.0:
        raise ValueError(f"top must be a fraction in (0, 1], got {top}")
    values = np.asarray(values, dtype=np.float64)
    return np.argsort(-values, kind="stable")[:max(1, round(top * len(values)))]


def ranking_agreement(predictions: pd.DataFrame, truth: np.ndarray, *, top: float = 0.1) -> pd.DataFrame:
    """How well each column of `predictions` ranks the animals by `truth` (higher is better).

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
    """The intercept and each covariate column's fixed effect (rows) of fitted baselines (columns, by name)."""
    names = ["intercept", *(covariates.names if covariates is not None else [])]
    return pd.DataFrame({name: [model.intercept_, *model.fixed_effects_] for name, model in models.items()},
                        index=names)


def variance_components_table(models: dict) -> pd.DataFrame:
    """Each fitted model's variance components (rows: additive, dominance, per-kernel, residual; columns: models)."""
    return pd.DataFrame({name: model.variance_components() for name, model in models.items()})


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

    `covariates` (fitted on the training rows) enter each as fixed effects.
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


def baselines_for_run(data: GenotypeData, split: Split, run_dir: str | Path, *, seed: int = 1,
                      covariates: CovariateDesign | None = None) -> BaselineFits:
    """The baselines on the split, fitted once per run folder (``baselines*``) and read back after.

    The cached fits are tied to the split, seed and covariates (``baselines.json``).
    """
    run_dir = Path(run_dir)
    tie_to_settings(run_dir / "baselines.json", {"data": data.source, "split": split.name, "seed": seed,
                                                  "n_train": len(split.train), "n_test": len(split.test),
                                                  "covariates": None if covariates is None else covariates.to_dict()})
    paths = {"table": run_dir / "baselines.csv", "predictions": run_dir / "baseline_predictions.csv",
             "effects": run_dir / "baseline_effects.csv",
             **{name: run_dir / "baselines" / f"{name}.npz" for name in BASELINE_MODELS}}
    if all(path.exists() for path in paths.values()):
        models = {name: cls.load_state(paths[name]) for name, cls in BASELINE_MODELS.items()}
        return BaselineFits(pd.read_csv(paths["table"]), pd.read_csv(paths["predictions"], index_col=0),
                            pd.read_csv(paths["effects"]), models)
    fits = fit_baselines(data, split, seed=seed, covariates=covariates)
    for name, model in fits.models.items():
        model.save_state(paths[name])
    atomic_write(paths["effects"], lambda tmp: fits.effects.to_csv(tmp, index=False))
    atomic_write(paths["predictions"], lambda tmp: fits.predictions.to_csv(tmp))
    atomic_write(paths["table"], lambda tmp: fits.table.to_csv(tmp, index=False))
    return fits
