"""Kernel models for many animals, without an n x n matrix: GBLUP by stochastic block Lanczos quadrature and
conjugate gradients (``GBLUP(solver="iterative")``), RKHS on Nystrom features (``RKHS(solver="nystrom")``).

With Z the n x p standardised genotypes (int8 codes standardised block by block, never a
float copy of the whole matrix) and K = Z Z' / p, every step needs only products K V for a
few vectors V, each one pass over the genotypes: O(n p) time and O(n) memory per vector,
against O(n^3) and O(n^2) for the eigendecomposition of the exact path.

The restricted likelihood of delta = sigma2_e / sigma2_g, with the fixed effects projected
out (L spans the complement of [1, covariates]; A = L'K L + delta I, n' = n - q), is

    l(delta) = -1/2 [ n' log(y'L A^-1 L'y / n') + log|A| ]

(Harville 1974), the same function the exact path maximises. Both terms come from one block
Lanczos run (Golub & Underwood 1977) started at the projected y and M Rademacher probes together,
done once for all delta because the Krylov space of K + delta I does not depend on delta:
y'A^-1 y and the probes' z' log(I + K/delta) z are block Gauss quadrature on the Ritz pairs of
K on that space (Golub & Meurant 2010), and log|A| is n' log(delta) plus Hutchinson's estimate
of tr log(I + K/delta) (stochastic Lanczos quadrature, Ubaru, Chen & Saad 2017, with the probes
sharing one space). The probes are fixed, so l(delta) is a smooth function maximised as on the
exact path; its error is Hutchinson's, which shrinks as 1/sqrt(M), once the steps have resolved
the spectrum. The same space gives the BLUP's solve its starting point and preconditioner.
BOLT-REML (Loh et al. 2015) takes a related Monte-Carlo route.

RKHS's Gaussian kernels are not products of the genotypes, so they are approximated:
m landmark animals (a seeded random subset of the training animals) give each animal the
features K(x, landmarks) K_mm^-1/2, whose inner products are the Nystrom approximation of
the kernel (Williams & Seeger 2001). The kernels' variances then follow by REML on the
features (:func:`cnngwp.models.variance_components.low_rank_reml`, O(n R^2 + R^3) with R the
features of all kernels), and prediction needs the landmarks' genotypes only.

This module holds the machinery (kernel operators, the quadrature, conjugate gradients, the
Nystrom factor); the estimators built on it, :func:`~cnngwp.models.variance_components.iterative_reml`
and :func:`~cnngwp.models.variance_components.moment_variance_components`, live with the other
variance components in :mod:`cnngwp.models.variance_components`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from cnngwp.data.genotypes import Standardizer, column_blocks

__all__ = ["KernelOperator", "LanczosQuadrature", "NystromPreconditioner", "SumOperator", "conjugate_gradient",
           "nystrom_factor"]


class KernelOperator:
    """V -> P K P V with K = F F' / `scale`, F the genotypes `X` coded block by block by `coding` (SNP columns in,
    float32 out), and P the projection off the columns of `fixed` (the intercept and covariates): one pass over the
    int8 genotypes per call, any number of vectors."""

    def __init__(self, X: np.ndarray, fixed: np.ndarray, coding, scale: float):
        self.X, self.coding, self.scale = X, coding, float(scale)
        self.basis = np.linalg.qr(np.asarray(fixed, dtype=np.float64))[0]
        self.n, self.p = X.shape

    @classmethod
    def additive(cls, scaler: Standardizer, X: np.ndarray, fixed: np.ndarray) -> KernelOperator:
        """GBLUP's G = Z Z' / p, Z the genotypes standardised with `scaler`'s statistics."""
        return cls(X, fixed, scaler.block_coding(np.float32), X.shape[1])

    def project(self, V: np.ndarray) -> np.ndarray:
        """V with its part in the span of the fixed effects removed."""
        return V - self.basis @ (self.basis.T @ V)

    def __call__(self, V: np.ndarray) -> np.ndarray:
        return self.project(self.kernel_product(self.project(V)))

    def kernel_product(self, V: np.ndarray) -> np.ndarray:
        """K V, without projections: float32 products per SNP block (as the exact kernel is formed), float64 sums."""
        out = np.zeros(V.shape, dtype=np.float64)
        W = np.asarray(V, dtype=np.float32)
        for columns in column_blocks(self.p):
            F = self.coding(self.X[:, columns], columns)
            out += F @ (F.T @ W)
        return out / self.scale


class SumOperator:
    """V -> sum_k w_k O_k V for projected kernel operators O_k (the genetic part of V in a multi-kernel model)."""

    def __init__(self, operators: list[KernelOperator], weights: np.ndarray):
        self.operators, self.weights = operators, np.asarray(weights, dtype=np.float64)

    def __call__(self, V: np.ndarray) -> np.ndarray:
        return sum((w * op(V) for w, op in zip(self.weights, self.operators, strict=True) if w > 0), np.zeros(V.shape))

    def kernel_product(self, V: np.ndarray) -> np.ndarray:
        """sum_k w_k K_k V, without projections."""
        return sum((w * op.kernel_product(V) for w, op in zip(self.weights, self.operators, strict=True) if w > 0),
                   np.zeros(V.shape))


@dataclass(frozen=True)
class LanczosQuadrature:
    """Block Lanczos from a block of starting vectors V (Golub & Underwood 1977), kept as the Rayleigh-Ritz pairs of
    K on the block Krylov space: ``v_i' f(K + delta I) v_i`` is ``sum_k coefficients[k, i]^2 f(ritz_k + delta)``
    for any f and delta (block Gauss quadrature, exact for polynomials of degree below twice the steps), and
    ``(K + delta I)^-1 v_i`` is approximated on the same space (the Galerkin solution) by :meth:`solve`.

    A block of b vectors explores a b-times larger space per pass over the genotypes than b separate runs and
    resolves the largest eigenvalues of K (families, linkage) for all of them at once, so that they cost fewer
    steps (Ritz values are shared by all columns; ``benchmarks/bench_scale.py`` reports the steps taken)."""

    ritz: np.ndarray
    vectors: np.ndarray
    coefficients: np.ndarray
    basis: tuple[np.ndarray, ...]
    steps: int

    @classmethod
    def run(cls, operator, starts: np.ndarray, *, steps: int, stop=None, check_every: int = 5) -> LanczosQuadrature:
        """Up to `steps` block Lanczos steps (one product of `operator` with a block each) from the columns of
        `starts`, reorthogonalised against the whole basis (block Gram-Schmidt on the last two blocks, where the
        recurrence cancels, then on all) so that the Ritz values stay those of K; every `check_every` steps
        ``stop(quadrature so far)`` may end the run early, and a Krylov space that closes (new directions below
        1e-6 of K's norm, where the float32 products' own error lies, are dropped) ends it: its quadrature is then
        exact to that precision."""
        block, start_factor = _orthonormal_basis(starts, np.linalg.norm(starts, axis=0).max())
        basis, projected, scale = [block], np.zeros((0, 0)), 0.0
        for step in range(1, steps + 1):
            product = operator(block)
            recent = [q.T @ product for q in basis[-2:]]  # the recurrence: all but rounding errors
            for q, c in zip(basis[-2:], recent, strict=True):
                product -= q @ c
            coupling = [q.T @ product for q in basis]  # then the whole basis, which leaves rounding squared
            for q, c in zip(basis, coupling, strict=True):
                product -= q @ c
            for k, c in enumerate(recent, start=len(basis) - len(recent)):
                coupling[k] += c
            coupling[-1] = (coupling[-1] + coupling[-1].T) / 2
            width = block.shape[1]
            projected = np.pad(projected, ((0, width), (0, width)))  # Q'KQ: this block's row and column
            projected[:, -width:] = np.vstack(coupling)
            projected[-width:, :] = projected[:, -width:].T
            scale = max(scale, np.linalg.norm(coupling[-1], 2))
            block = _orthonormal_basis(product, scale)[0]
            if not block.shape[1] or step == steps:
                break
            if stop is not None and step % check_every == 0:
                quadrature = cls._from_projection(projected, start_factor, basis, step)
                if stop(quadrature):
                    return quadrature
            basis.append(block)
        return cls._from_projection(projected, start_factor, basis, step)

    @classmethod
    def _from_projection(cls, projected: np.ndarray, start_factor: np.ndarray, basis: list[np.ndarray], steps: int
                         ) -> LanczosQuadrature:
        """The quadrature of `projected` = Q'KQ on the basis Q, whose first block spans the starts
        (= Q_1 `start_factor`)."""
        ritz, vectors = np.linalg.eigh(projected)
        coefficients = vectors[:start_factor.shape[0]].T @ start_factor
        return cls(np.maximum(ritz, 0.0), vectors, coefficients, tuple(basis), steps)  # K is positive semi-definite

    def quadratic_forms(self, function) -> np.ndarray:
        """``v' f(K) v`` for every starting vector v."""
        return function(self.ritz) @ self.coefficients ** 2

    def quadratic_form(self, column: int, function) -> float:
        """``v' f(K) v`` for starting vector `column`."""
        return float(function(self.ritz) @ self.coefficients[:, column] ** 2)

    def solve(self, column: int, delta: float) -> np.ndarray:
        """``(K + delta I)^-1 v`` for starting vector `column`, on the Krylov space: a starting point for
        :func:`conjugate_gradient`, which measures its residual."""
        return self._expand(self.vectors @ (self.coefficients[:, column] / (self.ritz + delta)))

    def preconditioner(self, shift: float, rank: int = 100) -> NystromPreconditioner:
        """The :class:`NystromPreconditioner` of K + `shift` I from the `rank` largest Ritz pairs (orthonormal
        vectors on the Krylov space, so no further pass over the genotypes)."""
        top = np.argsort(self.ritz)[::-1][:rank]
        return NystromPreconditioner(self._expand(self.vectors[:, top]), self.ritz[top], float(shift))

    def _expand(self, reduced: np.ndarray) -> np.ndarray:
        """Q `reduced`: coordinates on the basis back to animals."""
        out, offset = np.zeros((self.basis[0].shape[0],) + reduced.shape[1:]), 0
        for q in self.basis:
            out += q @ reduced[offset:offset + q.shape[1]]
            offset += q.shape[1]
        return out


def _orthonormal_basis(W: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Q with orthonormal columns and F with W = Q F, Q spanning W's directions above 1e-6 `scale` only."""
    q, r = np.linalg.qr(W)
    left, singular, right = np.linalg.svd(r)
    kept = singular > 1e-6 * scale
    return q @ left[:, kept], singular[kept, None] * right[kept]


def conjugate_gradient(operator, shift: float, B: np.ndarray, *, preconditioner=None, initial: np.ndarray | None = None,
                       tolerance: float = 1e-6, max_steps: int = 2000) -> np.ndarray:
    """Solve (operator + shift I) X = B for every column of B (B in the operator's range) by conjugate gradients
    from `initial` (zero when None), preconditioned by `preconditioner` (a callable applying M^-1, e.g.
    :class:`NystromPreconditioner`) when given; each column stops once its residual is `tolerance` times its
    right-hand side's norm."""
    X = np.zeros_like(B) if initial is None else np.array(initial, dtype=np.float64)
    R = B.copy() if initial is None else B - operator(X) - shift * X
    precondition = preconditioner if preconditioner is not None else (lambda V: V)
    Z = precondition(R)
    D = Z.copy()
    rz = np.einsum("ij,ij->j", R, Z)
    target = tolerance ** 2 * np.einsum("ij,ij->j", B, B)
    for _ in range(max_steps):
        if np.all(np.einsum("ij,ij->j", R, R) <= target):
            break
        AD = operator(D) + shift * D
        step = rz / np.einsum("ij,ij->j", D, AD)
        X += step * D
        R -= step * AD
        Z = precondition(R)
        new = np.einsum("ij,ij->j", R, Z)
        D = Z + (new / np.where(rz > 0, rz, 1.0)) * D
        rz = new
    return X


@dataclass(frozen=True)
class NystromPreconditioner:
    """M^-1 for solving (A + shift I) x = b with A positive semi-definite, from a randomized Nystrom approximation
    A ~ U diag(values) U' of rank r (Frangella, Tropp & Udell 2023):
    M^-1 = (values_r + shift) U (diag(values) + shift)^-1 U' + (I - U U').

    The conditioning of the preconditioned system is about (values_r + shift) / shift instead of
    (values_1 + shift) / shift: a kernel's few large eigenvalues (family structure, linkage)
    no longer set the number of steps. One pass over the genotypes with r vectors builds it
    (:meth:`sketch`), or the Ritz pairs of a Lanczos run (:meth:`LanczosQuadrature.preconditioner`)."""

    vectors: np.ndarray
    values: np.ndarray
    shift: float

    @classmethod
    def sketch(cls, operator, n: int, shift: float, *, rank: int = 100, project=None, seed: int = 0
               ) -> NystromPreconditioner:
        """Rank-`rank` Nystrom approximation of `operator` (n x n) from one product with a random orthonormal test
        matrix, kept in the range of `project` when given (the complement of the fixed effects)."""
        test = np.random.default_rng(seed).standard_normal((n, min(rank, n)))
        test = np.linalg.qr(project(test) if project is not None else test)[0]
        sketched = operator(test)
        stabiliser = np.sqrt(n) * np.finfo(np.float64).eps * np.linalg.norm(sketched, 2)
        sketched = sketched + stabiliser * test
        core = test.T @ sketched
        factor = np.linalg.cholesky((core + core.T) / 2)
        vectors, singular, _ = np.linalg.svd(solve_triangular(factor, sketched.T, lower=True).T, full_matrices=False)
        return cls(vectors, np.maximum(singular ** 2 - stabiliser, 0.0), float(shift))

    def __call__(self, R: np.ndarray) -> np.ndarray:
        coefficients = self.vectors.T @ R
        weights = (self.values[-1] + self.shift) / (self.values + self.shift)
        return R + self.vectors @ ((weights - 1.0)[:, None] * coefficients)


def nystrom_factor(kernel_landmarks: np.ndarray, *, relative_floor: float = 1e-8) -> np.ndarray:
    """T with K_mm^+ = T T' (m x r, eigenvalues below `relative_floor` of the largest dropped): the features of
    animals x are K(x, landmarks) T, and their inner products the Nystrom kernel K_nm K_mm^+ K_mn (Williams &
    Seeger 2001)."""
    values, vectors = np.linalg.eigh(kernel_landmarks)
    keep = values > relative_floor * values.max()
    return vectors[:, keep] / np.sqrt(values[keep])
