"""Importing Keras without the deep-learning framework's start-up chatter on the terminal or in notebooks.

TensorFlow's C++ runtime writes, straight to the process's standard error and before its
own log settings apply (``TF_CPP_MIN_LOG_LEVEL`` does not reach them), lines such as
"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
and "oneDNN custom operations are on". :mod:`cnngwp.models.cnn`, the one place that imports
Keras, calls :func:`import_keras_quietly` before any of its modules does, so the first CNN
import in any process (a notebook kernel, a Dask worker) is quiet: it holds file descriptor 2
in a temporary file while Keras (and its backend) is imported, then writes back every line
that is not one of those known notices, so real errors still show. ``import cnngwp`` itself
imports no framework.
"""

from __future__ import annotations

import os
import sys
import tempfile

__all__ = ["STARTUP_NOTICES", "import_keras_quietly"]

#: Fragments of the framework's start-up notices that are dropped.
STARTUP_NOTICES = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "To enable the following instructions",
    "rebuild TensorFlow with the appropriate compiler flags",
)


def import_keras_quietly() -> None:
    """Import Keras with the start-up notices of its backend filtered out of standard error."""
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True)
                    if not any(notice in line for notice in STARTUP_NOTICES)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
