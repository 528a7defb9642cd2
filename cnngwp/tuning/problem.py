"""How one CNN of a run is trained: the run's arrays (``TuningProblem``) and ``fit_cnn``.

Shared by the Bayesian optimisation (:mod:`cnngwp.tuning.search`, which keeps the validation
MSE as its objective and never refits) and the model-averaged ensemble
(:mod:`cnngwp.tuning.ensemble`, whose members under the honest protocol choose their number of
epochs on the validation rows and are then refitted on every training row for that many
epochs). The settings they take, and the two protocols, are in :mod:`cnngwp.tuning.settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnngwp.data.covariates import CovariateDesign, check_full_rank
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.splits import Split, validation_split
from cnngwp.tuning.settings import TrainingSettings, check_protocol

if TYPE_CHECKING:
    from cnngwp.models.cnn.estimator import CNNGWPRegressor

__all__ = ["PROBLEM_FOLDER", "TuningProblem", "cnn_estimator", "fit_cnn", "fit_cnn_for_epochs"]

#: The folder of a run where the driver writes the run's arrays for the workers (:mod:`cnngwp.data.store`).
PROBLEM_FOLDER = "problem"

@dataclass(frozen=True)
class TuningProblem:
    """The arrays one tuning run needs: training rows, their validation part, and the test rows.

    Built once and sent to every Dask worker. The validation part is fixed for the whole
    run, so every BO evaluation and ensemble member is judged on the same rows. Under the
    honest protocol the test rows are only used by the final ensemble.

    Attributes
    ----------
    validation
        Positions within the training rows used for validation under the honest protocol:
        the youngest training generation where generations exist, else a seeded random
        fraction (:func:`cnngwp.data.splits.validation_split`).
    C_train, C_test
        Fixed-effect covariates of the training and test rows (design matrices), or None.
    validation_rule
        Which rows validate, in words (what reports say).
    by_generation
        Whether the validation rows are the youngest training generation (else a random fraction).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    validation: np.ndarray
    name: str
    C_train: np.ndarray | None = None
    C_test: np.ndarray | None = None
    validation_rule: str = "validation rows carved from the training rows"
    by_generation: bool = False

    @classmethod
    def from_split(cls, data: GenotypeData, split: Split, *, validation_fraction: float = 0.2, seed: int = 1,
                   covariates: CovariateDesign | None = None) -> TuningProblem:
        """The training and test rows of `split`, with the validation part drawn once.

        `covariates`, fitted on the training rows, gives both parts' fixed-effect design.
        """
        gen = data.generations
        inner = validation_split(None if gen is None else gen[split.train], fraction=validation_fraction, seed=seed,
                                 n=len(split.train), where=data.source)
        name = f"{data.source} {split.name} ({inner.name})"
        C_train = C_test = None
        if covariates is not None:
            C_train, C_test = covariates.for_rows(data, split.train), covariates.for_rows(data, split.test)
            check_full_rank(C_train, names=covariates.names)
            name += f" covariates {','.join(covariates.names)}"
        by_generation = inner.name.startswith("validation-generation-")
        rule = (f"the youngest training generation ({inner.name.removeprefix('validation-generation-')})"
                if by_generation else f"a seeded random {validation_fraction:.0%} of the training rows")
        return cls(data.genotypes[split.train], data.y[split.train], data.genotypes[split.test],
                   data.y[split.test], inner.test, name, C_train, C_test, rule, by_generation)

    @property
    def fit_rows(self) -> np.ndarray:
        """Positions within the training rows the networks are fitted on under the honest protocol."""
        return np.setdiff1d(np.arange(len(self.y_train)), self.validation)


def cnn_estimator(gamma, training: TrainingSettings, *, seed: int, n_members: int = 1,
                  refit: bool = False) -> CNNGWPRegressor:
    """An unfitted estimator of `n_members` CNNs with `gamma` (filters, kernel size, lambda), trained as `training`
    says.

    Parameters
    ----------
    gamma
        Filters, kernel size and lambda (:class:`cnngwp.tuning.search.Gamma`).
    training
        How each network trains (learning rate, batch size, epochs, patience, encoding).
    seed, n_members, refit
        The estimator's seed, its number of networks, and whether they are refitted on every training row.

    Returns
    -------
    cnngwp.models.cnn.estimator.CNNGWPRegressor
        The unfitted estimator.
    """
    from cnngwp.models.cnn.estimator import CNNGWPRegressor  # loads Keras: only where a network is built

    return CNNGWPRegressor(filters=int(gamma.filters), kernel_size=int(gamma.kernel_size), l1=float(gamma.l1),
                           learning_rate=training.learning_rate, batch_size=training.batch_size,
                           epochs=training.epochs, patience=training.patience, refit=refit, n_members=n_members,
                           encoding=training.encoding, seed=seed)


def fit_cnn(problem: TuningProblem, gamma, training: TrainingSettings, protocol: str, seed: int, *,
            refit: bool = False, n_members: int = 1, grow: CNNGWPRegressor | None = None) -> CNNGWPRegressor:
    """`n_members` CNNs with `gamma`, each kept at its best epoch on the validation rows (``paper``: the test rows).

    With ``refit=True`` and ``training.refit`` under the honest protocol, each network is
    then retrained on every training row for its best number of epochs. Several members
    train together in one network where Keras' backend sees a GPU, else one by one.
    `grow`: a model this function fitted on `problem` with the same settings, not refitted,
    whose members are kept as the first ones (a warm start), so only the others are trained.
    """
    check_protocol(protocol)
    model = cnn_estimator(gamma, training, seed=seed, n_members=n_members, refit=refit and training.refits(protocol))
    if grow is not None:
        model = grow.set_params(**{**model.get_params(), "warm_start": True})
    if protocol == "paper":
        model.fit(problem.X_train, problem.y_train, covariates=problem.C_train,
                  validation_data=(problem.X_test, problem.y_test, problem.C_test))
    else:
        model.fit(problem.X_train, problem.y_train, covariates=problem.C_train, validation_rows=problem.validation)
    return model.set_params(warm_start=False)


def fit_cnn_for_epochs(problem: TuningProblem, gamma, training: TrainingSettings, rows: np.ndarray, *,
                       seeds: list[int], epochs: list[int], y: np.ndarray | None = None) -> CNNGWPRegressor:
    """CNNs with `gamma` seeded `seeds`, each trained for its `epochs` on the training rows `rows` (positions; their
    targets `y`, default the trait) with their covariates: a run's refit, on other rows
    (:func:`cnngwp.models.cnn.estimator.fit_for_epochs`)."""
    from cnngwp.models.cnn.estimator import fit_for_epochs

    model = cnn_estimator(gamma, training, seed=0, n_members=len(seeds))
    C = None if problem.C_train is None else problem.C_train[rows]
    return fit_for_epochs(model, problem.X_train[rows], problem.y_train[rows] if y is None else y, seeds=seeds,
                          epochs=epochs, covariates=C)
