"""Results over many runs: the paper's Table 2 across data sets and folds, and paired differences.

Reads the run folders ``<runs_root>/<dataset>/fold-<k>/`` that :func:`cnngwp.runs.workflow.run_cnngwp`
finished (``comparison.csv`` and ``predictions.csv``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from cnngwp.errors import CnngwpInputError
from cnngwp.models.baselines import BASELINE_MODELS
from cnngwp.models.names import BACKBONE_KERNEL, BEST_SINGLE_CNN, CNN_ENSEMBLE, GENOTYPIC_CNN, STACK, backbone_name
from cnngwp.runs.summary import RunSummary

__all__ = [
    "CNN_BASED_MODELS",
    "MODEL_ORDER",
    "PREDICTION_COLUMNS",
    "bootstrap_mse_difference",
    "collect_comparisons",
    "paired_differences",
    "read_comparison",
    "run_counts",
    "shown",
    "stack_sentence",
    "t_half_width",
    "t_interval",
    "table2",
]

#: The models that contain a CNN and that predictions.csv has a column for.
CNN_BASED_MODELS = (CNN_ENSEMBLE, GENOTYPIC_CNN, backbone_name(BACKBONE_KERNEL), STACK)
#: predictions.csv column of each model.
PREDICTION_COLUMNS = {**{name: name for name in BASELINE_MODELS}, CNN_ENSEMBLE: "prediction",
                      **{name: name for name in CNN_BASED_MODELS[1:]}}
#: The order of the models in tables; the baselines, then the CNNs, the backbone model and the stack.
#: (A run fits the CNN ensemble with its profile's encoding; the genotypic CNN is fitted by chapter 8's study and
#: ``benchmarks/bench_models.py``.)
MODEL_ORDER = (*BASELINE_MODELS, BEST_SINGLE_CNN, *CNN_BASED_MODELS)


def t_half_width(sd: float, n, *, level: float = 0.95):
    """Half the width of the t interval at `level` of a mean of `n` values whose SD is `sd` (`n` may be an array)."""
    n = np.asarray(n)
    return stats.t.ppf((1 + level) / 2, n - 1) * sd / np.sqrt(n)


def t_interval(values, *, level: float = 0.95) -> tuple[float, float, float]:
    """The mean of `values` and its t interval at `level`.

    Parameters
    ----------
    values
        The numbers.
    level
        The interval's confidence level.

    Returns
    -------
    tuple of float
        (mean, lower, upper); NaN bounds with fewer than two values.
    """
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(t_half_width(values.std(ddof=1), len(values), level=level))
    return mean, mean - half, mean + half


def shown(table: pd.DataFrame, *, precision: int = 3):
    """A table as the book shows it: without the pandas index, without columns that are empty in every row
    (a note or covariates no run had), numbers to `precision` decimals.

    Parameters
    ----------
    table
        The table.
    precision
        Decimals of its numbers.

    Returns
    -------
    pandas.io.formats.style.Styler
        What a notebook renders.
    """
    text = table.astype(str).apply(lambda column: column.str.strip())
    empty = [c for c in table.columns if table[c].isna().all() or text[c].isin(["", "nan", "None"]).all()]
    return table.drop(columns=empty).style.format(precision=precision, na_rep="").hide(axis="index")


def _run_folders(runs_root: str | os.PathLike) -> list[tuple[str, int, Path]]:
    found = []
    for path in sorted(Path(runs_root).glob("*/fold-*/comparison.csv")):
        found.append((path.parent.parent.name, int(path.parent.name.removeprefix("fold-")), path.parent))
    return found


COLUMNS = ["dataset", "fold", "profile", "model", "members", "mse", "correlation", "slope", "seconds", "stack_weight",
           "note", "covariates"]


def _profile(folder: Path) -> str:
    """The profile a run used, from its ``run.json`` (empty when the folder has none)."""
    settings = folder / "run.json"
    return json.loads(settings.read_text())["profile"]["name"] if settings.exists() else ""


def read_comparison(run_dir: str | os.PathLike) -> pd.DataFrame:
    """A run folder's ``comparison.csv``; an empty ``note`` (honest runs) or ``covariates`` (none) reads as ``""``,
    ``members`` (the networks a CNN-based row averages) as integers, empty for the other models.

    Parameters
    ----------
    run_dir
        The run folder.

    Returns
    -------
    pandas.DataFrame
        One row per model.

    Raises
    ------
    CnngwpInputError
        If the file predates the ``members`` column (its ensemble's size was part of the model's name): rerunning
        the run (``cnngwp run`` or ``make book``) rewrites it from the fits the folder holds.
    """
    path = Path(run_dir) / "comparison.csv"
    table = pd.read_csv(path, dtype={"note": str, "covariates": str})
    if "members" not in table.columns:
        raise CnngwpInputError(f"{path}: no 'members' column (a comparison written before 2026-12-06, with the "
                               f"ensemble's size in its model name); run the same 'cnngwp run' or 'make book' again: "
                               f"it rewrites the file from the fits the folder holds")
    table["members"] = table["members"].astype("Int64")
    if "covariates" not in table.columns:
        table["covariates"] = ""
    if "stack_weight" not in table.columns:  # run folders made before the stack
        table["stack_weight"] = np.nan
    return table.fillna({"note": "", "covariates": ""})


def stack_sentence(run_dir: str | os.PathLike) -> str:
    """What a finished run's stack is (its ``summary.json``): its weights and the rows they were fitted on, or why
    the run has none."""
    return RunSummary.read(run_dir).stack_sentence()


def collect_comparisons(runs_root: str | os.PathLike) -> pd.DataFrame:
    """Every finished run's comparison table, with ``dataset``, ``fold`` and ``profile`` columns.

    Parameters
    ----------
    runs_root
        The folder of run folders ``<dataset>/fold-<k>/``.

    Returns
    -------
    pandas.DataFrame
        One row per run and model (empty if no run is finished).
    """
    frames = [read_comparison(folder).assign(dataset=dataset, fold=fold, profile=_profile(folder))
              for dataset, fold, folder in _run_folders(runs_root)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def run_counts(runs_root: str | os.PathLike) -> pd.DataFrame:
    """Per finished run: animals trained on, scored, and without a phenotype (predicted only), and the covariates.

    Parameters
    ----------
    runs_root
        The folder of run folders ``<dataset>/fold-<k>/``.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``fold``, ``trained``, ``tested``, ``without_phenotype`` and ``covariates``.
    """
    rows = []
    for dataset, fold, folder in _run_folders(runs_root):
        summary = RunSummary.read(folder)
        design = summary.covariates
        rows.append({"dataset": dataset, "fold": fold, "trained": summary.n_train, "tested": summary.n_test,
                     "without_phenotype": summary.n_candidates,
                     "covariates": ", ".join(design["names"]) if design else ""})
    return pd.DataFrame(rows, columns=["dataset", "fold", "trained", "tested", "without_phenotype", "covariates"])


def table2(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Per data set and model: profile, folds, networks (the most of any fold), mean (and SD over folds) of test MSE,
    mean correlation, slope, seconds and stack weight.

    ``mse_sd`` is empty (``""``) for a data set with one split, where there is no SD over folds.

    Parameters
    ----------
    comparisons
        :func:`collect_comparisons`'s table.

    Returns
    -------
    pandas.DataFrame
        One row per data set and model, in :data:`MODEL_ORDER`.
    """
    order = {name: rank for rank, name in enumerate(MODEL_ORDER)}
    grouped = comparisons.fillna({"note": "", "profile": "", "covariates": ""}).groupby(
        ["dataset", "model"], sort=False
    )
    table = grouped.agg(
        profile=("profile", "first"),
        folds=("fold", "nunique"),
        members=("members", "max"),
        mse=("mse", "mean"),
        mse_sd=("mse", "std"),
        correlation=("correlation", "mean"),
        slope=("slope", "mean"),
        seconds=("seconds", "mean"),
        stack_weight=("stack_weight", "mean"),
        covariates=("covariates", "first"),
        note=("note", "first"),
    ).reset_index()
    table = table.assign(rank=table["model"].map(order)).sort_values(["dataset", "rank"]).drop(columns="rank")
    table["mse_sd"] = table["mse_sd"].round(3).astype(object).where(table["folds"] > 1, "")
    return table.reset_index(drop=True)


def bootstrap_mse_difference(
    observed: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 1,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """MSE(first) - MSE(second) on the same animals and its paired bootstrap interval.

    Parameters
    ----------
    observed
        The animals' observed values.
    first, second
        Two models' predictions of them.
    n_boot, seed
        Bootstrap resamples of the animals and their seed.
    level
        The interval's confidence level.

    Returns
    -------
    tuple
        (difference, lower, upper).
    """
    loss = (np.asarray(observed) - np.asarray(first)) ** 2 - (np.asarray(observed) - np.asarray(second)) ** 2
    draws = np.random.default_rng(seed).integers(0, len(loss), size=(n_boot, len(loss)))
    means = loss[draws].mean(axis=1)
    alpha = (1 - level) / 2
    return float(loss.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def paired_differences(runs_root: str | os.PathLike, *, reference: str = "GBLUP", seed: int = 1) -> pd.DataFrame:
    """Test-MSE difference of each model from `reference` on the same animals, with a 95 % interval.

    With several folds the interval is the t interval of the per-fold differences;
    with one split (generations 1-4 -> 5) a paired bootstrap over the test animals.
    A negative difference means the model predicts better than the reference.

    Parameters
    ----------
    runs_root
        The folder of run folders ``<dataset>/fold-<k>/``.
    reference
        The model every other is compared with.
    seed
        The bootstrap's seed.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``model``, ``reference``, ``mse_difference``, ``lower_95``, ``upper_95`` and ``method``.
    """
    rows = []
    by_dataset: dict[str, list[pd.DataFrame]] = {}
    for dataset, _, folder in _run_folders(runs_root):
        by_dataset.setdefault(dataset, []).append(pd.read_csv(folder / "predictions.csv"))
    for dataset, folds in by_dataset.items():
        for model, column in PREDICTION_COLUMNS.items():
            if model == reference or any(column not in f.columns for f in folds):  # runs made before GDBLUP/RKHS
                continue
            if len(folds) == 1:
                diff, lower, upper = bootstrap_mse_difference(
                    folds[0]["observed"], folds[0][column], folds[0][PREDICTION_COLUMNS[reference]], seed=seed
                )
                method = "paired bootstrap over animals"
            else:
                per_fold = np.array(
                    [
                        np.mean((f["observed"] - f[column]) ** 2)
                        - np.mean((f["observed"] - f[PREDICTION_COLUMNS[reference]]) ** 2)
                        for f in folds
                    ]
                )
                diff, lower, upper = t_interval(per_fold)
                method = f"t interval over {len(per_fold)} folds"
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "reference": reference,
                    "mse_difference": diff,
                    "lower_95": lower,
                    "upper_95": upper,
                    "method": method,
                }
            )
    return pd.DataFrame(
        rows, columns=["dataset", "model", "reference", "mse_difference", "lower_95", "upper_95", "method"]
    )
