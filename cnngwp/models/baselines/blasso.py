"""The Bayesian LASSO by Gibbs sampling, as BGLR's ``BL`` model."""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.linalg import cho_factor, cho_solve
from sklearn.base import BaseEstimator, RegressorMixin

from cnngwp.data.genotypes import Standardizer, column_blocks
from cnngwp.models.baselines.common import training_inputs
from cnngwp.models.baselines.state import MarkerEffectsMixin

__all__ = ["BayesianLasso"]


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


class BayesianLasso(MarkerEffectsMixin, RegressorMixin, BaseEstimator):
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
        X, y, fixed = training_inputs(self, X, y, covariates, 1)
        n_kept = self.n_iter // self.thin - self.burn_in // self.thin if self.thin >= 1 else 0
        if self.burn_in < 0 or n_kept < 1:
            raise ValueError(
                f"no posterior sample kept with n_iter={self.n_iter}, burn_in={self.burn_in}, thin={self.thin}; "
                "expected 0 <= burn_in and at least one multiple of thin after burn_in"
            )
        rng = np.random.default_rng(self.seed)
        n, p = X.shape
        self.scaler_ = Standardizer().fit(X)
        x = self.scaler_.transform(X, dtype=np.float32, order="F")
        x2 = np.concatenate([(x[:, columns].astype(np.float64) ** 2).sum(axis=0) for columns in column_blocks(p)])
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
