"""A fused CPU training engine for the CNNGWP network (numba), the ``engine="numba"`` of the estimator.

The network is the paper's: standardised codes -> Conv1D (linear, strides 2, "same"
padding) -> MaxPooling1D(2) -> Flatten -> Dense(1) with an L1 penalty; MSE loss; Adam as
Keras 3 implements it (float32). Keras computes the convolution output, stores it, pools
it, and runs the backward pass over the stored tensors. Here one pass per sample does it
all without storing the convolution output:

* the padded, standardised input is split into four interleaved phases
  (``phase[r, m] = input[4 m + r]``), so that for every pooling window ``q`` the two
  convolution positions it pools (padded offsets ``4q`` and ``4q + 2``) read contiguous
  runs of each phase: the convolution over all windows is a few unit-stride vector loops
  (taps grouped by four, the kernel padded with zero taps to a multiple of four);
* four filters at a time: each vector of inputs loaded feeds the sixteen multiply-adds of
  four filters' two positions (and, backwards, their four kernel gradients), so the loops
  run at the speed of the FMA units rather than of the loads. Each channel's filters are
  padded with zero filters to a multiple of four; such a filter outputs 0, gets a zero
  gradient and so stays zero (as the zero taps do);
* per filter the two positions are computed, the larger kept (ties to the first, as
  TensorFlow), and its product with the dense weight added to the prediction;
* for the weight gradient, the dense weight is routed to the position each window chose
  and the sums of the kernel's input taps weighted by it are taken in the same pass; once
  the sample's error is known they are scaled by it.

A batch's samples are split over numba's threads, each with its own gradient buffers,
then reduced; Adam and the L1 subgradient (``sign``, 0 at 0) are applied once per batch.
Fixed-effect covariates (an unpenalised linear term without bias beside the output
layer) add ``covariates @ beta`` to each prediction; their gradient is the covariates
weighted by the samples' errors. The genotypic encoding's heterozygote channel is a second
set of phases; each filter reads the phases of its own channel (the grouped convolution of
:func:`cnngwp.models.cnn.network.build_cnngwp`), so filters ``0..F-1`` are the additive
channel's and ``F..2F-1`` the heterozygote channel's.
``benchmarks/bench_cnn.py`` times it against Keras; ``tests/test_fused.py`` checks it
against Keras from the same weights and batch order and against finite differences.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from cnngwp.data.genotypes import MISSING

__all__ = [
    "AdamState",
    "FusedLayout",
    "batch_gradients",
    "batched",
    "from_network",
    "predict",
    "supports",
    "to_network",
    "train_epoch",
]

_BETA_1, _BETA_2, _EPSILON = np.float32(0.9), np.float32(0.999), np.float32(1e-7)


#: Filters computed together (:func:`_convolve` and :func:`_tap_sums` are written out for four): each channel's
#: filters are padded to a multiple of it.
_GROUP = 4


class FusedLayout:
    """One network in this engine: SNPs p, kernel size K (and K rounded up to 4), pooled positions P, and the
    float32 standardisation of its inputs: training-row `mean` and `scale` per SNP, shape (p,) for the codes alone
    or (channels, p) (:meth:`cnngwp.models.cnn.network.NetworkSpec.input_statistics`). `filters` F is each
    channel's: the network's filter ``c F + j`` of channel ``c`` is this engine's ``c F' + j``, with F' = F rounded up
    to a multiple of four (``channel_filters``; the rest zero filters); the attribute ``filters`` counts every
    channel's, ``channels F'``."""

    def __init__(self, n_snps: int, kernel_size: int, filters: int, *, mean: np.ndarray, scale: np.ndarray):
        self.statistics = (np.atleast_2d(np.asarray(mean, dtype=np.float32)),
                           np.atleast_2d(np.asarray(scale, dtype=np.float32)))
        self.channels = self.statistics[0].shape[0]
        self.network_filters = filters
        self.channel_filters = _GROUP * math.ceil(filters / _GROUP)
        self.n_snps, self.kernel_size, self.filters = n_snps, kernel_size, self.channel_filters * self.channels
        conv = math.ceil(n_snps / 2)  # "same" padding, stride 2
        self.pad_left = max((conv - 1) * 2 + kernel_size - n_snps, 0) // 2
        self.positions = conv // 2  # max-pooling 2, "valid"
        self.taps = 4 * math.ceil(kernel_size / 4)
        self.phase_length = self.positions + self.taps // 4 + 1


def _network_filters(shape: FusedLayout) -> np.ndarray:
    """This engine's position of each of the network's filters (the rest are the zero filters padding a channel)."""
    return np.concatenate([c * shape.channel_filters + np.arange(shape.network_filters) for c in range(shape.channels)])


def from_network(network, shape: FusedLayout) -> list[np.ndarray]:
    """The weights of a one-member Keras CNNGWP network (layers ``conv1d``: kernel (K, 1, F) and bias; ``dense``:
    kernel (P F, 1) and bias; ``fixed_effects`` if it has covariates: kernel (q, 1)) in this engine's layout:
    ``[kernel (taps, F') padded with zero taps, bias (F',), dense (F', P), dense bias (1,)[, fixed effects (q,)]]``,
    F' counting the zero filters (:class:`FusedLayout`)."""
    conv_kernel, conv_bias = network.get_layer("conv1d").get_weights()
    dense_kernel, dense_bias = network.get_layer("dense").get_weights()
    fixed = [network.get_layer("fixed_effects").get_weights()[0]] if len(network.inputs) > 1 else []
    filters = _network_filters(shape)
    kernel = np.zeros((shape.taps, shape.filters), dtype=np.float32)
    kernel[: shape.kernel_size, filters] = conv_kernel[:, 0, :]
    bias = np.zeros(shape.filters, dtype=np.float32)
    bias[filters] = conv_bias
    dense = np.zeros((shape.filters, shape.positions), dtype=np.float32)
    dense[filters] = dense_kernel[:, 0].reshape(shape.positions, len(filters)).T
    return [kernel, bias, dense, np.array(dense_bias, dtype=np.float32),
            *(np.array(f[:, 0], dtype=np.float32) for f in fixed)]


def to_network(weights: list[np.ndarray], network, shape: FusedLayout) -> None:
    """The inverse of :func:`from_network`: load this engine's weights into the Keras network's layers."""
    kernel, bias, dense, dense_bias, *fixed = weights
    filters = _network_filters(shape)
    network.get_layer("conv1d").set_weights([kernel[: shape.kernel_size, None, filters], bias[filters]])
    network.get_layer("dense").set_weights([dense[filters].T.reshape(-1, 1), dense_bias.copy()])
    for f in fixed:
        network.get_layer("fixed_effects").set_weights([f[:, None].copy()])


def _offsets(covariates: np.ndarray | None, weights: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The fixed-effect term ``covariates[rows] @ beta`` (zeros without covariates), float32."""
    if covariates is None:
        return np.zeros(len(rows), dtype=np.float32)
    return (covariates[rows] @ weights[4]).astype(np.float32)


def predict(
    codes: np.ndarray, weights: list[np.ndarray], *, shape: FusedLayout, covariates: np.ndarray | None = None
) -> np.ndarray:
    """Network outputs (float32) for the rows of `codes` with weights in this engine's layout.

    `covariates` (float32, standardised, n x q) go with a fifth weight array, the fixed effects.
    """
    kernel, bias, dense, dense_bias = weights[:4]
    out = _forward(
        codes,
        shape.statistics,
        shape.pad_left,
        (kernel, bias, dense, dense_bias[0]),
        max(1, min(numba.get_num_threads(), len(codes))),
    )
    return out + _offsets(covariates, weights, np.arange(len(codes)))


def supports(*, strides: int, pool_size: int) -> bool:
    """True for the paper's layout (strides 2, pooling 2), the one this engine implements."""
    return strides == 2 and pool_size == 2


class AdamState:
    """Keras 3 Adam: its learning rate, the moments for the weight arrays and the step counter."""

    def __init__(self, weights: list[np.ndarray], learning_rate: float):
        self.learning_rate = learning_rate
        self.m = [np.zeros_like(w) for w in weights]
        self.v = [np.zeros_like(w) for w in weights]
        self.step = 0


@numba.njit(cache=True, nogil=True)
def _phases(codes, mean, scale, pad_left, out):
    """One sample's channels (standardised codes; with a second row of `mean` and `scale`, the standardised
    heterozygote indicator; missing -> 0) into the four phases of the padded input, ``out[channel, phase]``."""
    out[:] = 0.0
    for i in range(codes.shape[0]):
        j = i + pad_left
        c = codes[i]
        if c != MISSING:
            out[0, j & 3, j >> 2] = (np.float32(c) - mean[0, i]) / scale[0, i]
            if out.shape[0] > 1:
                out[1, j & 3, j >> 2] = (np.float32(c == 1) - mean[1, i]) / scale[1, i]


#: Pooling windows per block; the block's phases, convolution outputs and routed weights (about 40 KB)
#: stay in the L1 and L2 caches while every filter and tap group passes over them.
_BLOCK = 512


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _convolve(ph, kernel, bias, f, start, n, out):
    """Filters f..f+3 at both positions of windows start..start+n: filter f + j's at padded offset 4q into
    ``out[j * _BLOCK + q]``, at offset 4q + 2 into ``out[(_GROUP + j) * _BLOCK + q]``."""
    for j in range(_GROUP):
        b = bias[f + j]
        for q in range(n):
            out[j * _BLOCK + q] = b
            out[(_GROUP + j) * _BLOCK + q] = b
    for g in range(kernel.shape[0] // 4):
        k = 4 * g
        a0, a1, a2, a3 = kernel[k, f], kernel[k + 1, f], kernel[k + 2, f], kernel[k + 3, f]
        b0, b1, b2, b3 = kernel[k, f + 1], kernel[k + 1, f + 1], kernel[k + 2, f + 1], kernel[k + 3, f + 1]
        c0, c1, c2, c3 = kernel[k, f + 2], kernel[k + 1, f + 2], kernel[k + 2, f + 2], kernel[k + 3, f + 2]
        d0, d1, d2, d3 = kernel[k, f + 3], kernel[k + 1, f + 3], kernel[k + 2, f + 3], kernel[k + 3, f + 3]
        o = start + g
        p0, p1, p2, p3 = ph[0, o : o + n], ph[1, o : o + n], ph[2, o : o + n], ph[3, o : o + n]
        n0, n1 = ph[0, o + 1 : o + 1 + n], ph[1, o + 1 : o + 1 + n]
        for q in range(n):
            x0, x1, x2, x3, y0, y1 = p0[q], p1[q], p2[q], p3[q], n0[q], n1[q]
            out[q] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
            out[4 * _BLOCK + q] += a0 * x2 + a1 * x3 + a2 * y0 + a3 * y1
            out[_BLOCK + q] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3
            out[5 * _BLOCK + q] += b0 * x2 + b1 * x3 + b2 * y0 + b3 * y1
            out[2 * _BLOCK + q] += c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3
            out[6 * _BLOCK + q] += c0 * x2 + c1 * x3 + c2 * y0 + c3 * y1
            out[3 * _BLOCK + q] += d0 * x0 + d1 * x1 + d2 * x2 + d3 * x3
            out[7 * _BLOCK + q] += d0 * x2 + d1 * x3 + d2 * y0 + d3 * y1


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc", "nsz"})
def _pool(c0, c1, d, n):
    """sum_q d[q] * max(c0[q], c1[q]) over a block."""
    s = np.float32(0.0)
    for q in range(n):
        s += d[q] * max(c0[q], c1[q])
    return s


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc", "nsz"})
def _pool_and_route(c0, c1, d, n, pooled, r0, r1):
    """Pool a block (ties to the first position), route the dense weight to the chosen position; returns
    the block's contribution to the prediction."""
    s = np.float32(0.0)
    for q in range(n):
        second = c1[q] > c0[q]
        m = c1[q] if second else c0[q]
        r0[q] = np.float32(0.0) if second else d[q]
        r1[q] = d[q] if second else np.float32(0.0)
        pooled[q] = m
        s += d[q] * m
    return s


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc", "nsz"})
def _tap_sums(ph, routed, start, n, f, out):
    """``out[f + j, k] += sum_q r0[q] input[4q + k] + r1[q] input[4q + 2 + k]`` over a block, j = 0..3: the kernel
    gradients of filters f..f+3, whose routed dense weights r0 and r1 are laid out in `routed` as :func:`_convolve`
    lays out its two positions."""
    for g in range(out.shape[1] // 4):
        o = start + g
        p0, p1, p2, p3 = ph[0, o : o + n], ph[1, o : o + n], ph[2, o : o + n], ph[3, o : o + n]
        n0, n1 = ph[0, o + 1 : o + 1 + n], ph[1, o + 1 : o + 1 + n]
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = np.float32(0.0)
        c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = np.float32(0.0)
        for q in range(n):
            x0, x1, x2, x3, y0, y1 = p0[q], p1[q], p2[q], p3[q], n0[q], n1[q]
            u, v = routed[q], routed[4 * _BLOCK + q]
            a0 += u * x0 + v * x2
            a1 += u * x1 + v * x3
            a2 += u * x2 + v * y0
            a3 += u * x3 + v * y1
            u, v = routed[_BLOCK + q], routed[5 * _BLOCK + q]
            b0 += u * x0 + v * x2
            b1 += u * x1 + v * x3
            b2 += u * x2 + v * y0
            b3 += u * x3 + v * y1
            u, v = routed[2 * _BLOCK + q], routed[6 * _BLOCK + q]
            c0 += u * x0 + v * x2
            c1 += u * x1 + v * x3
            c2 += u * x2 + v * y0
            c3 += u * x3 + v * y1
            u, v = routed[3 * _BLOCK + q], routed[7 * _BLOCK + q]
            d0 += u * x0 + v * x2
            d1 += u * x1 + v * x3
            d2 += u * x2 + v * y0
            d3 += u * x3 + v * y1
        for j, sums in enumerate(((a0, a1, a2, a3), (b0, b1, b2, b3), (c0, c1, c2, c3), (d0, d1, d2, d3))):
            for i in range(4):
                out[f + j, 4 * g + i] += sums[i]


@numba.njit(cache=True, parallel=True)
def _forward(codes, statistics, pad_left, network, threads):
    """Predictions (float32, one per row of `codes`) of the network ``(kernel, bias, dense, dense bias)``; `dense`
    laid out (filters, positions); `statistics` = (mean, scale)."""
    mean, scale = statistics
    kernel, bias, dense, dense_bias = network
    n = codes.shape[0]
    filters = kernel.shape[1]
    per_channel = filters // mean.shape[0]
    positions = dense.shape[1]
    phase_length = positions + kernel.shape[0] // 4 + 1
    out = np.empty(n, dtype=np.float32)
    for t in numba.prange(threads):
        ph = np.empty((mean.shape[0], 4, phase_length), dtype=np.float32)
        conv = np.empty(2 * _GROUP * _BLOCK, dtype=np.float32)
        for i in range(t, n, threads):
            _phases(codes[i], mean, scale, pad_left, ph)
            total = np.float32(0.0)
            for start in range(0, positions, _BLOCK):
                size = min(_BLOCK, positions - start)
                for f in range(0, filters, _GROUP):
                    _convolve(ph[f // per_channel], kernel, bias, f, start, size, conv)
                    for j in range(_GROUP):
                        total += _pool(conv[j * _BLOCK :], conv[(_GROUP + j) * _BLOCK :],
                                       dense[f + j, start : start + size], size)
            out[i] = total + dense_bias
    return out


@numba.njit(cache=True, parallel=True)
def _batch_gradients(codes, batch, statistics, pad_left, network, buffers, errors):
    """Gradients of the batch's mean squared error (without the penalty) into per-thread `buffers` (one per weight
    of `network` = (kernel, bias, dense, dense bias)); each row's error (prediction, the batch's `offset` included,
    minus target) into `errors`. `batch` = (targets y, rows, offset); `statistics` = (mean, scale)."""
    y, rows, offset = batch
    mean, scale = statistics
    kernel, bias, dense, dense_bias = network
    g_kernel, g_bias, g_dense, g_dense_bias = buffers
    positions = dense.shape[1]
    taps = kernel.shape[0]
    phase_length = positions + taps // 4 + 1
    threads = g_kernel.shape[0]
    filters = kernel.shape[1]
    per_channel = filters // mean.shape[0]
    n = rows.shape[0]
    scale_error = np.float32(2.0 / n)
    dense_sums = np.zeros(filters, dtype=np.float32)  # each window routes its dense weight to one position
    for f in range(filters):
        for q in range(positions):
            dense_sums[f] += dense[f, q]
    for t in numba.prange(threads):
        g_kernel[t] = 0.0
        g_bias[t] = 0.0
        g_dense[t] = 0.0
        g_dense_bias[t, 0] = 0.0
        ph = np.empty((mean.shape[0], 4, phase_length), dtype=np.float32)
        conv = np.empty(2 * _GROUP * _BLOCK, dtype=np.float32)
        routed = np.empty(2 * _GROUP * _BLOCK, dtype=np.float32)
        pooled = np.empty((filters, positions), dtype=np.float32)
        sums = np.empty((filters, taps), dtype=np.float32)
        for i in range(t, n, threads):
            row = rows[i]
            _phases(codes[row], mean, scale, pad_left, ph)
            sums[:] = 0.0
            prediction = np.float32(0.0)
            for start in range(0, positions, _BLOCK):
                size = min(_BLOCK, positions - start)
                for f in range(0, filters, _GROUP):
                    channel = ph[f // per_channel]
                    _convolve(channel, kernel, bias, f, start, size, conv)
                    for j in range(_GROUP):
                        first, second = j * _BLOCK, (_GROUP + j) * _BLOCK
                        prediction += _pool_and_route(conv[first:], conv[second:], dense[f + j, start : start + size],
                                                      size, pooled[f + j, start : start + size], routed[first:],
                                                      routed[second:])
                    _tap_sums(channel, routed, start, size, f, sums)
            prediction += dense_bias + offset[i]
            error = prediction - y[row]
            errors[i] = error
            e = scale_error * error
            g_dense_bias[t, 0] += e
            for f in range(filters):
                g_bias[t, f] += e * dense_sums[f]
                for k in range(taps):
                    g_kernel[t, k, f] += e * sums[f, k]
                for q in range(positions):
                    g_dense[t, f, q] += e * pooled[f, q]


@numba.njit(cache=True, fastmath={"contract"})
def _adam(w, g, mm, vv, alpha):
    """Keras 3 Adam on flat float32 arrays (weights, gradient, first and second moments), in place."""
    for i in range(w.shape[0]):
        mm[i] += (g[i] - mm[i]) * (np.float32(1.0) - _BETA_1)
        vv[i] += (g[i] * g[i] - vv[i]) * (np.float32(1.0) - _BETA_2)
        w[i] -= (mm[i] * alpha) / (np.sqrt(vv[i]) + _EPSILON)


def batch_gradients(
    codes: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    weights: list[np.ndarray],
    *,
    shape: FusedLayout,
    covariates: np.ndarray | None = None,
    errors: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Gradients of the mean squared error over `rows` (penalty excluded), in the layout of `weights`.

    `covariates` as for :func:`predict`; `errors`, if given (length ``len(rows)``), receives each row's error.
    """
    kernel, bias, dense, dense_bias = weights[:4]
    threads = max(1, min(numba.get_num_threads(), len(rows)))
    buffers = [np.empty((threads, *w.shape), dtype=np.float32) for w in weights[:4]]
    errors = np.empty(len(rows), dtype=np.float32) if errors is None else errors
    _batch_gradients(
        codes,
        (y, rows, _offsets(covariates, weights, rows)),
        shape.statistics,
        shape.pad_left,
        (kernel, bias, dense, dense_bias[0]),
        tuple(buffers),
        errors,
    )
    gradients = [b.sum(axis=0) for b in buffers]
    gradients[0][shape.kernel_size :] = 0.0  # the zero taps padding the kernel to a multiple of 4 stay zero
    if covariates is not None:
        gradients.append((2.0 / len(rows)) * (covariates[rows].T @ errors).astype(np.float32))
    return gradients


def batched(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """The rows of `order` in mini-batches of `batch_size` (the last one shorter), as Keras batches them."""
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def train_epoch(
    codes: np.ndarray,
    y: np.ndarray,
    batches: list[np.ndarray],
    *,
    shape: FusedLayout,
    weights: list[np.ndarray],
    adam: AdamState,
    l1: float,
    covariates: np.ndarray | None = None,
) -> float:
    """One epoch of mini-batch Adam over `batches` of rows (:func:`batched`), updating `weights` in place.

    Parameters
    ----------
    codes
        int8 genotype codes (missing -1), n x p.
    y
        float32 targets.
    batches
        Row indices, batch by batch.
    weights
        ``[kernel (taps, filters), bias (filters,), dense (filters, positions), dense_bias (1,)]``,
        plus the fixed effects (q,) with `covariates`; float32, as :func:`from_network` lays them out.
    covariates
        Optional standardised float32 covariates (n x q) of the unpenalised fixed-effect term.
    adam
        The optimiser's learning rate and moments, carried from epoch to epoch.
    shape
        The network's layout and the standardisation of its inputs.

    Returns
    -------
    float
        The epoch's training MSE (squared errors of each sample at the weights it was trained with,
        as Keras' running ``mse`` metric).
    """
    errors = np.empty(sum(len(rows) for rows in batches), dtype=np.float32)
    l1 = np.float32(l1)
    start = 0
    for rows in batches:
        gradients = batch_gradients(
            codes, y, rows, weights, shape=shape, covariates=covariates, errors=errors[start : start + len(rows)]
        )
        start += len(rows)
        gradients[2] += l1 * np.sign(weights[2])
        adam.step += 1
        alpha = np.float32(
            adam.learning_rate * math.sqrt(1 - float(_BETA_2) ** adam.step) / (1 - float(_BETA_1) ** adam.step)
        )
        for w, g, m, v in zip(weights, gradients, adam.m, adam.v, strict=True):
            _adam(w.reshape(-1), g.astype(np.float32).reshape(-1), m.reshape(-1), v.reshape(-1), alpha)
    return float(np.mean(errors.astype(np.float64) ** 2))
