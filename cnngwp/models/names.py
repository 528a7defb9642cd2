"""How tables, figures and saved models name the models that are not baselines (the baselines' names are
:data:`cnngwp.models.baselines.registry.BASELINE_MODELS`): in one light module, so that a report names them
without loading a deep-learning framework."""

from __future__ import annotations

__all__ = ["BACKBONE_KERNEL", "CNN_ENSEMBLE", "GENOTYPIC_CNN", "STACK", "backbone_name"]

#: How comparisons name the model-averaged CNN ensemble; a run's table adds its size, as in ``CNN ensemble (S=4)``.
CNN_ENSEMBLE = "CNN ensemble"
#: How comparisons name an ensemble of CNNs with the ``genotypic`` encoding.
GENOTYPIC_CNN = "Genotypic CNN"
#: How comparisons name the stack.
STACK = "Stack"
#: The backbone's kernel model (a baseline's name).
BACKBONE_KERNEL = "GDBLUP"


def backbone_name(kernel: str) -> str:
    """How tables name the backbone model on `kernel` (a baseline's name): ``"GDBLUP + CNN"``."""
    return f"{kernel} + CNN"
