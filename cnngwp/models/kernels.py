"""Genomic kernels: what GDBLUP, EGBLUP and RKHS are built from.

Kernels are n x n float64 matrices computed from int8 genotype codes in column blocks
(:func:`cnngwp.data.genotypes.column_blocks`; never a float64 copy of the whole genotype matrix):

* :func:`additive_kernel`: G = Z Z' / p of the markers standardised with training statistics
  (VanRaden's second method, as :class:`cnngwp.models.baselines.gblup.GBLUP`);
* :func:`dominance_kernel`: D = W W' / sum_j (2 p_j q_j)^2 with the genotypic coding of
  Vitezica et al. (2013): -2q^2, 2pq, -2p^2 for the codes 2, 1, 0 (p the frequency of the
  counted allele), which makes the dominance deviations orthogonal to the additive values
  under Hardy-Weinberg proportions, so the two variances are the classical ones;
* :func:`gaussian_kernels`: exp(-d^2 / (h median d^2)) of the squared Euclidean distances
  between standardised genotypes, for several bandwidths h.

Their variance components come from :mod:`cnngwp.models.variance_components`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from cnngwp.data.genotypes import MISSING, Standardizer, column_blocks

__all__ = ["additive_kernel", "dominance_codes", "dominance_kernel", "dominance_scale", "gaussian_kernels",
           "median_distance", "squared_distances"]


def additive_kernel(scaler: Standardizer, A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """G = Z_A Z_B' / p of genotypes standardised with `scaler`'s statistics (float64; B = A when None).

    Within one set (B None: the training kernel, formed once) the products are float32; between two sets they are
    float64, as in :func:`squared_distances`, so an animal's kernel row does not depend on which other animals share
    its batch (float32 matrix products round differently with the number of rows).
    """
    precision = np.float32 if B is None else np.float64
    return _cross_product(scaler.block_coding(precision), A, B) / A.shape[1]


def dominance_codes(codes: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """Vitezica et al.'s genotypic dominance coding of `codes` (samples x SNPs, float32).

    Code 2 (two counted alleles) -> -2q^2, 1 -> 2pq, 0 -> -2p^2 with `frequency` p of the
    counted allele per column and q = 1 - p: the quadratic x (2p + 1) - x^2 - 2p^2, which
    also codes dosages between the counts. A missing int8 call (-1) -> 0, its expectation.
    """
    p = np.asarray(frequency, dtype=np.float32)
    if np.asarray(codes).dtype == np.int8:
        out = np.empty(np.shape(codes), dtype=np.float32)
        _dominance_of_codes(codes, p, out)
        return out
    x = np.asarray(codes, dtype=np.float32)
    return x * (2 * p + 1) - x * x - 2 * p * p


@numba.njit(cache=True, parallel=True)
def _dominance_of_codes(codes, p, out):  # pragma: no cover - compiled
    """:func:`dominance_codes` of int8 codes in one compiled loop: NumPy's float32 operations in NumPy's order (the
    same values to the last bit), no temporary arrays."""
    one, two = np.float32(1.0), np.float32(2.0)
    for i in numba.prange(codes.shape[0]):
        for j in range(codes.shape[1]):
            x = np.float32(codes[i, j])
            out[i, j] = 0.0 if codes[i, j] == MISSING else x * (two * p[j] + one) - x * x - two * p[j] * p[j]


def dominance_scale(frequency: np.ndarray) -> float:
    """sum_j (2 p_j q_j)^2: the dominance kernel's divisor (its mean diagonal under Hardy-Weinberg)."""
    p = np.asarray(frequency, dtype=np.float64)
    return float(np.sum((2 * p * (1 - p)) ** 2))


def dominance_kernel(frequency: np.ndarray, A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """D = W_A W_B' / sum_j (2 p_j q_j)^2 of :func:`dominance_codes` with training `frequency` (B = A when None)."""
    return _cross_product(lambda block, columns: dominance_codes(block, frequency[columns]), A, B) \
        / dominance_scale(frequency)


def squared_distances(scaler: Standardizer, A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances between the standardised rows of `A` and of `B` (float64; B = A when None).

    Computed in float64 throughout: a distance is a small difference of large norms, and an
    animal's distances must not depend on which other animals share its batch.
    """
    standardise = scaler.block_coding(np.float64)
    cross = _cross_product(standardise, A, B)
    norms_a = _squared_norms(standardise, A)
    norms_b = norms_a if B is None else _squared_norms(standardise, B)
    return np.maximum(norms_a[:, None] + norms_b[None, :] - 2 * cross, 0.0)


def gaussian_kernels(distances: np.ndarray, bandwidths: Sequence[float], scale: float) -> list[np.ndarray]:
    """exp(-d^2 / (h * scale)) for each bandwidth h (`scale`: the median training d^2)."""
    return [np.exp(-distances / (h * scale)) for h in bandwidths]


def median_distance(distances: np.ndarray) -> float:
    """The median squared distance between two different training animals (the kernels' unit)."""
    return float(np.median(distances[np.triu_indices(len(distances), k=1)]))


def _squared_norms(code, A: np.ndarray) -> np.ndarray:
    out = np.zeros(A.shape[0])
    for columns in column_blocks(A.shape[1]):
        z = code(A[:, columns], columns)
        out += np.einsum("ij,ij->i", z, z, dtype=np.float64)
    return out


def _cross_product(code, A: np.ndarray, B: np.ndarray | None) -> np.ndarray:
    """sum over column blocks of code(A) code(B)' (products in code's precision, float64 sum); B = A when None."""
    out = np.zeros((A.shape[0], A.shape[0] if B is None else B.shape[0]))
    for columns in column_blocks(A.shape[1]):
        left = code(A[:, columns], columns)
        right = left if B is None else code(B[:, columns], columns)
        out += (left @ right.T).astype(np.float64)
    return out
