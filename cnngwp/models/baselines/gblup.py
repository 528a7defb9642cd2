"""GBLUP: one additive kernel, REML by one eigendecomposition or, for many animals, Lanczos quadrature."""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh
from sklearn.base import BaseEstimator, RegressorMixin

from cnngwp.data.genotypes import Standardizer
from cnngwp.models.baselines.common import back_solve, chosen_solver, training_inputs
from cnngwp.models.baselines.state import GeneticVarianceMixin
from cnngwp.models.kernels import additive_kernel
from cnngwp.models.large_scale import KernelOperator, conjugate_gradient
from cnngwp.models.variance_components import iterative_reml, reml_variance_ratio

__all__ = ["GBLUP"]

# GBLUP's iterative BLUP stops at this relative residual: a tighter solve moves the solution far less than the
# Monte-Carlo error of the variance ratio it is solved with (``reml_.log_standard_errors``) does
_BLUP_TOLERANCE = 1e-5


class GBLUP(GeneticVarianceMixin, RegressorMixin, BaseEstimator):
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
        log and the block Lanczos steps it took (:func:`cnngwp.models.variance_components.iterative_reml`).

    Parameters
    ----------
    solver
        ``"exact"``: REML by one eigendecomposition of G (O(n^3) time, O(n^2) memory);
        ``"iterative"``: G never formed, REML by stochastic block Lanczos quadrature and the BLUP
        by conjugate gradients started on its Krylov space, O(n p) per step
        (:mod:`cnngwp.models.large_scale`); ``"auto"``: exact up to
        :data:`~cnngwp.models.baselines.common.ITERATIVE_FROM` training animals, iterative above.
    n_probes, seed
        The iterative path's Hutchinson probes of log|G + delta I| and their seed.
    """

    def __init__(self, *, solver: str = "auto", n_probes: int = 100, seed: int = 0):
        self.solver = solver
        self.n_probes = n_probes
        self.seed = seed

    def fit(self, X, y, *, covariates=None) -> GBLUP:
        """Estimate variance components by REML (with `covariates` as fixed effects) and solve for genomic values."""
        X, y, fixed = training_inputs(self, X, y, covariates, 2)
        self.scaler_ = Standardizer().fit(X)
        self.solver_ = chosen_solver(self.solver, len(y), "iterative")
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
        self.coef_ = back_solve(self.scaler_.block_coding(np.float64), X, alpha) / X.shape[1]
        return self

    def _fit_iterative(self, X: np.ndarray, y: np.ndarray, fixed: np.ndarray) -> GBLUP:
        operator = KernelOperator.additive(self.scaler_, X, fixed)
        self.reml_, quadrature = iterative_reml(operator, y, n_probes=self.n_probes, seed=self.seed)
        delta = self.reml_.delta
        self._set_variance_components(delta, self.reml_.sigma2_g)
        initial, preconditioner = quadrature.solve(0, delta)[:, None], quadrature.preconditioner(delta)
        del quadrature  # its basis: 8 bytes x n x (the probes + 1) x the steps
        alpha = conjugate_gradient(operator, delta, operator.project(y)[:, None], initial=initial,
                                   preconditioner=preconditioner, tolerance=_BLUP_TOLERANCE)[:, 0]
        # V P y = y - X beta (GLS), with V = G + delta I unprojected
        beta = np.linalg.lstsq(fixed, y - operator.kernel_product(alpha[:, None])[:, 0] - delta * alpha, rcond=None)[0]
        self.intercept_, self.fixed_effects_ = float(beta[0]), beta[1:]
        self.coef_ = back_solve(self.scaler_.block_coding(np.float64), X, alpha) / X.shape[1]
        return self
