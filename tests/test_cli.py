import filecmp

import numpy as np

from cnngwp.cli import main
from cnngwp.io import read_dataset


def test_simulate_twice_gives_identical_files_and_summary_prints(tmp_path, capsys):
    assert main(["simulate", "--seed", "3", "--small", "--out", str(tmp_path / "a")]) == 0
    assert main(["simulate", "--seed", "3", "--small", "--out", str(tmp_path / "b")]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["genotypes.bed", "genotypes.bim", "genotypes.fam", "phenotypes.csv", "truth.csv"]
    for name in names:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False)
    data = read_dataset(tmp_path / "a")
    assert (data.samples["generation"] == 5).sum() == 120
    assert np.isin(data.truth["kind"], ["dominance", "over-dominance", "under-dominance"]).sum() == 3
    capsys.readouterr()
    assert main(["summary", "--data", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "generation_5" in out and "over-dominance" in out


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    assert main(["summary", "--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "cnngwp: error:" in err and "genotypes.bed: PLINK .bed file not found" in err


def test_baselines_command_scores_gblup_and_blasso(tmp_path, capsys):
    assert main(["simulate", "--seed", "2", "--small", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["baselines", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "338 training and 120 test animals" in out
    assert "GBLUP" in out and "BLASSO" in out and "mse" in out


def test_run_and_tune_name_bad_input(tmp_path, capsys):
    assert main(["run", "--bed", str(tmp_path / "none.bed"), "--phenotypes", str(tmp_path / "p.csv"),
                 "--runs", str(tmp_path / "runs")]) == 2
    assert "none.bed: PLINK .bed file not found" in capsys.readouterr().err
    assert main(["tune", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run")]) == 2
    assert "genotypes.bed: PLINK .bed file not found" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()
