"""VCF and BCF input through cyvcf2 (htslib): hard calls from GT, or dosages from DS rounded to counts.

cyvcf2 is htslib's own parser, so bgzipped VCF, BCF and their indexes read as they are and a
malformed line is caught by the library that defines the format, not by hand-written parsing
(bio2zarr converts whole cohorts to Zarr, which suits a store more than one read). Genotypes
count the ALT allele (``allele_1`` = ALT, ``allele_2`` = REF), the same rule as PLINK's A1, so
a site whose REF and ALT are swapped in another file is matched and flipped by
:func:`cnngwp.models.saved_model.align_snps`. Sites with more than one ALT allele are skipped
(a count of 0/1/2 needs one), and so are sites with a ploidy other than 2.

Dosages (``DS``, the expected ALT count of imputed data) are rounded to the nearest count
because every model here takes int8 codes; a sample without a DS value is missing.
"""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from cnngwp.data.genotypes import MISSING, SNP_COLUMNS, GenotypeFile, check_unique_ids
from cnngwp.errors import CnngwpInputError

__all__ = ["VCF_SUFFIXES", "is_vcf", "read_vcf_genotypes"]

#: File names read as VCF/BCF.
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
#: cyvcf2's gt_types codes (gts012=True): hom-ref 0, het 1, hom-alt 2, unknown 3 -> ALT counts.
_GT_CODES = np.array([0, 1, 2, MISSING], dtype=np.int8)


def is_vcf(path: str | Path) -> bool:
    """Whether `path` names a VCF or BCF file by its suffix."""
    return str(path).lower().endswith(VCF_SUFFIXES)


def read_vcf_genotypes(path: str | Path, *, dosages: bool = False) -> GenotypeFile:
    """The biallelic diploid sites of a VCF/BCF as int8 ALT counts.

    Parameters
    ----------
    path
        ``.vcf``, ``.vcf.gz`` or ``.bcf``.
    dosages
        Read ``DS`` (rounded to 0/1/2) instead of ``GT``.

    Raises
    ------
    CnngwpInputError
        A missing or unreadable file, a malformed line (its line number), duplicated sample
        ids, no usable site, or ``DS`` asked for but absent at a site.
    """
    import cyvcf2

    path = Path(path)
    if not path.is_file():
        raise CnngwpInputError(f"{path}: VCF file not found")
    try:
        reader = cyvcf2.VCF(str(path), gts012=True, lazy=True)
    except (OSError, ValueError) as error:
        raise CnngwpInputError(f"{path}: not a readable VCF/BCF ({error})") from None
    header_lines = _header_lines(path)
    iid = np.array(reader.samples, dtype=object)
    columns, sites, records = [], [], 0
    try:
        for variant in reader:
            records += 1
            if len(variant.ALT) != 1 or variant.ploidy != 2:
                continue
            columns.append(_dosage_codes(variant, path, _where(header_lines, records)) if dosages else
                           _GT_CODES[variant.gt_types])
            sites.append((variant.ID or f"{variant.CHROM}:{variant.POS}:{variant.REF}:{variant.ALT[0]}",
                          str(variant.CHROM), int(variant.POS), variant.ALT[0], variant.REF))
    except Exception as error:  # cyvcf2 raises a bare Exception for htslib's parse errors
        if isinstance(error, CnngwpInputError):
            raise
        reason = str(error).splitlines()[0][:200]
        where = _where(header_lines, records + 1)  # the record after the last one read
        raise CnngwpInputError(f"{path}: {where}: not a valid VCF record ({reason})") from None
    finally:
        reader.close()
    if not columns:
        raise CnngwpInputError(f"{path}: no biallelic diploid site; expected at least one")
    check_unique_ids(iid, f"{path} (the #CHROM header line)")
    snps = pd.DataFrame(sites, columns=list(SNP_COLUMNS))
    fam = pd.DataFrame({"sex": np.zeros(len(iid), dtype=np.int64)})
    return GenotypeFile(str(path), np.ascontiguousarray(np.column_stack(columns)), iid, fam, snps)


def _header_lines(path: Path) -> int | None:
    """Lines of the file's header (``#`` lines) in a text VCF, plain or gzipped; None for BCF (no lines)."""
    if str(path).lower().endswith(".bcf"):
        return None
    opener = gzip.open if str(path).lower().endswith((".gz", ".bgz")) else open
    with opener(path, "rt", errors="replace") as handle:
        return sum(1 for _ in itertools.takewhile(lambda line: line.startswith("#"), handle))


def _where(header_lines: int | None, record: int) -> str:
    """Record `record` (1-based) named as a line of the text file, or as a record of a BCF."""
    return f"record {record}" if header_lines is None else f"line {header_lines + record}"


def _dosage_codes(variant, path: Path, where: str) -> np.ndarray:
    if "DS" not in variant.FORMAT:
        raise CnngwpInputError(f"{path}: {where}: no DS field; expected dosages at every site (or read GT)")
    values = variant.format("DS")[:, 0].astype(np.float64)
    codes = np.full(len(values), MISSING, dtype=np.int8)
    called = np.isfinite(values) & (values > -0.5)  # htslib's missing float reads as a large negative number
    codes[called] = np.clip(np.rint(values[called]), 0, 2).astype(np.int8)
    return codes
