"""A QTLMAS2010-like population: pedigree, genomes through msprime, the trait, and the
paper's dominance extensions.

The QTLMAS2010 workshop data (Szydłowski & Paczyńska 2011) are 3,226 animals in five
generations descending from 20 founders, 10,031 SNPs on five chromosomes of 100 Mb and
a trait from 37 QTLs. Its genotype file is not public, so new users meet this
simulation instead: founders' genomes come from a coalescent (msprime's Hudson model,
founder effective size set so neighbouring SNPs have a mean r² of about 0.1, as in the
real data), and inheritance through the pedigree comes from msprime's fixed-pedigree
model, so recombination and Mendelian sampling are exact: each founder allele is placed
as a mutation on its founder's node of the pedigree tree sequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import msprime
import numpy as np
import pandas as pd

from cnngwp.data import GenotypeData, minor_allele_frequency
from cnngwp.errors import CnngwpInputError

#: The paper's SNP numbers (1-based) of the three loci it added to QTLMAS2010.
PAPER_DOMINANCE_SNPS: Mapping[str, int] = {"dominance": 9212, "over-dominance": 9404, "under-dominance": 9602}
#: Values added to the phenotype for codes 0 / 1 / 2 (lower homozygote / heterozygote / upper homozygote).
DOMINANCE_VALUES: Mapping[str, tuple[float, float, float]] = {
    "dominance": (0.0, 5.00, 5.01),
    "over-dominance": (-0.01, 5.00, 0.01),
    "under-dominance": (-0.01, -5.00, 0.01),
}
#: Number of SNPs in the real QTLMAS2010 map; QTL positions are given as fractions of it.
QTLMAS2010_N_SNPS = 10_031
_MAJOR_ADDITIVE_SNPS = (4354, 5327)  # 1-based, the paper's text
_MAJOR_EPISTATIC_SNP = 931
#: Columns of the truth table of a simulated data set.
TRUTH_COLUMNS = (
    "snp_index", "snp_id", "kind", "design_effect", "effect", "partner", "value_0", "value_1", "value_2",
)


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of :func:`simulate_qtlmas2010`; the defaults mimic QTLMAS2010.

    Attributes
    ----------
    generation_sizes
        Animals per generation; the first is the founders (sires + dams).
    founder_sires, founder_dams
        Sex split of the founders.
    sires_per_generation
        Males chosen as sires in each later generation (each dam mates once).
    progeny_per_dam
        Target family size; the number of dams is the generation size divided by it.
    n_chromosomes, chromosome_length
        Genome layout, base pairs per chromosome.
    recombination_rate
        Per bp and generation (1e-8 makes 100 Mb one Morgan).
    snps_per_chromosome
        SNPs kept, one per equal-length bin.
    founder_ne
        Effective size of the coalescent behind the founders (sets LD).
    founder_segment_length
        Founder genomes are simulated in independent pieces of this length (speed).
    common_maf
        SNPs are drawn among sites with at least this founder MAF, like a genotyping chip ...
    rare_snp_fraction
        ... except this fraction of bins, which take a founder singleton so QC has work.
    n_random_qtl, random_qtl_sd
        Random additive QTLs with normal effects truncated to ``|a| < 2``.
    major_effects
        Effects of the two major additive QTLs.
    n_epistatic_pairs, epistatic_effect
        Pairs with value e·(x1-1)(x2-1): no marginal effect at allele frequency 0.5.
    n_imprinted, imprinting_effect
        Maternally imprinted loci: only the paternal allele is expressed.
    h2, phenotype_mean, phenotype_variance
        Targets before the dominance extension: effects are scaled so the additive
        variance is h2 × phenotype_variance, the residual fills the rest.
    dominance_min_maf
        The three added loci move to the nearest SNP with at least this MAF.
    """

    generation_sizes: tuple[int, ...] = (20, 450, 956, 900, 900)
    founder_sires: int = 5
    founder_dams: int = 15
    sires_per_generation: int = 5
    progeny_per_dam: int = 30
    n_chromosomes: int = 5
    chromosome_length: int = 100_000_000
    recombination_rate: float = 1e-8
    snps_per_chromosome: int = 2000
    founder_ne: int = 6_000
    founder_segment_length: int = 5_000_000
    common_maf: float = 0.05
    rare_snp_fraction: float = 0.02
    n_random_qtl: int = 28
    random_qtl_sd: float = 1.0
    major_effects: tuple[float, float] = (-3.0, 3.0)
    n_epistatic_pairs: int = 2
    epistatic_effect: float = 2.0
    n_imprinted: int = 3
    imprinting_effect: float = 2.0
    h2: float = 0.45
    phenotype_mean: float = 68.7
    phenotype_variance: float = 100.0
    dominance_min_maf: float = 0.25

    @classmethod
    def small(cls) -> SimulationConfig:
        """A few hundred animals and SNPs: seconds, for tests and smoke runs."""
        return cls(
            generation_sizes=(8, 90, 120, 120, 120),
            founder_sires=2,
            founder_dams=6,
            sires_per_generation=3,
            progeny_per_dam=15,
            n_chromosomes=2,
            chromosome_length=10_000_000,
            snps_per_chromosome=200,
            n_random_qtl=8,
        )


def simulate_pedigree(config: SimulationConfig, *, seed: int) -> pd.DataFrame:
    """Animals with generation, sex (1 male, 2 female), sire and dam ("0" for founders).

    Each later generation takes `sires_per_generation` males (or all there are) and
    ``size / progeny_per_dam`` females of the previous one at random; each dam
    mates once, with one sire, and her family sizes differ by at most one.

    Raises
    ------
    CnngwpInputError
        If a generation has too few males or females to breed the next.
    """
    rng = np.random.default_rng(seed)
    sizes = config.generation_sizes
    if config.founder_sires + config.founder_dams != sizes[0]:
        raise CnngwpInputError(f"founders: {config.founder_sires} sires + {config.founder_dams} dams != {sizes[0]}")
    ids = [str(i + 1) for i in range(sizes[0])]
    sex = [1] * config.founder_sires + [2] * config.founder_dams
    rows = [(i, 1, s, "0", "0") for i, s in zip(ids, sex, strict=True)]
    prev_ids, prev_sex = np.array(ids), np.array(sex)
    for generation, size in enumerate(sizes[1:], start=2):
        n_dams = max(1, round(size / config.progeny_per_dam))
        males, females = prev_ids[prev_sex == 1], prev_ids[prev_sex == 2]
        n_sires = min(config.sires_per_generation, n_dams, len(males))
        if n_sires == 0 or len(females) < n_dams:
            raise CnngwpInputError(
                f"generation {generation - 1} has {len(males)} males and {len(females)} females; "
                f"breeding generation {generation} needs {n_sires} sires and {n_dams} dams"
            )
        sires = rng.choice(males, n_sires, replace=False)
        dams = rng.choice(females, n_dams, replace=False)
        family = np.full(n_dams, size // n_dams)
        family[: size - family.sum()] += 1
        start = len(rows) + 1
        parents = [(sires[d % n_sires], dams[d]) for d in range(n_dams) for _ in range(family[d])]
        child_sex = rng.integers(1, 3, size)
        new_ids = [str(start + k) for k in range(size)]
        rows += [(i, generation, int(s), p[0], p[1]) for i, s, p in zip(new_ids, child_sex, parents, strict=True)]
        prev_ids, prev_sex = np.array(new_ids), child_sex
    return pd.DataFrame(rows, columns=["id", "generation", "sex", "sire", "dam"]).set_index("id")


def _pedigree_tables(pedigree: pd.DataFrame, config: SimulationConfig):
    builder = msprime.PedigreeBuilder()
    last = int(pedigree["generation"].max())
    index: dict[str, int] = {}
    for animal, row in pedigree.iterrows():
        parents = None if row["sire"] == "0" else [index[row["sire"]], index[row["dam"]]]
        index[animal] = builder.add_individual(time=last - int(row["generation"]), parents=parents, is_sample=True)
    return builder.finalise(sequence_length=config.chromosome_length)


def _founder_haplotypes(config: SimulationConfig, n_founders: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Founder haplotypes of one chromosome from the coalescent, in independent segments.

    Returns positions (0-based bp) and haplotypes (sites × 2·founders, 0/1) of
    biallelic sites. Segments of `founder_segment_length` keep the coalescent
    fast; LD between segments is negligible at the default founder size.
    """
    segment = config.founder_segment_length
    starts = np.arange(0, config.chromosome_length, segment)
    seeds = np.random.SeedSequence(seed).generate_state(2 * len(starts), dtype=np.uint32)
    bin_length = config.chromosome_length / config.snps_per_chromosome
    mutation_rate = 3.0 / (4 * config.founder_ne * bin_length)  # about 3 x H(2n) sites per SNP bin
    positions, haplotypes = [], []
    for k, start in enumerate(starts):
        length = min(segment, config.chromosome_length - start)
        ts = msprime.sim_ancestry(
            n_founders, ploidy=2, population_size=config.founder_ne, sequence_length=length,
            recombination_rate=config.recombination_rate, random_seed=int(seeds[2 * k]) + 1,
        )
        ts = msprime.sim_mutations(
            ts, rate=mutation_rate, model=msprime.BinaryMutationModel(), random_seed=int(seeds[2 * k + 1]) + 1
        )
        single = np.array([len(site.mutations) == 1 for site in ts.sites()], dtype=bool)
        positions.append(ts.tables.sites.position[single] + start)
        haplotypes.append(ts.genotype_matrix()[single])
    return np.concatenate(positions).astype(np.int64), np.vstack(haplotypes)


def _choose_sites(positions: np.ndarray, haplotypes: np.ndarray, config: SimulationConfig, rng) -> np.ndarray:
    """One site per SNP bin: common in the founders (like a chip), a few founder singletons."""
    counts = haplotypes.sum(axis=1)
    n = haplotypes.shape[1]
    maf = np.minimum(counts, n - counts) / n
    common = maf >= config.common_maf
    rare = counts == 1
    bins = positions * config.snps_per_chromosome // config.chromosome_length
    order = np.argsort(bins, kind="stable")
    edges = np.searchsorted(bins[order], np.arange(config.snps_per_chromosome + 1))
    chosen = []
    for b in range(config.snps_per_chromosome):
        in_bin = order[edges[b] : edges[b + 1]]
        pool = in_bin[rare[in_bin]] if rng.random() < config.rare_snp_fraction else in_bin[:0]
        if len(pool) == 0:
            pool = in_bin[common[in_bin]]
        if len(pool) == 0:
            pool = in_bin
        if len(pool):
            chosen.append(rng.choice(pool))
    return np.sort(np.array(chosen, dtype=np.int64))


def _drop_through_pedigree(pedigree_ts, founder_nodes: np.ndarray, positions, haplotypes) -> np.ndarray:
    """Alleles of every node: each founder allele placed as a mutation on its founder node."""
    tables = pedigree_ts.dump_tables()
    tables.sites.clear()
    tables.mutations.clear()
    for position, alleles in zip(positions, haplotypes, strict=True):
        site = tables.sites.add_row(position=position, ancestral_state="0")
        for node in founder_nodes[alleles == 1]:
            tables.mutations.add_row(site=site, node=node, derived_state="1")
    tables.sort()
    return tables.tree_sequence().genotype_matrix()


def simulate_genomes(
    pedigree: pd.DataFrame, config: SimulationConfig, *, seed: int
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Genotypes of every animal of `pedigree`, chromosome by chromosome.

    Founder haplotypes come from msprime's coalescent; msprime's fixed-pedigree
    model then passes them down the pedigree with recombination.

    Returns
    -------
    genotypes : numpy.ndarray
        int8 (animals × SNPs) count of the derived allele.
    paternal : numpy.ndarray
        int8 (animals × SNPs) derived allele received from the sire (0/1).
    snps : pandas.DataFrame
        The map: ``snp_id``, ``chromosome``, ``position``, ``allele_1`` (derived), ``allele_2``.
    """
    tables = _pedigree_tables(pedigree, config)
    n_founders = int((pedigree["sire"] == "0").sum())
    seeds = np.random.SeedSequence(seed).generate_state(3 * config.n_chromosomes, dtype=np.uint32)
    genotypes, paternal, maps = [], [], []
    for c in range(config.n_chromosomes):
        s_pedigree, s_founders, s_sites = (int(x) + 1 for x in seeds[3 * c : 3 * c + 3])
        ts = msprime.sim_ancestry(
            initial_state=tables, model="fixed_pedigree", recombination_rate=config.recombination_rate,
            random_seed=s_pedigree,
        )
        nodes = np.array([ind.nodes for ind in ts.individuals()])  # node 0 came from the sire
        positions, haplotypes = _founder_haplotypes(config, n_founders, s_founders)
        keep = _choose_sites(positions, haplotypes, config, np.random.default_rng(s_sites))
        alleles = _drop_through_pedigree(ts, nodes[:n_founders].ravel(), positions[keep], haplotypes[keep])
        hap_sire, hap_dam = alleles[:, nodes[:, 0]].T, alleles[:, nodes[:, 1]].T
        genotypes.append((hap_sire + hap_dam).astype(np.int8))
        paternal.append(hap_sire.astype(np.int8))
        maps.append(pd.DataFrame({"chromosome": c + 1, "position": positions[keep] + 1}))
    snps = pd.concat(maps, ignore_index=True)
    snps.insert(0, "snp_id", [f"rs{j + 1}" for j in range(len(snps))])
    snps["allele_1"], snps["allele_2"] = "A", "G"
    return np.hstack(genotypes), np.hstack(paternal), snps


def _nearest(candidates: np.ndarray, target: int) -> int:
    if not len(candidates):
        raise CnngwpInputError(f"no SNP qualifies for a causal locus near SNP index {target}")
    return int(candidates[np.argmin(np.abs(candidates - target))])


def simulate_trait(
    genotypes: np.ndarray, paternal: np.ndarray, config: SimulationConfig, *, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Place the QTLMAS2010 architecture on the SNPs and draw phenotypes.

    Two major additive QTLs (near the real SNPs 4,354 and 5,327), random additive
    QTLs, epistatic pairs (the first near SNP 931) and maternally imprinted loci.
    Effects are then scaled so that the additive variance (variance of the least
    squares fit of the genetic values on the causal loci' allele counts) is
    ``h2 × phenotype_variance``; the residual variance fills the rest.

    Returns
    -------
    truth : pandas.DataFrame
        One row per causal locus (:data:`TRUTH_COLUMNS`); ``effect`` and
        ``value_*`` in phenotype units, ``design_effect`` before scaling.
    genetic_value : numpy.ndarray
        Centred true genetic values.
    y : numpy.ndarray
        Phenotypes.

    Raises
    ------
    CnngwpInputError
        If the non-additive variance alone exceeds the phenotypic variance.
    """
    rng = np.random.default_rng(seed)
    n, p = genotypes.shape
    maf = minor_allele_frequency(genotypes)
    used = np.zeros(p, dtype=bool)

    def place(target: int, min_maf: float, max_maf: float = 0.5) -> int:
        pool = np.flatnonzero((maf >= min_maf) & (maf <= max_maf) & ~used)
        index = _nearest(pool, target)
        used[index] = True
        return index

    def scaled(one_based: int) -> int:
        return round((one_based - 1) * p / QTLMAS2010_N_SNPS)

    rows: list[dict] = []
    x = genotypes.astype(np.float64)
    g = np.zeros(n)
    for snp, a in zip(_MAJOR_ADDITIVE_SNPS, config.major_effects, strict=True):
        j = place(scaled(snp), 0.2)
        rows.append({"snp_index": j, "kind": "additive-major", "design_effect": a})
    for _ in range(config.n_random_qtl):
        a = rng.normal(0.0, config.random_qtl_sd)
        while abs(a) >= 2.0:
            a = rng.normal(0.0, config.random_qtl_sd)
        j = place(int(rng.integers(p)), config.common_maf)
        rows.append({"snp_index": j, "kind": "additive", "design_effect": a})
    for r in rows:
        g += r["design_effect"] * (x[:, r["snp_index"]] - 1.0)
    for pair in range(config.n_epistatic_pairs):
        first = place(scaled(_MAJOR_EPISTATIC_SNP) if pair == 0 else int(rng.integers(p)), 0.35)
        second = place(int(rng.integers(p)), 0.35)
        e = config.epistatic_effect
        g += e * (x[:, first] - 1.0) * (x[:, second] - 1.0)
        rows.append({"snp_index": first, "kind": "epistatic", "design_effect": e, "partner": second})
        rows.append({"snp_index": second, "kind": "epistatic", "design_effect": e, "partner": first})
    for _ in range(config.n_imprinted):
        j = place(int(rng.integers(p)), 0.1)
        a = config.imprinting_effect * rng.choice([-1.0, 1.0])
        g += a * paternal[:, j]
        rows.append({"snp_index": j, "kind": "imprinted", "design_effect": a})
    causal = sorted({r["snp_index"] for r in rows})
    design = np.column_stack([np.ones(n), x[:, causal]])
    fitted = design @ np.linalg.lstsq(design, g, rcond=None)[0]
    scale = np.sqrt(config.h2 * config.phenotype_variance / fitted.var())
    genetic_value = scale * (g - g.mean())
    residual_variance = config.phenotype_variance - genetic_value.var()
    if residual_variance <= 0:
        raise CnngwpInputError(
            f"genetic variance {genetic_value.var():.1f} exceeds phenotype_variance {config.phenotype_variance}; "
            "lower the epistatic or imprinting effects"
        )
    y = config.phenotype_mean + genetic_value + rng.normal(0.0, np.sqrt(residual_variance), n)
    truth = pd.DataFrame(rows).reindex(columns=list(TRUTH_COLUMNS))
    truth["effect"] = truth["design_effect"] * scale
    additive = truth["kind"].isin(["additive-major", "additive"])
    for code in range(3):
        truth.loc[additive, f"value_{code}"] = truth.loc[additive, "effect"] * (code - 1) + 0.0  # no -0.0
    truth["partner"] = truth["partner"].astype("Int64")
    truth["snp_index"] = truth["snp_index"].astype("Int64")
    return truth, genetic_value, y


def add_dominance_loci(
    data: GenotypeData,
    *,
    loci: Mapping[str, int] | None = None,
    min_maf: float | None = None,
) -> GenotypeData:
    """Add the paper's dominance, over-dominance and under-dominance loci to the trait.

    For each kind, the genotype values of :data:`DOMINANCE_VALUES` (codes 0 / 1 / 2)
    are added to the trait column and, where present, to ``genetic_value``;
    truth rows are appended. Works on any data set, the real QTLMAS2010 file too.

    Parameters
    ----------
    data
        The data set; it is not modified.
    loci
        0-based SNP column of each kind; default the paper's SNPs 9,212, 9,404
        and 9,602 (1-based), i.e. columns 9211, 9403 and 9601.
    min_maf
        If given, move each locus to the nearest SNP (not already causal) with
        at least this MAF, so its effect is visible.

    Returns
    -------
    GenotypeData
        A new data set with the modified trait and extended truth.

    Raises
    ------
    CnngwpInputError
        Unknown kind, a column outside the data, or missing calls at a locus.
    """
    if loci is None:
        loci = {kind: snp - 1 for kind, snp in PAPER_DOMINANCE_SNPS.items()}
    unknown = set(loci) - set(DOMINANCE_VALUES)
    if unknown:
        raise CnngwpInputError(f"unknown dominance kind(s) {sorted(unknown)}; expected {list(DOMINANCE_VALUES)}")
    maf = minor_allele_frequency(data.genotypes)
    taken = np.zeros(data.n_snps, dtype=bool)
    if data.truth is not None:
        taken[data.truth["snp_index"].dropna().astype(int).to_numpy()] = True
    samples = data.samples.copy()
    rows = []
    for kind, column in loci.items():
        if not 0 <= column < data.n_snps:
            raise CnngwpInputError(f"{data.source}: {kind} locus at SNP column {column} but the data have {data.n_snps}")
        if min_maf is not None:
            column = _nearest(np.flatnonzero((np.nan_to_num(maf) >= min_maf) & ~taken), column)
        codes = data.genotypes[:, column]
        if (codes < 0).any():
            raise CnngwpInputError(
                f"{data.source}: SNP column {column} ({data.snps['snp_id'].iloc[column]}) has missing calls; "
                f"a {kind} locus needs complete genotypes"
            )
        taken[column] = True
        values = np.array(DOMINANCE_VALUES[kind])
        samples[data.trait] = samples[data.trait].to_numpy() + values[codes]
        if "genetic_value" in samples.columns:
            samples["genetic_value"] = samples["genetic_value"].to_numpy() + values[codes]
        rows.append(
            {"snp_index": column, "kind": kind, "value_0": values[0], "value_1": values[1], "value_2": values[2]}
        )
    added = pd.DataFrame(rows).reindex(columns=list(TRUTH_COLUMNS))
    truth = added if data.truth is None else pd.concat([data.truth, added], ignore_index=True)
    truth["snp_index"] = truth["snp_index"].astype("Int64")
    truth["partner"] = truth["partner"].astype("Int64")
    truth["snp_id"] = data.snps["snp_id"].to_numpy()[truth["snp_index"].to_numpy(dtype=np.int64)]
    return replace(data, samples=samples, truth=truth)


def simulate_qtlmas2010(*, seed: int, config: SimulationConfig | None = None) -> GenotypeData:
    """Simulate a QTLMAS2010-like data set with the paper's three dominance loci.

    The trait column ``y`` includes the dominance loci; ``y_original`` holds
    the phenotype before the extension. No QC is applied: a few rare SNPs remain.

    Parameters
    ----------
    seed
        Seeds every random step; the same seed gives the same data.
    config
        Settings; default :class:`SimulationConfig` (the full-size population).
    """
    config = config or SimulationConfig()
    seeds = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint32)
    pedigree = simulate_pedigree(config, seed=int(seeds[0]))
    genotypes, paternal, snps = simulate_genomes(pedigree, config, seed=int(seeds[1]))
    truth, genetic_value, y = simulate_trait(genotypes, paternal, config, seed=int(seeds[2]))
    samples = pedigree.assign(y=y, y_original=y, genetic_value=genetic_value)
    data = GenotypeData(genotypes, samples, snps, trait="y", truth=truth, source=f"simulate_qtlmas2010(seed={seed})")
    p = data.n_snps  # the paper's columns where they exist, else the same fraction of the genome
    loci = {
        kind: snp - 1 if snp <= p else round((snp - 1) * p / QTLMAS2010_N_SNPS)
        for kind, snp in PAPER_DOMINANCE_SNPS.items()
    }
    return add_dominance_loci(data, loci=loci, min_maf=config.dominance_min_maf)
