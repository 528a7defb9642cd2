"""A fused CPU training engine for the CNNGWP network (numba), the ``engine="numba"`` of the estimator.

The network is the paper's: standardised codes -> Conv1D (linear, strides 2, "same"
padding) -> MaxPooling1D(2) -> Flatten -> Dense(1) with an L1 penalty; MSE loss; Adam as
Keras 3 implements it (float32). Keras computes the convolution output for the whole batch,
stores it, pools it, and runs the backward pass over the stored tensors. Here each sample
is taken through the whole network in blocks of ``_BLOCK`` (512) convolution positions whose
tensors stay in the core's cache:

* the block's input windows are copied into a small matrix ``A``: one row per convolution
  position (the first positions of the block's pooling windows above their second ones), one
  column per tap, and a last column of ones that carries the bias. The convolution of every
  filter of a channel is one matrix product, ``A @ kernel``, by the BLAS that scipy ships
  (which picks the widest FMA kernels the CPU has, AVX-512 or AVX2);
* each pair of positions is pooled (the larger kept, ties to the first, as TensorFlow), its
  product with the dense weight added to the prediction, and the dense weight routed to the
  position the window chose;
* the kernel's gradient sums, ``A.T @ routed``, are a second matrix product over the same
  block; once the sample's error is known they are scaled by it.

A batch's samples are split over numba's threads, each with its own gradient buffers, then
reduced; the BLAS runs single-threaded inside them (``_ONE_BLAS_THREAD``, also a decorator). Adam and the
L1 subgradient (``sign``, 0 at 0) are applied once per batch. Fixed-effect covariates (an
unpenalised linear term without bias beside the output layer) add ``covariates @ beta`` to
each prediction; their gradient is the covariates weighted by the samples' errors. The
genotypic encoding's heterozygote channel is a second input row with its own kernel; each
filter reads its own channel (the grouped convolution of
:func:`cnngwp.models.cnn.network.build_cnngwp`), so filters ``0..F-1`` are the additive
channel's and ``F..2F-1`` the heterozygote channel's.
``benchmarks/bench_cnn.py`` times it against Keras; ``tests/test_fused.py`` checks it
against Keras from the same weights and batch order and against finite differences.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba's np.dot calls: loaded before its threads are limited)
from threadpoolctl import ThreadpoolController

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

#: Convolution positions per block (even: whole pooling windows): the block's input windows, convolution outputs and
#: routed dense weights (about 300 KB with the paper's 64 filters) stay in the core's cache between the two products.
_BLOCK = 512


class FusedLayout:
    """One network in this engine: SNPs p, kernel size K, pooled positions P, and the float32 standardisation of its
    inputs: training-row `mean` and `scale` per SNP, shape (p,) for the codes alone or (channels, p)
    (:meth:`cnngwp.models.cnn.network.NetworkSpec.input_statistics`). `filters` F is each channel's; the attribute
    ``filters`` counts every channel's, ``channels F``, the network's filter ``c F + j`` reading channel ``c``."""

    def __init__(self, n_snps: int, kernel_size: int, filters: int, *, mean: np.ndarray, scale: np.ndarray):
        self.statistics = (np.atleast_2d(np.asarray(mean, dtype=np.float32)),
                           np.atleast_2d(np.asarray(scale, dtype=np.float32)))
        self.channels = self.statistics[0].shape[0]
        self.channel_filters = filters
        self.n_snps, self.kernel_size, self.filters = n_snps, kernel_size, filters * self.channels
        conv = math.ceil(n_snps / 2)  # "same" padding, stride 2
        self.pad_left = max((conv - 1) * 2 + kernel_size - n_snps, 0) // 2
        self.positions = conv // 2  # max-pooling 2, "valid"


def from_network(network, shape: FusedLayout) -> list[np.ndarray]:
    """The weights of a one-member Keras CNNGWP network (layers ``conv1d``: kernel (K, 1, C F) and bias; ``dense``:
    kernel (P C F, 1) and bias; ``fixed_effects`` if it has covariates: kernel (q, 1)) in this engine's layout:
    ``[kernel (C, K, F), bias (C F,), dense (C, P, F), dense bias (1,)[, fixed effects (q,)]]``."""
    conv_kernel, conv_bias = network.get_layer("conv1d").get_weights()
    dense_kernel, dense_bias = network.get_layer("dense").get_weights()
    fixed = [network.get_layer("fixed_effects").get_weights()[0]] if len(network.inputs) > 1 else []
    by_channel = (shape.channels, shape.channel_filters)
    kernel = conv_kernel[:, 0, :].reshape(shape.kernel_size, *by_channel).transpose(1, 0, 2)
    dense = dense_kernel[:, 0].reshape(shape.positions, *by_channel).transpose(1, 0, 2)
    return [np.ascontiguousarray(kernel, dtype=np.float32), np.array(conv_bias, dtype=np.float32),
            np.ascontiguousarray(dense, dtype=np.float32), np.array(dense_bias, dtype=np.float32),
            *(np.array(f[:, 0], dtype=np.float32) for f in fixed)]


def to_network(weights: list[np.ndarray], network, shape: FusedLayout) -> None:
    """The inverse of :func:`from_network`: load this engine's weights into the Keras network's layers."""
    kernel, bias, dense, dense_bias, *fixed = weights
    network.get_layer("conv1d").set_weights([kernel.transpose(1, 0, 2).reshape(shape.kernel_size, 1, shape.filters),
                                             bias.copy()])
    network.get_layer("dense").set_weights([dense.transpose(1, 0, 2).reshape(-1, 1), dense_bias.copy()])
    for f in fixed:
        network.get_layer("fixed_effects").set_weights([f[:, None].copy()])


def _network(weights: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.float32]:
    """What the compiled loops read: the kernel with the bias as an extra last tap row (C, K + 1, F) (the windows'
    last column is 1), the dense weights and the dense bias."""
    kernel, bias, dense, dense_bias = weights[:4]
    with_bias = np.concatenate([kernel, bias.reshape(kernel.shape[0], 1, kernel.shape[2])], axis=1)
    return with_bias, dense, dense_bias[0]


@functools.cache
def _blas_libraries() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (scipy's, which numba's ``np.dot`` calls, imported above)."""
    return ThreadpoolController()


class _OneBlasThread(contextlib.ContextDecorator):
    """The BLAS held to one thread while any caller is inside the engine: the first to enter limits it, the last to
    leave restores it, so that callers on several threads neither leave it limited nor lift each other's limit."""

    def __init__(self):
        self._lock, self._inside, self._limiter = threading.Lock(), 0, None

    def __enter__(self):
        with self._lock:
            if self._inside == 0:
                self._limiter = _blas_libraries().limit(limits=1, user_api="blas")
            self._inside += 1

    def __exit__(self, *exc):
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                self._limiter.restore_original_limits()


_ONE_BLAS_THREAD = _OneBlasThread()


def _offsets(covariates: np.ndarray | None, weights: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The fixed-effect term ``covariates[rows] @ beta`` (zeros without covariates), float32."""
    if covariates is None:
        return np.zeros(len(rows), dtype=np.float32)
    return (covariates[rows] @ weights[4]).astype(np.float32)


@_ONE_BLAS_THREAD
def predict(
    codes: np.ndarray, weights: list[np.ndarray], *, shape: FusedLayout, covariates: np.ndarray | None = None
) -> np.ndarray:
    """Network outputs (float32) for the rows of `codes` with weights in this engine's layout.

    `covariates` (float32, standardised, n x q) go with a fifth weight array, the fixed effects.
    """
    out = _forward(codes, shape.statistics, shape.pad_left, _network(weights),
                   max(1, min(numba.get_num_threads(), len(codes))))
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
def _padded(codes, mean, scale, pad_left, out):
    """One sample's channels (standardised codes; with a second row of `mean` and `scale`, the standardised
    heterozygote indicator; missing -> 0), padded with zeros, into ``out[channel]``."""
    out[:] = 0.0
    for i in range(codes.shape[0]):
        c = codes[i]
        if c != MISSING:
            out[0, i + pad_left] = (np.float32(c) - mean[0, i]) / scale[0, i]
            if out.shape[0] > 1:
                out[1, i + pad_left] = (np.float32(c == 1) - mean[1, i]) / scale[1, i]


@numba.njit(cache=True, nogil=True)
def _padded_length(pad_left, snps, positions, taps):
    """The length of a padded sample (:func:`_padded`): its SNPs after `pad_left` zeros, and at least the reach of
    :func:`_windows` over `positions` pooled positions of `taps` columns."""
    return max(pad_left + snps, 4 * positions + taps)


@numba.njit(cache=True, nogil=True)
def _windows(x, start, n, out):
    """The input windows of convolution positions start..start+n (n even), one row each, the block's first positions
    of its pooling windows (even offsets from `start`) in the top half and their second positions in the bottom half:
    ``out[i, k] = x[2 start + 4 i + k]``, ``out[n / 2 + i, k] = x[2 start + 4 i + 2 + k]``; the last column, 1, carries
    the bias."""
    half, taps = n // 2, out.shape[1] - 1
    for i in range(half):
        o = 2 * start + 4 * i
        for k in range(taps):
            out[i, k] = x[o + k]
            out[half + i, k] = x[o + 2 + k]
        out[i, taps] = out[half + i, taps] = 1.0


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc", "nsz"})
def _pool(first, second, dense):
    """sum of dense * max(first, second) over a block (flat: windows x filters)."""
    s = np.float32(0.0)
    for i in range(dense.shape[0]):
        s += dense[i] * max(first[i], second[i])
    return s


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc", "nsz"})
def _pool_and_route(first, second, dense, pooled, routed_first, routed_second):
    """Pool a block (flat: windows x filters) into `pooled`, and route each window's dense weight to the position it
    chose (ties to the first, as TensorFlow), 0 to the other; returns the block's contribution to the prediction.
    Three loops of one store each, so that each vectorises."""
    s = np.float32(0.0)
    for i in range(dense.shape[0]):
        m = max(first[i], second[i])
        pooled[i] = m
        s += dense[i] * m
    for i in range(dense.shape[0]):
        routed_first[i] = dense[i] if first[i] >= second[i] else np.float32(0.0)
    for i in range(dense.shape[0]):
        routed_second[i] = dense[i] - routed_first[i]
    return s


@numba.njit(cache=True, parallel=True)
def _forward(codes, statistics, pad_left, network, threads):
    """Predictions (float32, one per row of `codes`) of the network ``(kernel (C, K + 1, F) with the bias as its last
    row, dense (C, P, F), dense bias)``; `statistics` = (mean, scale)."""
    mean, scale = statistics
    kernel, dense, dense_bias = network
    channels, taps, per_channel = kernel.shape
    n, positions = codes.shape[0], dense.shape[1]
    length = _padded_length(pad_left, codes.shape[1], positions, taps)
    out = np.empty(n, dtype=np.float32)
    for t in numba.prange(threads):
        x = np.empty((channels, length), dtype=np.float32)
        windows = np.empty((_BLOCK, taps), dtype=np.float32)
        conv = np.empty((_BLOCK, per_channel), dtype=np.float32)
        for i in range(t, n, threads):
            _padded(codes[i], mean, scale, pad_left, x)
            total = np.float32(0.0)
            for start in range(0, 2 * positions, _BLOCK):
                size = min(_BLOCK, 2 * positions - start)
                half = size // 2
                for c in range(channels):
                    _windows(x[c], start, size, windows)
                    np.dot(windows[:size], kernel[c], conv[:size])
                    total += _pool(conv[:half].reshape(-1), conv[half:size].reshape(-1),
                                   dense[c, start // 2 : start // 2 + half].reshape(-1))
            out[i] = total + dense_bias
    return out


@numba.njit(cache=True, parallel=True)
def _batch_gradients(codes, batch, statistics, pad_left, network, buffers, errors):
    """Gradients of the batch's mean squared error (without the penalty) into per-thread `buffers` (kernel with the
    bias as its last row, dense, dense bias; laid out as `network` = (kernel, dense, dense bias) is, see
    :func:`_forward`); each row's error (prediction, the batch's `offset` included, minus target) into `errors`.
    `batch` = (targets y, rows, offset); `statistics` = (mean, scale)."""
    y, rows, offset = batch
    mean, scale = statistics
    kernel, dense, dense_bias = network
    g_kernel, g_dense, g_dense_bias = buffers
    channels, taps, per_channel = kernel.shape
    positions = dense.shape[1]
    length = _padded_length(pad_left, codes.shape[1], positions, taps)
    threads = g_kernel.shape[0]
    n = rows.shape[0]
    scale_error = np.float32(2.0 / n)
    for t in numba.prange(threads):
        g_kernel[t] = 0.0
        g_dense[t] = 0.0
        g_dense_bias[t, 0] = 0.0
        x = np.empty((channels, length), dtype=np.float32)
        windows = np.empty((_BLOCK, taps), dtype=np.float32)
        conv = np.empty((_BLOCK, per_channel), dtype=np.float32)
        routed = np.empty((_BLOCK, per_channel), dtype=np.float32)
        block_sums = np.empty((taps, per_channel), dtype=np.float32)
        pooled = np.empty((channels, positions, per_channel), dtype=np.float32)
        sums = np.empty((channels, taps, per_channel), dtype=np.float32)
        flat_pooled, flat_g_dense = pooled.reshape(-1), g_dense[t].reshape(-1)
        for i in range(t, n, threads):
            row = rows[i]
            _padded(codes[row], mean, scale, pad_left, x)
            sums[:] = 0.0
            prediction = np.float32(0.0)
            for start in range(0, 2 * positions, _BLOCK):
                size = min(_BLOCK, 2 * positions - start)
                half, first = size // 2, start // 2
                for c in range(channels):
                    _windows(x[c], start, size, windows)
                    np.dot(windows[:size], kernel[c], conv[:size])
                    prediction += _pool_and_route(conv[:half].reshape(-1), conv[half:size].reshape(-1),
                                                  dense[c, first : first + half].reshape(-1),
                                                  pooled[c, first : first + half].reshape(-1),
                                                  routed[:half].reshape(-1), routed[half:size].reshape(-1))
                    np.dot(windows[:size].T, routed[:size], block_sums)
                    sums[c] += block_sums
            prediction += dense_bias + offset[i]
            error = prediction - y[row]
            errors[i] = error
            e = scale_error * error
            g_dense_bias[t, 0] += e
            g_kernel[t] += e * sums
            for j in range(flat_pooled.shape[0]):
                flat_g_dense[j] += e * flat_pooled[j]


@numba.njit(cache=True, fastmath={"contract"})
def _adam(w, g, mm, vv, alpha):
    """Keras 3 Adam on flat float32 arrays (weights, gradient, first and second moments), in place."""
    for i in range(w.shape[0]):
        mm[i] += (g[i] - mm[i]) * (np.float32(1.0) - _BETA_1)
        vv[i] += (g[i] * g[i] - vv[i]) * (np.float32(1.0) - _BETA_2)
        w[i] -= (mm[i] * alpha) / (np.sqrt(vv[i]) + _EPSILON)


@_ONE_BLAS_THREAD
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
    network = _network(weights)
    threads = max(1, min(numba.get_num_threads(), len(rows)))
    buffers = tuple(np.empty((threads, *w.shape), dtype=np.float32) for w in network[:2]) + (
        np.empty((threads, 1), dtype=np.float32),)
    errors = np.empty(len(rows), dtype=np.float32) if errors is None else errors
    _batch_gradients(codes, (y, rows, _offsets(covariates, weights, rows)), shape.statistics, shape.pad_left, network,
                     buffers, errors)
    kernel_and_bias, dense, dense_bias = (b.sum(axis=0) for b in buffers)
    gradients = [np.ascontiguousarray(kernel_and_bias[:, :-1]), kernel_and_bias[:, -1].reshape(-1), dense, dense_bias]
    if covariates is not None:
        gradients.append((2.0 / len(rows)) * (covariates[rows].T @ errors).astype(np.float32))
    return gradients


def batched(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """The rows of `order` in mini-batches of `batch_size` (the last one shorter), as Keras batches them."""
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


@_ONE_BLAS_THREAD
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
        ``[kernel (channels, K, F), bias (filters,), dense (positions, filters), dense_bias (1,)]``,
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
