"""GBLUP for many animals: the n x n relationship never formed, REML by stochastic Lanczos quadrature,
the BLUP by conjugate gradients (what ``GBLUP(solver="iterative")`` runs).

With Z the n x p standardised genotypes (int8 codes standardised block by block, never a
float copy of the whole matrix) and K = Z Z' / p, every step needs only products K V for a
few vectors V, each one pass over the genotypes: O(n p) time and O(n) memory per vector,
against O(n^3) and O(n^2) for the eigendecomposition of the exact path.

The restricted likelihood of delta = sigma2_e / sigma2_g, with the fixed effects projected
out (L spans the complement of [1, covariates]; A = L'K L + delta I, n' = n - q), is

    l(delta) = -1/2 [ n' log(y'L A^-1 L'y / n') + log|A| ]

(Harville 1974), the same function the exact path maximises. Both terms come from Lanczos
runs started at the projected y and at M Rademacher probes, done once for all delta because
the Krylov space of K + delta I does not depend on delta: y'A^-1 y is Gauss quadrature on
y's tridiagonal (Golub & Meurant 2010), log|A| is n' log(delta) plus Hutchinson's estimate of
tr log(I + K/delta) by quadrature on the probes' tridiagonals (Ubaru, Chen & Saad 2017,
"stochastic Lanczos quadrature"). The probes are fixed, so l(delta) is a smooth function
maximised as on the exact path; its only error is Hutchinson's, which shrinks as 1/sqrt(M).
BOLT-REML (Loh et al. 2015) takes a related Monte-Carlo route.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.optimize import minimize_scalar

from cnngwp.data.genotypes import Standardizer

__all__ = ["KernelOperator", "LanczosQuadrature", "conjugate_gradient", "iterative_reml"]

_COLUMNS = 2048


class KernelOperator:
    """V -> P K P V with K = Z Z' / p of `X` standardised by `scaler`, and P the projection off the columns of
    `fixed` (the intercept and covariates): one pass over the int8 genotypes per call, any number of vectors."""

    def __init__(self, scaler: Standardizer, X: np.ndarray, fixed: np.ndarray):
        self.scaler, self.X = scaler, X
        self.basis = np.linalg.qr(np.asarray(fixed, dtype=np.float64))[0]
        self.n, self.p = X.shape

    def project(self, V: np.ndarray) -> np.ndarray:
        """V with its part in the span of the fixed effects removed."""
        return V - self.basis @ (self.basis.T @ V)

    def __call__(self, V: np.ndarray) -> np.ndarray:
        return self.project(self.kernel_product(self.project(V)))

    def kernel_product(self, V: np.ndarray) -> np.ndarray:
        """K V, without projections."""
        out = np.zeros_like(V)
        for start in range(0, self.p, _COLUMNS):
            columns = slice(start, start + _COLUMNS)
            Z = self.scaler.select_columns(columns).transform(self.X[:, columns], dtype=np.float64)
            out += Z @ (Z.T @ V)
        return out / self.p


@dataclass(frozen=True)
class LanczosQuadrature:
    """Each starting vector's Lanczos tridiagonal, kept as its eigenvalues (Ritz values) and the squared first
    components of its eigenvectors (quadrature weights): ``v' f(K + delta I) v`` is ``|v|^2 sum w f(theta + delta)``
    for any f and delta."""

    norms2: np.ndarray
    ritz: list[np.ndarray]
    weights: list[np.ndarray]

    @classmethod
    def run(cls, operator, starts: np.ndarray, *, steps: int) -> LanczosQuadrature:
        """`steps` Lanczos steps from every column of `starts` at once (no reorthogonalisation: the quadrature
        does not need it)."""
        norms = np.linalg.norm(starts, axis=0)
        q = starts / norms
        previous = np.zeros_like(q)
        alphas, betas, beta = [], [], np.zeros(starts.shape[1])
        for _ in range(steps):
            w = operator(q)
            alpha = np.einsum("ij,ij->j", q, w)
            w -= alpha * q + beta * previous
            beta = np.linalg.norm(w, axis=0)
            alphas.append(alpha)
            betas.append(beta)
            if np.all(beta < 1e-10 * np.maximum(np.abs(alpha), 1.0)):  # an invariant subspace: exact
                break
            previous, q = q, w / np.where(beta > 0, beta, 1.0)
        alphas, betas = np.array(alphas), np.array(betas)
        ritz, weights = [], []
        for j in range(starts.shape[1]):
            k = len(alphas)
            for stop in range(k - 1):  # a column whose Krylov space closed early ends there
                if betas[stop, j] < 1e-10 * max(abs(alphas[stop, j]), 1.0):
                    k = stop + 1
                    break
            theta, vectors = eigh_tridiagonal(alphas[:k, j], betas[:k - 1, j])
            ritz.append(np.maximum(theta, 0.0))  # K is positive semi-definite
            weights.append(vectors[0] ** 2)
        return cls(norms ** 2, ritz, weights)

    def quadratic_form(self, column: int, function) -> float:
        """``v' f(K) v`` for starting vector `column`."""
        return float(self.norms2[column] * np.sum(self.weights[column] * function(self.ritz[column])))


def conjugate_gradient(operator, shift: float, B: np.ndarray, *, tolerance: float = 1e-10,
                       max_steps: int = 2000) -> np.ndarray:
    """Solve (operator + shift I) X = B for every column of B (B in the operator's range) by conjugate gradients."""
    X = np.zeros_like(B)
    R = B.copy()
    D = R.copy()
    rr = np.einsum("ij,ij->j", R, R)
    target = tolerance ** 2 * rr
    for _ in range(max_steps):
        if np.all(rr <= target):
            break
        AD = operator(D) + shift * D
        step = rr / np.einsum("ij,ij->j", D, AD)
        X += step * D
        R -= step * AD
        new = np.einsum("ij,ij->j", R, R)
        D = R + (new / np.where(rr > 0, rr, 1.0)) * D
        rr = new
    return X


def iterative_reml(operator: KernelOperator, y: np.ndarray, *, n_probes: int = 30, steps: int = 120, seed: int = 0,
                   log_delta_bounds: tuple[float, float] = (-12.0, 12.0)) -> tuple[float, float]:
    """REML estimates ``(delta, sigma2_g)`` of y = X b + g + e, g ~ N(0, sigma2_g K), from `operator` products only.

    Parameters
    ----------
    operator
        The projected kernel (:class:`KernelOperator`); its fixed effects are X.
    n_probes
        M, Hutchinson's Rademacher probes of log|A|.
    steps
        Lanczos steps per starting vector (the quadrature's degree).
    seed
        Seeds the probes.
    """
    n_free = operator.n - operator.basis.shape[1]
    probes = operator.project(np.random.default_rng(seed).choice([-1.0, 1.0], size=(operator.n, n_probes)))
    starts = np.column_stack([operator.project(np.asarray(y, dtype=np.float64)), probes])
    quadrature = LanczosQuadrature.run(operator, starts, steps=steps)

    def loglik(log_delta: float) -> float:
        delta = np.exp(log_delta)
        yAy = quadrature.quadratic_form(0, lambda t: 1.0 / (t + delta))
        trace = np.mean([quadrature.quadratic_form(m, lambda t: np.log1p(t / delta)) for m in range(1, n_probes + 1)])
        logdet = n_free * log_delta + trace * n_free / np.mean(quadrature.norms2[1:])
        return -0.5 * (n_free * np.log(yAy / n_free) + logdet)

    grid = np.linspace(*log_delta_bounds, 49)
    best = grid[np.argmax([loglik(v) for v in grid])]
    step = grid[1] - grid[0]
    bounds = (max(best - step, log_delta_bounds[0]), min(best + step, log_delta_bounds[1]))
    log_delta = minimize_scalar(lambda v: -loglik(v), bounds=bounds, method="bounded", options={"xatol": 1e-8}).x
    delta = float(np.exp(log_delta))
    sigma2_g = quadrature.quadratic_form(0, lambda t: 1.0 / (t + delta)) / n_free
    return delta, float(sigma2_g)
