"""How the estimator's networks are trained: one best-epoch rule and three loops that use it.

* :func:`train_keras`: one network with Keras' own ``fit``;
* :func:`train_numba`: one network with the fused CPU engine (:mod:`cnngwp.models.cnn.fused`);
* :func:`train_together`: S members inside one Keras network (``build_cnngwp(..., n_members=S)``): they share
  nothing but the input and the order of the mini-batches; the loss is the sum of the members' squared
  errors, so each member's gradient is the one it would get alone.

Each loop either trains to the best validation epoch (the weights of that epoch are kept;
:class:`BestEpoch` decides) or, for a refit, for a given number of epochs per member.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np

from cnngwp.models.cnn import fused
from cnngwp.models.cnn.network import (
    NetworkInputs,
    NetworkSpec,
    build_cnngwp,
    member_weights,
    network_with_weights,
    set_fixed_effect_start,
)
from cnngwp.seeds import seed_frameworks

__all__ = ["BestEpoch", "Trained", "TrainingRun", "train_keras", "train_numba", "train_together"]


class BestEpoch:
    """The early-stopping record every loop uses: the lowest validation MSE so far and its (1-based) epoch.

    After :meth:`observe`, ``stop`` says whether `patience` epochs have passed without a better
    validation MSE (never with ``patience=None``).
    """

    def __init__(self, patience: int | None):
        self.patience = patience
        self.mse = np.inf
        self.epoch = 0
        self.stop = False

    def observe(self, epoch: int, mse: float) -> bool:
        """Record epoch `epoch`'s validation MSE; True if it is the best so far (its weights are then kept)."""
        improved = mse < self.mse
        if improved:
            self.mse, self.epoch = mse, epoch
        self.stop = not improved and self.patience is not None and epoch - self.epoch >= self.patience
        return improved


class Trained(NamedTuple):
    """One trained network: the network, per-epoch training and validation MSE (rescaled trait), epoch kept."""

    model: keras.Model
    train: np.ndarray
    validation: np.ndarray | None
    best_epoch: int


@dataclass(frozen=True)
class TrainingRun:
    """What every loop needs besides the data.

    Attributes
    ----------
    spec
        The network (gamma, layout, input standardisation).
    learning_rate, batch_size, epochs, patience
        Adam's learning rate, batch size, epoch cap and the best-epoch rule's patience.
    seeds
        One seed per member (:func:`cnngwp.seeds.member_seeds`): initialisation and batch order.
    start
        Start of the fixed-effect term, ``(weights per standardised covariate, intercept)``, or None.
    """

    spec: NetworkSpec
    learning_rate: float
    batch_size: int
    epochs: int
    patience: int | None
    seeds: list[int]
    start: tuple[np.ndarray, float] | None = None

    def network(self, member: int, *, n_members: int = 1) -> keras.Model:
        """A new network (or stack of `n_members`) seeded with member `member`'s seed, the fixed effects started."""
        seed_frameworks(self.seeds[member])
        model = build_cnngwp(self.spec, seed=self.seeds[member], n_members=n_members)
        set_fixed_effect_start(model, self.start)
        return model


class _KeepBestEpoch(keras.callbacks.Callback):
    """:class:`BestEpoch` inside Keras' ``fit``: keeps the best epoch's weights in memory, stops on patience."""

    def __init__(self, patience: int | None):
        super().__init__()
        self.record = BestEpoch(patience)
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        if self.record.observe(epoch + 1, float(logs["val_mse"])):
            self.best_weights = self.model.get_weights()
        self.model.stop_training = self.record.stop

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def train_keras(run: TrainingRun, member: int, x: NetworkInputs, y: np.ndarray, *, validation=None,
                epochs: int | None = None) -> Trained:
    """Member `member` with Keras: to its best epoch on ``validation = (inputs, y)``, or for `epochs` epochs."""
    model = run.network(member)
    model.compile(optimizer=keras.optimizers.Adam(run.learning_rate), loss="mse", metrics=["mse"])
    if epochs is not None:
        history = model.fit(x.feed(), y, batch_size=run.batch_size, epochs=epochs, verbose=0, shuffle=True)
        return Trained(model, np.asarray(history.history["mse"]), None, epochs)
    best = _KeepBestEpoch(run.patience)
    history = model.fit(x.feed(), y, batch_size=run.batch_size, epochs=run.epochs,
                        validation_data=(validation[0].feed(), validation[1]), callbacks=[best], verbose=0,
                        shuffle=True)
    return Trained(model, np.asarray(history.history["mse"]), np.asarray(history.history["val_mse"]),
                   best.record.epoch)


def _standardised_covariates(run: TrainingRun, x: NetworkInputs) -> np.ndarray | None:
    return None if x.covariates is None else run.spec.covariates.transform(x.covariates, dtype=np.float32)


def train_numba(run: TrainingRun, member: int, x: NetworkInputs, y: np.ndarray, *, validation=None,
                epochs: int | None = None) -> Trained:
    """Member `member` with the fused engine; arguments as :func:`train_keras`. The result is a Keras network."""
    model = run.network(member)
    spec = run.spec
    mean, scale = spec.input_statistics()
    shape = fused.FusedLayout(spec.n_snps, spec.kernel_size, spec.channel_filters, mean=mean, scale=scale)
    weights = fused.from_network(model, shape)
    adam, rng = fused.AdamState(weights, run.learning_rate), np.random.default_rng(run.seeds[member])
    covariates = _standardised_covariates(run, x)
    rows = x.rows  # minibatches read straight from x.codes: the training rows are never copied out
    targets = np.zeros(len(x.codes), dtype=np.float32)
    targets[rows] = y
    if validation is not None:
        val_x = validation[0].gathered()
        val_covariates = _standardised_covariates(run, val_x)
    record, train, val, best_weights = BestEpoch(run.patience), [], [], None
    for epoch in range(1, (run.epochs if epochs is None else epochs) + 1):
        batches = fused.batched(rows[rng.permutation(len(rows))], run.batch_size)
        train.append(fused.train_epoch(x.codes, targets, batches, shape=shape, weights=weights, adam=adam, l1=spec.l1,
                                       covariates=covariates))
        if epochs is not None:
            continue
        predicted = fused.predict(val_x.codes, weights, shape=shape, covariates=val_covariates)
        val.append(float(np.mean((predicted.astype(np.float64) - validation[1]) ** 2)))
        if record.observe(epoch, val[-1]):
            best_weights = [w.copy() for w in weights]
        if record.stop:
            break
    fused.to_network(weights if best_weights is None else best_weights, model, shape)
    return Trained(model, np.asarray(train), None if epochs is not None else np.asarray(val),
                   epochs if epochs is not None else record.epoch)


def _summed_squared_error(y_true, y_pred):
    return keras.ops.sum(keras.ops.square(y_pred - keras.ops.reshape(y_true, (-1, 1))), axis=-1)


def _member_mse(member: int):
    def mse(y_true, y_pred):
        return keras.ops.square(y_pred[:, member] - keras.ops.reshape(y_true, (-1,)))

    return keras.metrics.MeanMetricWrapper(mse, name=f"mse_{member}")


class _MemberTracker(keras.callbacks.Callback):
    """Per member: a :class:`BestEpoch` and the weights of its best epoch (or of its given epoch, for a refit)."""

    def __init__(self, run: TrainingRun, n_members: int, *, validation=None, epochs=None):
        super().__init__()
        self.run, self.validation, self.epochs = run, validation, epochs
        self.records = [BestEpoch(run.patience) for _ in range(n_members)]
        self.curves: list[np.ndarray] = []
        self.saved: list[dict | None] = [None] * n_members

    def on_epoch_end(self, epoch, logs=None):
        if self.epochs is not None:
            for member in np.flatnonzero(np.asarray(self.epochs) == epoch + 1):
                self.saved[member] = member_weights(self.model, member, self.run.spec.channel_filters)
            return
        x_val, y_val = self.validation
        # the training batch size bounds the S x filters intermediate (gigabytes at batch 512)
        predicted = self.model.predict(x_val, batch_size=self.run.batch_size, verbose=0)
        mse = np.mean((predicted - y_val[:, None]) ** 2, axis=0)
        self.curves.append(mse)
        for member, record in enumerate(self.records):
            if record.observe(epoch + 1, mse[member]):
                self.saved[member] = member_weights(self.model, member, self.run.spec.channel_filters)
        self.model.stop_training = all(record.stop for record in self.records)


def train_together(run: TrainingRun, n_members: int, x: NetworkInputs, y: np.ndarray, *, validation=None,
                   epochs: list[int] | None = None) -> list[Trained]:
    """`n_members` members in one network; each keeps its best validation epoch (stopping when no member improved
    for ``run.patience`` epochs) or, with `epochs`, its weights after its own given epoch."""
    model = run.network(0, n_members=n_members)
    model.compile(optimizer=keras.optimizers.Adam(run.learning_rate), loss=_summed_squared_error,
                  metrics=[_member_mse(m) for m in range(n_members)])
    tracker = _MemberTracker(run, n_members, validation=None if validation is None else
                             (validation[0].feed(), validation[1]), epochs=epochs)
    history = model.fit(x.feed(), y, batch_size=run.batch_size, epochs=run.epochs if epochs is None else max(epochs),
                        callbacks=[tracker], verbose=0, shuffle=True)
    curves = np.array(tracker.curves) if tracker.curves else None
    return [Trained(network_with_weights(run.spec, tracker.saved[m]), np.asarray(history.history[f"mse_{m}"]),
                    None if curves is None else curves[:, m],
                    epochs[m] if epochs is not None else tracker.records[m].epoch) for m in range(n_members)]
