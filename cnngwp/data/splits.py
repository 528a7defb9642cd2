"""Train/test splits and the inner validation split used for honest tuning.

Only phenotyped animals are trained on or scored. Animals without a phenotype are the
split's candidates: predicted by every model, never part of a metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cnngwp.data.genotypes import GenotypeData
from cnngwp.errors import CnngwpInputError

__all__ = ["Split", "all_phenotyped", "fold_column_splits", "kfold_splits",
           "split_by_generation", "validation_split"]


@dataclass(frozen=True)
class Split:
    """Row indices of a training and a held-out part.

    Attributes
    ----------
    train, test
        Sorted, disjoint int64 row indices of phenotyped samples.
    name
        Short label such as ``"generation-5"`` or ``"fold-2"``.
    candidates
        Rows of the samples without a phenotype (predicted, never scored).
    """

    train: np.ndarray
    test: np.ndarray
    name: str
    candidates: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def _checked(train: np.ndarray, test: np.ndarray, name: str, where: str,
             candidates: np.ndarray | None = None) -> Split:
    for part, rows in (("training", train), ("held-out", test)):
        if len(rows) < 2:
            raise CnngwpInputError(f"{where}: {name} has {len(rows)} phenotyped individual(s) in its {part} part; "
                                   "at least 2 are needed")
    candidates = np.empty(0) if candidates is None else candidates
    return Split(np.sort(train).astype(np.int64), np.sort(test).astype(np.int64), name,
                 np.sort(candidates).astype(np.int64))


def _candidates(data: GenotypeData) -> np.ndarray:
    return np.flatnonzero(~data.phenotyped)


def split_by_generation(data: GenotypeData, *, test_generations: Sequence[int] = (5,)) -> Split:
    """Train on every generation not in `test_generations`, test on those (paper: 1-4 -> 5).

    Parameters
    ----------
    data
        Genotypes and trait with a ``generation`` column.
    test_generations
        The generations scored.

    Returns
    -------
    Split
        The training, test and candidate rows (animals without a phenotype).
    """
    gen = data.generations
    if gen is None:
        raise CnngwpInputError(f"{data.source}: no 'generation' column, so a split by generation is impossible")
    is_test = np.isin(gen, list(test_generations))
    label = "generation-" + "-".join(str(g) for g in test_generations)
    ok = data.phenotyped
    return _checked(np.flatnonzero(~is_test & ok), np.flatnonzero(is_test & ok), label,
                    f"{data.source} column 'generation'", _candidates(data))


def all_phenotyped(data: GenotypeData) -> Split:
    """Every phenotyped animal for training, nothing held out; the unphenotyped ones are the candidates.

    For a final model (``cnngwp fit``): its accuracy is not measured here.
    """
    train = np.flatnonzero(data.phenotyped)
    if len(train) < 3:
        raise CnngwpInputError(f"{data.source}: {len(train)} phenotyped animal(s); at least 3 are needed to train")
    return Split(train, np.empty(0, dtype=np.int64), "all-phenotyped", _candidates(data))


def kfold_splits(data: GenotypeData, *, k: int = 5, seed: int) -> list[Split]:
    """Seeded random k-fold partition of the phenotyped samples."""
    if k < 2:
        raise CnngwpInputError(f"k must be at least 2, got {k}")
    phenotyped = np.flatnonzero(data.phenotyped)
    order = np.random.default_rng(seed).permutation(phenotyped)
    folds = np.full(data.n_samples, -1, dtype=np.int64)
    folds[order] = np.arange(len(order)) % k
    return _folds(data, folds, np.arange(k), f"{data.source} (seeded {k}-fold)")


def fold_column_splits(data: GenotypeData, *, column: str = "fold") -> list[Split]:
    """One split per distinct fold of the phenotyped samples in a user's fold column (test = that fold)."""
    if column not in data.samples.columns:
        raise CnngwpInputError(f"{data.source}: no fold column {column!r} in {list(data.samples.columns)}")
    folds = data.samples[column].to_numpy()
    return _folds(data, folds, np.unique(folds[data.phenotyped]), f"{data.source} column {column!r}")


def _folds(data: GenotypeData, folds: np.ndarray, values: np.ndarray, where: str) -> list[Split]:
    ok = data.phenotyped
    return [_checked(np.flatnonzero((folds != v) & ok), np.flatnonzero((folds == v) & ok), f"fold-{v}", where,
                     _candidates(data)) for v in values]


def validation_split(
    generations: np.ndarray | None, *, fraction: float, seed: int, rows: np.ndarray | None = None,
    n: int | None = None, where: str = "<memory>",
) -> Split:
    """Carve a validation part out of training rows, for tuning without the test set.

    With more than one generation among the rows, the youngest is the validation part
    (forward validation: it relates to the older ones as the test generation relates to the
    training set). Otherwise a seeded random `fraction` of the rows.

    Parameters
    ----------
    generations
        Generation of each row of `rows` (or of ``range(n)``), or None.
    rows
        The candidate rows; default ``range(n)``.

    Returns
    -------
    Split
        ``train`` the rows to fit on, ``test`` the validation rows; both subsets of `rows`.
    """
    rows = np.arange(n) if rows is None else np.asarray(rows)
    if generations is not None:
        generations = np.asarray(generations)
        if len(generations) != len(rows):
            raise CnngwpInputError(f"{where}: {len(generations)} generations for {len(rows)} rows; expected one each")
        if len(np.unique(generations)) > 1:
            youngest = generations.max()
            is_val = generations == youngest
            return _checked(rows[~is_val], rows[is_val], f"validation-generation-{youngest}", where)
    if not 0.0 < fraction < 1.0:
        raise CnngwpInputError(f"validation fraction must be in (0, 1), got {fraction}")
    shuffled = np.random.default_rng(seed).permutation(rows)
    n_val = max(1, round(fraction * len(rows)))
    return _checked(shuffled[n_val:], shuffled[:n_val], "validation-random", where)
