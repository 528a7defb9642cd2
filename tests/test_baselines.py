import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from cnngwp.models.baselines import EGBLUP, GBLUP, GDBLUP, RKHS, BayesianLasso
from tests.reference import RidgeBLUP, direct_reml
from tests.test_kernels import additive_dominance_trait


# GDBLUP is left out: scikit-learn's checks feed arbitrary real numbers, and its dominance coding needs genotype
# codes or dosages between 0 and 2 (test_gdblup_rejects_values_outside_0_to_2).
@parametrize_with_checks([GBLUP(), EGBLUP(), RKHS(), BayesianLasso(n_iter=300, burn_in=100)])
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


def planted_with_covariates(n=120, p=300, seed=5):
    """Genotypes, a sex factor and a numeric covariate with real effects, and the resulting trait."""
    X, _y, effects = planted(n=n, p=p, h2=0.5, seed=seed)
    rng = np.random.default_rng(seed + 1)
    sex = rng.integers(0, 2, n).astype(float)
    weight = rng.normal(30, 4, n)
    C = np.column_stack([sex, weight])
    y = 10 + 2.0 * sex - 0.3 * weight + (X - X.mean(0)) @ effects * 0.05 + rng.normal(0, 1, n)
    return X, y, C


def test_gblup_with_covariates_matches_a_direct_reml_fit():
    X, y, C = planted_with_covariates()
    z = (X - X.mean(0)) / X.std(0)
    (s_g, s_e), beta = direct_reml([z @ z.T / X.shape[1]], y, np.column_stack([np.ones(len(y)), C]))
    model = GBLUP().fit(X, y, covariates=C)
    assert model.sigma2_g_ == pytest.approx(s_g, rel=1e-4)
    assert model.sigma2_e_ == pytest.approx(s_e, rel=1e-4)
    np.testing.assert_allclose([model.intercept_, *model.fixed_effects_], beta, rtol=1e-4)
    # the covariates enter the prediction: the same animal predicted as the other sex moves by the sex effect
    other = C.copy()
    other[:, 0] = 1 - other[:, 0]
    shift = model.predict(X, covariates=other) - model.predict(X, covariates=C)
    np.testing.assert_allclose(shift, np.where(C[:, 0] == 0, 1, -1) * model.fixed_effects_[0])


def test_bayesian_lasso_estimates_fixed_effects_with_a_flat_prior():
    X, y, C = planted_with_covariates(n=400, seed=8)
    model = BayesianLasso(n_iter=1500, burn_in=500, seed=2).fit(X, y, covariates=C)
    assert model.fixed_effects_ == pytest.approx([2.0, -0.3], abs=0.3)
    without = BayesianLasso(n_iter=1500, burn_in=500, seed=2).fit(X, y)
    assert without.fixed_effects_.shape == (0,)
    fitted_with = np.mean((model.predict(X, covariates=C) - y) ** 2)
    assert fitted_with < np.mean((without.predict(X) - y) ** 2)


def test_covariates_are_checked():
    X, y, C = planted_with_covariates()
    model = GBLUP().fit(X, y, covariates=C)
    with pytest.raises(ValueError, match="fitted with 2 covariate column"):
        model.predict(X)
    with pytest.raises(ValueError, match="expected an array with 120 rows"):
        GBLUP().fit(X, y, covariates=C[:10])
    bad = C.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="missing or infinite"):
        BayesianLasso(n_iter=20, burn_in=10).fit(X, y, covariates=bad)


def test_gdblup_without_dominance_is_gblup():
    X, y, _ = planted(n=1400, p=300, h2=0.5, seed=11)
    X_new, _, _ = planted(n=60, p=300, seed=12)
    gdblup, gblup = GDBLUP().fit(X, y), GBLUP().fit(X, y)
    assert gdblup.sigma2_d_ < 0.02 * (gdblup.sigma2_g_ + gdblup.sigma2_e_)  # REML's boundary: no dominance
    assert gdblup.sigma2_g_ == pytest.approx(gblup.sigma2_g_, rel=0.05)
    np.testing.assert_allclose(gdblup.predict(X_new), gblup.predict(X_new), atol=0.02 * y.std())


def test_gdblup_finds_dominance_and_predicts_better_than_gblup():
    X, y = additive_dominance_trait(n=900, p=300, seed=13)
    train, test = slice(0, 700), slice(700, None)
    gdblup, gblup = GDBLUP().fit(X[train], y[train]), GBLUP().fit(X[train], y[train])
    assert gdblup.sigma2_d_ > 0.3 * gdblup.sigma2_g_
    mse = lambda model: np.mean((model.predict(X[test]) - y[test]) ** 2)
    assert mse(gdblup) < mse(gblup)


def test_rkhs_shares_the_variance_among_bandwidths_and_predicts():
    X, y, _ = planted(n=800, p=300, h2=0.6, n_qtl=20, seed=14)
    model, gblup = RKHS().fit(X[:600], y[:600]), GBLUP().fit(X[:600], y[:600])
    assert model.variances_.shape == (3,) and (model.variances_ >= 0).all() and model.variances_.sum() > 0
    mse = lambda m: np.mean((m.predict(X[600:]) - y[600:]) ** 2)
    assert mse(model) < 0.8 * y[600:].var() and mse(model) < 1.1 * mse(gblup)
    with pytest.raises(ValueError, match="bandwidths must be positive"):
        RKHS(bandwidths=(0.0, 1.0)).fit(X, y)


@pytest.mark.parametrize("model", [GBLUP(), GDBLUP(), EGBLUP(), EGBLUP(solver="nystrom", n_landmarks=60), RKHS(),
                                   BayesianLasso(n_iter=200, burn_in=50)],
                         ids=["GBLUP", "GDBLUP", "EGBLUP", "EGBLUP-nystrom", "RKHS", "BLASSO"])
def test_saved_state_predicts_identically(model, tmp_path):
    X, y, C = planted_with_covariates(n=150, p=200, seed=15)
    X[3, 5] = -1  # a missing call
    model.fit(X, y, covariates=C)
    model.save_state(tmp_path / "state.npz")
    loaded = type(model).load_state(tmp_path / "state.npz")
    assert getattr(loaded, "method_", None) == getattr(model, "method_", None)  # REML (None: BLASSO's Gibbs sampler)
    X_new, _, _ = planted(n=20, p=200, seed=16)
    np.testing.assert_array_equal(loaded.predict(X_new, covariates=C[:20]), model.predict(X_new, covariates=C[:20]))


@pytest.mark.parametrize("model", [GBLUP(), GDBLUP(), EGBLUP(), EGBLUP(solver="nystrom", n_landmarks=60), RKHS(),
                                   BayesianLasso(n_iter=200, burn_in=50)],
                         ids=["GBLUP", "GDBLUP", "EGBLUP", "EGBLUP-nystrom", "RKHS", "BLASSO"])
def test_an_animal_is_predicted_the_same_alone_or_with_others(model):
    # scikit-learn's check_methods_subset_invariance on 20 x 3 inputs, at a size where float32 products would show
    X, y, _ = planted(n=300, p=500, seed=19)
    model.fit(X, y)
    X_new, _, _ = planted(n=40, p=500, seed=20)
    together = model.predict(X_new)
    alone = np.concatenate([model.predict(X_new[i : i + 1]) for i in range(len(X_new))])
    in_pairs = np.concatenate([model.predict(X_new[i : i + 2]) for i in range(0, len(X_new), 2)])
    np.testing.assert_allclose(alone, together, rtol=0, atol=1e-10 * np.abs(together).max())
    np.testing.assert_allclose(in_pairs, together, rtol=0, atol=1e-10 * np.abs(together).max())


def test_gdblup_rejects_values_outside_0_to_2():
    X, y, _ = planted(n=50, p=20, seed=17)
    with pytest.raises(ValueError, match="between 0 and 2"):
        GDBLUP().fit(X.astype(float) - 1.0, y)


def epistatic_trait(n: int, p: int = 200, *, seed: int, epistatic_sd: float = 1.5):
    """HWE genotypes at frequency 0.5; an additive trait of SD 1 plus additive-by-additive interactions of 60 random
    SNP pairs (SD `epistatic_sd`), a covariate effect, residual SD 1."""
    rng = np.random.default_rng(seed)
    X = rng.binomial(2, 0.5, size=(n, p)).astype(np.int8)
    z = (X - 1.0) / np.sqrt(0.5)
    pairs = rng.choice(p, size=(60, 2))
    aa = sum(rng.normal() * z[:, i] * z[:, j] for i, j in pairs)
    a = z @ rng.normal(size=p)
    C = rng.normal(size=(n, 1))
    y = 5 + 0.5 * C[:, 0] + a / a.std() + epistatic_sd * aa / aa.std() + rng.normal(0, 1.0, n)
    return X, y, C


@pytest.mark.parametrize("with_covariates", [False, True], ids=["intercept", "covariates"])
def test_egblup_variance_components_match_a_direct_reml_fit(with_covariates):
    X, y, C = epistatic_trait(200, 150, seed=18)
    C = C if with_covariates else None
    z = (X - X.mean(0)) / X.std(0)
    G = z @ z.T / X.shape[1]
    E = G * G / np.mean(np.diag(G) ** 2)
    design = np.column_stack([np.ones(len(y)), *([] if C is None else [C])])
    reference, beta = direct_reml([G, E], y, design)
    model = EGBLUP().fit(X, y, covariates=C)
    assert min(reference) > 0.05 * sum(reference)  # every component inside its bounds, where REML's optimum is smooth
    np.testing.assert_allclose([model.sigma2_g_, model.sigma2_aa_, model.sigma2_e_], reference, rtol=1e-4)
    np.testing.assert_allclose([model.intercept_, *model.fixed_effects_], beta, rtol=1e-4)
    assert model.variance_components() == pytest.approx({"additive": model.sigma2_g_,
                                                          "epistatic": model.sigma2_aa_, "residual": model.sigma2_e_})


def test_egblup_without_epistasis_is_close_to_gblup():
    X, y, _ = planted(n=1400, p=300, h2=0.5, seed=11)
    X_new, _, _ = planted(n=60, p=300, seed=12)
    egblup, gblup = EGBLUP().fit(X, y), GBLUP().fit(X, y)
    assert egblup.sigma2_aa_ < 0.02 * (egblup.sigma2_g_ + egblup.sigma2_e_)
    assert egblup.sigma2_g_ == pytest.approx(gblup.sigma2_g_, rel=0.05)
    np.testing.assert_allclose(egblup.predict(X_new), gblup.predict(X_new), atol=0.02 * y.std())


def test_egblup_finds_epistasis_and_predicts_better_than_gblup():
    X, y, _ = epistatic_trait(900, seed=19)
    train, test = slice(0, 700), slice(700, None)
    egblup, gblup = EGBLUP().fit(X[train], y[train]), GBLUP().fit(X[train], y[train])
    assert egblup.sigma2_aa_ > 0.5 * egblup.sigma2_g_
    mse = lambda model: np.mean((model.predict(X[test]) - y[test]) ** 2)
    assert mse(egblup) < mse(gblup)
