import numpy as np
import pandas as pd
import pytest

from cnngwp.evaluate import compare_baselines, prediction_metrics, ranking_agreement
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


def test_ranking_agreement_counts_the_shared_top_animals():
    truth = np.arange(20.0)  # animal 19 is best
    predictions = pd.DataFrame({"perfect": truth * 2 + 1, "reversed": -truth,
                                "half": np.r_[truth[:18], -1.0, 100.0]})  # keeps 19, misses 18 in its top 2
    table = ranking_agreement(predictions, truth, top=0.1)
    assert table.loc["perfect"].tolist() == [1.0, 1.0]
    assert table.loc["reversed"].tolist() == [-1.0, 0.0]
    assert table.loc["half", "top_overlap"] == 0.5
    with pytest.raises(ValueError, match="top must be a fraction"):
        ranking_agreement(predictions, truth, top=0)
