import filecmp
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cnngwp.cli import COMMANDS, main
from cnngwp.data.readers import read_dataset


def test_the_overview_lists_every_command_without_loading_the_models():
    code = ("import sys\nfrom cnngwp.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            "    print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'sklearn', 'dask', 'msprime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.endswith("[]\n") and all(f"    {name}" in out for name in COMMANDS)


def test_every_command_has_its_options_and_an_unknown_one_is_named(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0 and f"usage: cnngwp {name}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["simulat"])
    assert exit_.value.code == 2 and "invalid choice: 'simulat'" in capsys.readouterr().err


def test_simulate_twice_gives_identical_files_and_summary_prints(tmp_path, capsys):
    assert main(["simulate", "--seed", "3", "--small", "--out", str(tmp_path / "a")]) == 0
    assert main(["simulate", "--seed", "3", "--small", "--out", str(tmp_path / "b")]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["genotypes.bed", "genotypes.bim", "genotypes.fam", "phenotypes.csv", "summary.json", "truth.csv"]
    for name in names:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False)
    data = read_dataset(tmp_path / "a")
    assert (data.samples["generation"] == 5).sum() == 120
    assert np.isin(data.truth["kind"], ["dominance", "over-dominance", "under-dominance"]).sum() == 3
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["architecture"] == "qtlmas2010" and summary["h2_target"] is None
    assert set(summary["realised_in_training_generations"]) == {"additive", "dominance", "epistatic", "residual", "h2"}
    assert "realised in the training generations: additive" in capsys.readouterr().out
    assert main(["simulate", "--seed", "3", "--small", "--architecture", "additive", "--h2", "0.3",
                 "--out", str(tmp_path / "c")]) == 0
    realised = json.loads((tmp_path / "c" / "summary.json").read_text())["realised_in_training_generations"]
    assert realised["dominance"] < 1e-9 and abs(realised["h2"] - 0.3) < 0.1  # 458 animals: sampling noise
    capsys.readouterr()
    assert main(["summary", "--data", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "generation_5" in out and "over-dominance" in out


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    assert main(["summary", "--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "cnngwp: error:" in err and "genotypes.bed: PLINK .bed file not found" in err
    assert main(["simulate", "--seed", "3", "--small", "--out", str(tmp_path / "constant")]) == 0
    phenotypes = pd.read_csv(tmp_path / "constant" / "phenotypes.csv")
    phenotypes["y"] = 7.5
    phenotypes.to_csv(tmp_path / "constant" / "phenotypes.csv", index=False)
    capsys.readouterr()
    for command in (["baselines"], ["fit", "--profile", "smoke", "--out", str(tmp_path / "runs")]):
        assert main([*command, "--data", str(tmp_path / "constant")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "trait column 'y' has the same value (7.5) for all 458 phenotyped animals; expected a trait" in err
    assert not (tmp_path / "runs").exists()


def test_run_and_tune_name_bad_input(tmp_path, capsys):
    assert main(["run", "--bed", str(tmp_path / "none.bed"), "--phenotypes", str(tmp_path / "p.csv"),
                 "--runs", str(tmp_path / "runs")]) == 2
    assert "none.bed: PLINK .bed file not found" in capsys.readouterr().err
    assert main(["tune", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run")]) == 2
    assert "genotypes.bed: PLINK .bed file not found" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_tune_space_wide_searches_lambda_on_a_log_scale(tmp_path, capsys):
    """--space goes through search_space only: 'wide' keeps its log-uniform lambda (the tuning folder records it and
    every lambda tried lies in its bounds), and own bounds replace some of the paper's."""
    assert main(["simulate", "--seed", "3", "--small", "--out", str(tmp_path / "sim")]) == 0
    common = [
        "tune",
        "--data",
        str(tmp_path / "sim"),
        "--profile",
        "smoke",
        "--replicates",
        "1",
        "--members",
        "1",
        "--scheduler",
        "in-process",
        "--no-progress",
    ]
    assert main([*common, "--space", "wide", "--out", str(tmp_path / "wide")]) == 0
    space = json.loads((tmp_path / "wide" / "tuning.json").read_text())["space"]
    assert space == {"filters": [20, 100], "kernel_size": [10, 50], "l1": [0.1, 10.0], "l1_prior": "log-uniform"}
    l1 = pd.read_csv(tmp_path / "wide" / "evaluations.csv")["l1"]
    assert ((l1 >= 0.1) & (l1 <= 10.0)).all()
    assert main([*common, "--space", "filters=4:8,l1=0.5:5", "--out", str(tmp_path / "own")]) == 0
    space = json.loads((tmp_path / "own" / "tuning.json").read_text())["space"]
    assert space == {"filters": [4, 8], "kernel_size": [10, 50], "l1": [0.5, 5.0], "l1_prior": "uniform"}
    assert main([*common, "--space", "l1=5:1", "--out", str(tmp_path / "bad")]) == 2
    assert "search space l1: expected 0 < low < high, got (5.0, 1.0)" in capsys.readouterr().err
