"""The model-averaged ensemble: S fits with gamma_MA, their predictions and output weights averaged.

Under the honest protocol each member picks its number of epochs on the validation rows
and is then refitted on all training rows for that many epochs (``TrainingSettings.refit``).

Each chunk of members is a Dask task (all members at once on a GPU, one per task on CPUs) that
returns each member's numbers (test predictions, output-layer
weights, validation curve) and its network in Keras' own format; the driver saves each as
``members/member-NN.npz`` the moment it arrives, so an interrupted ensemble resumes with
the members still missing.

Dask's scheduler unpickles every task, and with it imports the module of the task's function: this
module imports the framework (``cnngwp.models.cnn``) only inside the functions that run on a worker
or read a network, so a scheduler never loads TensorFlow (5 s, and the scheduler's event loop stalls).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import Client, as_completed
from tqdm import tqdm

from cnngwp.atomic import atomic_write, tie_to_settings
from cnngwp.data.store import read_and_call, store
from cnngwp.models.metrics import member_interval, prediction_metrics
from cnngwp.models.saved_model import keras_archive
from cnngwp.seeds import ensemble_chunk_seed
from cnngwp.tuning.problem import PROBLEM_FOLDER, TuningProblem, fit_cnn
from cnngwp.tuning.search import Gamma
from cnngwp.tuning.settings import RunSettings, TrainingSettings

__all__ = ["MemberFit", "ModelAveragedEnsemble", "fit_ensemble", "fit_members"]


@dataclass(frozen=True)
class MemberFit:
    """One ensemble member's results.

    ``seed`` initialised the member's network (the estimator's ``member_seeds_``, :mod:`cnngwp.seeds`);
    ``validation_predictions`` are its predictions of the validation rows before any refit (rows it was not
    trained on: what the stack's weights are fitted on; under the paper protocol the test rows).
    """

    member: int
    seed: int
    best_epoch: int
    validation_mse: float
    seconds: float
    test_predictions: np.ndarray
    weights: np.ndarray
    history: pd.DataFrame
    network: bytes
    trait_mean: float
    trait_sd: float
    validation_predictions: np.ndarray

    def save(self, path: Path) -> None:
        """Write atomically as ``.npz``."""
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(
                    handle,
                    member=self.member,
                    seed=self.seed,
                    best_epoch=self.best_epoch,
                    validation_mse=self.validation_mse,
                    seconds=self.seconds,
                    test_predictions=self.test_predictions,
                    weights=self.weights,
                    train_mse=self.history["train_mse"].to_numpy(),
                    history_validation_mse=self.history["validation_mse"].to_numpy(),
                    network=np.frombuffer(self.network, dtype=np.uint8),
                    trait_mean=self.trait_mean,
                    trait_sd=self.trait_sd,
                    validation_predictions=self.validation_predictions,
                )

        atomic_write(path, write)

    @classmethod
    def load(cls, path: Path) -> MemberFit:
        with np.load(path) as f:
            history = pd.DataFrame(
                {
                    "epoch": np.arange(1, len(f["train_mse"]) + 1),
                    "train_mse": f["train_mse"],
                    "validation_mse": f["history_validation_mse"],
                }
            )
            return cls(
                int(f["member"]),
                int(f["seed"]),
                int(f["best_epoch"]),
                float(f["validation_mse"]),
                float(f["seconds"]),
                f["test_predictions"],
                f["weights"],
                history,
                f["network"].tobytes(),
                float(f["trait_mean"]),
                float(f["trait_sd"]),
                f["validation_predictions"],
            )


#: Version of the member files: 2 holds each member's network and trait scaling, 3 its validation predictions.
MEMBER_FORMAT = 3


def fit_members(
    problem: TuningProblem, gamma: Gamma, training: TrainingSettings, protocol: str, members: tuple[int, ...], seed: int
) -> list[MemberFit]:
    """Train a chunk of members with `gamma` in one estimator and predict the test rows once.

    The estimator (seeded `seed`, its members' seeds from :func:`cnngwp.seeds.member_seeds`) trains
    the chunk together in one network where Keras' backend sees a GPU and one by
    one otherwise (``ensemble_mode="auto"``). Under the honest protocol with
    ``training.refit`` each member chooses its number of epochs on the validation rows and
    is then refitted on every training row for that many epochs; its ``validation_mse`` is
    the one of the validation phase.
    """
    from cnngwp.models.cnn.network import output_weights

    start = time.perf_counter()
    model = fit_cnn(problem, gamma, training, protocol, seed, refit=True, n_members=len(members))
    seconds = (time.perf_counter() - start) / len(members)
    test = (
        model.predict_members(problem.X_test, covariates=problem.C_test)
        if len(problem.y_test)
        else np.empty((len(members), 0))
    )  # a final model (cnngwp fit) holds nothing out
    return [
        MemberFit(
            member,
            model.member_seeds_[i],
            model.best_epochs_[i],
            float(model.history_[i]["validation_mse"].min()),
            seconds,
            test[i],
            output_weights(model.members_[i]),
            model.history_[i],
            keras_archive(model.members_[i]),
            model.y_mean_,
            model.y_scale_,
            model.validation_predictions_[i],
        )
        for i, member in enumerate(members)
    ]


@dataclass(frozen=True)
class ModelAveragedEnsemble:
    """S members fitted with gamma_MA; the ensemble prediction is their mean.

    Attributes
    ----------
    members
        The :class:`MemberFit` of each member, in member order.
    y_test
        Observed test values.
    gamma, protocol, encoding
        What the members were fitted with (the encoding: ``TrainingSettings.encoding``).
    """

    members: list[MemberFit]
    y_test: np.ndarray
    gamma: Gamma
    protocol: str
    encoding: str = "additive"

    @property
    def member_predictions(self) -> np.ndarray:
        """Shape (S, n_test)."""
        return np.stack([m.test_predictions for m in self.members])

    def predict(self) -> np.ndarray:
        """Model-averaged test predictions."""
        return self.member_predictions.mean(axis=0)

    def validation_prediction(self) -> np.ndarray:
        """Model-averaged predictions of the validation rows by the members before any refit (rows they were not
        trained on)."""
        return np.mean([m.validation_predictions for m in self.members], axis=0)

    def prediction_interval(self, *, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles of the members' predictions: the spread of the averaged model, not of phenotypes."""
        return member_interval(self.member_predictions, level=level)

    def member_table(self) -> pd.DataFrame:
        """Per member: seed, best epoch, validation MSE (before any refit) and test metrics (after it; none when
        nothing is held out)."""

        def test_metrics(member: MemberFit) -> dict:
            if not len(self.y_test):
                return {}
            return {
                f"test_{k}": v
                for k, v in prediction_metrics(self.y_test, member.test_predictions).items()
            }

        return pd.DataFrame(
            [
                {
                    "member": m.member,
                    "seed": m.seed,
                    "best_epoch": m.best_epoch,
                    "validation_mse": m.validation_mse,
                    "seconds": m.seconds,
                    **test_metrics(m),
                }
                for m in self.members
            ]
        )

    def best_member(self) -> MemberFit:
        """The member with the lowest validation MSE (chosen without the test set under ``honest``)."""
        return min(self.members, key=lambda m: m.validation_mse)

    def metrics(self) -> dict:
        """MSE_MA, correlation and slope of the averaged prediction, the mean member MSE and interval width."""
        lower, upper = self.prediction_interval()
        members = self.member_table()
        return {
            **prediction_metrics(self.y_test, self.predict()),
            "mean_member_mse": float(members["test_mse"].mean()),
            "mean_interval_width": float(np.mean(upper - lower)),
        }

    def weight_map(self, n_snps: int) -> pd.DataFrame:
        """Output-layer weights averaged over members, mapped back to SNP index (the paper's Figure 1)."""
        from cnngwp.models.cnn.network import map_weights

        return map_weights(
            np.mean([m.weights for m in self.members], axis=0), n_snps, self.gamma.filters, self.encoding
        )


def _members_per_task(n_members: int) -> int:
    """:func:`cnngwp.models.cnn.device.members_per_task` on the worker that runs it."""
    from cnngwp.models.cnn.device import members_per_task

    return members_per_task(n_members)


def fit_ensemble(
    problem: TuningProblem,
    gamma: Gamma,
    client: Client,
    run_dir: str | os.PathLike,
    settings: RunSettings,
    *,
    progress: bool = True,
    chunk: int | None = None,
) -> ModelAveragedEnsemble:
    """Fit (or finish fitting) ``settings.n_members`` members with `gamma` on the Dask `client`.

    The missing members go to the workers in chunks of `chunk` members, one task and one
    estimator per chunk (:func:`fit_members`); the default, :func:`cnngwp.models.cnn.device.members_per_task`,
    sends them all as one task to a GPU worker and one by one to CPU workers. Members
    already saved under ``run_dir/members/`` are loaded, not refitted; the folder is tied
    to gamma, the training settings, protocol and seed by ``members/ensemble.json``.
    The workers read `problem` from ``run_dir/problem/`` as in :func:`cnngwp.tuning.search.tune`.

    Parameters
    ----------
    problem
        The run's arrays (:meth:`cnngwp.tuning.problem.TuningProblem.from_split`).
    gamma
        Filters, kernel size and lambda of every member (a run's gamma_MA).
    client, run_dir, settings
        The Dask client, the run folder and the run's settings (S, training, protocol, seed).
    progress
        Show a progress bar.
    chunk
        Members per Dask task (default: all at once on a GPU, one per task on CPUs).

    Returns
    -------
    ModelAveragedEnsemble
        The members with their test predictions, output weights and validation curves.
    """
    training, protocol, n_members, seed = (
        settings.training,
        settings.protocol,
        settings.n_members,
        settings.seed,
    )
    folder = Path(run_dir) / "members"
    folder.mkdir(parents=True, exist_ok=True)
    tie_to_settings(
        folder / "ensemble.json",
        {
            "gamma": gamma.as_dict(),
            "training": asdict(training),
            "protocol": protocol,
            "seed": seed,
            "problem": problem.name,
            "member_files": MEMBER_FORMAT,
        },
    )
    paths = [folder / f"member-{m:02d}.npz" for m in range(n_members)]
    fits = {m: MemberFit.load(path) for m, path in enumerate(paths) if path.exists()}
    missing = [m for m in range(n_members) if m not in fits]
    with tqdm(total=n_members, initial=len(fits), desc="ensemble", disable=not progress) as bar:
        if missing:
            shared = store(problem, Path(run_dir) / PROBLEM_FOLDER)
            size = (
                client.submit(_members_per_task, len(missing), pure=False).result()
                if chunk is None
                else chunk
            )
            chunks = [tuple(missing[i : i + size]) for i in range(0, len(missing), size)]
            futures = [
                client.submit(
                    read_and_call,
                    fit_members,
                    shared,
                    gamma,
                    training,
                    protocol,
                    members,
                    ensemble_chunk_seed(seed, members[0]),
                    pure=False,
                )
                for members in chunks
            ]
            for future in as_completed(futures):
                for fit in future.result():
                    fit.save(paths[fit.member])
                    fits[fit.member] = fit
                    bar.update(1)
    return ModelAveragedEnsemble(
        [fits[m] for m in range(n_members)], problem.y_test, gamma, protocol, training.encoding
    )
