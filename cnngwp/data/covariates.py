"""Fixed-effect covariates (sex, litter, batch, ...): from columns of the sample table to a design matrix.

A :class:`CovariateDesign` is fitted on the training animals: a categorical column
becomes one 0/1 column per level but the first (sorted) one, the reference, absorbed
by the intercept; a numeric column enters as it is. Every model takes the same design
beside its own intercept: GBLUP and the Bayesian LASSO as fixed effects (GLS under
REML; a flat prior, as BGLR's ``FIXED``), the CNN as an unpenalised linear term beside
its output layer. The design travels with a saved model, so candidates are coded with
the training animals' levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnngwp.data.genotypes import GenotypeData
from cnngwp.data.splits import Split
from cnngwp.errors import CnngwpInputError

__all__ = ["CovariateDesign", "as_covariate_matrix", "check_full_rank", "covariate_design", "parse_columns"]


def parse_columns(text: str) -> tuple[str, ...]:
    """``"GENDER, Litter"`` -> ``("GENDER", "Litter")``; empty text gives no column."""
    columns = tuple(part.strip() for part in text.split(",") if part.strip())
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise CnngwpInputError(f"covariates: column(s) {duplicated} given twice in {text!r}")
    return columns


@dataclass(frozen=True)
class CovariateDesign:
    """How the covariate columns of a sample table become fixed-effect columns.

    Attributes
    ----------
    columns
        The sample-table columns, in the order given.
    categorical
        Those of `columns` coded as factors.
    levels
        Per categorical column, its levels among the training animals (sorted, as text);
        the first is the reference level.
    """

    columns: tuple[str, ...]
    categorical: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]

    @classmethod
    def fit(cls, samples: pd.DataFrame, columns: tuple[str, ...], categorical: tuple[str, ...] = (), *,
            rows: np.ndarray | None = None, source: str = "<memory>") -> CovariateDesign:
        """Levels of the categorical columns among `rows` of `samples` (all rows if None).

        Raises
        ------
        CnngwpInputError
            A column that is not in the table, a categorical column not among `columns`,
            a missing value, a non-numeric value in a numeric column, or a categorical
            column with a single level among the training animals.
        """
        unknown = [c for c in categorical if c not in columns]
        if unknown:
            raise CnngwpInputError(f"categorical column(s) {unknown} are not among the covariates {list(columns)}")
        absent = [c for c in columns if c not in samples.columns]
        if absent:
            raise CnngwpInputError(f"{source}: no covariate column(s) {absent}; columns are {list(samples.columns)}")
        table = samples if rows is None else samples.iloc[np.asarray(rows)]
        design = cls(tuple(columns), tuple(categorical), {})
        design._check_values(table, source)
        levels = {}
        for column in categorical:
            found = tuple(sorted(set(_as_text(table[column]))))
            if len(found) < 2:
                raise CnngwpInputError(f"{source}: categorical covariate {column!r} has the single level {found} "
                                       "among the training animals; it cannot be estimated beside the intercept")
            levels[column] = found
        return cls(tuple(columns), tuple(categorical), levels)

    @property
    def names(self) -> list[str]:
        """The design columns' names, ``GENDER[M]`` for a level and the column name for a numeric covariate."""
        names = []
        for column in self.columns:
            if column in self.levels:
                names += [f"{column}[{level}]" for level in self.levels[column][1:]]
            else:
                names.append(column)
        return names

    def transform(self, samples: pd.DataFrame, *, source: str = "<memory>") -> np.ndarray:
        """The design matrix (float64, one row per sample, :attr:`names` as columns).

        Raises
        ------
        CnngwpInputError
            A missing column, a missing or non-numeric value, or a level the training
            animals did not have, naming the sample and column.
        """
        absent = [c for c in self.columns if c not in samples.columns]
        if absent:
            raise CnngwpInputError(f"{source}: the model was fitted with covariate(s) {list(self.columns)}; "
                                   f"missing column(s) {absent}")
        self._check_values(samples, source)
        parts = []
        for column in self.columns:
            if column in self.levels:
                text = _as_text(samples[column])
                unseen = ~text.isin(self.levels[column])
                if unseen.any():
                    raise CnngwpInputError(
                        f"{source}: sample {str(samples.index[np.argmax(unseen.to_numpy())])!r}, covariate {column!r}: "
                        f"level {text[unseen].iloc[0]!r} was not among the training animals' levels "
                        f"{list(self.levels[column])}")
                parts += [(text == level).to_numpy(dtype=np.float64) for level in self.levels[column][1:]]
            else:
                parts.append(pd.to_numeric(samples[column]).to_numpy(dtype=np.float64))
        return np.column_stack(parts) if parts else np.empty((len(samples), 0))

    def for_rows(self, data, rows: np.ndarray) -> np.ndarray:
        """The design of `rows` of a :class:`cnngwp.data.genotypes.GenotypeData`'s sample table."""
        return self.transform(data.samples.iloc[np.asarray(rows)], source=data.source)

    def _check_values(self, table: pd.DataFrame, source: str) -> None:
        for column in self.columns:
            values = table[column]
            if values.isna().any():
                sample = table.index[np.argmax(values.isna().to_numpy())]
                raise CnngwpInputError(f"{source}: sample {str(sample)!r}, covariate {column!r}: value is missing; "
                                       "covariates must be known for every animal that is fitted or predicted")
            if column not in self.categorical:
                numbers = pd.to_numeric(values, errors="coerce")
                if numbers.isna().any():
                    at = np.argmax(numbers.isna().to_numpy())
                    raise CnngwpInputError(
                        f"{source}: sample {str(table.index[at])!r}, covariate {column!r}: {values.iloc[at]!r} is "
                        "not a number; declare the column categorical if it holds levels")

    def to_dict(self) -> dict:
        """JSON-ready record (saved with a model)."""
        return {"columns": list(self.columns), "categorical": list(self.categorical),
                "levels": {c: list(v) for c, v in self.levels.items()}, "names": self.names}

    @classmethod
    def from_dict(cls, record: dict) -> CovariateDesign:
        """The inverse of :meth:`to_dict`."""
        return cls(tuple(record["columns"]), tuple(record["categorical"]),
                   {c: tuple(v) for c, v in record["levels"].items()})


def _as_text(values: pd.Series) -> pd.Series:
    """Levels as text; whole numbers read as floats (2.0) are written as integers (2)."""
    def text(value) -> str:
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value)
    return values.map(text)


def as_covariate_matrix(covariates, n: int, *, fitted: int | None = None) -> np.ndarray:
    """An estimator's `covariates` argument as a float64 n x q matrix (q = 0 for None).

    Raises
    ------
    ValueError
        Another number of rows than `n`, a missing or infinite value, or (with `fitted`)
        another number of columns than the model was fitted with.
    """
    if covariates is None:
        matrix = np.empty((n, 0))
    else:
        matrix = np.asarray(covariates, dtype=np.float64)
        matrix = matrix.reshape(-1, 1) if matrix.ndim == 1 else matrix
        if matrix.ndim != 2 or len(matrix) != n:
            raise ValueError(f"covariates: expected an array with {n} rows (one per row of X); got shape "
                             f"{np.shape(covariates)}")
        if not np.isfinite(matrix).all():
            raise ValueError("covariates: missing or infinite values; every row needs every covariate")
    if fitted is not None and matrix.shape[1] != fitted:
        raise ValueError(f"the model was fitted with {fitted} covariate column(s); got {matrix.shape[1]}")
    return matrix


def check_full_rank(design: np.ndarray, *, names: list[str] | None = None) -> None:
    """Raise unless the intercept and the columns of `design` are linearly independent.

    Raises
    ------
    CnngwpInputError
        Naming the columns when some are collinear (e.g. a numeric covariate constant
        among the training animals, or two columns that code the same grouping).
    """
    full = np.column_stack([np.ones(len(design)), design])
    if np.linalg.matrix_rank(full) < full.shape[1]:
        label = names if names is not None else [f"column {j + 1}" for j in range(design.shape[1])]
        raise CnngwpInputError(f"covariates {label}: the intercept and these columns are linearly dependent among "
                               "the training animals (a constant column, or two columns coding the same thing)")


def covariate_design(data: GenotypeData, split: Split, covariates: tuple[str, ...] = (),
                     categorical: tuple[str, ...] = ()) -> CovariateDesign | None:
    """The fixed-effect design of `covariates` (columns of the sample table) fitted on the training rows, or None."""
    if not covariates:
        if categorical:
            raise CnngwpInputError(f"categorical columns {list(categorical)} given without covariates")
        return None
    return CovariateDesign.fit(data.samples, tuple(covariates), tuple(categorical), rows=split.train,
                               source=data.source)
