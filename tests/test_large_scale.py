"""GBLUP without the n x n relationship: Lanczos quadrature, conjugate gradients and the iterative REML against
the exact eigendecomposition path."""

import numpy as np
import pytest

from cnngwp.data.genotypes import Standardizer, quality_control
from cnngwp.data.splits import split_by_generation
from cnngwp.models.baselines import GBLUP, ITERATIVE_FROM, RKHS
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
    np.testing.assert_allclose(operator(V), kernel @ V, atol=1e-4)
    b = projection @ np.random.default_rng(1).normal(size=120)
    quadrature = LanczosQuadrature.run(operator, b[:, None], steps=120)
    for delta in (0.05, 1.0, 20.0):
        inverse = np.linalg.pinv(projection @ (kernel + delta * np.eye(120)) @ projection)
        assert quadrature.quadratic_form(0, lambda t, d=delta: 1 / (t + d)) == pytest.approx(b @ inverse @ b, rel=1e-4)
        x = conjugate_gradient(operator, delta, b[:, None])[:, 0]
        np.testing.assert_allclose(projection @ (kernel + delta * np.eye(120)) @ x, b, atol=1e-4 * np.abs(b).max())


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


def test_nystrom_rkhs_with_every_animal_a_landmark_is_the_exact_rkhs(small_sim):
    """With m = n landmarks the Nystrom kernel is the kernel: the same REML and predictions as the exact path; with
    fewer landmarks the prediction stays close. Landmarks are what a Nystrom model keeps for prediction."""
    data = quality_control(small_sim)[0]
    split = split_by_generation(data)
    X, y = data.genotypes, data.y
    exact = RKHS(solver="exact").fit(X[split.train], y[split.train])
    full = RKHS(solver="nystrom", n_landmarks=len(split.train)).fit(X[split.train], y[split.train])
    few = RKHS(solver="nystrom", n_landmarks=len(split.train) // 2).fit(X[split.train], y[split.train])
    assert (exact.solver_, full.solver_) == ("exact", "nystrom") and len(few.train_genotypes_) == len(split.train) // 2
    predictions = {name: model.predict(X[split.test]) for name, model in
                   {"exact": exact, "full": full, "few": few}.items()}
    assert np.corrcoef(predictions["exact"], predictions["full"])[0, 1] >= 0.9999
    np.testing.assert_allclose(full.sigma2_e_, exact.sigma2_e_, rtol=0.01)
    assert np.corrcoef(predictions["exact"], predictions["few"])[0, 1] >= 0.98
    mse = {name: np.mean((p - y[split.test]) ** 2) for name, p in predictions.items()}
    assert mse["few"] <= 1.05 * mse["exact"]
