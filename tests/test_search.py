import json
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cnngwp.atomic import tie_to_settings
from cnngwp.data.genotypes import quality_control
from cnngwp.data.readers import write_dataset
from cnngwp.data.splits import split_by_generation
from cnngwp.errors import CnngwpInputError
from cnngwp.runs.parallel import IN_PROCESS, open_client
from cnngwp.runs.workflow import run_cnngwp
from cnngwp.tuning.evaluation_log import EvaluationLog
from cnngwp.tuning.problem import TuningProblem, fit_cnn
from cnngwp.tuning.search import gamma_ma, tune
from cnngwp.tuning.settings import PROFILES, SEARCH_SPACES, RunSettings, SearchSpace, search_space

SMOKE = PROFILES["smoke"]
SPACE = SEARCH_SPACES["qtlmas2010"]


@pytest.fixture(scope="module")
def problem(small_sim):
    data = quality_control(small_sim)[0]
    return TuningProblem.from_split(data, split_by_generation(data))


def test_gamma_ma_averages_and_rounds_integers_half_up():
    best = pd.DataFrame({"filters": [20, 41], "kernel_size": [10, 13], "l1": [0.2, 0.5]})
    gamma = gamma_ma(best)
    assert (gamma.filters, gamma.kernel_size) == (31, 12) and gamma.l1 == pytest.approx(0.35)


def test_search_space_rejects_reversed_bounds():
    with pytest.raises(CnngwpInputError, match="filters"):
        SearchSpace((50, 20), (10, 50), (0.1, 1.0))


def test_log_drops_a_line_cut_by_a_crash_and_refuses_a_foreign_file(tmp_path):
    columns = ["replicate", "iteration", "validation_mse"]
    log = EvaluationLog(tmp_path / "e.csv", columns)
    log.append({"replicate": 0, "iteration": 0, "validation_mse": 1 / 3})
    with open(tmp_path / "e.csv", "a") as handle:
        handle.write("0,1,0.12")  # killed mid-line
    reopened = EvaluationLog(tmp_path / "e.csv", columns)
    assert reopened.repaired_lines == 1
    assert reopened.read()["validation_mse"].tolist() == [1 / 3]  # exact round trip
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CnngwpInputError, match="other.csv: expected the header"):
        EvaluationLog(tmp_path / "other.csv", columns)
    log.append({"replicate": 0, "iteration": 0, "validation_mse": 0.5})
    with pytest.raises(CnngwpInputError, match="replicate 0 iteration 0 appears more than once"):
        EvaluationLog(tmp_path / "e.csv", columns)


def test_run_folder_refuses_other_settings(tmp_path):
    tie_to_settings(tmp_path / "run.json", {"protocol": "honest", "seed": 1})
    tie_to_settings(tmp_path / "run.json", {"protocol": "honest", "seed": 1})
    with pytest.raises(CnngwpInputError, match="run.json: this run folder was started with protocol='honest'"):
        tie_to_settings(tmp_path / "run.json", {"protocol": "paper", "seed": 1})


def test_sigkilled_tuning_resumes_without_repeating_an_evaluation(small_sim, tmp_path):
    write_dataset(small_sim, tmp_path / "data")
    command = [sys.executable, "-m", "cnngwp", "tune", "--data", str(tmp_path / "data"), "--out",
               str(tmp_path / "run"), "--profile", "smoke", "--scheduler", IN_PROCESS, "--no-progress"]
    log = tmp_path / "run" / "evaluations.csv"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 4):
        assert process.poll() is None, "the tuning run ended before it could be killed"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = log.read_text().splitlines()[1:]
    assert 3 <= len(before) < SMOKE.n_points * SMOKE.replicates
    with open(log, "a") as handle:
        handle.write("1,4,99,1")  # and a line cut in half, as a crash mid-write leaves it
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr
    after = log.read_text().splitlines()[1:]
    assert after[:len(before)] == before  # finished evaluations kept as they were, not run again
    evaluations = pd.read_csv(log)
    assert evaluations.groupby("replicate")["iteration"].apply(sorted).tolist() == [list(range(SMOKE.n_points))] * 2
    assert not evaluations.duplicated(["replicate", "iteration"]).any()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert len(summary["members"]) == SMOKE.n_members and "gamma_ma" in summary


def test_local_cluster_gives_the_in_process_gamma(problem, tmp_path):
    results = {}
    for name, scheduler, workers in (("cluster", None, 2), ("in-process", IN_PROCESS, None)):
        with open_client(scheduler, n_workers=workers) as client:
            assert len(client.scheduler_info()["workers"]) == (workers or 1)
            results[name] = tune(problem, client, tmp_path / name, RunSettings(SPACE, SMOKE, seed=3), progress=False)
    cluster, local = results["cluster"], results["in-process"]
    assert len(cluster.evaluations) == SMOKE.replicates * SMOKE.n_points
    assert (cluster.gamma.filters, cluster.gamma.kernel_size) == (local.gamma.filters, local.gamma.kernel_size)
    # TensorFlow's sums differ in the last bits between 1-thread workers and this process.
    assert cluster.gamma.l1 == pytest.approx(local.gamma.l1, rel=1e-6)
    np.testing.assert_allclose(cluster.evaluations["validation_mse"], local.evaluations["validation_mse"], rtol=1e-5)


def test_the_paper_protocols_bo_reads_the_test_rows_and_the_honest_one_never_does(problem, tmp_path):
    """Move the test phenotypes: every honest evaluation (gamma, epochs, validation MSE) stays, the paper's move."""
    moved = replace(problem, y_test=problem.y_test + np.linspace(-30, 50, len(problem.y_test)))
    choices = ["filters", "kernel_size", "l1", "validation_mse", "best_epoch", "epochs_trained"]
    with open_client(IN_PROCESS) as client:
        for protocol in ("honest", "paper"):
            settings = RunSettings(SPACE, SMOKE, protocol, replicates=1, seed=3)
            runs = [tune(p, client, tmp_path / f"{protocol}-{i}", settings, progress=False).evaluations[choices]
                    for i, p in enumerate((problem, moved))]
            if protocol == "honest":
                pd.testing.assert_frame_equal(runs[0], runs[1])
            else:
                assert (runs[0]["validation_mse"] != runs[1]["validation_mse"]).all()


def test_paper_protocol_logs_test_mse_and_says_it_is_optimistic(small_sim, tmp_path):
    data = quality_control(small_sim)[0]
    split = split_by_generation(data)
    with open_client(IN_PROCESS) as client:
        paper = RunSettings(SPACE, SMOKE, "paper", replicates=1, n_members=3)
        run = run_cnngwp(data, split, tmp_path, client, paper, progress=False)
        members_written = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "members").glob("*.npz")}
        again = run_cnngwp(data, split, tmp_path, client, paper, progress=False)
    evaluations = run.tuning.evaluations
    assert (evaluations["test_mse"] == evaluations["validation_mse"]).all()
    cnn_rows = run.comparison["model"].str.contains("CNN")  # the backbone's CNN validates on the test rows too
    assert set(run.comparison.loc[cnn_rows, "note"]) == {"optimistic: tuned on the test set"}
    assert set(run.comparison.loc[~cnn_rows, "note"]) == {""}  # the baselines never see the test set
    assert "Stack" not in set(run.comparison["model"])
    assert run.summary.no_stack.startswith("no stack: under the paper")
    assert run.summary.note == "optimistic: tuned on the test set"
    assert run.summary.refit is False  # the paper protocol has no validation rows to add back
    # the paper's objective is the minimum test MSE over epochs: the chosen member's test MSE equals its objective
    best = run.ensemble.best_member()
    assert np.mean((best.test_predictions - data.y[split.test]) ** 2) == pytest.approx(best.validation_mse, rel=1e-4)
    # resuming repeats nothing
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "members").glob("*.npz")} == members_written
    assert again.comparison.equals(run.comparison.assign(seconds=again.comparison["seconds"]))
    predictions = run.ensemble.member_predictions
    assert predictions.shape == (3, len(split.test)) and not np.allclose(predictions[0], predictions[1])
    assert len(run.ensemble.weight_map(data.n_snps)) > data.n_snps


def test_search_space_by_name_or_own_bounds():
    assert search_space("qtlmas2010") == SPACE
    assert search_space("wide").l1 == (0.1, 10.0) and search_space("wide").l1_prior == "log-uniform"
    own = search_space("filters=8:64, l1=0.05:0.5")
    assert (own.filters, own.kernel_size, own.l1) == ((8, 64), SPACE.kernel_size, (0.05, 0.5))
    with pytest.raises(CnngwpInputError, match="part 'width=1:2'"):
        search_space("width=1:2")
    with pytest.raises(CnngwpInputError, match="part 'l1=0.5'"):
        search_space("l1=0.5")


def test_honest_run_records_refit_and_profile_and_refits_its_members(small_sim, tmp_path):
    data = quality_control(small_sim)[0]
    split = split_by_generation(data)
    with open_client(IN_PROCESS) as client:
        run = run_cnngwp(data, split, tmp_path, client, RunSettings(SPACE, SMOKE, replicates=1, n_members=2),
                         progress=False)
    settings = json.loads((tmp_path / "run.json").read_text())
    assert settings["profile"]["name"] == "smoke" and settings["profile"]["training"]["refit"] is True
    assert json.loads((tmp_path / "members" / "ensemble.json").read_text())["training"]["refit"] is True
    assert run.summary.profile == "smoke" and run.summary.refit is True
    # a member's test predictions come from the refitted network: every training row, its best epoch count
    problem = TuningProblem.from_split(data, split, seed=1)
    member = run.ensemble.members[0]
    gamma = run.ensemble.gamma
    estimator_seed = member.seed // 1000  # on CPUs each member is its own chunk: position 0 of its estimator
    refitted = fit_cnn(problem, gamma, SMOKE.training, "honest", estimator_seed, refit=True)
    assert refitted.refitted_ and refitted.best_epochs_[0] == member.best_epoch <= SMOKE.training.epochs
    np.testing.assert_allclose(refitted.predict(problem.X_test), member.test_predictions, rtol=1e-6)
    first_fit = fit_cnn(problem, gamma, SMOKE.training, "honest", estimator_seed)
    assert not first_fit.refitted_
    assert not np.allclose(first_fit.predict(problem.X_test), member.test_predictions)
