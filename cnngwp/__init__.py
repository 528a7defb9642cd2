"""cnngwp: sparse convolutional neural networks for genome-wide prediction (Waldmann et al. 2020)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own info and warning logs

from cnngwp.startup import import_keras_quietly

import_keras_quietly()  # every kernel and worker imports cnngwp first: its start-up notices stop here

from cnngwp.errors import CnngwpInputError

__version__ = "0.1.0"
__all__ = ["CnngwpInputError", "__version__", "load_model"]


def __getattr__(name: str):
    """``cnngwp.load_model`` (:func:`cnngwp.saved_model.load_model`), imported on first use."""
    if name == "load_model":
        from cnngwp.saved_model import load_model

        return load_model
    raise AttributeError(f"module 'cnngwp' has no attribute {name!r}")
