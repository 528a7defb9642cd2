"""The mice data of ../shared/data/mice as the mice benchmarks read it: trait Obesity.BodyLength, its 5 folds."""

from __future__ import annotations

import sys
from pathlib import Path

from cnngwp.data.catalogue import DatasetSpec, dataset_splits, load_dataset
from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.splits import Split

MICE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mice"


def mice_spec() -> DatasetSpec | None:
    """The mice data set's spec, or None (with a message on stderr) when the shared folder is absent."""
    if not (MICE / "mice.bed").is_file():
        print(f"mice data not found at {MICE}", file=sys.stderr)
        return None
    return DatasetSpec(key="mice", kind="genotypes", path=str(MICE / "mice.bed"),
                       phenotypes=str(MICE / "mice_pheno.csv"), trait="Obesity.BodyLength",
                       folds=str(MICE / "mice_folds.csv"))


def mice_folds() -> tuple[GenotypeData, list[Split]] | None:
    """The mice data (after the runs' QC) and its five fold splits, or None when the shared folder is absent."""
    spec = mice_spec()
    if spec is None:
        return None
    data = load_dataset(spec)
    return data, dataset_splits(data, spec)
