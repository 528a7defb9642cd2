"""cnngwp: sparse convolutional neural networks for genome-wide prediction (Waldmann et al. 2020)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of notebooks

from cnngwp.errors import CnngwpInputError

__version__ = "0.1.0"
__all__ = ["CnngwpInputError", "__version__"]
