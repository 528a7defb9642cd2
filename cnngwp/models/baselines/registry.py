"""The baselines of every comparison, by the names tables use: the one list."""

from __future__ import annotations

from cnngwp.models.baselines.blasso import BayesianLasso
from cnngwp.models.baselines.egblup import EGBLUP
from cnngwp.models.baselines.gblup import GBLUP
from cnngwp.models.baselines.gdblup import GDBLUP
from cnngwp.models.baselines.rkhs import RKHS
from cnngwp.models.names import BASELINE_NAMES

__all__ = ["BASELINE_MODELS", "baseline_models"]


def baseline_models(*, seed: int = 1) -> dict:
    """Fresh estimators of every comparison's baselines, by the name tables use, in table order."""
    return dict(zip(BASELINE_NAMES, (GBLUP(), GDBLUP(), EGBLUP(), RKHS(), BayesianLasso(seed=seed)), strict=True))


#: The class of each baseline (what a saved model's file is read with), by name.
BASELINE_MODELS = {name: type(model) for name, model in baseline_models().items()}
