"""Training S ensemble members inside one network ("together" mode of CNNGWPRegressor).

The members share nothing but the input and the order of the mini-batches: one Conv1D
with S x filters channels holds every member's filters, max-pooling acts per channel,
and a per-member output layer (each with its own L1 penalty) gives S predictions. The
loss is the sum of the members' squared errors, so each member's gradient is the one it
would get alone. Each member keeps the weights of its own best validation epoch; the
result is returned as S ordinary single-member networks. Fixed-effect covariates get one
unpenalised linear term per member (a Dense(S) without bias on the standardised covariates).
"""

from __future__ import annotations

import keras
import numpy as np

from cnngwp.model_layers import StandardizeColumns, StandardizeGenotypes, build_cnngwp, glorot_limit


@keras.saving.register_keras_serializable(package="cnngwp")
class MemberDense(keras.layers.Layer):
    """S independent Dense(1) heads with L1 penalty: (batch, positions, S, filters) -> (batch, S)."""

    def __init__(self, n_members: int, l1: float, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.n_members, self.l1, self.seed = n_members, l1, seed

    def build(self, input_shape):
        _, positions, members, filters = input_shape
        limit = glorot_limit(positions * filters, 1)
        self.kernel = self.add_weight(
            shape=(positions, members, filters), name="kernel",
            initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
            regularizer=keras.regularizers.L1(self.l1),
        )
        self.bias = self.add_weight(shape=(members,), name="bias", initializer="zeros")

    def call(self, inputs):
        return keras.ops.einsum("blsf,lsf->bs", inputs, self.kernel) + self.bias

    def get_config(self):
        return {**super().get_config(), "n_members": self.n_members, "l1": self.l1, "seed": self.seed}


def build_member_stack(
    n_snps: int, n_members: int, *, filters: int, kernel_size: int, l1: float, strides: int, pool_size: int,
    mean: np.ndarray, scale: np.ndarray, seed: int, covariate_mean: np.ndarray | None = None,
    covariate_scale: np.ndarray | None = None,
) -> keras.Model:
    """One network holding `n_members` CNNGWP members; output (batch, n_members)."""
    inputs = keras.Input(shape=(n_snps,), dtype="int8", name="genotypes")
    z = StandardizeGenotypes(mean, scale, name="standardize")(inputs)
    limit = glorot_limit(kernel_size, kernel_size * filters)  # as one member's Conv1D
    x = keras.layers.Conv1D(n_members * filters, kernel_size, strides=strides, padding="same", activation="linear",
                            kernel_initializer=keras.initializers.RandomUniform(-limit, limit, seed=seed),
                            name="conv1d")(z)
    x = keras.layers.MaxPooling1D(pool_size, name="max_pooling1d")(x)
    x = keras.layers.Reshape((-1, n_members, filters), name="members")(x)
    outputs = MemberDense(n_members, l1, seed=seed + 1, name="dense")(x)
    if covariate_mean is None:
        return keras.Model(inputs, outputs, name="cnngwp_members")
    covariates = keras.Input(shape=(len(covariate_mean),), dtype="float32", name="covariates")
    c = StandardizeColumns(covariate_mean, covariate_scale, name="standardize_covariates")(covariates)
    fixed = keras.layers.Dense(n_members, use_bias=False, kernel_initializer="zeros", name="fixed_effects")(c)
    outputs = keras.layers.Add(name="add_fixed_effects")([outputs, fixed])
    return keras.Model({"genotypes": inputs, "covariates": covariates}, outputs, name="cnngwp_members")


def _member_weights(weights: list[np.ndarray], member: int, filters: int) -> list[np.ndarray]:
    """Weights of one member as an ordinary CNNGWP network (conv kernel, conv bias, dense kernel, dense bias
    and, with covariates, the fixed-effect kernel)."""
    conv_kernel, conv_bias, dense_kernel, dense_bias, *fixed = weights
    channels = slice(member * filters, (member + 1) * filters)
    return [conv_kernel[..., channels], conv_bias[channels], dense_kernel[:, member, :].reshape(-1, 1),
            dense_bias[member : member + 1], *(f[:, member : member + 1] for f in fixed)]


class _MemberTracker(keras.callbacks.Callback):
    """Per member: validation MSE each epoch, weights of its best epoch (or of a fixed epoch)."""

    def __init__(self, n_members, filters, batch_size, *, validation=None, patience=None, snapshot_epochs=None):
        super().__init__()
        self.n_members, self.filters, self.batch_size = n_members, filters, batch_size
        self.validation, self.patience, self.snapshot_epochs = validation, patience, snapshot_epochs
        self.curves: list[np.ndarray] = []
        self.best_mse = np.full(n_members, np.inf)
        self.best_epoch = np.zeros(n_members, dtype=int)
        self.saved: list[list[np.ndarray] | None] = [None] * n_members

    def on_epoch_end(self, epoch, logs=None):
        weights = self.model.get_weights()
        if self.snapshot_epochs is not None:
            for member in np.flatnonzero(np.asarray(self.snapshot_epochs) == epoch + 1):
                self.saved[member] = _member_weights(weights, member, self.filters)
            return
        x_val, y_val = self.validation
        # the training batch size bounds the S x filters intermediate (gigabytes at batch 512)
        predicted = self.model.predict(x_val, batch_size=self.batch_size, verbose=0)
        mse = np.mean((predicted - y_val[:, None]) ** 2, axis=0)
        self.curves.append(mse)
        for member in np.flatnonzero(mse < self.best_mse):
            self.best_mse[member], self.best_epoch[member] = mse[member], epoch + 1
            self.saved[member] = _member_weights(weights, member, self.filters)
        if self.patience is not None and np.all(epoch + 1 - self.best_epoch >= self.patience):
            self.model.stop_training = True


def _summed_squared_error(y_true, y_pred):
    return keras.ops.sum(keras.ops.square(y_pred - keras.ops.reshape(y_true, (-1, 1))), axis=-1)


def _member_mse(member: int):
    def mse(y_true, y_pred):
        return keras.ops.square(y_pred[:, member] - keras.ops.reshape(y_true, (-1,)))

    return keras.metrics.MeanMetricWrapper(mse, name=f"mse_{member}")


def train_members_together(
    x, y, *, n_members: int, filters: int, kernel_size: int, l1: float, strides: int, pool_size: int,
    mean: np.ndarray, scale: np.ndarray, learning_rate: float, batch_size: int, epochs: int, seed: int,
    validation=None, patience: int | None = None, snapshot_epochs=None, covariate_mean=None, covariate_scale=None,
    fixed_effects=None,
):
    """Train the members in one network.

    `x` is the codes, or ``{"genotypes": codes, "covariates": values}`` with
    `covariate_mean` / `covariate_scale` and the start of the fixed-effect term,
    ``fixed_effects = (weights per standardised covariate, intercept)``.

    With ``validation=(x_val, y_val)`` each member keeps its best validation epoch
    (patience: stop when no member improved for that many epochs); with
    ``snapshot_epochs`` each member keeps its weights after its given epoch.

    Returns
    -------
    models : list of keras.Model
        Ordinary single-member networks.
    train_curves : numpy.ndarray
        (epochs run, n_members) training MSE.
    validation_curves : numpy.ndarray or None
        (epochs run, n_members) validation MSE.
    best_epochs : list of int
        1-based epoch whose weights each member kept.
    """
    keras.utils.set_random_seed(seed)
    n_snps = len(mean)
    network = {"filters": filters, "kernel_size": kernel_size, "l1": l1, "strides": strides, "pool_size": pool_size,
               "mean": mean, "scale": scale, "covariate_mean": covariate_mean, "covariate_scale": covariate_scale}
    model = build_member_stack(n_snps, n_members, seed=seed, **network)
    if fixed_effects is not None:
        weights = model.get_weights()
        weights[3][:] = fixed_effects[1]
        weights[4][:] = np.asarray(fixed_effects[0])[:, None]
        model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=_summed_squared_error,
                  metrics=[_member_mse(m) for m in range(n_members)])
    tracker = _MemberTracker(n_members, filters, batch_size, validation=validation, patience=patience,
                             snapshot_epochs=snapshot_epochs)
    run_epochs = epochs if snapshot_epochs is None else int(max(snapshot_epochs))
    history = model.fit(x, y, batch_size=batch_size, epochs=run_epochs, callbacks=[tracker], verbose=0,
                        shuffle=True)
    train = np.column_stack([history.history[f"mse_{m}"] for m in range(n_members)])
    models = []
    for member in range(n_members):
        single = build_cnngwp(n_snps, **network)
        single.set_weights(tracker.saved[member])
        models.append(single)
    best = list(snapshot_epochs) if snapshot_epochs is not None else tracker.best_epoch.tolist()
    return models, train, (np.array(tracker.curves) if tracker.curves else None), best
