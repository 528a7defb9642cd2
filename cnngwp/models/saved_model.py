"""A trained model as a folder: save it, load it, apply it to new genotypes (selection candidates).

A model folder holds::

    model.json          what the model is: trait, gamma, training settings and protocol, the covariate
                        design, each member's trait scaling, the baselines' variance components
    snps.csv            the SNPs in the networks' input order: id, chromosome, position, alleles
                        (codes count allele_1)
    members/            every ensemble member's network in Keras' own format (member-NN.keras); each
                        holds its genotype (and covariate) standardisation
    baselines/          one .npz per baseline (GBLUP, GDBLUP, EGBLUP, RKHS, BLASSO): intercept, fixed effects,
                        SNP statistics, variance components and the model's SNP effects (EGBLUP, RKHS:
                        kernel weights and the training genotypes)
    backbone/           the backbone model's CNN members (member-NN.keras), fitted to the out-of-fold
                        residual of its kernel (one of the baselines, named in model.json)

``model.json`` also holds the stack's weights by model name (:class:`cnngwp.models.stack.ModelStack`).

Candidates' SNPs are matched to the model's by id (:func:`align_snps`): a SNP whose
alleles are swapped in the candidate file has its codes flipped, a SNP the candidates
lack is mean-imputed (its standardised value is 0, the training mean), and SNPs the model
does not know are ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cnngwp import __version__
from cnngwp.atomic import json_scalar, replace_directory
from cnngwp.data.covariates import CovariateDesign
from cnngwp.data.genotypes import MISSING, SNP_COLUMNS, GenotypeData
from cnngwp.errors import CnngwpInputError
from cnngwp.models.backbone import KernelBackboneCNN
from cnngwp.models.baselines import BASELINE_MODELS
from cnngwp.models.metrics import member_interval
from cnngwp.models.names import CNN_ENSEMBLE, STACK, backbone_name
from cnngwp.models.stack import ModelStack

if TYPE_CHECKING:
    import keras

__all__ = ["MAX_MISSING_SNPS", "MODEL_FORMAT", "BackboneNetworks", "GenomicModel", "SnpAlignment", "align_snps",
           "keras_archive", "load_model", "network_from_archive", "save_network"]

MODEL_FORMAT = 1
#: Default largest share of the model's SNPs that candidates may lack (mean-imputed).
MAX_MISSING_SNPS = 0.05


def _network_predictions(networks: list[keras.Model], codes: np.ndarray, design: np.ndarray | None,
                         target_scaling) -> np.ndarray:
    """The networks' predictions (S, n) in the trait's units. The CNN modules are imported here, not with this
    module, so a command that only names this module's settings (``cnngwp --help``, ``summary``) loads no
    framework; loading a model folder loads Keras for its networks."""
    from cnngwp.models.cnn.estimator import NetworkInputs, network_predictions

    return network_predictions(networks, NetworkInputs(codes, design), target_scaling)


def _read_network(path: Path) -> keras.Model:
    """:func:`cnngwp.models.cnn.network.load_network`, imported as :func:`_network_predictions` imports: loading a
    network is what loads Keras and registers the package's layers, in whatever process reads it."""
    from cnngwp.models.cnn.network import load_network

    return load_network(path)


def save_network(model: keras.Model, path: Path) -> None:
    """Write one network in Keras' own ``.keras`` format.

    Keras' TensorFlow backend turns each variable into an array with ``np.array(variable)``,
    and TensorFlow's variables do not take NumPy 2's ``copy`` keyword, so NumPy warns once
    per variable about TensorFlow's code; that one message is silenced here, nothing else.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        model.save(path)


def keras_archive(model: keras.Model) -> bytes:
    """One network in Keras' own ``.keras`` format, as bytes (what ensemble tasks send back)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "network.keras"
        save_network(model, path)
        return path.read_bytes()


def network_from_archive(archive: bytes) -> keras.Model:
    """The inverse of :func:`keras_archive`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "network.keras"
        path.write_bytes(archive)
        return _read_network(path)


@dataclass(frozen=True)
class SnpAlignment:
    """Candidates' genotypes in the model's SNP order, and how they were matched.

    Attributes
    ----------
    codes
        int8 codes (candidates x model SNPs) counting the model's allele_1; missing SNPs -1.
    flipped
        Ids of the SNPs whose alleles were swapped in the candidate file (codes flipped).
    missing
        Ids of the model's SNPs the candidate file lacks (mean-imputed).
    extra
        How many SNPs of the candidate file the model does not use.
    """

    codes: np.ndarray
    flipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: int = 0

    def summary(self) -> str:
        """One line for a log."""
        p = self.codes.shape[1]
        return (f"{p - len(self.missing)} of {p} model SNPs matched by id ({len(self.flipped)} with swapped alleles, "
                f"codes flipped); {len(self.missing)} missing, mean-imputed; {self.extra} extra SNPs ignored")


def align_snps(model_snps: pd.DataFrame, data: GenotypeData, *, max_missing: float = MAX_MISSING_SNPS) -> SnpAlignment:
    """Match the SNPs of `data` to the model's by id; flip swapped alleles; mean-impute missing SNPs.

    Raises
    ------
    CnngwpInputError
        Duplicated SNP ids in the candidate file; a SNP whose alleles differ from the
        model's other than by a swap; more than `max_missing` of the model's SNPs missing
        (naming how many and the first few ids).
    """
    if not 0.0 <= max_missing <= 1.0:
        raise CnngwpInputError(
            f"the largest share of missing SNPs must be between 0 and 1 (e.g. 0.05), got {max_missing}"
        )
    ids = data.snps["snp_id"].astype(str)
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise CnngwpInputError(f"{data.source}: SNP id {duplicated.iloc[0]!r} appears twice; SNPs are matched by id")
    position = pd.Series(np.arange(len(ids)), index=ids.to_numpy()).reindex(model_snps["snp_id"].astype(str)).to_numpy()
    found = ~np.isnan(position)
    column = np.where(found, position, 0).astype(np.int64)
    missing = model_snps["snp_id"].astype(str).to_numpy()[~found].tolist()
    share = len(missing) / len(model_snps)
    if share > max_missing:
        raise CnngwpInputError(
            f"{data.source}: {len(missing)} of the model's {len(model_snps)} SNPs ({share:.1%}) are not in the file, "
            f"first {missing[:5]}; at most {max_missing:.0%} may be missing (they are mean-imputed)"
        )
    model_a1 = model_snps["allele_1"].astype(str).to_numpy()
    model_a2 = model_snps["allele_2"].astype(str).to_numpy()
    their_a1 = data.snps["allele_1"].astype(str).to_numpy()[column]
    their_a2 = data.snps["allele_2"].astype(str).to_numpy()[column]
    same = (their_a1 == model_a1) & (their_a2 == model_a2)
    swapped = ~same & (their_a1 == model_a2) & (their_a2 == model_a1)
    clash = found & ~same & ~swapped
    if clash.any():
        first = np.flatnonzero(clash)[:3]
        details = ", ".join(
            f"{model_snps['snp_id'].iloc[j]} ({their_a1[j]}/{their_a2[j]} in the file, "
            f"{model_a1[j]}/{model_a2[j]} in the model)"
            for j in first
        )
        raise CnngwpInputError(
            f"{data.source}: {int(clash.sum())} SNP(s) have other alleles than the model's: "
            f"{details}; expected the same alleles, possibly swapped"
        )
    codes = np.full((data.n_samples, len(model_snps)), MISSING, dtype=np.int8)
    block = data.genotypes[:, column[found]]
    flip = swapped[found]
    codes[:, found] = np.where(flip & (block != MISSING), 2 - block, block)
    flipped = model_snps["snp_id"].astype(str).to_numpy()[found & swapped].tolist()
    return SnpAlignment(codes, flipped, missing, int(data.n_snps - found.sum()))


@dataclass(frozen=True)
class BackboneNetworks:
    """The backbone model's CNN part: networks fitted to the out-of-fold residual of the baseline `kernel`.

    The backbone model predicts ``baselines[kernel]`` plus these networks' mean.
    """

    kernel: str
    networks: list
    target_scaling: list[tuple[float, float]]

    @property
    def name(self) -> str:
        return backbone_name(self.kernel)


class GenomicModel:
    """A trained CNN ensemble, its baselines, the backbone model and the stack, ready to predict new animals.

    Built from a run (:mod:`cnngwp.runs.workflow`) or from fitted estimators
    (:meth:`from_estimators`), written with :meth:`save` and read back with
    :func:`load_model`.

    Parameters
    ----------
    snps
        The SNPs in the networks' input order (columns ``snp_id``, ``chromosome``,
        ``position``, ``allele_1``, ``allele_2``; codes count allele_1).
    networks
        The ensemble members (Keras networks on the trait rescaled to SD 10).
    target_scaling
        Per member, the (mean, SD) of the trait its outputs are transformed back with.
    baselines
        Fitted baseline estimators by name (:func:`cnngwp.models.baselines.registry.baseline_models`).
    covariates
        The fixed-effect design, or None.
    record
        What the model was trained with (trait, gamma, training, protocol, ...).
    backbone
        The backbone model's networks, or None.
    stack
        The stack's weights over the models above (by name), or None.
    """

    def __init__(
        self,
        *,
        snps: pd.DataFrame,
        networks: list[keras.Model],
        target_scaling: list[tuple[float, float]],
        baselines: dict,
        covariates: CovariateDesign | None,
        record: dict,
        backbone: BackboneNetworks | None = None,
        stack: ModelStack | None = None,
    ):
        self.snps = snps.loc[:, list(SNP_COLUMNS)].reset_index(drop=True)
        self.networks = networks
        self.target_scaling = [(float(m), float(s)) for m, s in target_scaling]
        self.baselines = baselines
        self.covariates = covariates
        self.record = record
        self.backbone = backbone
        self.stack = stack

    @classmethod
    def from_estimators(
        cls,
        cnn,
        baselines: dict,
        *,
        snps: pd.DataFrame,
        covariates: CovariateDesign | None = None,
        record: dict | None = None,
    ) -> GenomicModel:
        """From a fitted :class:`cnngwp.models.cnn.estimator.CNNGWPRegressor` and fitted baselines on the same SNPs."""
        return cls(
            snps=snps,
            networks=list(cnn.members_),
            target_scaling=[(cnn.y_mean_, cnn.y_scale_)] * len(cnn.members_),
            baselines=baselines,
            covariates=covariates,
            record={"filters": cnn.filters, "kernel_size": cnn.kernel_size, "l1": cnn.l1, **(record or {})},
        )

    # --- applying the model -------------------------------------------------------------------------------------
    def inputs(
        self,
        data: GenotypeData | np.ndarray,
        *,
        max_missing: float = MAX_MISSING_SNPS,
        covariates: pd.DataFrame | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, SnpAlignment | None]:
        """Codes in the model's SNP order and the covariate design for `data`.

        `data` is a :class:`cnngwp.data.genotypes.GenotypeData` (SNPs matched by id, covariates read from its
        sample table), or an int8 code matrix already in the model's SNP order with the
        covariate columns in `covariates` (a table with one row per animal).
        """
        if isinstance(data, GenotypeData):
            alignment = align_snps(self.snps, data, max_missing=max_missing)
            table, source = data.samples, data.source
        else:
            codes = np.asarray(data)
            if codes.ndim != 2 or codes.shape[1] != len(self.snps):
                raise CnngwpInputError(
                    f"genotypes: expected {len(self.snps)} SNP columns in the model's order; got shape {codes.shape}"
                )
            alignment, table, source = SnpAlignment(codes.astype(np.int8)), covariates, "covariates"
        design = None
        if self.covariates is not None:
            if table is None:
                raise CnngwpInputError(
                    f"the model was fitted with covariates {list(self.covariates.columns)}; give them for every animal"
                )
            design = self.covariates.transform(table, source=source)
        return alignment.codes, design, alignment

    def predict_members(self, data, **options) -> np.ndarray:
        """Every member's prediction, shape (S, n); `data` and options as for :meth:`inputs`."""
        codes, design, _ = self.inputs(data, **options)
        return _network_predictions(self.networks, codes, design, self.target_scaling)

    def predict(self, data, **options) -> np.ndarray:
        """The model-averaged CNN prediction."""
        return self.predict_members(data, **options).mean(axis=0)

    def prediction_interval(self, data, *, level: float = 0.9, **options) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles of the members' predictions (the spread of the averaged model)."""
        return member_interval(self.predict_members(data, **options), level=level)

    def predict_baselines(self, data, **options) -> pd.DataFrame:
        """Each baseline's predictions, one column each."""
        codes, design, _ = self.inputs(data, **options)
        return pd.DataFrame({name: model.predict(codes, covariates=design) for name, model in self.baselines.items()})

    def predict_models(self, data, **options) -> pd.DataFrame:
        """Every model's prediction, one column each: the CNN ensemble, each baseline, the backbone model and the
        stack (where the model has them)."""
        codes, design, _ = self.inputs(data, **options)
        members = _network_predictions(self.networks, codes, design, self.target_scaling)
        return self._model_predictions(codes, design, members)

    def _model_predictions(self, codes: np.ndarray, design, members: np.ndarray) -> pd.DataFrame:
        table = pd.DataFrame({CNN_ENSEMBLE: members.mean(axis=0), **{
            name: model.predict(codes, covariates=design) for name, model in self.baselines.items()}})
        if self.backbone is not None:
            top = _network_predictions(self.backbone.networks, codes, None, self.backbone.target_scaling)
            table[self.backbone.name] = KernelBackboneCNN.combine(table[self.backbone.kernel], top.mean(axis=0))
        if self.stack is not None:
            table[STACK] = self.stack.predict(table)
        return table

    def predict_table(
        self, data: GenotypeData, *, level: float = 0.9, ascending: bool = False, max_missing: float = MAX_MISSING_SNPS
    ) -> tuple[pd.DataFrame, SnpAlignment]:
        """One row per animal: ensemble prediction, its interval, each baseline's, the backbone model's and the
        stack's (where the model has them), and the rank (1 = best).

        Ranks follow the ensemble prediction, highest first (lowest with `ascending`).
        """
        codes, design, alignment = self.inputs(data, max_missing=max_missing)
        members = _network_predictions(self.networks, codes, design, self.target_scaling)
        lower, upper = member_interval(members, level=level)
        percent = f"{round(level * 100):d}"
        table = pd.DataFrame(
            {
                "id": data.samples.index.astype(str),
                "prediction": members.mean(axis=0),
                f"lower_{percent}": lower,
                f"upper_{percent}": upper,
            }
        )
        others = self._model_predictions(codes, design, members).drop(columns=CNN_ENSEMBLE)
        table[others.columns] = others.to_numpy()
        table["rank"] = table["prediction"].rank(ascending=ascending, method="min").astype(int)
        return table, alignment

    # --- the folder -------------------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        """Write the model folder; an existing folder is replaced only once the new one is complete."""
        members = []
        with replace_directory(folder) as scratch:
            (scratch / "members").mkdir()
            (scratch / "baselines").mkdir()
            backbone = None
            if self.backbone is not None:
                (scratch / "backbone").mkdir()
                backbone = {"kernel": self.backbone.kernel, "members": []}
                for m, (network, (mean, scale)) in enumerate(zip(self.backbone.networks, self.backbone.target_scaling,
                                                                 strict=True)):
                    name = f"backbone/member-{m:02d}.keras"
                    save_network(network, scratch / name)
                    backbone["members"].append({"file": name, "trait_mean": mean, "trait_sd": scale})
            for m, (network, (mean, scale)) in enumerate(zip(self.networks, self.target_scaling, strict=True)):
                name = f"members/member-{m:02d}.keras"
                save_network(network, scratch / name)
                members.append({"file": name, "trait_mean": mean, "trait_sd": scale})
            baselines = {}
            for name, model in self.baselines.items():
                path = f"baselines/{name}.npz"
                model.save_state(scratch / path)
                baselines[name] = {"file": path, "class": type(model).__name__}
            self.snps.to_csv(scratch / "snps.csv", index=False)
            record = {
                "format": MODEL_FORMAT,
                "cnngwp_version": __version__,
                **self.record,
                "members": members,
                "baselines": baselines,
                "covariates": None if self.covariates is None else self.covariates.to_dict(),
                "backbone": backbone,
                "stack": None if self.stack is None else self.stack.to_dict(),
            }
            (scratch / "model.json").write_text(json.dumps(record, indent=2, default=json_scalar))
        return Path(folder)


def _load_member(path: Path) -> keras.Model:
    """One member's network from the model folder, or an error naming the file."""
    if not path.is_file():
        raise CnngwpInputError(f"{path}: member network missing; expected the Keras file 'cnngwp fit' wrote there")
    try:
        return _read_network(path)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CnngwpInputError(
            f"{path}: not a readable Keras network ({reason[:200]}); the model folder is damaged, "
            "write it again with 'cnngwp fit'"
        ) from None


def load_model(folder: str | os.PathLike) -> GenomicModel:
    """Read a model folder written by :meth:`GenomicModel.save` (``cnngwp fit``, a run's ``model/``).

    Parameters
    ----------
    folder
        The model folder.

    Returns
    -------
    GenomicModel
        The trained model, ready to predict.

    Raises
    ------
    CnngwpInputError
        If the folder is not a model folder or was written in another format.
    """
    folder = Path(folder)
    path = folder / "model.json"
    if not path.is_file():
        raise CnngwpInputError(
            f"{folder}: not a model folder (no model.json); expected a folder written by 'cnngwp fit' or a run's model/"
        )
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CnngwpInputError(f"{path}: not valid JSON ({error}); the model folder is damaged, write it again with "
                               "'cnngwp fit'") from None
    required = ("format", "members", "baselines", "covariates")
    if not isinstance(record, dict) or not set(required) <= set(record):
        raise CnngwpInputError(f"{path}: expected a model record (a JSON object with the keys {', '.join(required)}); "
                               "the model folder is damaged, write it again with 'cnngwp fit'")
    if record.get("format") != MODEL_FORMAT:
        raise CnngwpInputError(
            f"{path}: model format {record.get('format')!r}; this cnngwp reads format {MODEL_FORMAT}"
        )
    networks = [_load_member(folder / m["file"]) for m in record["members"]]
    scaling = [(m["trait_mean"], m["trait_sd"]) for m in record["members"]]
    baselines = {}
    for name, entry in record["baselines"].items():
        baselines[name] = BASELINE_MODELS[name].load_state(folder / entry["file"])
    snps = pd.read_csv(folder / "snps.csv", dtype={"snp_id": str, "chromosome": str, "allele_1": str, "allele_2": str})
    covariates = None if record["covariates"] is None else CovariateDesign.from_dict(record["covariates"])
    backbone = record.get("backbone")  # folders written before the backbone model have none
    if backbone is not None:
        backbone = BackboneNetworks(backbone["kernel"], [_load_member(folder / m["file"]) for m in backbone["members"]],
                                    [(m["trait_mean"], m["trait_sd"]) for m in backbone["members"]])
    stack = None if record.get("stack") is None else ModelStack.from_dict(record["stack"])
    kept = {k: v for k, v in record.items()
            if k not in ("members", "baselines", "covariates", "format", "backbone", "stack")}
    return GenomicModel(snps=snps, networks=networks, target_scaling=scaling, baselines=baselines,
                        covariates=covariates, record=kept, backbone=backbone, stack=stack)
