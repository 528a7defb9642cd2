"""cnngwp: sparse convolutional neural networks for genome-wide prediction (Waldmann et al. 2020)."""

from cnngwp.errors import CnngwpInputError

__version__ = "0.1.0"
__all__ = ["CnngwpInputError", "__version__"]
