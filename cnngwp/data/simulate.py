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

import numpy as np
import pandas as pd

from cnngwp.data.genotypes import GenotypeData, minor_allele_frequency
from cnngwp.errors import CnngwpInputError

__all__ = [
    "ARCHITECTURES",
    "DOMINANCE_VALUES",
    "PAPER_DOMINANCE_SNPS",
    "QTLMAS2010_N_SNPS",
    "TRUTH_COLUMNS",
    "Population",
    "SimulationConfig",
    "add_dominance_loci",
    "realised_variance_components",
    "simulate_architecture",
    "simulate_genomes",
    "simulate_pedigree",
    "simulate_population",
    "simulate_qtlmas2010",
    "simulate_trait",
]

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
#: The genetic architectures of :class:`SimulationConfig`, in the order tables list them.
ARCHITECTURES = ("additive", "qtlmas2010", "dominance", "epistatic")
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
    architecture
        The genetic architecture of the trait (:data:`ARCHITECTURES`): ``qtlmas2010`` (the
        workshop's trait plus the paper's three dominance loci), ``additive`` (its additive
        QTLs only), ``dominance`` (those QTLs with a degree of dominance drawn per locus) or
        ``epistatic`` (those QTLs plus additive-by-additive interactions among many pairs).
    heritability
        Target of the realised heritability var(g) / var(y) in the training generations
        (all but the last): the genetic values are scaled to ``heritability ×
        phenotype_variance`` there and the residual variance fills the rest. None keeps
        ``qtlmas2010``'s original construction (``h2`` sets its additive variance before the
        dominance loci are added: the default data set) and means ``h2`` for the others.
    non_additive_share
        ``dominance`` and ``epistatic``: the share of the dominance deviations (or of the
        interactions) in the variance of the design's genetic values; the realised, classical
        dominance and epistatic variances are smaller (part of them is additive).
    dominance_degree
        ``dominance``: mean and SD of the normal degree of dominance k, the heterozygote's
        deviation d = k abs(a) (k = 1 complete dominance, k > 1 over-dominance).
    n_interacting_pairs
        ``epistatic``: pairs of loci (MAF at least 0.25) with effect e (x1 - 1)(x2 - 1), e normal.
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
    architecture: str = "qtlmas2010"
    heritability: float | None = None
    non_additive_share: float = 0.75
    dominance_degree: tuple[float, float] = (0.5, 1.0)
    n_interacting_pairs: int = 40

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise CnngwpInputError(f"architecture {self.architecture!r}: expected one of {list(ARCHITECTURES)}")
        if self.heritability is not None and not 0.0 < self.heritability < 1.0:
            raise CnngwpInputError(f"heritability {self.heritability}: expected a number between 0 and 1 (exclusive)")
        if not 0.0 <= self.non_additive_share < 1.0:
            raise CnngwpInputError(f"non_additive_share {self.non_additive_share}: expected a share in [0, 1)")

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
    import msprime  # here, not at the top: opening a run or a chapter does not load it

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
    import msprime

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
    # a founder without descendants is an isolated node: its alleles are its own mutations, not missing data
    return tables.tree_sequence().genotype_matrix(isolated_as_missing=False)


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
    import msprime

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


class _LociPlacer:
    """Puts causal loci on SNPs: the nearest unused SNP to a target within a MAF range."""

    def __init__(self, genotypes: np.ndarray):
        self.maf = minor_allele_frequency(genotypes)
        self.used = np.zeros(genotypes.shape[1], dtype=bool)
        self.p = genotypes.shape[1]

    def place(self, target: int, min_maf: float, max_maf: float = 0.5) -> int:
        pool = np.flatnonzero((self.maf >= min_maf) & (self.maf <= max_maf) & ~self.used)
        index = _nearest(pool, target)
        self.used[index] = True
        return index

    def scaled(self, one_based: int) -> int:
        """The SNP at the same fraction of the genome as QTLMAS2010's SNP `one_based`."""
        return round((one_based - 1) * self.p / QTLMAS2010_N_SNPS)


def _additive_qtls(placer: _LociPlacer, config: SimulationConfig, rng) -> list[dict]:
    """The two major QTLs (near the real SNPs 4,354 and 5,327) and the random additive QTLs."""
    rows = []
    for snp, a in zip(_MAJOR_ADDITIVE_SNPS, config.major_effects, strict=True):
        j = placer.place(placer.scaled(snp), 0.2)
        rows.append({"snp_index": j, "kind": "additive-major", "design_effect": a})
    for _ in range(config.n_random_qtl):
        a = rng.normal(0.0, config.random_qtl_sd)
        while abs(a) >= 2.0:
            a = rng.normal(0.0, config.random_qtl_sd)
        j = placer.place(int(rng.integers(placer.p)), config.common_maf)
        rows.append({"snp_index": j, "kind": "additive", "design_effect": a})
    return rows


def _qtlmas2010_design(genotypes: np.ndarray, paternal: np.ndarray, placer: _LociPlacer, config: SimulationConfig,
                       rng) -> tuple[list[dict], np.ndarray]:
    """QTLMAS2010's loci (additive QTLs, epistatic pairs, imprinted loci) and the genetic values in design units."""
    x = genotypes.astype(np.float64)
    rows = _additive_qtls(placer, config, rng)
    g = np.zeros(len(genotypes))
    for r in rows:
        g += r["design_effect"] * (x[:, r["snp_index"]] - 1.0)
    p = genotypes.shape[1]
    for pair in range(config.n_epistatic_pairs):
        first = placer.place(placer.scaled(_MAJOR_EPISTATIC_SNP) if pair == 0 else int(rng.integers(p)), 0.35)
        second = placer.place(int(rng.integers(p)), 0.35)
        e = config.epistatic_effect
        g += e * (x[:, first] - 1.0) * (x[:, second] - 1.0)
        rows.append({"snp_index": first, "kind": "epistatic", "design_effect": e, "partner": second})
        rows.append({"snp_index": second, "kind": "epistatic", "design_effect": e, "partner": first})
    for _ in range(config.n_imprinted):
        j = placer.place(int(rng.integers(p)), 0.1)
        a = config.imprinting_effect * rng.choice([-1.0, 1.0])
        g += a * paternal[:, j]
        rows.append({"snp_index": j, "kind": "imprinted", "design_effect": a})
    return rows, g


def _truth_table(rows: list[dict], scale: float) -> pd.DataFrame:
    """The truth rows with effects and genotype values scaled to phenotype units."""
    truth = pd.DataFrame(rows).reindex(columns=list(TRUTH_COLUMNS))
    truth["effect"] = truth["design_effect"] * scale
    additive = truth["kind"].isin(["additive-major", "additive"])
    for code in range(3):
        truth.loc[additive, f"value_{code}"] = truth.loc[additive, "effect"] * (code - 1) + 0.0  # no -0.0
    for code in range(3):  # loci given genotype values in design units (dominance QTLs, the paper's loci)
        given = truth[f"value_{code}"].notna() & ~additive
        truth.loc[given, f"value_{code}"] = truth.loc[given, f"value_{code}"] * scale + 0.0
    truth["partner"] = truth["partner"].astype("Int64")
    truth["snp_index"] = truth["snp_index"].astype("Int64")
    return truth


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
    n = len(genotypes)
    rows, g = _qtlmas2010_design(genotypes, paternal, _LociPlacer(genotypes), config, rng)
    causal = sorted({r["snp_index"] for r in rows})
    design = np.column_stack([np.ones(n), genotypes[:, causal].astype(np.float64)])
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
    return _truth_table(rows, scale), genetic_value, y


def _paper_dominance_columns(p: int) -> dict[str, int]:
    """The paper's three loci: its columns where they exist, else the same fraction of the genome."""
    return {kind: snp - 1 if snp <= p else round((snp - 1) * p / QTLMAS2010_N_SNPS)
            for kind, snp in PAPER_DOMINANCE_SNPS.items()}


def _dominance_locus(genotypes: np.ndarray, kind: str, column: int, maf: np.ndarray, taken: np.ndarray,
                     min_maf: float | None, *, where: str = "simulated genotypes") -> tuple[np.ndarray, dict]:
    """One of the paper's loci of `kind` at `column`, moved to the nearest SNP not `taken` with a MAF of at least
    `min_maf` where that is given: each animal's genotype value (:data:`DOMINANCE_VALUES`) and its truth row. The
    column is marked taken.

    Raises
    ------
    CnngwpInputError
        If the locus's SNP has missing calls.
    """
    if min_maf is not None:
        column = _nearest(np.flatnonzero((np.nan_to_num(maf) >= min_maf) & ~taken), column)
    codes = genotypes[:, column]
    if (codes < 0).any():
        raise CnngwpInputError(f"{where}: SNP column {column} has missing calls; a {kind} locus needs complete "
                               "genotypes")
    taken[column] = True
    values = np.array(DOMINANCE_VALUES[kind])
    return values[codes], {"snp_index": column, "kind": kind, **{f"value_{c}": values[c] for c in range(3)}}


def _scaled_to_share(additive: np.ndarray, deviation: np.ndarray, share: float, rows: np.ndarray) -> float:
    """The factor c with var(c deviation) / (var(additive) + var(c deviation)) = share on `rows`."""
    spread = deviation[rows].var()
    return float(np.sqrt(share / (1 - share) * additive[rows].var() / spread)) if spread > 0 else 0.0


def simulate_architecture(
    genotypes: np.ndarray, paternal: np.ndarray, generations: np.ndarray, config: SimulationConfig, *, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A trait of `config.architecture` with the target heritability in the training generations.

    The loci are placed as in :func:`simulate_trait` (the additive QTLs are the same SNPs
    with the same effects for a given seed, so architectures on one population differ only in
    their non-additive part). The genetic values are centred and scaled so their variance in
    the training generations (all but the last) is ``heritability × phenotype_variance``;
    the residual variance is ``(1 - heritability) × phenotype_variance``.

    Returns
    -------
    tuple
        ``(truth, genetic_value, y)`` as :func:`simulate_trait`; dominance QTLs have kind
        ``dominance-qtl`` and their genotype values in ``value_0..2``; the paper's loci keep
        their kinds.
    """
    rng = np.random.default_rng(seed)
    placer = _LociPlacer(genotypes)
    training = generations < generations.max()
    x = genotypes.astype(np.float64)
    if config.architecture == "qtlmas2010":
        rows, g = _qtlmas2010_design(genotypes, paternal, placer, config, rng)
        for kind, column in _paper_dominance_columns(genotypes.shape[1]).items():
            effect, row = _dominance_locus(genotypes, kind, column, placer.maf, placer.used, config.dominance_min_maf)
            g = g + effect
            rows.append(row)
    else:
        rows = _additive_qtls(placer, config, rng)
        g = sum(r["design_effect"] * (x[:, r["snp_index"]] - 1.0) for r in rows)
        if config.architecture == "dominance":
            mean, sd = config.dominance_degree
            degrees = rng.normal(mean, sd, len(rows))
            heterozygote = np.column_stack([genotypes[:, r["snp_index"]] == 1 for r in rows]).astype(np.float64)
            deviations = heterozygote @ (degrees * np.abs([r["design_effect"] for r in rows]))
            c = _scaled_to_share(g, deviations, config.non_additive_share, training)
            g = g + c * deviations
            for r, k in zip(rows, degrees, strict=True):
                a, d = r["design_effect"], c * k * abs(r["design_effect"])
                r.update(kind="dominance-qtl", value_0=-a, value_1=d, value_2=a)
        elif config.architecture == "epistatic":
            pairs, effects = [], rng.normal(0.0, 1.0, config.n_interacting_pairs)
            for _ in range(config.n_interacting_pairs):
                pairs.append((placer.place(int(rng.integers(placer.p)), 0.25),
                              placer.place(int(rng.integers(placer.p)), 0.25)))
            interactions = sum(e * (x[:, i] - 1.0) * (x[:, j] - 1.0) for e, (i, j) in zip(effects, pairs, strict=True))
            c = _scaled_to_share(g, interactions, config.non_additive_share, training)
            g = g + c * interactions
            for e, (i, j) in zip(effects, pairs, strict=True):
                rows.append({"snp_index": i, "kind": "epistatic", "design_effect": c * e, "partner": j})
                rows.append({"snp_index": j, "kind": "epistatic", "design_effect": c * e, "partner": i})
    h2 = config.h2 if config.heritability is None else config.heritability
    scale = float(np.sqrt(h2 * config.phenotype_variance / g[training].var()))
    genetic_value = scale * (g - g[training].mean())
    y = config.phenotype_mean + genetic_value + rng.normal(0.0, np.sqrt((1 - h2) * config.phenotype_variance),
                                                           len(g))
    return _truth_table(rows, scale), genetic_value, y


def realised_variance_components(data: GenotypeData, rows: np.ndarray | None = None) -> dict[str, float]:
    """Realised variance components of a simulated trait on `rows` (default: the training generations).

    ``additive`` is the variance of the least-squares fit of the genetic values on the causal
    loci's allele counts, ``dominance`` what their heterozygote indicators add to that fit,
    ``epistatic`` the rest of the genetic variance (interactions, imprinting), ``residual``
    the variance of phenotype minus genetic value; ``h2`` is var(g) / var(y).

    Raises
    ------
    CnngwpInputError
        If the data have no truth table or no ``genetic_value`` column.
    """
    if data.truth is None or "genetic_value" not in data.samples.columns:
        raise CnngwpInputError(f"{data.source}: realised variance components need simulated data "
                               "(a truth table and a genetic_value column)")
    if rows is None:
        generations = data.generations
        rows = np.flatnonzero(generations < generations.max())
    causal = np.unique(data.truth["snp_index"].dropna().to_numpy(dtype=np.int64))
    codes = data.genotypes[np.ix_(rows, causal)].astype(np.float64)
    g = data.samples["genetic_value"].to_numpy(dtype=np.float64)[rows]
    y = data.y[rows]

    def fitted_variance(design: np.ndarray) -> float:
        design = np.column_stack([np.ones(len(rows)), design])
        return float((design @ np.linalg.lstsq(design, g, rcond=None)[0]).var())

    additive = fitted_variance(codes)
    with_dominance = fitted_variance(np.column_stack([codes, codes == 1]))
    genetic = float(g.var())
    return {"additive": additive, "dominance": with_dominance - additive, "epistatic": genetic - with_dominance,
            "residual": float((y - g).var()), "h2": genetic / float(y.var())}


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
            raise CnngwpInputError(f"{data.source}: {kind} locus at SNP column {column} "
                                   f"but the data have {data.n_snps}")
        effect, row = _dominance_locus(data.genotypes, kind, column, maf, taken, min_maf, where=data.source)
        samples[data.trait] = samples[data.trait].to_numpy() + effect
        if "genetic_value" in samples.columns:
            samples["genetic_value"] = samples["genetic_value"].to_numpy() + effect
        rows.append(row)
    added = pd.DataFrame(rows).reindex(columns=list(TRUTH_COLUMNS))
    truth = added if data.truth is None else pd.concat([data.truth, added], ignore_index=True)
    truth["snp_index"] = truth["snp_index"].astype("Int64")
    truth["partner"] = truth["partner"].astype("Int64")
    truth["snp_id"] = data.snps["snp_id"].to_numpy()[truth["snp_index"].to_numpy(dtype=np.int64)]
    return replace(data, samples=samples, truth=truth)


@dataclass(frozen=True)
class Population:
    """A simulated population before any trait: pedigree, genotypes and the map.

    Attributes
    ----------
    pedigree
        :func:`simulate_pedigree`'s table.
    genotypes, paternal, snps
        :func:`simulate_genomes`' arrays and map.
    seed
        The seed it was simulated with.
    """

    pedigree: pd.DataFrame
    genotypes: np.ndarray
    paternal: np.ndarray
    snps: pd.DataFrame
    seed: int

    def trait(self, config: SimulationConfig, *, seed: int) -> GenotypeData:
        """A data set of this population with a trait of `config`'s architecture and heritability.

        Many traits on one population (every architecture, heritability and replicate) make
        them directly comparable; with ``architecture="qtlmas2010"`` and no ``heritability``
        it is :func:`simulate_qtlmas2010`'s trait.
        """
        source = f"simulate_qtlmas2010(seed={self.seed})"
        if config.architecture == "qtlmas2010" and config.heritability is None:
            truth, genetic_value, y = simulate_trait(
                self.genotypes, self.paternal, config, seed=seed
            )
            samples = self.pedigree.assign(y=y, y_original=y, genetic_value=genetic_value)
            data = GenotypeData(
                self.genotypes, samples, self.snps, trait="y", truth=truth, source=source
            )
            return add_dominance_loci(
                data, loci=_paper_dominance_columns(data.n_snps), min_maf=config.dominance_min_maf
            )
        truth, genetic_value, y = simulate_architecture(
            self.genotypes, self.paternal, self.pedigree["generation"].to_numpy(), config, seed=seed
        )
        truth["snp_id"] = self.snps["snp_id"].to_numpy()[
            truth["snp_index"].to_numpy(dtype=np.int64)
        ]
        return GenotypeData(
            self.genotypes,
            self.pedigree.assign(y=y, genetic_value=genetic_value),
            self.snps,
            trait="y",
            truth=truth,
            source=f"{source[:-1]}, architecture={config.architecture}, h2={config.heritability}, trait seed={seed})",
        )


def _seeds(seed: int) -> np.ndarray:
    """The pedigree, genome and trait seeds derived from one seed."""
    return np.random.SeedSequence(seed).generate_state(3, dtype=np.uint32)


def simulate_population(*, seed: int, config: SimulationConfig | None = None) -> Population:
    """The pedigree and genomes of :func:`simulate_qtlmas2010` (same seed, same animals), without a trait."""
    config = config or SimulationConfig()
    seeds = _seeds(seed)
    pedigree = simulate_pedigree(config, seed=int(seeds[0]))
    genotypes, paternal, snps = simulate_genomes(pedigree, config, seed=int(seeds[1]))
    return Population(pedigree, genotypes, paternal, snps, seed)


def simulate_qtlmas2010(*, seed: int, config: SimulationConfig | None = None) -> GenotypeData:
    """Simulate a QTLMAS2010-like data set, by default with the paper's three dominance loci.

    With the default architecture and no ``heritability``, the trait column ``y`` includes
    the dominance loci and ``y_original`` holds the phenotype before the extension (the
    book's default data set). Other architectures or a target heritability give the trait of
    :meth:`Population.trait`. No QC is applied: a few rare SNPs remain.

    Parameters
    ----------
    seed
        Seeds every random step; the same seed gives the same data.
    config
        Settings; default :class:`SimulationConfig` (the full-size population).

    Returns
    -------
    GenotypeData
        The genotypes, the trait, the pedigree and generations, and the simulated truth (genetic values).
    """
    config = config or SimulationConfig()
    return simulate_population(seed=seed, config=config).trait(config, seed=int(_seeds(seed)[2]))
