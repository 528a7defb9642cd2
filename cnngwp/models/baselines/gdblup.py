"""GDBLUP: additive and dominance kernels, REML (or moments for many animals)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import validate_data

from cnngwp.data.genotypes import Standardizer
from cnngwp.models.baselines.common import ROW_BATCH, back_solve, chosen_solver, training_inputs
from cnngwp.models.baselines.state import GeneticVarianceMixin
from cnngwp.models.kernels import additive_kernel, dominance_codes, dominance_kernel, dominance_scale
from cnngwp.models.large_scale import KernelOperator, NystromPreconditioner, SumOperator, conjugate_gradient
from cnngwp.models.variance_components import moment_variance_components, reml_variance_components

__all__ = ["GDBLUP"]


def _check_genotype_range(X: np.ndarray) -> None:
    """Genotype codes or dosages between 0 and 2 (int8 -1 = missing): what the dominance coding needs."""
    called = X[X != -1] if X.dtype == np.int8 else X
    if called.size and (called.min() < 0 or called.max() > 2):
        raise ValueError(f"expected genotype codes or dosages between 0 and 2 (int8 -1 for missing); "
                         f"got values from {called.min()} to {called.max()}")


class GDBLUP(GeneticVarianceMixin, RegressorMixin, BaseEstimator):
    """Genomic BLUP with additive and dominance relationships, both variance components by REML.

    Model: y = 1 mu + C beta + a + d + e with a ~ N(0, sigma2_g G), d ~ N(0, sigma2_d D),
    e ~ N(0, sigma2_e I). G is GBLUP's standardised relationship (so GDBLUP with no
    dominance variance is GBLUP); D = W W' / sum_j (2 p_j q_j)^2 with the genotypic coding of
    Vitezica et al. (2013) (:func:`cnngwp.models.kernels.dominance_codes`), in which dominance
    deviations are orthogonal to additive values under Hardy-Weinberg proportions, so
    sigma2_d is the classical dominance variance rather than a mix with the additive one.
    The variance components come from one REML over both kernels
    (:func:`cnngwp.models.variance_components.reml_variance_components`). As for GBLUP, the genomic values are
    back-solved to marker effects, so prediction needs no training genotypes.

    Parameters
    ----------
    solver
        ``"exact"``: both n x n kernels and REML; ``"iterative"``: no n x n matrix, the
        variances by the method of moments on kernel products (Haseman-Elston regression for
        several kernels, :func:`cnngwp.models.variance_components.moment_variance_components`) and the
        BLUP by conjugate gradients, O(n p) time and O(n) memory per step; ``"auto"``: exact
        up to :data:`~cnngwp.models.baselines.common.ITERATIVE_FROM` training animals, iterative
        above, so the estimator changes from REML to moments there (``method_`` says which fitted).
    n_probes, seed
        The iterative path's Rademacher probes of the kernels' traces and their seed.

    Attributes
    ----------
    intercept_, fixed_effects_, scaler_, solver_
        As for :class:`~cnngwp.models.baselines.gblup.GBLUP`.
    method_ : str
        How the variance components were estimated: ``"REML"`` (exact path) or ``"moments"`` (iterative path; with
        ``solver="auto"``, above :data:`~cnngwp.models.baselines.common.ITERATIVE_FROM` training animals).
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
        X, y, fixed = training_inputs(self, X, y, covariates, 3)
        _check_genotype_range(X)
        self.scaler_ = Standardizer().fit(X)
        self.solver_ = chosen_solver(self.solver, len(y), "iterative")
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
        self.coef_ = back_solve(self.scaler_.block_coding(np.float64), X, alpha[0]) / X.shape[1]
        self.dominance_coef_ = back_solve(self._dominance, X, alpha[1]) / dominance_scale(self._frequency())
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
        for start in range(0, len(X), ROW_BATCH):
            dominance[start : start + ROW_BATCH] = (
                dominance_codes(X[start : start + ROW_BATCH], self._frequency()) @ self.dominance_coef_
            )
        return additive + dominance
