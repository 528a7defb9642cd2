"""Independent reference computations the tests compare the library against."""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve, eigh
from scipy.optimize import minimize

from cnngwp.data.genotypes import Standardizer
from cnngwp.models.variance_components import reml_variance_ratio


class RidgeBLUP:
    """SNP-BLUP: ridge regression on standardised markers with GBLUP's REML variance ratio, solved in the primal
    form ``u = (Z'Z + p delta I)^-1 Z'(y - mu)`` by a Cholesky factorisation: an independent path to GBLUP's
    predictions."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> RidgeBLUP:
        y = np.asarray(y, dtype=np.float64)
        p = X.shape[1]
        self.scaler_ = Standardizer().fit(X)
        z = self.scaler_.transform(X, dtype=np.float64)
        eigenvalues, vectors = eigh(z @ z.T / p, check_finite=False, driver="evd")
        delta = reml_variance_ratio(eigenvalues, vectors.T @ y, vectors.sum(axis=0))[0]
        self.h2_ = 1.0 / (1.0 + delta)
        lhs = z.T @ z  # with training-centred Z the intercept decouples
        lhs[np.diag_indices(p)] += p * delta
        self.intercept_ = float(y.mean())
        self.coef_ = cho_solve(cho_factor(lhs, check_finite=False), z.T @ (y - self.intercept_), check_finite=False)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.intercept_ + self.scaler_.transform(X, dtype=np.float64) @ self.coef_


def direct_reml(kernels: list[np.ndarray], y: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """REML of y = F beta + sum_k g_k + e, g_k ~ N(0, s_k K_k), written from the textbook likelihood:
    -2 l = log|V| + log|F'V^-1 F| + r'V^-1 r, V = sum_k s_k K_k + s_e I, minimised over log(s_1..k, s_e) by
    Nelder-Mead. Returns (s_1, ..., s_k, s_e) and the GLS beta at the optimum."""
    n = len(y)

    def gls(log_s):
        s = np.exp(log_s)
        V = s[-1] * np.eye(n) + sum(v * K for v, K in zip(s[:-1], kernels, strict=True))
        Vi = np.linalg.inv(V)
        FVF = F.T @ Vi @ F
        beta = np.linalg.solve(FVF, F.T @ Vi @ y)
        r = y - F @ beta
        return np.linalg.slogdet(V)[1] + np.linalg.slogdet(FVF)[1] + r @ Vi @ r, beta

    start = np.log(np.full(len(kernels) + 1, y.var() / (len(kernels) + 1)))
    result = minimize(lambda v: gls(v)[0], x0=start, method="Nelder-Mead",
                      options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20_000, "maxfev": 20_000})
    assert result.success
    return np.exp(result.x), gls(result.x)[1]
