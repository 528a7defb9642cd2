"""Saved models: round trip, SNP matching of candidate files, missing phenotypes through a whole run."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from cnngwp.data.covariates import CovariateDesign
from cnngwp.data.readers import read_candidates, write_dataset
from cnngwp.data.splits import split_by_generation
from cnngwp.errors import CnngwpInputError
from cnngwp.models.baselines import GBLUP, GDBLUP, RKHS, BayesianLasso
from cnngwp.models.cnn.estimator import CNNGWPRegressor
from cnngwp.models.saved_model import GenomicModel, load_model
from cnngwp.runs.parallel import IN_PROCESS, open_client
from cnngwp.runs.workflow import fit_model, run_cnngwp
from cnngwp.tuning.settings import PROFILES, SEARCH_SPACES, RunSettings

SMOKE_RUN = RunSettings(SEARCH_SPACES["qtlmas2010"], PROFILES["smoke"], replicates=1, n_members=2)


@pytest.fixture(scope="module")
def fitted(small_sim):
    """A two-member CNN and every baseline fitted on generations 1-4 with sex as a categorical covariate."""
    split = split_by_generation(small_sim)
    design = CovariateDesign.fit(small_sim.samples, ("sex",), ("sex",), rows=split.train)
    X, y = small_sim.genotypes, small_sim.y
    C_train, C_test = design.for_rows(small_sim, split.train), design.for_rows(small_sim, split.test)
    cnn = CNNGWPRegressor(filters=4, kernel_size=5, l1=0.3, learning_rate=2e-3, epochs=4, patience=None, n_members=2,
                          refit=True, seed=3).fit(X[split.train], y[split.train], covariates=C_train)
    baselines = {"GBLUP": GBLUP().fit(X[split.train], y[split.train], covariates=C_train),
                 "GDBLUP": GDBLUP().fit(X[split.train], y[split.train], covariates=C_train),
                 "RKHS": RKHS().fit(X[split.train], y[split.train], covariates=C_train),
                 "BLASSO": BayesianLasso(n_iter=200, burn_in=50, seed=1).fit(X[split.train], y[split.train],
                                                                             covariates=C_train)}
    model = GenomicModel.from_estimators(cnn, baselines, snps=small_sim.snps, covariates=design,
                                         record={"trait": "y"})
    return split, design, C_test, cnn, baselines, model


def test_a_loaded_model_predicts_as_the_fitted_one(fitted, small_sim, tmp_path):
    split, _design, C_test, cnn, baselines, model = fitted
    model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    X_test = small_sim.genotypes[split.test]
    candidates = small_sim.select_samples(split.test)
    np.testing.assert_allclose(loaded.predict_members(candidates), cnn.predict_members(X_test, covariates=C_test),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(loaded.predict(candidates), cnn.predict(X_test, covariates=C_test), rtol=1e-6)
    for got, expected in zip(loaded.prediction_interval(candidates),
                             cnn.prediction_interval(X_test, covariates=C_test), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    table = loaded.predict_baselines(candidates)
    assert list(table.columns) == ["GBLUP", "GDBLUP", "RKHS", "BLASSO"]
    for name, estimator in baselines.items():
        np.testing.assert_allclose(table[name], estimator.predict(X_test, covariates=C_test), rtol=1e-10)
    record = json.loads((tmp_path / "model" / "model.json").read_text())
    assert record["covariates"]["names"] == ["sex[2]"] and len(record["members"]) == 2
    assert sorted(p.name for p in (tmp_path / "model" / "members").iterdir()) == ["member-00.keras",
                                                                                  "member-01.keras"]
    # the covariates are needed, and named, for candidates
    with pytest.raises(CnngwpInputError, match=r"fitted with covariate\(s\) \['sex'\]; missing column\(s\) \['sex'\]"):
        loaded.predict(small_sim.select_samples(split.test).__class__(
            candidates.genotypes, candidates.samples.drop(columns="sex"), candidates.snps, trait="y"))


def _candidate_file(data, rows, tmp_path, *, swap_every=3, drop_share=0.0, seed=0):
    """The animals `rows` written as a PLINK fileset with every third SNP's alleles swapped (codes flipped),
    SNPs shuffled, a share of them removed, and no phenotype."""
    rng = np.random.default_rng(seed)
    sub = data.select_samples(rows)
    snps = sub.snps.copy()
    codes = sub.genotypes.copy()
    swap = np.arange(data.n_snps) % swap_every == 0
    snps.loc[swap, ["allele_1", "allele_2"]] = snps.loc[swap, ["allele_2", "allele_1"]].to_numpy()
    codes[:, swap] = np.where(codes[:, swap] >= 0, 2 - codes[:, swap], codes[:, swap])
    order = rng.permutation(data.n_snps)
    dropped = np.sort(order[:round(drop_share * data.n_snps)])
    keep = np.setdiff1d(order, dropped, assume_unique=True)  # shuffled order, dropped SNPs left out
    samples = sub.samples[["sex"]].assign(y=np.nan)
    candidate = sub.__class__(np.ascontiguousarray(codes[:, keep]), samples, snps.iloc[keep].reset_index(drop=True),
                              trait="y")
    write_dataset(candidate, tmp_path / "candidates")
    samples[["sex"]].rename_axis("id").to_csv(tmp_path / "candidate_covariates.csv")
    return tmp_path / "candidates" / "genotypes.bed", tmp_path / "candidate_covariates.csv", dropped, swap


def test_candidates_are_matched_by_snp_id_with_alleles_flipped(fitted, small_sim, tmp_path):
    split, _design, C_test, cnn, baselines, model = fitted
    bed, covariates, dropped, swap = _candidate_file(small_sim, split.test, tmp_path, drop_share=0.02)
    candidates = read_candidates(bed, covariates)
    table, alignment = model.predict_table(candidates)
    assert len(alignment.missing) == len(dropped) == 8
    assert len(alignment.flipped) == int(swap.sum() - swap[dropped].sum())
    # the original genotypes with the removed SNPs set missing (mean-imputed) give exactly these predictions
    original = small_sim.genotypes[split.test].copy()
    original[:, dropped] = -1
    np.testing.assert_allclose(table["prediction"], cnn.predict(original, covariates=C_test), rtol=1e-5, atol=1e-5)
    for name, estimator in baselines.items():
        np.testing.assert_allclose(table[name], estimator.predict(original, covariates=C_test), rtol=1e-9)
    # and they stay close to the predictions from every SNP: only the 2 % imputed SNPs' effects are lost
    full = cnn.predict(small_sim.genotypes[split.test], covariates=C_test)
    assert np.corrcoef(table["prediction"], full)[0, 1] > 0.98
    assert table["id"].tolist() == small_sim.samples.index[split.test].tolist()
    # rank 1 is the highest prediction; tied animals share the better rank
    np.testing.assert_array_equal(table["rank"], rankdata(-table["prediction"].to_numpy(), method="min"))


def test_too_many_missing_snps_is_a_clear_error(fitted, small_sim, tmp_path):
    split, *_, model = fitted
    bed, covariates, dropped, _ = _candidate_file(small_sim, split.test, tmp_path, drop_share=0.10)
    candidates = read_candidates(bed, covariates)
    first = small_sim.snps["snp_id"].iloc[dropped[:1]].tolist()[0]
    with pytest.raises(CnngwpInputError, match=rf"genotypes\.bed: 40 of the model's 400 SNPs \(10\.0%\) are not in the "
                                               rf"file, first \[.*'{first}'.*\]; at most 5% may be missing"):
        model.predict_table(candidates)
    table, alignment = model.predict_table(candidates, max_missing=0.2)
    assert len(alignment.missing) == 40 and np.isfinite(table["prediction"]).all()


def test_other_alleles_and_unseen_levels_are_named(fitted, small_sim, tmp_path):
    split, *_, model = fitted
    bed, covariates, _, _ = _candidate_file(small_sim, split.test, tmp_path)
    bim = bed.with_suffix(".bim")
    lines = bim.read_text().splitlines()
    fields = lines[0].split("\t")
    fields[4], fields[5] = "C", "T"
    bim.write_text("\n".join(["\t".join(fields), *lines[1:]]) + "\n")
    with pytest.raises(CnngwpInputError, match=rf"1 SNP\(s\) have other alleles than the model's: {fields[1]} "
                                               r"\(C/T in the file"):
        model.predict(read_candidates(bed, covariates))
    pd.DataFrame({"id": small_sim.samples.index[split.test], "sex": 3}).to_csv(tmp_path / "odd.csv", index=False)
    _write = _candidate_file(small_sim, split.test, tmp_path / "again")
    with pytest.raises(CnngwpInputError, match=r"covariate 'sex': level '3' was not among the training animals'"):
        model.predict(read_candidates(_write[0], tmp_path / "odd.csv"))


def test_unphenotyped_animals_are_predicted_and_never_scored(small_sim, tmp_path):
    """Animals without a phenotype in generations 4 and 5 stay out of training, validation and the test metrics,
    and come back in candidates.csv; the saved model reproduces the run's predictions."""
    samples = small_sim.samples.copy()
    unknown = samples.index[np.r_[300:310, 420:430]]
    samples.loc[unknown, "y"] = np.nan
    data = small_sim.__class__(
        small_sim.genotypes, samples, small_sim.snps, trait="y", source="masked"
    )
    split = split_by_generation(data)
    assert (
        len(split.candidates) == 20
        and not np.isin(split.candidates, np.r_[split.train, split.test]).any()
    )
    with open_client(IN_PROCESS) as client:
        run = run_cnngwp(data, split, tmp_path, client, SMOKE_RUN, progress=False)
    predictions = pd.read_csv(tmp_path / "predictions.csv", dtype={"id": str})
    assert len(predictions) == 110 and not predictions["id"].isin(unknown).any()
    assert np.isfinite(predictions["observed"]).all()
    ensemble = run.comparison.set_index("model").loc["CNN ensemble", "mse"]
    assert ensemble == pytest.approx(
        np.mean((predictions["observed"] - predictions["prediction"]) ** 2)
    )
    candidates = pd.read_csv(tmp_path / "candidates.csv", dtype={"id": str})
    assert candidates["id"].tolist() == unknown.tolist()
    assert {"prediction", "lower_90", "upper_90", "GBLUP", "BLASSO", "rank"} <= set(
        candidates.columns
    )
    assert run.summary.n_candidates == 20 and run.summary.n_test == 110
    loaded = load_model(tmp_path / "model")
    test_rows = data.select_samples(split.test)
    np.testing.assert_allclose(
        loaded.predict(test_rows), predictions["prediction"], rtol=1e-6, atol=1e-6
    )


def test_fit_model_trains_on_every_phenotyped_animal(small_sim, tmp_path):
    samples = small_sim.samples.copy()
    samples.loc[small_sim.generations == 5, "y"] = (
        np.nan
    )  # the young generation: genotyped, not yet phenotyped
    data = small_sim.__class__(
        small_sim.genotypes, samples, small_sim.snps, trait="y", source="young"
    )
    with open_client(IN_PROCESS) as client:
        run = fit_model(data, tmp_path, client, SMOKE_RUN, progress=False, covariates=("sex",), categorical=("sex",))
    assert run.comparison is None
    assert (
        run.summary.n_train == 338
        and run.summary.n_test == 0
        and run.summary.n_candidates == 120
    )
    assert run.summary.covariates["names"] == ["sex[2]"]
    candidates = pd.read_csv(tmp_path / "candidates.csv")
    assert len(candidates) == 120
    truth = small_sim.samples["genetic_value"].to_numpy()[small_sim.generations == 5]
    assert np.corrcoef(candidates["GBLUP"], truth)[0, 1] > 0.3


def test_a_candidate_without_its_covariates_stops_the_run_before_any_training(small_sim, tmp_path):
    samples = small_sim.samples.copy()
    samples.loc[samples.index[440:], "y"] = np.nan
    samples.loc[samples.index[450], "sex"] = np.nan
    data = small_sim.__class__(
        small_sim.genotypes, samples, small_sim.snps, trait="y", source="gaps"
    )
    with (
        open_client(IN_PROCESS) as client,
        pytest.raises(
            CnngwpInputError,
            match=rf"gaps: sample '{samples.index[450]}', covariate 'sex': value is missing",
        ),
    ):
        fit_model(data, tmp_path, client, SMOKE_RUN, progress=False, covariates=("sex",), categorical=("sex",))
    assert not (tmp_path / "evaluations.csv").exists()
