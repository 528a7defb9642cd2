"""How tables, figures and saved models name the models: the baselines and the models that combine or contain the
CNN, in one light module, so that a report names them without loading a deep-learning framework or an estimator."""

from __future__ import annotations

__all__ = ["BACKBONE_KERNEL", "BASELINE_NAMES", "BEST_SINGLE_CNN", "CNN_ENSEMBLE", "GENOTYPIC_CNN", "KERNEL_MODELS",
           "PAPER_PROTOCOL_CNN", "STACK", "backbone_name", "shown_name"]

#: How comparisons name the model-averaged CNN ensemble; a run's ``comparison.csv`` gives its size in its ``members``
#: column, and a page shows both (:func:`shown_name`).
CNN_ENSEMBLE = "CNN ensemble"
#: How a run's comparison names the member of its CNN ensemble with the lowest validation MSE, alone.
BEST_SINGLE_CNN = "CNN (best single)"
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


def shown_name(model: str, members=None) -> str:
    """How a page shows a model of a run's comparison: the CNN ensemble with its size; any other model by its name.

    Parameters
    ----------
    model
        The model's name (a comparison's ``model`` column).
    members
        Its networks (the comparison's ``members`` column), or None.

    Returns
    -------
    str
        ``CNN ensemble (S=4)`` for the CNN ensemble of 4 networks; `model` otherwise.
    """
    return f"{model} (S={int(members)})" if model == CNN_ENSEMBLE and members is not None else model
