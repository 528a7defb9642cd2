"""cnngwp: sparse convolutional neural networks for genome-wide prediction (Waldmann et al. 2020)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own info and warning logs

from cnngwp.startup import import_keras_quietly

import_keras_quietly()  # every kernel and worker imports cnngwp first: its start-up notices stop here

from cnngwp.errors import CnngwpInputError

__version__ = "0.1.0"
__all__ = ["CnngwpInputError", "__version__"]
