"""Where the CNN trains: on which engine, and whether an estimator's members train together in one network."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import keras

from cnngwp.models.cnn import fused

__all__ = ["ENGINES", "ENSEMBLE_MODES", "Placement", "accelerator_available", "members_per_task", "place"]

ENGINES = ("auto", "keras", "numba")
ENSEMBLE_MODES = ("auto", "sequential", "together")


def accelerator_available() -> bool:
    """Whether the configured Keras backend sees a GPU (TensorFlow, JAX or PyTorch; imported only if configured)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


@dataclass(frozen=True)
class Placement:
    """How an estimator trains its members: ``engine`` ``"numba"`` or ``"keras"``; ``together`` in one network."""

    engine: str
    together: bool


def place(*, n_members: int, engine: str = "auto", ensemble_mode: str = "auto", strides: int = 2,
          pool_size: int = 2) -> Placement:
    """The one rule for devices and engines.

    Members train together (one Keras network) when asked, or, with ``"auto"``, when there
    are several and Keras' backend sees a GPU (on CPUs the S x filters intermediate is
    memory-bound and batching does not pay). The fused numba engine trains members one by
    one on CPUs; it implements strides 2 and pooling 2 only (other settings train with
    Keras, with a warning when numba was asked for).

    Raises
    ------
    ValueError
        For an unknown engine or mode, or numba asked to train members together.
    """
    if ensemble_mode not in ENSEMBLE_MODES:
        raise ValueError(f"ensemble_mode must be one of {ENSEMBLE_MODES}; got {ensemble_mode!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; got {engine!r}")
    gpu = None if engine == "numba" and ensemble_mode != "together" else accelerator_available()
    together = n_members > 1 and (ensemble_mode == "together" or (ensemble_mode == "auto" and bool(gpu)))
    if together or engine == "keras":
        if engine == "numba":
            raise ValueError("engine='numba' trains members one after another; use ensemble_mode='sequential' "
                             "or engine='keras' for members trained together")
        return Placement("keras", together)
    covered = fused.supports(strides=strides, pool_size=pool_size)
    if engine == "numba" and not covered:
        warnings.warn(f"engine='numba' implements strides 2 and pool_size 2 only (got strides {strides}, "
                      f"pool_size {pool_size}); training with Keras instead", UserWarning, stacklevel=3)
    return Placement("keras" if not covered or (engine == "auto" and gpu) else "numba", False)


def members_per_task(n_members: int) -> int:
    """Members one Dask task trains: all of them where they train together (a GPU), else one."""
    return n_members if place(n_members=n_members).together else 1
