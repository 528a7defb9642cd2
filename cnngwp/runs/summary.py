"""What a run folder's ``summary.json`` holds, as typed fields: written by a run, read by the reports and chapter 6.

A run (:func:`cnngwp.runs.workflow.run_cnngwp`, :func:`~cnngwp.runs.workflow.fit_model`) builds one
:class:`RunSummary` and writes it; the book, the tables and the chapters read it back with :meth:`RunSummary.read`
and use its fields, never a key typed at the reader. Fields that older run folders did not write have defaults, so
such a folder still reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from cnngwp.atomic import atomic_write, json_scalar
from cnngwp.errors import CnngwpInputError
from cnngwp.models.stack import ModelStack

__all__ = ["SUMMARY_FILE", "RunSummary"]

#: The file of a run folder that holds its summary.
SUMMARY_FILE = "summary.json"


@dataclass
class RunSummary:
    """One run: its data, split and settings, gamma, the counts of animals, the seconds it took, the stack's weights
    and, where it scored test rows, the ensemble's metrics and every model's row of the comparison.

    Attributes
    ----------
    data, split
        Where the data came from and the split's name.
    protocol, validation, note
        ``honest`` or ``paper``; which rows validated, in words; what the protocol makes of the numbers ("" or
        :data:`cnngwp.tuning.settings.OPTIMISTIC`).
    profile, seed, replicates, n_members, refit, training
        The run's settings (:class:`cnngwp.tuning.settings.RunSettings`).
    n_train, n_test, n_candidates
        Animals trained on, scored, and predicted without a phenotype.
    covariates
        The fixed-effect design (:meth:`cnngwp.data.covariates.CovariateDesign.to_dict`), or None.
    gamma_per_replicate, gamma_ma
        The best gamma of each tuning replicate and their average.
    backbone_best_epochs
        The backbone model's networks' chosen epochs.
    tuning_task_seconds, tuning_wall_seconds_this_call, ensemble_wall_seconds_this_call
        The tuning's summed task seconds; the wall seconds this call spent tuning and fitting the ensemble.
    backbone_cross_fit_seconds, held_out_seconds
        The backbone kernel's cross-fit; the fits the stack's held-out predictions took.
    stack, no_stack
        The stack's weights, or why the run has none.
    ensemble, members, comparison
        The ensemble's test metrics, its members' table and the comparison's rows (``records``); empty where
        nothing was scored.
    """

    data: str
    split: str
    protocol: str
    profile: str
    seed: int
    n_train: int
    n_test: int
    validation: str = "validation rows carved from the training rows"
    note: str = ""
    replicates: int | None = None
    n_members: int | None = None
    refit: bool | None = None
    training: dict = field(default_factory=dict)
    covariates: dict | None = None
    n_candidates: int = 0
    gamma_per_replicate: list[dict] = field(default_factory=list)
    gamma_ma: dict = field(default_factory=dict)
    backbone_best_epochs: list[int] = field(default_factory=list)
    tuning_task_seconds: float | None = None
    tuning_wall_seconds_this_call: float | None = None
    ensemble_wall_seconds_this_call: float | None = None
    backbone_cross_fit_seconds: float = 0.0
    held_out_seconds: float = 0.0
    stack: ModelStack | None = None
    no_stack: str | None = None
    ensemble: dict | None = None
    members: list[dict] = field(default_factory=list)
    comparison: list[dict] = field(default_factory=list)

    def stack_sentence(self) -> str:
        """The stack's weights and the rows they were fitted on, as a sentence, or why the run has none."""
        if self.stack is None:
            return self.no_stack or "no stack: the run was made before the stack existed"
        return self.stack.sentence()

    def to_dict(self) -> dict:
        """The fields as ``summary.json`` holds them (the stack as :meth:`ModelStack.to_dict
        <cnngwp.models.stack.ModelStack.to_dict>`)."""
        record = asdict(self)
        record["stack"] = None if self.stack is None else self.stack.to_dict()
        return record

    def write(self, run_dir: str | os.PathLike) -> Path:
        """Write ``run_dir/summary.json`` atomically; its path."""
        path = Path(run_dir) / SUMMARY_FILE
        text = json.dumps(self.to_dict(), indent=2, default=json_scalar)
        atomic_write(path, lambda tmp: tmp.write_text(text))
        return path

    @classmethod
    def read(cls, run_dir: str | os.PathLike) -> RunSummary:
        """The summary of the run folder `run_dir`.

        Raises
        ------
        CnngwpInputError
            The file is missing, not JSON, or lacks a field every run wrote (naming the file and the fields).
        """
        path = Path(run_dir) / SUMMARY_FILE
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise CnngwpInputError(f"{path}: cannot read a run's summary ({error}); expected the summary.json a "
                                   f"finished run writes") from None
        if not isinstance(record, dict):
            raise CnngwpInputError(f"{path}: expected a JSON object, the summary.json a finished run writes")
        known = {f.name for f in fields(cls)}
        missing = sorted(f.name for f in fields(cls)
                         if f.name not in record and f.default is MISSING and f.default_factory is MISSING)
        if missing:
            raise CnngwpInputError(f"{path}: missing {missing}; expected the summary.json a finished run writes")
        values = {name: value for name, value in record.items() if name in known}
        if values.get("stack") is not None:
            values["stack"] = ModelStack.from_dict(values["stack"])
        return cls(**values)
