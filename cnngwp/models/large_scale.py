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
features (:func:`low_rank_reml`, O(n R^2 + R^3) with R the features of all kernels), and
prediction needs the landmarks' genotypes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import minimize, minimize_scalar

from cnngwp.data.genotypes import Standardizer

__all__ = ["IterativeREML", "KernelOperator", "LanczosQuadrature", "LowRankREMLFit", "NystromPreconditioner",
           "SumOperator", "conjugate_gradient", "iterative_reml", "low_rank_reml", "moment_variance_components",
           "nystrom_factor"]

_COLUMNS = 2048


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
        return cls(X, fixed, lambda block, columns: scaler.select_columns(columns).transform(block, dtype=np.float32),
                   X.shape[1])

    def project(self, V: np.ndarray) -> np.ndarray:
        """V with its part in the span of the fixed effects removed."""
        return V - self.basis @ (self.basis.T @ V)

    def __call__(self, V: np.ndarray) -> np.ndarray:
        return self.project(self.kernel_product(self.project(V)))

    def kernel_product(self, V: np.ndarray) -> np.ndarray:
        """K V, without projections: float32 products per SNP block (as the exact kernel is formed), float64 sums."""
        out = np.zeros(V.shape, dtype=np.float64)
        W = np.asarray(V, dtype=np.float32)
        for start in range(0, self.p, _COLUMNS):
            columns = slice(start, start + _COLUMNS)
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


def moment_variance_components(operators: list[KernelOperator], y: np.ndarray, *, n_probes: int = 100,
                               seed: int = 0) -> np.ndarray:
    """Method-of-moments variances (sigma2_1, ..., sigma2_K, sigma2_e) of y = X b + sum_k g_k + e,
    g_k ~ N(0, sigma2_k K_k), from operator products only.

    E[y'P K_k P y] = sum_l sigma2_l tr(P K_k P K_l) (K_e = I) is solved for the variances,
    the traces estimated with `n_probes` Rademacher probes z as the mean of (P K_k P z)'(P K_l P z):
    one pass over the genotypes per kernel, all probes and y together (Haseman & Elston 1972's
    regression for several kernels; Wu & Sankararaman 2018, Pazokitoroudi et al. 2020,
    "RHE-mc"). Less efficient than REML, but each kernel costs one pass rather than one per
    iteration; a negative estimate is set to 0 and the others solved again without it.
    """
    first = operators[0]
    n_free = first.n - first.basis.shape[1]
    probes = first.project(np.random.default_rng(seed).choice([-1.0, 1.0], size=(first.n, n_probes)))
    py = first.project(np.asarray(y, dtype=np.float64))
    products = [op(np.column_stack([py, probes])) for op in operators]
    scale = n_free / np.mean(np.einsum("ij,ij->j", probes, probes))  # probes lose q of n dimensions to P
    # traces: kernels with kernels, kernels with I, and I with I
    cross = np.array([[np.mean(np.einsum("ij,ij->j", a[:, 1:], b[:, 1:])) * scale for b in products] for a in products])
    diagonal = np.array([np.mean(np.einsum("ij,ij->j", probes, a[:, 1:])) * scale for a in products])
    traces = np.block([[cross, diagonal[:, None]], [diagonal[None, :], np.array([[n_free]])]])
    moments = np.append([py @ a[:, 0] for a in products], py @ py)
    kept = np.ones(len(moments), dtype=bool)
    while True:
        variances = np.zeros(len(moments))
        variances[kept] = np.linalg.solve(traces[np.ix_(kept, kept)], moments[kept])
        negative = kept & (variances < 0)
        negative[-1] = False  # the residual stays
        if not negative.any():
            return variances
        kept &= ~negative


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


class IterativeREML(NamedTuple):
    """What :func:`iterative_reml` found: the estimates, the probes' jackknife standard errors of
    (log delta, log sigma2_g) and the block Lanczos steps (passes over the genotypes) it took."""

    delta: float
    sigma2_g: float
    log_standard_errors: np.ndarray
    steps: int


def iterative_reml(operator: KernelOperator, y: np.ndarray, *, n_probes: int = 100, steps: int = 80, seed: int = 0,
                   precision: float = 0.1, log_delta_bounds: tuple[float, float] = (-12.0, 12.0)
                   ) -> tuple[IterativeREML, LanczosQuadrature]:
    """REML estimates of delta and sigma2_g in y = X b + g + e, g ~ N(0, sigma2_g K), from `operator` products only,
    and the quadrature they came from (y is its first starting vector, so :meth:`LanczosQuadrature.solve` starts
    the BLUP's solve).

    Parameters
    ----------
    operator
        The projected kernel (:class:`KernelOperator`); its fixed effects are X.
    n_probes
        M, Hutchinson's Rademacher probes of log|A|.
    steps
        Most block Lanczos steps (passes over the genotypes with the M + 1 vectors).
    seed
        Seeds the probes.
    precision
        Every 5 steps (log delta, log sigma2_g) are estimated again, with their jackknife standard
        errors over 10 groups of probes (the Monte-Carlo error of Hutchinson's estimate, which no
        number of steps removes); the run stops once both moved less than `precision` times
        their standard error since the last estimate. The steps a given accuracy needs grow with
        the square root of the kernel's condition number past the largest eigenvalues that the
        block resolves first, so stopping far below the probes' own error spends passes on
        precision the estimate cannot have (0 never stops early).
    """
    n_free = operator.n - operator.basis.shape[1]
    probes = operator.project(np.random.default_rng(seed).choice([-1.0, 1.0], size=(operator.n, n_probes)))
    starts = np.column_stack([operator.project(np.asarray(y, dtype=np.float64)), probes])
    groups = np.array_split(np.arange(1, n_probes + 1), min(10, n_probes))
    checked = {}  # steps -> (delta, sigma2_g), their errors

    def estimate(quadrature: LanczosQuadrature) -> tuple[np.ndarray, np.ndarray]:
        if quadrature.steps not in checked:
            checked[quadrature.steps] = (_reml_optimum(quadrature, n_free, log_delta_bounds),
                                         _jackknife_errors(quadrature, n_free, log_delta_bounds, groups))
        return checked[quadrature.steps]

    def settled(quadrature: LanczosQuadrature) -> bool:
        previous = checked[max(checked)][0] if checked else None
        current, errors = estimate(quadrature)
        return previous is not None and bool(np.all(np.abs(np.log(current / previous)) < precision * errors))

    quadrature = LanczosQuadrature.run(operator, starts, steps=steps, stop=settled)
    (delta, sigma2_g), errors = estimate(quadrature)
    return IterativeREML(float(delta), float(sigma2_g), errors, quadrature.steps), quadrature


def _jackknife_errors(quadrature: LanczosQuadrature, n_free: int, log_delta_bounds: tuple[float, float],
                      groups: list[np.ndarray]) -> np.ndarray:
    """Jackknife standard errors of (log delta, log sigma2_g) over `groups` of probe columns."""
    if len(groups) < 2:
        return np.zeros(2)
    every = np.concatenate(groups)
    left_out = np.log([_reml_optimum(quadrature, n_free, log_delta_bounds, np.setdiff1d(every, group))
                       for group in groups])
    return np.sqrt((len(groups) - 1) / len(groups) * np.sum((left_out - left_out.mean(axis=0)) ** 2, axis=0))


def _reml_optimum(quadrature: LanczosQuadrature, n_free: int, log_delta_bounds: tuple[float, float],
                  probes: np.ndarray | None = None) -> np.ndarray:
    """(delta, sigma2_g) maximising the restricted likelihood that `quadrature` (y first, then the probes) gives,
    with the probe columns `probes` (all when None)."""
    probes = np.arange(1, quadrature.coefficients.shape[1]) if probes is None else probes
    norms2 = np.mean(quadrature.quadratic_forms(np.ones_like)[probes])

    def loglik(log_delta: float) -> float:
        delta = np.exp(log_delta)
        yAy = quadrature.quadratic_form(0, lambda t: 1.0 / (t + delta))
        trace = np.mean(quadrature.quadratic_forms(lambda t: np.log1p(t / delta))[probes])
        logdet = n_free * log_delta + trace * n_free / norms2
        return -0.5 * (n_free * np.log(yAy / n_free) + logdet)

    grid = np.linspace(*log_delta_bounds, 49)
    best = grid[np.argmax([loglik(v) for v in grid])]
    step = grid[1] - grid[0]
    bounds = (max(best - step, log_delta_bounds[0]), min(best + step, log_delta_bounds[1]))
    delta = np.exp(minimize_scalar(lambda v: -loglik(v), bounds=bounds, method="bounded", options={"xatol": 1e-8}).x)
    return np.array([delta, quadrature.quadratic_form(0, lambda t: 1.0 / (t + delta)) / n_free])


@dataclass(frozen=True)
class LowRankREMLFit:
    """What :func:`low_rank_reml` found: per-kernel variances, residual variance, fixed effects and each kernel's
    coefficients on its features (``g_k = features_k @ coefficients[k]``)."""

    variances: np.ndarray
    sigma2_e: float
    beta: np.ndarray
    coefficients: list[np.ndarray]


def nystrom_factor(kernel_landmarks: np.ndarray, *, relative_floor: float = 1e-8) -> np.ndarray:
    """T with K_mm^+ = T T' (m x r, eigenvalues below `relative_floor` of the largest dropped): the features of
    animals x are K(x, landmarks) T, and their inner products the Nystrom kernel K_nm K_mm^+ K_mn (Williams &
    Seeger 2001)."""
    values, vectors = np.linalg.eigh(kernel_landmarks)
    keep = values > relative_floor * values.max()
    return vectors[:, keep] / np.sqrt(values[keep])


def low_rank_reml(features: list[np.ndarray], y: np.ndarray, fixed: np.ndarray, *,
                  log_ratio_bounds: tuple[float, float] = (-12.0, 12.0)) -> LowRankREMLFit:
    """REML of y = X beta + sum_k Phi_k u_k + e, u_k ~ N(0, sigma2_k I), e ~ N(0, sigma2_e I), for low-rank
    `features` Phi_k (n x r_k): every step works on the R x R matrix Phi'Phi (R = sum r_k) by Woodbury's identity and
    the matrix determinant lemma, never on an n x n one. The ratios sigma2_k / sigma2_e are found by L-BFGS-B on
    their logarithms; sigma2_e is profiled out."""
    Phi = np.hstack(features)
    sizes = [f.shape[1] for f in features]
    n, q = fixed.shape
    gram, phi_x, phi_y = Phi.T @ Phi, Phi.T @ fixed, Phi.T @ y
    xx, xy, yy = fixed.T @ fixed, fixed.T @ y, float(y @ y)

    def parts(log_ratios: np.ndarray):
        ratios = np.repeat(np.exp(log_ratios), sizes)
        factor = np.linalg.cholesky(gram + np.diag(1.0 / ratios))
        solved = np.linalg.solve(factor, np.column_stack([phi_x, phi_y]))
        sx, sy = solved[:, :q], solved[:, q]
        xwx, xwy, ywy = xx - sx.T @ sx, xy - sx.T @ sy, yy - sy @ sy
        beta = np.linalg.solve(xwx, xwy)
        ypy = ywy - xwy @ beta
        logdet = np.sum(np.log(ratios)) + 2 * np.sum(np.log(np.diag(factor)))
        loglik = -0.5 * ((n - q) * np.log(ypy / (n - q)) + logdet + np.linalg.slogdet(xwx)[1])
        return loglik, ypy / (n - q), beta, factor

    start = np.full(len(features), np.log(1.0 / len(features)))
    result = minimize(lambda v: -parts(v)[0], start, method="L-BFGS-B",
                      bounds=[log_ratio_bounds] * len(features))
    _, sigma2_e, beta, factor = parts(result.x)
    residual = y - fixed @ beta
    weighted = residual - Phi @ np.linalg.solve(factor.T, np.linalg.solve(factor, Phi.T @ residual))  # W r
    ratios = np.exp(result.x)
    coefficients = [ratio * (f.T @ weighted) for ratio, f in zip(ratios, features, strict=True)]
    return LowRankREMLFit(ratios * sigma2_e, float(sigma2_e), beta, coefficients)
