import numpy as np
import pytest

from cnngwp.evaluate import compare_baselines, prediction_metrics
from cnngwp.splits import split_by_generation


def test_prediction_metrics_known_answer():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    m = prediction_metrics(observed, 0.5 * observed)
    assert m["mse"] == pytest.approx(np.mean((0.5 * observed) ** 2))
    assert m["correlation"] == pytest.approx(1.0)
    assert m["slope"] == pytest.approx(2.0)  # predictions shrunk by half -> slope 2


def test_compare_baselines_on_the_small_simulation(small_sim):
    table = compare_baselines(small_sim, split_by_generation(small_sim))
    assert table["model"].tolist() == ["GBLUP", "BLASSO"]
    test_var = small_sim.y[small_sim.generations == 5].var()
    assert (table["mse"] < 1.2 * test_var).all() and (table["correlation"] > 0.2).all()
