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

import keras
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from cnngwp.data import Standardizer, as_genotype_codes
from cnngwp.members import train_members_together
from cnngwp.model_layers import build_cnngwp, model_summary
from cnngwp.splits import validation_split

__all__ = ["CNNGWPRegressor", "build_cnngwp", "feature_maps", "map_weights", "model_summary", "output_weights", "snp_weight_summary"]


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
        The default 20 stopped the honest default-data run after 79 of 250 epochs with
        the same best validation MSE (``benchmarks/bench_cnn.py``).
    refit
        After choosing the best epoch, retrain on all training rows (validation rows
        included) for that many epochs.
    n_members
        Ensemble size S; members differ only by their initialisation and shuffling seed.
    ensemble_mode
        ``"sequential"``: members train one after another; ``"together"``: inside one
        network (:mod:`cnngwp.members`; members then share the mini-batch order);
        ``"auto"``: together when TensorFlow sees a GPU, else sequential, because on
        CPUs the S x filters intermediate is memory-bound and batching does not pay
        (``benchmarks/bench_cnn.py`` measures both).
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
                 pool_size: int = 2, validation_fraction: float = 0.2, patience: int | None = 20,
                 refit: bool = False, n_members: int = 1, ensemble_mode: str = "auto", seed: int = 0):
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
        self.seed = seed

    def _together(self) -> bool:
        if self.ensemble_mode not in ("auto", "sequential", "together"):
            raise ValueError(f"ensemble_mode must be 'auto', 'sequential' or 'together'; got {self.ensemble_mode!r}")
        if self.ensemble_mode == "auto":
            return self.n_members > 1 and bool(tf_gpus())
        return self.ensemble_mode == "together" and self.n_members > 1

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
        refit = self.refit and validation_data is None
        y_fit, y_val = y[fit_rows] - self.y_mean_, y_val - self.y_mean_
        if self._together():
            self._fit_together(X, y, X[fit_rows], y_fit, (X_val, y_val), refit)
        else:
            self._fit_sequential(X, y, X[fit_rows], y_fit, (X_val, y_val), refit)
        return self

    def _fit_sequential(self, X, y, x_fit, y_fit, validation, refit: bool) -> None:
        self.members_, self.history_, self.best_epochs_ = [], [], []
        for member in range(self.n_members):
            model = self._new_member(X.shape[1], member)
            best = _BestEpoch(self.patience)
            history = model.fit(x_fit, y_fit, batch_size=self.batch_size, epochs=self.epochs,
                                validation_data=validation, callbacks=[best], verbose=0, shuffle=True)
            self.history_.append(self._history(history.history["mse"], history.history["val_mse"]))
            self.best_epochs_.append(best.best_epoch + 1)
            if refit:
                model = self._new_member(X.shape[1], member)
                model.fit(X, y - self.y_mean_, batch_size=self.batch_size, epochs=best.best_epoch + 1,
                          verbose=0, shuffle=True)
            self.members_.append(model)

    def _fit_together(self, X, y, x_fit, y_fit, validation, refit: bool) -> None:
        settings = {"n_members": self.n_members, "filters": self.filters, "kernel_size": self.kernel_size,
                    "l1": self.l1, "strides": self.strides, "pool_size": self.pool_size, "mean": self.scaler_.mean_,
                    "scale": self.scaler_.scale_, "learning_rate": self.learning_rate,
                    "batch_size": self.batch_size, "epochs": self.epochs, "seed": self.seed * 1000}
        models, train, val, best = train_members_together(x_fit, y_fit, validation=validation,
                                                          patience=self.patience, **settings)
        self.history_ = [self._history(train[:, m], val[:, m]) for m in range(self.n_members)]
        self.best_epochs_ = best
        if refit:
            models, _, _, _ = train_members_together(X, y - self.y_mean_, snapshot_epochs=best, **settings)
        self.members_ = models

    @staticmethod
    def _history(train_mse, validation_mse) -> pd.DataFrame:
        return pd.DataFrame({"epoch": np.arange(1, len(train_mse) + 1), "train_mse": train_mse,
                             "validation_mse": validation_mse})

    def predict_members(self, X) -> np.ndarray:
        """Predictions of every member, shape (n_members, n)."""
        check_is_fitted(self, "members_")
        X = as_genotype_codes(validate_data(self, X, dtype="numeric", reset=False), "X")
        return np.stack([_predict_eagerly(m, X) + self.y_mean_ for m in self.members_])

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


def _predict_eagerly(model: keras.Model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predictions in batches of direct calls: ``Model.predict`` traces a new graph for every model and
    final batch shape, which TensorFlow reports as excessive retracing once many models are fitted."""
    return np.concatenate([np.asarray(model(X[i:i + batch_size], training=False))[:, 0]
                           for i in range(0, len(X), batch_size)])


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


def tf_gpus() -> list:
    """GPUs TensorFlow can use (empty on CPU-only machines)."""
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def snp_weight_summary(weight_map: pd.DataFrame) -> pd.DataFrame:
    """Per SNP index: sum and mean absolute value of the mapped weights."""
    grouped = weight_map.groupby("snp_index")["weight"]
    return pd.DataFrame({"weight_sum": grouped.sum(), "mean_abs_weight": grouped.apply(lambda w: w.abs().mean())})
