"""The CNNGWP network (Waldmann et al. 2020) as a scikit-learn estimator on Keras.

Conv1D (linear activation, strides 2, "same" padding) -> MaxPooling1D(2) -> Flatten ->
Dense(1, linear, L1(lambda)); MSE loss; Adam. The int8 genotypes go into the model as
they are and are standardised by its first (non-trainable) layer with training-row
statistics, so no float copy of the genotype matrix is made.

The number of epochs is chosen by the validation MSE. By default (honest) the
validation rows are carved from the training rows: the youngest training generation
when generations are given, else a seeded random fraction. The paper's protocol passes
validation data explicitly (its published code passed the test set).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.base import BaseEstimator, RegressorMixin  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402

from cnngwp.data import MISSING, Standardizer, as_genotype_codes  # noqa: E402
from cnngwp.splits import validation_split  # noqa: E402


@keras.saving.register_keras_serializable(package="cnngwp")
class StandardizeGenotypes(keras.layers.Layer):
    """Non-trainable layer: (codes - mean) / scale, missing (-1) codes to 0."""

    def __init__(self, mean, scale, **kwargs):
        super().__init__(**kwargs)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)

    def call(self, inputs):
        codes = keras.ops.cast(inputs, "float32")
        z = (codes - self.mean) / self.scale
        return keras.ops.expand_dims(keras.ops.where(codes == MISSING, 0.0, z), -1)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean.tolist(), "scale": self.scale.tolist()}


def build_cnngwp(
    n_snps: int, *, filters: int, kernel_size: int, l1: float, strides: int = 2, pool_size: int = 2,
    mean: np.ndarray | None = None, scale: np.ndarray | None = None, seed: int = 0,
) -> keras.Model:
    """The CNNGWP network for `n_snps` inputs (int8 codes), with standardisation built in."""
    mean = np.zeros(n_snps) if mean is None else mean
    scale = np.ones(n_snps) if scale is None else scale
    inputs = keras.Input(shape=(n_snps,), dtype="int8", name="genotypes")
    z = StandardizeGenotypes(mean, scale, name="standardize")(inputs)
    x = keras.layers.Conv1D(filters, kernel_size, strides=strides, padding="same", activation="linear",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=seed), name="conv1d")(z)
    x = keras.layers.MaxPooling1D(pool_size, name="max_pooling1d")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(1, activation="linear", kernel_regularizer=keras.regularizers.L1(l1),
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
                                 name="dense")(x)
    return keras.Model(inputs, outputs, name="cnngwp")


def model_summary(model: keras.Model) -> pd.DataFrame:
    """The paper's Table 1: layer, output shape and trainable parameters."""
    rows = []
    for layer in model.layers[2:]:  # skip the input and the standardisation layer
        trainable = int(sum(np.prod(w.shape) for w in layer.trainable_weights))
        rows.append({"layer": layer.name, "output_shape": tuple(layer.output.shape), "parameters": trainable})
    return pd.DataFrame(rows)


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


class CNNGWPRegressor(RegressorMixin, BaseEstimator):
    """Sparse CNN for genome-wide prediction, optionally an ensemble of independently initialised members.

    Parameters
    ----------
    filters, kernel_size, l1
        gamma = (number of filters, kernel size, L1 penalty lambda of the output layer).
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
        included) for that many epochs.
    n_members
        Ensemble size S; members differ only by their initialisation and shuffling seed.
    seed
        Seeds initialisation, shuffling and the random validation split.

    Attributes
    ----------
    members_ : list of keras.Model
        The fitted networks.
    history_ : list of pandas.DataFrame
        Per member: epoch, train MSE, validation MSE.
    best_epochs_ : list of int
        Per member: the 1-based epoch with the lowest validation MSE.
    scaler_ : Standardizer
        Training-row statistics used by the networks' first layer.
    """

    def __init__(self, *, filters: int = 64, kernel_size: int = 27, l1: float = 0.571,
                 learning_rate: float = 2.5e-4, batch_size: int = 48, epochs: int = 250, strides: int = 2,
                 pool_size: int = 2, validation_fraction: float = 0.2, patience: int | None = None,
                 refit: bool = False, n_members: int = 1, seed: int = 0):
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
        self.seed = seed

    def _new_member(self, n_snps: int, member: int) -> keras.Model:
        keras.utils.set_random_seed(self.seed * 1000 + member)
        model = build_cnngwp(n_snps, filters=self.filters, kernel_size=self.kernel_size, l1=self.l1,
                             strides=self.strides, pool_size=self.pool_size, mean=self.scaler_.mean_,
                             scale=self.scaler_.scale_, seed=self.seed * 1000 + member)
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse", metrics=["mse"])
        return model

    def fit(self, X, y, *, generations=None, validation_data=None) -> CNNGWPRegressor:
        """Train the member networks, each restored to its best validation epoch.

        Parameters
        ----------
        X
            int8 genotype codes (missing -1), n x p.
        y
            Trait values.
        generations
            Optional generation of each row: the youngest becomes the validation part.
        validation_data
            ``(X_val, y_val)`` given explicitly (the paper's protocol passes the test
            set here, which makes its test error optimistic).
        """
        X, y = validate_data(self, X, y, dtype="numeric", y_numeric=True)
        X = as_genotype_codes(X, "X")
        y = y.astype(np.float32)
        if validation_data is None:
            split = validation_split(generations, fraction=self.validation_fraction, seed=self.seed, n=len(y))
            fit_rows, val_rows = split.train, split.test
            X_val, y_val = X[val_rows], y[val_rows]
        else:
            fit_rows = np.arange(len(y))
            X_val = as_genotype_codes(validation_data[0], "validation_data[0]")
            y_val = np.asarray(validation_data[1], dtype=np.float32)
        self.scaler_ = Standardizer().fit(X, fit_rows)
        self.y_mean_ = float(y[fit_rows].mean())
        self.members_, self.history_, self.best_epochs_ = [], [], []
        for member in range(self.n_members):
            model = self._new_member(X.shape[1], member)
            best = _BestEpoch(self.patience)
            history = model.fit(X[fit_rows], y[fit_rows] - self.y_mean_, batch_size=self.batch_size,
                                epochs=self.epochs, validation_data=(X_val, y_val - self.y_mean_),
                                callbacks=[best], verbose=0, shuffle=True)
            self.history_.append(pd.DataFrame({"epoch": np.arange(1, len(history.history["mse"]) + 1),
                                               "train_mse": history.history["mse"],
                                               "validation_mse": history.history["val_mse"]}))
            self.best_epochs_.append(best.best_epoch + 1)
            if self.refit and validation_data is None:
                model = self._new_member(X.shape[1], member)
                model.fit(X, y - self.y_mean_, batch_size=self.batch_size, epochs=best.best_epoch + 1,
                          verbose=0, shuffle=True)
            self.members_.append(model)
        return self

    def predict_members(self, X) -> np.ndarray:
        """Predictions of every member, shape (n_members, n)."""
        check_is_fitted(self, "members_")
        X = as_genotype_codes(validate_data(self, X, dtype="numeric", reset=False), "X")
        return np.stack([m.predict(X, batch_size=256, verbose=0)[:, 0] + self.y_mean_ for m in self.members_])

    def predict(self, X) -> np.ndarray:
        """Ensemble mean prediction."""
        return self.predict_members(X).mean(axis=0)

    def prediction_interval(self, X, *, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper quantiles of the members' predictions (the ensemble's spread)."""
        members = self.predict_members(X)
        alpha = (1 - level) / 2
        return np.quantile(members, alpha, axis=0), np.quantile(members, 1 - alpha, axis=0)

    def summary(self) -> pd.DataFrame:
        """Table 1 of the paper for the fitted network."""
        check_is_fitted(self, "members_")
        return model_summary(self.members_[0])

    def weight_map(self) -> pd.DataFrame:
        """Output-layer weights averaged over members and mapped back to SNP positions.

        Returns
        -------
        pandas.DataFrame
            One row per weight: ``weight_index``, ``position`` (after pooling),
            ``filter``, ``snp_index`` (weight index / (weights per SNP), the
            paper's mapping) and ``weight``.
        """
        check_is_fitted(self, "members_")
        weights = np.mean([m.get_layer("dense").get_weights()[0][:, 0] for m in self.members_], axis=0)
        n_weights, n_snps = len(weights), self.n_features_in_
        index = np.arange(n_weights)
        return pd.DataFrame({
            "weight_index": index,
            "position": index // self.filters,
            "filter": index % self.filters,
            "snp_index": np.minimum((index * n_snps / n_weights).astype(np.int64), n_snps - 1),
            "weight": weights,
        })


def snp_weight_summary(weight_map: pd.DataFrame) -> pd.DataFrame:
    """Per SNP index: sum and mean absolute value of the mapped weights."""
    grouped = weight_map.groupby("snp_index")["weight"]
    return pd.DataFrame({"weight_sum": grouped.sum(), "mean_abs_weight": grouped.apply(lambda w: w.abs().mean())})
