import numpy as np
import pandas as pd
import pytest

from cnngwp.models.stack import ModelStack, simplex_weights


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
