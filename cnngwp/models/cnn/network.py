"""The CNNGWP network: its layers, the one builder (one member or S members in one network), Table 1 of the
paper, the output-layer weights mapped back to SNPs, and predictions in the trait's units.

Weights are always reached by layer name (``conv1d``, ``dense``, ``fixed_effects``), never by
position in ``get_weights()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np
import pandas as pd

from cnngwp.data.genotypes import MISSING, Standardizer, as_genotype_codes

__all__ = [
    "ENCODINGS",
    "TARGET_SD",
    "GroupedConv1D",
    "MemberDense",
    "NetworkInputs",
    "NetworkSpec",
    "StandardizeColumns",
    "StandardizeGenotypes",
    "build_cnngwp",
    "channel_filters",
    "feature_maps",
    "glorot_limit",
    "load_network",
    "map_weights",
    "member_weights",
    "model_summary",
    "network_predictions",
    "network_with_weights",
    "output_weights",
    "set_fixed_effect_start",
    "snp_weight_summary",
]

#: The networks fit the trait rescaled to mean 0 and this standard deviation.
TARGET_SD = 10.0
#: The CNN's input encodings and the channels each feeds the convolution. ``genotypic`` adds the heterozygote
#: indicator (1 for code 1, else 0; standardised like the codes), so a heterozygote effect, which is what dominance
#: is, gets weights of its own; each channel has its own group of filters (a grouped convolution), so a filter
#: reads one channel and the output layer's weights belong to one channel each. The channels share gamma's filters
#: out (:func:`channel_filters`), so a genotypic network costs and weighs what an additive one does.
ENCODINGS = {"additive": ("additive",), "genotypic": ("additive", "heterozygote")}


def channel_filters(filters: int, encoding: str) -> int:
    """Filters per input channel of a network with gamma's `filters`: ceil(filters / channels)."""
    return -(-filters // len(ENCODINGS[encoding]))


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
    """Non-trainable layer: (codes - mean) / scale as channel 0 for Conv1D; with `heterozygotes` = (mean, scale)
    of the heterozygote indicator, that indicator standardised as channel 1. Missing (-1) calls are 0 in both."""

    def __init__(self, mean, scale, heterozygotes=None, **kwargs):
        super().__init__(mean, scale, **kwargs)
        self.heterozygotes = None if heterozygotes is None else [np.asarray(v, dtype=np.float32)
                                                                 for v in heterozygotes]

    def call(self, inputs):
        codes = keras.ops.cast(inputs, "float32")
        channels = [(codes - self.mean) / self.scale]
        if self.heterozygotes is not None:
            mean, scale = self.heterozygotes
            channels.append((keras.ops.cast(codes == 1.0, "float32") - mean) / scale)
        return keras.ops.stack([keras.ops.where(codes == MISSING, 0.0, z) for z in channels], axis=-1)

    def get_config(self):
        return {**super().get_config(), "heterozygotes": None if self.heterozygotes is None else
                [v.tolist() for v in self.heterozygotes]}


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
            shape=(positions, members, filters),
            name="kernel",
            initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
            regularizer=keras.regularizers.L1(self.l1),
        )
        self.bias = self.add_weight(shape=(members,), name="bias", initializer="zeros")

    def call(self, inputs):
        return keras.ops.einsum("blsf,lsf->bs", inputs, self.kernel) + self.bias

    def get_config(self):
        return {**super().get_config(), "n_members": self.n_members, "l1": self.l1, "seed": self.seed}


@keras.saving.register_keras_serializable(package="cnngwp")
class GroupedConv1D(keras.layers.Conv1D):
    """Conv1D (channels last, no causal padding) whose `groups` are convolved one by one and concatenated: the same
    outputs and weights as Keras' grouped convolution, which TensorFlow on a CPU compiles anew with XLA on every
    call."""

    def call(self, inputs):
        if self.groups == 1:
            return super().call(inputs)
        width, reads = self.filters // self.groups, inputs.shape[-1] // self.groups
        outputs = keras.ops.concatenate(
            [keras.ops.conv(inputs[..., g * reads : (g + 1) * reads], self.kernel[..., g * width : (g + 1) * width],
                            strides=list(self.strides), padding=self.padding, dilation_rate=self.dilation_rate)
             for g in range(self.groups)], axis=-1)
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs if self.activation is None else self.activation(outputs)


@dataclass(frozen=True)
class NetworkSpec:
    """What one CNNGWP network is: its size, gamma, layout and the standardisation of its inputs.

    Attributes
    ----------
    n_snps, filters, kernel_size, l1
        Inputs and gamma = (filters, kernel size, L1 penalty of the output layer).
    strides, pool_size
        Convolution strides and max-pooling size (paper: 2 and 2).
    genotypes
        Training-row statistics of the first (non-trainable) layer; None: codes as they are.
    covariates
        Statistics of the fixed-effect covariates; None: the network has no covariate input.
    heterozygotes
        Training-row statistics of the heterozygote indicator (``Standardizer.fit(..., heterozygotes=True)``):
        the ``genotypic`` encoding's second channel; None: the ``additive`` encoding.
    """

    n_snps: int
    filters: int
    kernel_size: int
    l1: float
    strides: int = 2
    pool_size: int = 2
    genotypes: Standardizer | None = None
    covariates: Standardizer | None = None
    heterozygotes: Standardizer | None = None

    @property
    def encoding(self) -> str:
        """``additive`` or ``genotypic`` (:data:`ENCODINGS`)."""
        return "additive" if self.heterozygotes is None else "genotypic"

    @property
    def channels(self) -> int:
        """Input channels of the convolution, each with :attr:`channel_filters` filters."""
        return len(ENCODINGS[self.encoding])

    @property
    def channel_filters(self) -> int:
        """Filters per input channel (:func:`channel_filters`)."""
        return channel_filters(self.filters, self.encoding)

    def input_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and scale of every channel, shape (channels, n_snps) each; zeros and ones without statistics."""
        standardizers = [self.genotypes] + ([] if self.heterozygotes is None else [self.heterozygotes])
        mean = [np.zeros(self.n_snps) if s is None else s.mean_ for s in standardizers]
        scale = [np.ones(self.n_snps) if s is None else s.scale_ for s in standardizers]
        return np.array(mean), np.array(scale)


def build_cnngwp(spec: NetworkSpec, *, seed: int = 0, n_members: int = 1) -> keras.Model:
    """The CNNGWP network for ``spec.n_snps`` int8 codes, with standardisation built in.

    One member: Conv1D (linear, "same") -> MaxPooling1D -> Flatten -> Dense(1, L1), output
    (batch, 1). ``n_members`` = S > 1: one Conv1D with S x filters channels holds every
    member's filters, pooling acts per channel and :class:`MemberDense` gives S outputs; the
    members share nothing but the input (:func:`member_weights` takes one out). The genotypic
    encoding (``spec.heterozygotes``) gives the convolution two input channels and one group of
    ``spec.channel_filters`` filters per channel (``groups=2``); its flattened outputs are position
    by position the additive channel's filters, then the heterozygote channel's.

    With ``spec.covariates`` the network takes a second input, ``covariates``, standardised
    and fed to an unpenalised linear term without bias (layer ``fixed_effects``) added to
    the output layer's value.

    Parameters
    ----------
    spec
        The input size, gamma, strides, pooling and input statistics (:class:`NetworkSpec`).
    seed
        The initialisers' seed.
    n_members
        How many networks the model holds side by side.

    Returns
    -------
    keras.Model
        The network (not compiled).
    """
    mean, scale = spec.input_statistics()
    channels = spec.channels
    inputs = keras.Input(shape=(spec.n_snps,), dtype="int8", name="genotypes")
    z = StandardizeGenotypes(mean[0], scale[0], None if channels == 1 else (mean[1], scale[1]),
                             name="standardize")(inputs)
    if n_members == 1:
        initializer = keras.initializers.GlorotUniform(seed=seed)
    else:  # as one member's Conv1D
        limit = glorot_limit(spec.kernel_size, spec.kernel_size * channels * spec.channel_filters)
        initializer = keras.initializers.RandomUniform(-limit, limit, seed=seed)
    x = GroupedConv1D(
        n_members * channels * spec.channel_filters,
        spec.kernel_size,
        strides=spec.strides,
        padding="same",
        activation="linear",
        groups=channels,
        kernel_initializer=initializer,
        name="conv1d",
    )(z)
    x = keras.layers.MaxPooling1D(spec.pool_size, name="max_pooling1d")(x)
    if n_members == 1:
        x = keras.layers.Flatten(name="flatten")(x)
        outputs = keras.layers.Dense(
            1,
            activation="linear",
            kernel_regularizer=keras.regularizers.L1(spec.l1),
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
            name="dense",
        )(x)
    else:
        if channels > 1:  # group c holds channel c's filters of every member: (positions, C, S, F) -> (.., S, C, F)
            x = keras.layers.Reshape((-1, channels, n_members, spec.channel_filters), name="channel_groups")(x)
            x = keras.layers.Permute((1, 3, 2, 4), name="members_first")(x)
        x = keras.layers.Reshape((-1, n_members, channels * spec.channel_filters), name="members")(x)
        outputs = MemberDense(n_members, spec.l1, seed=seed + 1, name="dense")(x)
    name = "cnngwp" if n_members == 1 else "cnngwp_members"
    if spec.covariates is None:
        return keras.Model(inputs, outputs, name=name)
    covariates = keras.Input(shape=(len(spec.covariates.mean_),), dtype="float32", name="covariates")
    c = StandardizeColumns(spec.covariates.mean_, spec.covariates.scale_, name="standardize_covariates")(covariates)
    fixed = keras.layers.Dense(n_members, use_bias=False, kernel_initializer="zeros", name="fixed_effects")(c)
    outputs = keras.layers.Add(name="add_fixed_effects")([outputs, fixed])
    return keras.Model({"genotypes": inputs, "covariates": covariates}, outputs, name=name)


def set_fixed_effect_start(network: keras.Model, start: tuple[np.ndarray, float] | None) -> None:
    """Start every member's fixed-effect term at ``start = (weights per standardised covariate, intercept)``."""
    if start is None:
        return
    dense, fixed = network.get_layer("dense"), network.get_layer("fixed_effects")
    dense.bias.assign(np.full(dense.bias.shape, start[1], dtype=np.float32))
    fixed.kernel.assign(np.broadcast_to(np.asarray(start[0], dtype=np.float32)[:, None], fixed.kernel.shape))


def member_weights(stack: keras.Model, member: int, filters: int) -> dict[str, list[np.ndarray]]:
    """Member `member`'s weights in a network built with ``n_members`` > 1, by layer of a one-member network
    (`filters`: per input channel, :attr:`NetworkSpec.channel_filters`)."""
    conv_kernel, conv_bias = stack.get_layer("conv1d").get_weights()
    n_members = stack.get_layer("dense").n_members
    groups = conv_kernel.shape[-1] // (n_members * filters)
    channels = np.concatenate([(group * n_members + member) * filters + np.arange(filters) for group in range(groups)])
    dense_kernel, dense_bias = stack.get_layer("dense").get_weights()
    weights = {
        "conv1d": [conv_kernel[..., channels], conv_bias[channels]],
        "dense": [dense_kernel[:, member, :].reshape(-1, 1), dense_bias[member : member + 1]],
    }
    if len(stack.inputs) > 1:
        weights["fixed_effects"] = [stack.get_layer("fixed_effects").get_weights()[0][:, member : member + 1]]
    return weights


def network_with_weights(spec: NetworkSpec, weights: dict[str, list[np.ndarray]]) -> keras.Model:
    """A one-member network of `spec` holding `weights` (by layer name, as :func:`member_weights` gives them)."""
    network = build_cnngwp(spec)
    for layer, values in weights.items():
        network.get_layer(layer).set_weights(values)
    return network


def load_network(path: str | os.PathLike) -> keras.Model:
    """A network from a ``.keras`` file (:func:`cnngwp.models.saved_model.save_network`), uncompiled.

    Keras rebuilds the package's layers (:class:`StandardizeGenotypes`, :class:`MemberDense`, ...) only if they
    are registered, which importing this module does: so the network loads in any process, a fresh ``cnngwp
    predict`` or a Dask worker, whatever it imported before.
    """
    return keras.saving.load_model(path, compile=False)


def model_summary(model: keras.Model) -> pd.DataFrame:
    """The paper's Table 1: layer, output shape and trainable parameters.

    Parameters
    ----------
    model
        One network (:func:`build_cnngwp`).

    Returns
    -------
    pandas.DataFrame
        One row per layer: ``layer``, ``output_shape``, ``parameters``.
    """
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer | StandardizeColumns):
            continue
        trainable = int(sum(np.prod(w.shape) for w in layer.trainable_weights))
        rows.append({"layer": layer.name, "output_shape": tuple(layer.output.shape), "parameters": trainable})
    return pd.DataFrame(rows)


def output_weights(model: keras.Model) -> np.ndarray:
    """The flattened output-layer (dense) weights of one network, bias excluded."""
    return model.get_layer("dense").get_weights()[0][:, 0]


def map_weights(weights: np.ndarray, n_snps: int, filters: int, encoding: str = "additive") -> pd.DataFrame:
    """Output-layer weights laid out by (position, channel, filter) and mapped back to SNP index (`filters`: gamma's,
    shared out between the channels of `encoding` by :func:`channel_filters`).

    Returns
    -------
    pandas.DataFrame
        One row per weight: ``weight_index``, ``position`` (after pooling), ``channel``
        (:data:`ENCODINGS`: the input channel the weight's filter reads), ``filter``,
        ``channel_index`` (the weight's index among its channel's, as ``weight_index`` in a
        one-channel network), ``snp_index`` (weight index / (weights per SNP), the paper's
        mapping, e.g. 155,584 / 9,723 = 16.0) and ``weight``.
    """
    weights = np.asarray(weights)
    names = ENCODINGS[encoding]
    filters = channel_filters(filters, encoding)
    index = np.arange(len(weights))
    position, within = np.divmod(index, filters * len(names))
    channel, filter_ = np.divmod(within, filters)
    return pd.DataFrame(
        {
            "weight_index": index,
            "position": position,
            "channel": np.asarray(names)[channel],
            "filter": filter_,
            "channel_index": position * filters + filter_,
            "snp_index": np.minimum((index * n_snps / len(weights)).astype(np.int64), n_snps - 1),
            "weight": weights,
        }
    )


def snp_weight_summary(weight_map: pd.DataFrame, channel: str = "additive") -> pd.DataFrame:
    """Per SNP index: sum and mean absolute value of the mapped weights of one `channel`.

    Parameters
    ----------
    weight_map
        Output weights mapped to SNPs (:func:`map_weights`).
    channel
        ``additive`` or ``heterozygote``.

    Returns
    -------
    pandas.DataFrame
        ``weight_sum`` and ``mean_abs_weight``, indexed by SNP index.
    """
    grouped = weight_map[weight_map["channel"] == channel].groupby("snp_index")["weight"]
    return pd.DataFrame({"weight_sum": grouped.sum(), "mean_abs_weight": grouped.apply(lambda w: w.abs().mean())})


def feature_maps(model: keras.Model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The convolution output and the max-pooled output of one network for the rows of `X`.

    Parameters
    ----------
    model
        One network (:func:`build_cnngwp`).
    X
        int8 genotype codes, n x p.

    Returns
    -------
    tuple of numpy.ndarray
        ``(convolution, pooled)``, shapes (n, positions, filters) and (n, positions // pool, filters).
    """
    probe = keras.Model(model.inputs, [model.get_layer("conv1d").output, model.get_layer("max_pooling1d").output])
    convolution, pooled = probe({"genotypes": as_genotype_codes(X, "X")})
    return np.asarray(convolution), np.asarray(pooled)


class NetworkInputs(NamedTuple):
    """The networks' inputs for some rows: int8 codes and, when the model has them, the raw covariates; with
    `selected`, only those rows of them. Selecting copies nothing: the fused engine reads its minibatches straight
    from `codes` (a memory-mapped store's included), Keras gets the selected rows gathered."""

    codes: np.ndarray
    covariates: np.ndarray | None = None
    selected: np.ndarray | None = None

    @property
    def rows(self) -> np.ndarray:
        """Positions in `codes` (and `covariates`) of these inputs' rows."""
        return np.arange(len(self.codes)) if self.selected is None else self.selected

    def gathered(self) -> NetworkInputs:
        """These inputs with their rows copied out, in order (themselves if every row is selected)."""
        if self.selected is None:
            return self
        return NetworkInputs(self.codes[self.selected], None if self.covariates is None else
                             self.covariates[self.selected])

    def feed(self, rows: slice = slice(None)):
        """What a Keras network of this model takes for `rows`: the codes, or a dict with the covariates."""
        picked = rows if self.selected is None else self.selected[rows]
        if self.covariates is None:
            return self.codes[picked]
        return {"genotypes": self.codes[picked], "covariates": self.covariates[picked].astype(np.float32)}


def _predict_eagerly(model: keras.Model, inputs: NetworkInputs, batch_size: int = 256) -> np.ndarray:
    """Predictions in batches of direct calls: ``Model.predict`` traces a new graph for every model and
    final batch shape, which TensorFlow reports as excessive retracing once many models are fitted."""
    n = len(inputs.rows)
    if n == 0:
        return np.empty(0, dtype=np.float32)
    return np.concatenate(
        [
            np.asarray(model(inputs.feed(slice(i, i + batch_size)), training=False))[:, 0]
            for i in range(0, n, batch_size)
        ]
    )


def network_predictions(
    networks: list[keras.Model], inputs: NetworkInputs, target_scaling: list[tuple[float, float]]
) -> np.ndarray:
    """Predictions in the trait's units of each network (shape (S, n)), given each one's (trait mean, trait SD)."""
    return np.stack(
        [
            _predict_eagerly(model, inputs).astype(np.float64) * (scale / TARGET_SD) + mean
            for model, (mean, scale) in zip(networks, target_scaling, strict=True)
        ]
    )

