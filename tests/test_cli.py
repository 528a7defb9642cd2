import filecmp
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cnngwp.cli import COMMANDS, main
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.readers import read_dataset, write_dataset


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


def test_fit_then_predict_candidates_from_another_file(tmp_path, capsys):
    """`cnngwp fit` on a data set whose youngest generation has no phenotype, then `cnngwp predict` on those animals
    from a PLINK file with swapped alleles and shuffled SNPs: the same predictions as the fit wrote for them."""
    assert main(["simulate", "--seed", "4", "--small", "--out", str(tmp_path / "sim")]) == 0
    data = read_dataset(tmp_path / "sim")
    young = data.samples["generation"] == 5
    data.samples.loc[young, "y"] = np.nan
    write_dataset(data, tmp_path / "masked")
    assert main(["fit", "--data", str(tmp_path / "masked"), "--out", str(tmp_path / "fit"), "--profile", "smoke",
                 "--replicates", "1", "--members", "2", "--scheduler", "in-process", "--no-progress",
                 "--covariates", "sex", "--categorical", "sex"]) == 0
    out = capsys.readouterr().out
    assert "trained on all 338 phenotyped animals" in out and "fixed effects: sex[2]" in out
    assert "120 animals without a phenotype predicted" in out
    candidates = data.select_samples(np.flatnonzero(young))
    snps = candidates.snps.copy()
    snps[["allele_1", "allele_2"]] = snps[["allele_2", "allele_1"]].to_numpy()
    order = np.random.default_rng(0).permutation(data.n_snps)
    flipped = np.where(candidates.genotypes >= 0, 2 - candidates.genotypes, -1).astype(np.int8)[:, order]
    write_dataset(GenotypeData(np.ascontiguousarray(flipped), candidates.samples,
                               snps.iloc[order].reset_index(drop=True), trait="y"), tmp_path / "young")
    young_files = ["--bed", str(tmp_path / "young" / "genotypes")]
    covariates = ["--covariates-csv", str(tmp_path / "young" / "phenotypes.csv")]
    gebv = tmp_path / "gebv.csv"
    assert main(["predict", "--model", str(tmp_path / "fit" / "model"), *young_files, *covariates,
                 "--out", str(gebv)]) == 0
    out = capsys.readouterr().out
    used = len(pd.read_csv(tmp_path / "fit" / "model" / "snps.csv"))  # the SNPs left after QC
    assert (f"{used} of {used} model SNPs matched by id ({used} with swapped alleles, codes flipped); 0 missing, "
            f"mean-imputed; {400 - used} extra SNPs ignored") in out
    got = pd.read_csv(gebv, dtype={"id": str})
    expected = pd.read_csv(tmp_path / "fit" / "candidates.csv", dtype={"id": str})
    pd.testing.assert_frame_equal(got, expected, rtol=1e-6)
    assert main(["predict", "--model", str(tmp_path / "fit"), *young_files, "--out", str(tmp_path / "none.csv")]) == 2
    assert "fit: not a model folder (no model.json)" in capsys.readouterr().err
    assert not (tmp_path / "none.csv").exists()
    model = ["predict", "--model", str(tmp_path / "fit" / "model"), *young_files, *covariates,
             "--out", str(tmp_path / "none.csv")]
    assert main([*model, "--level", "90"]) == 2
    assert "interval level must be between 0 and 1 (e.g. 0.9 for 90 %), got 90.0" in capsys.readouterr().err
    assert main([*model, "--max-missing", "5"]) == 2
    assert "largest share of missing SNPs must be between 0 and 1 (e.g. 0.05), got 5.0" in capsys.readouterr().err
    assert not (tmp_path / "none.csv").exists()
    _damaged_files_give_one_line_errors(tmp_path, model, capsys)


def _damaged_files_give_one_line_errors(tmp_path, predict, capsys):
    """A truncated .bed, a .fam or .bim whose count disagrees with the .bed, a corrupt or missing member network:
    exit 2 and one line naming the file, nothing written."""
    young = tmp_path / "young"
    for name, damage in {
        "truncated": lambda f: f["bed"].write_bytes(f["bed"].read_bytes()[:-500]),
        "fam": lambda f: f["fam"].write_text("".join(f["fam"].read_text().splitlines(True)[:-4])),
        "bim": lambda f: f["bim"].write_text(f["bim"].read_text() + "1\textra\t0\t9\tA\tG\n"),
    }.items():
        folder = tmp_path / f"damaged-{name}"
        shutil.copytree(young, folder)
        damage({ext: folder / f"genotypes.{ext}" for ext in ("bed", "bim", "fam")})
        assert main([*predict[:3], "--bed", str(folder / "genotypes"), "--out", str(tmp_path / "none.csv")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"damaged-{name}/genotypes.bed: not a PLINK 1 .bed for " in err and "expected" in err
    model = tmp_path / "fit" / "model"
    for name, damage in {
        "corrupt": lambda p: p.write_bytes(b"not a zip archive"),
        "missing": lambda p: p.unlink(),
    }.items():
        broken = tmp_path / f"model-{name}"
        shutil.copytree(model, broken)
        damage(broken / "members" / "member-01.keras")
        assert main(["predict", "--model", str(broken), *predict[3:5], "--out", str(tmp_path / "none.csv")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and f"model-{name}/members/member-01.keras: " in err
    for name, text in {"truncated-json": '{"format": 3, "members": [', "not-a-record": "[1, 2]"}.items():
        broken = tmp_path / f"model-{name}"
        shutil.copytree(model, broken)
        (broken / "model.json").write_text(text)
        assert main(["predict", "--model", str(broken), *predict[3:5], "--out", str(tmp_path / "none.csv")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and f"model-{name}/model.json: " in err
        assert "the model folder is damaged" in err
    assert not (tmp_path / "none.csv").exists()


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
