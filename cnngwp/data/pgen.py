"""PLINK 2 input (``.pgen`` with ``.pvar`` and ``.psam``) through pgenlib, PLINK 2's own reader.

Genotypes count the first ALT allele (``allele_1`` = ALT, ``allele_2`` = REF), as for VCF;
PLINK 2 stores hard calls and, optionally, dosages: with ``dosages=True`` the stored dosages
are read and rounded to counts (every model here takes int8 codes). Multi-allelic variants
(an ALT column with a comma) are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cnngwp.data.genotypes import MISSING, SNP_COLUMNS, GenotypeFile, check_unique_ids
from cnngwp.errors import CnngwpInputError

__all__ = ["is_pgen", "pgen_path", "read_pgen_genotypes"]

#: pgenlib's code for a missing hard call.
_PGEN_MISSING = -9
_BLOCK = 4096


def pgen_path(path: str | Path) -> Path:
    """The ``.pgen`` file of a fileset given by its ``.pgen`` path or its prefix."""
    path = Path(path)
    return path if path.suffix == ".pgen" else path.with_name(path.name + ".pgen")


def is_pgen(path: str | Path) -> bool:
    """Whether `path` names a PLINK 2 fileset (its ``.pgen`` file, or a prefix with one beside it)."""
    return Path(path).suffix == ".pgen" or (Path(path).suffix != ".bed" and pgen_path(path).is_file())


def _table(path: Path, what: str, first: str) -> pd.DataFrame:
    """A ``.pvar``/``.psam`` text table: ``##`` lines skipped, the ``#`` header line named without its ``#``."""
    if not path.is_file():
        raise CnngwpInputError(f"{path}: PLINK 2 {what} file not found")
    with open(path) as handle:
        skipped = 0
        for line in handle:
            if not line.startswith("##"):
                break
            skipped += 1
    if not line.startswith("#"):
        raise CnngwpInputError(f"{path}: line {skipped + 1}: expected the header line starting '#{first}'")
    table = pd.read_csv(path, sep=r"\s+", skiprows=skipped, dtype=str)
    return table.rename(columns={table.columns[0]: table.columns[0].removeprefix("#")})


def read_pgen_genotypes(path: str | Path, *, dosages: bool = False) -> GenotypeFile:
    """The biallelic variants of a PLINK 2 fileset as int8 ALT counts (missing -1).

    Raises
    ------
    CnngwpInputError
        Missing files or columns, counts that disagree between the three files, duplicated
        sample ids, no biallelic variant.
    """
    import pgenlib

    pgen = pgen_path(path)
    if not pgen.is_file():
        raise CnngwpInputError(f"{pgen}: PLINK 2 .pgen file not found")
    pvar = _table(pgen.with_suffix(".pvar"), ".pvar", "CHROM")
    psam = _table(pgen.with_suffix(".psam"), ".psam", "IID")
    for table, where, needed in ((pvar, ".pvar", ("CHROM", "POS", "ID", "REF", "ALT")), (psam, ".psam", ("IID",))):
        absent = [c for c in needed if c not in table.columns]
        if absent:
            raise CnngwpInputError(f"{pgen.with_suffix(where)}: no column(s) {absent} in the header; "
                                   f"columns are {list(table.columns)}")
    try:
        reader = pgenlib.PgenReader(bytes(pgen), raw_sample_ct=len(psam))
    except RuntimeError as error:
        raise CnngwpInputError(f"{pgen}: not a readable .pgen for the {len(psam)} samples of the .psam "
                               f"({str(error).strip()[:200]})") from None
    with reader:
        if reader.get_variant_ct() != len(pvar):
            raise CnngwpInputError(f"{pgen}: {reader.get_variant_ct()} variants but {len(pvar)} lines in the "
                                   ".pvar; expected one line per variant")
        keep = np.flatnonzero(~pvar["ALT"].str.contains(",", regex=False).to_numpy())
        if not len(keep):
            raise CnngwpInputError(f"{pgen}: no biallelic variant; expected at least one")
        genotypes = np.empty((len(psam), len(keep)), dtype=np.int8)
        for start in range(0, len(keep), _BLOCK):
            chosen = keep[start:start + _BLOCK].astype(np.uint32)
            genotypes[:, start:start + len(chosen)] = _read_block(reader, chosen, len(psam), dosages)
    iid = psam["IID"].astype(str).to_numpy().astype(object)
    check_unique_ids(iid, f"{pgen.with_suffix('.psam')} (column IID)")
    rows = pvar.iloc[keep]
    snps = pd.DataFrame({"snp_id": rows["ID"].to_numpy(), "chromosome": rows["CHROM"].to_numpy(),
                         "position": rows["POS"].astype(np.int64).to_numpy(), "allele_1": rows["ALT"].to_numpy(),
                         "allele_2": rows["REF"].to_numpy()}, columns=list(SNP_COLUMNS))
    sex = pd.to_numeric(psam["SEX"], errors="coerce").fillna(0).astype(np.int64) if "SEX" in psam else 0
    fam = pd.DataFrame({"sex": sex}, index=range(len(psam)))
    return GenotypeFile(str(pgen), genotypes, iid, fam, snps)


def _read_block(reader, variants: np.ndarray, n_samples: int, dosages: bool) -> np.ndarray:
    """Samples x variants int8 ALT counts of some variants."""
    if dosages:
        values = np.empty((len(variants), n_samples), dtype=np.float64)
        reader.read_dosages_list(variants, values)
        codes = np.where(np.isnan(values) | (values < 0), MISSING, np.clip(np.rint(values), 0, 2))
        return codes.T.astype(np.int8)
    values = np.empty((len(variants), n_samples), dtype=np.int8)
    reader.read_list(variants, values)
    values[values == _PGEN_MISSING] = MISSING
    return values.T
