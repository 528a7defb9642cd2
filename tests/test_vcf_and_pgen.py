"""VCF/BCF and PLINK 2 input: the same genotypes, the same predictions as the PLINK 1 file, bad files named."""

import numpy as np
import pandas as pd
import pytest

from cnngwp.cli import main
from cnngwp.data.readers import read_candidates, read_dataset, read_genotypes, write_dataset
from cnngwp.errors import CnngwpInputError
from tests.genotype_files import write_pgen, write_vcf


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A model fitted (smoke) on the older generations of the small simulation; the youngest as candidate files."""
    root = tmp_path_factory.mktemp("formats")
    assert main(["simulate", "--seed", "5", "--small", "--out", str(root / "sim")]) == 0
    data = read_dataset(root / "sim")
    young = data.samples["generation"] == 5
    data.samples.loc[young, "y"] = np.nan
    write_dataset(data, root / "masked")
    assert main(["fit", "--data", str(root / "masked"), "--out", str(root / "fit"), "--profile", "smoke",
                 "--replicates", "1", "--members", "2", "--scheduler", "in-process", "--no-progress"]) == 0
    candidates = data.select_samples(np.flatnonzero(young))
    candidates.genotypes[:3, :4] = -1  # a few missing calls travel through every format
    write_dataset(candidates, root / "young")
    return root, candidates


def _predict(root, option, path, out, *extra):
    assert main(["predict", "--model", str(root / "fit" / "model"), option, str(path), "--out", str(out), *extra]) == 0
    return pd.read_csv(out, dtype={"id": str})


def test_vcf_pgen_dosages_and_swapped_alleles_predict_as_the_plink_file(fitted, tmp_path, capsys):
    root, candidates = fitted
    expected = _predict(root, "--bed", root / "young" / "genotypes", tmp_path / "bed.csv")
    swapped = np.arange(0, candidates.n_snps, 7)
    files = {
        "vcf": ("--vcf", write_vcf(candidates, tmp_path / "young.vcf"), ()),
        "dosages": ("--vcf", write_vcf(candidates, tmp_path / "dosages.vcf", dosages=True), ("--dosages",)),
        "swapped": ("--vcf", write_vcf(candidates, tmp_path / "swapped.vcf", swapped=swapped), ()),
        "pgen": ("--pgen", write_pgen(candidates, tmp_path / "young"), ()),
    }
    for name, (option, path, extra) in files.items():
        got = _predict(root, option, path, tmp_path / f"{name}.csv", *extra)
        pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=name)
    model_snps = set(pd.read_csv(root / "fit" / "model" / "snps.csv", dtype={"snp_id": str})["snp_id"])
    flipped = len(model_snps & set(candidates.snps["snp_id"].iloc[swapped]))
    assert flipped > 0 and f"({flipped} with swapped alleles, codes flipped)" in capsys.readouterr().out


def test_every_format_reads_the_same_codes_and_joins_phenotypes(fitted, tmp_path):
    _, candidates = fitted
    vcf = read_candidates(write_vcf(candidates, tmp_path / "c.vcf", dosages=True), dosages=True)
    pgen = read_candidates(write_pgen(candidates, tmp_path / "c"))
    for data in (vcf, pgen):
        np.testing.assert_array_equal(data.genotypes, candidates.genotypes)
        assert list(data.samples.index) == list(candidates.samples.index.astype(str))
        assert (data.snps["allele_1"] == candidates.snps["allele_1"]).all()
    phenotypes = tmp_path / "p.csv"
    pd.DataFrame({"id": candidates.samples.index, "y": np.arange(candidates.n_samples, dtype=float)}).to_csv(
        phenotypes, index=False)
    data = read_genotypes(tmp_path / "c.pgen", phenotypes, trait="y")
    assert data.y.tolist() == list(range(candidates.n_samples))


def test_bad_vcf_and_pgen_files_are_named(fitted, tmp_path, capsys):
    _, candidates = fitted
    path = write_vcf(candidates, tmp_path / "bad.vcf")
    lines = path.read_text().splitlines()
    header = sum(line.startswith("#") for line in lines)
    fields = lines[header + 5].split("\t")
    fields[9] = "0/x"
    lines[header + 5] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CnngwpInputError, match=rf"bad\.vcf: line {header + 6}: not a valid VCF record"):
        read_candidates(path)
    with pytest.raises(CnngwpInputError, match="no DS field; expected dosages at every site"):
        read_candidates(write_vcf(candidates, tmp_path / "gt.vcf"), dosages=True)
    with pytest.raises(CnngwpInputError, match=r"a PLINK 1 \.bed holds hard calls only"):
        read_candidates(tmp_path / "none.bed", dosages=True)
    pgen = write_pgen(candidates, tmp_path / "short")
    pvar = pgen.with_suffix(".pvar")
    pvar.write_text("".join(pvar.read_text().splitlines(True)[:-2]))
    with pytest.raises(CnngwpInputError, match=r"short\.pgen: \d+ variants but \d+ lines in the \.pvar"):
        read_candidates(pgen)
    assert main(["predict", "--model", str(tmp_path / "x"), "--vcf", str(path), "--out", str(tmp_path / "o.csv")]) == 2
    capsys.readouterr()
