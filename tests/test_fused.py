"""The fused numba engine against Keras, finite differences, and the estimator's contract."""

import keras
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from cnngwp.data.genotypes import Standardizer
from cnngwp.models.cnn import fused
from cnngwp.models.cnn.estimator import CNNGWPRegressor
from cnngwp.models.cnn.network import NetworkSpec, build_cnngwp


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(3)
    X = rng.binomial(2, 0.35, (240, 301)).astype(np.int8)
    X[5, 17] = X[100, 200] = -1  # missing calls standardise to 0
    y = (3 * (X[:, 40] - 0.7) + np.array([0.0, 2.0, 0.0])[X[:, 220]] + rng.normal(0, 1, 240)).astype(np.float32)
    scaler = Standardizer().fit(X)
    return X, y, scaler


def keras_network(scaler, *, filters, kernel_size, l1, seed=1, covariate_scaler=None, heterozygotes=None):
    keras.utils.set_random_seed(seed)
    spec = NetworkSpec(len(scaler.mean_), filters, kernel_size, l1, genotypes=scaler, covariates=covariate_scaler,
                       heterozygotes=heterozygotes)
    model = build_cnngwp(spec, seed=seed)
    if covariate_scaler is not None:  # a non-zero start of the fixed effects, so their gradient path is exercised
        model.get_layer("fixed_effects").set_weights([np.linspace(-0.5, 0.7, len(covariate_scaler.mean_))[:, None]])
    return model


def covariates_of(X, seed=9):
    """A 0/1 factor and a numeric covariate (raw) with their standardisation."""
    rng = np.random.default_rng(seed)
    C = np.column_stack([rng.integers(0, 2, len(X)), rng.normal(20, 3, len(X))])
    scaler = Standardizer().fit(C)
    return C, scaler, scaler.transform(C, dtype=np.float32)


def layout(scaler, kernel_size, filters, heterozygotes=None):
    spec = NetworkSpec(len(scaler.mean_), filters, kernel_size, 0.0, genotypes=scaler, heterozygotes=heterozygotes)
    mean, scale = spec.input_statistics()
    return fused.FusedLayout(len(scaler.mean_), kernel_size, spec.channel_filters, mean=mean, scale=scale)


@pytest.mark.parametrize(("kernel_size", "with_covariates", "genotypic", "filters"),
                         [(7, False, False, 8), (8, False, False, 8), (27, False, False, 8), (8, True, False, 8),
                          (9, False, True, 8), (8, True, True, 8),
                          # filter counts that are no multiple of the vector width: 5; 6 genotypic: 3 + 3
                          (9, False, False, 5), (8, True, True, 6)])
def test_one_epoch_matches_keras_from_the_same_weights_and_batch_order(problem, kernel_size, with_covariates,
                                                                       genotypic, filters):
    X, y, scaler = problem
    l1, rate, batch = 0.05, 1e-3, 48
    C, c_scaler, c_standard = covariates_of(X) if with_covariates else (None, None, None)
    heterozygotes = Standardizer().fit(X, heterozygotes=True) if genotypic else None
    model = keras_network(scaler, filters=filters, kernel_size=kernel_size, l1=l1, covariate_scaler=c_scaler,
                          heterozygotes=heterozygotes)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="mse", metrics=["mse"])
    shape = layout(scaler, kernel_size, filters, heterozygotes)
    weights = fused.from_network(model, shape)
    feed = X if C is None else {"genotypes": X, "covariates": C.astype(np.float32)}
    np.testing.assert_allclose(fused.predict(X, weights, shape=shape, covariates=c_standard),
                               model(feed, training=False).numpy()[:, 0], rtol=1e-5, atol=1e-5)
    keras_mse = model.fit(feed, y, batch_size=batch, epochs=1, shuffle=False, verbose=0).history["mse"][0]
    fused_mse = fused.train_epoch(X, y, fused.batched(np.arange(len(y)), batch), shape=shape, weights=weights,
                                  adam=fused.AdamState(weights, rate), l1=l1, covariates=c_standard)
    assert fused_mse == pytest.approx(keras_mse, rel=1e-5)
    expected = model.get_weights()
    trained = keras.models.clone_model(model)
    fused.to_network(weights, trained, shape)
    got = trained.get_weights()
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-4, atol=1e-6)  # conv kernel
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-4, atol=1e-6)  # conv bias
    dense, dense_expected = got[2][:, 0], expected[2][:, 0]
    off = np.abs(dense - dense_expected) > 1e-3 * np.abs(dense_expected) + 1e-7
    assert off.mean() <= 0.001, f"{off.sum()} of {off.size} dense weights differ (the L1 subgradient at zero)"
    np.testing.assert_allclose(got[3], expected[3], rtol=1e-4, atol=1e-6)  # dense bias
    if with_covariates:
        np.testing.assert_allclose(got[4], expected[4], rtol=1e-4, atol=1e-6)  # fixed effects, unpenalised


@pytest.mark.parametrize("genotypic", [False, True])
def test_gradients_match_finite_differences(genotypic):
    rng = np.random.default_rng(0)
    X = rng.binomial(2, 0.5, (6, 23)).astype(np.int8)
    y = rng.normal(0, 1, 6).astype(np.float32)
    scaler = Standardizer().fit(X)
    heterozygotes = Standardizer().fit(X, heterozygotes=True) if genotypic else None
    _C, c_scaler, covariates = covariates_of(X)
    shape = layout(scaler, 5, 3, heterozygotes)
    network = keras_network(scaler, filters=3, kernel_size=5, l1=0.0, covariate_scaler=c_scaler,
                            heterozygotes=heterozygotes)
    weights = fused.from_network(network, shape)
    assert len(weights) == 5
    rows = np.arange(6)
    analytic = fused.batch_gradients(X, y, rows, weights, shape=shape, covariates=covariates)

    def loss(ws):
        return float(np.mean((fused.predict(X, ws, shape=shape, covariates=covariates).astype(np.float64) - y) ** 2))

    eps = 1e-3  # small enough that no pooling window switches position (1e-2 crossed one in the genotypic case)
    for index, (w, g) in enumerate(zip(weights, analytic, strict=True)):
        for position in np.ndindex(w.shape):
            up = [v.copy() for v in weights]
            down = [v.copy() for v in weights]
            up[index][position] += eps
            down[index][position] -= eps
            numeric = (loss(up) - loss(down)) / (2 * eps)
            assert g[position] == pytest.approx(numeric, rel=2e-2, abs=2e-3), (index, position)


def test_a_numba_member_predicts_the_same_inside_keras(problem):
    X, y, _ = problem
    model = CNNGWPRegressor(filters=8, kernel_size=9, l1=0.3, learning_rate=3e-3, epochs=5, patience=None,
                            engine="numba", seed=2).fit(X[:200], y[:200])
    assert model.engine_ == "numba"
    shape = layout(model.scaler_, 9, 8)
    inside = fused.predict(X[200:], fused.from_network(model.members_[0], shape), shape=shape)
    np.testing.assert_allclose(model.members_[0](X[200:], training=False).numpy()[:, 0], inside, rtol=1e-5, atol=1e-5)


def test_engines_learn_alike_and_other_layouts_fall_back_to_keras(problem):
    X, y, _ = problem
    settings = {"filters": 8, "kernel_size": 9, "l1": 0.3, "learning_rate": 3e-3, "epochs": 30, "patience": 10,
                "seed": 4}
    scores = {}
    for engine in ("numba", "keras"):
        model = CNNGWPRegressor(**settings, engine=engine).fit(X[:200], y[:200])
        scores[engine] = np.mean((model.predict(X[200:]) - y[200:]) ** 2) / y[200:].var()
    assert scores["numba"] < 0.85 and scores["keras"] < 0.85
    with pytest.warns(UserWarning, match="implements strides 2 and pool_size 2 only"):
        model = CNNGWPRegressor(**dict(settings, epochs=1), strides=1, engine="numba").fit(X[:200], y[:200])
    assert model.engine_ == "keras"
    with pytest.raises(ValueError, match="engine must be one of"):
        CNNGWPRegressor(engine="torch").fit(X[:200], y[:200])


def test_minibatches_are_read_from_the_callers_matrix_without_copying_the_training_rows(tmp_path, monkeypatch):
    """A read-only memory-mapped matrix (as a run's store maps it) is what every epoch reads, fit and refit alike."""
    rng = np.random.default_rng(3)
    np.save(tmp_path / "codes.npy", rng.integers(0, 3, (150, 40)).astype(np.int8))
    X = np.load(tmp_path / "codes.npy", mmap_mode="r")
    y = rng.normal(size=150)
    read = []

    def spy(codes, *args, **kwargs):
        read.append(np.shares_memory(codes, X))
        return train_epoch(codes, *args, **kwargs)

    train_epoch = fused.train_epoch
    monkeypatch.setattr(fused, "train_epoch", spy)
    model = CNNGWPRegressor(filters=2, kernel_size=3, epochs=3, patience=None, engine="numba", refit=True, seed=1)
    model.fit(X, y, validation_rows=np.arange(100, 150))
    assert model.engine_ == "numba" and model.refitted_ and len(read) == 3 + model.best_epochs_[0]
    assert all(read)


def test_the_blas_runs_on_one_thread_inside_the_engine_and_is_restored_by_the_last_caller_out(problem, monkeypatch):
    """numba's threads each call the BLAS: inside the engine it runs on one thread; callers that overlap (two threads
    of a Dask worker) neither lift each other's limit nor leave it set."""
    X, _y, scaler = problem
    shape = layout(scaler, 9, 8)
    weights = fused.from_network(keras_network(scaler, filters=8, kernel_size=9, l1=0.0), shape)

    def blas_threads():
        return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    seen = []
    forward = fused._forward

    def spy(*args):
        seen.append(set(blas_threads().values()))
        return forward(*args)

    monkeypatch.setattr(fused, "_forward", spy)
    with threadpool_limits(2, user_api="blas"):
        fused.predict(X, weights, shape=shape)
        assert seen == [{1}] and set(blas_threads().values()) == {2}
        shared = fused._ONE_BLAS_THREAD
        shared.__enter__()  # caller A enters
        shared.__enter__()  # caller B enters
        shared.__exit__(None, None, None)  # A leaves: B is still inside
        assert set(blas_threads().values()) == {1}
        shared.__exit__(None, None, None)  # B leaves
        assert set(blas_threads().values()) == {2}
