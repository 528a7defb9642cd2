"""The layers of the CNNGWP network and Table 1 of the paper."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from cnngwp.data import MISSING


def glorot_limit(fan_in: int, fan_out: int) -> float:
    """Bound of Keras' Glorot-uniform initialiser for the given fans."""
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


@keras.saving.register_keras_serializable(package="cnngwp")
class StandardizeColumns(keras.layers.Layer):
    """Non-trainable layer: (x - mean) / scale per column (the covariates of the fixed-effect term)."""

    def __init__(self, mean, scale, **kwargs):
        super().__init__(**kwargs)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)

    def call(self, inputs):
        return (keras.ops.cast(inputs, "float32") - self.mean) / self.scale

    def get_config(self):
        return {**super().get_config(), "mean": self.mean.tolist(), "scale": self.scale.tolist()}


@keras.saving.register_keras_serializable(package="cnngwp")
class StandardizeGenotypes(StandardizeColumns):
    """Non-trainable layer: (codes - mean) / scale, missing (-1) codes to 0, with a channel axis for Conv1D."""

    def call(self, inputs):
        codes = keras.ops.cast(inputs, "float32")
        z = (codes - self.mean) / self.scale
        return keras.ops.expand_dims(keras.ops.where(codes == MISSING, 0.0, z), -1)


def build_cnngwp(
    n_snps: int, *, filters: int, kernel_size: int, l1: float, strides: int = 2, pool_size: int = 2,
    mean: np.ndarray | None = None, scale: np.ndarray | None = None, seed: int = 0,
    covariate_mean: np.ndarray | None = None, covariate_scale: np.ndarray | None = None,
) -> keras.Model:
    """The CNNGWP network for `n_snps` inputs (int8 codes), with standardisation built in.

    With `covariate_mean` and `covariate_scale` (one value per covariate column) the
    network takes a second input, ``covariates``, standardised by them and fed to an
    unpenalised linear term without bias (layer ``fixed_effects``) added to the output
    layer's value. Its weights follow the output layer's: ``get_weights()`` is
    ``[conv kernel, conv bias, dense kernel, dense bias]`` plus the fixed-effect kernel.
    """
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
    if covariate_mean is None:
        return keras.Model(inputs, outputs, name="cnngwp")
    covariates = keras.Input(shape=(len(covariate_mean),), dtype="float32", name="covariates")
    c = StandardizeColumns(covariate_mean, covariate_scale, name="standardize_covariates")(covariates)
    fixed = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="fixed_effects")(c)
    outputs = keras.layers.Add(name="add_fixed_effects")([outputs, fixed])
    return keras.Model({"genotypes": inputs, "covariates": covariates}, outputs, name="cnngwp")


def model_summary(model: keras.Model) -> pd.DataFrame:
    """The paper's Table 1: layer, output shape and trainable parameters."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer | StandardizeColumns):
            continue
        trainable = int(sum(np.prod(w.shape) for w in layer.trainable_weights))
        rows.append({"layer": layer.name, "output_shape": tuple(layer.output.shape), "parameters": trainable})
    return pd.DataFrame(rows)
