"""One whole CNNGWP run: tune, fit the model-averaged ensemble and the baselines, save the model, score and predict.

:func:`run_cnngwp` works on one train/test split and scores the test rows once;
:func:`fit_model` trains on every phenotyped animal (nothing held out), for use. Both
save the trained model (:mod:`cnngwp.models.saved_model`) and predict the animals without a
phenotype. A run folder holds::

    run.json          the settings the folder is tied to (a resumed run must match)
    evaluations.csv   every BO evaluation, appended as it finishes
    members/          one .npz per ensemble member (its numbers and its network)
    baselines.csv     GBLUP, GDBLUP, RKHS and BLASSO metrics (baseline_predictions.csv, baseline_effects.csv and
                      baselines/<model>.npz beside it)
    model/            the trained model: cnngwp.load_model(run_dir / "model")
    candidates.csv    the animals without a phenotype: predictions, interval, baselines, rank
    comparison.csv    every baseline, best single CNN, CNN ensemble on the test rows (run_cnngwp)
    predictions.csv   observed, ensemble prediction, interval and each member's prediction (run_cnngwp)
    summary.json      gamma per replicate, gamma_MA, metrics, counts, seconds
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
from distributed import Client

from cnngwp.atomic import atomic_write, json_scalar, tie_to_settings
from cnngwp.data.covariates import CovariateDesign
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.splits import Split, all_phenotyped
from cnngwp.data.store import discard
from cnngwp.errors import CnngwpInputError
from cnngwp.models.baselines import BASELINE_MODELS
from cnngwp.models.saved_model import GenomicModel, network_from_archive
from cnngwp.reports.comparison import BaselineFits, fit_baselines, prediction_metrics
from cnngwp.tuning.ensemble import ModelAveragedEnsemble, fit_ensemble
from cnngwp.tuning.problem import OPTIMISTIC, PROBLEM_FOLDER, TuningProblem
from cnngwp.tuning.search import RunSettings, TuningResult, tune

__all__ = ["CnngwpRun", "baselines_for_run", "comparison_table", "covariate_design", "fit_model", "run_cnngwp",
           "save_trained_model"]


@dataclass
class CnngwpRun:
    """Everything a finished run produced (`comparison` is None for :func:`fit_model`: nothing is held out)."""

    tuning: TuningResult
    ensemble: ModelAveragedEnsemble
    baselines: BaselineFits
    model: GenomicModel
    candidates: pd.DataFrame
    summary: dict
    comparison: pd.DataFrame | None = None


def covariate_design(data: GenotypeData, split: Split, covariates: tuple[str, ...] = (),
                     categorical: tuple[str, ...] = ()) -> CovariateDesign | None:
    """The fixed-effect design of `covariates` (columns of the sample table) fitted on the training rows, or None."""
    if not covariates:
        if categorical:
            raise CnngwpInputError(f"categorical columns {list(categorical)} given without covariates")
        return None
    return CovariateDesign.fit(data.samples, tuple(covariates), tuple(categorical), rows=split.train,
                               source=data.source)


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


def comparison_table(baselines: pd.DataFrame, ensemble: ModelAveragedEnsemble, tuning: TuningResult, *,
                     covariates: CovariateDesign | None = None) -> pd.DataFrame:
    """Test MSE, correlation, slope and seconds of every baseline, the best single CNN and the ensemble.

    The ``covariates`` column names the fixed effects every model had (empty: none).
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
    names = ", ".join(covariates.names) if covariates is not None else ""
    return pd.concat([base, cnn], ignore_index=True).assign(covariates=names)


def save_trained_model(data: GenotypeData, split: Split, ensemble: ModelAveragedEnsemble, baselines: BaselineFits,
                       folder: str | Path, *, covariates: CovariateDesign | None, record: dict) -> GenomicModel:
    """The run's trained model (every member's network, the baselines, the SNPs, the covariate design), saved."""
    model = GenomicModel(snps=data.snps, networks=[network_from_archive(m.network) for m in ensemble.members],
                         target_scaling=[(m.trait_mean, m.trait_sd) for m in ensemble.members],
                         baselines=baselines.models, covariates=covariates,
                         record={"trait": data.trait, "data": data.source, "split": split.name,
                                 "n_train": len(split.train), **ensemble.gamma.as_dict(), **record,
                                 "best_epochs": [m.best_epoch for m in ensemble.members]})
    model.save(folder)
    return model


def _train(data: GenotypeData, split: Split, run_dir: Path, client: Client, settings: RunSettings, *,
           progress: bool, covariates: CovariateDesign | None) -> CnngwpRun:
    """Tune, fit the ensemble and the baselines, save the model, predict the split's candidates."""
    run_dir.mkdir(parents=True, exist_ok=True)
    profile, protocol, seed = settings.profile, settings.protocol, settings.seed
    design = None if covariates is None else covariates.to_dict()
    tie_to_settings(run_dir / "run.json", {**settings.record(), "data": data.source, "split": split.name,
                                           "n_members": settings.n_members, "n_train": len(split.train),
                                           "n_test": len(split.test), "n_snps": data.n_snps, "covariates": design})
    problem = TuningProblem.from_split(data, split, seed=seed, covariates=covariates)
    if covariates is not None:  # the candidates are predicted at the end: their covariates are checked first
        covariates.for_rows(data, split.candidates)
    tuning = tune(problem, client, run_dir, settings, progress=progress)
    start = time.perf_counter()
    ensemble = fit_ensemble(problem, tuning.gamma, client, run_dir, settings, progress=progress)
    ensemble_seconds = time.perf_counter() - start
    discard(run_dir / PROBLEM_FOLDER)  # what the workers read, written by the tuning and kept for the ensemble
    baselines = baselines_for_run(data, split, run_dir, seed=seed, covariates=covariates)
    record = {"protocol": protocol, "validation": problem.validation_rule, "note": tuning.label,
              "profile": profile.name, "seed": seed, "replicates": settings.replicates,
              "n_members": settings.n_members, "refit": profile.training.refits(protocol),
              "training": asdict(profile.training), "covariates": design}
    model = save_trained_model(data, split, ensemble, baselines, run_dir / "model", covariates=covariates,
                               record=record)
    candidates = pd.DataFrame()
    if len(split.candidates):
        candidates = model.predict_table(data.select_samples(split.candidates))[0]
        atomic_write(run_dir / "candidates.csv", lambda tmp: candidates.to_csv(tmp, index=False))
    summary = {"data": data.source, "split": split.name, **record, "n_train": len(split.train),
               "n_test": len(split.test), "n_candidates": len(split.candidates),
               "gamma_per_replicate": tuning.best[["replicate", "filters", "kernel_size", "l1", "validation_mse"]]
               .to_dict(orient="records"),
               "gamma_ma": tuning.gamma.as_dict(), "tuning_task_seconds": float(tuning.evaluations["seconds"].sum()),
               "tuning_wall_seconds_this_call": tuning.seconds, "ensemble_wall_seconds_this_call": ensemble_seconds}
    return CnngwpRun(tuning, ensemble, baselines, model, candidates, summary)


def _write_summary(run_dir: Path, summary: dict) -> None:
    text = json.dumps(summary, indent=2, default=json_scalar)
    atomic_write(run_dir / "summary.json", lambda tmp: tmp.write_text(text))


def run_cnngwp(data: GenotypeData, split: Split, run_dir: str | Path, client: Client, settings: RunSettings, *,
               progress: bool = True, covariates: CovariateDesign | None = None) -> CnngwpRun:
    """Tune gamma, fit the ensemble with gamma_MA, score it and the baselines on the test rows once.

    The trained model is saved to ``run_dir/model`` and the split's animals without a
    phenotype are predicted into ``candidates.csv``. Resumable: finished evaluations and
    members in `run_dir` are not repeated. `settings` as in :func:`cnngwp.tuning.search.tune`;
    `covariates` (:func:`covariate_design`) are fixed effects of every model.
    """
    run_dir = Path(run_dir)
    run = _train(data, split, run_dir, client, settings, progress=progress, covariates=covariates)
    ensemble, baselines = run.ensemble, run.baselines
    comparison = comparison_table(baselines.table, ensemble, run.tuning, covariates=covariates)
    lower, upper = ensemble.prediction_interval()
    predictions = pd.DataFrame({"id": data.samples.index[split.test], "observed": ensemble.y_test,
                                "prediction": ensemble.predict(), "lower_90": lower, "upper_90": upper,
                                **{name: baselines.predictions[name].to_numpy() for name in BASELINE_MODELS}})
    for m, row in enumerate(ensemble.member_predictions):
        predictions[f"member_{m:02d}"] = row
    run.summary.update({"ensemble": ensemble.metrics(), "members": ensemble.member_table().to_dict(orient="records"),
                        "comparison": comparison.to_dict(orient="records")})
    atomic_write(run_dir / "comparison.csv", lambda tmp: comparison.to_csv(tmp, index=False))
    atomic_write(run_dir / "predictions.csv", lambda tmp: predictions.to_csv(tmp, index=False))
    _write_summary(run_dir, run.summary)
    return replace(run, comparison=comparison)


def fit_model(data: GenotypeData, run_dir: str | Path, client: Client, settings: RunSettings, *,
              progress: bool = True, covariates: tuple[str, ...] = (), categorical: tuple[str, ...] = ()) -> CnngwpRun:
    """Train on every phenotyped animal (honest protocol: tuning and epochs on rows carved from them), for use.

    Saves the model to ``run_dir/model`` and predicts the animals without a phenotype
    into ``candidates.csv``. Nothing is held out, so nothing is scored: estimate the
    accuracy with :func:`run_cnngwp` on folds first.
    """
    run_dir = Path(run_dir)
    split = all_phenotyped(data)
    design = covariate_design(data, split, covariates, categorical)
    run = _train(data, split, run_dir, client, replace(settings, protocol="honest"), progress=progress,
                 covariates=design)
    run.summary["members"] = run.ensemble.member_table().to_dict(orient="records")
    _write_summary(run_dir, run.summary)
    return run
