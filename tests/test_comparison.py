import numpy as np
import pandas as pd
import pytest

from cnngwp.data.covariates import CovariateDesign
from cnngwp.data.splits import split_by_generation
from cnngwp.models.baselines import GBLUP
from cnngwp.models.baselines.on_split import fit_baselines
from cnngwp.models.metrics import prediction_metrics
from cnngwp.reports.comparison import fixed_effects_table, ranking_agreement, variance_components_table


def test_prediction_metrics_known_answer():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    m = prediction_metrics(observed, 0.5 * observed)
    assert m["mse"] == pytest.approx(np.mean((0.5 * observed) ** 2))
    assert m["correlation"] == pytest.approx(1.0)
    assert m["slope"] == pytest.approx(2.0)  # predictions shrunk by half -> slope 2


def test_compare_baselines_on_the_small_simulation(small_sim):
    fits = fit_baselines(small_sim, split_by_generation(small_sim))
    table = fits.table
    assert table["model"].tolist() == ["GBLUP", "GDBLUP", "EGBLUP", "RKHS", "BLASSO"]
    # EGBLUP and RKHS predict from kernels to the training animals: no SNP effects
    assert fits.effects.columns.tolist() == ["snp_index", "GBLUP", "GDBLUP", "BLASSO"]
    components = variance_components_table(fits.models)
    assert components.loc["residual"].gt(0).all() and components.loc["additive", "GDBLUP"] >= 0
    assert {"dominance", "epistatic", "kernel h=1"} <= set(components.index)
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


def test_fixed_effects_table_lists_the_intercept_and_each_covariate(small_sim):
    split = split_by_generation(small_sim)
    design = CovariateDesign.fit(small_sim.samples, ("sex",), ("sex",), rows=split.train)
    X, y = small_sim.genotypes[split.train], small_sim.y[split.train]
    model = GBLUP().fit(X, y, covariates=design.for_rows(small_sim, split.train))
    table = fixed_effects_table({"GBLUP": model}, design)
    assert table.index.tolist() == ["intercept", "sex[2]"]
    assert table["GBLUP"].tolist() == [model.intercept_, model.fixed_effects_[0]]
    assert fixed_effects_table({"GBLUP": GBLUP().fit(X, y)}, None).index.tolist() == ["intercept"]
