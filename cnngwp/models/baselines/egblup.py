"""EGBLUP: GBLUP plus additive-by-additive epistasis (G and G∘G), by REML."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from cnngwp.models.baselines.kernel_weights import KernelWeightsMixin
from cnngwp.models.kernels import additive_kernel

__all__ = ["EGBLUP"]


class EGBLUP(KernelWeightsMixin, RegressorMixin, BaseEstimator):
    """GBLUP plus additive-by-additive epistasis: the kernels G and G∘G, both variance components by REML.

    Model: y = 1 mu + C beta + a + aa + e with a ~ N(0, sigma2_g G), aa ~ N(0, sigma2_aa E),
    e ~ N(0, sigma2_e I), G GBLUP's standardised relationship and E = (G∘G) / mean(diag(G∘G)),
    the Hadamard square normalised as G is (its mean diagonal, about 1, over the training
    animals): the additive-by-additive relationship of Henderson (1985), Jiang & Reif (2015)'s
    EGBLUP, the second kernel BGLR and sommer fit. The variance components come from the one
    multi-kernel REML (:func:`cnngwp.models.variance_components.reml_variance_components`). Prediction needs
    G between new and training animals, so the fitted model keeps the training genotypes.

    Parameters
    ----------
    solver
        ``"exact"``: both n x n kernels and REML; ``"nystrom"``: G and E approximated on
        `n_landmarks` training animals and REML on their features (as
        :class:`~cnngwp.models.baselines.rkhs.RKHS`), O(n m) memory; ``"auto"``: exact up to
        :data:`~cnngwp.models.baselines.common.ITERATIVE_FROM` training animals, Nystrom above.
    n_landmarks, seed
        The Nystrom landmarks (a seeded random subset of the training animals).

    Attributes
    ----------
    intercept_, fixed_effects_, scaler_, solver_, method_
        As for :class:`~cnngwp.models.baselines.rkhs.RKHS`.
    variances_ : numpy.ndarray
        REML sigma2_g and sigma2_aa.
    sigma2_g_, sigma2_aa_, sigma2_e_ : float
        Additive, additive-by-additive and residual variances.
    epistatic_scale_ : float
        mean(diag(G∘G)) over the training animals (the landmarks under Nystrom): E's divisor.
    alpha_, train_genotypes_
        As for :class:`~cnngwp.models.baselines.rkhs.RKHS`: g_k = K_k(., train) alpha_k.

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
