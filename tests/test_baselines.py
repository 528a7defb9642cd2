import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from cnngwp.baselines import GBLUP, BayesianLasso, RidgeBLUP, reml_variance_ratio


@parametrize_with_checks([GBLUP(), RidgeBLUP(), BayesianLasso(n_iter=300, burn_in=100)])
def test_scikit_learn_contract(estimator, check):
    check(estimator)


def planted(n=1000, p=400, h2=0.5, n_qtl=None, seed=0):
    """Unrelated individuals, HWE genotypes, additive effects on n_qtl markers (all if None)."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.1, 0.5, p)
    X = rng.binomial(2, freq, size=(n, p)).astype(np.int8)
    effects = np.zeros(p)
    causal = np.arange(p) if n_qtl is None else rng.choice(p, n_qtl, replace=False)
    effects[causal] = rng.normal(size=len(causal))
    g = (X - 2 * freq) @ effects
    g *= np.sqrt(h2 / g.var())
    y = 10 + g + rng.normal(0, np.sqrt(1 - h2), n)
    return X, y, effects


def test_gblup_recovers_heritability():
    for seed, h2 in ((1, 0.3), (2, 0.6)):
        X, y, _ = planted(h2=h2, seed=seed)
        model = GBLUP().fit(X, y)
        assert model.h2_ == pytest.approx(h2, abs=0.1)
        assert model.sigma2_g_ + model.sigma2_e_ == pytest.approx(y.var(), rel=0.25)


def test_gblup_equals_ridge_blup():
    X, y, _ = planted(n=300, p=500, seed=3)
    X_new, _, _ = planted(n=50, p=500, seed=4)
    gblup, ridge = GBLUP().fit(X, y), RidgeBLUP().fit(X, y)
    assert ridge.h2_ == pytest.approx(gblup.h2_, rel=1e-6)
    pg, pr = gblup.predict(X_new), ridge.predict(X_new)
    np.testing.assert_allclose(pr - pr.mean(), pg - pg.mean(), rtol=1e-6, atol=1e-6 * np.abs(pg - pg.mean()).max())
    np.testing.assert_allclose(pr, pg, rtol=1e-6)
    np.testing.assert_allclose(ridge.coef_, gblup.coef_, rtol=1e-5, atol=1e-7 * np.abs(gblup.coef_).max())


def test_int8_genotypes_and_float_input_agree_and_missing_calls_are_mean_imputed():
    X, y, _ = planted(n=200, p=100, seed=5)
    a = GBLUP().fit(X, y).predict(X[:20])
    b = GBLUP().fit(X.astype(np.float64), y).predict(X[:20].astype(np.float64))
    np.testing.assert_allclose(a, b, rtol=1e-9)
    X_missing = X.copy()
    X_missing[0, 0] = -1
    model = GBLUP().fit(X_missing, y)
    assert model.scaler_.mean_[0] == pytest.approx(X[1:, 0].mean())


def test_blasso_shrinks_null_markers_more_than_gblup():
    X_all, y_all, effects = planted(n=800, p=300, h2=0.6, n_qtl=5, seed=6)
    X, y, X_new, y_new = X_all[:500], y_all[:500], X_all[500:], y_all[500:]
    null = effects == 0
    gblup = GBLUP().fit(X, y)
    blasso = BayesianLasso(seed=1).fit(X, y)
    ratio = lambda m: np.abs(m.coef_[null]).mean() / np.abs(m.coef_[~null]).mean()
    assert ratio(blasso) < ratio(gblup)
    assert np.mean((blasso.predict(X_new) - y_new) ** 2) < 0.7 * y_new.var()


def test_blasso_is_reproducible_with_a_seed():
    X, y, _ = planted(n=100, p=50, seed=7)
    a = BayesianLasso(n_iter=200, burn_in=50, seed=3).fit(X, y).coef_
    b = BayesianLasso(n_iter=200, burn_in=50, seed=3).fit(X, y).coef_
    c = BayesianLasso(n_iter=200, burn_in=50, seed=4).fit(X, y).coef_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


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
