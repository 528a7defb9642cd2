from dataclasses import replace

import keras
import numpy as np
import pytest

from cnngwp.data.genotypes import Standardizer
from cnngwp.data.splits import validation_split
from cnngwp.errors import CnngwpInputError
from cnngwp.models.cnn import fused
from cnngwp.models.cnn.estimator import CNNGWPRegressor
from cnngwp.models.cnn.network import TARGET_SD, NetworkSpec, build_cnngwp, model_summary, snp_weight_summary
from cnngwp.models.saved_model import keras_archive, network_from_archive
from tests.reference import RidgeBLUP


def test_table1_shapes_and_parameter_counts():
    table = model_summary(build_cnngwp(NetworkSpec(9723, filters=64, kernel_size=27, l1=0.571)))
    assert table["layer"].tolist() == ["conv1d", "max_pooling1d", "flatten", "dense"]
    assert table["output_shape"].tolist() == [(None, 4862, 64), (None, 2431, 64), (None, 155584), (None, 1)]
    assert table["parameters"].tolist() == [64 * 27 + 64, 0, 0, 155584 + 1]


def test_table1_of_the_genotypic_network_has_a_group_of_filters_per_channel():
    scaler = Standardizer().fit(np.zeros((2, 9723), dtype=np.int8))
    spec = NetworkSpec(9723, filters=64, kernel_size=27, l1=0.571, genotypes=scaler, heterozygotes=scaler)
    table = model_summary(build_cnngwp(spec))
    # gamma's 64 filters shared out, 32 per channel: the additive network's size and cost
    assert table["output_shape"].tolist() == [(None, 4862, 64), (None, 2431, 64), (None, 155584), (None, 1)]
    assert table["parameters"].tolist() == [64 * 27 + 64, 0, 0, 155584 + 1]
    assert spec.channel_filters == 32 and replace(spec, filters=65).channel_filters == 33


@pytest.fixture(scope="module")
def planted():
    """One additive QTL (SNP 50) and one over-dominance locus (SNP 150)."""
    rng = np.random.default_rng(0)
    X = rng.binomial(2, 0.4, (600, 200)).astype(np.int8)
    y = 10 + 2 * (X[:, 50] - 1.0) + np.array([0.0, 5.0, 0.0])[X[:, 150]] + rng.normal(0, 1, 600)
    return X[:450], y[:450], X[450:], y[450:]


SMALL = {"filters": 8, "kernel_size": 5, "l1": 1.5, "learning_rate": 0.005, "batch_size": 32, "epochs": 80}


@pytest.fixture(scope="module")
def ensemble(planted):
    X, y, _, _ = planted
    return CNNGWPRegressor(**SMALL, n_members=3, patience=15, seed=1).fit(X, y)


def test_planted_signal_is_learned_and_mapped(planted, ensemble):
    X, y, X_test, y_test = planted
    mse = np.mean((ensemble.predict(X_test) - y_test) ** 2)
    linear = np.mean((RidgeBLUP().fit(X, y).predict(X_test) - y_test) ** 2)
    assert mse < 0.85 * y_test.var()
    assert mse < linear
    top = snp_weight_summary(ensemble.weight_map())["mean_abs_weight"].nlargest(6).index
    assert any(abs(i - 50) <= 3 for i in top) and any(abs(i - 150) <= 3 for i in top)


def test_the_genotypic_encoding_beats_the_additive_one_on_an_overdominant_locus_and_maps_it(planted, ensemble):
    X, y, X_test, y_test = planted
    genotypic = CNNGWPRegressor(**SMALL, n_members=3, patience=15, seed=1, encoding="genotypic").fit(X, y)
    mse = {m.encoding: np.mean((m.predict(X_test) - y_test) ** 2) for m in (ensemble, genotypic)}
    assert mse["genotypic"] < 0.8 * mse["additive"], mse
    weight_map = genotypic.weight_map()
    assert weight_map["channel"].value_counts().to_dict() == {"additive": 200, "heterozygote": 200}
    heterozygote = snp_weight_summary(weight_map, "heterozygote")["mean_abs_weight"]
    assert abs(heterozygote.idxmax() - 150) <= 1  # the overdominant locus
    assert abs(snp_weight_summary(weight_map, "additive")["mean_abs_weight"].idxmax() - 50) <= 3  # the additive QTL
    network = genotypic.members_[0]  # saved in Keras' format and loaded back, it predicts the same
    np.testing.assert_array_equal(network_from_archive(keras_archive(network))(X_test).numpy(), network(X_test).numpy())
    with pytest.raises(CnngwpInputError, match=r"encoding='one-hot': expected one of \['additive', 'genotypic'\]"):
        CNNGWPRegressor(**SMALL, encoding="one-hot").fit(X, y)


def test_ensemble_members_differ_and_their_mean_beats_the_average_member(planted, ensemble):
    _, _, X_test, y_test = planted
    members = ensemble.predict_members(X_test)
    assert members.shape == (3, len(y_test))
    assert np.abs(members[0] - members[1]).max() > 1e-3
    member_mse = np.mean((members - y_test) ** 2, axis=1)
    assert np.mean((members.mean(0) - y_test) ** 2) < member_mse.mean()
    low, high = ensemble.prediction_interval(X_test, level=0.9)
    assert (low <= ensemble.predict(X_test)).all() and (ensemble.predict(X_test) <= high).all()
    for history, best in zip(ensemble.history_, ensemble.best_epochs_, strict=True):
        assert history["validation_mse"].iloc[best - 1] == history["validation_mse"].min()


def test_same_seed_same_predictions(planted):
    X, y, X_test, _ = planted
    settings = dict(SMALL, epochs=3)
    a = CNNGWPRegressor(**settings, seed=4).fit(X, y).predict(X_test)
    b = CNNGWPRegressor(**settings, seed=4).fit(X, y).predict(X_test)
    np.testing.assert_array_equal(a, b)


def test_a_warm_start_grows_a_fit_into_the_ensemble_a_fresh_fit_trains(planted):
    """Chapter 8's study grows its best one-network lambda candidate into the ensemble: one after another (the CPU
    engines), the same members, histories and refitted predictions as training the ensemble from scratch."""
    X, y, X_test, _ = planted
    settings = dict(SMALL, epochs=4, seed=6)
    fresh = CNNGWPRegressor(**settings, n_members=3, refit=True).fit(X, y)
    grown = CNNGWPRegressor(**settings).fit(X, y)
    first = grown.members_[0]
    grown.set_params(n_members=3, refit=True, warm_start=True).fit(X, y)
    np.testing.assert_allclose(grown.predict_members(X_test), fresh.predict_members(X_test), rtol=1e-5, atol=1e-5)
    assert grown.best_epochs_ == fresh.best_epochs_ and grown.member_seeds_ == fresh.member_seeds_
    np.testing.assert_allclose(grown.validation_predictions_, fresh.validation_predictions_, rtol=1e-5, atol=1e-5)
    assert all(h.equals(f) for h, f in zip(grown.history_, fresh.history_, strict=True))
    assert first not in grown.members_  # refitted on every row, as a fresh fit's members are
    with pytest.raises(ValueError, match="not refitted"):
        grown.fit(X, y)  # its members are refitted networks now: nothing to grow


def test_a_warm_start_keeps_its_member_when_the_others_train_together(planted):
    """Members trained together share their batch order, so only the kept member matches a fresh fit's."""
    X, y, X_test, _ = planted
    settings = dict(SMALL, epochs=4, ensemble_mode="together", seed=6)
    one = CNNGWPRegressor(**settings).fit(X, y)
    kept_history, kept_predictions = one.history_[0], one.predict(X_test)
    one.set_params(n_members=3, warm_start=True).fit(X, y)
    assert len(one.members_) == len(one.history_) == len(one.best_epochs_) == 3
    assert one.history_[0].equals(kept_history) and one.validation_predictions_.shape[0] == 3
    np.testing.assert_allclose(one.predict_members(X_test)[0], kept_predictions, rtol=1e-6)


def test_validation_rows_follow_generations_or_explicit_data(planted):
    X, y, X_test, y_test = planted
    generations = np.repeat([1, 2, 3], 150)
    model = CNNGWPRegressor(**dict(SMALL, epochs=2), seed=0).fit(X, y, generations=generations)
    np.testing.assert_allclose(model.scaler_.mean_, X[generations < 3].mean(axis=0))  # fitted on generations 1-2
    assert len(model.history_[0]) == 2
    model.fit(X, y, validation_data=(X_test, y_test))  # the paper's protocol
    np.testing.assert_allclose(model.scaler_.mean_, X.mean(axis=0))


def test_non_genotype_input_is_rejected_with_its_position(planted):
    X, y, _, _ = planted
    bad = X.astype(float)
    bad[4, 7] = 0.5
    with pytest.raises(CnngwpInputError, match=r"X: row 5, SNP column 8: value 0.5 is not a genotype code"):
        CNNGWPRegressor(**dict(SMALL, epochs=1)).fit(bad, y)


@pytest.mark.parametrize("encoding", ["additive", "genotypic"])
def test_members_trained_together_match_the_sequential_contract(planted, encoding):
    X, y, X_test, y_test = planted
    model = CNNGWPRegressor(**dict(SMALL, epochs=25), n_members=3, ensemble_mode="together", encoding=encoding,
                            seed=2).fit(X, y)
    assert len(model.members_) == 3 and len(model.history_) == 3
    members = model.predict_members(X_test)
    assert np.abs(members[0] - members[1]).max() > 1e-3  # independent initialisation
    for history, best in zip(model.history_, model.best_epochs_, strict=True):
        assert history["validation_mse"].iloc[best - 1] == history["validation_mse"].min()
    # each member was restored to its own best epoch: its validation MSE equals the recorded minimum
    rows = validation_split(None, fraction=0.2, seed=2, n=len(y)).test
    for history, m in zip(model.history_, model.members_, strict=True):
        mse = np.mean((m.predict(X[rows], verbose=0)[:, 0] * model.y_scale_ / TARGET_SD + model.y_mean_ - y[rows]) ** 2)
        assert mse == pytest.approx(history["validation_mse"].min(), rel=1e-4)
    assert np.mean((model.predict(X_test) - y_test) ** 2) < 0.9 * y_test.var()
    assert model.summary()["parameters"].tolist()[-1] == 400 + 1


@pytest.mark.parametrize("mode", ["sequential", "together"])
def test_refit_keeps_the_chosen_epochs(planted, mode):
    X, y, X_test, _ = planted
    model = CNNGWPRegressor(**dict(SMALL, epochs=4), n_members=2, ensemble_mode=mode, refit=True, seed=5).fit(X, y)
    assert all(1 <= e <= 4 for e in model.best_epochs_)
    assert np.isfinite(model.predict(X_test)).all()
    with pytest.raises(ValueError, match="ensemble_mode must be"):
        CNNGWPRegressor(**SMALL, n_members=2, ensemble_mode="parallel").fit(X, y)


def test_refit_trains_on_every_row_for_exactly_the_best_epoch_count(planted, monkeypatch):
    X, y, _, _ = planted
    calls = []
    original = fused.train_epoch

    def spy(codes, targets, batches, **kwargs):
        calls.append(sum(len(rows) for rows in batches))
        return original(codes, targets, batches, **kwargs)

    monkeypatch.setattr(fused, "train_epoch", spy)
    cap = 40
    model = CNNGWPRegressor(**dict(SMALL, epochs=cap), patience=None, n_members=2, refit=True, engine="numba",
                            seed=6).fit(X, y)
    n_fit = len(validation_split(None, fraction=0.2, seed=6, n=len(y)).train)
    # both members choose their epoch count on the validation rows, then train on every row exactly that often
    assert calls == [n_fit] * 2 * cap + [len(y)] * model.best_epochs_[0] + [len(y)] * model.best_epochs_[1]
    assert model.refitted_ and len(set(model.best_epochs_)) == 2 and max(model.best_epochs_) < cap
    np.testing.assert_allclose(model.scaler_.mean_, X.mean(axis=0))  # statistics of every training row
    assert model.y_mean_ == pytest.approx(y.mean())


def test_keras_refit_trains_on_every_row_for_exactly_the_best_epoch_count(planted, monkeypatch):
    X, y, _, _ = planted
    fits = []
    original = keras.Model.fit

    def spy(self, x, targets, **kwargs):
        fits.append((len(x), kwargs["epochs"]))
        return original(self, x, targets, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    model = CNNGWPRegressor(**dict(SMALL, epochs=6), patience=None, refit=True, engine="keras", seed=6).fit(X, y)
    assert fits == [(360, 6), (len(y), model.best_epochs_[0])]


def test_the_penalty_is_scale_free(planted):
    X, y, X_test, y_test = planted
    settings = dict(SMALL, epochs=40, patience=None, seed=3)
    small = CNNGWPRegressor(**settings).fit(X, y).predict(X_test)
    large = CNNGWPRegressor(**settings).fit(X, 1000 * y + 5).predict(X_test)
    np.testing.assert_allclose(large, 1000 * small + 5, rtol=1e-4)
    assert np.corrcoef(small, y_test)[0, 1] > 0.3  # a real signal, not the mean


@pytest.mark.parametrize("gpu", [True, False])
def test_auto_trains_members_together_exactly_when_the_backend_sees_a_gpu(planted, monkeypatch, gpu):
    from cnngwp.models.cnn import device, estimator

    monkeypatch.setattr(device, "accelerator_available", lambda: gpu)
    calls = []
    original = estimator.train_together

    def spy(run, n_members, *args, **kwargs):
        calls.append(n_members)
        return original(run, n_members, *args, **kwargs)

    monkeypatch.setattr(estimator, "train_together", spy)
    X, y, _, _ = planted
    model = CNNGWPRegressor(**dict(SMALL, epochs=2), n_members=2, seed=1).fit(X, y)
    assert (calls == [2]) is gpu and model.engine_ == ("keras" if gpu else "numba")


def test_validation_rows_out_of_range_are_named(planted):
    X, y, _, _ = planted
    with pytest.raises(ValueError, match=r"validation_rows: expected some, not all, of the positions 0\.\.449"):
        CNNGWPRegressor(**dict(SMALL, epochs=1)).fit(X, y, validation_rows=[3, 450])
    with pytest.raises(ValueError, match="validation_rows"):
        CNNGWPRegressor(**dict(SMALL, epochs=1)).fit(X, y, validation_rows=np.arange(len(y)))


@pytest.mark.parametrize(("engine", "mode"), [("numba", "sequential"), ("keras", "sequential"),
                                              ("keras", "together")])
def test_covariates_enter_as_an_unpenalised_linear_term(engine, mode):
    """A large sex effect: with the covariates every engine predicts far better, and the fixed-effect weight of the
    trained networks recovers the effect (on the standardised covariate, in the rescaled trait's units). Members
    trained one by one take the same path each, so one member checks them; members trained together share one
    network, so two."""
    rng = np.random.default_rng(11)
    n, p = 320, 200
    X = rng.binomial(2, 0.4, (n, p)).astype(np.int8)
    sex = rng.integers(0, 2, n).astype(float)
    y = 50 + 8.0 * sex + 2.0 * (X[:, 30] - 0.8) + rng.normal(0, 1, n)
    settings = {"filters": 4, "kernel_size": 5, "l1": 0.2, "learning_rate": 3e-3, "epochs": 25, "patience": 8,
                "n_members": 2 if mode == "together" else 1, "engine": engine, "ensemble_mode": mode, "seed": 1,
                "refit": True}
    train, test = np.arange(240), np.arange(240, n)
    with_sex = CNNGWPRegressor(**settings).fit(X[train], y[train], covariates=sex[train])
    without = CNNGWPRegressor(**settings).fit(X[train], y[train])
    mse_with = np.mean((with_sex.predict(X[test], covariates=sex[test]) - y[test]) ** 2)
    mse_without = np.mean((without.predict(X[test]) - y[test]) ** 2)
    assert mse_with < 0.5 * mse_without
    assert with_sex.n_covariates_ == 1 and without.n_covariates_ == 0
    kernel = with_sex.members_[0].get_layer("fixed_effects").get_weights()[0][0, 0]
    effect = kernel / with_sex.covariate_scaler_.scale_[0] * with_sex.y_scale_ / TARGET_SD
    assert effect == pytest.approx(8.0, rel=0.1)
    with pytest.raises(ValueError, match="fitted with 1 covariate column"):
        with_sex.predict(X[test])
