"""The variance components: every estimator's one parameterisation and bounds, the profiled search, and each
estimator against a direct maximisation or the others."""

import numpy as np
import pytest

from cnngwp.data.genotypes import Standardizer
from cnngwp.models.kernels import additive_kernel, dominance_kernel
from cnngwp.models.large_scale import nystrom_factor
from cnngwp.models.variance_components import (
    LOG_RATIO_BOUNDS,
    low_rank_reml,
    profile_search,
    reml_variance_components,
    reml_variance_ratio,
)
from tests.reference import direct_reml
from tests.test_kernels import additive_dominance_trait


def kernels_of(X):
    scaler = Standardizer().fit(X)
    return [additive_kernel(scaler, X), dominance_kernel(scaler.mean_ / 2, X)]


@pytest.mark.parametrize("with_covariates", [False, True])
def test_multi_kernel_reml_agrees_with_a_direct_maximisation(with_covariates):
    X_geno, y = additive_dominance_trait(n=250, p=300, seed=1)
    rng = np.random.default_rng(2)
    design = np.ones((len(y), 1))
    if with_covariates:
        sex = rng.integers(0, 2, len(y))
        design = np.column_stack([design, sex, rng.normal(size=len(y))])
        y = y + 3.0 * sex
    kernels = kernels_of(X_geno)
    fit = reml_variance_components(kernels, y, design)
    ours = np.append(fit.variances, fit.sigma2_e)
    assert (ours > 0.05 * ours.sum()).all()  # every component interior, so the comparison means something
    reference, beta = direct_reml(kernels, y, design)
    np.testing.assert_allclose(ours, reference, rtol=1e-4)
    np.testing.assert_allclose(fit.beta, beta, rtol=1e-4)
    if with_covariates:
        assert fit.beta[1] == pytest.approx(3.0, abs=0.6)


def test_reml_needs_more_samples_than_parameters():
    with pytest.raises(ValueError, match="needs more than"):
        reml_variance_components([np.eye(2)], np.array([1.0, 2.0]))


def test_reml_recovers_family_variance_components():
    rng = np.random.default_rng(0)
    n = 400
    K = np.kron(np.eye(n // 4), np.ones((4, 4)))  # families of four
    g = np.repeat(rng.normal(0, 1.0, n // 4), 4)
    y = g + rng.normal(0, 1.0, n)
    lam, U = np.linalg.eigh(K)
    delta, sigma2_g, _mu = reml_variance_ratio(lam, U.T @ y, U.sum(0))
    assert sigma2_g == pytest.approx(1.0, abs=0.35)
    assert delta * sigma2_g == pytest.approx(1.0, abs=0.25)


def test_the_profiled_search_finds_the_higher_of_two_peaks_and_stays_in_its_bounds():
    def two_peaks(v):
        return np.exp(-(v + 6.0) ** 2) + 2.0 * np.exp(-((v - 3.3) ** 2) / 0.5)

    assert profile_search(two_peaks) == pytest.approx(3.3, abs=1e-6)
    assert profile_search(lambda v: v) == pytest.approx(max(LOG_RATIO_BOUNDS), abs=1e-6)  # a likelihood rising to
    assert profile_search(lambda v: -v) == pytest.approx(min(LOG_RATIO_BOUNDS), abs=1e-6)  # either bound stops there


def test_one_kernel_by_eigendecomposition_dense_and_low_rank_find_the_same_variance_components():
    """The three REML paths share one parameterisation (the variance ratio sigma2_g / sigma2_e): on one full-rank
    kernel they estimate the same model, so they must agree."""
    X, y = additive_dominance_trait(n=200, p=150, seed=3)
    design = np.column_stack([np.ones(len(y)), np.random.default_rng(4).normal(size=len(y))])
    kernel = kernels_of(X)[0]
    eigenvalues, vectors = np.linalg.eigh(kernel)
    delta, sigma2_g, beta = reml_variance_ratio(eigenvalues, vectors.T @ y, vectors.T @ design)
    dense = reml_variance_components([kernel], y, design)
    features = kernel @ nystrom_factor(kernel)  # the Nystrom features of every animal: the kernel itself
    low_rank = low_rank_reml([features], y, design)
    for fit in (dense, low_rank):
        np.testing.assert_allclose([fit.variances[0], fit.sigma2_e], [sigma2_g, delta * sigma2_g], rtol=1e-4)
        np.testing.assert_allclose(fit.beta, beta, rtol=1e-4)


def test_a_component_without_variance_reaches_its_bound():
    """Phenotypes that vary less along the kernel's large eigenvectors than along its small ones (a negative
    heritability, were it allowed): REML puts sigma2_g at its lower bound on every path, the one set of bounds."""
    rng = np.random.default_rng(5)
    X = rng.binomial(2, 0.4, (150, 200)).astype(np.int8)
    kernel = kernels_of(X)[0]
    eigenvalues, vectors = np.linalg.eigh(kernel)
    y = vectors @ (rng.normal(size=150) / np.sqrt(1.0 + np.maximum(eigenvalues, 0.0)))
    delta, _, _ = reml_variance_ratio(eigenvalues, vectors.T @ y, vectors.sum(axis=0))
    dense = reml_variance_components([kernel], y)
    low_rank = low_rank_reml([kernel @ nystrom_factor(kernel)], y, np.ones((150, 1)))
    assert np.log(delta) == pytest.approx(max(LOG_RATIO_BOUNDS), abs=1e-3)
    assert dense.variances[0] < 1e-6 * dense.sigma2_e
    assert low_rank.variances[0] / low_rank.sigma2_e == pytest.approx(np.exp(min(LOG_RATIO_BOUNDS)), rel=1e-2)
