import json
import subprocess
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import cnngwp.runs.study as study_module
from cnngwp.data.splits import split_by_generation
from cnngwp.errors import CnngwpInputError
from cnngwp.models.names import GENOTYPIC_CNN, PAPER_PROTOCOL_CNN
from cnngwp.reports.pooled import _ranges, pooled_answer, pooled_fit, pooled_markdown, replicates_for_precision
from cnngwp.reports.study_tables import (
    EQUIVALENCE_MARGIN,
    NO_INTERVAL,
    judge,
    protocol_optimism,
    protocol_sentence,
    relative_mse,
    relative_mse_table,
    replicates_to_decide,
    scenario_components,
    study_verdicts,
    verdict_markdown,
    verdict_summary,
)
from cnngwp.runs.parallel import IN_PROCESS, open_client
from cnngwp.runs.study import GRIDS, fit_every_model, run_study, study_context, study_folder
from cnngwp.tuning.search import Gamma

SMOKE = GRIDS["smoke"]


def test_grids_enumerate_every_scenario_with_its_own_seeds():
    default = GRIDS["default"]
    datasets = default.datasets()
    assert len(datasets) == 4 * 2 * 6  # 6 replicates: chapter 8's verdicts can decide
    assert len({d.key for d in datasets}) == len({d.trait_seed for d in datasets}) == len(datasets)
    assert default.population_seed(0) != default.population_seed(1)
    assert sum(GRIDS["full"].population.generation_sizes) == 3226  # the paper's population size
    with pytest.raises(CnngwpInputError, match="unknown architecture"):
        replace(SMOKE, architectures=("additive", "overdominant"))
    with pytest.raises(CnngwpInputError, match="study grid 'huge'"):
        study_context(grid="huge", runs_root="runs", scheduler="")


def test_a_killed_study_resumes_without_repeating_a_finished_data_set(tmp_path, monkeypatch):
    log, killed = tmp_path / "fitted.txt", tmp_path / "killed"  # files: Dask may run a copy of the function
    original = study_module.fit_study_dataset

    def failing_on_the_last(population, dataset, grid):
        with open(log, "a") as handle:
            handle.write(dataset.key + "\n")
        if dataset.key == SMOKE.datasets()[-1].key and not killed.exists():  # the first study dies on its last one
            killed.touch()
            raise RuntimeError("killed")
        return original(population, dataset, grid)

    monkeypatch.setattr(study_module, "fit_study_dataset", failing_on_the_last)
    with open_client(IN_PROCESS) as client:
        with pytest.raises(RuntimeError, match="killed"):
            run_study(SMOKE, tmp_path, client, progress=False)
        folder = study_folder(tmp_path, SMOKE)
        finished = {p.parent.name: p.stat().st_mtime_ns for p in folder.glob("datasets/*/results.csv")}
        assert len(finished) == len(SMOKE.datasets()) - 1 and not (folder / "study.csv").exists()
        log.unlink()
        table = run_study(SMOKE, tmp_path, client, progress=False)
    assert log.read_text().split() == [SMOKE.datasets()[-1].key]  # only the unfinished data set ran again
    assert {p.parent.name: p.stat().st_mtime_ns for p in folder.glob("datasets/*/results.csv")
            if p.parent.name in finished} == finished
    assert len(table) == 10 * len(SMOKE.datasets()) and np.isfinite(table["mse"]).all()
    assert PAPER_PROTOCOL_CNN in set(table["model"]) and set(table["paper_l1"]) == {0.5}
    assert pd.read_csv(folder / "study.csv").equals(table)
    assert set(table["cnn_l1"]) == set(table["genotypic_l1"]) == set(table["backbone_l1"]) == {0.5}
    weights = table.dropna(subset=["stack_weight"]).groupby("dataset")["stack_weight"]
    assert np.allclose(weights.sum(), 1.0) and (weights.min() >= 0).all() and weights.size().eq(8).all()
    with open_client(IN_PROCESS) as client, pytest.raises(CnngwpInputError, match="grid.json"):
        run_study(replace(SMOKE, n_members=2), tmp_path, client, progress=False)


def test_no_model_of_a_study_reads_the_test_phenotypes(small_sim):
    """Every lambda, epoch and stack weight, and so every test prediction, is the same when the test rows' phenotypes
    change; only the scores move."""
    split = split_by_generation(small_sim)
    samples = small_sim.samples.copy()
    samples.iloc[split.test, samples.columns.get_loc(small_sim.trait)] += np.linspace(-30, 50, len(split.test))
    fits = [fit_every_model(data, split, l1_grid=(0.2, 1.0), n_members=2, training=SMOKE.training, seed=3,
                            gamma=Gamma(4, 5, 0.2), paper_protocol=True)
            for data in (small_sim, replace(small_sim, samples=samples))]
    honest = [{k: v for k, v in fit.l1.items() if k != PAPER_PROTOCOL_CNN} for fit in fits]
    assert GENOTYPIC_CNN in honest[0] and honest[0] == honest[1]
    assert fits[0].stack.weights == fits[1].stack.weights and PAPER_PROTOCOL_CNN not in fits[0].stack.weights
    pd.testing.assert_frame_equal(fits[0].predictions.drop(columns=["observed", PAPER_PROTOCOL_CNN]),
                                  fits[1].predictions.drop(columns=["observed", PAPER_PROTOCOL_CNN]))
    assert (fits[0].table["mse"] != fits[1].table["mse"]).all()


def _synthetic_study():
    """Three scenarios x six replicates whose truth is set. Each replicate's MSEs share a scale (80 to 130: noisier
    test generations raise every model's MSE); against the best kernel model the CNN ensemble is 5 % worse in
    'dominance' (GDBLUP best), 8 % better in 'epistatic' (RKHS the best kernel) and no different on average in
    'additive' (GBLUP), each up to a small per-replicate wobble; the paper protocol's CNN is always 10 % lower."""
    kernels = {"dominance": {"GBLUP": 1.0, "GDBLUP": 0.8, "EGBLUP": 0.85, "RKHS": 0.9, "BLASSO": 1.01},
               "epistatic": {"GBLUP": 1.0, "GDBLUP": 0.99, "EGBLUP": 0.98, "RKHS": 0.97, "BLASSO": 1.0},
               "additive": {"GBLUP": 1.0, "GDBLUP": 1.01, "EGBLUP": 1.01, "RKHS": 1.02, "BLASSO": 1.0}}
    cnn = {"dominance": (0.8, 1.05, 0.01), "epistatic": (0.97, 0.92, 0.01), "additive": (1.0, 1.0, 0.06)}
    rows = []
    for architecture, ratios in kernels.items():
        best_kernel, factor, wobble = cnn[architecture]
        for replicate, (scale, sign) in enumerate(zip((80, 130, 95, 110, 100, 120), (1, -1, 1, -1, 1, -1))):
            mses = {name: scale * r for name, r in ratios.items()}
            mses["CNN ensemble"] = scale * best_kernel * factor * (1 + sign * wobble * (1 + replicate % 3) / 2)
            mses[PAPER_PROTOCOL_CNN] = 0.9 * mses["CNN ensemble"]
            for model, mse in mses.items():
                rows.append({"dataset": f"{architecture}-{replicate}", "architecture": architecture, "h2": 0.3,
                             "replicate": replicate, "model": model, "mse": mse, "correlation": 0.5, "slope": 1.0,
                             "seconds": 1.0, "h2_realised": 0.31, "additive": 20.0,
                             "dominance": 10.0 if architecture == "dominance" else 0.0,
                             "epistatic": 10.0 if architecture == "epistatic" else 0.0, "residual": 70.0,
                             "cnn_l1": 0.5, "backbone_l1": 1.5})
    return pd.DataFrame(rows)


def test_replicates_to_decide_is_the_smallest_study_whose_interval_would_exclude_zero():
    z = np.array([-1.5, -0.5, 0.0, 0.5, 1.5])
    z = (z - z.mean()) / z.std(ddof=1)
    # mean 0.1, SD 0.2: t(16) 0.2 / sqrt(17) = 0.103 still covers zero, t(17) 0.2 / sqrt(18) = 0.0995 does not
    assert replicates_to_decide(0.1 + 0.2 * z) == 18
    assert replicates_to_decide(-0.1 + 0.2 * z) == 18  # the sign does not matter
    assert replicates_to_decide(0.1 + 0.01 * z) == 2  # t(1) 0.01 / sqrt(2) = 0.09 already decides it
    assert replicates_to_decide(0.2 * z) is None  # no difference to decide
    assert replicates_to_decide(0.001 + 0.2 * z) is None  # more than MAX_REPLICATES
    assert replicates_to_decide([0.1]) is None


def test_relative_mse_and_verdicts_come_from_the_numbers():
    study = _synthetic_study()
    relative = relative_mse(study).set_index(["architecture", "model"])
    assert PAPER_PROTOCOL_CNN not in relative.index.get_level_values("model")  # only the protocol section reads it
    assert relative.loc[("dominance", "GDBLUP"), "ratio"] == pytest.approx(0.8)
    assert relative.loc[("dominance", "GDBLUP"), "lower"] == pytest.approx(0.8)  # no spread over replicates
    wide = relative_mse_table(relative_mse(study))
    assert wide.columns.tolist() == ["architecture", "h²", "GDBLUP", "EGBLUP", "RKHS", "BLASSO", "CNN ensemble"]
    assert wide["architecture"].tolist() == ["dominance", "epistatic", "additive"] and wide.iloc[0]["GDBLUP"] == (
        "0.800 (0.80 to 0.80)")
    cnn = relative.loc[("epistatic", "CNN ensemble")]
    assert cnn["lower"] < 0.97 * 0.92 < cnn["upper"]
    verdicts = study_verdicts(study).set_index("architecture")
    assert verdicts["kernel_model"].to_dict() == {"dominance": "GDBLUP", "epistatic": "RKHS", "additive": "GBLUP"}
    assert verdicts["judgement"].to_dict() == {"dominance": "worse", "epistatic": "better",
                                               "additive": "undecided"}
    assert verdicts.loc["dominance", "percent"] == pytest.approx(5.0, abs=0.2)
    assert verdicts.loc["epistatic", "best_model"] == "CNN ensemble"  # never the paper protocol's, lower as it is
    assert "**worse**" in verdicts.loc["dominance", "verdict"] and "over 6 replicates" in verdicts.loc["dominance",
                                                                                                     "verdict"]
    assert verdicts.loc["dominance", "replicates_needed"] <= 6 and "would need" not in verdicts.loc["dominance",
                                                                                                  "verdict"]
    # 'additive': the wobble's mean is not quite zero, but far too small for any study to decide
    assert np.isnan(verdicts.loc["additive", "replicates_needed"])
    assert "no study of up to 1000 replicates would decide" in verdicts.loc["additive", "verdict"]
    summary = verdict_summary(study).set_index("model")
    assert summary.loc["CNN ensemble"].to_dict() == {"better": 1, "equivalent": 0, "undecided": 1, "worse": 1,
                                                      "scenarios": 3}
    # 'additive': the CNN's mean MSE is a hair below GBLUP's though the interval finds no difference
    assert "Best model per scenario (3 scenarios): CNN ensemble 2, GDBLUP 1." in verdict_markdown(
        study_verdicts(study))
    optimism = protocol_optimism(study).set_index("architecture")
    assert optimism["optimism"].to_numpy() == pytest.approx(10.0)
    assert optimism.loc["all", "data_sets"] == 18 and optimism.loc["all", "lower"] == pytest.approx(10.0)
    assert optimism.loc["all", "paper_gain"] - optimism.loc["all", "honest_gain"] > 0
    assert "10.0 % lower than under the honest protocol" in protocol_sentence(protocol_optimism(study))
    assert protocol_sentence(protocol_optimism(study[study["model"] != PAPER_PROTOCOL_CNN])) == ""
    components = scenario_components(study).set_index("architecture")
    assert components.loc["dominance", "dominance_share"] == pytest.approx(1 / 3)
    assert components.loc["epistatic", "non_additive_share"] == pytest.approx(1 / 3)
    assert components.loc["epistatic", "backbone_l1"] == "1.5 (6)"


def test_a_verdict_is_equivalent_only_inside_the_margin_set_in_the_code():
    assert EQUIVALENCE_MARGIN == 2.0
    assert judge(-1.5, 1.9) == judge(-1.9, -0.4) == "equivalent"  # decided or not: too small a change to matter
    assert judge(-3.0, -0.5) == "better" and judge(0.1, 2.5) == "worse"
    assert judge(-2.5, 1.0) == judge(-1.0, 2.1) == "undecided"
    assert judge(np.nan, np.nan) == NO_INTERVAL == "no interval yet"
    one = study_verdicts(_synthetic_study().query("replicate == 0")).iloc[0]
    assert one["judgement"] == "no interval yet" and "(one replicate): **no interval yet**." in one["verdict"]
    # a grid's first chunk: every scenario counted, under the judgement it has (the default grid's table has no
    # such column: see test_relative_mse_and_verdicts_come_from_the_numbers)
    summary = verdict_summary(_synthetic_study().query("replicate == 0")).set_index("model")
    assert summary.loc["CNN ensemble"].to_dict() == {"better": 0, "equivalent": 0, "undecided": 0, "worse": 0,
                                                      "no interval yet": 3, "scenarios": 3}


_SHARES = {"additive": (0.0, 0.0), "dominance": (0.4, 0.0), "epistatic": (0.0, 0.3), "qtlmas2010": (0.15, 0.1)}


def _pooled_study(log_ratio, *, replicates=8, noise=0.03, seed=0, wobble=0.05, population_sd=0.05):
    """A study whose CNN ensemble's log test-MSE ratio to the best kernel model (GBLUP, by design) is
    ``log_ratio(dominance share, epistatic share, h2)`` plus a shift per population (`population_sd`) and noise per
    data set.
    With `wobble`, each data set's shares move around its architecture's by up to that much (0: every population
    realises the same shares)."""
    rng = np.random.default_rng(seed)
    rows = []
    for replicate in range(replicates):
        population, scale = rng.normal(0.0, population_sd), rng.uniform(80, 130)
        for architecture, (dominance, epistatic) in _SHARES.items():
            for h2 in (0.2, 0.6):
                d = dominance + (wobble * rng.uniform(-1, 1) if dominance else 0.0)
                e = epistatic + (wobble * rng.uniform(-1, 1) if epistatic else 0.0)
                mses = {"GBLUP": scale, "GDBLUP": 1.03 * scale, "EGBLUP": 1.04 * scale, "RKHS": 1.05 * scale,
                        "BLASSO": 1.01 * scale}
                mses["CNN ensemble"] = scale * np.exp(log_ratio(d, e, h2) + population + rng.normal(0.0, noise))
                for model, mse in mses.items():
                    rows.append({"dataset": f"{architecture}-h2-{h2}-rep-{replicate}", "architecture": architecture,
                                 "h2": h2, "replicate": replicate, "model": model, "mse": mse, "h2_realised": h2,
                                 "additive": 1.0 - d - e, "dominance": d, "epistatic": e})
    return pd.DataFrame(rows)


def _covers(effect, value):
    return effect["lower"] <= value <= effect["upper"]


def test_the_pooled_model_finds_an_effect_that_grows_with_the_dominance_share():
    fit = pooled_fit(_pooled_study(lambda d, e, h2: 0.3 * d), "CNN ensemble")
    effects = fit.effects.set_index("term")
    assert fit.terms == ("dominance_share", "epistatic_share", "h2") and fit.populations == 8 and len(fit.data) == 64
    assert set(fit.data["kernel_model"]) == {"GBLUP"}
    truth = 100 * np.expm1(0.03)  # per 0.1 of dominance share
    assert _covers(effects.loc["dominance_share"], truth) and effects.loc["dominance_share", "lower"] > 0
    assert _covers(effects.loc["epistatic_share"], 0.0) and _covers(effects.loc["h2"], 0.0)
    curves = fit.curves()
    dominance = curves[curves["kind"] == "dominance_share"]
    assert set(dominance["h2"]) == {0.2, 0.6} and dominance["share"].max() == pytest.approx(fit.data[
        "dominance_share"].max())
    top = dominance[dominance["share"] == dominance["share"].max()]
    assert (top["judgement"] == "worse").all() and (top["percent"] > 10).all()  # ~ +13 % at a share of 0.43
    answer = pooled_answer(fit)
    assert answer.startswith("**CNN ensemble**, pooled over 64 data sets of 8 populations: against the best kernel "
                             "model")
    assert "per 0.1 more dominance share, +3." in answer and "worse from" in answer
    assert pooled_markdown({"Stack": None, "CNN ensemble": None}).startswith("Too few data sets for the pooled model "
                                                                             "of any model")


def test_the_pooled_model_finds_no_effect_where_there_is_none():
    fit = pooled_fit(_pooled_study(lambda d, e, h2: 0.0, population_sd=0.01), "CNN ensemble")
    assert all(_covers(effect, 0.0) for effect in fit.effects.to_dict("records"))
    centre = fit.predict(pd.DataFrame({"dominance_share": [0.0], "epistatic_share": [0.0], "h2": [0.4]})).iloc[0]
    assert centre["judgement"] == "equivalent" and _covers(centre, 0.0)
    assert "worse" not in pooled_answer(fit) and "better" not in pooled_answer(fit)


def test_the_pooled_model_finds_an_effect_of_h2_alone():
    fit = pooled_fit(_pooled_study(lambda d, e, h2: 0.4 * (h2 - 0.4), population_sd=0.02), "CNN ensemble")
    effects = fit.effects.set_index("term")
    assert _covers(effects.loc["h2"], 100 * np.expm1(0.04)) and effects.loc["h2", "lower"] > 0
    assert _covers(effects.loc["dominance_share"], 0.0) and _covers(effects.loc["epistatic_share"], 0.0)
    at_zero = fit.curves().query("share == 0").set_index(["kind", "h2"])["judgement"]
    assert set(at_zero.xs(0.2, level="h2")) == {"better"} and set(at_zero.xs(0.6, level="h2")) == {"worse"}


def test_without_a_spread_between_populations_the_pooled_model_is_least_squares_and_says_so_silently():
    # three populations that share one intercept: statsmodels puts their variance on the boundary and, for this
    # draw, calls its Hessian not positive definite; the fit is then ordinary least squares, with nothing to warn of
    study = _pooled_study(lambda d, e, h2: 0.2 * d, replicates=3, population_sd=0.0, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = pooled_fit(study, "CNN ensemble")
    assert fit.population_sd < 1e-3 * fit.residual_sd
    ols = sm.OLS(fit.data["log_ratio"], sm.add_constant(fit.data[list(fit.terms)])).fit()
    assert np.allclose(fit.params.to_numpy(), ols.params.rename({"const": "Intercept"})[fit.params.index], atol=1e-5)
    assert np.allclose(np.sqrt(np.diag(fit.cov)), ols.bse.rename({"const": "Intercept"})[fit.params.index], rtol=0.02)


def test_the_answer_names_a_judgement_held_at_one_share_as_that_share_not_as_a_range():
    share = np.linspace(0.0, 0.39, 41)  # read every 0.00975: a one-point run is narrower than two decimals
    judgement = np.where(share < 0.001, "undecided", np.where(share < 0.385, "equivalent", "worse"))
    text = _ranges(pd.DataFrame({"share": share, "judgement": judgement}), "epistatic share")
    assert text == "undecided at an epistatic share of 0.00, equivalent from 0.00 to 0.39, worse at 0.39"
    judgement = np.where(share < 0.1, "better", "equivalent")
    assert _ranges(pd.DataFrame({"share": share, "judgement": judgement}), "dominance share") == (
        "better up to a dominance share of 0.10, equivalent from 0.10 to 0.39")


def test_the_pooled_model_leaves_out_what_the_study_does_not_vary():
    study = _pooled_study(lambda d, e, h2: 0.0)
    one_h2 = study[(study["h2"] == 0.6) & study["architecture"].isin(["additive", "dominance"])]
    fit = pooled_fit(one_h2, "CNN ensemble")
    assert fit.terms == ("dominance_share",) and set(fit.curves()["kind"]) == {"dominance_share"}
    assert pooled_fit(one_h2[one_h2["replicate"] < 3], "CNN ensemble") is not None
    assert pooled_fit(one_h2[one_h2["replicate"] < 2], "CNN ensemble") is None  # two populations: too few
    assert pooled_answer(None, "Stack") == ("**Stack.** Too few data sets for the pooled model (it needs data sets "
                                            "of at least 3 populations).")


def test_the_replicates_for_a_precision_target_are_those_that_meet_it_at_the_pilot_spread():
    """On a design that every population repeats, the pilot's own replicates meet a target equal to its own widest
    predicted half-width, and one replicate fewer or a tighter target does not."""
    fit = pooled_fit(_pooled_study(lambda d, e, h2: 0.3 * d, replicates=6, wobble=0.0), "CNN ensemble")
    scenarios = fit.data.drop_duplicates(["architecture", "h2"])[list(fit.terms)]
    predicted = fit.predict(scenarios)
    half = np.log1p(predicted["upper"] / 100) - np.log1p(predicted["percent"] / 100)
    widest = float(100 * np.expm1(half.max()))
    assert replicates_for_precision(fit, scenarios, target=widest * 1.0001) == 6
    assert replicates_for_precision(fit, scenarios, target=widest * 0.99) == 7
    assert replicates_for_precision(fit, scenarios, target=widest * 10) == 2  # never fewer than two


def test_a_grid_is_built_up_in_chunks_whose_records_are_never_fitted_again(tmp_path, monkeypatch):
    log = tmp_path / "fitted.txt"
    original = study_module.fit_study_dataset

    def logged(population, dataset, grid):
        with open(log, "a") as handle:
            handle.write(dataset.key + "\n")
        return original(population, dataset, grid)

    monkeypatch.setattr(study_module, "fit_study_dataset", logged)
    records = tmp_path / "records"
    with pytest.raises(CnngwpInputError, match=r"replicate\(s\) \[2\]; expected some of 0 to 1"):
        SMOKE.select(replicates=[2])
    with pytest.raises(CnngwpInputError, match=r"unknown data set\(s\) \['additive-h2-0.3-rep-0'\]"):
        SMOKE.select(keys=["additive-h2-0.3-rep-0"])
    first = SMOKE.select(keys=["dominance-h2-0.5-rep-1"])
    with open_client(IN_PROCESS) as client:
        run_study(SMOKE, tmp_path / "machine-a", client, datasets=first, progress=False)  # no records asked for
        assert not records.exists()
        # asked for later: the record of the data set that run finished, with that run's provenance, not refitted
        chunk = run_study(SMOKE, tmp_path / "machine-a", client, datasets=first, records=records, progress=False)
        assert set(chunk["dataset"]) == {"dominance-h2-0.5-rep-1"}
        source = json.loads((study_folder(tmp_path / "machine-a", SMOKE) / "datasets" / "dominance-h2-0.5-rep-1" /
                             "source.json").read_text())
        assert {k: json.loads((records / "dominance-h2-0.5-rep-1.json").read_text())[k] for k in source} == source
        # another machine, another runs folder: only what no record holds is fitted
        table = run_study(SMOKE, tmp_path / "machine-b", client, datasets=SMOKE.select(replicates=[1]),
                          records=records, progress=False)
    assert log.read_text().split() == ["dominance-h2-0.5-rep-1", "additive-h2-0.5-rep-1"]
    assert sorted(p.name for p in records.iterdir()) == ["additive-h2-0.5-rep-1.json", "dominance-h2-0.5-rep-1.json"]
    committed = study_module.committed_study(SMOKE, records)
    pd.testing.assert_frame_equal(committed.table.sort_values(["dataset", "model"]).reset_index(drop=True),
                                  table.sort_values(["dataset", "model"]).reset_index(drop=True), check_dtype=False)
    assert (committed.records["seconds"] > 0).all() and committed.records["commit"].str.len().gt(0).all()
    assert committed.summary().startswith("study grid 'smoke': 2 of its 4 data sets recorded, in 2 of its 2 "
                                          "scenarios with 1 replicate each; ")
    entry = json.loads((records / "additive-h2-0.5-rep-1.json").read_text())
    (records / "additive-h2-0.5-rep-1.json").write_text(json.dumps({**entry, "machine": "a slower machine",
                                                                      "seconds": 1000.0}))
    costs = study_module.committed_study(SMOKE, records).summary().split(" each; ")[1].split("; ")
    assert len(costs) == 2 and "1000 s per data set (median of 1) on a slower machine" in costs  # each machine apart
    assert next(c for c in costs if "slower" not in c).endswith(f" s per data set (median of 1) on {entry['machine']}")
    entry = json.loads((records / "additive-h2-0.5-rep-1.json").read_text())
    entry["settings"]["n_members"] = 3
    (records / "additive-h2-0.5-rep-1.json").write_text(json.dumps(entry))
    with pytest.raises(CnngwpInputError, match=r"additive-h2-0.5-rep-1.json: made with n_members=3, but grid 'smoke' "
                                               r"now has n_members=1"):
        study_module.committed_study(SMOKE, records)


def test_a_record_says_which_commit_only_from_the_packages_own_checkout(tmp_path, monkeypatch):
    import cnngwp.provenance as provenance_module

    assert provenance_module.provenance()["commit"] not in ("", "unknown")  # the tests run in a checkout
    other = tmp_path / "checkout"  # another repository with a commit, holding a virtual environment
    inside_other_repository = other / ".venv" / "site-packages"
    inside_other_repository.mkdir(parents=True)
    for command in (["init", "-q"], ["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty",
                                     "-m", "other code"]):
        subprocess.run(["git", "-C", str(other), *command], check=True)
    monkeypatch.setattr(provenance_module, "_CHECKOUT", inside_other_repository)  # an installed package's folder
    assert provenance_module.provenance()["commit"] == "unknown"
