"""Every command end to end as a user runs it: ``python -m cnngwp ...`` in a fresh interpreter on tiny data, the
files it writes checked. (``cnngwp run``, ``study --grid smoke`` and ``book`` run this way, from the installed wheel,
in the session fixtures of tests/conftest.py, whose runs the notebook, book and install tests read.)"""

import contextlib
import io
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from cnngwp.cli import main
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.readers import read_dataset, write_dataset
from cnngwp.runs.notebooks import NOTEBOOK_DIR
from tests.commands import FRAMEWORK_NOISE, assert_predicts_the_run, cnngwp, cnngwp_fails


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """`cnngwp simulate --small` once: the folder every command of this module reads."""
    root = tmp_path_factory.mktemp("end-to-end")
    out = cnngwp("simulate", "--seed", "4", "--small", "--out", "sim", cwd=root).stdout
    assert "wrote sim/ (458 samples x 400 SNPs)" in out
    return root


def test_fit_then_predict_candidates_from_another_file(simulated, tmp_path):
    """`cnngwp fit` on a data set whose youngest generation has no phenotype, then `cnngwp predict` on those animals
    from a PLINK file with swapped alleles and shuffled SNPs, each in a fresh process: the same predictions as the fit
    wrote for them (the saved networks load where nothing imported the package's Keras layers before)."""
    data = read_dataset(simulated / "sim")
    young = data.samples["generation"] == 5
    data.samples.loc[young, "y"] = np.nan
    write_dataset(data, tmp_path / "masked")
    out = cnngwp("fit", "--bed", "masked/genotypes.bed", "--phenotypes", "masked/phenotypes.csv", "--trait", "y",
                 "--out", "fit", "--profile", "smoke", "--replicates", "1", "--members", "2",
                 "--scheduler", "in-process", "--no-progress", "--covariates", "sex", "--categorical", "sex",
                 cwd=tmp_path).stdout
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
    code = "import cnngwp; print(len(cnngwp.load_model('fit/model').networks))"
    with ThreadPoolExecutor(2) as pool:  # two fresh processes at once: mostly single-threaded imports
        loading = pool.submit(subprocess.run, [sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                              text=True, check=True)
        out = cnngwp("predict", "--model", "fit/model", *young_files, *covariates, "--out", "gebv.csv",
                     cwd=tmp_path).stdout
        loaded = loading.result()
    used = len(pd.read_csv(tmp_path / "fit" / "model" / "snps.csv"))  # the SNPs left after QC
    assert (f"{used} of {used} model SNPs matched by id ({used} with swapped alleles, codes flipped); 0 missing, "
            f"mean-imputed; {400 - used} extra SNPs ignored") in out
    got = pd.read_csv(tmp_path / "gebv.csv", dtype={"id": str})
    expected = pd.read_csv(tmp_path / "fit" / "candidates.csv", dtype={"id": str})
    pd.testing.assert_frame_equal(got, expected, rtol=1e-6)
    assert loaded.stdout == "2\n" and not FRAMEWORK_NOISE.search(loaded.stderr), loaded.stderr  # Python, too
    err = cnngwp_fails("predict", "--model", "fit", *young_files, "--out", "none.csv", cwd=tmp_path)
    assert "fit: not a model folder (no model.json)" in err
    assert not (tmp_path / "none.csv").exists()
    _bad_options_and_damaged_files_give_one_line_errors(tmp_path, young_files + covariates)


def _bad_options_and_damaged_files_give_one_line_errors(tmp_path, candidates):
    """Bad options, a truncated .bed, a .fam or .bim whose count disagrees with the .bed, a corrupt or missing member
    network, a damaged model.json: exit 2 and one line naming the file, nothing written. In this process, to keep
    the test fast: the fresh-process path is the one above."""
    model = ["predict", "--model", str(tmp_path / "fit" / "model"), *candidates, "--out", str(tmp_path / "none.csv")]
    for options, message in (
        (["--level", "90"], "interval level must be between 0 and 1 (e.g. 0.9 for 90 %), got 90.0"),
        (["--max-missing", "5"], "largest share of missing SNPs must be between 0 and 1 (e.g. 0.05), got 5.0"),
    ):
        assert _one_line_error([*model, *options]).endswith(f"{message}\n")
    young = tmp_path / "young"
    for name, damage in {
        "truncated": lambda f: f["bed"].write_bytes(f["bed"].read_bytes()[:-500]),
        "fam": lambda f: f["fam"].write_text("".join(f["fam"].read_text().splitlines(True)[:-4])),
        "bim": lambda f: f["bim"].write_text(f["bim"].read_text() + "1\textra\t0\t9\tA\tG\n"),
    }.items():
        folder = tmp_path / f"damaged-{name}"
        shutil.copytree(young, folder)
        damage({ext: folder / f"genotypes.{ext}" for ext in ("bed", "bim", "fam")})
        err = _one_line_error([*model[:3], "--bed", str(folder / "genotypes"), "--out", str(tmp_path / "none.csv")])
        assert f"damaged-{name}/genotypes.bed: not a PLINK 1 .bed for " in err and "expected" in err
    for name, damage in {
        "corrupt": lambda p: p.write_bytes(b"not a zip archive"),
        "missing": lambda p: p.unlink(),
    }.items():
        broken = tmp_path / f"model-{name}"
        shutil.copytree(tmp_path / "fit" / "model", broken)
        damage(broken / "members" / "member-01.keras")
        assert f"model-{name}/members/member-01.keras: " in _one_line_error(["predict", "--model", str(broken),
                                                                              *model[3:]])
    for name, text in {"truncated-json": '{"format": 3, "members": [', "not-a-record": "[1, 2]"}.items():
        broken = tmp_path / f"model-{name}"
        shutil.copytree(tmp_path / "fit" / "model", broken)
        (broken / "model.json").write_text(text)
        err = _one_line_error(["predict", "--model", str(broken), *model[3:]])
        assert f"model-{name}/model.json: " in err and "the model folder is damaged" in err
    assert not (tmp_path / "none.csv").exists()


def _one_line_error(argv: list[str]) -> str:
    """`main(argv)` exits 2 with one line on standard error, no traceback; that line."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(argv) == 2
    text = err.getvalue()
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


def test_summary_baselines_tune_and_predict_from_the_run_folder(simulated, tmp_path):
    """summary and baselines, beside tune, in fresh processes; `cnngwp predict` from the tune run's model/ gives the
    predictions the run wrote for its test animals."""
    with ThreadPoolExecutor(2) as pool:  # tune in one process, the short commands after each other in another
        tuning = pool.submit(cnngwp, "tune", "--data", simulated / "sim", "--profile", "smoke", "--replicates", "1",
                             "--members", "2", "--out", "run", "--scheduler", "in-process", "--no-progress",
                             cwd=tmp_path)
        out = cnngwp("summary", "--data", simulated / "sim", cwd=tmp_path).stdout
        assert re.search(r"^samples\s+458$", out, flags=re.MULTILINE)
        assert re.search(r"^snps\s+400$", out, flags=re.MULTILINE)
        out = cnngwp("baselines", "--data", simulated / "sim", cwd=tmp_path).stdout
        assert "338 training and 120 test animals" in out
        rows = {line.split()[0] for line in out.splitlines() if "generation-5" in line}
        assert rows == {"GBLUP", "GDBLUP", "EGBLUP", "RKHS", "BLASSO"}
        out = tuning.result().stdout
    assert "338 training, 120 test animals" in out and "model saved to run/model" in out
    comparison = pd.read_csv(tmp_path / "run" / "comparison.csv")
    assert {"GBLUP", "CNN ensemble", "GDBLUP + CNN", "Stack"} <= set(comparison["model"])
    assert comparison.set_index("model").loc["CNN ensemble", "members"] == 2
    assert np.isfinite(comparison["mse"]).all()
    cnngwp("predict", "--model", "run/model", "--bed", simulated / "sim" / "genotypes.bed", "--out", "all.csv",
           cwd=tmp_path)
    assert_predicts_the_run(tmp_path / "all.csv", tmp_path / "run")


@pytest.mark.parametrize("value", ["1e300", "inf"])
def test_a_trait_column_with_huge_or_infinite_values_is_refused_before_anything_is_written(simulated, tmp_path,
                                                                                           value):
    table = pd.read_csv(simulated / "sim" / "phenotypes.csv").astype({"y": object})
    table.loc[6, "y"] = value
    table.to_csv(tmp_path / "bad.csv", index=False)
    err = cnngwp_fails("run", "--bed", simulated / "sim" / "genotypes.bed", "--phenotypes", "bad.csv",
                       "--trait", "y", "--profile", "smoke", cwd=tmp_path)
    assert err.startswith("cnngwp: error: bad.csv: sample '7', column 'y': value ")
    assert "is not a finite number of usable size" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_chapters_copies_every_chapter_source(tmp_path):
    out = cnngwp("chapters", "--out", "chapters", cwd=tmp_path).stdout
    assert "wrote the chapters' MyST sources to chapters/" in out
    sources = sorted(NOTEBOOK_DIR.glob("*.md"))
    assert len(sources) >= 9
    for source in sources:
        assert (tmp_path / "chapters" / source.name).read_text() == source.read_text()
