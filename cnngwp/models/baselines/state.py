"""A fitted baseline's state: written as ``.npz`` and read back (what a saved model and a run folder keep), its
variance components by name, and prediction from marker effects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from cnngwp.atomic import atomic_write
from cnngwp.data.genotypes import Standardizer
from cnngwp.models.baselines.common import fixed_design, predict_linear

__all__ = []


class SavedStateMixin:
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
    def load_state(cls, path: str | os.PathLike) -> SavedStateMixin:
        """A fitted model that predicts as the one :meth:`save_state` wrote."""
        model = cls()
        with np.load(path) as state:
            model._restore(dict(state))
        return model

    def _fixed_part(self, covariates, n: int) -> np.ndarray:
        return fixed_design(covariates, n, fitted=len(self.fixed_effects_))[:, 1:] @ self.fixed_effects_


class MarkerEffectsMixin(SavedStateMixin):
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
        return predict_linear(self.scaler_, X, self.intercept_, self.coef_) + self._fixed_part(covariates, len(X))


class GeneticVarianceMixin(MarkerEffectsMixin):
    """Attributes GBLUP sets once delta and sigma2_g are known."""

    _variance_labels: ClassVar[dict[str, str]] = {"sigma2_g_": "additive", "sigma2_e_": "residual"}

    def _set_variance_components(self, delta: float, sigma2_g: float) -> None:
        self.sigma2_g_ = sigma2_g
        self.sigma2_e_ = delta * sigma2_g
        self.h2_ = sigma2_g / (sigma2_g + self.sigma2_e_)
