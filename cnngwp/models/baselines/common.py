"""What every baseline shares: the fixed-effect design, the exact-or-scalable switch, predictions from marker
effects and the back-solve of genetic values to marker effects."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import validate_data

from cnngwp.data.covariates import as_covariate_matrix
from cnngwp.data.genotypes import Standardizer, column_blocks

__all__ = ["ITERATIVE_FROM"]

#: Animals per batch when a fitted baseline predicts.
ROW_BATCH = 1024
#: ``GBLUP(solver="auto")`` turns iterative and ``RKHS(solver="auto")`` Nystrom above this many training animals:
#: the exact paths' time grows as n^3 and their memory as n^2 (RKHS holds several n x n kernels), the scalable ones'
#: as n p (benchmarks/bench_scale.py measures both sides of the switch).
ITERATIVE_FROM = 10_000


def training_inputs(estimator, X, y, covariates, n_parameters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What every baseline's ``fit`` starts from: `X` and `y` checked as scikit-learn checks them (`y` as float64)
    and the fixed-effect design [1, `covariates`], once there are at least `n_parameters` samples beside the fixed
    effects' columns."""
    X, y = validate_data(estimator, X, y, dtype="numeric", y_numeric=True)
    fixed = fixed_design(covariates, len(y))
    minimum = n_parameters + fixed.shape[1]
    if len(y) < minimum:
        raise ValueError(f"needs at least {minimum} samples to estimate variance components; got {len(y)} sample(s)")
    return X, y.astype(np.float64), fixed


def predict_linear(scaler: Standardizer, X: np.ndarray, intercept: float, coef: np.ndarray) -> np.ndarray:
    """intercept + Z coef for standardised rows of `X`, batch by batch in float64."""
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], ROW_BATCH):
        out[start : start + ROW_BATCH] = scaler.transform(X[start : start + ROW_BATCH], dtype=np.float64) @ coef
    return intercept + out


def back_solve(code, X: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """code(X)' alpha in column blocks: marker effects from the weights of the genetic values."""
    out = np.zeros(X.shape[1])
    for columns in column_blocks(X.shape[1]):
        out[columns] = code(X[:, columns], columns).T @ alpha
    return out


def fixed_design(covariates, n: int, *, fitted: int | None = None) -> np.ndarray:
    """[1, covariates] as float64 (n x (1 + q)); checks the number of columns against a fitted model's."""
    return np.column_stack([np.ones(n), as_covariate_matrix(covariates, n, fitted=fitted)])


def chosen_solver(solver: str, n: int, scalable: str) -> str:
    """`solver` checked and ``"auto"`` resolved: ``"exact"`` up to :data:`ITERATIVE_FROM` training animals, else
    `scalable`."""
    if solver not in ("auto", "exact", scalable):
        raise ValueError(f"solver must be 'auto', 'exact' or {scalable!r}; got {solver!r}")
    return solver if solver != "auto" else scalable if n > ITERATIVE_FROM else "exact"
