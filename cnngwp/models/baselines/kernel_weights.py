"""The kernel models that predict from their kernels to the training animals (RKHS, EGBLUP): one multi-kernel
REML on the exact kernels, or on Nystrom features for many animals."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from cnngwp.data.genotypes import Standardizer
from cnngwp.models.baselines.common import ROW_BATCH, chosen_solver, training_inputs
from cnngwp.models.baselines.state import SavedStateMixin
from cnngwp.models.large_scale import nystrom_factor
from cnngwp.models.variance_components import low_rank_reml, reml_variance_components

__all__ = []


class KernelWeightsMixin(SavedStateMixin):
    """Kernel models that predict from their kernels to the training animals: g_k = K_k(., train) alpha_k.

    Subclasses define ``_kernels_within(A)``, the kernels of a set of animals with itself (setting the
    kernels' parameters from it), and ``_kernels_between(A, B)``, between two sets. The exact path forms the
    n x n kernels and runs one multi-kernel REML; the Nystrom path approximates every kernel on `n_landmarks`
    training animals and runs REML on their features (:mod:`cnngwp.models.large_scale`), O(n m) memory. The
    fitted model keeps the training (or landmark) genotypes.
    """

    def _fit_kernels(self, X, y, covariates, n_kernels: int):
        X, y, fixed = training_inputs(self, X, y, covariates, 2 + n_kernels)
        self.scaler_ = Standardizer().fit(X)
        self.solver_ = chosen_solver(self.solver, len(y), "nystrom")
        self.method_ = "REML"
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
            self._kernels_between(X[start:start + ROW_BATCH], X[landmarks]) for start in range(0, len(y), ROW_BATCH)))]
        features = [kernel @ factor for kernel, factor in zip(to_landmarks, factors, strict=True)]
        fit = low_rank_reml(features, y, fixed)
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
        for start in range(0, len(X), ROW_BATCH):
            kernels = self._kernels_between(X[start : start + ROW_BATCH], self.train_genotypes_)
            genetic[start : start + ROW_BATCH] = sum(
                kernel @ alpha for kernel, alpha in zip(kernels, self.alpha_, strict=True)
            )
        return self.intercept_ + genetic + self._fixed_part(covariates, len(X))
