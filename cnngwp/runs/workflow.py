"""One whole CNNGWP run: tune, fit the model-averaged ensemble and the baselines, save the model, score and predict.

:func:`run_cnngwp` works on one train/test split and scores the test rows once;
:func:`fit_model` trains on every phenotyped animal (nothing held out), for use. Both
save the trained model (:mod:`cnngwp.models.saved_model`) and predict the animals without a
phenotype. A run folder holds::

    run.json          the settings the folder is tied to (a resumed run must match)
    evaluations.csv   every BO evaluation, appended as it finishes
    members/          one .npz per ensemble member (its numbers and its network)
    baselines.csv     GBLUP, GDBLUP, EGBLUP, RKHS and BLASSO metrics (baseline_predictions.csv, baseline_effects.csv and
                      baselines/<model>.npz beside it)
    backbone/         the backbone model's kernel, cross-fitted (kernel_out_of_fold.csv), and its CNN members
                      (members/), fitted to the kernel's out-of-fold residual
    held-out/         what the stack's weights are fitted on: the baselines fitted without the validation rows and
                      their predictions of them (beside the CNNs' own); without generations, per inner fold
                      (fold-N/) the baselines fitted on the other training rows, and the CNNs retrained there
                      (cnn_ensemble.csv, backbone.csv)
    model/            the trained model: cnngwp.load_model(run_dir / "model")
    candidates.csv    the animals without a phenotype: predictions, interval, baselines, rank
    comparison.csv    every baseline, best single CNN, CNN ensemble, the backbone model and the stack on the test
                      rows, with each model's stack weight (run_cnngwp)
    predictions.csv   observed, ensemble prediction, interval, every other model's and each member's prediction
                      (run_cnngwp)
    summary.json      gamma per replicate, gamma_MA, metrics, counts, seconds
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import Client

from cnngwp.atomic import atomic_write, json_scalar, tie_to_settings
from cnngwp.data.covariates import CovariateDesign, covariate_design
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.splits import Split, all_phenotyped
from cnngwp.data.store import discard, read_and_call, store
from cnngwp.models.backbone import BACKBONE_FOLDS, KernelBackboneCNN
from cnngwp.models.baselines.on_split import BaselineFits
from cnngwp.models.metrics import prediction_metrics
from cnngwp.models.names import BACKBONE_KERNEL, BEST_SINGLE_CNN, CNN_ENSEMBLE, STACK, backbone_name
from cnngwp.models.saved_model import BackboneNetworks, GenomicModel, network_from_archive
from cnngwp.models.stack import ModelStack
from cnngwp.runs.baselines import baselines_for_run
from cnngwp.runs.parallel import open_client
from cnngwp.runs.summary import RunSummary
from cnngwp.tuning.combined import (
    BACKBONE_MEMBERS,
    backbone_training,
    cross_fitted_part,
    fit_stack,
    held_out_parts,
    held_out_splits,
    residual_problem,
    why_no_stack,
)
from cnngwp.tuning.ensemble import ModelAveragedEnsemble, fit_ensemble
from cnngwp.tuning.problem import PROBLEM_FOLDER, TuningProblem
from cnngwp.tuning.search import Gamma, TuningResult, tune
from cnngwp.tuning.settings import OPTIMISTIC, RunSettings, TrainingSettings

__all__ = ["BackboneFit", "CnngwpRun", "backbone_for_run", "comparison_table", "finish_run", "fit_model",
           "run_cnngwp", "save_trained_model", "stack_for_run"]


@dataclass
class CnngwpRun:
    """Everything a finished run produced (`comparison` is None for :func:`fit_model`: nothing is held out).

    `backbone` is the backbone model's CNN ensemble (on the kernel's residual; its test predictions are residuals);
    `stack` is None under the paper protocol (:func:`cnngwp.tuning.combined.why_no_stack`).
    """

    tuning: TuningResult
    ensemble: ModelAveragedEnsemble
    baselines: BaselineFits
    backbone: ModelAveragedEnsemble
    stack: ModelStack | None
    model: GenomicModel
    candidates: pd.DataFrame
    summary: RunSummary
    comparison: pd.DataFrame | None = None

    def test_predictions(self) -> pd.DataFrame:
        """Every model's predictions of the test rows (one column each, by the names the stack uses)."""
        table = self.baselines.predictions.drop(columns="observed").reset_index(drop=True)
        table[CNN_ENSEMBLE] = self.ensemble.predict()
        table[backbone_name(BACKBONE_KERNEL)] = KernelBackboneCNN.combine(table[BACKBONE_KERNEL],
                                                                          self.backbone.predict())
        if self.stack is not None:
            table[STACK] = self.stack.predict(table)
        return table


def comparison_table(run: CnngwpRun, *, covariates: CovariateDesign | None = None) -> pd.DataFrame:
    """Test MSE, correlation, slope, seconds and stack weight of every baseline, the best single CNN, the ensemble,
    the backbone model and the stack.

    The ``covariates`` column names the fixed effects every model had (empty: none).
    The best single CNN is the member with the lowest validation MSE; its seconds are
    its own fit. The ensemble's seconds are the summed fit times of every BO evaluation
    and every member (task seconds; the wall time is lower when tasks run in parallel); the
    backbone model's add its kernel's cross-fitting to its members' and the kernel's own fit; the
    stack's are every model's plus the fits its held-out predictions took (the baselines without the validation
    rows, or per inner fold with the CNNs retrained there).
    ``members`` is how many networks a CNN-based row averages (empty for the others).
    ``stack_weight`` is each model's weight in the stack (empty on the stack's row, and for the
    best single CNN, which the stack does not contain). Under the paper protocol the CNN rows say
    they are optimistic and there is no stack.
    """
    ensemble, tuning, backbone = run.ensemble, run.tuning, run.backbone
    best = ensemble.best_member()
    note = OPTIMISTIC if ensemble.protocol == "paper" else ""
    y_test, predictions = ensemble.y_test, run.test_predictions()
    kernel_seconds = float(run.baselines.table.set_index("model").loc[BACKBONE_KERNEL, "seconds"])
    seconds = {
        CNN_ENSEMBLE: float(tuning.evaluations["seconds"].sum()) + sum(m.seconds for m in ensemble.members),
        backbone_name(BACKBONE_KERNEL): run.summary.backbone_cross_fit_seconds + kernel_seconds
        + sum(m.seconds for m in backbone.members),
    }
    rows = [{"model": BEST_SINGLE_CNN, **prediction_metrics(y_test, best.test_predictions),
             "seconds": best.seconds, "note": note, "members": 1},
            {"model": CNN_ENSEMBLE, **prediction_metrics(y_test, ensemble.predict()),
             "seconds": seconds[CNN_ENSEMBLE], "note": note, "members": len(ensemble.members)},
            {"model": backbone_name(BACKBONE_KERNEL), "note": note, "seconds": seconds[backbone_name(BACKBONE_KERNEL)],
             **prediction_metrics(y_test, predictions[backbone_name(BACKBONE_KERNEL)]),
             "members": len(backbone.members)}]
    if run.stack is not None:
        rows.append({"model": STACK, **prediction_metrics(y_test, predictions[STACK]), "note": "",
                     "seconds": float(run.baselines.table["seconds"].sum()) + sum(seconds.values()) - kernel_seconds
                     + run.summary.held_out_seconds})  # the backbone's kernel is a baseline: counted once
    table = pd.concat([run.baselines.table.drop(columns=["split"]).assign(note=""), pd.DataFrame(rows)],
                      ignore_index=True)
    weights = {} if run.stack is None else run.stack.weights
    table["stack_weight"] = table["model"].map(weights).astype(float)
    table.insert(1, "members", [None if pd.isna(n) else int(n) for n in table.pop("members")])  # CSV: 4, not 4.0
    names = ", ".join(covariates.names) if covariates is not None else ""
    return table.assign(covariates=names)


def save_trained_model(data: GenotypeData, ensemble: ModelAveragedEnsemble, baselines: BaselineFits,
                       folder: str | Path, *, covariates: CovariateDesign | None, record: dict,
                       backbone: ModelAveragedEnsemble | None = None, stack: ModelStack | None = None) -> GenomicModel:
    """The run's trained model (every member's network, the baselines, the backbone model's networks, the stack's
    weights, the SNPs, the covariate design), saved; `record` (what it was trained with) names the split."""
    top = None if backbone is None else BackboneNetworks(
        BACKBONE_KERNEL, [network_from_archive(m.network) for m in backbone.members],
        [(m.trait_mean, m.trait_sd) for m in backbone.members])
    model = GenomicModel(snps=data.snps, networks=[network_from_archive(m.network) for m in ensemble.members],
                         target_scaling=[(m.trait_mean, m.trait_sd) for m in ensemble.members],
                         baselines=baselines.models, covariates=covariates, backbone=top, stack=stack,
                         record={"trait": data.trait, "data": data.source, **ensemble.gamma.as_dict(), **record,
                                 "best_epochs": [m.best_epoch for m in ensemble.members]})
    model.save(folder)
    return model


def _cross_fitted_kernel(problem: TuningProblem, folder: Path, *, seed: int) -> tuple[np.ndarray, float]:
    """The backbone kernel's out-of-fold predictions of the training rows and their seconds, computed once per run
    folder (``backbone/kernel_out_of_fold.csv``)."""
    path = folder / "kernel_out_of_fold.csv"
    tie_to_settings(folder / "backbone.json", {"kernel": BACKBONE_KERNEL, "folds": BACKBONE_FOLDS, "seed": seed,
                                               "problem": problem.name})
    if path.exists():
        table = pd.read_csv(path)
        return table["prediction"].to_numpy(), float(table["seconds"].iloc[0])
    start = time.perf_counter()
    oof = KernelBackboneCNN(seed=seed).cross_fit_kernel(problem.X_train, problem.y_train, covariates=problem.C_train)
    table = pd.DataFrame({"row": np.arange(len(oof)), "prediction": oof, "seconds": time.perf_counter() - start})
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return oof, float(table["seconds"].iloc[0])


def _cross_fitted(problem: TuningProblem, ensemble: ModelAveragedEnsemble, training: TrainingSettings,
                  parts: list[np.ndarray], client: Client, path: Path, *, seed: int,
                  backbone: bool = False) -> tuple[np.ndarray, float]:
    """`ensemble`'s members retrained for their epochs on each of `parts`' other training rows, predicting that part
    (:func:`cnngwp.tuning.combined.cross_fitted_part`, one Dask task per part; `backbone`: on the residual of the
    backbone's kernel, cross-fitted seeded `seed`), and their task seconds, computed once per run folder (the CSV
    `path`)."""
    seeds, epochs = [m.seed for m in ensemble.members], [m.best_epoch for m in ensemble.members]
    tie_to_settings(path.with_suffix(".json"), {"gamma": ensemble.gamma.as_dict(), "training": asdict(training),
                                                "seeds": seeds, "epochs": epochs,
                                                "kernel": BACKBONE_KERNEL if backbone else None, "seed": seed,
                                                "parts": [len(part) for part in parts], "problem": problem.name})
    if not path.exists():
        shared = store(problem, path.parent / PROBLEM_FOLDER)
        task = partial(_timed, partial(cross_fitted_part, seeds=seeds, epochs=epochs,
                                       backbone=KernelBackboneCNN(seed=seed) if backbone else None))
        done = client.gather([client.submit(read_and_call, task, shared, ensemble.gamma, training, part, pure=False)
                              for part in parts])
        discard(path.parent / PROBLEM_FOLDER)
        table = pd.DataFrame({"prediction": np.concatenate([d[0] for d in done]),
                              "seconds": sum(d[1] for d in done)})
        atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    table = pd.read_csv(path)
    return table["prediction"].to_numpy(), float(table["seconds"].iloc[0])


def _timed(function, *args) -> tuple:
    """``function(*args)`` and its seconds (a Dask task's own time)."""
    start = time.perf_counter()
    return function(*args), time.perf_counter() - start


@dataclass(frozen=True)
class BackboneFit:
    """A run's backbone model (:func:`backbone_for_run`): its kernel's out-of-fold predictions of the training rows,
    their seconds, and the CNN ensemble fitted to what they leave (its test predictions are residuals: the model's
    prediction is the kernel's plus the ensemble's)."""

    ensemble: ModelAveragedEnsemble
    kernel_out_of_fold: np.ndarray
    cross_fit_seconds: float


def backbone_for_run(problem: TuningProblem, gamma: Gamma, baselines: BaselineFits, client: Client,
                     run_dir: str | Path, settings: RunSettings, *, progress: bool = False) -> BackboneFit:
    """The backbone model, GDBLUP + CNN, on a run's rows, fitted once per run folder and read back after.

    The kernel (:data:`~cnngwp.models.names.BACKBONE_KERNEL`) is cross-fitted on the training rows
    (:meth:`KernelBackboneCNN.cross_fit_kernel <cnngwp.models.backbone.KernelBackboneCNN.cross_fit_kernel>`,
    ``backbone/kernel_out_of_fold.csv``); at most :data:`~cnngwp.tuning.combined.BACKBONE_MEMBERS` CNNs with
    `gamma` and the backbone's training settings (:func:`~cnngwp.tuning.combined.backbone_training`) are fitted to
    that out-of-fold residual, choosing their epochs on its validation rows (``backbone/members/``). The kernel
    fitted on every training row is the run's baseline fit (`baselines`).

    Parameters
    ----------
    problem
        The run's arrays (:meth:`cnngwp.tuning.problem.TuningProblem.from_split`).
    gamma
        The CNN's filters, kernel size and lambda (the run's gamma_MA).
    baselines
        The run's baseline fits (:func:`cnngwp.runs.baselines.baselines_for_run`): the kernel's test predictions.
    client, run_dir, settings, progress
        The Dask client, the run folder, the run's settings and whether to show progress bars.

    Returns
    -------
    BackboneFit
        The CNN ensemble on the residual, the kernel's out-of-fold predictions and their seconds.
    """
    folder = Path(run_dir) / "backbone"
    oof, seconds = _cross_fitted_kernel(problem, folder, seed=settings.seed)
    residual = residual_problem(problem, oof, baselines.predictions[BACKBONE_KERNEL].to_numpy())
    profile = settings.profile
    top = replace(settings, profile=replace(profile, training=backbone_training(profile.training)),
                  n_members=min(settings.n_members, BACKBONE_MEMBERS))
    ensemble = fit_ensemble(residual, gamma, client, folder, top, progress=progress)
    discard(folder / PROBLEM_FOLDER)
    return BackboneFit(ensemble, oof, seconds)


def stack_for_run(data: GenotypeData, split: Split, ensemble: ModelAveragedEnsemble, backbone: BackboneFit,
                  client: Client, settings: RunSettings, run_dir: str | Path, *,
                  covariates: CovariateDesign | None = None) -> tuple[ModelStack | None, float]:
    """The stack of every model of a run (the baselines, the CNN `ensemble` and the `backbone` model), and the seconds
    its held-out predictions took; ``(None, 0.0)`` where the protocol allows none
    (:func:`~cnngwp.tuning.combined.why_no_stack`).

    Its weights are fitted on predictions of rows the predicting model was not trained on
    (:func:`~cnngwp.tuning.combined.held_out_parts`): with generations the youngest training generation (the
    baselines refitted without it, the CNNs at their chosen epoch, the backbone's kernel out of fold), otherwise an
    inner cross-fit with every model refitted per fold (``held-out/``, computed once per run folder).

    Parameters
    ----------
    data, split
        The run's data and split.
    ensemble, backbone
        The run's CNN ensemble (:func:`cnngwp.tuning.ensemble.fit_ensemble`) and backbone model
        (:func:`backbone_for_run`).
    client, settings, run_dir
        The Dask client, the run's settings and its folder.
    covariates
        The fixed effects of every model, or None.

    Returns
    -------
    tuple
        The stack (:class:`~cnngwp.models.stack.ModelStack`, or None) and the seconds of its held-out fits.
    """
    if why_no_stack(settings.protocol) is not None:
        return None, 0.0
    seed, folder = settings.seed, Path(run_dir) / "held-out"
    problem = TuningProblem.from_split(data, split, seed=seed, covariates=covariates)
    parts = held_out_parts(problem, seed=seed)
    fits = [baselines_for_run(data, held, folder / ("" if len(parts) == 1 else f"fold-{f}"), seed=seed,
                              covariates=covariates) for f, held in enumerate(held_out_splits(split, parts))]
    held_out = pd.concat([fit.predictions.drop(columns="observed") for fit in fits], ignore_index=True)
    seconds = sum(float(fit.table["seconds"].sum()) for fit in fits)
    seconds += _held_out_cnns(held_out, problem, parts, ensemble, backbone, client, settings, folder)
    return fit_stack(held_out, problem, parts), seconds


def _held_out_cnns(held_out: pd.DataFrame, problem: TuningProblem, parts: list[np.ndarray],
                   ensemble: ModelAveragedEnsemble, fitted: BackboneFit, client: Client, settings: RunSettings,
                   folder: Path) -> float:
    """Add the CNN ensemble's and the backbone model's predictions of the stack's held-out `parts` to `held_out`
    (the baselines' predictions of them); the seconds that took. With generations they are the members' validation
    predictions at their chosen epochs (:meth:`KernelBackboneCNN.held_out_prediction
    <cnngwp.models.backbone.KernelBackboneCNN.held_out_prediction>`'s rule); without, the CNNs are retrained per
    inner fold by :func:`_cross_fitted`."""
    backbone = backbone_name(BACKBONE_KERNEL)
    if problem.by_generation:
        held_out[CNN_ENSEMBLE] = ensemble.validation_prediction()
        held_out[backbone] = KernelBackboneCNN.combine(fitted.kernel_out_of_fold[problem.validation],
                                                       fitted.ensemble.validation_prediction())
        return 0.0
    training = settings.profile.training
    cnn, cnn_seconds = _cross_fitted(problem, ensemble, training, parts, client, folder / "cnn_ensemble.csv",
                                     seed=settings.seed)
    residual, top_seconds = _cross_fitted(problem, fitted.ensemble, backbone_training(training), parts, client,
                                          folder / "backbone.csv", seed=settings.seed, backbone=True)
    held_out[CNN_ENSEMBLE] = cnn
    held_out[backbone] = KernelBackboneCNN.combine(held_out[BACKBONE_KERNEL], residual)
    return cnn_seconds + top_seconds


def _train(data: GenotypeData, split: Split, run_dir: Path, client: Client, settings: RunSettings, *,
           progress: bool, covariates: CovariateDesign | None) -> CnngwpRun:
    """Tune, fit the ensemble, the baselines, the backbone model and the stack, save the model, predict the split's
    candidates."""
    run_dir.mkdir(parents=True, exist_ok=True)
    profile, protocol, seed = settings.profile, settings.protocol, settings.seed
    design = None if covariates is None else covariates.to_dict()
    tie_to_settings(run_dir / "run.json", _run_record(data, split, settings, covariates))
    problem = TuningProblem.from_split(data, split, seed=seed, covariates=covariates)
    if covariates is not None:  # the candidates are predicted at the end: their covariates are checked first
        covariates.for_rows(data, split.candidates)
    tuning = tune(problem, client, run_dir, settings, progress=progress)
    start = time.perf_counter()
    ensemble = fit_ensemble(problem, tuning.gamma, client, run_dir, settings, progress=progress)
    ensemble_seconds = time.perf_counter() - start
    discard(run_dir / PROBLEM_FOLDER)  # what the workers read, written by the tuning and kept for the ensemble
    baselines = baselines_for_run(data, split, run_dir, seed=seed, covariates=covariates)
    fitted = backbone_for_run(problem, tuning.gamma, baselines, client, run_dir, settings, progress=progress)
    backbone = fitted.ensemble
    stack, held_out_seconds = stack_for_run(data, split, ensemble, fitted, client, settings, run_dir,
                                            covariates=covariates)
    record = {"protocol": protocol, "validation": problem.validation_rule, "note": tuning.label,
              "profile": profile.name, "seed": seed, "replicates": settings.replicates,
              "n_members": settings.n_members, "refit": profile.training.refits(protocol),
              "training": asdict(profile.training), "covariates": design,
              "backbone_best_epochs": [m.best_epoch for m in backbone.members]}
    model = save_trained_model(data, ensemble, baselines, run_dir / "model", covariates=covariates,
                               record={"split": split.name, "n_train": len(split.train), **record},
                               backbone=backbone, stack=stack)
    candidates = pd.DataFrame()
    if len(split.candidates):
        candidates = model.predict_table(data.select_samples(split.candidates))[0]
        atomic_write(run_dir / "candidates.csv", lambda tmp: candidates.to_csv(tmp, index=False))
    summary = RunSummary(
        data=data.source, split=split.name, **record, n_train=len(split.train), n_test=len(split.test),
        n_candidates=len(split.candidates),
        gamma_per_replicate=tuning.best[["replicate", "filters", "kernel_size", "l1", "validation_mse"]]
        .to_dict(orient="records"),
        gamma_ma=tuning.gamma.as_dict(), tuning_task_seconds=float(tuning.evaluations["seconds"].sum()),
        tuning_wall_seconds_this_call=tuning.seconds, ensemble_wall_seconds_this_call=ensemble_seconds,
        backbone_cross_fit_seconds=fitted.cross_fit_seconds, held_out_seconds=held_out_seconds, stack=stack,
        no_stack=why_no_stack(protocol))
    return CnngwpRun(tuning, ensemble, baselines, backbone, stack, model, candidates, summary)


def _run_record(data: GenotypeData, split: Split, settings: RunSettings, covariates: CovariateDesign | None) -> dict:
    """What a run folder is tied to (``run.json``)."""
    return {**settings.record(), "data": data.source, "split": split.name, "n_members": settings.n_members,
            "n_train": len(split.train), "n_test": len(split.test), "n_snps": data.n_snps,
            "covariates": None if covariates is None else covariates.to_dict()}


def finish_run(data: GenotypeData, split: Split, run_dir: str | Path, settings: RunSettings, *,
               scheduler: str | None = None, client: Client | None = None,
               covariates: CovariateDesign | None = None) -> Path:
    """`run_dir` once it holds the finished run with `settings`: ``comparison.csv``, ``predictions.csv``,
    ``summary.json`` and ``model/``.

    Read as they are where ``cnngwp run`` (or an earlier call) wrote them with these settings (and a
    ``comparison.csv`` of today's format); otherwise :func:`run_cnngwp` computes them now, reusing what the folder
    holds (the tuning, the members, the baselines, the backbone model and the stack's held-out fits), on `client`
    or, without one, on a Dask client of `scheduler` opened for the call (:func:`cnngwp.runs.parallel.open_client`).

    Parameters
    ----------
    data, split, run_dir, settings
        The run's data, split, folder and settings.
    scheduler, client
        Where the run computes, if it must: an open Dask `client`, else a client of `scheduler` (None: a local
        cluster).
    covariates
        The fixed effects of every model, or None.

    Returns
    -------
    pathlib.Path
        `run_dir`.
    """
    run_dir = Path(run_dir)
    tied = run_dir / "run.json"
    record = json.loads(json.dumps(_run_record(data, split, settings, covariates), default=json_scalar))
    comparison = run_dir / "comparison.csv"
    current = comparison.exists() and "members" in pd.read_csv(comparison, nrows=0).columns  # else: before 2026-12-06
    if not (current and tied.exists() and json.loads(tied.read_text()) == record):
        if client is not None:
            run_cnngwp(data, split, run_dir, client, settings, progress=False, covariates=covariates)
        else:
            with open_client(scheduler) as opened:
                run_cnngwp(data, split, run_dir, opened, settings, progress=False, covariates=covariates)
    return run_dir


def run_cnngwp(data: GenotypeData, split: Split, run_dir: str | Path, client: Client, settings: RunSettings, *,
               progress: bool = True, covariates: CovariateDesign | None = None) -> CnngwpRun:
    """Tune gamma, fit the ensemble with gamma_MA, score it and the baselines on the test rows once.

    The trained model is saved to ``run_dir/model`` and the split's animals without a
    phenotype are predicted into ``candidates.csv``. Resumable: finished evaluations and
    members in `run_dir` are not repeated.

    Parameters
    ----------
    data, split
        The genotypes and trait, and which rows train, which are scored and which are only predicted.
    run_dir
        The run folder (resumable; tied to the settings by ``run.json``).
    client
        The Dask client every network trains on (:func:`cnngwp.runs.parallel.open_client`).
    settings
        The search space, profile, protocol, seed, S and members (:class:`~cnngwp.tuning.settings.RunSettings`).
    progress
        Show progress bars.
    covariates
        Fixed effects of every model (:func:`cnngwp.data.covariates.covariate_design`), or None.

    Returns
    -------
    CnngwpRun
        Everything the run produced, with its comparison table.
    """
    run_dir = Path(run_dir)
    run = _train(data, split, run_dir, client, settings, progress=progress, covariates=covariates)
    ensemble = run.ensemble
    comparison = comparison_table(run, covariates=covariates)
    lower, upper = ensemble.prediction_interval()
    others = run.test_predictions().drop(columns=CNN_ENSEMBLE)
    predictions = pd.DataFrame({"id": data.samples.index[split.test], "observed": ensemble.y_test,
                                "prediction": ensemble.predict(), "lower_90": lower, "upper_90": upper,
                                **{name: others[name].to_numpy() for name in others.columns}})
    for m, row in enumerate(ensemble.member_predictions):
        predictions[f"member_{m:02d}"] = row
    run.summary.ensemble, run.summary.comparison = ensemble.metrics(), comparison.to_dict(orient="records")
    run.summary.members = ensemble.member_table().to_dict(orient="records")
    atomic_write(run_dir / "comparison.csv", lambda tmp: comparison.to_csv(tmp, index=False))
    atomic_write(run_dir / "predictions.csv", lambda tmp: predictions.to_csv(tmp, index=False))
    run.summary.write(run_dir)
    return replace(run, comparison=comparison)


def fit_model(data: GenotypeData, run_dir: str | Path, client: Client, settings: RunSettings, *,
              progress: bool = True, covariates: tuple[str, ...] = (), categorical: tuple[str, ...] = ()) -> CnngwpRun:
    """Train on every phenotyped animal (honest protocol: tuning and epochs on rows carved from them), for use.

    Saves the model to ``run_dir/model`` and predicts the animals without a phenotype
    into ``candidates.csv``. Nothing is held out, so nothing is scored: estimate the
    accuracy with :func:`run_cnngwp` on folds first.

    Parameters
    ----------
    data, run_dir, client, settings, progress
        As in :func:`run_cnngwp` (the protocol is always honest).
    covariates, categorical
        Columns of the phenotype table that are fixed effects of every model, and which of them are categorical.

    Returns
    -------
    CnngwpRun
        Everything the run produced (no comparison: nothing was scored).
    """
    run_dir = Path(run_dir)
    split = all_phenotyped(data)
    design = covariate_design(data, split, covariates, categorical)
    run = _train(data, split, run_dir, client, replace(settings, protocol="honest"), progress=progress,
                 covariates=design)
    run.summary.members = run.ensemble.member_table().to_dict(orient="records")
    run.summary.write(run_dir)
    return run
