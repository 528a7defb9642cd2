import numpy as np
import pandas as pd

from cnngwp.plots import plot_weight_map, true_qtl_weight_positions


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


def test_plot_marks_every_true_qtl(small_sim):
    n = 800
    weights = pd.DataFrame({"weight_index": np.arange(n), "weight": np.sin(np.arange(n)),
                            "snp_index": np.arange(n) * small_sim.n_snps // n})
    ax = plot_weight_map(weights, small_sim.truth, n_snps=small_sim.n_snps)
    offsets = [c.get_offsets() for c in ax.collections]
    assert len(offsets[0]) == n  # the weights
    assert [len(o) for o in offsets[1:]] == [4, 3]  # 2 majors + 2 epistatic pairs, 3 dominance loci
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["true additive QTL", "true dominance QTL"]
