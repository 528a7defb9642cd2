"""Named data sets and their train/test splits: what a run (one data set, one fold) starts from.

Four kinds, each with its own split rule:

``simulated`` / ``folder``
    A folder written by ``cnngwp simulate`` (``qtlmas2010-sim`` is simulated on the fly
    with the default seed): train on generations 1-4, test on 5, one split ("fold 0").
``qtlmas2010-csv``
    A user's ``QTLMAS2010ny012.csv``: generations 1-4 -> 5, with the paper's dominance
    loci added unless the file already has them.
``genotypes``
    A genotype file (PLINK 1, PLINK 2 or VCF/BCF: :func:`cnngwp.data.readers.read_genotype_file`)
    plus phenotype CSV; k-fold cross-validation, one run per fold, folds from a fold CSV (or
    seeded random when none is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnngwp.data.genotypes import GenotypeData, quality_control
from cnngwp.data.readers import read_dataset, read_genotypes, read_qtlmas_csv, write_dataset
from cnngwp.data.simulate import SimulationConfig, add_dominance_loci, simulate_qtlmas2010
from cnngwp.data.splits import Split, fold_column_splits, kfold_splits, split_by_generation
from cnngwp.errors import CnngwpInputError

__all__ = ["KINDS", "DatasetSpec", "dataset_splits", "load_dataset", "select_split"]

#: The kinds of data set :class:`DatasetSpec` knows.
KINDS = ("simulated", "folder", "qtlmas2010-csv", "genotypes")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a data set comes from and how it is split.

    Parameters
    ----------
    key
        Name of the data set: the run folder is ``runs/<key>/fold-<k>/``.
    kind
        One of :data:`KINDS`.
    path
        Folder (``simulated``: where the simulation is written; ``folder``), CSV file
        (``qtlmas2010-csv``) or genotype file (``genotypes``: ``.bed`` or prefix, ``.pgen``, ``.vcf``...).
    phenotypes, trait, folds
        ``genotypes`` only: phenotype CSV, trait column, optional fold CSV.
    k
        ``genotypes`` without a fold CSV: number of seeded random folds.
    seed
        Simulation seed (``simulated``) or fold seed (``genotypes``).
    small
        ``simulated`` only: the tiny configuration (seconds; tests and smoke runs).
    dominance_in_file
        ``qtlmas2010-csv`` only: the file already holds the dominance loci.
    dosages
        ``genotypes`` only: read VCF ``DS`` or PLINK 2 dosages, rounded to counts.
    """

    key: str
    kind: str
    path: str
    phenotypes: str | None = None
    trait: str = "y"
    folds: str | None = None
    k: int = 5
    seed: int = 1
    small: bool = False
    dominance_in_file: bool = False
    dosages: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CnngwpInputError(f"data set {self.key!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "genotypes" and self.phenotypes is None:
            raise CnngwpInputError(f"data set {self.key!r}: a genotype file needs a phenotype CSV")
        if not self.key or "/" in self.key:
            raise CnngwpInputError(f"data set key must be a non-empty name without '/', got {self.key!r}")


def load_dataset(spec: DatasetSpec) -> GenotypeData:
    """Read (or simulate) the data set and drop SNPs with MAF below 0.01, as in the paper."""
    if spec.kind == "simulated":
        folder = Path(spec.path)
        if not (folder / "phenotypes.csv").exists():
            config = SimulationConfig.small() if spec.small else SimulationConfig()
            write_dataset(simulate_qtlmas2010(seed=spec.seed, config=config), folder)
        data = read_dataset(folder)
    elif spec.kind == "folder":
        data = read_dataset(spec.path, trait=spec.trait)
    elif spec.kind == "qtlmas2010-csv":
        data = read_qtlmas_csv(spec.path)
        if not spec.dominance_in_file:
            data = add_dominance_loci(data)
    else:
        data = read_genotypes(spec.path, spec.phenotypes, trait=spec.trait, folds=spec.folds, dosages=spec.dosages)
    return quality_control(data.require_varying_trait())[0]


def dataset_splits(data: GenotypeData, spec: DatasetSpec) -> list[Split]:
    """The train/test splits of the data set, in fold order."""
    if spec.kind == "genotypes":
        if spec.folds is not None:
            return fold_column_splits(data)
        return kfold_splits(data, k=spec.k, seed=spec.seed)
    return [split_by_generation(data, test_generations=(5,))]


def select_split(splits: list[Split], fold: int, spec: DatasetSpec) -> Split:
    """Split number `fold` (0-based position), with an error naming the folds there are."""
    if not 0 <= fold < len(splits):
        raise CnngwpInputError(f"data set {spec.key!r} has {len(splits)} split(s) "
                               f"({', '.join(s.name for s in splits)}); fold {fold} does not exist")
    return splits[fold]
