"""How tables, figures and saved models name the models: the baselines and the models that combine or contain the
CNN, in one light module, so that a report names them without loading a deep-learning framework or an estimator."""

from __future__ import annotations

__all__ = ["BACKBONE_KERNEL", "BASELINE_NAMES", "CNN_ENSEMBLE", "GENOTYPIC_CNN", "KERNEL_MODELS", "PAPER_PROTOCOL_CNN",
           "STACK", "backbone_name"]

#: How comparisons name the model-averaged CNN ensemble; a run's table adds its size, as in ``CNN ensemble (S=4)``.
CNN_ENSEMBLE = "CNN ensemble"
#: How chapter 8's study names the CNN ensemble fitted under the paper protocol, beside the honest one.
PAPER_PROTOCOL_CNN = "CNN ensemble, paper protocol"
#: How comparisons name an ensemble of CNNs with the ``genotypic`` encoding.
GENOTYPIC_CNN = "Genotypic CNN"
#: How comparisons name the stack.
STACK = "Stack"
#: The kernel models that the models containing a CNN are held against, the best of them per scenario.
KERNEL_MODELS = ("GBLUP", "GDBLUP", "EGBLUP", "RKHS")
#: Every baseline in table order, the kernel models and then the Bayesian LASSO (a marker-effect model), as
#: :func:`cnngwp.models.baselines.registry.baseline_models` names them.
BASELINE_NAMES = (*KERNEL_MODELS, "BLASSO")
#: The backbone's kernel model (a baseline's name).
BACKBONE_KERNEL = "GDBLUP"


def backbone_name(kernel: str) -> str:
    """How tables name the backbone model on `kernel` (a baseline's name): ``"GDBLUP + CNN"``."""
    return f"{kernel} + CNN"
