"""The baselines as scikit-learn estimators: the paper's GBLUP, SNP-BLUP and Bayesian LASSO, and the
non-additive kernel models breeders use, dominance GBLUP (GDBLUP) and Gaussian-kernel RKHS.

All take the int8 genotype matrix of :mod:`cnngwp.data.genotypes` (missing = -1), and standardise
the columns inside with statistics of the rows they are fitted on; all but GDBLUP (whose
dominance coding needs 0/1/2 codes) take any numeric array too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
from numba import njit
from scipy.linalg import cho_factor, cho_solve, eigh
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from cnngwp.atomic import atomic_write
from cnngwp.data.covariates import as_covariate_matrix
from cnngwp.data.genotypes import Standardizer
from cnngwp.models.kernels import (
    additive_kernel,
    dominance_codes,
    dominance_kernel,
    dominance_scale,
    gaussian_kernels,
    median_distance,
    reml_variance_components,
    squared_distances,
)
from cnngwp.models.large_scale import (
    KernelOperator,
    NystromPreconditioner,
    SumOperator,
    conjugate_gradient,
    iterative_reml,
    low_rank_reml,
    moment_variance_components,
    nystrom_factor,
)

__all__ = [
    "BASELINE_MODELS",
    "EGBLUP",
    "GBLUP",
    "GDBLUP",
    "ITERATIVE_FROM",
    "RKHS",
    "BayesianLasso",
    "baseline_models",
    "reml_variance_ratio",
]

_BATCH = 1024
#: ``GBLUP(solver="auto")`` turns iterative and ``RKHS(solver="auto")`` Nystrom above this many training animals:
#: the exact paths' time grows as n^3 and their memory as n^2 (RKHS holds several n x n kernels), the scalable ones'
#: as n p (benchmarks/bench_scale.py measures both sides of the switch).
ITERATIVE_FROM = 10_000
_LOG_DELTA_BOUNDS = (-12.0, 12.0)  # variance ratio sigma2_e / sigma2_g between e^-12 and e^12
# GBLUP's iterative BLUP stops at this relative residual: a tighter solve moves the solution far less than the
# Monte-Carlo error of the variance ratio it is solved with (``reml_.log_standard_errors``) does
_BLUP_TOLERANCE = 1e-5


def _check_enough_samples(n: int, minimum: int) -> None:
    if n < minimum:
        raise ValueError(f"needs at least {minimum} samples to estimate variance components; got {n} sample(s)")


def _predict_linear(scaler: Standardizer, X: np.ndarray, intercept: float, coef: np.ndarray) -> np.ndarray:
    """intercept + Z coef for standardised rows of `X`, batch by batch in float64."""
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], _BATCH):
        out[start : start + _BATCH] = scaler.transform(X[start : start + _BATCH], dtype=np.float64) @ coef
    return intercept + out


def _back_solve(code, X: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """code(X)' alpha in column blocks: marker effects from the weights of the genetic values."""
    out = np.zeros(X.shape[1])
    for start in range(0, X.shape[1], _BATCH):
        columns = slice(start, start + _BATCH)
        out[columns] = code(X[:, columns], columns).T @ alpha
    return out


def reml_variance_ratio(eigenvalues: np.ndarray, ut_y: np.ndarray,
                        ut_x: np.ndarray) -> tuple[float, float, float | np.ndarray]:
    """REML estimate of delta = sigma2_e / sigma2_g for y = X beta + g + e, g ~ N(0, sigma2_g K).

    The EMMA / rrBLUP ``mixed.solve`` approach: with K = U diag(eigenvalues) U',
    the restricted log-likelihood is a function of delta alone, maximised over
    log(delta) by a grid and a bounded Brent search; beta is the GLS estimate.

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

    grid = np.linspace(*_LOG_DELTA_BOUNDS, 49)
    best = grid[np.argmax([parts(v)[0] for v in grid])]
    step = grid[1] - grid[0]
    bounds = (max(best - step, _LOG_DELTA_BOUNDS[0]), min(best + step, _LOG_DELTA_BOUNDS[1]))
    log_delta = minimize_scalar(lambda v: -parts(v)[0], bounds=bounds, method="bounded",
                                options={"xatol": 1e-8}).x
    _, sigma2, beta = parts(log_delta)
    return float(np.exp(log_delta)), float(sigma2), (float(beta[0]) if np.ndim(ut_x) == 1 else beta)


def _fixed_design(covariates, n: int, *, fitted: int | None = None) -> np.ndarray:
    """[1, covariates] as float64 (n x (1 + q)); checks the number of columns against a fitted model's."""
    return np.column_stack([np.ones(n), as_covariate_matrix(covariates, n, fitted=fitted)])


class _SavedStateMixin:
    """Writing a fitted model's state (what prediction needs, and its variance components) as ``.npz`` and
    reading it back."""

    #: Fitted variance attributes and how tables name them.
    _variance_labels: ClassVar[dict[str, str]] = {"sigma2_e_": "residual"}

    def variance_components(self) -> dict[str, float]:
        """The fitted variance components by name (``additive``, ``dominance``, ``residual``, ...)."""
        check_is_fitted(self, "scaler_")
        return {label: float(getattr(self, name)) for name, label in self._variance_labels.items()
                if hasattr(self, name)}

    def _state(self) -> dict[str, np.ndarray]:
        method = {"method": np.array(self.method_)} if hasattr(self, "method_") else {}
        return {"intercept": np.array(self.intercept_), "fixed_effects": self.fixed_effects_,
                "snp_mean": self.scaler_.mean_, "snp_scale": self.scaler_.scale_, **method,
                **{name: np.asarray(getattr(self, name)) for name in self._variance_labels}}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        scaler = Standardizer()
        scaler.mean_, scaler.scale_ = state["snp_mean"], state["snp_scale"]
        scaler.constant_ = np.zeros(len(scaler.mean_), dtype=bool)
        self.intercept_, self.fixed_effects_ = float(state["intercept"]), state["fixed_effects"]
        self.scaler_, self.n_features_in_ = scaler, len(scaler.mean_)
        if "method" in state:  # files written before the estimator was recorded have none
            self.method_ = str(state["method"])
        for name in self._variance_labels:
            if name in state:  # files written before the variance components were kept have none
                setattr(self, name, state[name][()] if state[name].ndim == 0 else state[name])

    def save_state(self, path: str | os.PathLike) -> None:
        """Write everything prediction needs (intercept, fixed effects, SNP statistics and the model's own
        effects or training genotypes) as compressed ``.npz``, atomically (what a saved model and a run folder keep)."""
        check_is_fitted(self, "scaler_")
        state = self._state()

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **state)
        atomic_write(path, write)

    @classmethod
    def load_state(cls, path: str | os.PathLike) -> _SavedStateMixin:
        """A fitted model that predicts as the one :meth:`save_state` wrote."""
        model = cls()
        with np.load(path) as state:
            model._restore(dict(state))
        return model

    def _standardise(self, block: np.ndarray, columns: slice) -> np.ndarray:
        return self.scaler_.select_columns(columns).transform(block, dtype=np.float64)

    def _fixed_part(self, covariates, n: int) -> np.ndarray:
        return _fixed_design(covariates, n, fitted=len(self.fixed_effects_))[:, 1:] @ self.fixed_effects_


class _MarkerEffectsMixin(_SavedStateMixin):
    """Prediction from ``intercept_``, per-standardised-SNP ``coef_`` and the covariates' ``fixed_effects_``."""

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "coef": self.coef_}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        super()._restore(state)
        self.coef_ = state["coef"]

    def predict(self, X, *, covariates=None) -> np.ndarray:
        """Predicted genetic value plus intercept (plus fixed effects of `covariates`) for each row of `X`."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype="numeric", reset=False)
        return _predict_linear(self.scaler_, X, self.intercept_, self.coef_) + self._fixed_part(covariates, len(X))


class _VarianceComponentsMixin(_MarkerEffectsMixin):
    """Attributes GBLUP sets once delta and sigma2_g are known."""

    _variance_labels: ClassVar[dict[str, str]] = {"sigma2_g_": "additive", "sigma2_e_": "residual"}

    def _set_variance_components(self, delta: float, sigma2_g: float) -> None:
        self.sigma2_g_ = sigma2_g
        self.sigma2_e_ = delta * sigma2_g
        self.h2_ = sigma2_g / (sigma2_g + self.sigma2_e_)


class GBLUP(_VarianceComponentsMixin, RegressorMixin, BaseEstimator):
    """Genomic BLUP with REML variance components: one eigendecomposition, or Lanczos quadrature for many animals.

    Model: y = 1 mu + C beta + g + e with g ~ N(0, sigma2_g G), e ~ N(0, sigma2_e I)
    and G = Z Z' / p from markers standardised with training statistics (VanRaden's
    second method); C holds the optional fixed-effect covariates. Genomic values of
    new individuals follow from their relationships to the training animals, which
    equals a marker-effect model with ``coef_ = Z' (G + delta I)^-1 (y - mu - C beta) / p``;
    prediction uses ``coef_``.

    Attributes
    ----------
    intercept_ : float
        GLS estimate of mu.
    fixed_effects_ : numpy.ndarray
        GLS estimates of beta, one per covariate column (empty without covariates).
    coef_ : numpy.ndarray
        Marker effects per standardised SNP, back-solved from the genomic values.
    sigma2_g_, sigma2_e_, h2_ : float
        REML variance components and the resulting heritability.
    scaler_ : Standardizer
        Training-row column statistics.
    solver_ : str
        ``"exact"`` or ``"iterative"``: the path that fitted.
    method_ : str
        How the variance components were estimated: ``"REML"`` on both paths.
    reml_ : IterativeREML
        The iterative path only: its estimates with their Monte-Carlo (probe) standard errors in
        log and the block Lanczos steps it took (:func:`cnngwp.models.large_scale.iterative_reml`).

    Parameters
    ----------
    solver
        ``"exact"``: REML by one eigendecomposition of G (O(n^3) time, O(n^2) memory);
        ``"iterative"``: G never formed, REML by stochastic block Lanczos quadrature and the BLUP
        by conjugate gradients started on its Krylov space, O(n p) per step
        (:mod:`cnngwp.models.large_scale`); ``"auto"``: exact up to :data:`ITERATIVE_FROM` training
        animals, iterative above.
    n_probes, seed
        The iterative path's Hutchinson probes of log|G + delta I| and their seed.
    """

    def __init__(self, *, solver: str = "auto", n_probes: int = 100, seed: int = 0):
        self.solver = solver
        self.n_probes = n_probes
        self.seed = seed

    def fit(self, X, y, *, covariates=None) -> GBLUP:
        """Estimate variance components by REML (with `covariates` as fixed effects) and solve for genomic values."""
        X, y = validate_data(self, X, y, dtype="numeric", y_numeric=True)
        fixed = _fixed_design(covariates, len(y))
        _check_enough_samples(len(y), 2 + fixed.shape[1])
        y = y.astype(np.float64)
        self.scaler_ = Standardizer().fit(X)
        self.solver_ = _chosen_solver(self.solver, len(y), "iterative")
        self.method_ = "REML"
        if self.solver_ == "iterative":
            return self._fit_iterative(X, y, fixed)
        kernel = additive_kernel(self.scaler_, X)
        eigenvalues, vectors = eigh(kernel, overwrite_a=True, check_finite=False, driver="evd")
        ut_y, ut_x = vectors.T @ y, vectors.T @ fixed
        delta, sigma2_g, beta = reml_variance_ratio(eigenvalues, ut_y, ut_x)
        self._set_variance_components(delta, sigma2_g)
        alpha = vectors @ ((ut_y - ut_x @ beta) / (np.maximum(eigenvalues, 0.0) + delta))
        self.intercept_, self.fixed_effects_ = float(beta[0]), beta[1:]
        self.coef_ = _back_solve(self._standardise, X, alpha) / X.shape[1]
        return self

    def _fit_iterative(self, X: np.ndarray, y: np.ndarray, fixed: np.ndarray) -> GBLUP:
        operator = KernelOperator.additive(self.scaler_, X, fixed)
        self.reml_, quadrature = iterative_reml(operator, y, n_probes=self.n_probes, seed=self.seed,
                                                log_delta_bounds=_LOG_DELTA_BOUNDS)
        delta = self.reml_.delta
        self._set_variance_components(delta, self.reml_.sigma2_g)
        initial, preconditioner = quadrature.solve(0, delta)[:, None], quadrature.preconditioner(delta)
        del quadrature  # its basis: 8 bytes x n x (the probes + 1) x the steps
        alpha = conjugate_gradient(operator, delta, operator.project(y)[:, None], initial=initial,
                                   preconditioner=preconditioner, tolerance=_BLUP_TOLERANCE)[:, 0]
        # V P y = y - X beta (GLS), with V = G + delta I unprojected
        beta = np.linalg.lstsq(fixed, y - operator.kernel_product(alpha[:, None])[:, 0] - delta * alpha, rcond=None)[0]
        self.intercept_, self.fixed_effects_ = float(beta[0]), beta[1:]
        self.coef_ = _back_solve(self._standardise, X, alpha) / X.shape[1]
        return self


def _chosen_solver(solver: str, n: int, scalable: str) -> str:
    """`solver` checked and ``"auto"`` resolved: ``"exact"`` up to :data:`ITERATIVE_FROM` training animals, else
    `scalable`."""
    if solver not in ("auto", "exact", scalable):
        raise ValueError(f"solver must be 'auto', 'exact' or {scalable!r}; got {solver!r}")
    return solver if solver != "auto" else scalable if n > ITERATIVE_FROM else "exact"


def _check_genotype_range(X: np.ndarray) -> None:
    """Genotype codes or dosages between 0 and 2 (int8 -1 = missing): what the dominance coding needs."""
    called = X[X != -1] if X.dtype == np.int8 else X
    if called.size and (called.min() < 0 or called.max() > 2):
        raise ValueError(f"expected genotype codes or dosages between 0 and 2 (int8 -1 for missing); "
                         f"got values from {called.min()} to {called.max()}")


class GDBLUP(_VarianceComponentsMixin, RegressorMixin, BaseEstimator):
    """Genomic BLUP with additive and dominance relationships, both variance components by REML.

    Model: y = 1 mu + C beta + a + d + e with a ~ N(0, sigma2_g G), d ~ N(0, sigma2_d D),
    e ~ N(0, sigma2_e I). G is GBLUP's standardised relationship (so GDBLUP with no
    dominance variance is GBLUP); D = W W' / sum_j (2 p_j q_j)^2 with the genotypic coding of
    Vitezica et al. (2013) (:func:`cnngwp.models.kernels.dominance_codes`), in which dominance
    deviations are orthogonal to additive values under Hardy-Weinberg proportions, so
    sigma2_d is the classical dominance variance rather than a mix with the additive one.
    The variance components come from one REML over both kernels
    (:func:`cnngwp.models.kernels.reml_variance_components`). As for GBLUP, the genomic values are
    back-solved to marker effects, so prediction needs no training genotypes.

    Parameters
    ----------
    solver
        ``"exact"``: both n x n kernels and REML; ``"iterative"``: no n x n matrix, the
        variances by the method of moments on kernel products (Haseman-Elston regression for
        several kernels, :func:`cnngwp.models.large_scale.moment_variance_components`) and the
        BLUP by conjugate gradients, O(n p) time and O(n) memory per step; ``"auto"``: exact
        up to :data:`ITERATIVE_FROM` training animals, iterative above, so the estimator changes
        from REML to moments there (``method_`` says which fitted).
    n_probes, seed
        The iterative path's Rademacher probes of the kernels' traces and their seed.

    Attributes
    ----------
    intercept_, fixed_effects_, scaler_, solver_
        As for :class:`GBLUP`.
    method_ : str
        How the variance components were estimated: ``"REML"`` (exact path) or ``"moments"`` (iterative path; with
        ``solver="auto"``, above :data:`ITERATIVE_FROM` training animals).
    coef_ : numpy.ndarray
        Additive effect per standardised SNP.
    dominance_coef_ : numpy.ndarray
        Dominance effect per SNP in the genotypic coding (training allele frequencies).
    sigma2_g_, sigma2_d_, sigma2_e_ : float
        Additive, dominance and residual variances (REML; moments on the iterative path).
    h2_ : float
        Narrow-sense heritability sigma2_g / (sigma2_g + sigma2_d + sigma2_e).

    References
    ----------
    Vitezica, Varona & Legarra (2013) Genetics 195:1223; Su et al. (2012) PLoS ONE 7:e45293;
    Pazokitoroudi et al. (2020) Nat. Commun. 11:3865 (moments for several kernels).
    """

    _variance_labels: ClassVar[dict[str, str]] = {"sigma2_g_": "additive", "sigma2_d_": "dominance",
                                                  "sigma2_e_": "residual"}

    def __init__(self, *, solver: str = "auto", n_probes: int = 100, seed: int = 0):
        self.solver = solver
        self.n_probes = n_probes
        self.seed = seed

    def fit(self, X, y, *, covariates=None) -> GDBLUP:
        """Estimate the additive, dominance and residual variances and solve for the effects."""
        X, y = validate_data(self, X, y, dtype="numeric", y_numeric=True)
        _check_genotype_range(X)
        fixed = _fixed_design(covariates, len(y))
        _check_enough_samples(len(y), 3 + fixed.shape[1])
        y = y.astype(np.float64)
        self.scaler_ = Standardizer().fit(X)
        self.solver_ = _chosen_solver(self.solver, len(y), "iterative")
        self.method_ = "moments" if self.solver_ == "iterative" else "REML"
        if self.solver_ == "iterative":
            variances, alpha, beta = self._fit_iterative(X, y, fixed)
        else:
            kernels = [additive_kernel(self.scaler_, X), dominance_kernel(self._frequency(), X)]
            fit = reml_variance_components(kernels, y, fixed)
            variances, alpha, beta = (*fit.variances, fit.sigma2_e), fit.alpha, fit.beta
        self.sigma2_g_, self.sigma2_d_, self.sigma2_e_ = (float(v) for v in variances)
        self.h2_ = self.sigma2_g_ / (self.sigma2_g_ + self.sigma2_d_ + self.sigma2_e_)
        self.intercept_, self.fixed_effects_ = float(beta[0]), beta[1:]
        self.coef_ = _back_solve(self._standardise, X, alpha[0]) / X.shape[1]
        self.dominance_coef_ = _back_solve(self._dominance, X, alpha[1]) / dominance_scale(self._frequency())
        return self

    def _fit_iterative(self, X: np.ndarray, y: np.ndarray, fixed: np.ndarray):
        """(sigma2_g, sigma2_d, sigma2_e), each kernel's alpha (g_k = K_k alpha_k) and the fixed effects, with no
        n x n matrix."""
        kernels = [KernelOperator.additive(self.scaler_, X, fixed),
                   KernelOperator(X, fixed, self._dominance32, dominance_scale(self._frequency()))]
        variances = moment_variance_components(kernels, y, n_probes=self.n_probes, seed=self.seed)
        genetic = SumOperator(kernels, variances[:2])
        preconditioner = NystromPreconditioner.sketch(genetic, len(y), variances[2], project=kernels[0].project,
                                                      seed=self.seed)
        weighted = conjugate_gradient(genetic, variances[2], kernels[0].project(y)[:, None],
                                      preconditioner=preconditioner)[:, 0]  # V^-1 (y - X b)
        beta = np.linalg.lstsq(fixed, y - genetic.kernel_product(weighted[:, None])[:, 0] - variances[2] * weighted,
                               rcond=None)[0]  # V V^-1 (y - X b) = y - X b
        return variances, [variances[0] * weighted, variances[1] * weighted], beta

    def _frequency(self) -> np.ndarray:
        return self.scaler_.mean_ / 2.0

    def _dominance(self, block: np.ndarray, columns: slice) -> np.ndarray:
        return self._dominance32(block, columns).astype(np.float64)

    def _dominance32(self, block: np.ndarray, columns: slice) -> np.ndarray:
        return dominance_codes(block, self._frequency()[columns])

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "dominance_coef": self.dominance_coef_}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        super()._restore(state)
        self.dominance_coef_ = state["dominance_coef"]

    def predict(self, X, *, covariates=None) -> np.ndarray:
        """Additive plus dominance genetic value, intercept and fixed effects for each row of `X`."""
        additive = super().predict(X, covariates=covariates)
        X = validate_data(self, X, dtype="numeric", reset=False)
        _check_genotype_range(X)
        dominance = np.empty(len(X))
        for start in range(0, len(X), _BATCH):
            dominance[start : start + _BATCH] = (
                dominance_codes(X[start : start + _BATCH], self._frequency()) @ self.dominance_coef_
            )
        return additive + dominance


class _KernelWeightsMixin(_SavedStateMixin):
    """Kernel models that predict from their kernels to the training animals: g_k = K_k(., train) alpha_k.

    Subclasses define ``_kernels_within(A)``, the kernels of a set of animals with itself (setting the
    kernels' parameters from it), and ``_kernels_between(A, B)``, between two sets. The exact path forms the
    n x n kernels and runs one multi-kernel REML; the Nystrom path approximates every kernel on `n_landmarks`
    training animals and runs REML on their features (:mod:`cnngwp.models.large_scale`), O(n m) memory. The
    fitted model keeps the training (or landmark) genotypes.
    """

    def _fit_kernels(self, X, y, covariates, n_kernels: int):
        X, y = validate_data(self, X, y, dtype="numeric", y_numeric=True)
        fixed = _fixed_design(covariates, len(y))
        _check_enough_samples(len(y), 2 + n_kernels + fixed.shape[1])
        self.scaler_ = Standardizer().fit(X)
        self.solver_ = _chosen_solver(self.solver, len(y), "nystrom")
        self.method_ = "REML"
        y = y.astype(np.float64)
        if self.solver_ == "nystrom":
            return self._fit_nystrom(X, y, fixed)
        fit = reml_variance_components(self._kernels_within(X), y, fixed)
        self.variances_, self.sigma2_e_ = fit.variances, fit.sigma2_e
        self.intercept_, self.fixed_effects_ = float(fit.beta[0]), fit.beta[1:]
        self.alpha_ = np.vstack(fit.alpha)
        self.train_genotypes_ = np.array(X, dtype=np.int8 if X.dtype == np.int8 else np.float64)
        return self

    def _fit_nystrom(self, X: np.ndarray, y: np.ndarray, fixed: np.ndarray):
        rng = np.random.default_rng(self.seed)
        landmarks = np.sort(rng.choice(len(y), min(self.n_landmarks, len(y)), replace=False))
        factors = [nystrom_factor(k) for k in self._kernels_within(X[landmarks])]
        to_landmarks = [np.vstack(blocks) for blocks in zip(*(
            self._kernels_between(X[start:start + _BATCH], X[landmarks]) for start in range(0, len(y), _BATCH)))]
        features = [kernel @ factor for kernel, factor in zip(to_landmarks, factors, strict=True)]
        fit = low_rank_reml(features, y, fixed, log_ratio_bounds=_LOG_DELTA_BOUNDS)
        self.variances_, self.sigma2_e_ = fit.variances, fit.sigma2_e
        self.intercept_, self.fixed_effects_ = float(fit.beta[0]), fit.beta[1:]
        self.alpha_ = np.vstack([factor @ c for factor, c in zip(factors, fit.coefficients, strict=True)])
        self.train_genotypes_ = np.array(X[landmarks], dtype=np.int8 if X.dtype == np.int8 else np.float64)
        return self

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "alpha": self.alpha_, "train_genotypes": self.train_genotypes_}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        super()._restore(state)
        self.alpha_, self.train_genotypes_ = state["alpha"], state["train_genotypes"]

    def predict(self, X, *, covariates=None) -> np.ndarray:
        """Sum over kernels of K_k(X, train) alpha_k, plus intercept and fixed effects, for each row of `X`."""
        check_is_fitted(self, "alpha_")
        X = validate_data(self, X, dtype="numeric", reset=False)
        genetic = np.empty(len(X))
        for start in range(0, len(X), _BATCH):
            kernels = self._kernels_between(X[start : start + _BATCH], self.train_genotypes_)
            genetic[start : start + _BATCH] = sum(
                kernel @ alpha for kernel, alpha in zip(kernels, self.alpha_, strict=True)
            )
        return self.intercept_ + genetic + self._fixed_part(covariates, len(X))


class RKHS(_KernelWeightsMixin, RegressorMixin, BaseEstimator):
    """Reproducing-kernel Hilbert-space regression with Gaussian kernels averaged by REML.

    Model: y = 1 mu + C beta + sum_k g_k + e with g_k ~ N(0, sigma2_k K_k) and
    K_k = exp(-d^2 / (h_k median d^2)), d the Euclidean distance between genotypes
    standardised with training statistics. Rather than picking one bandwidth, the kernels of
    all `bandwidths` enter together and REML shares the genetic variance among them: the
    kernel averaging of de los Campos et al. (2010), BGLR's multi-kernel RKHS, with REML in
    place of Gibbs sampling. A small bandwidth captures local (non-additive) similarity, a
    large one is close to a linear, additive kernel. Prediction needs the distances to the
    training animals, so the fitted model keeps their genotypes.

    Parameters
    ----------
    bandwidths
        The h_k, in units of the median squared distance between training animals.
    solver
        ``"exact"``: the n x n kernels and multi-kernel REML; ``"nystrom"``: the kernels
        approximated on `n_landmarks` training animals and REML on their features
        (:mod:`cnngwp.models.large_scale`), O(n m) memory; ``"auto"``: exact up to
        :data:`ITERATIVE_FROM` training animals, Nystrom above.
    n_landmarks, seed
        The Nystrom landmarks (a seeded random subset of the training animals).
        (default 1,500: ``benchmarks/bench_nystrom.py`` measures the test MSE against the
        exact RKHS on the default simulation).

    Attributes
    ----------
    intercept_, fixed_effects_, scaler_
        As for :class:`GBLUP`.
    variances_ : numpy.ndarray
        REML sigma2_k per bandwidth.
    sigma2_e_ : float
        Residual variance. (No heritability is derived: a Gaussian kernel's off-diagonal mass
        acts partly like the intercept, so sigma2_k overstates the genetic variance.)
    distance_scale_ : float
        Median squared distance between training animals.
    alpha_ : numpy.ndarray
        Kernels x training animals (or landmarks): g_k = K_k(., train) alpha_k.
    train_genotypes_ : numpy.ndarray
        The training genotypes (int8 codes); the landmarks' under Nystrom.
    solver_ : str
        ``"exact"`` or ``"nystrom"``: the path that fitted.
    method_ : str
        How the variance components were estimated: ``"REML"`` (of the exact kernels, or of the Nystrom features).

    References
    ----------
    Gianola & van Kaam (2008) Genetics 178:2289; de los Campos et al. (2010) Genet. Res. 92:295.
    """

    def __init__(self, *, bandwidths: tuple[float, ...] = (0.25, 1.0, 4.0), solver: str = "auto",
                 n_landmarks: int = 1500, seed: int = 0):
        self.bandwidths = bandwidths
        self.solver = solver
        self.n_landmarks = n_landmarks
        self.seed = seed

    def fit(self, X, y, *, covariates=None) -> RKHS:
        """Estimate the variance of each kernel and the residual by REML and solve for the kernel weights."""
        if not self.bandwidths or min(self.bandwidths) <= 0:
            raise ValueError(f"bandwidths must be positive numbers, got {self.bandwidths}")
        return self._fit_kernels(X, y, covariates, len(self.bandwidths))

    def _kernels_within(self, A: np.ndarray) -> list[np.ndarray]:
        distances = squared_distances(self.scaler_, A)
        self.distance_scale_ = median_distance(distances)
        return gaussian_kernels(distances, self.bandwidths, self.distance_scale_)

    def _kernels_between(self, A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
        return gaussian_kernels(squared_distances(self.scaler_, A, B), self.bandwidths, self.distance_scale_)

    _variance_labels: ClassVar[dict[str, str]] = {"variances_": "kernels", "sigma2_e_": "residual"}

    def variance_components(self) -> dict[str, float]:
        """The variance of each kernel (``kernel h=...``) and the residual variance."""
        check_is_fitted(self, "variances_")
        return {
            **{
                f"kernel h={h:g}": float(v)
                for h, v in zip(self.bandwidths, self.variances_, strict=True)
            },
            "residual": float(self.sigma2_e_),
        }

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "bandwidths": np.asarray(self.bandwidths, dtype=np.float64),
                "distance_scale": np.array(self.distance_scale_)}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        super()._restore(state)
        self.bandwidths = tuple(float(h) for h in state["bandwidths"])
        self.distance_scale_ = float(state["distance_scale"])


class EGBLUP(_KernelWeightsMixin, RegressorMixin, BaseEstimator):
    """GBLUP plus additive-by-additive epistasis: the kernels G and G∘G, both variance components by REML.

    Model: y = 1 mu + C beta + a + aa + e with a ~ N(0, sigma2_g G), aa ~ N(0, sigma2_aa E),
    e ~ N(0, sigma2_e I), G GBLUP's standardised relationship and E = (G∘G) / mean(diag(G∘G)),
    the Hadamard square normalised as G is (its mean diagonal, about 1, over the training
    animals): the additive-by-additive relationship of Henderson (1985), Jiang & Reif (2015)'s
    EGBLUP, the second kernel BGLR and sommer fit. The variance components come from the one
    multi-kernel REML (:func:`cnngwp.models.kernels.reml_variance_components`). Prediction needs
    G between new and training animals, so the fitted model keeps the training genotypes.

    Parameters
    ----------
    solver
        ``"exact"``: both n x n kernels and REML; ``"nystrom"``: G and E approximated on
        `n_landmarks` training animals and REML on their features (as :class:`RKHS`), O(n m)
        memory; ``"auto"``: exact up to :data:`ITERATIVE_FROM` training animals, Nystrom above.
    n_landmarks, seed
        The Nystrom landmarks (a seeded random subset of the training animals).

    Attributes
    ----------
    intercept_, fixed_effects_, scaler_, solver_, method_
        As for :class:`RKHS`.
    variances_ : numpy.ndarray
        REML sigma2_g and sigma2_aa.
    sigma2_g_, sigma2_aa_, sigma2_e_ : float
        Additive, additive-by-additive and residual variances.
    epistatic_scale_ : float
        mean(diag(G∘G)) over the training animals (the landmarks under Nystrom): E's divisor.
    alpha_, train_genotypes_
        As for :class:`RKHS`: g_k = K_k(., train) alpha_k.

    References
    ----------
    Henderson (1985) J. Anim. Sci. 60:111; Jiang & Reif (2015) Genetics 201:759.
    """

    _variance_labels: ClassVar[dict[str, str]] = {"sigma2_g_": "additive", "sigma2_aa_": "epistatic",
                                                  "sigma2_e_": "residual"}

    def __init__(self, *, solver: str = "auto", n_landmarks: int = 1500, seed: int = 0):
        self.solver = solver
        self.n_landmarks = n_landmarks
        self.seed = seed

    def fit(self, X, y, *, covariates=None) -> EGBLUP:
        """Estimate the additive, epistatic and residual variances by REML and solve for the kernel weights."""
        self._fit_kernels(X, y, covariates, 2)
        self.sigma2_g_, self.sigma2_aa_ = (float(v) for v in self.variances_)
        return self

    def _kernels_within(self, A: np.ndarray) -> list[np.ndarray]:
        additive = additive_kernel(self.scaler_, A)
        self.epistatic_scale_ = float(np.mean(np.diag(additive) ** 2))
        return [additive, additive * additive / self.epistatic_scale_]

    def _kernels_between(self, A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
        additive = additive_kernel(self.scaler_, A, B)
        return [additive, additive * additive / self.epistatic_scale_]

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "epistatic_scale": np.array(self.epistatic_scale_)}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        super()._restore(state)
        self.epistatic_scale_ = float(state["epistatic_scale"])
        self.variances_ = np.array([self.sigma2_g_, self.sigma2_aa_])


@njit(cache=True, fastmath=True)
def _gibbs_sweep(x, x2, b, e, tau2, var_e, z):  # pragma: no cover - compiled
    """One pass of BGLR's sample_beta over all markers (x float32 column-major, e float64)."""
    n, p = x.shape
    for j in range(p):
        xj = x[:, j]
        dot = 0.0
        for i in range(n):
            dot += xj[i] * e[i]
        c = (x2[j] + 1.0 / tau2[j]) / var_e
        rhs = (dot + x2[j] * b[j]) / var_e
        new = rhs / c + np.sqrt(1.0 / c) * z[j]
        delta = b[j] - new
        if delta != 0.0:
            for i in range(n):
                e[i] += xj[i] * delta
        b[j] = new


class BayesianLasso(_MarkerEffectsMixin, RegressorMixin, BaseEstimator):
    """Bayesian LASSO (Park & Casella 2008) by Gibbs sampling, as BGLR's ``BL`` model.

    y = mu + C beta + Z b + e, b_j ~ N(0, tau2_j sigma2_e), tau2_j ~ Exp(lambda^2 / 2),
    lambda^2 ~ Gamma(shape, rate), sigma2_e ~ scaled-inverse-chi^2(df0, S0), with
    BGLR's default prior rules: R2 = 0.5, df0 = 5, S0 = var(y)(1 - R2)(df0 + 2),
    shape 1.1, rate = (shape - 1) / lambda0^2 with lambda0^2 = 2 (1 - R2) / R2 * MSx.
    mu and the fixed effects beta of the optional covariates C have a flat prior (BGLR's
    ``FIXED``) and are drawn jointly from their normal full conditional. The marker loop
    is compiled with numba.

    Parameters
    ----------
    n_iter, burn_in, thin
        BGLR's nIter, burnIn, thin.
    r2, df0, shape
        Prior settings as in BGLR.
    seed
        Makes the chain reproducible.

    Attributes
    ----------
    intercept_ : float
        Posterior mean of mu.
    fixed_effects_ : numpy.ndarray
        Posterior means of beta, one per covariate column (empty without covariates).
    coef_ : numpy.ndarray
        Posterior means of the marker effects per standardised SNP.
    sigma2_e_, lambda_ : float
        Posterior means of the residual variance and of lambda.
    scaler_ : Standardizer
        Training-row column statistics.

    References
    ----------
    Park & Casella (2008) JASA 103:681; Pérez & de los Campos (2014) Genetics 198:483.
    """

    def __init__(
        self,
        *,
        n_iter: int = 1500,
        burn_in: int = 500,
        thin: int = 5,
        r2: float = 0.5,
        df0: float = 5.0,
        shape: float = 1.1,
        seed: int = 0,
    ):
        self.n_iter = n_iter
        self.burn_in = burn_in
        self.thin = thin
        self.r2 = r2
        self.df0 = df0
        self.shape = shape
        self.seed = seed

    def fit(self, X, y, *, covariates=None) -> BayesianLasso:
        """Run the Gibbs sampler (with `covariates` as fixed effects) and keep posterior means."""
        X, y = validate_data(self, X, y, dtype="numeric", y_numeric=True)
        fixed = _fixed_design(covariates, len(y))
        _check_enough_samples(len(y), 1 + fixed.shape[1])
        n_kept = self.n_iter // self.thin - self.burn_in // self.thin if self.thin >= 1 else 0
        if self.burn_in < 0 or n_kept < 1:
            raise ValueError(
                f"no posterior sample kept with n_iter={self.n_iter}, burn_in={self.burn_in}, thin={self.thin}; "
                "expected 0 <= burn_in and at least one multiple of thin after burn_in"
            )
        rng = np.random.default_rng(self.seed)
        y = y.astype(np.float64)
        n, p = X.shape
        self.scaler_ = Standardizer().fit(X)
        x = self.scaler_.transform(X, dtype=np.float32, order="F")
        x2 = np.concatenate([(x[:, c : c + _BATCH].astype(np.float64) ** 2).sum(axis=0) for c in range(0, p, _BATCH)])
        var_y = y.var(ddof=1)
        ms_x = float(x2.sum() / n)  # sum of column variances of the standardised markers
        s0 = var_y * (1 - self.r2) * (self.df0 + 2)
        lambda2 = 2 * (1 - self.r2) / self.r2 * ms_x
        rate = (self.shape - 1) / lambda2
        var_e = var_y * (1 - self.r2)
        tau2 = np.full(p, var_y * self.r2 / ms_x)
        b = np.zeros(p)
        # flat prior on (mu, beta): normal full conditional around the least-squares fit of the residual
        cross = cho_factor(fixed.T @ fixed, lower=True, check_finite=False)
        root = np.linalg.cholesky(np.linalg.inv(fixed.T @ fixed))
        beta = cho_solve(cross, fixed.T @ y, check_finite=False)
        e = y - fixed @ beta
        kept = 0
        post_b, post_beta, post_var_e, post_lambda = np.zeros(p), np.zeros(len(beta)), 0.0, 0.0
        for it in range(1, self.n_iter + 1):
            e += fixed @ beta
            beta = cho_solve(cross, fixed.T @ e, check_finite=False) + np.sqrt(
                var_e
            ) * root @ rng.standard_normal(len(beta))
            e -= fixed @ beta
            _gibbs_sweep(x, x2, b, e, tau2, var_e, rng.standard_normal(p))
            nu = np.sqrt(var_e) * np.sqrt(lambda2) / np.maximum(np.abs(b), 1e-300)
            inv_tau2 = rng.wald(nu, lambda2)
            if np.all(inv_tau2 > 0) and np.all(np.isfinite(inv_tau2)):
                tau2 = 1.0 / inv_tau2
            lambda2 = rng.gamma(p + self.shape, 1.0 / (tau2.sum() / 2 + rate))
            ss = e @ e + s0 + np.sum(b**2 / tau2)
            var_e = ss / rng.chisquare(n + self.df0 + p)
            if it > self.burn_in and it % self.thin == 0:
                kept += 1
                post_b += b
                post_beta += beta
                post_var_e += var_e
                post_lambda += np.sqrt(lambda2)
        self.coef_ = post_b / kept
        self.intercept_, self.fixed_effects_ = float(post_beta[0] / kept), post_beta[1:] / kept
        self.sigma2_e_ = post_var_e / kept
        self.lambda_ = post_lambda / kept
        return self


def baseline_models(*, seed: int = 1) -> dict:
    """Fresh estimators of every comparison's baselines, by the name tables use, in table order."""
    return {
        "GBLUP": GBLUP(),
        "GDBLUP": GDBLUP(),
        "EGBLUP": EGBLUP(),
        "RKHS": RKHS(),
        "BLASSO": BayesianLasso(seed=seed),
    }


#: The class of each baseline (what a saved model's file is read with), by name.
BASELINE_MODELS = {name: type(model) for name, model in baseline_models().items()}
