from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import cnngwp.runs.study as study_module
from cnngwp.data.splits import split_by_generation
from cnngwp.errors import CnngwpInputError
from cnngwp.models.cnn.network import GENOTYPIC_CNN
from cnngwp.reports.study_tables import (
    relative_mse,
    relative_mse_table,
    scenario_components,
    study_verdicts,
    verdict_markdown,
)
from cnngwp.runs.parallel import IN_PROCESS, open_client
from cnngwp.runs.study import GRIDS, fit_every_model, run_study, study_context, study_folder

SMOKE = GRIDS["smoke"]


def test_grids_enumerate_every_scenario_with_its_own_seeds():
    default = GRIDS["default"]
    datasets = default.datasets()
    assert len(datasets) == 4 * 2 * 2 >= 16
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
    assert len(table) == 9 * len(SMOKE.datasets()) and np.isfinite(table["mse"]).all()
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
    fits = [fit_every_model(data, split, l1_grid=(0.2, 1.0), n_members=1, training=SMOKE.training, seed=3,
                            filters=4, kernel_size=5)
            for data in (small_sim, replace(small_sim, samples=samples))]
    assert GENOTYPIC_CNN in fits[0].l1 and fits[0].l1 == fits[1].l1
    assert fits[0].stack.weights == fits[1].stack.weights
    pd.testing.assert_frame_equal(fits[0].predictions.drop(columns="observed"),
                                  fits[1].predictions.drop(columns="observed"))
    assert (fits[0].table["mse"] != fits[1].table["mse"]).all()


def _synthetic_study():
    """Two scenarios x three replicates with known MSEs: GDBLUP best in 'dominance', the CNN best in 'epistatic'."""
    rows = []
    for architecture, mses in (("dominance", {"GBLUP": 100, "GDBLUP": 80, "RKHS": 90, "BLASSO": 101,
                                              "CNN ensemble": 95}),
                               ("epistatic", {"GBLUP": 100, "GDBLUP": 99, "RKHS": 97, "BLASSO": 100,
                                              "CNN ensemble": 90})):
        for replicate, noise in enumerate((-1.0, 0.0, 1.0)):
            key = f"{architecture}-{replicate}"
            for model, mse in mses.items():
                rows.append({"dataset": key, "architecture": architecture, "h2": 0.3, "replicate": replicate,
                             "model": model, "mse": mse + (noise if model == "CNN ensemble" else 0.0),
                             "correlation": 0.5, "slope": 1.0, "seconds": 1.0, "h2_realised": 0.31,
                             "additive": 20.0, "dominance": 10.0 if architecture == "dominance" else 0.0,
                             "epistatic": 10.0 if architecture == "epistatic" else 0.0, "residual": 70.0,
                             "cnn_l1": 0.5, "backbone_l1": 1.5})
    return pd.DataFrame(rows)


def test_relative_mse_and_verdicts_come_from_the_numbers():
    study = _synthetic_study()
    relative = relative_mse(study).set_index(["architecture", "model"])
    assert relative.loc[("dominance", "GDBLUP"), "ratio"] == pytest.approx(0.8)
    assert relative.loc[("dominance", "GDBLUP"), "lower"] == pytest.approx(0.8)  # no spread over replicates
    wide = relative_mse_table(relative_mse(study))
    assert wide.columns.tolist() == ["architecture", "h²", "GDBLUP", "RKHS", "BLASSO", "CNN ensemble"]
    assert wide["h²"].tolist() == ["0.3", "0.3"]
    assert wide.iloc[0]["GDBLUP"] == "0.800 (0.80 to 0.80)" and wide["architecture"].tolist() == ["dominance",
                                                                                                   "epistatic"]
    cnn = relative.loc[("epistatic", "CNN ensemble")]
    assert cnn["ratio"] == pytest.approx(0.9) and cnn["lower"] < 0.9 < cnn["upper"]
    verdicts = study_verdicts(study).set_index("architecture")
    assert verdicts.loc["dominance", "best_model"] == "GDBLUP" and verdicts.loc["dominance", "kernel_model"] == "GDBLUP"
    assert verdicts.loc["dominance", "difference"] == pytest.approx(15.0)
    assert verdicts.loc["dominance", "judgement"] == "GDBLUP is better"
    assert (
        verdicts.loc["epistatic", "best_model"] == "CNN ensemble"
        and verdicts.loc["epistatic", "kernel_model"] == "RKHS"
    )
    assert verdicts.loc["epistatic", "judgement"] == "the CNN ensemble is better"
    text = verdict_markdown(study_verdicts(study))
    assert "better in 1, not clearly different in 0 and worse in 1" in text
    components = scenario_components(study).set_index("architecture")
    assert components.loc["dominance", "dominance_share"] == pytest.approx(1 / 3)
    assert components.loc["epistatic", "non_additive_share"] == pytest.approx(1 / 3)
    assert components.loc["epistatic", "backbone_l1"] == "1.5, 1.5, 1.5"
