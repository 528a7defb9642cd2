"""The CNNGWP network (Waldmann et al. 2020) as a scikit-learn estimator on Keras.

Conv1D (linear activation, strides 2, "same" padding) -> MaxPooling1D(2) -> Flatten ->
Dense(1, linear, L1(lambda)); MSE loss; Adam. The int8 genotypes go into the model as
they are and are standardised by its first (non-trainable) layer with training-row
statistics, so no float copy of the genotype matrix is made.

Fixed-effect covariates (sex, litter, ...) enter as an unpenalised linear term beside
the output layer, trained jointly with the network from the least-squares start.

The number of epochs is chosen by the validation MSE. By default (honest) the
validation rows are carved from the training rows: the youngest training generation
when generations are given, else a seeded random fraction. The paper's protocol passes
validation data explicitly (its published code passed the test set).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import keras
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from cnngwp import fused
from cnngwp.covariates import as_covariate_matrix
from cnngwp.data import Standardizer, as_genotype_codes
from cnngwp.errors import CnngwpInputError
from cnngwp.members import train_members_together
from cnngwp.model_layers import build_cnngwp, model_summary
from cnngwp.splits import validation_split

__all__ = [
    "ENGINES",
    "CNNGWPRegressor",
    "NetworkInputs",
    "accelerator_available",
    "build_cnngwp",
    "feature_maps",
    "map_weights",
    "member_interval",
    "model_summary",
    "network_predictions",
    "output_weights",
    "snp_weight_summary",
]


class _Trained(NamedTuple):
    """One trained member: its network, per-epoch training and validation MSE (rescaled trait), epoch kept."""

    model: keras.Model
    train: np.ndarray
    validation: np.ndarray | None
    best_epoch: int


class _BestEpoch(keras.callbacks.Callback):
    """Keep the weights of the epoch with the lowest validation MSE in memory; optional patience."""

    def __init__(self, patience: int | None):
        super().__init__()
        self.patience = patience
        self.best_mse = np.inf
        self.best_epoch = -1
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        mse = float(logs["val_mse"])
        if mse < self.best_mse:
            self.best_mse, self.best_epoch = mse, epoch
            self.best_weights = self.model.get_weights()
        elif self.patience is not None and epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


ENGINES = ("auto", "keras", "numba")
#: The networks fit the trait rescaled to mean 0 and this standard deviation.
TARGET_SD = 10.0


class CNNGWPRegressor(RegressorMixin, BaseEstimator):
    """Sparse CNN for genome-wide prediction, optionally an ensemble of independently initialised members.

    The networks are fitted to the trait rescaled to mean 0 and standard deviation
    ``TARGET_SD`` = 10 (training mean and SD; predictions are transformed back), so the
    L1 penalty lambda and the learning rate mean the same on any trait. 10 is about the SD
    of the QTLMAS2010 trait the paper tuned on, so its gamma and learning rate carry over
    unchanged; a lambda in another trait's own units converts as
    ``lambda_here = lambda_trait * 10 / sd(y)``.

    Parameters
    ----------
    filters, kernel_size, l1
        gamma = (number of filters, kernel size, L1 penalty lambda of the output layer, on
        the rescaled trait).
    learning_rate, batch_size, epochs
        Adam learning rate, batch size and maximum epochs (paper: 2.5e-4, 48, 250).
    strides, pool_size
        Convolution strides and max-pooling size (paper: 2 and 2).
    validation_fraction
        Share of the training rows used for validation when no generations are given.
    patience
        Stop after this many epochs without a better validation MSE; None trains all epochs.
    refit
        After choosing the best epoch, retrain on all training rows (validation rows
        included) for that many epochs, from the same initial weights. Not done when
        ``validation_data`` is given (the paper's protocol).
    n_members
        Ensemble size S; members differ only by their initialisation and shuffling seed.
    ensemble_mode
        ``"sequential"``: members train one after another; ``"together"``: inside one
        Keras network (:mod:`cnngwp.members`; members then share the mini-batch order);
        ``"auto"``: together when Keras' backend sees a GPU, else sequential, because on
        CPUs the S x filters intermediate is memory-bound and batching does not pay.
    engine
        ``"numba"``: the fused CPU engine (:mod:`cnngwp.fused`, about 4x faster per epoch
        than Keras on a CPU); ``"keras"``: Keras' own training loop; ``"auto"``: numba
        unless Keras' backend sees a GPU or members train together. The numba engine
        implements strides 2 and pooling 2 (the paper's layout); other settings train with
        Keras, with a warning when numba was asked for. Either way the members are Keras
        networks.
    seed
        Seeds initialisation, shuffling and the random validation split.

    Attributes
    ----------
    members_ : list of keras.Model
        The fitted networks (outputs on the rescaled trait); with covariates they take
        ``{"genotypes": codes, "covariates": values}``.
    history_ : list of pandas.DataFrame
        Per member: epoch, train MSE, validation MSE (in the trait's units).
    best_epochs_ : list of int
        Per member: the 1-based epoch with the lowest validation MSE.
    refitted_ : bool
        Whether the members were refitted on all training rows.
    engine_ : str
        The engine that trained the members.
    scaler_ : Standardizer
        Genotype statistics used by the networks' first layer (of the rows the final
        members were trained on).
    y_mean_, y_scale_ : float
        Mean and standard deviation of the trait over those rows.
    n_covariates_ : int
        Number of covariate columns the networks take (0: none).
    """

    def __init__(self, *, filters: int = 64, kernel_size: int = 27, l1: float = 0.571,
                 learning_rate: float = 2.5e-4, batch_size: int = 48, epochs: int = 250, strides: int = 2,
                 pool_size: int = 2, validation_fraction: float = 0.2, patience: int | None = 20,
                 refit: bool = False, n_members: int = 1, ensemble_mode: str = "auto", engine: str = "auto",
                 seed: int = 0):
        self.filters = filters
        self.kernel_size = kernel_size
        self.l1 = l1
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.strides = strides
        self.pool_size = pool_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.refit = refit
        self.n_members = n_members
        self.ensemble_mode = ensemble_mode
        self.engine = engine
        self.seed = seed

    def _together(self) -> bool:
        if self.ensemble_mode not in ("auto", "sequential", "together"):
            raise ValueError(f"ensemble_mode must be 'auto', 'sequential' or 'together'; got {self.ensemble_mode!r}")
        if self.ensemble_mode == "auto":
            return self.n_members > 1 and self.engine != "numba" and accelerator_available()
        return self.ensemble_mode == "together" and self.n_members > 1

    def _resolve_engine(self, together: bool) -> str:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}; got {self.engine!r}")
        if self.engine == "keras" or together:
            if self.engine == "numba":
                raise ValueError("engine='numba' trains members one after another; use ensemble_mode='sequential' "
                                 "or engine='keras' for members trained together")
            return "keras"
        covered = fused.supports(strides=self.strides, pool_size=self.pool_size)
        if self.engine == "numba" and not covered:
            warnings.warn(f"engine='numba' implements strides 2 and pool_size 2 only (got strides {self.strides}, "
                          f"pool_size {self.pool_size}); training with Keras instead", UserWarning, stacklevel=3)
        if not covered or (self.engine == "auto" and accelerator_available()):
            return "keras"
        return "numba"

    def _network_settings(self) -> dict:
        covariates = self.covariate_scaler_
        return {"filters": self.filters, "kernel_size": self.kernel_size, "l1": self.l1, "strides": self.strides,
                "pool_size": self.pool_size, "mean": self.scaler_.mean_, "scale": self.scaler_.scale_,
                "covariate_mean": None if covariates is None else covariates.mean_,
                "covariate_scale": None if covariates is None else covariates.scale_}

    def _new_member(self, n_snps: int, member: int, start, *, compile: bool = True) -> keras.Model:
        keras.utils.set_random_seed(self.seed * 1000 + member)
        model = build_cnngwp(n_snps, seed=self.seed * 1000 + member, **self._network_settings())
        if start is not None:
            weights = model.get_weights()
            weights[3][:] = start[1]
            weights[4][:, 0] = start[0]
            model.set_weights(weights)
        if compile:
            model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse", metrics=["mse"])
        return model

    def _set_scaling(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray, covariates: np.ndarray | None) -> None:
        self.scaler_ = Standardizer().fit(X, rows)
        self.y_mean_ = float(y[rows].mean())
        spread = float(y[rows].std())
        self.y_scale_ = spread if spread > 0 else 1.0
        self.covariate_scaler_ = None if covariates is None else Standardizer().fit(covariates, rows)

    def _standardised(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.y_mean_) * (TARGET_SD / self.y_scale_)).astype(np.float32)

    def fit(self, X, y, *, covariates=None, generations=None, validation_rows=None,
            validation_data=None) -> CNNGWPRegressor:
        """Train the member networks, each restored to its best validation epoch (or refitted for that many).

        Parameters
        ----------
        X
            int8 genotype codes (missing -1), n x p.
        y
            Trait values.
        covariates
            Optional fixed-effect covariates, n x q numbers (a design matrix such as
            :meth:`cnngwp.covariates.CovariateDesign.transform` gives, without an intercept
            column). Standardised with the fitted rows' statistics inside the networks; their
            linear term starts at the least-squares estimate and trains without penalty.
        generations
            Optional generation of each row: the youngest becomes the validation part.
        validation_rows
            Optional positions of the rows of `X` to validate on (the rest are fitted);
            overrides `generations`.
        validation_data
            ``(X_val, y_val)``, or ``(X_val, y_val, covariates_val)``, given explicitly; all
            rows of `X` are fitted and nothing is refitted (the paper's protocol passes the
            test set here, which makes its test error optimistic).
        """
        X, y = validate_data(self, X, y, dtype="numeric", y_numeric=True)
        X = as_genotype_codes(X, "X")
        y = np.asarray(y, dtype=np.float64)
        C = as_covariate_matrix(covariates, len(y))
        self.n_covariates_ = C.shape[1]
        C = C if self.n_covariates_ else None
        if validation_data is not None and validation_rows is not None:
            raise ValueError("give validation_rows or validation_data, not both")
        if validation_data is not None:
            fit_rows = np.arange(len(y))
            X_val = as_genotype_codes(validation_data[0], "validation_data[0]")
            y_val = np.asarray(validation_data[1], dtype=np.float64)
            C_val = self._covariates_for(validation_data[2] if len(validation_data) > 2 else None, len(y_val))
        else:
            if validation_rows is None:
                split = validation_split(generations, fraction=self.validation_fraction, seed=self.seed, n=len(y))
                fit_rows, val_rows = split.train, split.test
            else:
                val_rows = np.unique(np.asarray(validation_rows, dtype=np.int64))
                if len(val_rows) == 0 or val_rows[0] < 0 or val_rows[-1] >= len(y) or len(val_rows) == len(y):
                    raise ValueError(f"validation_rows: expected some, not all, of the positions 0..{len(y) - 1}; "
                                     f"got {len(val_rows)} position(s) from {val_rows[:1]} to {val_rows[-1:]}")
                fit_rows = np.setdiff1d(np.arange(len(y)), val_rows)
            X_val, y_val, C_val = X[val_rows], y[val_rows], None if C is None else C[val_rows]
        together = self._together()
        self.engine_ = self._resolve_engine(together)
        self._set_scaling(X, y, fit_rows, C)
        fit_scale = self.y_scale_ / TARGET_SD
        trained = self._train(NetworkInputs(X[fit_rows], None if C is None else C[fit_rows]),
                              self._standardised(y[fit_rows]),
                              validation=(NetworkInputs(X_val, C_val), self._standardised(y_val)), together=together)
        self.history_ = [pd.DataFrame({"epoch": np.arange(1, len(t.train) + 1), "train_mse": t.train * fit_scale**2,
                                       "validation_mse": t.validation * fit_scale**2}) for t in trained]
        self.best_epochs_ = [t.best_epoch for t in trained]
        self.refitted_ = bool(self.refit and validation_data is None)
        if self.refitted_:
            self._set_scaling(X, y, np.arange(len(y)), C)
            trained = self._train(NetworkInputs(X, C), self._standardised(y), epochs=self.best_epochs_, together=together)
        self.members_ = [t.model for t in trained]
        return self

    def _covariates_for(self, covariates, n: int) -> np.ndarray | None:
        """`covariates` checked against the number of columns the networks were fitted with (None for none)."""
        C = as_covariate_matrix(covariates, n, fitted=self.n_covariates_)
        return C if self.n_covariates_ else None

    def _initial_fixed_effects(self, x: NetworkInputs, y: np.ndarray) -> tuple[np.ndarray, float] | None:
        """Least-squares start of the fixed-effect term: (weights per standardised covariate, intercept)."""
        if x.covariates is None:
            return None
        z = self.covariate_scaler_.transform(x.covariates, dtype=np.float64)
        solution = np.linalg.lstsq(np.column_stack([np.ones(len(y)), z]), y.astype(np.float64), rcond=None)[0]
        return solution[1:], float(solution[0])

    def _train(self, x: NetworkInputs, y, *, together: bool, validation=None, epochs: list[int] | None = None) -> list[_Trained]:
        """Train every member on (x, y): to its best validation epoch, or for its given number of epochs."""
        start = self._initial_fixed_effects(x, y)
        if together:
            settings = {**self._network_settings(), "n_members": self.n_members, "learning_rate": self.learning_rate,
                        "batch_size": self.batch_size, "epochs": self.epochs, "seed": self.seed * 1000,
                        "fixed_effects": start}
            models, train, val, best = train_members_together(x.feed(), y, patience=self.patience,
                                                              validation=None if validation is None else
                                                              (validation[0].feed(), validation[1]),
                                                              snapshot_epochs=epochs, **settings)
            return [_Trained(models[m], train[:, m], None if val is None else val[:, m], best[m])
                    for m in range(self.n_members)]
        train_one = self._train_numba if self.engine_ == "numba" else self._train_keras
        return [train_one(x, y, member, start, validation, None if epochs is None else epochs[member])
                for member in range(self.n_members)]

    def _train_keras(self, x: NetworkInputs, y, member: int, start, validation, epochs: int | None) -> _Trained:
        model = self._new_member(x.codes.shape[1], member, start)
        if epochs is not None:
            history = model.fit(x.feed(), y, batch_size=self.batch_size, epochs=epochs, verbose=0, shuffle=True)
            return _Trained(model, np.asarray(history.history["mse"]), None, epochs)
        best = _BestEpoch(self.patience)
        history = model.fit(x.feed(), y, batch_size=self.batch_size, epochs=self.epochs,
                            validation_data=(validation[0].feed(), validation[1]), callbacks=[best], verbose=0,
                            shuffle=True)
        return _Trained(model, np.asarray(history.history["mse"]), np.asarray(history.history["val_mse"]),
                        best.best_epoch + 1)

    def _train_numba(self, x: NetworkInputs, y, member: int, start, validation, epochs: int | None) -> _Trained:
        model = self._new_member(x.codes.shape[1], member, start, compile=False)
        shape = fused.FusedShape(x.codes.shape[1], self.kernel_size, self.filters)
        weights = fused.from_keras_weights(model.get_weights(), shape)
        statistics = {"mean": self.scaler_.mean_.astype(np.float32), "scale": self.scaler_.scale_.astype(np.float32),
                      "shape": shape}
        adam, rng = fused.AdamState(weights), np.random.default_rng(self.seed * 1000 + member)
        covariates = self._standardised_covariates(x)
        val_covariates = None if validation is None else self._standardised_covariates(validation[0])
        train, val = [], []
        best_mse, best_epoch, best_weights = np.inf, epochs or 0, None
        for epoch in range(self.epochs if epochs is None else epochs):
            train.append(fused.train_epoch(x.codes, y, rng.permutation(len(y)), weights=weights, adam=adam, l1=self.l1,
                                           learning_rate=self.learning_rate, batch_size=self.batch_size,
                                           covariates=covariates, **statistics))
            if epochs is not None:
                continue
            predicted = fused.predict(validation[0].codes, weights, covariates=val_covariates, **statistics)
            val.append(float(np.mean((predicted.astype(np.float64) - validation[1]) ** 2)))
            if val[-1] < best_mse:
                best_mse, best_epoch, best_weights = val[-1], epoch + 1, [w.copy() for w in weights]
            elif self.patience is not None and epoch + 1 - best_epoch >= self.patience:
                break
        model.set_weights(fused.to_keras_weights(weights if best_weights is None else best_weights, shape))
        return _Trained(model, np.asarray(train), np.asarray(val) if epochs is None else None, best_epoch)

    def _standardised_covariates(self, x: NetworkInputs) -> np.ndarray | None:
        if x.covariates is None:
            return None
        return self.covariate_scaler_.transform(x.covariates, dtype=np.float32)

    def predict_members(self, X, *, covariates=None) -> np.ndarray:
        """Predictions of every member, shape (n_members, n); `covariates` as in :meth:`fit`."""
        check_is_fitted(self, "members_")
        X = as_genotype_codes(validate_data(self, X, dtype="numeric", reset=False), "X")
        inputs = NetworkInputs(X, self._covariates_for(covariates, len(X)))
        return network_predictions(self.members_, inputs, [(self.y_mean_, self.y_scale_)] * len(self.members_))

    def predict(self, X, *, covariates=None) -> np.ndarray:
        """Ensemble mean prediction."""
        return self.predict_members(X, covariates=covariates).mean(axis=0)

    def prediction_interval(self, X, *, covariates=None, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper quantiles of the members' predictions (the ensemble's spread)."""
        return member_interval(self.predict_members(X, covariates=covariates), level=level)

    def summary(self) -> pd.DataFrame:
        """Table 1 of the paper for the fitted network."""
        check_is_fitted(self, "members_")
        return model_summary(self.members_[0])

    def weight_map(self) -> pd.DataFrame:
        """Output-layer weights averaged over members and mapped back to SNP positions (:func:`map_weights`)."""
        check_is_fitted(self, "members_")
        return map_weights(np.mean([output_weights(m) for m in self.members_], axis=0), self.n_features_in_,
                           self.filters)


def output_weights(model: keras.Model) -> np.ndarray:
    """The flattened output-layer (dense) weights of one network, bias excluded."""
    return model.get_layer("dense").get_weights()[0][:, 0]


def map_weights(weights: np.ndarray, n_snps: int, filters: int) -> pd.DataFrame:
    """Output-layer weights laid out by (position, filter) and mapped back to SNP index.

    Returns
    -------
    pandas.DataFrame
        One row per weight: ``weight_index``, ``position`` (after pooling),
        ``filter``, ``snp_index`` (weight index / (weights per SNP), the paper's
        mapping, e.g. 155,584 / 9,723 = 16.0) and ``weight``.
    """
    weights = np.asarray(weights)
    index = np.arange(len(weights))
    return pd.DataFrame({
        "weight_index": index,
        "position": index // filters,
        "filter": index % filters,
        "snp_index": np.minimum((index * n_snps / len(weights)).astype(np.int64), n_snps - 1),
        "weight": weights,
    })


class NetworkInputs(NamedTuple):
    """The networks' inputs for some rows: int8 codes and, when the model has them, the raw covariates."""

    codes: np.ndarray
    covariates: np.ndarray | None = None

    def feed(self, rows: slice = slice(None)):
        """What a Keras network of this model takes for `rows`: the codes, or a dict with the covariates."""
        if self.covariates is None:
            return self.codes[rows]
        return {"genotypes": self.codes[rows], "covariates": self.covariates[rows].astype(np.float32)}


def _predict_eagerly(model: keras.Model, inputs: NetworkInputs, batch_size: int = 256) -> np.ndarray:
    """Predictions in batches of direct calls: ``Model.predict`` traces a new graph for every model and
    final batch shape, which TensorFlow reports as excessive retracing once many models are fitted."""
    n = len(inputs.codes)
    if n == 0:
        return np.empty(0, dtype=np.float32)
    return np.concatenate([np.asarray(model(inputs.feed(slice(i, i + batch_size)), training=False))[:, 0]
                           for i in range(0, n, batch_size)])


def network_predictions(networks: list[keras.Model], inputs: NetworkInputs,
                        target_scaling: list[tuple[float, float]]) -> np.ndarray:
    """Predictions in the trait's units of each network (shape (S, n)), given each one's (trait mean, trait SD)."""
    return np.stack([_predict_eagerly(model, inputs).astype(np.float64) * (scale / TARGET_SD) + mean
                     for model, (mean, scale) in zip(networks, target_scaling, strict=True)])


def member_interval(member_predictions: np.ndarray, *, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper quantiles of members' predictions (S, n): the spread of the averaged model.

    Raises
    ------
    CnngwpInputError
        If `level` is not strictly between 0 and 1.
    """
    if not 0.0 < level < 1.0:
        raise CnngwpInputError(f"interval level must be between 0 and 1 (e.g. 0.9 for 90 %), got {level}")
    alpha = (1 - level) / 2
    return (np.quantile(member_predictions, alpha, axis=0), np.quantile(member_predictions, 1 - alpha, axis=0))


def feature_maps(model: keras.Model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The convolution output and the max-pooled output of one network for the rows of `X`.

    Returns
    -------
    tuple of numpy.ndarray
        ``(convolution, pooled)``, shapes (n, positions, filters) and (n, positions // pool, filters).
    """
    probe = keras.Model(model.inputs, [model.get_layer("conv1d").output, model.get_layer("max_pooling1d").output])
    convolution, pooled = probe({"genotypes": as_genotype_codes(X, "X")})
    return np.asarray(convolution), np.asarray(pooled)


def accelerator_available() -> bool:
    """Whether the configured Keras backend sees a GPU (TensorFlow, JAX or PyTorch; imported only if configured)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


def snp_weight_summary(weight_map: pd.DataFrame) -> pd.DataFrame:
    """Per SNP index: sum and mean absolute value of the mapped weights."""
    grouped = weight_map.groupby("snp_index")["weight"]
    return pd.DataFrame({"weight_sum": grouped.sum(), "mean_abs_weight": grouped.apply(lambda w: w.abs().mean())})
