import numpy as np
import pandas as pd
import pytest

from cnngwp.data.genotypes import (
    GenotypeData,
    Standardizer,
    adjacent_r2,
    minor_allele_frequency,
    quality_control,
    summarise_dataset,
)
from cnngwp.errors import CnngwpInputError


def make_data(genotypes, y=None, **columns):
    genotypes = np.asarray(genotypes, dtype=np.int8)
    n, p = genotypes.shape
    samples = pd.DataFrame({"y": np.arange(n, dtype=float) if y is None else y, **columns},
                           index=pd.Index([f"i{k}" for k in range(n)], name="id"))
    snps = pd.DataFrame({"snp_id": [f"s{j}" for j in range(p)], "chromosome": 1, "position": np.arange(p) + 1,
                         "allele_1": "A", "allele_2": "G"})
    return GenotypeData(genotypes, samples, snps)


def test_container_rejects_bad_codes_and_duplicates():
    with pytest.raises(CnngwpInputError, match=r"row 2, SNP column 3: genotype code 5 is not 0, 1, 2 or missing"):
        make_data([[0, 1, 2], [0, 1, 5]])
    data = make_data([[0, 1], [1, 2]])
    with pytest.raises(CnngwpInputError, match=r"duplicated sample id 'a'"):
        GenotypeData(data.genotypes, data.samples.set_axis(pd.Index(["a", "a"], name="id")), data.snps)
    with pytest.raises(CnngwpInputError, match="int8"):
        GenotypeData(data.genotypes.astype(float), data.samples, data.snps)


def test_quality_control_drops_monomorphic_and_rare_snps():
    n = 200
    g = np.zeros((n, 4), dtype=np.int8)
    g[:, 0] = np.arange(n) % 3  # common
    g[0, 1] = 1  # MAF 1/400 = 0.0025 < 0.01
    g[:, 2] = 2  # monomorphic
    g[:, 3] = np.arange(n) % 2
    g[5, 3] = -1  # one missing call
    data, report = quality_control(make_data(g), min_maf=0.01)
    assert data.snps["snp_id"].tolist() == ["s0", "s3"]
    assert report.monomorphic == ["s2"] and report.low_maf == ["s1"]
    assert report.n_snps_after == 2 and report.missing_calls == 1 and report.snps_with_missing == 1
    assert "dropped 1 monomorphic and 1 with MAF < 0.01" in report.summary()


def test_quality_control_with_nothing_left_raises():
    with pytest.raises(CnngwpInputError, match="no SNP left after QC"):
        quality_control(make_data(np.ones((10, 3), dtype=np.int8) * 2))


def test_quality_control_reindexes_truth(small_sim):
    data, report = quality_control(small_sim, min_maf=0.01)
    assert data.n_snps == report.n_snps_after
    kept = small_sim.snps["snp_id"].to_numpy()
    for _, row in data.truth.dropna(subset=["snp_index"]).iterrows():
        assert data.snps["snp_id"].iloc[int(row["snp_index"])] == kept[small_sim.truth.loc[_, "snp_index"]]


def test_standardizer_uses_training_rows_only():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 3, size=(60, 5)).astype(np.int8)
    train = np.arange(40)
    std = Standardizer().fit(g, train)
    expected = g[train].astype(float)
    np.testing.assert_allclose(std.mean_, expected.mean(0), rtol=1e-6)
    np.testing.assert_allclose(std.scale_, expected.std(0), rtol=1e-6)
    changed = g.copy()
    changed[40:] = 2  # test rows do not move the statistics
    again = Standardizer().fit(changed, train)
    np.testing.assert_array_equal(again.mean_, std.mean_)
    z = std.transform(g, train)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-5)
    batches = np.vstack(list(std.iter_batches(g, np.arange(60), batch_size=7)))
    np.testing.assert_array_equal(batches, std.transform(g))


def test_standardizer_mean_imputes_missing_and_handles_constant_snps():
    g = np.array([[0, 1], [2, 1], [-1, 1], [1, 1]], dtype=np.int8)
    std = Standardizer().fit(g)
    assert std.mean_[0] == pytest.approx(1.0)  # missing call ignored
    assert std.constant_.tolist() == [False, True]
    z = std.transform(g)
    assert z[2, 0] == 0.0 and (z[:, 1] == 0).all()


def test_compiled_standardisation_gives_numpys_values_to_the_last_bit():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 3, size=(300, 257)).astype(np.int8)
    g[rng.random(g.shape) < 0.03] = -1
    std = Standardizer().fit(g, np.arange(200))
    for dtype in (np.float32, np.float64):
        numpy_values = ((g - std.mean_) / std.scale_).astype(dtype)
        numpy_values[g == -1] = 0.0
        rows = rng.permutation(300)[:77]
        np.testing.assert_array_equal(std.transform(g, dtype=dtype), numpy_values)
        np.testing.assert_array_equal(std.transform(g, rows, dtype=dtype, order="F"), numpy_values[rows])
        columns = slice(13, 140)  # a strided view of the codes, as the kernel operators pass them
        np.testing.assert_array_equal(std.select_columns(columns).transform(g[:, columns], dtype=dtype),
                                      numpy_values[:, columns])


def test_adjacent_r2_known_answer():
    x = np.array([0, 1, 2, 1, 0, 2, 1, 1], dtype=np.int8)
    g = np.column_stack([x, x, 2 - x, np.array([0, 0, 1, 1, 2, 2, 0, 1])]).astype(np.int8)
    data = make_data(g)
    r2 = adjacent_r2(data)
    assert r2[0] == pytest.approx(1.0) and r2[1] == pytest.approx(1.0)
    assert r2[2] == pytest.approx(np.corrcoef(2 - x, g[:, 3])[0, 1] ** 2)


def test_minor_allele_frequency_and_summary(small_sim):
    maf = minor_allele_frequency(small_sim.genotypes)
    assert ((0 <= maf) & (maf <= 0.5)).all()
    stats = summarise_dataset(small_sim)
    assert stats["samples"] == small_sim.n_samples and stats["generation_5"] == 120
    assert stats["y_variance"] == pytest.approx(small_sim.y.var(ddof=1))
