"""The backbone model and the stack through a whole run: nothing reads the test rows, the saved model predicts as the
run did, the cross-fitted kernel never sees a row's own phenotype."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cnngwp.data.splits import split_by_generation
from cnngwp.errors import CnngwpInputError
from cnngwp.models.backbone import KernelBackboneCNN, out_of_fold_predictions
from cnngwp.models.baselines import GBLUP, GDBLUP
from cnngwp.models.cnn.estimator import CNNGWPRegressor, fit_for_epochs
from cnngwp.models.l1_grid import L1GridCNN
from cnngwp.models.names import BEST_SINGLE_CNN, CNN_ENSEMBLE, STACK
from cnngwp.models.saved_model import load_model
from cnngwp.models.stack import STACK_FOLDS
from cnngwp.reports.tables import read_comparison
from cnngwp.runs.parallel import IN_PROCESS, open_client
from cnngwp.runs.workflow import finish_run, run_cnngwp
from cnngwp.tuning.combined import cross_fitted_part, held_out_parts
from cnngwp.tuning.problem import TuningProblem, cnn_estimator
from cnngwp.tuning.search import Gamma
from cnngwp.tuning.settings import PROFILES, SEARCH_SPACES, RunSettings

SMOKE_RUN = RunSettings(SEARCH_SPACES["qtlmas2010"], PROFILES["smoke"], replicates=1, n_members=2)


def _fitted_state(run) -> dict:
    """Everything the new models fitted: stack weights, every epoch, variance components, out-of-fold predictions."""
    return {"stack": run.stack.weights, "epochs": [m.best_epoch for m in run.ensemble.members],
            "backbone_epochs": [m.best_epoch for m in run.backbone.members],
            "backbone_validation": np.concatenate([m.validation_predictions for m in run.backbone.members]),
            "variances": {name: model.variance_components() for name, model in run.baselines.models.items()
                          if name != "BLASSO"}}


@pytest.fixture(scope="module")
def two_runs(small_sim, tmp_path_factory):
    """The same run twice, the second with every test phenotype changed."""
    split = split_by_generation(small_sim)
    samples = small_sim.samples.copy()
    samples.iloc[split.test, samples.columns.get_loc(small_sim.trait)] += np.linspace(-30, 50, len(split.test))
    changed = replace(small_sim, samples=samples)
    folders = [tmp_path_factory.mktemp("run"), tmp_path_factory.mktemp("changed")]
    with open_client(IN_PROCESS) as client:
        runs = [run_cnngwp(data, split, folder, client, SMOKE_RUN, progress=False)
                for folder, data in zip(folders, (small_sim, changed), strict=True)]
    return split, runs, folders[0]


def test_changing_the_test_phenotypes_changes_nothing_the_new_models_fitted(two_runs):
    _, (run, changed), _ = two_runs
    first, second = _fitted_state(run), _fitted_state(changed)
    assert first["stack"] == second["stack"] and first["epochs"] == second["epochs"]
    assert first["backbone_epochs"] == second["backbone_epochs"] and first["variances"] == second["variances"]
    np.testing.assert_array_equal(first["backbone_validation"], second["backbone_validation"])
    np.testing.assert_array_equal(run.test_predictions().to_numpy(), changed.test_predictions().to_numpy())
    scores = [r.comparison.set_index("model").loc[STACK, "mse"] for r in (run, changed)]
    assert scores[0] != scores[1]  # the test rows are scored: the score moves, nothing fitted does


def test_the_run_reports_the_stack_weights_and_its_saved_model_predicts_as_the_run(two_runs, small_sim):
    split, (run, _), folder = two_runs
    weights = run.comparison.set_index("model")["stack_weight"]
    assert weights.drop([BEST_SINGLE_CNN, STACK]).sum() == pytest.approx(1.0)
    assert weights.drop([BEST_SINGLE_CNN, STACK]).min() >= 0
    assert run.stack.rule == "the youngest training generation (4)"
    loaded = load_model(folder / "model")
    models = loaded.predict_models(small_sim.select_samples(split.test))
    expected = run.test_predictions()
    assert sorted(models.columns) == sorted(expected.columns)
    for name in expected.columns:
        np.testing.assert_allclose(models[name], expected[name], rtol=1e-5, atol=1e-4)
    predictions = pd.read_csv(folder / "predictions.csv")
    np.testing.assert_allclose(predictions[STACK], expected[STACK])


def test_a_comparison_from_before_the_members_column_is_refused_and_finish_run_rewrites_it(two_runs, small_sim):
    split, _, folder = two_runs
    written = read_comparison(folder)
    assert written.set_index("model").loc[[BEST_SINGLE_CNN, CNN_ENSEMBLE, "GDBLUP + CNN"], "members"].tolist() == [
        1, 2, 2]
    assert written.set_index("model")["members"].drop([BEST_SINGLE_CNN, CNN_ENSEMBLE, "GDBLUP + CNN"]).isna().all()
    old = written.drop(columns="members").replace({"model": {CNN_ENSEMBLE: "CNN ensemble (S=2)"}})
    old.to_csv(folder / "comparison.csv", index=False)
    with pytest.raises(CnngwpInputError, match=r"comparison\.csv: no 'members' column .* run the same"):
        read_comparison(folder)
    finish_run(small_sim, split, folder, SMOKE_RUN, scheduler=IN_PROCESS)  # the fits are read back, not redone
    pd.testing.assert_frame_equal(read_comparison(folder).drop(columns="seconds"), written.drop(columns="seconds"))


@pytest.fixture(scope="module")
def runs_without_generations(small_sim, tmp_path_factory):
    """The smoke run on data without generations (a random split), twice, the second with the test phenotypes
    changed."""
    data = replace(small_sim, samples=small_sim.samples.drop(columns="generation"))
    split = split_by_generation(small_sim)
    samples = data.samples.copy()
    samples.iloc[split.test, samples.columns.get_loc(data.trait)] -= np.linspace(-40, 20, len(split.test))
    with open_client(IN_PROCESS) as client:
        runs = [run_cnngwp(d, split, tmp_path_factory.mktemp("no-generations"), client, SMOKE_RUN, progress=False)
                for d in (data, replace(data, samples=samples))]
    return TuningProblem.from_split(data, split, seed=SMOKE_RUN.seed), runs


def test_without_generations_the_stack_is_fitted_on_an_inner_cross_fit_that_never_reads_the_test_rows(
        runs_without_generations):
    problem, (run, changed) = runs_without_generations
    assert not problem.by_generation
    assert run.stack.rule.startswith(f"an inner {STACK_FOLDS}-fold cross-fit of the training rows outside")
    assert run.stack.rows == len(problem.fit_rows)  # every training row outside the validation rows, once
    assert run.stack.weights == changed.stack.weights
    assert _fitted_state(run)["epochs"] == _fitted_state(changed)["epochs"]
    np.testing.assert_array_equal(run.test_predictions().to_numpy(), changed.test_predictions().to_numpy())


def test_a_cross_fitted_cnn_never_reads_the_phenotypes_of_the_rows_it_predicts(small_sim):
    data = replace(small_sim, samples=small_sim.samples.drop(columns="generation"))
    problem = TuningProblem.from_split(data, split_by_generation(small_sim), seed=3)
    parts = held_out_parts(problem, seed=3)
    assert len(parts) == STACK_FOLDS and not set(np.concatenate(parts)) & set(problem.validation)
    assert sorted(np.concatenate(parts)) == list(problem.fit_rows)
    part, training, gamma = parts[1], PROFILES["smoke"].training, Gamma(4, 5, 0.5)
    changed = replace(problem, y_train=problem.y_train.copy())
    changed.y_train[part] += 100.0
    for backbone in (None, KernelBackboneCNN(seed=3)):
        before, after = (cross_fitted_part(p, gamma, training, part, seeds=[5, 6], epochs=[3, 2], backbone=backbone)
                         for p in (problem, changed))
        np.testing.assert_array_equal(before, after)
        assert before.shape == (len(part),) and np.isfinite(before).all()


def test_a_run_and_the_estimators_hold_out_the_same_predictions(small_sim):
    """A run's cross-fitted part (its Dask task) and the estimators' held_out_prediction (the study's stack) are the
    same networks and kernels, to the bit."""
    data = replace(small_sim, samples=small_sim.samples.drop(columns="generation"))
    problem = TuningProblem.from_split(data, split_by_generation(small_sim), seed=3)
    part, training, gamma = held_out_parts(problem, seed=3)[1], PROFILES["smoke"].training, Gamma(4, 5, 0.5)
    X, y, validation = problem.X_train, problem.y_train, problem.validation
    cnn = cnn_estimator(gamma, training, seed=3, n_members=2, refit=True)
    kernel_part = GDBLUP().fit(np.delete(X, part, 0), np.delete(y, part)).predict(X[part])
    for backbone in (None, KernelBackboneCNN(seed=3)):
        model = (cnn if backbone is None else clone(backbone).set_params(cnn=cnn)).fit(X, y, validation_rows=validation)
        networks = model if backbone is None else model.cnn_
        run = cross_fitted_part(problem, gamma, training, part, seeds=networks.member_seeds_,
                                epochs=networks.best_epochs_, backbone=backbone)
        expected = run if backbone is None else KernelBackboneCNN.combine(kernel_part, run)
        np.testing.assert_array_equal(model.held_out_prediction(X, y, part), expected)


def test_fitting_for_given_epochs_retrains_exactly_what_the_refit_trained(small_sim):
    X, y = small_sim.genotypes, small_sim.y
    model = CNNGWPRegressor(filters=4, kernel_size=5, epochs=6, patience=None, refit=True, n_members=2, seed=4,
                            encoding="genotypic").fit(X, y, generations=small_sim.generations)
    again = fit_for_epochs(clone(model), X, y, seeds=model.member_seeds_, epochs=model.best_epochs_)
    np.testing.assert_array_equal(again.predict_members(X), model.predict_members(X))
    with pytest.raises(ValueError, match="one number of epochs per seed"):
        fit_for_epochs(clone(model), X, y, seeds=[1, 2], epochs=[3])


def test_a_rows_out_of_fold_prediction_never_reads_its_own_phenotype(small_sim):
    X, y = small_sim.genotypes, small_sim.y.copy()
    before = out_of_fold_predictions(GBLUP(), X, y, n_folds=4, seed=2)
    y[7] += 1000.0
    after = out_of_fold_predictions(GBLUP(), X, y, n_folds=4, seed=2)
    assert after[7] == pytest.approx(before[7], rel=1e-12)
    assert np.abs(after - before).max() > 1  # the other folds' fits did read it
    with pytest.raises(ValueError, match="n_folds"):
        out_of_fold_predictions(GBLUP(), X, y, n_folds=1)


def test_the_backbone_estimator_predicts_its_kernel_plus_its_cnn(small_sim):
    split = split_by_generation(small_sim)
    X, y, generations = small_sim.genotypes[split.train], small_sim.y[split.train], small_sim.generations[split.train]
    cnn = CNNGWPRegressor(filters=4, kernel_size=5, l1=0.3, learning_rate=2e-3, epochs=4, patience=None, refit=True)
    model = KernelBackboneCNN(kernel=GBLUP(), cnn=cnn, n_folds=3, seed=1).fit(X, y, generations=generations)
    np.testing.assert_allclose(model.kernel_oof_, out_of_fold_predictions(GBLUP(), X, y, n_folds=3, seed=1))
    X_test = small_sim.genotypes[split.test]
    np.testing.assert_allclose(model.predict(X_test), GBLUP().fit(X, y).predict(X_test) + model.cnn_.predict(X_test))
    assert model.cnn_.refitted_ and model.cnn_.y_mean_ == pytest.approx((y - model.kernel_oof_).mean())
    validation = np.flatnonzero(generations == generations.max())
    np.testing.assert_array_equal(model.held_out_prediction(X, y, validation), model.kernel_oof_[validation]
                                  + model.cnn_.validation_predictions_.mean(axis=0))


def test_the_l1_grid_keeps_the_lambda_whose_network_validates_best_and_grows_it_into_the_ensemble(small_sim):
    X, y, generations = small_sim.genotypes, small_sim.y, small_sim.generations
    cnn = CNNGWPRegressor(filters=4, kernel_size=5, learning_rate=2e-3, epochs=5, patience=None, refit=True,
                          n_members=2, seed=2)
    grid = L1GridCNN(cnn=cnn, l1_grid=(0.05, 5.0)).fit(X, y, generations=generations)
    singles = {v: clone(cnn).set_params(l1=v, n_members=1, refit=False).fit(X, y, generations=generations)
               for v in (0.05, 5.0)}
    scores = {v: float(m.history_[0]["validation_mse"].min()) for v, m in singles.items()}
    assert grid.validation_mse_ == scores and grid.l1_ == min(scores, key=scores.get)
    direct = clone(cnn).set_params(l1=grid.l1_).fit(X, y, generations=generations)  # one after another on CPUs
    np.testing.assert_array_equal(grid.predict(X), direct.predict(X))
    assert grid.best_epochs_ == direct.best_epochs_ and grid.cnn_.refitted_ and not grid.cnn_.warm_start


def test_the_backbone_beats_its_kernel_and_its_cnn_alone_on_a_polygenic_trait_with_large_dominant_loci():
    """A polygenic additive background (every SNP) that the kernel captures and the CNN cannot, plus three large
    dominant loci that the genotypic CNN captures and GDBLUP's dominance relationship spreads thin."""
    rng = np.random.default_rng(5)
    X = rng.binomial(2, 0.4, (900, 300)).astype(np.int8)
    genetic = (X - X.mean(axis=0)) @ rng.normal(0, 0.25, 300)
    for locus in (60, 150, 240):
        genetic += np.array([0.0, 5.0, 5.0])[X[:, locus]]
    y = 20 + genetic + rng.normal(0, np.sqrt(0.5 * genetic.var()), 900)
    train, test = slice(0, 650), slice(650, None)
    cnn = CNNGWPRegressor(filters=8, kernel_size=5, l1=0.5, learning_rate=5e-3, batch_size=32, epochs=80, patience=15,
                          refit=True, n_members=2, encoding="genotypic", seed=1)
    backbone = KernelBackboneCNN(cnn=cnn, seed=1).fit(X[train], y[train])  # GDBLUP under the genotypic CNN
    mse = {name: float(np.mean((model.predict(X[test]) - y[test]) ** 2)) for name, model in
           (("backbone", backbone), ("kernel", GDBLUP().fit(X[train], y[train])),
            ("cnn", clone(cnn).fit(X[train], y[train])))}
    assert mse["backbone"] < 0.97 * mse["kernel"] and mse["backbone"] < 0.8 * mse["cnn"], mse
