import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cnngwp.models.cnn.network import map_weights
from cnngwp.reports.plots import (
    plot_max_pooling,
    plot_prediction_intervals,
    plot_search_points,
    plot_weight_map,
    true_qtl_weight_positions,
)


def test_true_qtl_positions_use_the_papers_factor():
    truth = pd.DataFrame({
        "snp_index": pd.array([4353, 5326, 930, 5000, 9211, 9403, 9601, 100], dtype="Int64"),
        "kind": ["additive-major", "additive-major", "epistatic", "epistatic", "dominance", "over-dominance",
                 "under-dominance", "additive"],
        "partner": pd.array([None, None, 5000, 930, None, None, None, None], dtype="Int64"),
    })
    marks = true_qtl_weight_positions(truth, n_weights=155_584, n_snps=9723)
    assert marks["snp_index"].tolist() == [4353, 5326, 930, 9211, 9403, 9601]
    assert marks["group"].tolist() == ["additive"] * 3 + ["dominance"] * 3
    # the paper multiplies its 1-based SNP numbers: 9212 * 16.002 ~ 147,410 and 9602 * 16.002 ~ 153,651;
    # 0-based indices land one SNP (16 weights) earlier
    assert abs(marks["weight_index"].iloc[3] - (147_410 - 16)) <= 4
    assert abs(marks["weight_index"].iloc[5] - (153_651 - 16)) <= 4


@pytest.mark.parametrize(("encoding", "panels"), [("additive", 1), ("genotypic", 2)])
def test_plot_marks_every_true_qtl_in_each_channels_panel(small_sim, encoding, panels):
    n = 800  # weights per channel
    weights = map_weights(np.sin(np.arange(n * panels)), small_sim.n_snps, 4, encoding)
    drawn = plot_weight_map(weights, small_sim.truth, n_snps=small_sim.n_snps)
    axes = [drawn] if panels == 1 else list(drawn)
    assert len(axes) == panels
    for ax in axes:
        offsets = [c.get_offsets() for c in ax.collections]
        assert len(offsets[0]) == n and offsets[0][:, 0].max() == n - 1  # the channel's weights, by channel index
        assert [len(o) for o in offsets[1:]] == [4, 3]  # 2 majors + 2 epistatic pairs, 3 dominance loci
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["true additive QTL", "true dominance QTL"]


def test_interval_pooling_and_search_plots_draw_what_they_are_given():
    prediction = np.array([3.0, 1.0, 2.0])
    ax = plot_prediction_intervals(np.array([2.5, 0.5, 2.0]), prediction, prediction - 1, prediction + 1)
    assert list(ax.lines[0].get_ydata()) == [1.0, 2.0, 3.0]  # sorted by prediction
    convolution = np.arange(10.0)
    ax = plot_max_pooling(convolution, convolution.reshape(5, 2).max(axis=1), positions=10)
    assert list(ax.lines[1].get_ydata()) == [1.0, 3.0, 5.0, 7.0, 9.0]
    evaluations = pd.DataFrame({"filters": [20, 60], "kernel_size": [10, 30], "l1": [0.1, 0.5],
                                "validation_mse": [90.0, 85.0]})
    assert len(plot_search_points(evaluations).collections[0].get_offsets()) == 2
    plt.close("all")
