"""Readers and writers: a genotype file in any format (PLINK 1 here; PLINK 2 and VCF through their modules) with
its phenotype CSV, the paper's QTLMAS2010 CSV, and simulated data folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from bed_reader import open_bed, to_bed

from cnngwp.atomic import atomic_directory
from cnngwp.data.genotypes import MISSING, GenotypeData, GenotypeFile, check_unique_ids
from cnngwp.data.pgen import is_pgen, read_pgen_genotypes
from cnngwp.data.vcf import is_vcf, read_vcf_genotypes
from cnngwp.errors import CnngwpInputError

__all__ = ["LARGEST_TRAIT_VALUE", "QTLMAS2010_GENERATION_SIZES", "read_candidates", "read_dataset",
           "read_genotype_file", "read_genotypes", "read_qtlmas_csv", "write_candidates", "write_dataset"]

#: Generation sizes of the QTLMAS2010 population (individuals 1-20, 21-470, ...).
QTLMAS2010_GENERATION_SIZES = (20, 450, 956, 900, 900)
#: The largest size a trait value may have. The models sum squares of the trait, and the tuning's Gaussian process
#: squares those sums again (it standardises validation MSEs): fourth powers of values this large, summed over a
#: hundred million animals, stay finite in float64.
LARGEST_TRAIT_VALUE = 1e50
_BED_MISSING = -127
_READ_BYTES = 2**26  # a block of the .bed read at a time
_CSV_CHUNK = 256


def _unusable_trait_values(values: np.ndarray) -> np.ndarray:
    """Positions of the values that are infinite or larger than :data:`LARGEST_TRAIT_VALUE` (NaN, a missing value,
    is left to the caller)."""
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(np.abs(values) > LARGEST_TRAIT_VALUE)


_UNUSABLE = (f"is not a finite number of usable size; expected a number between -{LARGEST_TRAIT_VALUE:g} and "
             f"{LARGEST_TRAIT_VALUE:g} (the models sum its square, and tuning squares those sums)")


def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise CnngwpInputError(f"{path}: {what} not found")
    return path


def read_qtlmas_csv(
    path: str | os.PathLike,
    *,
    generation_sizes: tuple[int, ...] | None = QTLMAS2010_GENERATION_SIZES,
) -> GenotypeData:
    """Read the layout of ``QTLMAS2010ny012.csv``, the file the paper's code reads.

    No header; column 1 the phenotype, then one column per SNP coded 0/1/2
    (``NA``, an empty field or -1 for missing). Samples get ids ``"1"``,
    ``"2"``, ... in file order and SNPs ``"snp1"``, ... with unknown map.

    Parameters
    ----------
    path
        The CSV file.
    generation_sizes
        When the file has exactly ``sum(generation_sizes)`` rows, samples are
        given consecutive generations 1, 2, ... of these sizes (QTLMAS2010:
        generations 1-4 train, 5 test). ``None`` records no generation.

    Returns
    -------
    GenotypeData
        The genotypes and the phenotype ``y``.

    Raises
    ------
    CnngwpInputError
        Missing file, ragged row, non-numeric, infinite or huge phenotype
        (:data:`LARGEST_TRAIT_VALUE`) or bad genotype code, naming the line and column.
    """
    path = _require_file(Path(path), "QTLMAS2010 CSV file")
    with path.open("rb") as handle:
        widths = [line.count(b",") + 1 for line in handle if line.strip()]
    if not widths:
        raise CnngwpInputError(f"{path}: the file is empty; expected one row per sample")
    if widths[0] < 2:
        raise CnngwpInputError(f"{path}: line 1 has 1 column; expected the phenotype then SNP columns")
    ragged = [i for i, w in enumerate(widths) if w != widths[0]]
    if ragged:
        line = ragged[0] + 1
        raise CnngwpInputError(
            f"{path}: line {line} has {widths[ragged[0]]} columns; expected {widths[0]} like line 1"
        )
    n, p = len(widths), widths[0] - 1
    genotypes = np.empty((n, p), dtype=np.int8)
    phenotype = np.empty(n, dtype=np.float64)
    reader = pd.read_csv(
        path, header=None, dtype=str, keep_default_na=False, chunksize=_CSV_CHUNK, skip_blank_lines=True
    )
    for start, chunk in zip(range(0, n, _CSV_CHUNK), reader, strict=True):
        values = chunk.to_numpy()
        pheno = pd.to_numeric(pd.Series(values[:, 0]), errors="coerce").to_numpy()
        bad = np.flatnonzero(np.isnan(pheno))
        if len(bad):
            raise CnngwpInputError(
                f"{path}: line {start + bad[0] + 1}, column 1: phenotype {values[bad[0], 0]!r} is not a number"
            )
        bad = _unusable_trait_values(pheno)
        if len(bad):
            raise CnngwpInputError(f"{path}: line {start + bad[0] + 1}, column 1: phenotype {values[bad[0], 0]!r} "
                                   f"{_UNUSABLE}")
        phenotype[start : start + len(chunk)] = pheno
        genotypes[start : start + len(chunk)] = _parse_codes(values[:, 1:], path, start)
    samples = pd.DataFrame({"y": phenotype}, index=pd.Index([str(i + 1) for i in range(n)], name="id"))
    if generation_sizes is not None and n == sum(generation_sizes):
        samples["generation"] = np.repeat(np.arange(1, len(generation_sizes) + 1), generation_sizes)
    snps = pd.DataFrame(
        {
            "snp_id": [f"snp{j + 1}" for j in range(p)],
            "chromosome": 0,
            "position": np.arange(1, p + 1),
            "allele_1": "2",
            "allele_2": "0",
        }
    )
    return GenotypeData(genotypes, samples, snps, trait="y", source=str(path))


def _parse_codes(values: np.ndarray, path: Path, first_row: int) -> np.ndarray:
    codes = np.full(values.shape, 99, dtype=np.int8)
    for text, code in (("0", 0), ("1", 1), ("2", 2), ("NA", MISSING), ("", MISSING), ("-1", MISSING)):
        codes[values == text] = code
    bad = np.argwhere(codes == 99)
    if len(bad):
        row, col = bad[0]
        raise CnngwpInputError(
            f"{path}: line {first_row + row + 1}, column {col + 2}: genotype {values[row, col]!r} "
            "is not 0, 1, 2 or missing (NA, empty, -1)"
        )
    return codes


def read_genotype_file(path: str | os.PathLike, *, dosages: bool = False) -> GenotypeFile:
    """The genotypes of a file in any format read here, chosen by its name.

    ``.vcf``, ``.vcf.gz``, ``.bcf``: VCF/BCF (:mod:`cnngwp.data.vcf`); ``.pgen`` or a prefix
    with one: PLINK 2 (:mod:`cnngwp.data.pgen`); else PLINK 1 (``.bed`` or its prefix). Every
    format gives int8 counts of ``snps.allele_1`` (PLINK's A1, VCF's ALT), missing -1.
    `dosages` reads VCF ``DS`` or PLINK 2 dosages, rounded to counts.
    """
    if is_vcf(path):
        return read_vcf_genotypes(path, dosages=dosages)
    if is_pgen(path):
        return read_pgen_genotypes(path, dosages=dosages)
    if dosages:
        raise CnngwpInputError(f"{path}: a PLINK 1 .bed holds hard calls only; dosages come from a VCF's DS field "
                               "or a PLINK 2 .pgen")
    return _read_bed(path)


def read_genotypes(
    path: str | os.PathLike,
    phenotypes: str | os.PathLike,
    *,
    trait: str,
    id_column: str | None = None,
    folds: str | os.PathLike | None = None,
    dosages: bool = False,
) -> GenotypeData:
    """Read a genotype file (PLINK 1, PLINK 2 or VCF/BCF: :func:`read_genotype_file`) and a phenotype CSV joined
    on sample id.

    Parameters
    ----------
    path
        The ``.bed`` (``.bim`` and ``.fam`` beside it), ``.pgen`` (``.pvar``, ``.psam``),
        ``.vcf``/``.vcf.gz``/``.bcf`` file, or a PLINK fileset's prefix.
    phenotypes
        CSV with one row per sample: an id column, numeric trait columns and any
        other columns (covariates). Genotyped samples without a row, or with an
        empty / ``NA`` trait value, are kept unphenotyped (trait NaN): never trained
        on or scored, predicted as selection candidates. Rows of ungenotyped ids are
        ignored.
    trait
        Column of `phenotypes` to predict.
    id_column
        Id column of `phenotypes`; default ``id`` if present, else the first column.
    folds
        Optional CSV assigning folds: columns ``fold`` and either ``id`` or
        ``row`` (0-based sample row of the genotype file); every phenotyped sample needs one.

    dosages
        Read dosages (VCF ``DS``, PLINK 2 dosages) rounded to counts instead of hard calls.

    Returns
    -------
    GenotypeData
        Genotypes count the ``.bim`` A1 allele (PLINK's ``--recode A`` coding) or the ALT allele.

    Raises
    ------
    CnngwpInputError
        Missing files or columns, duplicated ids, a non-numeric, infinite or huge
        trait value (:data:`LARGEST_TRAIT_VALUE`), no phenotyped sample at all, a
        bad fold table.
    """
    source, genotypes, iid, fam, snps = read_genotype_file(path, dosages=dosages)
    pheno_path = _require_file(Path(phenotypes), "phenotype CSV")
    samples = _join_phenotypes(pheno_path, iid, trait, id_column)
    _add_file_columns(samples, fam)
    if folds is not None:
        samples["fold"] = _read_folds(_require_file(Path(folds), "fold CSV"), iid,
                                      samples[trait].notna().to_numpy())
    return GenotypeData(genotypes, samples, snps, trait=trait, source=source)


def _add_file_columns(samples: pd.DataFrame, fam: pd.DataFrame) -> None:
    """The genotype file's own sample columns (sex; sire and dam from a .fam) where the CSV has none of that name."""
    for column in fam.columns:
        if column not in samples.columns:
            samples[column] = fam[column].to_numpy()


def _read_bed(bed: str | os.PathLike) -> GenotypeFile:
    """The .bed path, int8 codes (missing -1), sample ids, .fam columns and SNP table of a PLINK 1 fileset."""
    bed_path = Path(bed)
    if bed_path.suffix != ".bed":
        bed_path = bed_path.with_name(bed_path.name + ".bed")
    for ext in (".bed", ".bim", ".fam"):
        _require_file(bed_path.with_suffix(ext), f"PLINK {ext} file")
    try:
        with open_bed(bed_path, count_A1=True) as reader:
            genotypes = _read_bed_codes(reader)
            iid = np.array(reader.iid.astype(str).tolist(), dtype=object)
            fam = pd.DataFrame({"sex": reader.sex, "sire": reader.father, "dam": reader.mother})
            snps = pd.DataFrame({"snp_id": reader.sid.astype(str), "chromosome": reader.chromosome.astype(str),
                                 "position": reader.bp_position, "allele_1": reader.allele_1.astype(str),
                                 "allele_2": reader.allele_2.astype(str)})
    except (ValueError, OSError, IndexError) as error:
        raise CnngwpInputError(_bed_mismatch(bed_path, error)) from None
    check_unique_ids(iid, f"{bed_path.with_suffix('.fam')} (column 2)")
    return GenotypeFile(str(bed_path), genotypes, iid, fam, snps)


def _read_bed_codes(reader: open_bed) -> np.ndarray:
    """The .bed's codes as one C-ordered int8 matrix (missing -1), filled by blocks of SNPs: the reader's own
    output and the missing-call mask never exceed a block (about 64 MB), so reading peaks near the matrix's size."""
    n, p = reader.iid_count, reader.sid_count
    genotypes = np.empty((n, p), dtype=np.int8)
    step = max(1, _READ_BYTES // max(n, 1))
    for start in range(0, p, step):
        block = reader.read(index=np.s_[:, start:start + step], dtype="int8", order="C")
        block[block == _BED_MISSING] = MISSING
        genotypes[:, start:start + step] = block
    return genotypes


def _bed_mismatch(bed_path: Path, error: Exception) -> str:
    """Why a PLINK 1 fileset could not be read: the .bed's size against the .fam's and .bim's line counts."""
    def lines(path: Path) -> int:
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    n, m = lines(bed_path.with_suffix(".fam")), lines(bed_path.with_suffix(".bim"))
    expected = 3 + m * ((n + 3) // 4)
    reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return (f"{bed_path}: not a PLINK 1 .bed for {n} samples (lines of the .fam) x {m} SNPs (lines of the .bim): "
            f"expected {expected} bytes in SNP-major order, found {bed_path.stat().st_size} ({reason})")


def read_candidates(path: str | os.PathLike, covariates: str | os.PathLike | None = None, *,
                    id_column: str | None = None, dosages: bool = False) -> GenotypeData:
    """Genotyped animals to predict: a genotype file in any format read here, with an optional CSV of their
    covariates.

    Parameters
    ----------
    path
        PLINK 1 ``.bed`` (or prefix), PLINK 2 ``.pgen`` or VCF/BCF (:func:`read_genotype_file`).
    covariates
        CSV with an id column and the covariate columns a model was fitted with; joined
        on the file's sample ids (a candidate without a row gets missing values, which the
        model's design reports by sample and column).
    id_column
        Id column of `covariates`; default ``id`` if present, else the first column.

    Returns
    -------
    GenotypeData
        Trait column ``phenotype`` all missing: candidates are predicted, never scored.
    """
    source, genotypes, iid, fam, snps = read_genotype_file(path, dosages=dosages)
    samples = pd.DataFrame(index=pd.Index(iid, name="id"))
    if covariates is not None:
        path = _require_file(Path(covariates), "covariate CSV")
        table = pd.read_csv(path)
        id_column = id_column or ("id" if "id" in table.columns else str(table.columns[0]))
        if id_column not in table.columns:
            raise CnngwpInputError(f"{path}: no column {id_column!r}; columns are {list(table.columns)}")
        ids = table[id_column].astype(str)
        if ids.duplicated().any():
            raise CnngwpInputError(f"{path}: row {np.argmax(ids.duplicated().to_numpy()) + 2}: duplicated sample id "
                                   f"{ids[ids.duplicated()].iloc[0]!r} in column {id_column!r}")
        samples = table.set_axis(pd.Index(ids, name="id")).drop(columns=id_column).reindex(samples.index)
    samples["phenotype"] = np.nan
    _add_file_columns(samples, fam)
    return GenotypeData(genotypes, samples, snps, trait="phenotype", source=source)


def _join_phenotypes(path: Path, iid: np.ndarray, trait: str, id_column: str | None) -> pd.DataFrame:
    table = pd.read_csv(path)
    if id_column is None:
        id_column = "id" if "id" in table.columns else str(table.columns[0])
    for column in (id_column, trait):
        if column not in table.columns:
            raise CnngwpInputError(f"{path}: no column {column!r}; columns are {list(table.columns)}")
    ids = table[id_column].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise CnngwpInputError(
            f"{path}: row {dup.index[0] + 2}: duplicated sample id {dup.iloc[0]!r} in column {id_column!r}"
        )
    table = table.set_axis(pd.Index(ids, name="id")).drop(columns=id_column)
    table = table.reindex(pd.Index(iid, name="id"))  # genotyped samples without a row: every value missing
    values = pd.to_numeric(table[trait], errors="coerce")
    bad = np.flatnonzero((values.isna() & table[trait].notna()).to_numpy())
    if len(bad):
        raise CnngwpInputError(
            f"{path}: sample {str(iid[bad[0]])!r}, column {trait!r}: value {str(table[trait].iloc[bad[0]])!r} is not "
            "a number; expected a number, or an empty / NA field for an animal without a phenotype"
        )
    bad = _unusable_trait_values(values.to_numpy(dtype=np.float64))
    if len(bad):
        raise CnngwpInputError(f"{path}: sample {str(iid[bad[0]])!r}, column {trait!r}: value "
                               f"{str(table[trait].iloc[bad[0]])!r} {_UNUSABLE}")
    if values.isna().all():
        raise CnngwpInputError(f"{path}: none of the {len(iid)} genotyped samples has a value in column {trait!r}; "
                               f"expected phenotypes matched to the genotype file's sample ids through column "
                               f"{id_column!r}")
    table[trait] = values.astype(np.float64)
    return table


def _read_folds(path: Path, iid: np.ndarray, phenotyped: np.ndarray) -> np.ndarray:
    table = pd.read_csv(path)
    if "fold" not in table.columns or not ({"row", "id"} & set(table.columns)):
        raise CnngwpInputError(f"{path}: expected columns 'fold' and 'row' or 'id'; got {list(table.columns)}")
    if "id" in table.columns:
        key, index = "id", pd.Index(iid)
        positions = index.get_indexer(table["id"].astype(str))
    else:
        key, positions = "row", pd.to_numeric(table["row"], errors="coerce").to_numpy()
    bad = np.flatnonzero(~((positions >= 0) & (positions < len(iid))) | pd.isna(positions))
    if len(bad):
        raise CnngwpInputError(
            f"{path}: line {bad[0] + 2}, column {key!r}: {table[key].tolist()[bad[0]]!r} is not a sample of the "
            "genotype file"
        )
    folds = np.full(len(iid), -1, dtype=np.int64)
    folds[positions.astype(np.int64)] = pd.to_numeric(table["fold"], errors="raise").to_numpy()
    if (phenotyped & (folds < 0)).any():
        first = iid[np.flatnonzero(phenotyped & (folds < 0))[0]]
        raise CnngwpInputError(f"{path}: sample {first!r} has no fold; expected a non-negative fold for every "
                               "phenotyped sample")
    return folds


def write_dataset(data: GenotypeData, out_dir: str | os.PathLike, *, prefix: str = "genotypes") -> Path:
    """Write a PLINK 1 fileset, ``phenotypes.csv`` and (simulated data) ``truth.csv``.

    Files are written to a scratch folder and moved into `out_dir` only when
    all of them are complete. Genotype codes count ``allele_1`` (PLINK A1).

    Parameters
    ----------
    data
        The genotypes and phenotypes.
    out_dir
        The folder written (made if missing).
    prefix
        The PLINK files' name.

    Returns
    -------
    pathlib.Path
        Path of the written ``.bed`` file.
    """
    samples = data.samples
    iid = samples.index.astype(str).to_numpy()

    def column(name: str, default: object) -> np.ndarray:
        return samples[name].to_numpy() if name in samples.columns else np.full(len(samples), default)

    properties = {
        "fid": iid,
        "iid": iid,
        "father": column("sire", "0").astype(str),
        "mother": column("dam", "0").astype(str),
        "sex": column("sex", 0).astype(np.int32),
        "pheno": data.y.astype(np.float32),
        "chromosome": data.snps["chromosome"].astype(str).to_numpy(),
        "sid": data.snps["snp_id"].astype(str).to_numpy(),
        "cm_position": np.zeros(data.n_snps),
        "bp_position": data.snps["position"].to_numpy(dtype=np.int64),
        "allele_1": data.snps["allele_1"].astype(str).to_numpy(),
        "allele_2": data.snps["allele_2"].astype(str).to_numpy(),
    }
    values = np.where(data.genotypes == MISSING, _BED_MISSING, data.genotypes).astype(np.int8)
    with atomic_directory(out_dir) as scratch:
        to_bed(scratch / f"{prefix}.bed", values, properties=properties, count_A1=True)
        samples.rename_axis("id").to_csv(scratch / "phenotypes.csv")
        if data.truth is not None:
            data.truth.to_csv(scratch / "truth.csv", index=False)
    return Path(out_dir) / f"{prefix}.bed"


def write_candidates(data: GenotypeData, out_dir: str | os.PathLike, *, covariates: tuple[str, ...] = ()) -> Path:
    """Write animals as a genotyping lab delivers selection candidates: genotypes and pedigree, no phenotype.

    A PLINK 1 fileset plus ``phenotypes.csv`` holding only the pedigree columns, the
    `covariates` columns and an empty ``phenotype`` column, written as
    :func:`write_dataset` writes (nothing half-written). Read back with
    :func:`read_candidates` (``covariates=<folder>/phenotypes.csv``).

    Parameters
    ----------
    data
        The candidates' genotypes and pedigree.
    out_dir
        The folder written (made if missing).
    covariates
        Columns of the phenotype table written beside the pedigree (their fixed effects).

    Returns
    -------
    pathlib.Path
        Path of the written ``.bed`` file.
    """
    absent = [c for c in covariates if c not in data.samples.columns]
    if absent:
        raise CnngwpInputError(f"{data.source}: no covariate column(s) {absent}; "
                               f"columns are {list(data.samples.columns)}")
    kept = [c for c in ("sex", "sire", "dam") if c in data.samples.columns] + list(covariates)
    samples = data.samples[kept].assign(phenotype=np.nan)
    return write_dataset(
        GenotypeData(data.genotypes, samples, data.snps, trait="phenotype", source=data.source),
        out_dir,
    )


def read_dataset(
    directory: str | os.PathLike, *, trait: str = "y", prefix: str = "genotypes"
) -> GenotypeData:
    """Read a folder written by :func:`write_dataset` (e.g. by ``cnngwp simulate``).

    Parameters
    ----------
    directory
        The folder: ``<prefix>.bed/.bim/.fam`` and ``phenotypes.csv``.
    trait, prefix
        The phenotype column and the PLINK files' name.

    Returns
    -------
    GenotypeData
        The genotypes and phenotypes.
    """
    directory = Path(directory)
    data = read_genotypes(
        directory / f"{prefix}.bed", directory / "phenotypes.csv", trait=trait, id_column="id"
    )
    truth_path = directory / "truth.csv"
    truth = None
    if truth_path.is_file():
        truth = pd.read_csv(truth_path)
        truth["snp_index"] = truth["snp_index"].astype("Int64")
    return GenotypeData(
        data.genotypes, data.samples, data.snps, trait=trait, truth=truth, source=str(directory)
    )
