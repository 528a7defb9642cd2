"""One data set in memory: int8 genotypes, sample and SNP tables, QC and standardisation.

Genotypes travel as ``int8`` codes 0/1/2 (count of the counted allele) with -1 for
a missing call. Nothing here keeps a float64 copy of the whole matrix: allele
frequencies are counted in blocks and standardised values are produced batch by
batch from statistics of the training rows only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd

from cnngwp.errors import CnngwpInputError

__all__ = [
    "COLUMN_BLOCK",
    "MISSING",
    "SNP_COLUMNS",
    "GenotypeData",
    "GenotypeFile",
    "QCReport",
    "Standardizer",
    "adjacent_r2",
    "allele_counts",
    "as_genotype_codes",
    "check_genotype_codes",
    "check_unique_ids",
    "column_blocks",
    "minor_allele_frequency",
    "quality_control",
    "summarise_dataset",
]

MISSING = -1
SNP_COLUMNS = ("snp_id", "chromosome", "position", "allele_1", "allele_2")
#: SNPs per block wherever genotypes are coded one block of columns at a time (kernels, kernel products, back-solves).
COLUMN_BLOCK = 1024
_BLOCK = 4096
#: A row block holds at most this many values (a float64 block 256 MB, whatever the number of SNPs).
_BLOCK_VALUES = 2**25


def _row_block(n_columns: int) -> int:
    """Rows per block: up to 4,096, fewer when the SNPs are many, so a block's float copy stays bounded."""
    return max(1, min(_BLOCK, _BLOCK_VALUES // max(n_columns, 1)))


def column_blocks(n_columns: int) -> Iterator[slice]:
    """The slices of :data:`COLUMN_BLOCK` columns, in order, that cover `n_columns` columns."""
    return (slice(start, start + COLUMN_BLOCK) for start in range(0, n_columns, COLUMN_BLOCK))


class GenotypeFile(NamedTuple):
    """What a genotype file holds before phenotypes are joined: int8 codes counting ``snps.allele_1`` (missing
    -1), the sample ids in file order, the file's own sample columns (sex, sire, dam where it has them) and the SNP
    table (``SNP_COLUMNS``). ``source`` names the file in messages."""

    source: str
    genotypes: np.ndarray
    iid: np.ndarray
    fam: pd.DataFrame
    snps: pd.DataFrame


@dataclass(frozen=True)
class GenotypeData:
    """Genotypes, sample table and SNP map of one data set.

    Parameters
    ----------
    genotypes
        ``int8`` array (n samples × p SNPs) of 0/1/2 codes, -1 for missing.
    samples
        One row per sample, index ``id`` (strings, unique), holding the trait
        column and, where known, ``generation``, ``sex``, ``fold``,
        ``genetic_value``.
    snps
        One row per SNP with columns ``snp_id``, ``chromosome``, ``position``,
        ``allele_1``, ``allele_2``.
    trait
        Name of the column of `samples` that is the response.
    truth
        For simulated data, one row per causal locus (``snp_index``, ``kind``,
        ``effect``, ``value_0``..``value_2``, ...); ``None`` for real data.
    source
        Where the data came from, used in error messages.
    """

    genotypes: np.ndarray
    samples: pd.DataFrame
    snps: pd.DataFrame
    trait: str = "y"
    truth: pd.DataFrame | None = None
    source: str = "<memory>"

    def __post_init__(self) -> None:
        g = self.genotypes
        if not isinstance(g, np.ndarray) or g.dtype != np.int8 or g.ndim != 2:
            raise CnngwpInputError(f"{self.source}: genotypes must be a 2-D int8 array, got {type(g).__name__}")
        n, p = g.shape
        if len(self.samples) != n:
            raise CnngwpInputError(f"{self.source}: {n} genotype rows but {len(self.samples)} samples")
        if len(self.snps) != p:
            raise CnngwpInputError(f"{self.source}: {p} genotype columns but {len(self.snps)} SNPs in the map")
        missing_cols = [c for c in SNP_COLUMNS if c not in self.snps.columns]
        if missing_cols:
            raise CnngwpInputError(f"{self.source}: SNP table lacks columns {missing_cols}")
        check_unique_ids(self.samples.index, self.source)
        if self.trait not in self.samples.columns:
            raise CnngwpInputError(
                f"{self.source}: trait column {self.trait!r} not among {list(self.samples.columns)}"
            )
        check_genotype_codes(g, self.source)

    @property
    def n_samples(self) -> int:
        """Number of samples (rows)."""
        return self.genotypes.shape[0]

    @property
    def n_snps(self) -> int:
        """Number of SNPs (columns)."""
        return self.genotypes.shape[1]

    @property
    def y(self) -> np.ndarray:
        """The trait as a float64 vector (NaN for an animal without a phenotype)."""
        return self.samples[self.trait].to_numpy(dtype=np.float64)

    @property
    def phenotyped(self) -> np.ndarray:
        """True for the samples with a trait value; the others are only ever predicted."""
        return ~np.isnan(self.y)

    def require_varying_trait(self) -> GenotypeData:
        """These data, if the trait varies among the phenotyped animals (no model can be fitted otherwise).

        Raises
        ------
        CnngwpInputError
            Naming the source and the trait column, if fewer than two animals have a phenotype or all have the same.
        """
        observed = self.y[self.phenotyped]
        if len(observed) < 2:
            raise CnngwpInputError(f"{self.source}: trait column {self.trait!r} has {len(observed)} phenotyped "
                                   "animal(s); expected at least two with different values")
        if np.ptp(observed) == 0:
            raise CnngwpInputError(f"{self.source}: trait column {self.trait!r} has the same value ({observed[0]:g}) "
                                   f"for all {len(observed)} phenotyped animals; expected a trait that varies")
        return self

    @property
    def generations(self) -> np.ndarray | None:
        """Generation of each sample, or ``None`` when not recorded."""
        if "generation" not in self.samples.columns:
            return None
        return self.samples["generation"].to_numpy()

    def select_snps(self, columns: np.ndarray) -> GenotypeData:
        """Keep the SNPs at the given column indices (or boolean mask); truth is re-indexed."""
        columns = np.flatnonzero(columns) if np.asarray(columns).dtype == bool else np.asarray(columns)
        snps = self.snps.iloc[columns].reset_index(drop=True)
        truth = None
        if self.truth is not None:
            new_index = pd.Series(np.arange(len(columns)), index=columns)
            truth = self.truth.copy()
            truth["snp_index"] = truth["snp_index"].map(new_index).astype("Int64")
        return replace(self, genotypes=np.ascontiguousarray(self.genotypes[:, columns]), snps=snps, truth=truth)

    def select_samples(self, rows: np.ndarray) -> GenotypeData:
        """Keep the samples at the given row indices."""
        rows = np.asarray(rows)
        return replace(self, genotypes=self.genotypes[rows], samples=self.samples.iloc[rows])


def check_unique_ids(ids, where: str) -> None:
    """Raise if a sample id occurs twice, naming the first repeated one and `where` (a file, and its column)."""
    index = pd.Index(ids)
    duplicated = index[index.duplicated()]
    if len(duplicated):
        raise CnngwpInputError(f"{where}: duplicated sample id {duplicated[0]!r}; every sample id must be unique")


def check_genotype_codes(genotypes: np.ndarray, source: str) -> None:
    """Raise if any code is outside {0, 1, 2, -1}, naming the first bad row and column."""
    step = _row_block(genotypes.shape[1])
    for start in range(0, genotypes.shape[0], step):
        block = genotypes[start : start + step]
        bad = (block < MISSING) | (block > 2)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise CnngwpInputError(
                f"{source}: row {start + row + 1}, SNP column {col + 1}: genotype code "
                f"{int(block[row, col])} is not 0, 1, 2 or missing"
            )


def as_genotype_codes(values, what: str = "genotypes") -> np.ndarray:
    """`values` as an int8 code matrix, or an error if any value is not 0, 1, 2 or -1 (missing)."""
    array = np.asarray(values)
    codes = array.astype(np.int8, copy=False)
    if array.dtype != np.int8 and not np.array_equal(codes, array):
        row, col = np.argwhere(codes != array)[0]
        raise CnngwpInputError(
            f"{what}: row {row + 1}, SNP column {col + 1}: value {array[row, col].item()!r} is not a genotype code "
            "0, 1, 2 or -1 (missing)"
        )
    check_genotype_codes(codes, what)
    return codes


def allele_counts(genotypes: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per SNP: sum of codes and number of non-missing calls over `rows`.

    Counted in row blocks, so memory stays at a block of int64 values.
    """
    rows = np.arange(genotypes.shape[0]) if rows is None else np.asarray(rows)
    total = np.zeros(genotypes.shape[1], dtype=np.int64)
    called = np.zeros(genotypes.shape[1], dtype=np.int64)
    step = _row_block(genotypes.shape[1])
    for start in range(0, len(rows), step):
        block = genotypes[rows[start : start + step]]
        ok = block != MISSING
        total += np.where(ok, block, 0).sum(axis=0, dtype=np.int64)
        called += ok.sum(axis=0, dtype=np.int64)
    return total, called


def minor_allele_frequency(genotypes: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Minor allele frequency of each SNP over `rows`, ignoring missing calls (NaN if none called)."""
    return _minor_frequency(*allele_counts(genotypes, rows))


def _minor_frequency(total: np.ndarray, called: np.ndarray) -> np.ndarray:
    """Minor allele frequency from counted alleles and called genotypes per SNP (NaN if none called)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = total / (2.0 * called)
    return np.minimum(freq, 1.0 - freq)


@dataclass(frozen=True)
class QCReport:
    """What quality control removed or will impute."""

    n_snps_before: int
    min_maf: float
    monomorphic: list[str] = field(default_factory=list)
    low_maf: list[str] = field(default_factory=list)
    missing_calls: int = 0
    snps_with_missing: int = 0
    causal_loci_dropped: list[str] = field(default_factory=list)

    @property
    def n_snps_after(self) -> int:
        """SNPs left after QC."""
        return self.n_snps_before - len(self.monomorphic) - len(self.low_maf)

    def summary(self) -> str:
        """One paragraph for a log or notebook."""
        return (
            f"QC kept {self.n_snps_after} of {self.n_snps_before} SNPs: dropped "
            f"{len(self.monomorphic)} monomorphic and {len(self.low_maf)} with MAF < {self.min_maf}; "
            f"{self.missing_calls} missing calls in {self.snps_with_missing} SNPs are mean-imputed "
            f"(training-row means) at standardisation"
            + (f"; causal loci dropped: {self.causal_loci_dropped}" if self.causal_loci_dropped else "")
        )


def quality_control(data: GenotypeData, *, min_maf: float = 0.01) -> tuple[GenotypeData, QCReport]:
    """Drop monomorphic SNPs and SNPs with MAF below `min_maf`, as in the paper.

    Missing calls stay coded -1 in the int8 matrix and are replaced by the
    training mean when standardised (:class:`Standardizer`), which is mean
    imputation without a float copy and without test rows in the means.

    Parameters
    ----------
    data
        The genotypes and phenotypes.
    min_maf
        The smallest minor-allele frequency kept.

    Returns
    -------
    tuple
        The data with the SNPs kept, and the :class:`QCReport` of what was dropped.

    Raises
    ------
    CnngwpInputError
        If no SNP is left.
    """
    if not 0.0 <= min_maf < 0.5:
        raise CnngwpInputError(f"min_maf must be in [0, 0.5), got {min_maf}")
    total, called = allele_counts(data.genotypes)
    maf = np.nan_to_num(_minor_frequency(total, called), nan=0.0)
    mono = maf == 0.0
    low = ~mono & (maf < min_maf)
    keep = ~(mono | low)
    if not keep.any():
        raise CnngwpInputError(
            f"{data.source}: no SNP left after QC (all {data.n_snps} SNPs monomorphic or MAF < {min_maf})"
        )
    ids = data.snps["snp_id"].astype(str).to_numpy()
    dropped_causal: list[str] = []
    if data.truth is not None:
        causal = data.truth["snp_index"].dropna().astype(int).to_numpy()
        dropped_causal = [ids[i] for i in causal if not keep[i]]
    missing_per_snp = data.n_samples - called
    report = QCReport(
        n_snps_before=data.n_snps,
        min_maf=min_maf,
        monomorphic=ids[mono].tolist(),
        low_maf=ids[low].tolist(),
        missing_calls=int(missing_per_snp[keep].sum()),
        snps_with_missing=int((missing_per_snp[keep] > 0).sum()),
        causal_loci_dropped=dropped_causal,
    )
    return data.select_snps(keep), report


class Standardizer:
    """Per-column centring and scaling with statistics from training rows only.

    For ``int8`` genotype codes, missing calls (-1) are left out of the
    statistics and become 0 after standardising, i.e. the training mean. Other
    numeric arrays are standardised as they are. Columns without variation among
    the training rows are scaled by 1.

    Attributes
    ----------
    mean_ : numpy.ndarray
        float64 per-column mean over the fitted rows.
    scale_ : numpy.ndarray
        float64 per-column standard deviation (population form) over the fitted rows.
    constant_ : numpy.ndarray
        True for columns without variation among the fitted rows.
    """

    def fit(self, genotypes: np.ndarray, rows: np.ndarray | None = None, *,
            heterozygotes: bool = False) -> Standardizer:
        """Compute mean and standard deviation of each column over `rows` (all rows if None).

        ``heterozygotes=True`` (int8 codes): those of the heterozygote indicator (1 for code 1, else 0), the
        genotypic CNN's second channel; :meth:`transform` still standardises the codes themselves.
        """
        rows = np.arange(genotypes.shape[0]) if rows is None else np.asarray(rows)
        total = np.zeros(genotypes.shape[1])
        squares = np.zeros(genotypes.shape[1])
        called = np.zeros(genotypes.shape[1])
        step = _row_block(genotypes.shape[1])
        for start in range(0, len(rows), step):
            block = genotypes[rows[start : start + step]]
            ok = block != MISSING if genotypes.dtype == np.int8 else np.ones(block.shape, dtype=bool)
            values = np.where(ok, block == 1 if heterozygotes else block, 0).astype(np.float64)
            total += values.sum(axis=0)
            squares += (values * values).sum(axis=0)
            called += ok.sum(axis=0)
        called = np.maximum(called, 1)
        self.mean_ = total / called
        scale = np.sqrt(np.maximum(squares / called - self.mean_**2, 0.0))
        self.constant_ = scale <= 1e-8 * np.maximum(1.0, np.abs(self.mean_))
        scale[self.constant_] = 1.0
        self.scale_ = scale
        return self

    def block_coding(self, dtype: type = np.float32) -> Callable[[np.ndarray, slice], np.ndarray]:
        """``(block, columns) -> standardised block`` as `dtype`, for a block of the fitted columns (those in
        `columns`): the coding every column-blocked product takes (:func:`column_blocks`)."""
        return lambda block, columns: self.select_columns(columns).transform(block, dtype=dtype)

    def select_columns(self, columns: slice | np.ndarray) -> Standardizer:
        """A standardizer for a subset of the fitted columns (for column-blocked work)."""
        sub = Standardizer()
        sub.mean_, sub.scale_, sub.constant_ = self.mean_[columns], self.scale_[columns], self.constant_[columns]
        return sub

    def transform(
        self, genotypes: np.ndarray, rows: np.ndarray | None = None, *, dtype: type = np.float32, order: str = "C"
    ) -> np.ndarray:
        """Standardised values of `rows` (all rows if None), as `dtype` (float32 by default) in memory `order`.

        Block by block of rows into the result, int8 codes by a compiled loop with no float64
        intermediate (a whole-matrix NumPy expression would hold two float64 copies of the matrix;
        ``benchmarks/bench_scale.py`` measures the peak).
        """
        n_rows = genotypes.shape[0] if rows is None else len(rows)
        out = np.empty((n_rows, genotypes.shape[1]), dtype=dtype, order=order)
        step = _row_block(genotypes.shape[1])
        for start in range(0, n_rows, step):
            block = genotypes[start : start + step] if rows is None else genotypes[rows[start : start + step]]
            if genotypes.dtype == np.int8:
                _standardise_codes(block, self.mean_, self.scale_, out[start : start + step])
            else:
                out[start : start + step] = (block - self.mean_) / self.scale_
        return out

    def iter_batches(
        self, genotypes: np.ndarray, rows: np.ndarray | None = None, *, batch_size: int = 256,
        dtype: type = np.float32,
    ) -> Iterator[np.ndarray]:
        """Yield standardised batches of `rows`, in order."""
        rows = np.arange(genotypes.shape[0]) if rows is None else np.asarray(rows)
        for start in range(0, len(rows), batch_size):
            yield self.transform(genotypes, rows[start : start + batch_size], dtype=dtype)


@numba.njit(cache=True, parallel=True)
def _standardise_codes(codes, mean, scale, out):  # pragma: no cover - compiled
    """out = (codes - mean) / scale per column in float64, rounded to out's dtype; a missing call (-1) gives 0.
    The same operations as NumPy's, so the same values to the last bit, with no float64 intermediate array."""
    for i in numba.prange(codes.shape[0]):
        for j in range(codes.shape[1]):
            code = codes[i, j]
            out[i, j] = 0.0 if code == MISSING else (code - mean[j]) / scale[j]


def adjacent_r2(data: GenotypeData, *, rows: np.ndarray | None = None) -> np.ndarray:
    """Squared correlation between each pair of neighbouring SNPs on the same chromosome.

    Pairs involving a SNP without variation are NaN.

    Parameters
    ----------
    data
        The genotypes and their SNP map.
    rows
        The animals the correlations are computed on (default: all).

    Returns
    -------
    numpy.ndarray
        One r² per pair of neighbours on the same chromosome, in map order.
    """
    std = Standardizer().fit(data.genotypes, rows)
    n = data.n_samples if rows is None else len(rows)
    products = np.zeros(data.n_snps - 1, dtype=np.float64)
    for batch in std.iter_batches(data.genotypes, rows, batch_size=1024):
        products += (batch[:, :-1].astype(np.float64) * batch[:, 1:]).sum(axis=0)
    r2 = (products / n) ** 2
    chrom = data.snps["chromosome"].to_numpy()
    same = chrom[:-1] == chrom[1:]
    r2[std.constant_[:-1] | std.constant_[1:]] = np.nan
    return r2[same]


def summarise_dataset(data: GenotypeData, *, min_maf: float = 0.01) -> pd.Series:
    """Headline numbers of a data set: sizes, MAF, LD, trait mean and variance (phenotyped animals), generations.

    Parameters
    ----------
    data
        The genotypes and phenotypes.
    min_maf
        The minor-allele frequency whose SNPs are counted.

    Returns
    -------
    pandas.Series
        One number per statistic, named by the data set's source.
    """
    maf = minor_allele_frequency(data.genotypes)
    y = data.y[data.phenotyped]
    stats = {
        "samples": data.n_samples,
        "unphenotyped": int(data.n_samples - len(y)),
        "snps": data.n_snps,
        f"snps_maf_ge_{min_maf}": int((np.nan_to_num(maf) >= min_maf).sum()),
        "missing_calls": int((data.genotypes == MISSING).sum()),
        "mean_adjacent_r2": float(np.nanmean(adjacent_r2(data))),
        f"{data.trait}_mean": float(y.mean()),
        f"{data.trait}_variance": float(y.var(ddof=1)),
    }
    if "genetic_value" in data.samples.columns:
        genetic = data.samples["genetic_value"].to_numpy()[data.phenotyped]
        stats["genetic_variance_share"] = float(genetic.var(ddof=1) / y.var(ddof=1))
    if data.generations is not None:
        for generation, count in data.samples["generation"].value_counts().sort_index().items():
            stats[f"generation_{generation}"] = int(count)
    return pd.Series(stats, name=data.source)
