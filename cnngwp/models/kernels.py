"""Genomic kernels and one REML for several of them: what GDBLUP, EGBLUP and RKHS are built from.

Kernels are n x n float64 matrices computed from int8 genotype codes in column blocks
(never a float64 copy of the whole genotype matrix):

* :func:`additive_kernel`: G = Z Z' / p of the markers standardised with training statistics
  (VanRaden's second method, as :class:`cnngwp.models.baselines.GBLUP`);
* :func:`dominance_kernel`: D = W W' / sum_j (2 p_j q_j)^2 with the genotypic coding of
  Vitezica et al. (2013): -2q^2, 2pq, -2p^2 for the codes 2, 1, 0 (p the frequency of the
  counted allele), which makes the dominance deviations orthogonal to the additive values
  under Hardy-Weinberg proportions, so the two variances are the classical ones;
* :func:`gaussian_kernels`: exp(-d^2 / (h median d^2)) of the squared Euclidean distances
  between standardised genotypes, for several bandwidths h.

:func:`reml_variance_components` estimates sigma2_k of y = X beta + sum_k g_k + e,
g_k ~ N(0, sigma2_k K_k), e ~ N(0, sigma2_e I), by maximising the restricted likelihood over
the variance ratios r_k = sigma2_k / sigma2_e >= 0 with sigma2_e profiled out: one
Cholesky factorisation and one inverse of H = I + sum_k r_k K_k per step, with the
analytic gradient (L-BFGS-B). At n of a few thousand a dense O(n^3) step takes a fraction of
a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
from scipy.linalg import cho_factor, cho_solve, lapack
from scipy.optimize import minimize

from cnngwp.data.genotypes import MISSING, Standardizer

__all__ = ["REMLFit", "additive_kernel", "dominance_codes", "dominance_kernel", "dominance_scale", "gaussian_kernels",
           "median_distance", "reml_variance_components", "squared_distances"]

_BLOCK = 1024
#: Bounds of the variance ratios sigma2_k / sigma2_e searched by REML.
RATIO_BOUNDS = (0.0, 1e4)


def additive_kernel(scaler: Standardizer, A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """G = Z_A Z_B' / p of genotypes standardised with `scaler`'s statistics (float64; B = A when None)."""
    return _cross_product(lambda block, columns: scaler.select_columns(columns).transform(block, dtype=np.float32),
                          A, B) / A.shape[1]


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
    def standardise(block: np.ndarray, columns: slice) -> np.ndarray:
        return scaler.select_columns(columns).transform(block, dtype=np.float64)

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
    for start in range(0, A.shape[1], _BLOCK):
        columns = slice(start, start + _BLOCK)
        z = code(A[:, columns], columns)
        out += np.einsum("ij,ij->i", z, z, dtype=np.float64)
    return out


def _cross_product(code, A: np.ndarray, B: np.ndarray | None) -> np.ndarray:
    """sum over column blocks of code(A) code(B)' (products in code's precision, float64 sum); B = A when None."""
    out = np.zeros((A.shape[0], A.shape[0] if B is None else B.shape[0]))
    for start in range(0, A.shape[1], _BLOCK):
        columns = slice(start, start + _BLOCK)
        left = code(A[:, columns], columns)
        right = left if B is None else code(B[:, columns], columns)
        out += (left @ right.T).astype(np.float64)
    return out


@dataclass(frozen=True)
class REMLFit:
    """What :func:`reml_variance_components` found.

    Attributes
    ----------
    variances
        sigma2_k, one per kernel.
    sigma2_e
        Residual variance.
    beta
        GLS estimates of the fixed effects (intercept first).
    alpha
        Per kernel, the weights of the genetic values: g_k = K_k(., train) alpha_k.
    log_likelihood
        The restricted log-likelihood at the optimum (up to a constant).
    """

    variances: np.ndarray
    sigma2_e: float
    beta: np.ndarray
    alpha: list[np.ndarray]
    log_likelihood: float


def _restricted(ratios: np.ndarray, kernels: Sequence[np.ndarray], y: np.ndarray, X: np.ndarray,
                gradient: bool) -> tuple[float, np.ndarray, float, np.ndarray, np.ndarray]:
    """Profiled restricted log-likelihood at variance ratios `ratios`, its gradient, sigma2_e, beta and
    H^-1 (y - X beta)."""
    n, q = X.shape
    H = ratios[0] * kernels[0].T  # Fortran order (the kernels are symmetric): LAPACK factorises it in place
    for ratio, kernel in zip(ratios[1:], kernels[1:], strict=True):
        H += ratio * kernel.T
    H[np.diag_indices(n)] += 1.0
    factor = cho_factor(H, lower=True, overwrite_a=True, check_finite=False)
    hi_x = cho_solve(factor, X, check_finite=False)
    hi_y = cho_solve(factor, y, check_finite=False)
    xhx = X.T @ hi_x
    beta = np.linalg.solve(xhx, X.T @ hi_y)
    py = hi_y - hi_x @ beta  # H^-1 (y - X beta)
    sigma2_e = float(y @ py) / (n - q)
    log_det_h = 2.0 * np.sum(np.log(np.diag(factor[0])))
    loglik = -0.5 * ((n - q) * np.log(sigma2_e) + log_det_h + np.linalg.slogdet(xhx)[1])
    grad = np.zeros(len(kernels))
    if gradient:
        inverse, info = lapack.dpotri(factor[0], lower=1, overwrite_c=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"H is not positive definite (dpotri info {info})")
        lower = np.tril(inverse)  # H^-1 below and on the diagonal; K symmetric: tr(H^-1 K) from one triangle
        diagonal = np.diag(inverse).copy()
        xhx_inv = np.linalg.inv(xhx)
        for k, kernel in enumerate(kernels):
            trace = 2.0 * np.vdot(lower, kernel) - diagonal @ np.diag(kernel)
            trace -= np.trace(xhx_inv @ (hi_x.T @ kernel @ hi_x))
            grad[k] = -0.5 * (trace - float(py @ kernel @ py) / sigma2_e)
    return float(loglik), grad, sigma2_e, beta, py


def reml_variance_components(kernels: Sequence[np.ndarray], y: np.ndarray, X: np.ndarray | None = None, *,
                             start: Sequence[float] | None = None) -> REMLFit:
    """REML variance components of y = X beta + sum_k g_k + e, g_k ~ N(0, sigma2_k K_k), e ~ N(0, sigma2_e I).

    Parameters
    ----------
    kernels
        The n x n kernels (symmetric, positive semi-definite).
    y
        The n phenotypes.
    X
        The fixed-effect design (n x q, linearly independent columns); default the intercept.
    start
        Starting variance ratios sigma2_k / sigma2_e; default 1 / (number of kernels) each.

    Returns
    -------
    REMLFit

    References
    ----------
    Patterson & Thompson (1971) Biometrika 58:545; Gilmour, Thompson & Cullis (1995) Biometrics 51:1440.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    X = np.ones((n, 1)) if X is None else np.asarray(X, dtype=np.float64).reshape(n, -1)
    if n <= X.shape[1] + len(kernels):
        raise ValueError(f"needs more than {X.shape[1] + len(kernels)} samples to estimate "
                         f"{len(kernels) + 1} variance components; got {n}")
    if start is None:
        start = np.full(len(kernels), 1.0 / len(kernels))

    def objective(ratios: np.ndarray) -> tuple[float, np.ndarray]:
        loglik, grad, *_ = _restricted(ratios, kernels, y, X, gradient=True)
        return -loglik, -grad

    result = minimize(objective, np.asarray(start, dtype=np.float64), jac=True, method="L-BFGS-B",
                      bounds=[RATIO_BOUNDS] * len(kernels), options={"ftol": 1e-13, "gtol": 1e-8, "maxiter": 500})
    ratios = result.x
    loglik, _, sigma2_e, beta, py = _restricted(ratios, kernels, y, X, gradient=False)
    return REMLFit(variances=ratios * sigma2_e, sigma2_e=sigma2_e, beta=beta, alpha=[r * py for r in ratios],
                   log_likelihood=loglik)
