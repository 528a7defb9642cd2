"""Variance components of the kernel models: one parameterisation, one set of bounds, one profiled search.

Every kernel model here is y = X beta + sum_k g_k + e with g_k ~ N(0, sigma2_k K_k) and
e ~ N(0, sigma2_e I). Every estimator works with the variance ratios
theta_k = sigma2_k / sigma2_e, sigma2_e profiled out, searched within :data:`LOG_RATIO_BOUNDS`
(log theta between -12 and 12):

* :func:`reml_variance_ratio`: one kernel by one eigendecomposition (GBLUP's exact path). The
  likelihood is written in delta = 1 / theta (EMMA's form: K + delta I) and maximised over
  log delta by :func:`profile_search`;
* :func:`reml_variance_components`: several dense kernels (GDBLUP, EGBLUP and RKHS, exact
  paths), theta_k by L-BFGS-B with the analytic gradient; this likelihood is defined at
  theta_k = 0, so a component may reach zero (its lower bound) and stops at e^12 above;
* :func:`low_rank_reml`: several kernels given as low-rank features (the Nystrom paths), log
  theta_k by L-BFGS-B;
* :func:`iterative_reml`: one kernel from kernel products only, by stochastic block Lanczos
  quadrature (GBLUP's iterative path), log delta by :func:`profile_search`;
* :func:`moment_variance_components`: several kernels by the method of moments from kernel
  products only (GDBLUP's iterative path, which is not REML: its models record
  ``method_ = "moments"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.linalg import cho_factor, cho_solve, lapack
from scipy.optimize import minimize, minimize_scalar

from cnngwp.models.large_scale import KernelOperator, LanczosQuadrature

__all__ = ["LOG_RATIO_BOUNDS", "IterativeREML", "LowRankREMLFit", "REMLFit", "iterative_reml", "low_rank_reml",
           "moment_variance_components", "profile_search", "reml_variance_components", "reml_variance_ratio"]

#: Bounds of log theta_k, theta_k = sigma2_k / sigma2_e, for every estimator of this module.
LOG_RATIO_BOUNDS = (-12.0, 12.0)
# the one-kernel searches run over log delta = -log theta
_LOG_DELTA_BOUNDS = (-LOG_RATIO_BOUNDS[1], -LOG_RATIO_BOUNDS[0])
# the dense multi-kernel path: theta_k itself, from 0 (a component may vanish) to e^12
_RATIO_BOUNDS = (0.0, float(np.exp(LOG_RATIO_BOUNDS[1])))
_GRID_POINTS = 49


def profile_search(log_likelihood: Callable[[float], float], bounds: tuple[float, float] = _LOG_DELTA_BOUNDS
                   ) -> float:
    """The argument in `bounds` maximising a one-parameter profiled likelihood: the best of a 49-point grid, then a
    bounded Brent search between its neighbours (to 1e-8), which finds the global maximum of a likelihood with
    several local ones as long as the grid separates them."""
    grid = np.linspace(*bounds, _GRID_POINTS)
    best = grid[np.argmax([log_likelihood(v) for v in grid])]
    step = grid[1] - grid[0]
    inner = (max(best - step, bounds[0]), min(best + step, bounds[1]))
    return float(minimize_scalar(lambda v: -log_likelihood(v), bounds=inner, method="bounded",
                                 options={"xatol": 1e-8}).x)


def reml_variance_ratio(eigenvalues: np.ndarray, ut_y: np.ndarray,
                        ut_x: np.ndarray) -> tuple[float, float, float | np.ndarray]:
    """REML estimate of delta = sigma2_e / sigma2_g for y = X beta + g + e, g ~ N(0, sigma2_g K).

    The EMMA / rrBLUP ``mixed.solve`` approach: with K = U diag(eigenvalues) U',
    the restricted log-likelihood is a function of delta alone, maximised over
    log(delta) by :func:`profile_search`; beta is the GLS estimate.

    Parameters
    ----------
    eigenvalues
        Eigenvalues of K (n).
    ut_y
        U' y.
    ut_x
        U' X: a vector for the intercept alone (X = 1), or an n x q matrix whose
        columns are linearly independent (intercept and fixed-effect covariates).

    Returns
    -------
    tuple
        ``(delta, sigma2_g, beta)``: variance ratio, genetic variance and the GLS
        estimate of beta at the optimum (a float when `ut_x` is a vector).

    References
    ----------
    Kang et al. (2008) Genetics 178:1709 (EMMA); Endelman (2011) Plant Genome 4:250 (rrBLUP).
    """
    n = len(ut_y)
    lam = np.maximum(eigenvalues, 0.0)
    x = np.asarray(ut_x, dtype=np.float64).reshape(n, -1)
    q = x.shape[1]

    def parts(log_delta: float) -> tuple[float, float, np.ndarray]:
        w = 1.0 / (lam + np.exp(log_delta))
        xwx = (x * w[:, None]).T @ x
        beta = np.linalg.solve(xwx, (x * w[:, None]).T @ ut_y)
        sigma2 = np.sum(w * (ut_y - x @ beta) ** 2) / (n - q)
        loglik = -0.5 * ((n - q) * np.log(sigma2) - np.sum(np.log(w)) + np.linalg.slogdet(xwx)[1])
        return loglik, sigma2, beta

    log_delta = profile_search(lambda v: parts(v)[0])
    _, sigma2, beta = parts(log_delta)
    return float(np.exp(log_delta)), float(sigma2), (float(beta[0]) if np.ndim(ut_x) == 1 else beta)


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
                      bounds=[_RATIO_BOUNDS] * len(kernels), options={"ftol": 1e-13, "gtol": 1e-8, "maxiter": 500})
    ratios = result.x
    loglik, _, sigma2_e, beta, py = _restricted(ratios, kernels, y, X, gradient=False)
    return REMLFit(variances=ratios * sigma2_e, sigma2_e=sigma2_e, beta=beta, alpha=[r * py for r in ratios],
                   log_likelihood=loglik)


@dataclass(frozen=True)
class LowRankREMLFit:
    """What :func:`low_rank_reml` found: per-kernel variances, residual variance, fixed effects and each kernel's
    coefficients on its features (``g_k = features_k @ coefficients[k]``)."""

    variances: np.ndarray
    sigma2_e: float
    beta: np.ndarray
    coefficients: list[np.ndarray]


def low_rank_reml(features: list[np.ndarray], y: np.ndarray, fixed: np.ndarray) -> LowRankREMLFit:
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
                      bounds=[LOG_RATIO_BOUNDS] * len(features))
    _, sigma2_e, beta, factor = parts(result.x)
    residual = y - fixed @ beta
    weighted = residual - Phi @ np.linalg.solve(factor.T, np.linalg.solve(factor, Phi.T @ residual))  # W r
    ratios = np.exp(result.x)
    coefficients = [ratio * (f.T @ weighted) for ratio, f in zip(ratios, features, strict=True)]
    return LowRankREMLFit(ratios * sigma2_e, float(sigma2_e), beta, coefficients)


class IterativeREML(NamedTuple):
    """What :func:`iterative_reml` found: the estimates, the probes' jackknife standard errors of
    (log delta, log sigma2_g) and the block Lanczos steps (passes over the genotypes) it took."""

    delta: float
    sigma2_g: float
    log_standard_errors: np.ndarray
    steps: int


def iterative_reml(operator: KernelOperator, y: np.ndarray, *, n_probes: int = 100, steps: int = 80, seed: int = 0,
                   precision: float = 0.1
                   ) -> tuple[IterativeREML, LanczosQuadrature]:
    """REML estimates of delta and sigma2_g in y = X b + g + e, g ~ N(0, sigma2_g K), from `operator` products only,
    and the quadrature they came from (y is its first starting vector, so
    :meth:`~cnngwp.models.large_scale.LanczosQuadrature.solve` starts the BLUP's solve).

    Parameters
    ----------
    operator
        The projected kernel (:class:`~cnngwp.models.large_scale.KernelOperator`); its fixed effects are X.
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
            checked[quadrature.steps] = (_reml_optimum(quadrature, n_free),
                                         _jackknife_errors(quadrature, n_free, groups))
        return checked[quadrature.steps]

    def settled(quadrature: LanczosQuadrature) -> bool:
        previous = checked[max(checked)][0] if checked else None
        current, errors = estimate(quadrature)
        return previous is not None and bool(np.all(np.abs(np.log(current / previous)) < precision * errors))

    quadrature = LanczosQuadrature.run(operator, starts, steps=steps, stop=settled)
    (delta, sigma2_g), errors = estimate(quadrature)
    return IterativeREML(float(delta), float(sigma2_g), errors, quadrature.steps), quadrature


def _jackknife_errors(quadrature: LanczosQuadrature, n_free: int, groups: list[np.ndarray]) -> np.ndarray:
    """Jackknife standard errors of (log delta, log sigma2_g) over `groups` of probe columns."""
    if len(groups) < 2:
        return np.zeros(2)
    every = np.concatenate(groups)
    left_out = np.log([_reml_optimum(quadrature, n_free, np.setdiff1d(every, group))
                       for group in groups])
    return np.sqrt((len(groups) - 1) / len(groups) * np.sum((left_out - left_out.mean(axis=0)) ** 2, axis=0))


def _reml_optimum(quadrature: LanczosQuadrature, n_free: int, probes: np.ndarray | None = None) -> np.ndarray:
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

    delta = np.exp(profile_search(loglik))
    return np.array([delta, quadrature.quadratic_form(0, lambda t: 1.0 / (t + delta)) / n_free])


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
