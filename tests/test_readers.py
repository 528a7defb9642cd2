import filecmp
import os
import stat
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from bed_reader import open_bed

import cnngwp.data.readers as cio
from cnngwp.data.genotypes import summarise_dataset
from cnngwp.data.readers import (
    LARGEST_TRAIT_VALUE,
    read_candidates,
    read_dataset,
    read_genotypes,
    read_qtlmas_csv,
    write_candidates,
    write_dataset,
)
from cnngwp.data.splits import fold_column_splits, kfold_splits, split_by_generation
from cnngwp.errors import CnngwpInputError


def test_write_then_read_returns_identical_data(small_sim, tmp_path):
    write_dataset(small_sim, tmp_path / "d")
    with open_bed(tmp_path / "d" / "genotypes.bed") as bed:
        assert bed.shape == small_sim.genotypes.shape
        np.testing.assert_array_equal(bed.read(dtype="int8"), small_sim.genotypes)
    back = read_dataset(tmp_path / "d")
    np.testing.assert_array_equal(back.genotypes, small_sim.genotypes)
    np.testing.assert_array_equal(back.y, small_sim.y)  # full float precision survives the CSV
    assert back.samples["generation"].tolist() == small_sim.samples["generation"].tolist()
    truth = pd.read_csv(tmp_path / "d" / "truth.csv")
    assert {"snp_index", "kind", "value_0", "value_1", "value_2"} <= set(truth.columns)
    assert truth["snp_index"].tolist() == small_sim.truth["snp_index"].tolist()
    pheno = pd.read_csv(tmp_path / "d" / "phenotypes.csv")
    assert {"id", "generation", "sex", "y", "genetic_value"} <= set(pheno.columns)


def test_the_bed_is_read_block_by_block_with_missing_calls(small_sim, tmp_path, monkeypatch):
    """Reading by blocks of SNPs (here 7 at a time, the last block short) gives the whole matrix, missing as -1."""
    genotypes = small_sim.genotypes.copy()
    genotypes[np.random.default_rng(0).random(genotypes.shape) < 0.02] = -1
    write_dataset(replace(small_sim, genotypes=genotypes), tmp_path / "d")
    monkeypatch.setattr(cio, "_READ_BYTES", 7 * genotypes.shape[0])
    back = read_dataset(tmp_path / "d").genotypes
    assert genotypes.shape[1] % 7 and back.flags.c_contiguous
    np.testing.assert_array_equal(back, genotypes)


def test_same_data_gives_byte_identical_files(small_sim, tmp_path):
    write_dataset(small_sim, tmp_path / "a")
    write_dataset(small_sim, tmp_path / "b")
    for name in ("genotypes.bed", "genotypes.bim", "genotypes.fam", "phenotypes.csv", "truth.csv"):
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name


def test_failed_write_leaves_the_folder_as_it_was(small_sim, tmp_path, monkeypatch):
    out = tmp_path / "d"
    out.mkdir()
    (out / "phenotypes.csv").write_text("old")

    def broken_to_bed(path, *args, **kwargs):
        path.write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(cio, "to_bed", broken_to_bed)
    with pytest.raises(OSError):
        write_dataset(small_sim, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no scratch folder left
    assert sorted(p.name for p in out.iterdir()) == ["phenotypes.csv"]
    assert (out / "phenotypes.csv").read_text() == "old"


def _write_csv(path, rows):
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_read_qtlmas_csv(tmp_path):
    path = _write_csv(tmp_path / "q.csv", [[70.1, 0, 1, 2], [65.0, 2, "NA", 0], [80.5, 1, 1, -1]])
    data = read_qtlmas_csv(path)
    np.testing.assert_array_equal(data.genotypes, [[0, 1, 2], [2, -1, 0], [1, 1, -1]])
    np.testing.assert_array_equal(data.y, [70.1, 65.0, 80.5])
    assert data.samples.index.tolist() == ["1", "2", "3"]
    assert "generation" not in data.samples.columns


def test_read_qtlmas_csv_assigns_generations_when_sizes_match(tmp_path):
    rows = [[60 + i, i % 3, 1] for i in range(10)]
    data = read_qtlmas_csv(_write_csv(tmp_path / "q.csv", rows), generation_sizes=(2, 3, 5))
    assert data.samples["generation"].tolist() == [1, 1, 2, 2, 2, 3, 3, 3, 3, 3]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[70, 0, 1], [71, 0]], r"line 2 has 2 columns; expected 3"),
        ([[70, 0, 1], [71, 0, 3]], r"line 2, column 3: genotype '3' is not 0, 1, 2 or missing"),
        ([[70, 0, 1], ["tall", 0, 1]], r"line 2, column 1: phenotype 'tall' is not a number"),
        ([[70, 0, 1], ["inf", 0, 1]], r"line 2, column 1: phenotype 'inf' is not a finite number of usable size"),
        ([[70, 0, 1], ["-1e300", 0, 1]], r"line 2, column 1: phenotype '-1e300' is not a finite number of usable"),
    ],
)
def test_read_qtlmas_csv_rejects_bad_rows(tmp_path, rows, message):
    path = _write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(CnngwpInputError, match=message) as error:
        read_qtlmas_csv(path)
    assert str(path) in str(error.value)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(CnngwpInputError, match=r"nope\.csv: QTLMAS2010 CSV file not found"):
        read_qtlmas_csv(tmp_path / "nope.csv")
    with pytest.raises(CnngwpInputError, match=r"x\.bed: PLINK \.bed file not found"):
        read_genotypes(tmp_path / "x", tmp_path / "p.csv", trait="y")


@pytest.fixture()
def plink_dir(small_sim, tmp_path):
    write_dataset(small_sim, tmp_path)
    return tmp_path


def _pheno(plink_dir):
    return pd.read_csv(plink_dir / "phenotypes.csv")


def test_plink_reader_checks_the_phenotype_table(plink_dir):
    bed = plink_dir / "genotypes.bed"
    pheno = _pheno(plink_dir)
    pheno.loc[3, "id"] = pheno.loc[2, "id"]
    pheno.to_csv(plink_dir / "dup.csv", index=False)
    with pytest.raises(CnngwpInputError, match=r"dup\.csv: row 5: duplicated sample id"):
        read_genotypes(bed, plink_dir / "dup.csv", trait="y")
    pheno = _pheno(plink_dir)
    pheno["id"] = "x" + pheno["id"].astype(str)
    pheno.to_csv(plink_dir / "other.csv", index=False)
    with pytest.raises(CnngwpInputError, match=r"other\.csv: none of the \d+ genotyped samples has a value in "
                                               r"column 'y'; expected phenotypes matched to the genotype file's"):
        read_genotypes(bed, plink_dir / "other.csv", trait="y")
    pheno = _pheno(plink_dir).astype({"y": object})
    pheno.loc[10, "y"] = "tall"
    pheno.to_csv(plink_dir / "text.csv", index=False)
    with pytest.raises(CnngwpInputError, match=r"text\.csv: sample '11', column 'y': value 'tall' is not a number"):
        read_genotypes(bed, plink_dir / "text.csv", trait="y")
    with pytest.raises(CnngwpInputError, match=r"no column 'height'"):
        read_genotypes(bed, plink_dir / "phenotypes.csv", trait="height")


@pytest.mark.parametrize("value", ["1e300", "inf", "-Infinity", f"{-2 * LARGEST_TRAIT_VALUE:g}"])
def test_a_trait_value_that_is_not_finite_or_whose_square_overflows_is_refused(plink_dir, value):
    """Infinite values and values so large that the models' sums of squares overflow float64 are refused where the
    phenotypes are read, naming the file, the sample and the column; the largest allowed value is read."""
    pheno = _pheno(plink_dir).astype({"y": object})
    pheno.loc[10, "y"] = value
    pheno.to_csv(plink_dir / "huge.csv", index=False)
    with pytest.raises(CnngwpInputError, match=r"huge\.csv: sample '11', column 'y': value '[^']+' is not a finite "
                                               r"number of usable size; expected a number between -1e\+50 and 1e\+50"):
        read_genotypes(plink_dir / "genotypes.bed", plink_dir / "huge.csv", trait="y")
    pheno.loc[10, "y"] = -LARGEST_TRAIT_VALUE
    pheno.to_csv(plink_dir / "largest.csv", index=False)
    assert read_genotypes(plink_dir / "genotypes.bed", plink_dir / "largest.csv", trait="y").y[10] == -1e50


def test_animals_without_a_phenotype_are_kept_unphenotyped(plink_dir):
    """A missing row, an empty field and NA all mean 'no phenotype': the animal stays, its trait is NaN, no split
    trains on or scores it, and it needs no fold."""
    bed = plink_dir / "genotypes.bed"
    pheno = _pheno(plink_dir).astype({"y": object})
    pheno.loc[10, "y"] = None  # empty field
    pheno.loc[11, "y"] = "NA"
    pheno.drop(index=[12, 13]).to_csv(plink_dir / "gaps.csv", index=False)  # no row at all for two animals
    n = len(pheno)
    folds = pd.DataFrame({"row": np.arange(n), "fold": np.arange(n) % 3}).drop(index=[12, 13])
    folds.to_csv(plink_dir / "folds.csv", index=False)
    data = read_genotypes(bed, plink_dir / "gaps.csv", trait="y", folds=plink_dir / "folds.csv")
    assert data.n_samples == n
    assert np.flatnonzero(~data.phenotyped).tolist() == [10, 11, 12, 13]
    for split in fold_column_splits(data):
        assert split.candidates.tolist() == [10, 11, 12, 13]
        assert not np.isin([10, 11, 12, 13], np.concatenate([split.train, split.test])).any()
    for split in kfold_splits(data, k=4, seed=1):
        assert np.isfinite(data.y[np.concatenate([split.train, split.test])]).all()
    generation = split_by_generation(data)
    assert len(generation.train) + len(generation.test) == n - 4
    assert summarise_dataset(data)["unphenotyped"] == 4
    folds.drop(index=[20]).to_csv(plink_dir / "short.csv", index=False)
    with pytest.raises(CnngwpInputError, match=r"short\.csv: sample '21' has no fold; expected a non-negative fold "
                                               r"for every phenotyped sample"):
        read_genotypes(bed, plink_dir / "gaps.csv", trait="y", folds=plink_dir / "short.csv")


def test_plink_reader_rejects_duplicated_fam_ids(plink_dir):
    fam = plink_dir / "genotypes.fam"
    lines = fam.read_text().splitlines()
    lines[1] = lines[0]
    fam.write_text("\n".join(lines) + "\n")
    with pytest.raises(CnngwpInputError, match=r"genotypes\.fam \(column 2\): duplicated sample id '1'"):
        read_genotypes(plink_dir / "genotypes.bed", plink_dir / "phenotypes.csv", trait="y")


def test_plink_reader_joins_folds_and_reorders_phenotypes(plink_dir):
    pheno = _pheno(plink_dir).sample(frac=1.0, random_state=0)  # any row order
    pheno.to_csv(plink_dir / "shuffled.csv", index=False)
    n = len(pheno)
    pd.DataFrame({"row": np.arange(n), "fold": np.arange(n) % 3}).to_csv(plink_dir / "folds.csv", index=False)
    data = read_genotypes(plink_dir / "genotypes", plink_dir / "shuffled.csv", trait="y", folds=plink_dir / "folds.csv")
    assert data.samples.index.tolist() == [str(i + 1) for i in range(n)]
    assert data.samples["fold"].tolist() == (np.arange(n) % 3).tolist()
    pd.DataFrame({"row": [0, n + 5], "fold": [0, 1]}).to_csv(plink_dir / "badfolds.csv", index=False)
    with pytest.raises(CnngwpInputError, match=r"badfolds\.csv: line 3, column 'row'"):
        read_genotypes(plink_dir / "genotypes", plink_dir / "shuffled.csv", trait="y", folds=plink_dir / "badfolds.csv")


def test_reads_the_shared_mice_fileset(mice_dir):
    data = read_genotypes(mice_dir / "mice.bed", mice_dir / "mice_pheno.csv", trait="Obesity.BodyLength",
                      id_column="SUBJECT.NAME", folds=mice_dir / "mice_folds.csv")
    assert data.genotypes.shape == (1814, 10346)
    assert set(np.unique(data.genotypes)) <= {0, 1, 2}
    assert sorted(data.samples["fold"].unique()) == [0, 1, 2, 3, 4]
    assert np.isfinite(data.y).all()


def test_candidates_are_written_without_phenotypes_and_read_back(small_sim, tmp_path):
    young = small_sim.select_samples(np.flatnonzero(small_sim.generations == 5))
    bed = write_candidates(young, tmp_path / "young", covariates=("generation",))
    back = read_candidates(bed, bed.parent / "phenotypes.csv")
    np.testing.assert_array_equal(back.genotypes, young.genotypes)
    assert back.samples.index.tolist() == young.samples.index.tolist()
    assert not back.phenotyped.any() and (back.samples["generation"] == 5).all()
    assert "genetic_value" not in back.samples.columns and "y" not in back.samples.columns
    with pytest.raises(CnngwpInputError, match=r"no covariate column\(s\) \['litter'\]"):
        write_candidates(young, tmp_path / "other", covariates=("litter",))
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize(("umask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_atomic_writes_and_replaced_folders_get_the_modes_the_umask_gives(tmp_path, umask, file_mode, folder_mode):
    from cnngwp.atomic import atomic_directory, atomic_write, replace_directory

    before = os.umask(umask)
    try:
        atomic_write(tmp_path / "table.csv", lambda tmp: tmp.write_text("a\n1\n"))
        with replace_directory(tmp_path / "model") as scratch:
            (scratch / "model.json").write_text("{}")
        with atomic_directory(tmp_path / "run") as scratch:
            (scratch / "summary.json").write_text("{}")
    finally:
        os.umask(before)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert modes == {"table.csv": file_mode, "model": folder_mode, "model/model.json": file_mode,
                     "run": folder_mode, "run/summary.json": file_mode}
