"""One whole CNNGWP run on one split: tune, fit the model-averaged ensemble, score it against the baselines.

A run folder holds::

    run.json          the settings the folder is tied to (a resumed run must match)
    evaluations.csv   every BO evaluation, appended as it finishes
    members/          one .npz per ensemble member
    baselines.csv     GBLUP and BLASSO metrics (baseline_predictions.csv, baseline_effects.csv beside it)
    comparison.csv    GBLUP, BLASSO, best single CNN, CNN ensemble on the test rows
    predictions.csv   observed, ensemble prediction, interval and each member's prediction
    summary.json      gamma per replicate, gamma_MA, metrics, seconds
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import Client

from cnngwp.data import GenotypeData
from cnngwp.ensemble import ModelAveragedEnsemble, fit_ensemble
from cnngwp.evaluate import BaselineFits, fit_baselines, prediction_metrics
from cnngwp.files import atomic_write, tie_to_settings
from cnngwp.splits import Split
from cnngwp.training import OPTIMISTIC, Profile, TuningProblem
from cnngwp.tuning import SearchSpace, TuningResult, settings_record, tune

__all__ = ["CnngwpRun", "baselines_for_run", "comparison_table", "run_cnngwp"]


@dataclass
class CnngwpRun:
    """Everything a finished run produced."""

    tuning: TuningResult
    ensemble: ModelAveragedEnsemble
    comparison: pd.DataFrame
    summary: dict


def baselines_for_run(data: GenotypeData, split: Split, run_dir: str | Path, *, seed: int = 1) -> BaselineFits:
    """GBLUP and BLASSO on the split, fitted once per run folder (``baselines*.csv``) and read back after."""
    run_dir = Path(run_dir)
    paths = {"table": run_dir / "baselines.csv", "predictions": run_dir / "baseline_predictions.csv",
             "effects": run_dir / "baseline_effects.csv"}
    if all(path.exists() for path in paths.values()):
        return BaselineFits(pd.read_csv(paths["table"]), pd.read_csv(paths["predictions"], index_col=0),
                            pd.read_csv(paths["effects"]))
    fits = fit_baselines(data, split, seed=seed)
    atomic_write(paths["effects"], lambda tmp: fits.effects.to_csv(tmp, index=False))
    atomic_write(paths["predictions"], lambda tmp: fits.predictions.to_csv(tmp))
    atomic_write(paths["table"], lambda tmp: fits.table.to_csv(tmp, index=False))
    return fits


def comparison_table(baselines: pd.DataFrame, ensemble: ModelAveragedEnsemble, tuning: TuningResult) -> pd.DataFrame:
    """Test MSE, correlation, slope and seconds of GBLUP, BLASSO, the best single CNN and the ensemble.

    The best single CNN is the member with the lowest validation MSE; its seconds are
    its own fit. The ensemble's seconds are the summed fit times of every BO evaluation
    and every member (task seconds; the wall time is lower when tasks run in parallel).
    Under the paper protocol the CNN rows say they are optimistic.
    """
    best = ensemble.best_member()
    note = OPTIMISTIC if ensemble.protocol == "paper" else ""
    cnn = pd.DataFrame([
        {"model": "CNN (best single)", **prediction_metrics(ensemble.y_test, best.test_predictions),
         "seconds": best.seconds, "note": note},
        {"model": f"CNN ensemble (S={len(ensemble.members)})", **prediction_metrics(ensemble.y_test, ensemble.predict()),
         "seconds": float(tuning.evaluations["seconds"].sum()) + sum(m.seconds for m in ensemble.members),
         "note": note},
    ])
    base = baselines.drop(columns=["split"]).assign(note="")
    return pd.concat([base, cnn], ignore_index=True)


def run_cnngwp(data: GenotypeData, split: Split, run_dir: str | Path, client: Client, *, space: SearchSpace,
               profile: Profile, protocol: str = "honest", replicates: int | None = None, n_members: int | None = None,
               seed: int = 1, batch_points: int = 1, progress: bool = True) -> CnngwpRun:
    """Tune gamma, fit the ensemble with gamma_MA, score it and the baselines on the test rows once.

    Resumable: finished evaluations and members in `run_dir` are not repeated.
    Parameters as in :func:`cnngwp.tuning.tune`; `n_members` defaults to the profile's S.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    replicates = profile.replicates if replicates is None else replicates
    n_members = profile.n_members if n_members is None else n_members
    settings = settings_record(space, profile, protocol, seed, replicates, batch_points)
    tie_to_settings(run_dir / "run.json", {**settings, "data": data.source, "split": split.name, "n_members": n_members,
                                 "n_train": len(split.train), "n_test": len(split.test), "n_snps": data.n_snps})
    problem = TuningProblem.from_split(data, split, seed=seed)
    scattered = client.scatter(problem, broadcast=True)  # once per run, held until both stages are done
    tuning = tune(problem, client, run_dir, space=space, profile=profile, protocol=protocol,
                  replicates=replicates, seed=seed, batch_points=batch_points, progress=progress, scattered=scattered)
    start = time.perf_counter()
    ensemble = fit_ensemble(problem, tuning.gamma, client, run_dir, training=profile.training, protocol=protocol,
                            n_members=n_members, seed=seed, progress=progress, scattered=scattered)
    ensemble_seconds = time.perf_counter() - start
    baselines = baselines_for_run(data, split, run_dir, seed=seed)
    comparison = comparison_table(baselines.table, ensemble, tuning)
    lower, upper = ensemble.prediction_interval()
    predictions = pd.DataFrame({"id": data.samples.index[split.test], "observed": ensemble.y_test,
                                "prediction": ensemble.predict(), "lower_90": lower, "upper_90": upper,
                                "GBLUP": baselines.predictions["GBLUP"].to_numpy(),
                                "BLASSO": baselines.predictions["BLASSO"].to_numpy()})
    for m, row in enumerate(ensemble.member_predictions):
        predictions[f"member_{m:02d}"] = row
    summary = {
        "data": data.source, "split": split.name, "protocol": protocol, "note": tuning.label,
        "profile": profile.name, "seed": seed, "replicates": replicates, "n_members": n_members,
        "refit": profile.training.refits(protocol), "training": asdict(profile.training),
        "gamma_per_replicate": tuning.best[["replicate", "filters", "kernel_size", "l1", "validation_mse"]]
        .to_dict(orient="records"),
        "gamma_ma": tuning.gamma.as_dict(), "tuning_task_seconds": float(tuning.evaluations["seconds"].sum()),
        "tuning_wall_seconds_this_call": tuning.seconds, "ensemble_wall_seconds_this_call": ensemble_seconds,
        "ensemble": ensemble.metrics(), "members": ensemble.member_table().to_dict(orient="records"),
        "comparison": comparison.to_dict(orient="records"),
    }
    atomic_write(run_dir / "comparison.csv", lambda tmp: comparison.to_csv(tmp, index=False))
    atomic_write(run_dir / "predictions.csv", lambda tmp: predictions.to_csv(tmp, index=False))
    text = json.dumps(summary, indent=2, default=_json_scalar)
    atomic_write(run_dir / "summary.json", lambda tmp: tmp.write_text(text))
    return CnngwpRun(tuning, ensemble, comparison, summary)


def _json_scalar(value):
    """numpy scalars as Python numbers (json's fallback for types it does not know)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
