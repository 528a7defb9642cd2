import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cnngwp.data.splits import split_by_generation
from cnngwp.models.baselines import GBLUP, GDBLUP
from cnngwp.models.cnn.estimator import CNNGWPRegressor
from cnngwp.models.l1_grid import L1GridCNN
from cnngwp.models.names import STACK
from cnngwp.models.stack import ModelStack, StackRegressor, held_out_parts, simplex_weights, stack_weights


def _mixture(seed: int, weights: np.ndarray, n: int = 400, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    P = signal[:, None] + rng.normal(scale=1.0, size=(n, len(weights)))  # members with their own errors
    return P, P @ weights + rng.normal(scale=noise, size=n)


def test_the_stack_recovers_known_weights_on_a_synthetic_mixture():
    truth = np.array([0.6, 0.0, 0.4, 0.0])
    P, y = _mixture(1, truth)
    np.testing.assert_allclose(simplex_weights(P, y), truth, atol=1e-10)
    P, y = _mixture(2, truth, n=5000, noise=0.3)  # with noise: close, on the simplex
    w = simplex_weights(P, y)
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w, truth, atol=0.02)


def test_weights_are_the_constrained_optimum_where_least_squares_wants_a_negative_weight():
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    shared = rng.normal(scale=0.5, size=300)
    P = np.column_stack([y + shared, y + shared + rng.normal(scale=0.5, size=300), y + rng.normal(scale=2.0, size=300)])
    assert np.linalg.lstsq(P, y, rcond=None)[0].min() < 0  # the constraint bites
    w = simplex_weights(P, y)
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    loss = np.sum((y - P @ w) ** 2)
    for other in rng.dirichlet(np.ones(3), size=2000):  # no point of the simplex does better
        assert loss <= np.sum((y - P @ other) ** 2) + 1e-9


def test_a_stack_predicts_by_name_and_round_trips(tmp_path):
    truth = np.array([0.25, 0.75])
    P, y = _mixture(4, truth)
    held_out = pd.DataFrame(P, columns=["GDBLUP", "CNN ensemble"])
    stack = ModelStack.fit(held_out, y, rule="the youngest training generation (4)")
    assert stack.weights == pytest.approx({"GDBLUP": 0.25, "CNN ensemble": 0.75})
    assert stack.describe() == "CNN ensemble 0.75, GDBLUP 0.25"
    test = pd.DataFrame({"CNN ensemble": [1.0, 2.0], "GDBLUP": [3.0, 4.0], "RKHS": [9.0, 9.0]})
    np.testing.assert_allclose(stack.predict(test), [1.5, 2.5])
    assert ModelStack.from_dict(stack.to_dict()) == stack
    with pytest.raises(ValueError, match="needs predictions of"):
        stack.predict(test.drop(columns="GDBLUP"))
    with pytest.raises(ValueError, match="n x k"):
        simplex_weights(P[:10], y)


def _stack(inner_folds):
    cnn = CNNGWPRegressor(filters=4, kernel_size=5, l1=0.3, learning_rate=2e-3, epochs=4, patience=None, refit=True,
                          n_members=2, seed=3)
    return StackRegressor([("GBLUP", GBLUP()), ("GDBLUP", GDBLUP()), ("CNN", L1GridCNN(cnn=cnn, l1_grid=(0.3,)))],
                          inner_folds=inner_folds, seed=5)


@pytest.fixture(scope="module")
def training_rows(small_sim):
    split = split_by_generation(small_sim)
    generations = small_sim.generations[split.train]
    youngest = np.flatnonzero(generations == generations.max())
    return small_sim.genotypes[split.train], small_sim.y[split.train], youngest, small_sim.genotypes[split.test]


def test_the_stack_estimator_fits_its_weights_on_the_validation_predictions_where_they_are_a_generation(
        training_rows):
    X, y, validation, X_test = training_rows
    model = _stack(None).fit(X, y, validation_rows=validation, validation_rule="the youngest training generation")
    cnn = model.members_["CNN"]
    np.testing.assert_array_equal(cnn.validation_rows_, validation)  # its epochs were chosen on the given rows
    kept = np.setdiff1d(np.arange(len(y)), validation)
    held_out = pd.DataFrame({"GBLUP": GBLUP().fit(X[kept], y[kept]).predict(X[validation]),
                             "GDBLUP": GDBLUP().fit(X[kept], y[kept]).predict(X[validation]),
                             "CNN": cnn.validation_predictions_.mean(axis=0)})
    expected = stack_weights(held_out, y, [validation], inner_folds=None,
                             validation_rule="the youngest training generation")
    assert model.stack_ == expected and expected.rows == len(validation)
    table = model.member_predictions(X_test)
    assert list(table.columns) == ["GBLUP", "GDBLUP", "CNN", STACK]
    np.testing.assert_allclose(table["CNN"], cnn.predict(X_test))
    np.testing.assert_allclose(model.predict(X_test), table[["GBLUP", "GDBLUP", "CNN"]].to_numpy()
                               @ np.array(list(expected.weights.values())))
    assert set(model.fit_seconds_) == set(model.held_out_seconds_) == {"GBLUP", "GDBLUP", "CNN"}
    with pytest.raises(ValueError, match="distinct names"):
        StackRegressor([("GBLUP", GBLUP()), ("GBLUP", GDBLUP())]).fit(X, y, validation_rows=validation)


def test_the_stack_estimators_inner_folds_never_read_the_phenotypes_they_predict(training_rows):
    X, y, validation, _ = training_rows
    validation = validation[::3]  # as where the data have no generations: a fraction validates
    parts = held_out_parts(len(y), validation, inner_folds=4, seed=5)
    assert sorted(np.concatenate(parts)) == list(np.setdiff1d(np.arange(len(y)), validation))
    model = _stack(4).fit(X, y, validation_rows=validation)
    np.testing.assert_array_equal(model.members_["CNN"].validation_rows_, validation)
    assert model.stack_.rows == len(y) - len(validation) and model.stack_.rule.startswith("an inner 4-fold")
    cnn = model.members_["CNN"]
    changed = y.copy()
    changed[parts[2]] += 100.0  # the rows of one part: their own held-out prediction cannot move
    for name, member in model.members_.items():
        before, after = (member.held_out_prediction(X, target, parts[2]) if name == "CNN" else
                         clone(member).fit(np.delete(X, parts[2], 0), np.delete(target, parts[2])).predict(X[parts[2]])
                         for target in (y, changed))
        np.testing.assert_array_equal(before, after)
    assert not np.allclose(cnn.held_out_prediction(X, y, parts[2]), cnn.predict(X[parts[2]]))  # retrained
