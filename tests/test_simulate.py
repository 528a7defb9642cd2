from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cnngwp.data.genotypes import GenotypeData, adjacent_r2, minor_allele_frequency
from cnngwp.data.readers import write_dataset
from cnngwp.data.simulate import (
    ARCHITECTURES,
    DOMINANCE_VALUES,
    SimulationConfig,
    add_dominance_loci,
    realised_variance_components,
    simulate_pedigree,
    simulate_population,
    simulate_qtlmas2010,
)
from cnngwp.errors import CnngwpInputError


def test_pedigree_follows_the_qtlmas2010_design():
    config = SimulationConfig()
    ped = simulate_pedigree(config, seed=3)
    assert ped.groupby("generation").size().tolist() == [20, 450, 956, 900, 900]
    founders = ped[ped["generation"] == 1]
    assert (founders["sex"] == 1).sum() == 5 and (founders["sex"] == 2).sum() == 15
    later = ped[ped["generation"] > 1]
    # every dam mated once: one sire per dam, families of about 30
    assert later.groupby("dam")["sire"].nunique().max() == 1
    family = later.groupby("dam").size()
    assert family.min() >= 28 and family.max() <= 32
    # parents come from the previous generation and have the right sex
    gen = ped["generation"]
    assert (gen[later["sire"]].to_numpy() == later["generation"].to_numpy() - 1).all()
    assert (ped.loc[later["sire"], "sex"] == 1).all() and (ped.loc[later["dam"], "sex"] == 2).all()
    assert set(ped["sex"]) == {1, 2}


def test_small_simulation_sizes_and_truth(small_sim):
    config = SimulationConfig.small()
    assert small_sim.n_samples == sum(config.generation_sizes)
    assert 0.95 * 400 <= small_sim.n_snps <= 400
    assert small_sim.genotypes.dtype == np.int8
    assert set(np.unique(small_sim.genotypes)) <= {0, 1, 2}
    kinds = small_sim.truth["kind"].value_counts()
    assert kinds["additive-major"] == 2 and kinds["additive"] == config.n_random_qtl
    assert kinds["epistatic"] == 4 and kinds["imprinted"] == 3
    assert kinds["dominance"] == kinds["over-dominance"] == kinds["under-dominance"] == 1
    assert small_sim.truth["snp_index"].is_unique
    majors = small_sim.truth[small_sim.truth["kind"] == "additive-major"]
    # the two majors keep opposite effects of equal size (-3 and +3 before scaling)
    assert majors["design_effect"].tolist() == [-3.0, 3.0]
    assert majors["effect"].iloc[0] == pytest.approx(-majors["effect"].iloc[1])
    additive = small_sim.truth[small_sim.truth["kind"] == "additive"]
    assert (additive["design_effect"].abs() < 2).all()


def test_trait_calibration(small_sim):
    samples = small_sim.samples
    y0 = samples["y_original"].to_numpy()
    assert y0.mean() == pytest.approx(68.7, abs=2.0)
    assert 70 <= y0.var() <= 130
    # narrow-sense h2: variance of the least-squares fit of the genetic values on the causal loci
    truth = small_sim.truth[~small_sim.truth["kind"].isin(list(DOMINANCE_VALUES))]
    x = small_sim.genotypes[:, truth["snp_index"].unique().astype(int)].astype(float)
    design = np.column_stack([np.ones(len(x)), x])
    g0 = samples["genetic_value"].to_numpy() - (samples["y"].to_numpy() - y0)
    fitted = design @ np.linalg.lstsq(design, g0, rcond=None)[0]
    assert fitted.var() / y0.var() == pytest.approx(0.45, abs=0.1)


def test_dominance_values_are_exact(small_sim):
    added = small_sim.samples["y"].to_numpy() - small_sim.samples["y_original"].to_numpy()
    total = np.zeros(small_sim.n_samples)
    maf = minor_allele_frequency(small_sim.genotypes)
    for kind, values in DOMINANCE_VALUES.items():
        row = small_sim.truth[small_sim.truth["kind"] == kind].iloc[0]
        codes = small_sim.genotypes[:, int(row["snp_index"])]
        assert (row["value_0"], row["value_1"], row["value_2"]) == values
        assert maf[int(row["snp_index"])] >= 0.25
        assert set(np.unique(codes)) == {0, 1, 2}
        total += np.array(values)[codes]
    np.testing.assert_allclose(added, total, rtol=0, atol=1e-12)


def test_imprinted_loci_follow_the_sire_allele():
    # inheritance check: a child's paternal allele comes from its sire's two alleles
    config = SimulationConfig.small()
    data = simulate_qtlmas2010(seed=11, config=config)
    samples = data.samples
    child = samples.index[samples["generation"] == 3]
    sire_rows = samples.index.get_indexer(samples.loc[child, "sire"])
    dam_rows = samples.index.get_indexer(samples.loc[child, "dam"])
    rows = samples.index.get_indexer(child)
    g, s, d = data.genotypes[rows], data.genotypes[sire_rows], data.genotypes[dam_rows]
    # Mendelian consistency: a homozygous 0 sire and dam never give a 2, etc.
    assert not ((s == 0) & (d == 0) & (g > 0)).any()
    assert not ((s == 2) & (d == 2) & (g < 2)).any()
    assert not (((s == 0) | (d == 0)) & (g == 2)).any()


def test_same_seed_same_data_and_different_seed_differs(small_sim):
    again = simulate_qtlmas2010(seed=7, config=SimulationConfig.small())
    np.testing.assert_array_equal(again.genotypes, small_sim.genotypes)
    pd.testing.assert_frame_equal(again.samples, small_sim.samples)
    other = simulate_qtlmas2010(seed=8, config=SimulationConfig.small())
    assert not np.array_equal(other.samples["y"].to_numpy(), small_sim.samples["y"].to_numpy())


def test_ld_between_neighbours_is_moderate(small_sim):
    r2 = adjacent_r2(small_sim)
    assert 0.03 <= np.nanmean(r2) <= 0.3
    # LD decays: neighbours are more correlated than SNPs 50 apart
    far = adjacent_r2(small_sim.select_snps(np.arange(0, small_sim.n_snps, 50)))
    assert np.nanmean(far) < np.nanmean(r2)


def test_add_dominance_loci_on_any_data_set():
    genotypes = np.tile(np.array([[0], [1], [2], [1]], dtype=np.int8), (25, 20))
    genotypes[:, 5] = 0  # monomorphic column
    samples = pd.DataFrame({"y": np.zeros(100)}, index=pd.Index([str(i) for i in range(100)], name="id"))
    snps = pd.DataFrame({"snp_id": [f"s{j}" for j in range(20)], "chromosome": 1, "position": np.arange(20),
                         "allele_1": "A", "allele_2": "G"})
    data = GenotypeData(genotypes, samples, snps)
    out = add_dominance_loci(data, loci={"dominance": 5, "under-dominance": 9}, min_maf=0.25)
    assert out.truth["snp_index"].tolist() == [4, 9]  # 5 is monomorphic: nearest qualifying SNP, lower first
    phase = np.arange(100) % 4
    expected = np.array([0.0, 5.0, 5.01, 5.0])[phase] + np.array([-0.01, -5.0, 0.01, -5.0])[phase]
    np.testing.assert_allclose(out.y, expected, atol=1e-12)
    assert data.y.sum() == 0  # input unchanged
    with pytest.raises(CnngwpInputError, match="unknown dominance kind"):
        add_dominance_loci(data, loci={"recessive": 1})
    with pytest.raises(CnngwpInputError, match="SNP column 50"):
        add_dominance_loci(data, loci={"dominance": 50})


@pytest.fixture(scope="module")
def full_population():
    """The default population size (3,226 animals x 10,000 SNPs): about 13 s."""
    return simulate_population(seed=2, config=SimulationConfig())


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_each_architecture_meets_its_heritability_at_the_default_size(
    full_population, architecture
):
    for h2 in (0.25, 0.6):
        data = full_population.trait(
            replace(SimulationConfig(), architecture=architecture, heritability=h2), seed=4
        )
        components = realised_variance_components(data)
        assert components["h2"] == pytest.approx(h2, abs=0.05)
        genetic = components["additive"] + components["dominance"] + components["epistatic"]
        shares = {k: components[k] / genetic for k in ("dominance", "epistatic")}
        if architecture == "additive":
            assert shares["dominance"] < 1e-9 and shares["epistatic"] < 1e-9
        elif architecture == "dominance":
            assert shares["dominance"] > 0.15 and shares["epistatic"] < 1e-9
        elif architecture == "epistatic":
            assert shares["epistatic"] > 0.15
        else:  # the paper's three loci are the dominance; QTLMAS2010's pairs and imprinted loci the rest
            assert shares["dominance"] > 0.15 and shares["epistatic"] > 0.0
            assert set(data.truth["kind"]) >= {
                "dominance",
                "over-dominance",
                "under-dominance",
                "imprinted",
            }


def test_architectures_share_their_additive_qtls_and_the_same_seed_gives_identical_files(tmp_path):
    population = simulate_population(seed=3, config=SimulationConfig.small())
    traits = {
        a: population.trait(
            replace(SimulationConfig.small(), architecture=a, heritability=0.4), seed=9
        )
        for a in ARCHITECTURES
    }
    additive = traits["additive"].truth
    for data in traits.values():
        assert set(additive["snp_index"]) <= set(data.truth["snp_index"])
    config = replace(SimulationConfig.small(), architecture="epistatic", heritability=0.3)
    for name in ("a", "b"):
        write_dataset(simulate_qtlmas2010(seed=5, config=config), tmp_path / name)
    for file in ("genotypes.bed", "phenotypes.csv", "truth.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    assert (
        "y_original" in population.trait(SimulationConfig.small(), seed=9).samples.columns
    )  # the book's default
    with pytest.raises(CnngwpInputError, match="architecture 'mixed'"):
        SimulationConfig(architecture="mixed")
    with pytest.raises(CnngwpInputError, match="heritability 1.2"):
        SimulationConfig(heritability=1.2)
