"""RKHS: Gaussian kernels at several bandwidths, averaged by REML."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from cnngwp.models.baselines.kernel_weights import KernelWeightsMixin
from cnngwp.models.kernels import gaussian_kernels, median_distance, squared_distances

__all__ = ["RKHS"]


class RKHS(KernelWeightsMixin, RegressorMixin, BaseEstimator):
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
        :data:`~cnngwp.models.baselines.common.ITERATIVE_FROM` training animals, Nystrom above.
    n_landmarks, seed
        The Nystrom landmarks (a seeded random subset of the training animals).
        (default 1,500: ``benchmarks/bench_nystrom.py`` measures the test MSE against the
        exact RKHS on the default simulation).

    Attributes
    ----------
    intercept_, fixed_effects_, scaler_
        As for :class:`~cnngwp.models.baselines.gblup.GBLUP`.
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
