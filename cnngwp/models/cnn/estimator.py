"""The CNNGWP network (Waldmann et al. 2020) as a scikit-learn estimator on Keras.

Conv1D (linear activation, strides 2, "same" padding) -> MaxPooling1D(2) -> Flatten ->
Dense(1, linear, L1(lambda)); MSE loss; Adam. The int8 genotypes go into the model as
they are and are standardised by its first (non-trainable) layer with training-row
statistics, so no float copy of the genotype matrix is made. The network is built in
:mod:`cnngwp.models.cnn.network`, trained by the loops of :mod:`cnngwp.models.cnn.training`
on the engine :func:`cnngwp.models.cnn.device.place` chooses.

Fixed-effect covariates (sex, litter, ...) enter as an unpenalised linear term beside
the output layer, trained jointly with the network from the least-squares start.

The number of epochs is chosen by the validation MSE. By default (honest) the
validation rows are carved from the training rows: the youngest training generation
when generations are given, else a seeded random fraction. The paper's protocol passes
validation data explicitly (its published code passed the test set).
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from cnngwp.data.covariates import as_covariate_matrix
from cnngwp.data.genotypes import Standardizer, as_genotype_codes
from cnngwp.data.splits import validation_split
from cnngwp.errors import CnngwpInputError
from cnngwp.models.cnn.device import Placement, place
from cnngwp.models.cnn.network import (
    ENCODINGS,
    TARGET_SD,
    NetworkInputs,
    NetworkSpec,
    map_weights,
    model_summary,
    network_predictions,
    output_weights,
)
from cnngwp.models.cnn.training import Trained, TrainingRun, train_keras, train_numba, train_together
from cnngwp.models.metrics import member_interval
from cnngwp.models.paper import (
    PAPER_BATCH_SIZE,
    PAPER_EPOCHS,
    PAPER_FILTERS,
    PAPER_KERNEL_SIZE,
    PAPER_L1,
    PAPER_LEARNING_RATE,
)
from cnngwp.seeds import member_seeds

__all__ = ["CNNGWPRegressor", "fit_for_epochs", "held_out_prediction"]

# One fit at a time per process: Keras seeds are process-global, and each engine already uses every core the process
# was given (a Dask worker's threads, an estimator that fits others inside its own fit: hence re-entrant).
_FIT_LOCK = threading.RLock()


def _one_fit_at_a_time(method):
    """`method` holding :data:`_FIT_LOCK` while it runs."""
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _FIT_LOCK:
            return method(*args, **kwargs)
    return locked


class CNNGWPRegressor(RegressorMixin, BaseEstimator):
    """Sparse CNN for genome-wide prediction, optionally an ensemble of independently initialised members.

    The networks fit the trait rescaled to mean 0 and SD ``TARGET_SD`` = 10 (about the SD of
    the QTLMAS2010 trait the paper tuned on), so lambda and the learning rate mean the same
    on any trait; a lambda in a trait's own units converts as ``lambda * 10 / sd(y)``.

    Parameters
    ----------
    filters, kernel_size, l1
        gamma = (filters, kernel size, L1 penalty lambda of the output layer on the rescaled trait).
    encoding
        ``"additive"`` (the 0/1/2 codes: the paper's network) or ``"genotypic"`` (a heterozygote channel beside
        them, with filters of its own: :data:`cnngwp.models.cnn.network.ENCODINGS`).
    learning_rate, batch_size, epochs, strides, pool_size
        Adam's learning rate, batch size, epoch cap, convolution strides, pooling (paper: 2.5e-4, 48, 250, 2, 2).
    validation_fraction
        Share of the training rows used for validation when no generations are given.
    patience
        Stop after this many epochs without a better validation MSE; None trains all epochs.
    refit
        Retrain on all training rows for the best number of epochs, from the same initial
        weights (not with ``validation_data``, the paper's protocol).
    n_members
        Ensemble size S; members differ only by their initialisation and shuffling seed.
    warm_start
        Keep the members of a previous, not refitted fit on the same rows and train only those `n_members` adds (as
        scikit-learn's ensembles do); on the CPU engines, what a fresh fit trains. Chapter 8's study grows its λ so.
    ensemble_mode, engine
        ``"sequential"``/``"together"``/``"auto"`` and ``"numba"``/``"keras"``/``"auto"``: see
        :func:`cnngwp.models.cnn.device.place` (auto: the fused numba engine one member after
        another on CPUs, members together in one Keras network on a GPU).
    seed
        Seeds initialisation, shuffling and the random validation split.

    Attributes
    ----------
    members_ : list of keras.Model
        The fitted networks (outputs on the rescaled trait).
    member_seeds_ : list of int
        The seed of each member's network (:func:`cnngwp.seeds.member_seeds`).
    history_ : list of pandas.DataFrame
        Per member: epoch, train MSE, validation MSE (in the trait's units).
    best_epochs_ : list of int
        Per member: the 1-based epoch with the lowest validation MSE.
    validation_predictions_, validation_rows_ : numpy.ndarray
        Per member (rows), its predictions of the validation rows at its best epoch, before any refit; and the
        positions of those rows among the training rows (None with ``validation_data``).
    engine_, refitted_ : str, bool
        The engine that trained the members; whether they were refitted on all training rows.
    scaler_, covariate_scaler_, heterozygote_scaler_ : Standardizer
        Statistics of the networks' inputs (of the rows the final members were trained on; None where unused).
    y_mean_, y_scale_, n_covariates_ : float, float, int
        Trait mean and SD over those rows; the covariate columns the networks take (0: none).
    """

    def __init__(self, *, filters: int = PAPER_FILTERS, kernel_size: int = PAPER_KERNEL_SIZE, l1: float = PAPER_L1,
                 learning_rate: float = PAPER_LEARNING_RATE, batch_size: int = PAPER_BATCH_SIZE,
                 epochs: int = PAPER_EPOCHS, strides: int = 2, pool_size: int = 2, validation_fraction: float = 0.2,
                 patience: int | None = 20, refit: bool = False, n_members: int = 1, ensemble_mode: str = "auto",
                 engine: str = "auto", encoding: str = "additive", warm_start: bool = False, seed: int = 0):
        self.filters, self.kernel_size, self.l1, self.encoding = filters, kernel_size, l1, encoding
        self.learning_rate, self.batch_size, self.epochs = learning_rate, batch_size, epochs
        self.strides, self.pool_size, self.warm_start = strides, pool_size, warm_start
        self.validation_fraction, self.patience, self.refit = validation_fraction, patience, refit
        self.n_members, self.ensemble_mode, self.engine, self.seed = n_members, ensemble_mode, engine, seed

    @_one_fit_at_a_time
    def fit(self, X, y, *, covariates=None, generations=None, validation_rows=None,
            validation_data=None) -> CNNGWPRegressor:
        """Train the members, each restored to its best validation epoch (or refitted for that many).

        `X`: int8 codes (missing -1), n x p; `y`: the trait; `covariates`: optional n x q
        fixed-effect design (no intercept column); `generations`: the youngest validates;
        `validation_rows`: positions of `X` to validate on instead; `validation_data`:
        ``(X_val, y_val[, covariates_val])`` given explicitly, all rows of `X` fitted and
        nothing refitted (the paper's protocol passes the test set here: optimistic).
        """
        X, y = validate_data(self, X, y, dtype="numeric", y_numeric=True)
        if self.encoding not in ENCODINGS:
            raise CnngwpInputError(f"encoding={self.encoding!r}: expected one of {sorted(ENCODINGS)}")
        X, y = as_genotype_codes(X, "X"), np.asarray(y, dtype=np.float64)
        C = as_covariate_matrix(covariates, len(y))
        self.n_covariates_ = C.shape[1]
        C = C if self.n_covariates_ else None
        fit_rows, self.validation_rows_, (X_val, y_val, C_val) = _validation_part(
            self, X, y, C, generations, validation_rows, validation_data)
        placement = _placement(self, self.n_members)
        kept = _kept_members(self)
        self.engine_, self.member_seeds_ = placement.engine, member_seeds(self.seed, self.n_members)
        run = self._training_run(X, y, C, fit_rows, self.member_seeds_[len(kept[0]):])
        trained = _train(run, placement, NetworkInputs(X, C, fit_rows), self._rescaled(y[fit_rows]),
                         validation=(NetworkInputs(X_val, C_val), self._rescaled(y_val))) if run.seeds else []
        self.members_ = [t.model for t in _record_first_stage(self, kept, trained, NetworkInputs(X_val, C_val))]
        self.refitted_ = bool(self.refit and validation_data is None)
        if self.refitted_:
            _train_for_epochs(self, X, y, C, self.member_seeds_, self.best_epochs_)
        return self

    def _training_run(self, X, y, C, rows, seeds: list[int]) -> TrainingRun:
        """Fit the input and trait statistics on `rows`; the training settings and fixed-effect start of the
        members seeded by `seeds`."""
        self.scaler_ = Standardizer().fit(X, rows)
        self.y_mean_, spread = float(y[rows].mean()), float(y[rows].std())
        self.y_scale_ = spread if spread > 0 else 1.0
        self.covariate_scaler_ = None if C is None else Standardizer().fit(C, rows)
        self.heterozygote_scaler_ = (Standardizer().fit(X, rows, heterozygotes=True) if self.encoding == "genotypic"
                                     else None)
        spec = NetworkSpec(X.shape[1], self.filters, self.kernel_size, self.l1, self.strides, self.pool_size,
                           self.scaler_, self.covariate_scaler_, self.heterozygote_scaler_)
        start = None
        if C is not None:  # least squares of the rescaled trait on the standardised covariates
            z = self.covariate_scaler_.transform(C[rows], dtype=np.float64)
            solution = np.linalg.lstsq(np.column_stack([np.ones(len(rows)), z]),
                                       self._rescaled(y[rows]).astype(np.float64), rcond=None)[0]
            start = (solution[1:], float(solution[0]))
        return TrainingRun(spec, self.learning_rate, self.batch_size, self.epochs, self.patience, seeds, start)

    def _rescaled(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.y_mean_) * (TARGET_SD / self.y_scale_)).astype(np.float32)

    def predict_members(self, X, *, covariates=None) -> np.ndarray:
        """Predictions of every member, shape (n_members, n); `covariates` as in :meth:`fit`."""
        check_is_fitted(self, "members_")
        X = as_genotype_codes(validate_data(self, X, dtype="numeric", reset=False), "X")
        C = as_covariate_matrix(covariates, len(X), fitted=self.n_covariates_)
        return _trait_predictions(self, self.members_, NetworkInputs(X, C if self.n_covariates_ else None))

    def predict(self, X, *, covariates=None) -> np.ndarray:
        """Ensemble mean prediction."""
        return self.predict_members(X, covariates=covariates).mean(axis=0)

    def held_out_prediction(self, X, y, rows, *, covariates=None) -> np.ndarray:
        """`rows` of the training rows predicted by networks not trained on them (:func:`held_out_prediction`)."""
        return held_out_prediction(self, X, y, rows, covariates=covariates)

    def prediction_interval(self, X, *, covariates=None, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper quantiles of the members' predictions (the ensemble's spread)."""
        return member_interval(self.predict_members(X, covariates=covariates), level=level)

    def summary(self) -> pd.DataFrame:
        """Table 1 of the paper for the fitted network."""
        check_is_fitted(self, "members_")
        return model_summary(self.members_[0])

    def weight_map(self) -> pd.DataFrame:
        """Output weights averaged over members, mapped to SNPs (:func:`cnngwp.models.cnn.network.map_weights`)."""
        check_is_fitted(self, "members_")
        return map_weights(np.mean([output_weights(m) for m in self.members_], axis=0), self.n_features_in_,
                           self.filters, self.encoding)


def fit_for_epochs(model: CNNGWPRegressor, X, y, *, seeds: list[int], epochs: list[int],
                   covariates=None) -> CNNGWPRegressor:
    """Fit `model`'s members on every row of `X`, `y`: the networks seeded `seeds`, each trained for its number of
    `epochs` with no validation rows, as a refit trains them. Returns `model` (`n_members` is ``len(seeds)``).

    A fitted model's ``member_seeds_`` and ``best_epochs_`` retrain its refit on other rows: what the stack's
    inner cross-fit does (:func:`cnngwp.tuning.combined.cross_fitted_part`). Histories and validation predictions
    are not set: there are no validation rows.
    """
    if len(seeds) != len(epochs) or not seeds:
        raise ValueError(f"one number of epochs per seed expected; got {len(seeds)} seeds and {len(epochs)} epochs")
    model.set_params(n_members=len(seeds))
    X, y = validate_data(model, X, y, dtype="numeric", y_numeric=True)
    X, y = as_genotype_codes(X, "X"), np.asarray(y, dtype=np.float64)
    C = as_covariate_matrix(covariates, len(y))
    model.n_covariates_, model.member_seeds_, model.best_epochs_ = C.shape[1], list(seeds), list(epochs)
    with _FIT_LOCK:
        _train_for_epochs(model, X, y, C if model.n_covariates_ else None, model.member_seeds_, model.best_epochs_)
    model.refitted_ = True
    return model


def held_out_prediction(model: CNNGWPRegressor, X, y, rows, *, covariates=None) -> np.ndarray:
    """The training rows `rows` predicted by `model`'s networks not trained on them (what a stack's weights are fitted
    on).

    Where `rows` are the validation rows, the members' validation predictions at their best epochs, before their
    refit; otherwise the same networks (seeds) retrained for their chosen epochs on the other rows
    (:func:`fit_for_epochs`), so the rows that chose those epochs are never the ones predicted.

    Parameters
    ----------
    model
        A fitted :class:`CNNGWPRegressor`.
    X, y, covariates
        The training rows `model` was fitted on (`y`: the target it was fitted to).
    rows
        Positions of the rows to predict.

    Returns
    -------
    numpy.ndarray
        The members' mean prediction of each row of `rows`.
    """
    check_is_fitted(model, "members_")
    rows = np.asarray(rows, dtype=np.int64)
    if model.validation_rows_ is not None and np.array_equal(rows, model.validation_rows_):
        return model.validation_predictions_.mean(axis=0)
    C = as_covariate_matrix(covariates, len(y))
    C = C if C.shape[1] else None
    kept = np.setdiff1d(np.arange(len(y)), rows)
    refit = fit_for_epochs(clone(model), np.asarray(X)[kept], np.asarray(y, dtype=np.float64)[kept],
                           seeds=model.member_seeds_, epochs=model.best_epochs_,
                           covariates=None if C is None else C[kept])
    return refit.predict(np.asarray(X)[rows], covariates=None if C is None else C[rows])


def _placement(model: CNNGWPRegressor, n_members: int) -> Placement:
    return place(n_members=n_members, engine=model.engine, ensemble_mode=model.ensemble_mode, strides=model.strides,
                 pool_size=model.pool_size)


def _train_for_epochs(model: CNNGWPRegressor, X, y, C, seeds: list[int], epochs: list[int]) -> None:
    """Set `model`'s members to the networks seeded `seeds` trained on every row for `epochs` (the refit stage)."""
    placement = _placement(model, len(seeds))
    model.engine_ = placement.engine
    run = model._training_run(X, y, C, np.arange(len(y)), seeds)
    model.members_ = [t.model for t in _train(run, placement, NetworkInputs(X, C), model._rescaled(y), epochs=epochs)]


def _record_first_stage(model: CNNGWPRegressor, kept: tuple, trained: list[Trained],
                        validation: NetworkInputs) -> list[Trained]:
    """Set `model`'s histories, best epochs and validation predictions from the `kept` members
    (:func:`_kept_members`) and the newly `trained` ones; every member, kept ones first."""
    scale = (model.y_scale_ / TARGET_SD) ** 2
    model.history_ = kept[1] + [pd.DataFrame({"epoch": np.arange(1, len(t.train) + 1), "train_mse": t.train * scale,
                                              "validation_mse": t.validation * scale}) for t in trained]
    model.best_epochs_ = kept[2] + [t.best_epoch for t in trained]
    new = [_trait_predictions(model, [t.model for t in trained], validation)] if trained else []
    model.validation_predictions_ = np.concatenate([*kept[3], *new])
    return [Trained(network, None, None, epoch) for network, epoch in zip(kept[0], kept[2], strict=True)] + trained


def _kept_members(model: CNNGWPRegressor) -> tuple[list, list, list, list]:
    """What a warm start keeps of `model`'s previous fit: its networks, histories, best epochs and validation
    predictions (all empty without a warm start or a previous fit)."""
    if not (model.warm_start and hasattr(model, "members_")):
        return [], [], [], []
    if model.refitted_ or len(model.members_) > model.n_members:
        raise ValueError(f"warm_start extends the members of a fit that was not refitted, to n_members >= "
                         f"{len(model.members_)}; the previous fit was {'refitted' if model.refitted_ else 'larger'}")
    return (list(model.members_), list(model.history_), list(model.best_epochs_), [model.validation_predictions_])


def _trait_predictions(model: CNNGWPRegressor, networks: list, inputs: NetworkInputs) -> np.ndarray:
    """Each of `networks`' predictions of `inputs` in the trait's units (`model`'s trait scaling), shape (S, n)."""
    return network_predictions(networks, inputs, [(model.y_mean_, model.y_scale_)] * len(networks))


def _validation_part(model: CNNGWPRegressor, X, y, C, generations, validation_rows, validation_data):
    """The rows `model` fits, the positions of its validation rows (None with `validation_data`) and its validation
    data ``(X, y, covariates)`` (arguments of ``fit``)."""
    if validation_data is not None and validation_rows is not None:
        raise ValueError("give validation_rows or validation_data, not both")
    if validation_data is not None:
        y_val = np.asarray(validation_data[1], dtype=np.float64)
        C_val = as_covariate_matrix(validation_data[2] if len(validation_data) > 2 else None, len(y_val),
                                    fitted=model.n_covariates_)
        return np.arange(len(y)), None, (as_genotype_codes(validation_data[0], "validation_data[0]"), y_val,
                                         C_val if model.n_covariates_ else None)
    if validation_rows is None:
        split = validation_split(generations, fraction=model.validation_fraction, seed=model.seed, n=len(y))
        fit_rows, val_rows = split.train, split.test
    else:
        val_rows = np.unique(np.asarray(validation_rows, dtype=np.int64))
        if len(val_rows) == 0 or val_rows[0] < 0 or val_rows[-1] >= len(y) or len(val_rows) == len(y):
            raise ValueError(f"validation_rows: expected some, not all, of the positions 0..{len(y) - 1}; "
                             f"got {len(val_rows)} position(s) from {val_rows[:1]} to {val_rows[-1:]}")
        fit_rows = np.setdiff1d(np.arange(len(y)), val_rows)
    return fit_rows, val_rows, (X[val_rows], y[val_rows], None if C is None else C[val_rows])


def _train(run: TrainingRun, placement: Placement, x: NetworkInputs, y: np.ndarray, *, validation=None,
           epochs: list[int] | None = None) -> list[Trained]:
    """Every member on (x, y): to its best validation epoch, or for its given number of epochs."""
    n_members = len(run.seeds)
    if placement.together:
        return train_together(run, n_members, x, y, validation=validation, epochs=epochs)
    train_one = train_numba if placement.engine == "numba" else train_keras
    return [train_one(run, member, x, y, validation=validation, epochs=None if epochs is None else epochs[member])
            for member in range(n_members)]
