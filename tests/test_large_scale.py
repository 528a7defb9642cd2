"""GBLUP without the n x n relationship: Lanczos quadrature, conjugate gradients and the iterative REML against
the exact eigendecomposition path."""

import numpy as np
import pytest

from cnngwp.data.genotypes import Standardizer, quality_control
from cnngwp.data.splits import split_by_generation
from cnngwp.models.baselines import GBLUP, ITERATIVE_FROM
from cnngwp.models.kernels import additive_kernel
from cnngwp.models.large_scale import KernelOperator, LanczosQuadrature, conjugate_gradient


@pytest.fixture(scope="module")
def operator_and_kernel():
    rng = np.random.default_rng(4)
    X = rng.binomial(2, 0.3, (120, 300)).astype(np.int8)
    fixed = np.column_stack([np.ones(120), rng.normal(size=120)])
    scaler = Standardizer().fit(X)
    projection = np.eye(120) - fixed @ np.linalg.pinv(fixed)
    return KernelOperator(scaler, X, fixed), projection @ additive_kernel(scaler, X) @ projection, projection


def test_the_operator_is_the_projected_kernel_and_quadrature_and_cg_are_exact_on_it(operator_and_kernel):
    operator, kernel, projection = operator_and_kernel
    V = np.random.default_rng(0).normal(size=(120, 3))
    np.testing.assert_allclose(operator(V), kernel @ V, atol=1e-5)
    b = projection @ np.random.default_rng(1).normal(size=120)
    quadrature = LanczosQuadrature.run(operator, b[:, None], steps=120)
    for delta in (0.05, 1.0, 20.0):
        inverse = np.linalg.pinv(projection @ (kernel + delta * np.eye(120)) @ projection)
        assert quadrature.quadratic_form(0, lambda t, d=delta: 1 / (t + d)) == pytest.approx(b @ inverse @ b, rel=1e-6)
        x = conjugate_gradient(operator, delta, b[:, None])[:, 0]
        np.testing.assert_allclose(projection @ (kernel + delta * np.eye(120)) @ x, b, atol=1e-6)


def test_iterative_gblup_agrees_with_the_exact_one(small_sim):
    """Predictions correlate at >= 0.999 and the variance ratio is within 5 %, with and without covariates."""
    data = quality_control(small_sim)[0]
    split = split_by_generation(data)
    X, y = data.genotypes, data.y + np.where(data.samples["sex"].to_numpy() == 1, 2.0, 0.0)
    sex = (data.samples["sex"].to_numpy() == 1).astype(float)[:, None]
    for covariates in (None, sex):
        fitted = {}
        for solver in ("exact", "iterative"):
            model = GBLUP(solver=solver).fit(X[split.train], y[split.train],
                                             covariates=None if covariates is None else covariates[split.train])
            assert model.solver_ == solver
            fitted[solver] = (model, model.predict(X[split.test],
                                                   covariates=None if covariates is None else covariates[split.test]))
        (exact, p_exact), (iterative, p_iterative) = fitted["exact"], fitted["iterative"]
        assert np.corrcoef(p_exact, p_iterative)[0, 1] >= 0.999
        ratio = (iterative.sigma2_e_ / iterative.sigma2_g_) / (exact.sigma2_e_ / exact.sigma2_g_)
        assert abs(ratio - 1) <= 0.05, ratio
        np.testing.assert_allclose(iterative.fixed_effects_, exact.fixed_effects_, atol=0.1)
    assert GBLUP().fit(X[split.train], y[split.train]).solver_ == "exact" and len(split.train) <= ITERATIVE_FROM
    with pytest.raises(ValueError, match="solver must be"):
        GBLUP(solver="dense").fit(X[split.train], y[split.train])
