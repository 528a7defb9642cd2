"""GBLUP, GDBLUP and RKHS without n x n matrices (Lanczos quadrature, conjugate gradients, the iterative REML,
moments, Nystrom features) against the exact paths."""

import numpy as np
import pytest

from cnngwp.data.genotypes import Standardizer, quality_control
from cnngwp.data.splits import split_by_generation
from cnngwp.models.baselines import GBLUP, GDBLUP, ITERATIVE_FROM, RKHS
from cnngwp.models.kernels import additive_kernel, dominance_codes, dominance_kernel, dominance_scale
from cnngwp.models.large_scale import (
    KernelOperator,
    LanczosQuadrature,
    NystromPreconditioner,
    conjugate_gradient,
)
from cnngwp.models.variance_components import iterative_reml, moment_variance_components


@pytest.fixture(scope="module")
def operator_and_kernel():
    rng = np.random.default_rng(4)
    X = rng.binomial(2, 0.3, (120, 300)).astype(np.int8)
    fixed = np.column_stack([np.ones(120), rng.normal(size=120)])
    scaler = Standardizer().fit(X)
    projection = np.eye(120) - fixed @ np.linalg.pinv(fixed)
    return KernelOperator.additive(scaler, X, fixed), projection @ additive_kernel(scaler, X) @ projection, projection


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


def test_the_nystrom_preconditioner_solves_the_same_system_in_fewer_steps(small_sim):
    """Rank 30 of a kernel of rank about 390: the same solution, in under half the conjugate-gradient steps."""
    data = quality_control(small_sim)[0]
    X, n = data.genotypes, len(data.y)
    operator = KernelOperator.additive(Standardizer().fit(X), X, np.ones((n, 1)))
    b = operator.project(data.y[:, None])
    steps, solutions = {}, {}
    for rank in (None, 30):
        calls = []

        def counted(V, calls=calls):
            calls.append(V)
            return operator(V)

        preconditioner = None if rank is None else NystromPreconditioner.sketch(operator, n, 1.0, rank=rank,
                                                                                 project=operator.project)
        solutions[rank] = conjugate_gradient(counted, 1.0, b, preconditioner=preconditioner)
        steps[rank] = len(calls)
        np.testing.assert_allclose(operator(solutions[rank]) + solutions[rank], b, atol=1e-5 * np.abs(b).max())
    assert steps[30] < steps[None] / 2, steps
    np.testing.assert_allclose(solutions[30], solutions[None], atol=1e-5 * np.abs(solutions[None]).max())


def test_the_iterative_reml_stops_once_its_estimates_settle(small_sim):
    """The run ends when (delta, sigma2_g) move by under a tenth of the probes' own standard error: the estimates
    of the run to the end of the Krylov space (exact quadrature for these probes) to well within that error, in fewer
    passes; the Galerkin solution on the space solves for y as conjugate gradients do, and starts them."""
    data = quality_control(small_sim)[0]
    X, y = data.genotypes, data.y
    passes = []

    class Counted(KernelOperator):
        def __call__(self, V):
            passes.append(V.shape[1])
            return super().__call__(V)

    operator = Counted.additive(Standardizer().fit(X), X, np.ones((len(y), 1)))
    settled, _ = iterative_reml(operator, y, n_probes=10)
    assert settled.steps == len(passes)
    full, quadrature = iterative_reml(operator, y, n_probes=10, precision=0.0)
    assert settled.steps < full.steps == len(passes) - settled.steps < 80, (settled.steps, full.steps)
    errors = settled.log_standard_errors
    assert np.all(errors > 0) and np.all(errors < 0.2), errors
    moved = np.abs(np.log([settled.delta, settled.sigma2_g]) - np.log([full.delta, full.sigma2_g]))
    assert np.all(moved < 0.5 * errors), (moved, errors)
    b = operator.project(y[:, None])
    solved = conjugate_gradient(operator, full.delta, b)
    start = quadrature.solve(0, full.delta)[:, None]
    np.testing.assert_allclose(start, solved, rtol=0, atol=1e-4 * np.abs(solved).max())
    # from there, preconditioned by the space's Ritz pairs, the same solution in fewer passes than from zero
    krylov = {"initial": start, "preconditioner": quadrature.preconditioner(full.delta, rank=30)}
    calls = {}
    for name, kwargs in (("zero", {}), ("krylov", krylov)):
        before = len(passes)
        x = conjugate_gradient(operator, full.delta, b, tolerance=1e-8, **kwargs)
        calls[name] = len(passes) - before
        np.testing.assert_allclose(x, solved, rtol=0, atol=1e-5 * np.abs(solved).max())
    assert calls["krylov"] < calls["zero"] / 2, calls


def test_iterative_gblup_agrees_with_the_exact_one(small_sim):
    """Predictions correlate at >= 0.999 and the variance ratio is within 5 % and within three of the reported
    Monte-Carlo standard errors, with and without covariates."""
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
        # both maximise the same likelihood: they differ by the probes' Monte-Carlo error, which reml_ reports
        assert abs(np.log(ratio)) < 3 * iterative.reml_.log_standard_errors[0], (ratio, iterative.reml_)
        assert not hasattr(exact, "reml_")
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


def test_moments_from_probes_match_the_dense_traces_and_iterative_gdblup_follows_the_exact_one(small_sim):
    """The method-of-moments variances from Rademacher probes match those from the dense traces tr(P K_k P K_l); the
    iterative GDBLUP (moments, then conjugate gradients) predicts like the REML one (measured: correlation 0.991,
    test MSE 77.3 against 85.3)."""
    data = quality_control(small_sim)[0]
    split = split_by_generation(data)
    X, y = data.genotypes[split.train], data.y[split.train].astype(float)
    fixed = np.ones((len(y), 1))
    scaler = Standardizer().fit(X)
    frequency = scaler.mean_ / 2
    projection = np.eye(len(y)) - fixed @ np.linalg.pinv(fixed)
    kernels = [projection @ k @ projection for k in (additive_kernel(scaler, X), dominance_kernel(frequency, X))]
    kernels.append(projection)
    traces = np.array([[np.trace(a @ b) for b in kernels] for a in kernels])
    dense = np.linalg.solve(traces, [y @ k @ y for k in kernels])
    operators = [KernelOperator.additive(scaler, X, fixed),
                 KernelOperator(X, fixed, lambda block, columns: dominance_codes(block, frequency[columns]),
                                dominance_scale(frequency))]
    np.testing.assert_allclose(moment_variance_components(operators, y, n_probes=400), dense, rtol=0.05)
    exact = GDBLUP(solver="exact").fit(X, y)
    iterative = GDBLUP(solver="iterative").fit(X, y)
    assert (GDBLUP().fit(X, y).solver_, iterative.solver_) == ("exact", "iterative")
    assert (exact.method_, iterative.method_) == ("REML", "moments")  # the fitted model says which estimator
    observed = data.y[split.test]
    predictions = [model.predict(data.genotypes[split.test]) for model in (exact, iterative)]
    assert np.corrcoef(*predictions)[0, 1] >= 0.98
    assert np.mean((predictions[1] - observed) ** 2) <= 1.1 * np.mean((predictions[0] - observed) ** 2)
