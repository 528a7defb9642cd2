"""The baselines as scikit-learn estimators, one per module: the paper's GBLUP, SNP-BLUP and Bayesian LASSO, and the
non-additive kernel models breeders use, dominance GBLUP (GDBLUP) and Gaussian-kernel RKHS.

All take the int8 genotype matrix of :mod:`cnngwp.data.genotypes` (missing = -1), and standardise
the columns inside with statistics of the rows they are fitted on; all but GDBLUP (whose
dominance coding needs 0/1/2 codes) take any numeric array too.

The estimators (``gblup``, ``gdblup``, ``egblup``, ``rkhs``, ``blasso``) share ``common`` (the fixed
effects, the exact-or-scalable switch) and ``state`` (saving and restoring a fitted model), and
``registry`` lists them; their variance components come from :mod:`cnngwp.models.variance_components`.
"""

from cnngwp.models.baselines.blasso import BayesianLasso
from cnngwp.models.baselines.common import ITERATIVE_FROM
from cnngwp.models.baselines.egblup import EGBLUP
from cnngwp.models.baselines.gblup import GBLUP
from cnngwp.models.baselines.gdblup import GDBLUP
from cnngwp.models.baselines.registry import BASELINE_MODELS, baseline_models
from cnngwp.models.baselines.rkhs import RKHS

__all__ = ["BASELINE_MODELS", "EGBLUP", "GBLUP", "GDBLUP", "ITERATIVE_FROM", "RKHS", "BayesianLasso",
           "baseline_models"]
