"""The baselines of a run folder: fitted once on the run's split, saved, and read back when the run resumes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cnngwp.atomic import atomic_write, tie_to_settings
from cnngwp.data.covariates import CovariateDesign
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.splits import Split
from cnngwp.models.baselines import BASELINE_MODELS
from cnngwp.models.baselines.on_split import BaselineFits, fit_baselines

__all__ = ["baselines_for_run"]


def baselines_for_run(data: GenotypeData, split: Split, run_dir: str | Path, *, seed: int = 1,
                      covariates: CovariateDesign | None = None) -> BaselineFits:
    """The baselines on the split, fitted once per run folder (``baselines*``) and read back after.

    The cached fits are tied to the split, seed and covariates (``baselines.json``).

    Parameters
    ----------
    data, split
        The genotypes and trait, and which rows train and which are predicted.
    run_dir
        The run folder the fits are written to and read back from.
    seed
        The Bayesian LASSO's seed.
    covariates
        Fixed effects of every baseline, or None.

    Returns
    -------
    cnngwp.models.baselines.on_split.BaselineFits
        Every baseline's metrics, test predictions, effects and fitted model
        (:func:`cnngwp.models.baselines.on_split.fit_baselines`).
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
